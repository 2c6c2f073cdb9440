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
from dataclasses import dataclass, field
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
    """Sweep-wide selection and fine-tuning knobs given on the command line (eps, top_k, ...)."""
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


def distance_discount_flag(text: str) -> float:
    """--distance-discount: a number, or 'backbone' (stored as -1, as in the records)."""
    if text == "backbone":
        return -1.0
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1) or 'backbone', got {text!r}") from None


def add_common_arguments(parser: argparse.ArgumentParser, default_backbone: str, trajectories: bool = False) -> None:
    """`trajectories`: --record-trajectories is on by default for maze datasets (the demo's sweep)."""
    g = parser.add_argument_group("what to evaluate")
    g.add_argument("--dataset", default="pointmaze-medium-navigate-v0", help="OGBench dataset name")
    g.add_argument("--backbone", default=default_backbone, help="gcbc, gciql or saw")
    g.add_argument("--preset", default="cpu", help="pre-training scale: paper, cpu or smoke")
    g.add_argument("--seeds", type=int, nargs="+", default=[0], help="pre-training seeds (one checkpoint each)")
    g.add_argument(
        "--tasks", type=int, nargs="+", default=None, help="task ids of the suite (default: all: 1-5 for ogbench)"
    )
    g.add_argument(
        "--suite",
        default="ogbench",
        help="task suite: ogbench (the 5 evaluation tasks) or heldout-SEED (pairs that are not OGBench's)",
    )
    g.add_argument("--heldout-size", type=int, default=10, help="tasks of a held-out suite (default: 10)")
    g.add_argument(
        "--episodes-per-task", type=int, default=None, help="episodes per task and arm (default: 2; smoke: 1)"
    )
    g.add_argument("--eval-seed", type=int, default=0, help="seed of the evaluation episodes")
    g.add_argument("--pretrain-steps", type=int, default=None, help="pre-training updates (default: preset's)")
    g.add_argument(
        "--checkpoints",
        choices=["final", "kept"],
        default="final",
        help="evaluate each run's final checkpoint, or every checkpoint the preset keeps (cpu: 16k, 18k, 20k "
        "updates; the authors' 800k/900k/1M average, SPEC §3) (default: final)",
    )
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
    r.add_argument("--pretrain-device", default="auto", help="device for missing pre-training runs: auto, cpu, cuda")
    r.add_argument(
        "--compile",
        choices=["auto", "on", "off"],
        default="auto",
        help="fine-tuning updates through torch.compile: on, off, or auto = the device's default (a CUDA graph "
        "on CUDA; eager on CPUs, where compiling was measured to gain nothing) (default: auto)",
    )
    r.add_argument(
        "--no-distance-cache",
        action="store_true",
        help="compute goal distances in every trial instead of sharing them (OUT/cache/distances)",
    )
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
    o.add_argument(
        "--published",
        default=None,
        metavar="STUDY_DIR",
        help="a study of the results store, e.g. results/table1-cpu: play only the episodes it lacks (its rows are "
        "copied into this sweep); checkpoints re-created here must match its weights fingerprints, else refused",
    )
    o.add_argument(
        "--record-trajectories",
        action=argparse.BooleanOptionalAction,
        default=None if trajectories else False,
        help="store each episode's x-y path and selected data segments beside its rows (SWEEP/trajectories/) and "
        "log a maze picture per trial to MLflow; rows are identical either way "
        f"(default: {'on for maze datasets' if trajectories else 'off'})",
    )
    k = parser.add_argument_group("selection and fine-tuning knobs (every arm; strategies read what they need)")
    k.add_argument("--eps", type=float, default=None, help="relevance radius (default: 1)")
    k.add_argument("--min-steps", type=int, default=None, help="minimum segment of the critic strategies (default: 10)")
    k.add_argument("--top-k", type=int, default=None, help="episodes kept by critic selection (default: 10)")
    k.add_argument("--slack", type=int, default=None, help="steps after critic-free segments (default: 10)")
    k.add_argument("--random-size", type=int, default=None, help="transitions of the random control (default: 10000)")
    k.add_argument(
        "--distance-discount",
        type=distance_discount_flag,
        default=None,
        help="goal-distance gamma: a number, or 'backbone' for the backbone's own (default: 0.99, the authors')",
    )
    k.add_argument("--finetune-batch", type=int, default=None, help="fine-tuning batch size (default: the backbone's)")
    parser.add_argument("--config", default=None, help="JSON file of flag values (keys as the long flags)")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more console output: -v adds Ray Tune's status table, each trial's episode bar and Ray's INFO lines "
        "(default: one progress bar for the sweep, then the results table)",
    )


