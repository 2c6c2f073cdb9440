"""The episode record: one row per evaluated episode, the unit every result is built from.

Field names are the column names of the Parquet files (`workers/parquet_sink.py` adds the
sweep, trial, node and provenance columns). Baseline episodes carry zeros and empty strings in
the test-time-training columns.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EpisodeRecord:
    # --- what was evaluated ------------------------------------------------------------------
    dataset: str
    """OGBench dataset name."""
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
    method: str
    """'baseline' (pre-trained policy) or 'gcttt'."""
    selection: str
    """Selection strategy ('' for baseline)."""
    horizon: int
    """K, env steps between re-plans (0 for baseline)."""
    grad_steps: int
    """N, updates per re-plan (0 for baseline)."""
    lr: float
    """Fine-tuning learning rate (0 for baseline)."""
    q: float
    """Selection quantile (critic-quantile, critic-free)."""
    eps: float
    """Relevance radius."""
    once: bool
    """Once-per-episode fine-tuning (ablation)."""
    task_id: int
    """OGBench task, 1-5."""
    episode_index: int
    """Index of the episode among those of its task and configuration."""
    seed: int
    """Episode seed (derived from the run seed, task and index)."""
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
    """V(s, g*) evaluations run by selection."""
    updates: int = 0
    """Fine-tuning updates run."""
    # --- counted test-time FLOPs (see gcttt/flops.py) -----------------------------------------
    flops_act: int = 0
    flops_selection: int = 0
    flops_finetune: int = 0
    flops_total: int = 0
    device: str = "cpu"
    """Device the episode ran on."""

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


RECORD_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(EpisodeRecord))


def write_records(path: str | os.PathLike, records: list[EpisodeRecord], extra: dict[str, Any] | None = None) -> Path:
    """Write records (plus constant `extra` columns) as one Parquet file, atomically.

    The file appears under its final name only once complete (temporary file, fsync, rename).
    """
    import pandas as pd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([r.to_row() for r in records], columns=list(RECORD_COLUMNS))
    for key, value in (extra or {}).items():
        frame[key] = value
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            frame.to_parquet(f, index=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
