"""What the sweeps share: the resolved sweep (`Sweep`, made by `resolve`) and the console helpers.

A sweep runs in four steps:
1. validate the configuration (`sweeps.config`, each group in its `__post_init__`; before anything
   starts, so bad input leaves nothing behind) and resolve it into a `Sweep` (`resolve`);
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

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcttt.agents import get_backbone
from gcttt.control.runner import EpisodeSpec
from gcttt.data.access import resolve_data_dir
from gcttt.envs import dataset_info
from gcttt.errors import GctttError, UsageError
from gcttt.files.fileio import check_writable_dir
from gcttt.presets import get_preset
from gcttt.selection import SelectionKnobs
from gcttt.tracking_uri import check_reachable, check_sqlite_free, check_tracking_uri, sqlite_uri
from sweeps.arms import Arm
from sweeps.config import Checkpoints, FineTuning, Outputs, Resources, SweepConfig, Tasks

SMOKE_EPISODES = 40
"""Training episodes of the small dataset a smoke sweep generates when the real one is absent."""


@dataclass(frozen=True)
class Sweep:
    """A sweep ready to run: its configuration, resolved (`resolve`), its kind and its grid.

    `config` is the entry point's `SweepConfig` with what it left to the preset, the backbone or
    the environment replaced by values: the dataset's name, the task ids, the episodes per task,
    the fine-tuned part, absolute folders, the MLflow URI and experiment, the sweep's name. What only
    the Ray cluster can say ('auto' workers and shares) stays named until `sweeps.resources` sizes it.
    It travels to every trial as it is: plain frozen dataclasses of `sweeps.config`."""

    config: SweepConfig
    kind: str
    """'horizon', 'compute' or 'reproduce'."""
    grid: dict[str, Any] = field(default_factory=dict)
    """The entry point's own grid (part of the sweep's name, logged as MLflow params)."""

    @property
    def what(self) -> Checkpoints:
        return self.config.what

    @property
    def episodes(self) -> Tasks:
        return self.config.episodes

    @property
    def tuning(self) -> FineTuning:
        return self.config.tuning

    @property
    def resources(self) -> Resources:
        return self.config.resources

    @property
    def outputs(self) -> Outputs:
        return self.config.outputs

    @property
    def name(self) -> str:
        """Sweep id: names the output folder, the Tune experiment and the MLflow parent run."""
        return self.outputs.name

    @property
    def sweep_dir(self) -> Path:
        return Path(self.outputs.out) / "sweeps" / self.name

    @property
    def episodes_dir(self) -> Path:
        return self.sweep_dir / "episodes"

    @property
    def trajectories_dir(self) -> Path:
        return self.sweep_dir / "trajectories"

    @property
    def checkpoint_root(self) -> Path:
        return Path(self.outputs.out) / "checkpoints"

    @property
    def distance_cache_dir(self) -> str | None:
        return str(Path(self.outputs.out) / "cache" / "distances") if self.resources.distance_cache else None

    @property
    def knobs(self) -> dict[str, Any]:
        """The sweep-wide knobs that differ from their defaults (part of the sweep's name)."""
        return changed_knobs(self.tuning)

    def arm_knobs(self) -> dict[str, Any]:
        """What every GC-TTT arm of the sweep shares (`sweeps.arms.ttt_grid`'s keyword arguments)."""
        tuning = self.tuning
        return {
            "suite": self.episodes.suite,
            "knobs": tuning.knobs,
            "finetune_batch": tuning.finetune_batch,
            "finetune": tuning.finetune,
        }

    def specs(self, arm: Arm) -> list[EpisodeSpec]:
        """The episodes `arm` plays: its suite's tasks x the episodes per task, from the eval seed."""
        tasks = self.episodes
        return arm.specs(tasks.task_ids(arm.suite), tasks.episodes_per_task, tasks.eval_seed)

    def replace(self, group: str, **changes: Any) -> Sweep:
        """This sweep with fields of one group changed, e.g. ``sweep.replace("outputs", resume=True)``
        (checked again by the group's `__post_init__`)."""
        changed = dataclasses.replace(getattr(self.config, group), **changes)
        return dataclasses.replace(self, config=dataclasses.replace(self.config, **{group: changed}))

    def record(self) -> dict[str, Any]:
        """The sweep as one flat JSON-able dict (sweep.json's "settings", read by `--resume`, the
        results store and analysis/plot_episodes.py): every field by its own name, the kind, the
        changed knobs, the kept checkpoint steps and the grid."""
        record: dict[str, Any] = {"kind": self.kind}
        for group in (self.what, self.episodes, self.tuning, self.resources, self.outputs):
            record.update({f.name: getattr(group, f.name) for f in dataclasses.fields(group)})
        record["selection_knobs"] = dataclasses.asdict(record.pop("knobs"))
        record.update(
            pretrain_steps=None if self.what.pretrain_steps == "preset" else self.what.pretrain_steps,
            checkpoint_steps=self.what.checkpoint_steps,
            knobs=self.knobs,
            extra=self.grid,
            resume=False,
        )
        return json.loads(json.dumps(record, default=str))  # tuples as lists


def resolve(config: SweepConfig, kind: str, grid: dict[str, Any]) -> Sweep:
    """The sweep of `config`: what it leaves to the preset, the backbone or the environment
    resolved, and what depends on this machine checked (folders writable, MLflow reachable and
    not locked). Nothing is created here; the values themselves were checked by `sweeps.config`."""
    what, tasks, tuning, outputs = config.what, config.episodes, config.tuning, config.outputs
    info = dataset_info(what.dataset)
    preset = get_preset(what.preset)
    tasks = dataclasses.replace(
        tasks,
        tasks=tasks.task_ids(tasks.suite),
        episodes_per_task=(1 if preset.name == "smoke" else 2)
        if tasks.episodes_per_task == "preset"
        else tasks.episodes_per_task,
    )
    if tuning.finetune == "backbone":
        tuning = dataclasses.replace(tuning, finetune=get_backbone(what.backbone).agent.finetune_default)
    if outputs.record_trajectories and not info.is_maze:  # on by default in the horizon sweep
        print(f"note: no trajectories recorded: {info.dataset} has no maze x-y path", file=sys.stderr)
    out = check_writable_dir(outputs.out, "--out")
    if outputs.data_dir != "default":
        data_dir = check_writable_dir(outputs.data_dir, "--data-dir")
    elif preset.name == "smoke":
        data_dir = out / "data-smoke"
    else:
        data_dir = check_writable_dir(resolve_data_dir(None), "data directory")
    published = None
    if outputs.published:
        study = Path(outputs.published).expanduser().resolve()
        if not (study / "rows").is_dir():
            raise UsageError(f"--published {outputs.published}: not a study of the results store (no rows/ folder)")
        published = str(study)
    uri = check_tracking_uri(outputs.mlflow_uri) if outputs.mlflow_uri != "default" else sqlite_uri(out / "mlflow.db")
    check_reachable(uri)
    check_sqlite_free(uri)  # another process's lock: a bounded wait, then one line
    what = dataclasses.replace(what, dataset=info.dataset)
    name = outputs.name
    if name == "derived":
        digest = _digest(what, tasks, tuning, grid)
        name = f"{kind}-{info.dataset.removesuffix('-v0')}-{what.backbone}-{preset.name}-{digest}"
    outputs = dataclasses.replace(
        outputs,
        out=str(out),
        data_dir=str(data_dir),
        mlflow_uri=uri,
        experiment=f"gcttt-{kind}" if outputs.experiment == "default" else outputs.experiment,
        name=name,
        published=published,
        record_trajectories=outputs.record_trajectories and info.is_maze,
    )
    plain = SweepConfig(  # the groups' base classes: an entry point's subclasses stay in its module
        what=_as(Checkpoints, what),
        episodes=_as(Tasks, tasks),
        tuning=_as(FineTuning, tuning),
        resources=_as(Resources, config.resources),
        outputs=_as(Outputs, outputs),
    )
    return Sweep(plain, kind, grid)


def _as(cls: type, group: Any) -> Any:
    return cls(**{f.name: getattr(group, f.name) for f in dataclasses.fields(cls)})


def _digest(what: Checkpoints, tasks: Tasks, tuning: FineTuning, grid: dict[str, Any]) -> str:
    """8 hex digits of what makes the sweep's episodes (its derived name's tail)."""
    key = {
        "dataset": what.dataset,
        "backbone": what.backbone,
        "preset": what.preset,
        "seeds": list(what.seeds),
        "tasks": list(tasks.tasks),
        "suite": tasks.suite,
        "episodes": tasks.episodes_per_task,
        "eval_seed": tasks.eval_seed,
        "knobs": changed_knobs(tuning),
        **grid,
    }
    if what.checkpoint_steps:  # absent otherwise, so that earlier sweeps keep their names
        key["checkpoint_steps"] = list(what.checkpoint_steps)
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


def changed_knobs(tuning: FineTuning) -> dict[str, Any]:
    """The knobs that differ from their defaults, as record values (part of a sweep's name and of
    the settings a resume must keep; empty for a sweep at the defaults). The fine-tuned part,
    resolved for the backbone, counts where it is not 'all' (every sweep's before the knob)."""
    defaults = SelectionKnobs()
    changed = {k: v for k, v in tuning.knobs.knobs().items() if v != getattr(defaults, k)}
    if changed.get("distance_discount") == "backbone":
        changed["distance_discount"] = -1.0  # as in the records
    if tuning.finetune_batch != "backbone":
        changed["finetune_batch"] = tuning.finetune_batch
    if tuning.finetune not in ("all", "backbone"):
        changed["finetune"] = tuning.finetune
    return changed


def fail(prog: str, exc: GctttError) -> int:
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return exc.exit_code


def elapsed(start: float) -> str:
    minutes, seconds = divmod(time.perf_counter() - start, 60)
    return f"{int(minutes)} min {seconds:.0f} s"


def arms_summary(arms: list[Arm]) -> str:
    return ", ".join(a.name for a in arms[:6]) + (f", ... ({len(arms)} arms)" if len(arms) > 6 else "")
