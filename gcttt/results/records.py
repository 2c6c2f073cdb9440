"""The episode record, and the one Parquet writer and reader of results.

One row per evaluated episode: the unit every table and figure is built from. A record carries
every knob that can change an episode's outcome (so that two runs differing in any of them are
never mistaken for repeats), where the data and the checkpoint came from, and the counted costs
from which any compute axis can be recomputed.

Results live in directories of part files ``part-<UTC time>-<8 hex>.parquet``, each written
atomically (`gcttt.files.fileio.atomic_write`), with exactly the columns of `SCHEMA`: the record's
fields, then the run context (spec index, attempts, node, sweep and trial ids, git SHA, package
versions, write time). docs/results_schema.md describes every column.
"""

from __future__ import annotations

import os
import socket
import typing
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gcttt.errors import UsageError
from gcttt.files.fileio import atomic_write
from gcttt.files.provenance import git_sha, versions


@dataclass(frozen=True)
class EpisodeRecord:
    # --- the data and the checkpoint -----------------------------------------------------------
    dataset: str
    """OGBench dataset name."""
    dataset_source: str
    """'official' (OGBench's file), 'generated' (gcttt's recipe) or 'unknown' (no provenance sidecar)."""
    dataset_fingerprint: str
    """SHA-256 prefix of the training file."""
    backbone: str
    """gcbc, gciql or saw."""
    preset: str
    """Pre-training preset of the checkpoint."""
    width: int
    """Hidden units per layer of the checkpoint's networks."""
    depth: int
    """Hidden layers of the checkpoint's networks."""
    pretrain_seed: int
    """Seed of the pre-training run."""
    checkpoint: str
    """Checkpoint file."""
    checkpoint_step: int
    """Pre-training updates of the checkpoint."""
    checkpoint_fingerprint: str
    """SHA-256 prefix of the checkpoint's network weights (`gcttt.files.provenance.weights_fingerprint`):
    rows with equal settings but another fingerprint came from other weights (another CPU or build)."""
    pretrain_flops: int
    """Counted FLOPs of the checkpoint's pre-training (updates x FLOPs per update)."""
    # --- the method and its knobs --------------------------------------------------------------
    method: str
    """'baseline' (pre-trained policy) or 'gcttt'."""
    selection: str
    """Selection strategy ('' for baseline)."""
    schedule: str
    """'receding' (every K steps), 'once' (first step, back to the pre-trained policy after the
    segment), 'once-keep' (first step, fine-tuned policy kept), '' for baseline."""
    horizon: int
    """K, env steps between re-plans (0 where not read: baseline, once-keep)."""
    grad_steps: int
    """N, updates per re-plan (0 for baseline)."""
    lr: float
    """Fine-tuning learning rate (0 for baseline)."""
    finetune_batch: int
    """Transitions per fine-tuning update (0 for baseline)."""
    finetune: str
    """What the fine-tuning updates trained: 'all' (every network, the backbone's full loss) or
    'actor' (the acting networks alone); '' for baseline. Rows written before the column existed
    read as 'all', which they were."""
    eps: float
    """Relevance radius (0 where the strategy does not read it)."""
    min_steps: int
    """Minimum segment length of the critic strategies (0 where not read)."""
    top_k: int
    """Episodes kept (critic, no-relevance) or drawn (no-optimality); 0 where not read."""
    q: float
    """Quantile of critic-quantile and critic-free (0 where not read)."""
    slack: int
    """Steps added after critic-free segments (0 where not read)."""
    random_size: int
    """Transitions of the random control (0 where not read)."""
    distance_discount: float
    """gamma of the goal distance; -1: the backbone's own; 0 where not read."""
    authors_cube_match: bool
    """Start matches on the first two observation coordinates, as the authors' code (False where
    not read; rows written before the column existed read as False, which they were)."""
    compiled: bool
    """Fine-tuning updates ran through torch.compile (floats may differ slightly from eager)."""
    # --- the task ------------------------------------------------------------------------------
    task_suite: str
    """'ogbench' (the 5 evaluation tasks) or 'heldout-<seed>' (start/goal pairs drawn by gcttt)."""
    task_id: int
    """Task number within its suite (1-based)."""
    task_pair: str
    """Start and goal of the task: maze cells 'i,j->i,j', or the suite's description."""
    episode_index: int
    """Index of the episode among those of its task and configuration."""
    seed: int
    """Episode seed, derived from (run seed, task, episode index)."""
    # --- outcome -------------------------------------------------------------------------------
    success: bool
    """info['success'] at the end of the episode."""
    episode_steps: int
    """Env steps taken."""
    # --- wall time (seconds) -----------------------------------------------------------------
    wall_seconds: float
    act_seconds: float
    selection_seconds: float
    finetune_seconds: float
    # --- test-time training ------------------------------------------------------------------
    replans: int
    selected_per_replan: list[int] = field(default_factory=list)
    mean_selected: float = 0.0
    value_evaluations: int = 0
    """V(s, g*) evaluations the method needs on its own (what a deployed agent pays)."""
    value_evaluations_computed: int = 0
    """V(s, g*) evaluations this run actually computed (less with the distance cache)."""
    distance_cache_hit: bool = False
    """Goal distances came from the sweep's distance cache."""
    updates: int = 0
    """Fine-tuning updates run."""
    # --- counted test-time FLOPs (see gcttt/control/flops.py) -----------------------------------------
    flops_act: int = 0
    flops_selection: int = 0
    flops_finetune: int = 0
    flops_total: int = 0
    flops_per_act: int = 0
    """FLOPs of one action (batch of one)."""
    flops_per_value: int = 0
    """FLOPs of one V(s, g) evaluation."""
    flops_per_update: int = 0
    """FLOPs of one fine-tuning update at `finetune_batch` (pre-training batch for baselines)."""
    device: str = "cpu"
    """Device the episode ran on."""
    machine: str = ""
    """CPU model or GPU name of the machine that played the episode."""

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


