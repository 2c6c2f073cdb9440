"""One entry point to an OGBench env and its train/validation datasets.

Files live in a data directory: the ``--data-dir`` flag, else ``$GCTTT_DATA_DIR``, else
OGBench's default ``~/.ogbench/data``. When a dataset's files are missing, they are downloaded
with OGBench's own downloader where the network allows it, otherwise generated locally where
a generator exists, otherwise the call fails with the command that would produce them.
"""

from __future__ import annotations

import os
import sys
import urllib.request
import warnings
from pathlib import Path
from typing import Literal

from gcttt.data.files import OfflineData, read_dataset_file, split_paths
from gcttt.envs import DatasetInfo, dataset_info
from gcttt.errors import DatasetError, UsageError

DEFAULT_DATA_DIR = "~/.ogbench/data"
OGBENCH_URL = "https://rail.eecs.berkeley.edu/datasets/ogbench"

Fetch = Literal["auto", "download", "generate", "never"]


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: explicit argument, else $GCTTT_DATA_DIR, else ~/.ogbench/data."""
    chosen = data_dir or os.environ.get("GCTTT_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().resolve()


def make_env(dataset: str | DatasetInfo, **env_kwargs):
    """The OGBench evaluation env of a dataset (state observations)."""
    import gymnasium
    import numpy as np
    import ogbench  # noqa: F401  (registers the envs)

    info = dataset if isinstance(dataset, DatasetInfo) else dataset_info(dataset)
    saved = np.random.get_state()  # some OGBench envs draw from NumPy's global RNG when built
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gymnasium's float64-bounds notices
            return gymnasium.make(info.env_name, **env_kwargs)
    finally:
        np.random.set_state(saved)


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
    from gcttt.data.generation import SUPPORTED, generate_dataset
    from gcttt.data.provenance import write_sidecar
    from gcttt.files.fileio import check_writable_dir

    dataset_info(dataset)  # validates the name
    root = resolve_data_dir(data_dir)
    train_path, val_path = split_paths(root, dataset)
    if train_path.exists() and val_path.exists():
        return root
    if train_path.exists() or val_path.exists():
        # Never overwrite a file that exists: the user decides what to do with it.
        present, absent = (train_path, val_path) if train_path.exists() else (val_path, train_path)
        raise DatasetError(
            f"{present.name} exists in {root} but {absent.name} does not; restore the missing split, or move "
            f"{present.name} away and run `gcttt data generate {dataset} --out {root}` to make both"
        )
    if fetch != "never":
        check_writable_dir(root, "data directory")
    hint = (
        f"run `gcttt data generate {dataset} --out {root}`"
        if dataset in SUPPORTED
        else f'download them on a machine with network: python -c "import ogbench; '
        f"ogbench.download_datasets(['{dataset}'], '{root}')\""
    )
    if dataset.startswith("humanoidmaze-"):
        from gcttt.expert.shipped import HUMANOID_REFUSAL

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


def load_datasets(
    dataset: str, data_dir: str | os.PathLike | None = None, fetch: Fetch = "auto", validation: bool = True
) -> tuple[OfflineData, OfflineData | None]:
    """Train and validation splits of `dataset`, validated against the env's observation size.
    `validation=False` reads only the train split (the validation split is then None)."""
    info = dataset_info(dataset)
    root = ensure_dataset_files(dataset, data_dir, fetch)
    train_path, val_path = split_paths(root, dataset)
    train = read_dataset_file(train_path, expected_obs_dim=info.obs_dim)
    if not validation:
        return train, None
    val = read_dataset_file(val_path, expected_obs_dim=info.obs_dim)
    if train.action_dim != val.action_dim:
        raise DatasetError(f"{val_path}: action size {val.action_dim} differs from the train split's")
    return train, val


def make_env_and_datasets(
    dataset: str,
    data_dir: str | os.PathLike | None = None,
    fetch: Fetch = "auto",
    validation: bool = True,
    **env_kwargs,
) -> tuple[object, OfflineData, OfflineData | None]:
    """OGBench evaluation env plus validated train/validation splits of `dataset` (see `load_datasets`)."""
    train, val = load_datasets(dataset, data_dir, fetch, validation)
    env = make_env(dataset, **env_kwargs)
    env_obs_dim = env.observation_space.shape[0]
    if env_obs_dim != train.obs_dim:
        raise DatasetError(
            f"{dataset}: the env's observations have {env_obs_dim} entries but the dataset's have "
            f"{train.obs_dim}; regenerate the dataset"
        )
    if env.action_space.shape[0] != train.action_dim:
        raise UsageError(f"{dataset}: the env's action size differs from the dataset's; regenerate it")
    return env, train, val
