"""What both sweeps share: settings and flags, preparation of data and checkpoints, the trial.

A sweep runs in four steps:
1. validate every flag (before anything starts, so bad input leaves nothing behind);
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

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gcttt.envs import dataset_info
from gcttt.errors import GctttError, UsageError
from gcttt.presets import get_preset
from sweeps.arms import Arm

DEFAULT_OUT = "~/gcttt-results"
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
    extra: dict[str, Any] = field(default_factory=dict)
    """Sweep-specific settings, logged as MLflow params."""

    @property
    def sweep_dir(self) -> Path:
        return Path(self.out) / "sweeps" / self.name

    @property
    def episodes_dir(self) -> Path:
        return self.sweep_dir / "episodes"

    @property
    def checkpoint_root(self) -> Path:
        return Path(self.out) / "checkpoints"


def add_common_arguments(parser: argparse.ArgumentParser, default_backbone: str) -> None:
    g = parser.add_argument_group("what to evaluate")
    g.add_argument("--dataset", default="pointmaze-medium-navigate-v0", help="OGBench dataset name")
    g.add_argument("--backbone", default=default_backbone, help="gcbc, gciql or saw")
    g.add_argument("--preset", default="cpu", help="pre-training scale: paper, cpu or smoke")
    g.add_argument("--seeds", type=int, nargs="+", default=[0], help="pre-training seeds (one checkpoint each)")
    g.add_argument("--tasks", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="OGBench task ids")
    g.add_argument("--episodes-per-task", type=int, default=None, help="episodes per task and arm")
    g.add_argument("--eval-seed", type=int, default=0, help="seed of the evaluation episodes")
    g.add_argument("--pretrain-steps", type=int, default=None, help="pre-training updates (default: preset's)")
    r = parser.add_argument_group("resources")
    r.add_argument(
        "--workers", type=int, default=None, help="episode workers per trial (default: the CPUs of one trial)"
    )
    r.add_argument(
        "--cpus-per-worker",
        type=float,
        default=None,
        help="CPU share per episode worker (default: the trial's CPUs less --trial-cpus, split evenly)",
    )
    r.add_argument(
        "--trial-cpus", type=float, default=0.1, help="CPU share of each trial's own (mostly waiting) process"
    )
    r.add_argument(
        "--gpus-per-worker",
        type=float,
        default=None,
        help="GPU fraction per worker (default: 0.25 where the cluster has GPUs, else 0)",
    )
    r.add_argument("--max-concurrent-trials", type=int, default=1, help="trials running at once")
    r.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local Ray)")
    r.add_argument("--pretrain-device", default="auto", help="device for missing pre-training runs")
    o = parser.add_argument_group("outputs")
    o.add_argument(
        "--out",
        default=os.environ.get("GCTTT_RESULTS_DIR", DEFAULT_OUT),
        help="results root (absolute; relative paths are made absolute) [$GCTTT_RESULTS_DIR or ~/gcttt-results]",
    )
    o.add_argument(
        "--data-dir",
        default=None,
        help="dataset directory (default: $GCTTT_DATA_DIR or ~/.ogbench/data; smoke preset: OUT/data-smoke)",
    )
    o.add_argument(
        "--mlflow-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI"),
        help="MLflow tracking URI, e.g. http://mlflow:5000 [$MLFLOW_TRACKING_URI, else sqlite:///OUT/mlflow.db]",
    )
    o.add_argument("--experiment", default=None, help="MLflow experiment (default: gcttt-<kind>)")
    o.add_argument("--name", default=None, help="sweep id (default: derived from the settings)")
    o.add_argument("--resume", action="store_true", help="continue an interrupted sweep of the same name")
    parser.add_argument("--config", default=None, help="JSON file of flag values (keys as the long flags)")


def apply_config_file(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse flags; values from --config FILE act as defaults that explicit flags override."""
    args = parser.parse_args(argv)
    if args.config:
        path = Path(args.config)
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"--config {path}: cannot read it as JSON ({exc})") from None
        known = {a.dest for a in parser._actions}
        unknown = sorted(k.replace("-", "_") for k in values if k.replace("-", "_") not in known)
        if unknown:
            raise UsageError(f"--config {path}: unknown keys {unknown}")
        parser.set_defaults(**{k.replace("-", "_"): v for k, v in values.items()})
        args = parser.parse_args(argv)
    return args


