"""Where a dataset file came from: OGBench's official release or gcttt's local generation.

Every file gcttt writes or downloads gets a sidecar ``DATASET.provenance.json`` next to it that
names its source and the SHA-256 fingerprint of the training file it describes:
- ``generated``: written by `gcttt data generate` (OGBench's recipe run locally), with the
  generator's version and git commit, the seed, the sizes and, for locomotion mazes, the expert's
  fingerprint;
- ``official``: downloaded from OGBench's server by gcttt.
A file without a sidecar, or whose fingerprint no longer matches its sidecar, is ``unknown``:
gcttt never calls a file official unless it downloaded it, so a generated file cannot be
mistaken for the official one.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gcttt.files.fileio import atomic_write_text
from gcttt.files.provenance import file_fingerprint

SOURCES = ("official", "generated", "unknown")


@dataclass(frozen=True)
class DatasetProvenance:
    """The sidecar's content."""

    dataset: str
    source: str
    """official, generated or unknown."""
    fingerprint: str
    """SHA-256 prefix of the training file."""
    val_fingerprint: str = ""
    """SHA-256 prefix of the validation file."""
    details: dict[str, Any] = field(default_factory=dict)
    """generated: generator version, git commit, seed, episodes, steps, expert fingerprint."""
    created_at: str = ""
    note: str = ""
    """Why a file is 'unknown'."""

    def label(self) -> str:
        """Short label for captions: 'official', 'generated (seed 0, gcttt abc1234)' or 'unknown'."""
        if self.source != "generated":
            return self.source
        sha = str(self.details.get("git_sha", ""))[:7]
        return f"generated (seed {self.details.get('seed', '?')}, gcttt {sha or '?'})"


def sidecar_path(data_dir: str | os.PathLike, dataset: str) -> Path:
    return Path(data_dir) / f"{dataset}.provenance.json"


def write_sidecar(data_dir: str | os.PathLike, dataset: str, source: str, **details: Any) -> DatasetProvenance:
    """Fingerprint both split files and write the sidecar."""
    from gcttt.data.files import split_paths

    train, val = split_paths(data_dir, dataset)
    prov = DatasetProvenance(
        dataset=dataset,
        source=source,
        fingerprint=fingerprint(train),
        val_fingerprint=fingerprint(val) if val.exists() else "",
        details=details,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    atomic_write_text(sidecar_path(data_dir, dataset), json.dumps(asdict(prov), indent=2) + "\n")
    return prov


@functools.lru_cache(maxsize=64)
def _cached_fingerprint(path: str, size: int, mtime_ns: int) -> str:
    return file_fingerprint(path)


def fingerprint(path: str | os.PathLike) -> str:
    """File fingerprint, cached per process while the file's size and mtime stay the same."""
    stat = os.stat(path)
    return _cached_fingerprint(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def dataset_provenance(data_dir: str | os.PathLike, dataset: str) -> DatasetProvenance:
    """The provenance of a dataset's training file as it is on disk now."""
    from gcttt.data.files import split_paths

    train, _ = split_paths(data_dir, dataset)
    actual = fingerprint(train)
    path = sidecar_path(data_dir, dataset)
    if not path.exists():
        return DatasetProvenance(dataset, "unknown", actual, note=f"no sidecar {path.name}")
    try:
        saved = json.loads(path.read_text())
        prov = DatasetProvenance(**saved)
    except (OSError, ValueError, TypeError) as exc:
        return DatasetProvenance(dataset, "unknown", actual, note=f"unreadable sidecar ({exc})")
    if prov.fingerprint != actual:
        return DatasetProvenance(
            dataset, "unknown", actual, note=f"the file changed since its sidecar was written ({prov.source})"
        )
    return prov
