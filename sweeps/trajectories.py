"""A trial's trajectories: its side file beside its Parquet rows, and its maze picture in MLflow.

Called by `sweeps.trial.run_trial` when the sweep records trajectories (``--record-trajectories``).
The side file goes to ``SWEEP/trajectories/ARM/`` (named after the trial's Parquet part file) and to
the trial's MLflow run under ``trajectories/``; the picture (gcttt/figures/episode_pictures.py: a panel
per episode, the pre-trained path of the same seed where its trial already ran) to
``SWEEP/pictures/ARM.png`` and to the run as ``pictures/picture.png`` (one name in every trial, so
that MLflow's compare view sets the pictures side by side), so ``mlflow ui`` shows it beside the
metrics. A picture that cannot be drawn is reported as a warning and a run tag, never a failed
trial: the side file holds everything needed to draw it again (analysis/plot_episodes.py).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import tracking
from gcttt.files.fileio import atomic_write
from gcttt.results.trajectories import (
    EpisodeTrajectory,
    read_trajectories,
    side_file_name,
    side_meta,
    trajectory_files,
    write_trajectories,
)
from sweeps.arms import Arm, baseline_arms
from sweeps.common import Sweep
from sweeps.mlflow_view import PICTURE, TRAJECTORIES

ARTIFACT_DIR = "trajectories"
PICTURE_DIR = "pictures"


def clear(sweep: Sweep, arm: Arm) -> None:
    """Remove what an earlier, unfinished attempt of `arm` left (as the trial does with its rows)."""
    shutil.rmtree(sweep.trajectories_dir / arm.name, ignore_errors=True)
    (sweep.sweep_dir / PICTURE_DIR / f"{arm.name}.png").unlink(missing_ok=True)


def _baselines(sweep: Sweep, arm: Arm) -> dict[tuple[int, int], EpisodeTrajectory]:
    """The pre-trained policy's recorded episodes of the same seed, width and suite (if already run)."""
    if arm.method == "baseline":
        return {}
    base = baseline_arms([arm.seed], [arm.width], suite=arm.suite)[0]
    out = {}
    folder = sweep.trajectories_dir / base.name
    for path in trajectory_files(folder) if folder.is_dir() else []:
        for episode in read_trajectories(path).episodes:
            out[(episode.task_id, episode.episode_index)] = episode
    return out


def save_trial(sweep: Sweep, arm: Arm, results: list, parquet: Path, run_id: str, dataset_ref: Any) -> dict[str, float]:
    """Write and log the side file of `results` (PoolResults with trajectories), then the picture.
    Returns metrics: side-file bytes, seconds for the file and for the picture; none when the trial
    played no episode (a `--published` study held them all: their paths were never recorded here)."""
    if not results:
        return {}
    import ray

    started = time.perf_counter()
    first = results[0].record
    meta = side_meta(first, sweep.name, arm.name, parquet)
    path = sweep.trajectories_dir / arm.name / side_file_name(parquet)
    write_trajectories(path, [r.trajectory for r in results], meta)
    tracking.log_artifact(sweep.outputs.mlflow_uri, run_id, path, artifact_path=ARTIFACT_DIR, name=TRAJECTORIES)
    written = time.perf_counter()
    metrics = {"trajectory_bytes": float(path.stat().st_size), "trajectory_seconds": written - started}
    try:
        from gcttt.figures.episode_pictures import maze_layout, trial_figure

        positions = ray.get(dataset_ref).observations[:, :2]
        rows = [r.record.to_row() for r in results]
        fig, _ = trial_figure(
            maze_layout(first.dataset), rows, [r.trajectory for r in results], positions, _baselines(sweep, arm)
        )
        picture = _save_png(fig, sweep.sweep_dir / PICTURE_DIR, arm.name)
        tracking.log_artifact(sweep.outputs.mlflow_uri, run_id, picture, artifact_path=PICTURE_DIR, name=PICTURE)
    except Exception as exc:  # a picture must never cost the trial its results
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        print(f"warning: no picture for {arm.name} ({message})", file=sys.stderr)
        tracking.set_tags(sweep.outputs.mlflow_uri, run_id, {"gcttt.picture_error": message[:500]})
    metrics["picture_seconds"] = time.perf_counter() - written
    return metrics


def _save_png(fig, directory: Path, stem: str) -> Path:
    """The picture as PNG only (what MLflow's UI shows); plot_episodes.py writes the PDFs."""
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.png"
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return path