RECORD_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(EpisodeRecord))

_ARROW_TYPES: dict[object, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    list[int]: pa.list_(pa.int64()),
}


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

CONTEXT_FIELDS = [
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

SCHEMA: pa.Schema = pa.schema([*_record_fields(), *CONTEXT_FIELDS])
"""The columns of every part file."""


def _finetune_before_the_column(table: pa.Table) -> list[str]:
    # Every GC-TTT update trained the full loss before the knob existed. (A table without a method
    # column is no results file; its readers say so, naming what it lacks.)
    methods = table.column("method").to_pylist() if "method" in table.column_names else [""] * table.num_rows
    return ["all" if method == "gcttt" else "" for method in methods]


ADDED_COLUMNS: dict[str, Any] = {
    "authors_cube_match": False,
    "finetune": _finetune_before_the_column,
    "version_pins": "not recorded",
}
"""Columns added after rows were first published, with the value every older row had (a constant,
or a function of the older table giving one value per row): `read_part` fills them in, so
published studies stay readable without a rewrite."""


def read_part(path: str | os.PathLike) -> pa.Table:
    """One Parquet file of rows, with each of `ADDED_COLUMNS` it lacks at its value for older rows:
    the one way every reader (results directories, sweeps, the store, the analysis scripts) opens
    a part file."""
    table = pq.read_table(path)
    for name, value in ADDED_COLUMNS.items():
        if name not in table.column_names:
            values = value(table) if callable(value) else [value] * table.num_rows
            table = table.append_column(SCHEMA.field(name), pa.array(values, SCHEMA.field(name).type))
    return table


PART_PREFIX = "part-"


@dataclass(frozen=True)
class RunContext:
    """What every row of a batch shares besides its record."""

    sweep_id: str = ""
    """The sweep (or evaluation) the episodes belong to."""
    sweep_kind: str = ""
    """'horizon', 'compute', 'reproduce' or 'evaluate'."""
    trial_id: str = ""
    """The trial (or arm) that ran them."""
    node: str = field(default_factory=socket.gethostname)
    """Node of records that carry none of their own."""
    git_sha: str = field(default_factory=git_sha)
    """Commit of the code ('-dirty' for local changes)."""
    versions: Mapping[str, str] = field(default_factory=versions)
    """Package versions (gcttt.files.provenance.versions())."""


def records_table(rows: Iterable[tuple[EpisodeRecord, Mapping[str, Any]]], context: RunContext) -> pa.Table:
    """Arrow table in `SCHEMA` of (record, per-row extras) pairs; extras may give spec_index,
    attempts and node (defaults -1, 1 and the context's node)."""
    if not isinstance(context, RunContext):
        raise UsageError(f"context must be a gcttt.results.records.RunContext (got {type(context).__name__})")
    missing = [pkg for pkg in versions() if pkg not in context.versions]
    if missing:
        raise UsageError(f"context.versions lacks {missing}; build it with gcttt.files.provenance.versions()")
    shared = {
        "sweep_id": context.sweep_id,
        "sweep_kind": context.sweep_kind,
        "trial_id": context.trial_id,
        "git_sha": context.git_sha,
        **{f"version_{pkg}": context.versions[pkg] for pkg in versions()},
        "written_at": datetime.now(timezone.utc),
    }
    out = []
    for record, extra in rows:
        if not isinstance(record, EpisodeRecord):
            raise UsageError(f"cannot write a {type(record).__name__}; give EpisodeRecord rows")
        row = {"spec_index": -1, "attempts": 1, "node": context.node, **extra}
        out.append({**record.to_row(), **row, **shared})
    return pa.Table.from_pylist(out, schema=SCHEMA)


def write_part_file(directory: str | os.PathLike, table: pa.Table) -> Path | None:
    """Write `table` as one new part file in `directory`, atomically; None for an empty table."""
    if table.num_rows == 0:
        return None
    directory = Path(directory).expanduser().resolve()
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file; results need a directory")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{PART_PREFIX}{stamp}-{uuid.uuid4().hex[:8]}.parquet"
    with atomic_write(path, "wb") as f:
        pq.write_table(table, f)
    return path


def write_records(
    directory: str | os.PathLike, records: Iterable[EpisodeRecord], context: RunContext | None = None
) -> Path | None:
    """Write bare records (no pool extras) as one part file."""
    return write_part_file(directory, records_table(((r, {}) for r in records), context or RunContext()))


def part_files(directory: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """The complete Parquet files of a results directory, sorted; hidden files and folders (writes
    in flight, temporary files) skipped. `recursive` also searches subdirectories."""
    directory = Path(directory).expanduser()
    if not directory.exists():
        raise UsageError(f"{directory}: no such results directory")
    if not directory.is_dir():
        raise UsageError(f"{directory} is a file; give the directory that holds the Parquet part files")
    found = directory.rglob("*.parquet") if recursive else directory.glob(f"{PART_PREFIX}*.parquet")
    out = []
    for path in found:
        relative = path.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        out.append(path)
    return sorted(out)


def read_results(directory: str | os.PathLike):
    """All rows of a results directory's part files as one pandas DataFrame."""
    tables = [read_part(p) for p in part_files(directory)]
    table = pa.concat_tables(tables, promote_options="default") if tables else SCHEMA.empty_table()
    frame = table.to_pandas()
    if "selected_per_replan" in frame:
        frame["selected_per_replan"] = [
            [int(v) for v in cell] if cell is not None else [] for cell in frame["selected_per_replan"]
        ]
    return frame
