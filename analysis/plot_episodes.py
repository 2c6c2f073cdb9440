"""Maze pictures of recorded episodes: which data each re-plan selected, and where the agent went.

For a sweep recorded with ``--record-trajectories`` (the demo's default), one grid figure: a
column per task, a row per arm (the pre-trained policy, then the selections that ran: critic,
critic-free, random, and the other controls with ``--arms all``), the same pre-training seed and
episode seed in every panel. Each panel draws the maze from the env's own layout, start and
goal, the arm's path (black) and the pre-trained path on the same task and seed (dashed grey),
and per re-plan the selected dataset segments in one colour, the agent's position there marked
in that colour (gcttt/figures/episode_pictures.py).

    python analysis/plot_episodes.py ~/gcttt-results/sweeps/NAME --out results/figures
    python analysis/plot_episodes.py --mlflow-experiment gcttt-horizon --mlflow-uri sqlite:////abs/mlflow.db \\
        --sweep-id NAME --data-dir ~/.ogbench/data

Writes OUT/episodes-DATASET.{png,pdf,csv} (the CSV: one line per panel). Segments are row
ranges of the training file, so the file is read (--data-dir, else the sweep's own data
directory from its sweep.json, else $GCTTT_DATA_DIR or ~/.ogbench/data) and its fingerprint
checked against the records'.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.results import DEFAULT_RESULTS, Source, load, run_main, single
from gcttt.commands.flags import parse
from gcttt.errors import UsageError
from gcttt.results.trajectories import KEY_COLUMNS, SIDE_DIR, EpisodeTrajectory, read_trajectories, trajectory_files

PROG = "plot_episodes.py"
REQUIRED = (
    *KEY_COLUMNS,
    "dataset",
    "dataset_source",
    "dataset_fingerprint",
    "backbone",
    "preset",
    "width",
    "pretrain_seed",
    "method",
    "selection",
    "schedule",
    "horizon",
    "grad_steps",
    "lr",
    "success",
    "episode_steps",
    "replans",
)
DEFAULT_ARMS = ("critic", "critic-free", "random")
"""Selections drawn after the pre-trained row unless --arms says otherwise (those that exist)."""
ORDER = ("critic", "critic-quantile", "critic-free", "random", "no-relevance", "no-optimality", "full-dataset")
NO_TRAJECTORIES = (
    "no trajectories recorded ({where}); run the sweep again with --record-trajectories "
    "(horizon_sweep.py records them by default, compute_sweep.py and reproduce.py only with the flag; "
    "gcttt evaluate --record-trajectories for single evaluations)"
)


@dataclass(frozen=True)
class PlotEpisodesConfig(Source):
    """Maze pictures of a sweep's recorded episodes: per task and arm the path, the pre-trained path, and each
    re-plan's selected data. Needs trajectories (--record-trajectories)."""

    arms: tuple[str, ...] | None = None
    """Selections to draw after the pre-trained row, or 'all' [default: critic critic-free random, those the sweep
    ran]."""
    episode_index: int = 0
    """Episode of each task to draw."""
    pretrain_seed: int | None = None
    """Pre-training seed [default: the smallest]."""
    tasks: tuple[int, ...] | None = None
    """Task ids [default: all recorded]."""
    K: int | None = None
    """Pin the re-plan horizon of the GC-TTT rows."""
    N: int | None = None
    """Pin the gradient steps of the GC-TTT rows."""
    lr: float | None = None
    """Pin the learning rate of the GC-TTT rows."""
    data_dir: str | None = None
    """Directory of the training file whose rows the segments index [default: the sweep's own, from its
    sweep.json; else $GCTTT_DATA_DIR or ~/.ogbench/data]."""


# --- inputs ----------------------------------------------------------------------------------


def read_side_files(root: Path, where: str) -> dict[tuple, EpisodeTrajectory]:
    """Every recorded episode under `root`, keyed by `KEY_COLUMNS`."""
    files = trajectory_files(root)
    if not files:
        raise UsageError(NO_TRAJECTORIES.format(where=f"no {SIDE_DIR}/*.npz under {where}"))
    out: dict[tuple, EpisodeTrajectory] = {}
    for path in files:
        side = read_trajectories(path)
        for episode in side.episodes:
            key = (side.meta.get("sweep_id", ""), side.meta.get("trial_id", ""), episode.task_suite)
            out[(*key, episode.task_id, episode.episode_index)] = episode
    return out


def download_side_files(uri: str, experiment: str, destination: Path) -> None:
    """The 'trajectories/' artifacts of every run of `experiment` into destination/RUN_ID/trajectories/."""
    import mlflow.artifacts
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        for run in client.search_runs([found.experiment_id], max_results=5000):
            if client.list_artifacts(run.info.run_id, SIDE_DIR):
                mlflow.artifacts.download_artifacts(
                    run_id=run.info.run_id,
                    artifact_path=SIDE_DIR,
                    dst_path=str(destination / run.info.run_id),
                    tracking_uri=uri,
                )
    except Exception as exc:  # MLflow raises many types (connection, REST, SQL)
        raise UsageError(f"cannot read MLflow experiment {experiment!r} at {uri}: {str(exc).splitlines()[0]}") from None