def _check_config_value(path: Path, key: str, value: Any, action: argparse.Action) -> None:
    """A --config value must have the shape and type its flag takes (one line naming the key)."""
    many = action.nargs in ("+", "*") or isinstance(action.nargs, int)
    flag = "--" + key.replace("_", "-")
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction)):
        if not isinstance(value, bool):
            raise UsageError(f"--config {path}: {key!r} must be true or false (got {value!r})")
        return
    values = value if many else [value]
    if many and not isinstance(value, list):
        raise UsageError(f"--config {path}: {key!r} must be a list, like {flag} takes several values (got {value!r})")
    if not many and isinstance(value, (list, dict)):
        raise UsageError(f"--config {path}: {key!r} takes one value, not {type(value).__name__} {value!r}")
    if action.nargs == "+" and not values:
        raise UsageError(f"--config {path}: {key!r} needs at least one value")
    kind = action.type
    for v in values:
        if v is None:
            continue
        if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise UsageError(f"--config {path}: {key!r} takes integers (got {v!r})")
        if kind is float and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise UsageError(f"--config {path}: {key!r} takes numbers (got {v!r})")
        if kind in (None, str) and not isinstance(v, str):
            raise UsageError(f"--config {path}: {key!r} takes text (got {v!r})")
        if action.choices is not None and v not in action.choices:
            raise UsageError(f"--config {path}: {key!r} must be one of {list(action.choices)} (got {v!r})")


