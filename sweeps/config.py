"""A sweep's configuration: nested frozen dataclasses, the one place each setting is declared.

Each field's type, default and docstring are its command-line flag, `--help` line and `--config`
key: `parse(Config, argv)` (`gcttt.commands.flags`) derives the command line with tyro, flat (``--seeds``, ``--K``, not
``--what.seeds``), so every entry point's flags come from here and nothing is copied by hand.
Values that mean "look elsewhere" are named, not coded: ``"preset"`` (the preset's value),
``"auto"`` (sized to the cluster), ``"backbone"`` (the backbone's own). The selection knobs are
`gcttt.selection.SelectionKnobs` itself, so a new knob is one field there.

Each group checks its own values in `__post_init__`, so every knob is checked once, where it is
declared, whether it comes from the command line, a --config file or `dataclasses.replace`. What
depends on the machine (writable folders, a reachable MLflow) is checked when `sweeps.common.resolve`
turns the configuration into the `Sweep` the driver and the trials receive: this same configuration,
its named sentinels replaced by values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated, Literal

import tyro

from gcttt.agents import get_backbone
from gcttt.commands.flags import parse
from gcttt.control.tasks import OGBENCH, parse_suite
from gcttt.envs import dataset_info
from gcttt.errors import UsageError
from gcttt.files.provenance import resolve_device
from gcttt.presets import get_preset
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

    def __post_init__(self) -> None:
        dataset_info(self.dataset)
        get_backbone(self.backbone)
        get_preset(self.preset)
        if not self.seeds:
            raise UsageError("--seeds needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise UsageError(f"--seeds has repeated values ({list(self.seeds)})")
        negative = [s for s in self.seeds if s < 0]
        if negative:  # labels (checkpoint names end in -sSEED), not counts
            raise UsageError(f"--seeds must be 0 or more (got {negative[0]})")
        if self.pretrain_steps != "preset":
            if self.pretrain_steps < 1:
                raise UsageError(f"--pretrain-steps must be at least 1 (got {self.pretrain_steps})")
            if self.checkpoints == "kept":
                raise UsageError("--checkpoints kept evaluates the preset's kept steps; drop --pretrain-steps")

    @property
    def checkpoint_steps(self) -> tuple[int, ...]:
        """Pre-training steps every arm is evaluated at (the preset's kept checkpoints, averaged as
        the authors do); empty: each run's final checkpoint only."""
        return tuple(get_preset(self.preset).checkpoint_steps) if self.checkpoints == "kept" else ()


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

    def __post_init__(self) -> None:
        parse_suite(self.suite)
        if self.heldout_size < 1:
            raise UsageError(f"--heldout-size must be at least 1 (got {self.heldout_size})")
        if self.tasks != "all":
            limit = 5 if self.suite == OGBENCH else self.heldout_size
            if not self.tasks or min(self.tasks) < 1 or max(self.tasks) > limit:
                raise UsageError(f"--tasks must be ids in 1-{limit} of the {self.suite} suite (got {list(self.tasks)})")
        if self.episodes_per_task != "preset" and self.episodes_per_task < 1:
            raise UsageError(f"--episodes-per-task must be at least 1 (got {self.episodes_per_task})")
        if self.eval_seed < 0:
            raise UsageError(f"--eval-seed must be 0 or more (got {self.eval_seed})")

    def task_ids(self, suite: str) -> tuple[int, ...]:
        """Task ids an arm of `suite` plays: --tasks for this suite, else every task of `suite`."""
        if suite == self.suite and self.tasks != "all":
            return tuple(self.tasks)
        return tuple(range(1, (5 if suite == OGBENCH else self.heldout_size) + 1))


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

    def __post_init__(self) -> None:
        for flag, value in (("workers", self.workers), ("max-concurrent-trials", self.max_concurrent_trials)):
            if value != "auto" and value < 1:
                raise UsageError(f"--{flag} must be at least 1 (got {value})")
        if self.cpus_per_worker != "auto" and self.cpus_per_worker <= 0:
            raise UsageError(f"--cpus-per-worker must be positive (got {self.cpus_per_worker})")
        if self.trial_cpus <= 0:
            raise UsageError(f"--trial-cpus must be positive (got {self.trial_cpus})")
        if self.gpus_per_worker != "auto" and not 0 <= self.gpus_per_worker <= 1:
            raise UsageError(f"--gpus-per-worker must lie in [0, 1] (got {self.gpus_per_worker})")
        try:  # a device that is not one, or that this machine lacks, before anything starts
            resolve_device(self.pretrain_device, "--pretrain-device")
        except UsageError as exc:
            raise UsageError(f"--pretrain-device: {exc}") from None

    @property
    def gpu_share(self) -> float | None:
        """The GPU share asked for (None: 'auto')."""
        return None if self.gpus_per_worker == "auto" else self.gpus_per_worker


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

    def __post_init__(self) -> None:
        name = self.name
        if not name or "/" in name or name.startswith("."):
            raise UsageError(f"--name {name!r}: give a plain folder name (no '/', not starting with '.')")


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

    def __post_init__(self) -> None:
        if self.finetune_batch != "backbone" and self.finetune_batch < 1:
            raise UsageError(f"--finetune-batch must be at least 1 (got {self.finetune_batch})")


@dataclass(frozen=True)
class SweepConfig:
    """What every sweep shares."""

    what: Checkpoints = field(default_factory=Checkpoints)
    episodes: Tasks = field(default_factory=Tasks)
    tuning: FineTuning = field(default_factory=FineTuning)
    resources: Resources = field(default_factory=Resources)
    outputs: Outputs = field(default_factory=Outputs)