def load_inputs(args: PlotEpisodesConfig) -> tuple[pd.DataFrame, dict[tuple, EpisodeTrajectory]]:
    rows = load(args, REQUIRED)
    if args.mlflow_experiment:
        with tempfile.TemporaryDirectory(prefix="gcttt-mlflow-") as tmp:
            download_side_files(args.tracking_uri(), args.mlflow_experiment, Path(tmp))
            side = read_side_files(Path(tmp), f"MLflow experiment {args.mlflow_experiment!r}")
    else:
        root = Path(args.results or DEFAULT_RESULTS).expanduser()
        side = read_side_files(root, str(root))
    return rows, side


def data_dir_for(args: PlotEpisodesConfig, sweep_ids: list[str]) -> Path:
    """--data-dir, else the data directory in the sweep's sweep.json, else the default one."""
    from gcttt.data.access import resolve_data_dir

    if args.data_dir:
        return Path(args.data_dir).expanduser()
    if not args.mlflow_experiment:
        root = Path(args.results or DEFAULT_RESULTS).expanduser()
        for manifest in [root / "sweep.json", *(root / s / "sweep.json" for s in sweep_ids)]:
            try:
                return Path(json.loads(manifest.read_text())["settings"]["data_dir"])
            except (OSError, ValueError, KeyError):
                continue
    return resolve_data_dir(None)


def training_positions(data_dir: Path, dataset: str, fingerprint: str) -> np.ndarray:
    """[rows, 2] x-y of the training file the records were made with (checked by fingerprint)."""
    from gcttt.data.files import read_dataset_file, split_paths
    from gcttt.data.provenance import fingerprint as file_fingerprint

    train, _ = split_paths(data_dir, dataset)
    if not train.exists():
        raise UsageError(
            f"{train} does not exist: the segments index the training file's rows; pass --data-dir with the "
            "directory the sweep used (the smoke preset's is OUT/data-smoke)"
        )
    found = file_fingerprint(train)
    if fingerprint and found != fingerprint:
        raise UsageError(
            f"{train} has fingerprint {found}, the records were made with {fingerprint}; pass --data-dir with "
            "the file the sweep used"
        )
    return np.ascontiguousarray(read_dataset_file(train).observations[:, :2])


# --- choosing the panels ---------------------------------------------------------------------


def chosen_config(ttt: pd.DataFrame, args: PlotEpisodesConfig) -> pd.DataFrame:
    """GC-TTT rows of one (K, N, lr) per selection: pinned by --K/--N/--lr, else the (N, lr) and K
    shared by the most selections (a sweep's ablation point)."""
    for column, value in (("horizon", args.K), ("grad_steps", args.N), ("lr", args.lr)):
        if value is not None:
            kept = ttt[np.isclose(ttt[column], value)] if column == "lr" else ttt[ttt[column] == value]
            if kept.empty:
                found = ", ".join(sorted(map(str, ttt[column].unique())))
                raise UsageError(f"no recorded GC-TTT rows with {column} {value}; the records hold: {found}")
            ttt = kept
    if ttt.empty:
        return ttt
    by_nlr = ttt.groupby(["grad_steps", "lr"])["selection"].nunique().sort_index(ascending=[False, True])
    n, lr = by_nlr.idxmax()
    ttt = ttt[(ttt["grad_steps"] == n) & (ttt["lr"] == lr)]
    receding = ttt[ttt["horizon"] > 0]
    if not receding.empty:
        by_k = receding.groupby("horizon")["selection"].nunique().sort_index(ascending=False)
        k = by_k.idxmax()
        ttt = ttt[(ttt["horizon"] == k) | (ttt["horizon"] == 0)]
    # One configuration per selection (several q: the smallest).
    return ttt[ttt["q"] == ttt.groupby("selection")["q"].transform("min")]