def apply_config_file(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse flags; values from --config FILE act as defaults that explicit flags override."""
    args = parser.parse_args(argv)
    if not args.config:
        return args
    path = Path(args.config)
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"--config {path}: cannot read it as JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise UsageError(f"--config {path}: expected a JSON object of flag values, got a {type(values).__name__}")
    actions = {a.dest: a for a in parser._actions}
    cleaned = {}
    for key, value in values.items():
        dest = key.lstrip("-").replace("-", "_")
        if dest not in actions or dest in ("help", "config"):
            raise UsageError(f'--config {path}: unknown key {key!r}; keys are the long flags, e.g. "seeds"')
        action = actions[dest]
        if action.type is not None and action.type not in (int, float, str):
            value = [action.type(v) for v in value] if isinstance(value, list) else action.type(value)
        else:
            _check_config_value(path, key, value, action)
        cleaned[dest] = value
    parser.set_defaults(**cleaned)
    return parser.parse_args(argv)


def check_device(device: str, flag: str) -> None:
    """Refuse, before anything starts, a device that is not one or that this machine lacks."""
    from gcttt.provenance import resolve_device

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


def build_settings(args: argparse.Namespace, kind: str, grid_key: dict[str, Any]) -> SweepSettings:
    """Validate the common flags and resolve defaults (nothing is created here)."""
    from gcttt.agents import get_backbone
    from gcttt.data.access import resolve_data_dir
    from gcttt.fileio import check_writable_dir
    from gcttt.selection import SelectionConfig
    from gcttt.tasks import parse_suite
    from sweeps.tracking import check_reachable, check_sqlite_free, check_tracking_uri, sqlite_uri

    info = dataset_info(args.dataset)
    preset = get_preset(args.preset)
    get_backbone(args.backbone)
    parse_suite(args.suite)
    if args.heldout_size < 1:
        raise UsageError(f"--heldout-size must be at least 1 (got {args.heldout_size})")
    tasks = args.tasks
    if tasks is not None:
        bad = [t for t in tasks if t < 1 or (args.suite == "ogbench" and t > 5)]
        if bad or not tasks:
            limit = 5 if args.suite == "ogbench" else args.heldout_size
            raise UsageError(f"--tasks must be ids in 1-{limit} (got {tasks})")
        if args.suite != "ogbench" and max(tasks) > args.heldout_size:
            raise UsageError(f"--tasks {tasks} reach past the held-out suite's {args.heldout_size} tasks")
    else:
        tasks = list(range(1, (5 if args.suite == "ogbench" else args.heldout_size) + 1))
    if not args.seeds:
        raise UsageError("--seeds needs at least one seed")
    if len(set(args.seeds)) != len(args.seeds):
        raise UsageError(f"--seeds has repeated values ({args.seeds})")
    check_seeds(args.seeds, args.eval_seed)
    episodes = args.episodes_per_task
    if episodes is None:
        episodes = 1 if preset.name == "smoke" else 2
    if episodes < 1:
        raise UsageError(f"--episodes-per-task must be at least 1 (got {episodes})")
    for flag in ("workers", "max_concurrent_trials", "pretrain_steps", "min_steps", "top_k", "random_size"):
        value = getattr(args, flag, None)
        minimum = 0 if flag == "min_steps" else 1
        if value is not None and value < minimum:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least {minimum} (got {value})")
    if args.cpus_per_worker is not None and args.cpus_per_worker <= 0:
        raise UsageError(f"--cpus-per-worker must be positive (got {args.cpus_per_worker})")
    if args.trial_cpus <= 0:
        raise UsageError(f"--trial-cpus must be positive (got {args.trial_cpus})")
    gpus = args.gpus_per_worker
    if gpus is not None and not 0 <= gpus <= 1:
        raise UsageError(f"--gpus-per-worker must lie in [0, 1] (got {gpus})")
    check_device(args.pretrain_device, "--pretrain-device")
    knobs = {
        k: getattr(args, k)
        for k in ("eps", "min_steps", "top_k", "slack", "random_size", "finetune_batch")
        if getattr(args, k) is not None
    }
    if args.distance_discount is not None:
        knobs["distance_discount"] = args.distance_discount  # -1: the backbone's own
    if knobs.get("finetune_batch") is not None and knobs["finetune_batch"] < 1:
        raise UsageError(f"--finetune-batch must be at least 1 (got {knobs['finetune_batch']})")
    # Selection knobs are validated by building one config from them.
    check = {k: v for k, v in knobs.items() if k != "finetune_batch"}
    if check.get("distance_discount") == -1.0:
        check["distance_discount"] = None
    SelectionConfig(**check)
    record_trajectories = getattr(args, "record_trajectories", False)
    if record_trajectories is None:  # the demo's default: wherever there is an x-y path to draw
        record_trajectories = info.is_maze
    elif record_trajectories and not info.is_maze:
        raise UsageError(f"--record-trajectories records x-y paths of maze datasets only, not {info.dataset}")
    out = check_writable_dir(args.out, "--out")
    if args.data_dir:
        data_dir = check_writable_dir(args.data_dir, "--data-dir")
    elif preset.name == "smoke":
        data_dir = out / "data-smoke"
    else:
        data_dir = check_writable_dir(resolve_data_dir(None), "data directory")
    checkpoint_steps: tuple[int, ...] = ()
    if getattr(args, "checkpoints", "final") == "kept":
        if args.pretrain_steps is not None:
            raise UsageError("--checkpoints kept evaluates the preset's kept steps; drop --pretrain-steps")
        checkpoint_steps = tuple(preset.checkpoint_steps)
    published = None
    if getattr(args, "published", None):
        study = Path(args.published).expanduser().resolve()
        if not (study / "rows").is_dir():
            raise UsageError(f"--published {args.published}: not a study of the results store (no rows/ folder)")
        published = str(study)
    uri = check_tracking_uri(args.mlflow_uri) if args.mlflow_uri else sqlite_uri(out / "mlflow.db")
    check_reachable(uri)
    check_sqlite_free(uri)  # another process's lock: a bounded wait, then one line
    key = {
        "dataset": info.dataset,
        "backbone": args.backbone,
        "preset": preset.name,
        "seeds": list(args.seeds),
        "tasks": list(tasks),
        "suite": args.suite,
        "episodes": episodes,
        "eval_seed": args.eval_seed,
        "knobs": knobs,
        **grid_key,
    }
    if checkpoint_steps:  # absent otherwise, so that earlier sweeps keep their names
        key["checkpoint_steps"] = list(checkpoint_steps)
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    name = args.name or f"{kind}-{info.dataset.removesuffix('-v0')}-{args.backbone}-{preset.name}-{digest}"
    if not name or "/" in name or name.startswith("."):
        raise UsageError(f"--name {name!r}: give a plain folder name (no '/', not starting with '.')")
    return SweepSettings(
        kind=kind,
        name=name,
        dataset=info.dataset,
        backbone=args.backbone,
        preset=preset.name,
        tasks=tuple(tasks),
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
        suite=args.suite,
        heldout_size=args.heldout_size,
        distance_cache=not args.no_distance_cache,
        compile=args.compile,
        checkpoint_steps=checkpoint_steps,
        published=published,
        knobs=knobs,
        extra=grid_key,
        verbose=args.verbose,
        record_trajectories=record_trajectories,
    )


def fail(prog: str, exc: GctttError) -> int:
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return exc.exit_code


def elapsed(start: float) -> str:
    minutes, seconds = divmod(time.perf_counter() - start, 60)
    return f"{int(minutes)} min {seconds:.0f} s"


def arms_summary(arms: list[Arm]) -> str:
    return ", ".join(a.name for a in arms[:6]) + (f", ... ({len(arms)} arms)" if len(arms) > 6 else "")
