"""Getting a dataset's files: OGBench's download where the network allows it, else local generation.

`ensure_dataset_files` is what the entry points (`gcttt pretrain`, `gcttt evaluate`, the sweeps,
the benchmarks) call before they read a dataset with `gcttt.data.access`, which only reads.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path
from typing import Literal

from gcttt.data.access import check_dataset_files, resolve_data_dir
from gcttt.data.files import split_paths
from gcttt.data.provenance import write_sidecar
from gcttt.datagen.expert.shipped import HUMANOID_REFUSAL
from gcttt.datagen.generation import SUPPORTED, generate_dataset
from gcttt.envs import dataset_info
from gcttt.errors import DatasetError
from gcttt.files.fileio import check_writable_dir

OGBENCH_URL = "https://rail.eecs.berkeley.edu/datasets/ogbench"

Fetch = Literal["auto", "download", "generate", "never"]


def download_reachable(timeout: float = 3.0) -> bool:
    """Whether OGBench's file server answers; False at once when $GCTTT_OFFLINE is set."""
    if os.environ.get("GCTTT_OFFLINE"):
        return False
    try:
        request = urllib.request.Request(OGBENCH_URL + "/", method="HEAD")
        urllib.request.urlopen(request, timeout=timeout).close()
        return True
    except Exception:
        return False


def ensure_dataset_files(dataset: str, data_dir: str | os.PathLike | None = None, fetch: Fetch = "auto") -> Path:
    """Make sure both split files of `dataset` exist under the data directory; return it.

    fetch: 'auto' downloads where the network allows, else generates where a generator exists;
    'download' and 'generate' insist on one way; 'never' only checks.
    """
    dataset_info(dataset)  # validates the name
    root = resolve_data_dir(data_dir)
    train_path, val_path = split_paths(root, dataset)
    if train_path.exists() or val_path.exists():
        return check_dataset_files(dataset, root)  # both there, or one alone: never overwritten
    if fetch != "never":
        check_writable_dir(root, "data directory")
    hint = (
        f"run `gcttt data generate {dataset} --out {root}`"
        if dataset in SUPPORTED
        else f'download them on a machine with network: python -c "import ogbench; '
        f"ogbench.download_datasets(['{dataset}'], '{root}')\""
    )
    if dataset.startswith("humanoidmaze-"):
        hint = f"{HUMANOID_REFUSAL} ({hint})"
    if fetch == "never":
        raise DatasetError(f"dataset files for {dataset} are missing in {root}; {hint}")
    if fetch in ("auto", "download") and download_reachable():
        import ogbench

        print(f"gcttt: downloading {dataset} into {root}", file=sys.stderr)
        ogbench.download_datasets([dataset], str(root))
        write_sidecar(root, dataset, "official", url=OGBENCH_URL)
        return root
    if fetch == "download":
        raise DatasetError(f"cannot reach {OGBENCH_URL} to download {dataset}; {hint}")
    if dataset not in SUPPORTED:
        raise DatasetError(
            f"dataset files for {dataset} are missing in {root}, the download server is unreachable "
            f"and there is no local generator for it; {hint}"
        )
    print(f"gcttt: {dataset} not found in {root}; generating it locally (official recipe)", file=sys.stderr)
    generate_dataset(dataset, root)
    return root