def choose_rows(rows: pd.DataFrame, side: dict[tuple, EpisodeTrajectory], args: PlotEpisodesConfig) -> pd.DataFrame:
    keys = [tuple(r) for r in rows[list(KEY_COLUMNS)].itertuples(index=False, name=None)]
    rows = rows.assign(trajectory_key=keys)
    recorded = rows[[k in side for k in keys]]
    if recorded.empty:
        raise UsageError(NO_TRAJECTORIES.format(where="the side files match none of the Parquet rows"))
    dataset = single(recorded, "dataset", "--dataset")
    from gcttt.envs import dataset_info

    if not dataset_info(dataset).is_maze:
        raise UsageError(f"episode pictures are drawn for maze datasets only, not {dataset}")
    single(recorded, "backbone", "--backbone")
    sweeps = sorted(recorded["sweep_id"].unique())
    if len(sweeps) > 1 and not args.sweep_id:
        raise UsageError(f"the records hold {len(sweeps)} sweeps ({', '.join(sweeps)}); pick one with --sweep-id")
    seed = args.pretrain_seed if args.pretrain_seed is not None else int(recorded["pretrain_seed"].min())
    recorded = recorded[(recorded["pretrain_seed"] == seed) & (recorded["episode_index"] == args.episode_index)]
    if recorded.empty:
        raise UsageError(f"no recorded episodes with pre-training seed {seed} and episode index {args.episode_index}")
    if args.tasks:
        recorded = recorded[recorded["task_id"].isin(args.tasks)]
        if recorded.empty:
            raise UsageError(f"no recorded episodes of tasks {args.tasks}")
    width = int(recorded[recorded["method"] == "gcttt"]["width"].min()) if (recorded["method"] == "gcttt").any() else 0
    if width:
        recorded = recorded[recorded["width"] == width]
    ttt = recorded[recorded["method"] == "gcttt"]
    ran = set(ttt["selection"])
    wanted = sorted(ran, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
    if args.arms and args.arms != ("all",):
        missing = sorted(set(args.arms) - ran)
        if missing:
            raise UsageError(f"no recorded GC-TTT rows of {missing}; recorded: {', '.join(wanted) or 'none'}")
        wanted = [s for s in wanted if s in args.arms]
    elif not args.arms:
        wanted = [s for s in wanted if s in DEFAULT_ARMS] or wanted
    ttt = chosen_config(ttt[ttt["selection"].isin(wanted)], args)
    ttt = ttt.assign(_rank=ttt["selection"].map(wanted.index)).sort_values(["_rank", "task_id"]).drop(columns="_rank")
    baseline = recorded[recorded["method"] == "baseline"].sort_values("task_id")
    return pd.concat([baseline, ttt], ignore_index=True)


# --- the figure ------------------------------------------------------------------------------


def caption_text(chosen: pd.DataFrame) -> str:
    from analysis.summary import backbone_label, data_text
    from gcttt.figures.episode_pictures import arm_label, knobs_text

    first = chosen.iloc[0]
    arms = []
    for label, group in chosen.groupby(chosen.apply(lambda r: arm_label(r.to_dict()), axis=1), sort=False):
        knobs = knobs_text(group.iloc[0].to_dict())
        arms.append(f"{label}{f' [{knobs}]' if knobs else ''}: {int(group['success'].sum())}/{len(group)} succeed")
    return (
        f"{first['dataset']}, {backbone_label(first['backbone'])} ({first['preset']} preset, width "
        f"{int(first['width'])}), pre-training seed {int(first['pretrain_seed'])}, episode "
        f"{int(first['episode_index'])} of each task (the same episode seed in every row); sweep "
        f"{first['sweep_id']}. Black: the row's path; dashed grey: the pre-trained policy's path on the same task "
        "and seed; coloured lines: the dataset segments each re-plan selected (one colour per re-plan, dots at "
        "their end points), the circle of that colour: where the agent was when it re-planned. "
        + "; ".join(arms)
        + f". {data_text(chosen)}"
    )


def grid_figure(chosen: pd.DataFrame, side: dict, positions: np.ndarray, out: str) -> list[Path]:
    from analysis.summary import save
    from gcttt.figures.episode_pictures import PanelSpec, arm_label, episodes_figure, maze_layout

    dataset = str(chosen["dataset"].iloc[0])
    layout = maze_layout(dataset)
    tasks = sorted(int(t) for t in chosen["task_id"].unique())
    base = chosen[chosen["method"] == "baseline"]
    baseline = {int(t): side[k] for t, k in zip(base["task_id"], base["trajectory_key"], strict=True)}
    labels = chosen.apply(lambda r: arm_label(r.to_dict()), axis=1)
    order = list(dict.fromkeys(labels))
    grid, panels = [], []
    for label in order:
        arm = chosen[labels == label]
        row = []
        for task in tasks:
            found = arm[arm["task_id"] == task]
            if found.empty:
                row.append(None)
                continue
            record = found.iloc[0].to_dict()
            compare = baseline.get(task) if record["method"] != "baseline" else None
            row.append(PanelSpec(side[record["trajectory_key"]], record, compare))
            trajectory = side[record["trajectory_key"]]
            panels.append(
                {
                    "arm": label,
                    "task_id": task,
                    "success": bool(record["success"]),
                    "episode_steps": int(record["episode_steps"]),
                    "replans": len(trajectory.replans),
                    "segments": sum(len(r.segments) for r in trajectory.replans),
                    "final_x": float(trajectory.path[-1, 0]),
                    "final_y": float(trajectory.path[-1, 1]),
                }
            )
        grid.append(row)
    fig, _ = episodes_figure(layout, grid, order, None, positions, caption_text(chosen))
    paths = save(fig, out, f"episodes-{dataset.removesuffix('-v0')}")
    csv = paths[0].with_suffix(".csv")
    pd.DataFrame(panels).to_csv(csv, index=False)
    return [*paths, csv]


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(PlotEpisodesConfig, argv, PROG, __doc__)
        rows, side = load_inputs(args)
        chosen = choose_rows(rows, side, args)
        data_dir = data_dir_for(args, sorted(chosen["sweep_id"].unique()))
        first = chosen.iloc[0]
        positions = training_positions(data_dir, str(first["dataset"]), str(first["dataset_fingerprint"]))
        for path in grid_figure(chosen, side, positions, args.out):
            print(f"wrote {path}")
        return 0

    return run_main(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
