"""What the sweeps share: resolved settings, preparation of data and checkpoints, the trial.

A sweep runs in four steps:
1. validate the configuration (`sweeps.config`; before anything starts, so bad input leaves
   nothing behind) and resolve it into `SweepSettings` (`settings_from`);
2. prepare the dataset (generated if absent) and the pre-trained checkpoints (trained if absent,
   cached under ``OUT/checkpoints`` by dataset, backbone, preset, width and seed), putting the
   dataset into Ray's object store once;
3. run one Ray Tune trial per arm: the trial evaluates its arm on the tasks with episode workers
   inside the trial's placement group, writes its rows to ``OUT/sweeps/NAME/episodes/ARM/part-*.parquet``,
   logs one MLflow child run under the sweep's parent run, and reports success with a 95%
   bootstrap CI to Tune;
4. print the results table.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gcttt.envs import dataset_info
from gcttt.errors import GctttError, UsageError
from gcttt.presets import get_preset
from gcttt.selection import SelectionKnobs
from sweeps.arms import Arm
from sweeps.config import FineTuning, SweepConfig

SMOKE_EPISODES = 40
"""Training episodes of the small dataset a smoke sweep generates when the real one is absent."""


@dataclass(frozen=True)
class SweepSettings:
    """Everything a sweep needs besides its arms; plain values so trials can receive it."""

    kind: str
    """'horizon' or 'compute'."""
    name: str
    """Sweep id: names the output folder, the Tune experiment and the MLflow parent run."""
    dataset: str
    backbone: str
    preset: str
    tasks: tuple[int, ...]
    episodes_per_task: int
    eval_seed: int
    workers: int | None
    """Episode workers per trial (None: as many as the cluster's CPUs allow, see `resources`)."""
    cpus_per_worker: float | None
    """CPU share per worker (None: the trial's CPUs, less `trial_cpus`, split over the workers)."""
    gpus_per_worker: float | None
    """GPU share per worker (None: 0.25-style sharing where the cluster has GPUs, else 0)."""
    trial_cpus: float
    """CPU share of the trial's own process, which mostly waits for its workers."""
    max_concurrent_trials: int
    ray_address: str | None
    out: str
    """Absolute results root."""
    data_dir: str
    """Absolute dataset directory."""
    mlflow_uri: str
    experiment: str
    pretrain_device: str
    pretrain_steps: int | None
    resume: bool
    seeds: tuple[int, ...]
    suite: str = "ogbench"
    """Task suite the arms play unless they say otherwise: 'ogbench' or 'heldout-SEED'."""
    heldout_size: int = 10
    """Tasks of a held-out suite."""
    distance_cache: bool = True
    """Share goal distances between the trials (OUT/cache/distances)."""
    compile: str = "auto"
    """Fine-tuning updates through torch.compile: on, off, or auto (a CUDA graph on CUDA, eager on CPUs)."""
    published: str | None = None
    """A study of the results store (results/STUDY): episodes it already holds are not played
    again, and the sweep's checkpoints must have the weights that played them."""
    checkpoint_steps: tuple[int, ...] = ()
    """Pre-training steps every arm is evaluated at (the preset's kept checkpoints, averaged as the
    authors do); empty: each run's final checkpoint only."""
    knobs: dict[str, Any] = field(default_factory=dict)
    """The sweep-wide knobs that differ from their defaults (`changed_knobs`: names the sweep)."""
    selection_knobs: SelectionKnobs = field(default_factory=SelectionKnobs)
    """Selection knobs of every arm (strategies read what they need)."""
    finetune_batch: int | Literal["backbone"] = "backbone"
    """Transitions per fine-tuning update of every arm."""
    finetune: str = "all"
    """What every arm's fine-tuning updates train: 'all' or 'actor' (the backbone's default resolved)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Sweep-specific settings, logged as MLflow params."""
    verbose: int = 0
    """Console: 0 = one progress bar for the sweep and the final table; 1+ = also Ray's INFO lines,
    each trial's episode bar and Ray Tune's status table (its `verbose` level, at most 3)."""
    record_trajectories: bool = False
    """Also store each episode's x-y path and selections (SWEEP/trajectories/, docs/trajectories.md) and
    log one maze picture per trial to MLflow; the Parquet rows are the same either way."""

    @property
    def sweep_dir(self) -> Path:
        return Path(self.out) / "sweeps" / self.name

    @property
    def episodes_dir(self) -> Path:
        return self.sweep_dir / "episodes"

    @property
    def trajectories_dir(self) -> Path:
        return self.sweep_dir / "trajectories"

    @property
    def checkpoint_root(self) -> Path:
        return Path(self.out) / "checkpoints"

    def tasks_of(self, suite: str) -> tuple[int, ...]:
        """Task ids an arm of `suite` plays: --tasks for the sweep's own suite, else all of the suite's."""
        if suite == self.suite:
            return self.tasks
        return tuple(range(1, (5 if suite == "ogbench" else self.heldout_size) + 1))

    @property
    def distance_cache_dir(self) -> str | None:
        return str(Path(self.out) / "cache" / "distances") if self.distance_cache else None


def check_device(device: str, flag: str) -> None:
    """Refuse, before anything starts, a device that is not one or that this machine lacks."""
    from gcttt.files.provenance import resolve_device

    try:
        resolve_device(device, flag)
    except UsageError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def check_seeds(seeds: list[int], eval_seed: int) -> None:
    """Seeds are labels (checkpoint names end in -sSEED), not counts: 0 or more."""
    negative = [s for s in seeds if s < 0]
    if negative:
        raise UsageError(f"--seeds must be 0 or more (got {negative[0]})")
    if eval_seed < 0:
        raise UsageError(f"--eval-seed must be 0 or more (got {eval_seed})")


def settings_from(config: SweepConfig, kind: str, grid_key: dict[str, Any]) -> SweepSettings:
    """Validate a sweep's configuration and resolve what it leaves to the preset, the cluster or the
    environment (nothing is created here). `grid_key`: the sweep's own grid, part of its name."""
    from gcttt.agents import get_backbone
    from gcttt.control.tasks import parse_suite
    from gcttt.data.access import resolve_data_dir
    from gcttt.files.fileio import check_writable_dir
    from gcttt.tracking_uri import check_reachable, check_sqlite_free, check_tracking_uri, sqlite_uri

    what, tasks_config, tuning, res, outputs = (
        config.what, config.episodes, config.tuning, config.resources, config.outputs
    )  # fmt: skip
    info = dataset_info(what.dataset)
    preset = get_preset(what.preset)
    backbone = get_backbone(what.backbone)
    finetune = backbone.agent.finetune_default if tuning.finetune == "backbone" else tuning.finetune
    suite = tasks_config.suite
    parse_suite(suite)
    heldout_size = tasks_config.heldout_size
    if heldout_size < 1:
        raise UsageError(f"--heldout-size must be at least 1 (got {heldout_size})")
    limit = 5 if suite == "ogbench" else heldout_size
    if tasks_config.tasks == "all":
        tasks = tuple(range(1, limit + 1))
    else:
        tasks = tuple(tasks_config.tasks)
        bad = [t for t in tasks if t < 1 or (suite == "ogbench" and t > 5)]
        if bad or not tasks:
            raise UsageError(f"--tasks must be ids in 1-{limit} (got {list(tasks)})")
        if suite != "ogbench" and max(tasks) > heldout_size:
            raise UsageError(f"--tasks {list(tasks)} reach past the held-out suite's {heldout_size} tasks")
    seeds = what.seeds
    if not seeds:
        raise UsageError("--seeds needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds has repeated values ({list(seeds)})")
    check_seeds(list(seeds), tasks_config.eval_seed)
    episodes = tasks_config.episodes_per_task
    if episodes == "preset":
        episodes = 1 if preset.name == "smoke" else 2
    if episodes < 1:
        raise UsageError(f"--episodes-per-task must be at least 1 (got {episodes})")
    pretrain_steps = None if what.pretrain_steps == "preset" else what.pretrain_steps
    workers = None if res.workers == "auto" else res.workers
    for flag, value in (("workers", workers), ("max-concurrent-trials", res.max_concurrent_trials),
                        ("pretrain-steps", pretrain_steps)):  # fmt: skip
        if value is not None and value < 1:
            raise UsageError(f"--{flag} must be at least 1 (got {value})")
    cpus = None if res.cpus_per_worker == "auto" else res.cpus_per_worker
    if cpus is not None and cpus <= 0:
        raise UsageError(f"--cpus-per-worker must be positive (got {cpus})")
    if res.trial_cpus <= 0:
        raise UsageError(f"--trial-cpus must be positive (got {res.trial_cpus})")
    gpus = None if res.gpus_per_worker == "auto" else res.gpus_per_worker
    if gpus is not None and not 0 <= gpus <= 1:
        raise UsageError(f"--gpus-per-worker must lie in [0, 1] (got {gpus})")
    check_device(res.pretrain_device, "--pretrain-device")
    if tuning.finetune_batch != "backbone" and tuning.finetune_batch < 1:
        raise UsageError(f"--finetune-batch must be at least 1 (got {tuning.finetune_batch})")
    record_trajectories = outputs.record_trajectories and info.is_maze
    if outputs.record_trajectories and not info.is_maze:  # on by default in the horizon sweep
        print(f"note: no trajectories recorded: {info.dataset} has no maze x-y path", file=sys.stderr)
    out = check_writable_dir(outputs.out, "--out")
    if outputs.data_dir != "default":
        data_dir = check_writable_dir(outputs.data_dir, "--data-dir")
    elif preset.name == "smoke":
        data_dir = out / "data-smoke"
    else:
        data_dir = check_writable_dir(resolve_data_dir(None), "data directory")
    checkpoint_steps: tuple[int, ...] = ()
    if what.checkpoints == "kept":
        if pretrain_steps is not None:
            raise UsageError("--checkpoints kept evaluates the preset's kept steps; drop --pretrain-steps")
        checkpoint_steps = tuple(preset.checkpoint_steps)
    published = None
    if outputs.published:
        study = Path(outputs.published).expanduser().resolve()
        if not (study / "rows").is_dir():
            raise UsageError(f"--published {outputs.published}: not a study of the results store (no rows/ folder)")
        published = str(study)
    uri = check_tracking_uri(outputs.mlflow_uri) if outputs.mlflow_uri != "default" else sqlite_uri(out / "mlflow.db")
    check_reachable(uri)
    check_sqlite_free(uri)  # another process's lock: a bounded wait, then one line
    knobs = changed_knobs(tuning, finetune)
    key = {
        "dataset": info.dataset,
        "backbone": what.backbone,
        "preset": preset.name,
        "seeds": list(seeds),
        "tasks": list(tasks),
        "suite": suite,
        "episodes": episodes,
        "eval_seed": tasks_config.eval_seed,
        "knobs": knobs,
        **grid_key,
    }
    if checkpoint_steps:  # absent otherwise, so that earlier sweeps keep their names
        key["checkpoint_steps"] = list(checkpoint_steps)
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    name = outputs.name
    if name == "derived":
        name = f"{kind}-{info.dataset.removesuffix('-v0')}-{what.backbone}-{preset.name}-{digest}"
    if not name or "/" in name or name.startswith("."):
        raise UsageError(f"--name {name!r}: give a plain folder name (no '/', not starting with '.')")
    return SweepSettings(
        kind=kind,
        name=name,
        dataset=info.dataset,
        backbone=what.backbone,
        preset=preset.name,
        tasks=tasks,
        episodes_per_task=episodes,
        eval_seed=tasks_config.eval_seed,
        workers=workers,
        cpus_per_worker=cpus,
        gpus_per_worker=gpus,
        trial_cpus=res.trial_cpus,
        max_concurrent_trials=res.max_concurrent_trials,
        ray_address=None if res.ray_address == "local" else res.ray_address,
        out=str(out),
        data_dir=str(data_dir),
        mlflow_uri=uri,
        experiment=f"gcttt-{kind}" if outputs.experiment == "default" else outputs.experiment,
        pretrain_device=res.pretrain_device,
        pretrain_steps=pretrain_steps,
        resume=outputs.resume,
        seeds=tuple(seeds),
        suite=suite,
        heldout_size=heldout_size,
        distance_cache=res.distance_cache,
        compile=res.compile,
        checkpoint_steps=checkpoint_steps,
        published=published,
        knobs=knobs,
        selection_knobs=tuning.knobs,
        finetune_batch=tuning.finetune_batch,
        finetune=finetune,
        extra=grid_key,
        verbose=outputs.verbose,
        record_trajectories=record_trajectories,
    )


def changed_knobs(tuning: FineTuning, finetune: str = "all") -> dict[str, Any]:
    """The knobs that differ from their defaults, as record values (part of a sweep's name and of
    the settings a resume must keep; empty for a sweep at the defaults). `finetune`: what the
    updates train, resolved for the backbone; 'all' (every sweep's before the knob) is not named."""
    defaults = SelectionKnobs()
    changed = {k: v for k, v in tuning.knobs.knobs().items() if v != getattr(defaults, k)}
    if changed.get("distance_discount") == "backbone":
        changed["distance_discount"] = -1.0  # as in the records
    if tuning.finetune_batch != "backbone":
        changed["finetune_batch"] = tuning.finetune_batch
    if finetune != "all":
        changed["finetune"] = finetune
    return changed


def fail(prog: str, exc: GctttError) -> int:
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return exc.exit_code


def elapsed(start: float) -> str:
    minutes, seconds = divmod(time.perf_counter() - start, 60)
    return f"{int(minutes)} min {seconds:.0f} s"


def arms_summary(arms: list[Arm]) -> str:
    return ", ".join(a.name for a in arms[:6]) + (f", ... ({len(arms)} arms)" if len(arms) > 6 else "")
