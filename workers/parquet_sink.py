"""Episode records to Parquet: one part file per batch, written atomically, one row per episode.

`ParquetSink(directory).write(results, context)` writes one file
``part-<UTC time>-<8 hex>.parquet`` per call. The file is written under a hidden temporary name
in the same directory (``.part-….parquet.tmp``), flushed and fsynced, then renamed with
`os.replace` (atomic on POSIX) and the directory is fsynced: after a crash at any moment a part
file is either complete under its final name or absent; at most a temporary file is left, which
`read_results` ignores. Files are never appended to or rewritten.

Schema (every part file has exactly these columns, in this order; docs/results_schema.md
describes each one):

- the `gcttt.records.EpisodeRecord` fields, with their Python types mapped to Arrow
  (str -> string, int -> int64, float -> float64, bool -> bool, list[int] -> list<int64>):
  dataset, backbone, preset, width, depth, pretrain_seed, checkpoint, checkpoint_step, method,
  selection, horizon, grad_steps, lr, q, eps, once, task_id, episode_index, seed, success,
  episode_steps, wall_seconds, act_seconds, selection_seconds, finetune_seconds, replans,
  selected_per_replan, mean_selected, value_evaluations, updates, flops_act, flops_selection,
  flops_finetune, flops_total, device;
- spec_index (int64), attempts (int64), node (string): from the pool's `PoolResult`
  (-1, 1 and the writer's host name for a bare `EpisodeRecord`);
- sweep_id, sweep_kind, trial_id (string): from the `RunContext`;
- git_sha (string) and one string column per package of `gcttt.provenance.versions()`:
  version_python, version_gcttt, version_torch, version_numpy, version_ogbench, version_mujoco,
  version_gymnasium, version_ray, version_mlflow;
- written_at (timestamp[us, UTC]): when the part file was written.
"""

from __future__ import annotations

import os
import socket
import tempfile
import typing
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from gcttt.errors import UsageError
from gcttt.provenance import git_sha, versions
from gcttt.records import EpisodeRecord
from workers.episode_worker import PoolResult

_ARROW_TYPES: dict[object, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    list[int]: pa.list_(pa.int64()),
}

TEMP_SUFFIX = ".tmp"
PART_PREFIX = "part-"


def _record_fields() -> list[pa.Field]:
    hints = typing.get_type_hints(EpisodeRecord)
    out = []
    for f in fields(EpisodeRecord):
        arrow = _ARROW_TYPES.get(hints[f.name])
        if arrow is None:
            raise TypeError(f"EpisodeRecord.{f.name}: no Arrow type for {hints[f.name]}; extend _ARROW_TYPES")
        out.append(pa.field(f.name, arrow, nullable=False))
    return out


VERSION_COLUMNS: tuple[str, ...] = tuple(f"version_{pkg}" for pkg in versions())

SCHEMA: pa.Schema = pa.schema(
    [
        *_record_fields(),
        pa.field("spec_index", pa.int64(), nullable=False),
        pa.field("attempts", pa.int64(), nullable=False),
        pa.field("node", pa.string(), nullable=False),
        pa.field("sweep_id", pa.string(), nullable=False),
        pa.field("sweep_kind", pa.string(), nullable=False),
        pa.field("trial_id", pa.string(), nullable=False),
        pa.field("git_sha", pa.string(), nullable=False),
        *(pa.field(c, pa.string(), nullable=False) for c in VERSION_COLUMNS),
        pa.field("written_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
"""The columns of every part file."""


@dataclass(frozen=True)
class RunContext:
    """What every row of a batch shares besides its record."""

    sweep_id: str = ""
    """The sweep (or experiment) the episodes belong to."""
    sweep_kind: str = ""
    """'horizon' or 'compute' for the sweeps' rows; empty otherwise."""
    trial_id: str = ""
    """The Tune trial (or arm) that ran them."""
    node: str = field(default_factory=socket.gethostname)
    """Node of bare `EpisodeRecord`s (a `PoolResult` carries its worker's node)."""
    git_sha: str = field(default_factory=git_sha)
    """Commit of the code (gcttt.provenance.git_sha(), '-dirty' for local changes)."""
    versions: dict[str, str] = field(default_factory=versions)
    """Package versions (gcttt.provenance.versions()); never mutated."""


class ParquetSink:
    """Writes batches of episode results as atomic Parquet part files into one directory."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory).expanduser().resolve()
        if self.directory.exists() and not self.directory.is_dir():
            raise UsageError(f"{self.directory} is a file; give the sink a directory")
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, results: Iterable[PoolResult | EpisodeRecord], context: RunContext) -> Path | None:
        """Write one part file with a row per result; None (and no file) for an empty batch."""
        if not isinstance(context, RunContext):
            raise UsageError(f"context must be a workers.parquet_sink.RunContext (got {type(context).__name__})")
        table = to_table(results, context)
        if table.num_rows == 0:
            return None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{PART_PREFIX}{stamp}-{uuid.uuid4().hex[:8]}.parquet"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                pq.write_table(table, f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp creates 0600
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)
        return path


def to_table(results: Iterable[PoolResult | EpisodeRecord], context: RunContext) -> pa.Table:
    """The rows of `results` in `SCHEMA`."""
    missing = [pkg for pkg in versions() if pkg not in context.versions]
    if missing:
        raise UsageError(f"context.versions lacks {missing}; build it with gcttt.provenance.versions()")
    written_at = datetime.now(timezone.utc)
    shared = {
        "sweep_id": context.sweep_id,
        "sweep_kind": context.sweep_kind,
        "trial_id": context.trial_id,
        "git_sha": context.git_sha,
        **{f"version_{pkg}": context.versions[pkg] for pkg in versions()},
        "written_at": written_at,
    }
    rows = []
    for item in results:
        if isinstance(item, PoolResult):
            extra = {"spec_index": item.spec_index, "attempts": item.attempts, "node": item.node}
            record = item.record
        elif isinstance(item, EpisodeRecord):
            extra = {"spec_index": -1, "attempts": 1, "node": context.node}
            record = item
        else:
            raise UsageError(f"cannot write a {type(item).__name__}; give PoolResult or EpisodeRecord items")
        rows.append({**record.to_row(), **extra, **shared})
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def part_files(directory: str | os.PathLike) -> list[Path]:
    """The complete part files of a results directory (temporary files excluded), sorted."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such results directory")
    return sorted(p for p in directory.glob(f"{PART_PREFIX}*.parquet") if p.is_file() and not p.name.startswith("."))


def read_results(directory: str | os.PathLike):
    """All rows of a results directory as a pandas DataFrame (temporary files ignored).

    selected_per_replan comes back as Python lists of ints, as in the records.
    """
    tables = [pq.read_table(p) for p in part_files(directory)]
    if tables:
        table = pa.concat_tables(tables, promote_options="default")
    else:
        table = SCHEMA.empty_table()
    frame = table.to_pandas()
    if "selected_per_replan" in frame:
        frame["selected_per_replan"] = [
            [int(v) for v in cell] if cell is not None else [] for cell in frame["selected_per_replan"]
        ]
    return frame


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (the directory entry), where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
