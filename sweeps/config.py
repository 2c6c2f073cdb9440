"""A sweep's configuration: nested frozen dataclasses, the one place each setting is declared.

Each field's type, default and docstring are its command-line flag, `--help` line and `--config`
key: `parse(Config, argv)` (`gcttt.commands.flags`) derives the command line with tyro, flat (``--seeds``, ``--K``, not
``--what.seeds``), so every entry point's flags come from here and nothing is copied by hand.
Values that mean "look elsewhere" are named, not coded: ``"preset"`` (the preset's value),
``"auto"`` (sized to the cluster), ``"backbone"`` (the backbone's own). The selection knobs are
`gcttt.selection.SelectionKnobs` itself, so a new knob is one field there.

Validation happens once, in `sweeps.common.settings_from`, which resolves a configuration into
the plain `SweepSettings` the trials receive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated, Literal

import tyro

from gcttt.commands.flags import parse
from gcttt.selection import SelectionKnobs

__all__ = ["Checkpoints", "FineTuning", "Outputs", "Resources", "SweepConfig", "SweepKnobs", "Tasks", "parse"]

DEFAULT_OUT = "~/gcttt-results"


@dataclass(frozen=True)
class Checkpoints:
    """What to evaluate: the dataset and the pre-trained checkpoints (trained where missing)."""

    dataset: str = "pointmaze-medium-navigate-v0"
    """OGBench dataset name."""
    backbone: str = "gcbc"
    """gcbc, gciql or saw."""
    preset: str = "cpu"
    """Pre-training scale: paper, cpu or smoke."""
    seeds: tuple[int, ...] = (0,)
    """Pre-training seeds (one checkpoint each)."""
    pretrain_steps: int | Literal["preset"] = "preset"
    """Pre-training updates of missing checkpoints."""
    checkpoints: Literal["final", "kept"] = "final"
    """Evaluate each run's final checkpoint, or every checkpoint the preset keeps (cpu: 16k, 18k, 20k
    updates; the authors average 800k/900k/1M, docs/method.md §3)."""


@dataclass(frozen=True)
class Tasks:
    """Which episodes each arm plays."""

    suite: str = "ogbench"
    """Task suite: ogbench (the 5 evaluation tasks) or heldout-SEED (pairs that are not OGBench's)."""
    tasks: tuple[int, ...] | Literal["all"] = "all"
    """Task ids of the suite."""
    heldout_size: int = 10
    """Tasks of a held-out suite."""
    episodes_per_task: int | Literal["preset"] = "preset"
    """Episodes per task and arm ('preset': 2; smoke: 1)."""
    eval_seed: int = 0
    """Seed of the evaluation episodes."""


@dataclass(frozen=True)
class Resources:
    """Where and how wide the sweep runs."""

    workers: int | Literal["auto"] = "auto"
    """Episode workers per trial ('auto': the CPUs of one trial)."""
    cpus_per_worker: float | Literal["auto"] = "auto"
    """CPU share per episode worker ('auto': the trial's CPUs less --trial-cpus, split evenly)."""
    trial_cpus: float = 0.1
    """CPU share of each trial's own (mostly waiting) process."""
    gpus_per_worker: float | Literal["auto"] = "auto"
    """GPU fraction per worker ('auto': 0.25 where the cluster has GPUs, else 0)."""
    max_concurrent_trials: int = 1
    """Trials running at once."""
    ray_address: str | Literal["local"] = "local"
    """Ray cluster address ('local': the job's cluster under `ray job submit`, else a new local Ray)."""
    pretrain_device: str = "auto"
    """Device for missing pre-training runs: auto, cpu, cuda."""
    compile: Literal["auto", "on", "off"] = "auto"
    """Fine-tuning updates through torch.compile: on, off, or auto = the device's default (a CUDA graph
    on CUDA; eager on CPUs, where compiling was measured to gain nothing)."""
    distance_cache: bool = True
    """Share goal distances between the trials (OUT/cache/distances) instead of computing them in each."""


@dataclass(frozen=True)
class Outputs:
    """Where results go and what the console shows."""

    out: str = field(default_factory=lambda: os.environ.get("GCTTT_RESULTS_DIR", DEFAULT_OUT))
    """Results root (made absolute) [$GCTTT_RESULTS_DIR, else ~/gcttt-results]."""
    data_dir: str | Literal["default"] = "default"
    """Dataset directory ('default': $GCTTT_DATA_DIR or ~/.ogbench/data; smoke preset: OUT/data-smoke)."""
    mlflow_uri: str | Literal["default"] = field(
        default_factory=lambda: os.environ.get("MLFLOW_TRACKING_URI", "default")
    )
    """MLflow tracking URI, e.g. http://mlflow:5000 [$MLFLOW_TRACKING_URI; 'default': sqlite:///OUT/mlflow.db]."""
    experiment: str | Literal["default"] = "default"
    """MLflow experiment ('default': gcttt-<kind>)."""
    name: str | Literal["derived"] = "derived"
    """Sweep id ('derived': from the settings)."""
    resume: bool = False
    """Continue an interrupted sweep of the same name."""
    published: str | None = None
    """A study of the results store, e.g. results/table1-cpu: play only the episodes it lacks (its rows
    are copied into this sweep); checkpoints re-created here must match its weights fingerprints."""
    record_trajectories: bool = False
    """Store each episode's x-y path and selected data segments beside its rows (SWEEP/trajectories/)
    and log a maze picture per trial to MLflow (maze datasets; elsewhere there is no x-y path, and a
    line says so); rows are identical either way."""
    verbose: Annotated[int, tyro.conf.UseCounterAction, tyro.conf.arg(aliases=["-v"])] = 0
    """More console output: -v adds Ray Tune's status table, each trial's episode bar and Ray's INFO
    lines (0: one progress bar for the sweep, then the results table)."""


@dataclass(frozen=True, kw_only=True)
class SweepKnobs(SelectionKnobs):
    """`SelectionKnobs` as sweep-wide flags (every field a flag), q aside: the quantile is a grid axis
    (`--q` of the horizon sweep), so it is not also a sweep-wide value."""

    q: tyro.conf.Suppress[float] = SelectionKnobs.q


@dataclass(frozen=True)
class FineTuning:
    """Selection and fine-tuning knobs of every arm (strategies read what they need)."""

    knobs: SweepKnobs = field(default_factory=SweepKnobs)
    finetune_batch: int | Literal["backbone"] = "backbone"
    """Transitions per fine-tuning update ('backbone': the backbone's pre-training batch)."""
    finetune: Literal["backbone", "all", "actor"] = "backbone"
    """What each fine-tuning update trains: 'all' (the backbone's full loss, the paper's), 'actor'
    (the acting networks alone: no value or critic pass, no target EMA) or 'backbone' (its default:
    'actor' for GC-BC, where it changes no action, 'all' for GC-IQL and SAW)."""


@dataclass(frozen=True)
class SweepConfig:
    """What every sweep shares."""

    what: Checkpoints = field(default_factory=Checkpoints)
    episodes: Tasks = field(default_factory=Tasks)
    tuning: FineTuning = field(default_factory=FineTuning)
    resources: Resources = field(default_factory=Resources)
    outputs: Outputs = field(default_factory=Outputs)