def build_settings(args: argparse.Namespace, kind: str, grid_key: dict[str, Any]) -> SweepSettings:
    """Validate the common flags and resolve defaults (nothing is created here)."""
    from sweeps.tracking import check_tracking_uri, sqlite_uri

    info = dataset_info(args.dataset)
    preset = get_preset(args.preset)
    from gcttt.agents import backbone_classes

    backbone_classes(args.backbone)
    bad_tasks = [t for t in args.tasks if not 1 <= t <= 5]
    if bad_tasks or not args.tasks:
        raise UsageError(f"--tasks must be ids in 1-5 (got {args.tasks})")
    if not args.seeds:
        raise UsageError("--seeds needs at least one seed")
    episodes = args.episodes_per_task or (1 if preset.name == "smoke" else 2)
    if episodes < 1:
        raise UsageError(f"--episodes-per-task must be at least 1 (got {episodes})")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {args.workers})")
    if args.cpus_per_worker is not None and args.cpus_per_worker <= 0:
        raise UsageError(f"--cpus-per-worker must be positive (got {args.cpus_per_worker})")
    if args.trial_cpus <= 0:
        raise UsageError(f"--trial-cpus must be positive (got {args.trial_cpus})")
    if len(set(args.seeds)) != len(args.seeds):
        raise UsageError(f"--seeds has repeated values ({args.seeds})")
    if args.max_concurrent_trials < 1:
        raise UsageError(f"--max-concurrent-trials must be at least 1 (got {args.max_concurrent_trials})")
    if args.pretrain_steps is not None and args.pretrain_steps < 1:
        raise UsageError(f"--pretrain-steps must be at least 1 (got {args.pretrain_steps})")
    gpus = args.gpus_per_worker
    if gpus is not None and not 0 <= gpus <= 1:
        raise UsageError(f"--gpus-per-worker must lie in [0, 1] (got {gpus})")
    out = Path(args.out).expanduser().resolve()
    if args.data_dir:
        data_dir = Path(args.data_dir).expanduser().resolve()
    elif preset.name == "smoke":
        data_dir = out / "data-smoke"
    else:
        from gcttt.data.access import resolve_data_dir

        data_dir = resolve_data_dir(None)
    uri = check_tracking_uri(args.mlflow_uri) if args.mlflow_uri else sqlite_uri(out / "mlflow.db")
    key = {
        "dataset": info.dataset,
        "backbone": args.backbone,
        "preset": preset.name,
        "seeds": list(args.seeds),
        "tasks": list(args.tasks),
        "episodes": episodes,
        "eval_seed": args.eval_seed,
        **grid_key,
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    name = args.name or f"{kind}-{info.dataset.removesuffix('-v0')}-{args.backbone}-{preset.name}-{digest}"
    return SweepSettings(
        kind=kind,
        name=name,
        dataset=info.dataset,
        backbone=args.backbone,
        preset=preset.name,
        tasks=tuple(args.tasks),
        episodes_per_task=episodes,
        eval_seed=args.eval_seed,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=gpus,
        trial_cpus=args.trial_cpus,
        max_concurrent_trials=args.max_concurrent_trials,
        ray_address=args.ray_address,
        out=str(out),
        data_dir=str(data_dir),
        mlflow_uri=uri,
        experiment=args.experiment or f"gcttt-{kind}",
        pretrain_device=args.pretrain_device,
        pretrain_steps=args.pretrain_steps,
        resume=args.resume,
        seeds=tuple(args.seeds),
        extra=grid_key,
    )


def settings_dict(settings: SweepSettings) -> dict[str, Any]:
    return asdict(settings)


def fail(prog: str, exc: GctttError) -> int:
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return exc.exit_code


def elapsed(start: float) -> str:
    minutes, seconds = divmod(time.perf_counter() - start, 60)
    return f"{int(minutes)} min {seconds:.0f} s"


def arms_summary(arms: list[Arm]) -> str:
    return ", ".join(a.name for a in arms[:6]) + (f", ... ({len(arms)} arms)" if len(arms) > 6 else "")
