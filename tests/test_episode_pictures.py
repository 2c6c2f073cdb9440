"""Recorded trajectories and the maze pictures drawn from them (gcttt.results.trajectories, plot_episodes.py)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gcttt.results.trajectories import (
    EpisodeTrajectory,
    Replan,
    TrajectoryRecorder,
    read_trajectories,
    segments_of,
    trajectory_files,
    transitions_of,
    write_trajectories,
)

ROOT = Path(__file__).resolve().parent.parent
MAZE = "pointmaze-medium-navigate-v0"
TIMING = {"wall_seconds", "act_seconds", "selection_seconds", "finetune_seconds"}


@pytest.fixture(scope="module")
def runner(smoke_checkpoint, maze_train):
    from gcttt.control.runner import EpisodeRunner

    return EpisodeRunner(smoke_checkpoint, maze_train)


def _reset(env, options, seed):
    """The episode's reset, seeded as `gcttt.control.episode.play_episode` seeds it."""
    from gcttt.control.episode import seedable_action_space

    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        seedable_action_space(env).seed(seed)
        return env.reset(seed=seed, options=options)
    finally:
        np.random.set_state(saved)


@pytest.mark.parametrize("method", ["baseline", "gcttt"])
def test_a_recorded_path_starts_at_the_reset_and_ends_where_the_record_says(runner, method):
    from gcttt.control.runner import EpisodeSpec
    from gcttt.control.ttt import TTTConfig
    from gcttt.selection import SelectionConfig

    ttt = TTTConfig(horizon=300, steps=2, selection=SelectionConfig("critic", eps=3.0))
    spec = EpisodeSpec(task_id=2, method=method, ttt=ttt)
    record, trajectory = runner.run_traced(spec)
    plain = runner.run(spec)
    same = {k: v for k, v in record.to_row().items() if k not in TIMING}
    assert same == {k: v for k, v in plain.to_row().items() if k not in TIMING}  # recording changes nothing

    assert trajectory.steps == record.episode_steps and trajectory.path.shape == (record.episode_steps + 1, 2)
    observation, info = _reset(runner.env, {"task_id": 2}, record.seed)
    np.testing.assert_allclose(trajectory.path[0], observation[:2], rtol=0, atol=1e-6)
    np.testing.assert_allclose(trajectory.goal, info["goal"][:2], rtol=0, atol=1e-6)
    maze = runner.env.unwrapped
    reached = np.linalg.norm(trajectory.path[-1] - maze.cur_goal_xy) <= maze._goal_tol  # the env's success test
    assert bool(reached) == record.success
    assert (trajectory.task_suite, trajectory.task_id, trajectory.seed) == ("ogbench", 2, record.seed)
    if method == "baseline":
        assert trajectory.replans == ()
        return
    assert [r.step for r in trajectory.replans] == list(range(0, record.episode_steps, 300))
    assert [r.selected for r in trajectory.replans] == record.selected_per_replan
    for replan in trajectory.replans:
        np.testing.assert_array_equal(replan.position, trajectory.path[replan.step])


def _value(obs: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
    """A stand-in V(s, g): minus 10 steps per unit of x-y distance."""
    return -10.0 * torch.linalg.norm(obs[:, :2] - goals[:, :2], dim=1)


@pytest.mark.parametrize("strategy", ["critic", "critic-free", "random", "no-optimality", "no-relevance"])
def test_the_segments_recorded_and_drawn_are_the_ones_the_selector_returned(maze_train, strategy):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gcttt.data.transitions import TransitionData
    from gcttt.figures.episode_pictures import draw_episode, maze_layout
    from gcttt.selection import SelectionConfig, Selector

    data = TransitionData.from_offline(maze_train)
    config = SelectionConfig(strategy, eps=2.0, top_k=3, random_size=50, q=1.0)
    selector = Selector(config, data, (0, 1), _value, 0.99, torch.Generator().manual_seed(0))
    recorder = TrajectoryRecorder(data.rows, data.episode)
    watched = recorder.selector(selector)
    state, goal = data.observations[10], data.observations[90]
    recorder.began(goal.numpy())
    watched.begin_episode(goal)
    selections = []
    for step, row in enumerate((10, 150, 250)):  # three re-plans from three dataset states
        recorder.acting(data.observations[row].numpy(), step * 100)
        selections.append(watched.select(data.observations[row]))
    trajectory = recorder.finish(state[:2].numpy(), "ogbench", 1, 0, 0)

    positions = maze_train.observations[:, :2]
    fig, ax = plt.subplots()
    drawn = draw_episode(ax, maze_layout(MAZE), trajectory, positions)
    plt.close(fig)
    assert len(drawn["segments"]) == len(trajectory.replans) == 3
    assert sum(len(r.segments) for r in trajectory.replans) > 0  # something was selected
    for selection, replan, lines in zip(selections, trajectory.replans, drawn["segments"], strict=True):
        expected = np.unique(selection.indices.numpy())
        np.testing.assert_array_equal(transitions_of(replan.segments), expected)
        assert replan.selected == selection.size
        assert len(lines) == len(replan.segments)
        for line, (episode, start, end) in zip(lines, replan.segments, strict=True):
            assert data.episode[start - episode] == episode  # row r of episode e is transition r - e
            np.testing.assert_array_equal(line, positions[start : end + 1])
        if strategy in ("critic", "no-optimality", "no-relevance") and len(replan.segments):
            assert len(replan.segments) == selection.episodes  # one segment per selected dataset episode


def test_segments_merge_runs_and_split_at_episode_borders():
    rows = torch.tensor([0, 1, 2, 4, 5, 6])  # two episodes of 3 transitions (row 3: the first's last state)
    episode = torch.tensor([0, 0, 0, 1, 1, 1])
    segments = segments_of(torch.tensor([5, 0, 1, 1, 3, 4]), rows, episode)
    assert segments.tolist() == [[0, 0, 2], [1, 4, 7]]
    assert sorted(transitions_of(segments).tolist()) == [0, 1, 3, 4, 5]


def _episode(rng, steps: int, replans: int) -> EpisodeTrajectory:
    plans = tuple(
        Replan(100 * i, rng.normal(size=2).astype(np.float32), np.array([[i, 10 * i, 10 * i + 5]]), 5)
        for i in range(replans)
    )
    return EpisodeTrajectory("ogbench", 3, 1, 77, rng.normal(size=(steps + 1, 2)).astype(np.float32), np.ones(2), plans)


def test_side_files_round_trip_and_refuse_damage_in_one_line(tmp_path):
    from gcttt.errors import UsageError

    rng = np.random.default_rng(0)
    episodes = [_episode(rng, 40, 2), _episode(rng, 7, 0)]
    path = write_trajectories(tmp_path / "trajectories" / "part-x.npz", episodes, {"sweep_id": "s", "trial_id": "t"})
    assert trajectory_files(tmp_path) == [path]
    side = read_trajectories(path)
    assert side.meta["sweep_id"] == "s" and side.meta["format"] == "gcttt-trajectories"
    for got, want in zip(side.episodes, episodes, strict=True):
        assert dataclasses.astuple(got)[:4] == dataclasses.astuple(want)[:4]
        np.testing.assert_array_equal(got.path, want.path)
        assert [(r.step, r.selected, r.segments.tolist()) for r in got.replans] == [
            (r.step, r.selected, r.segments.tolist()) for r in want.replans
        ]
    broken = tmp_path / "trajectories" / "part-y.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(UsageError, match=r"part-y\.npz: not a readable trajectory file"):
        read_trajectories(broken)


def test_evaluate_records_trajectories_beside_its_rows_and_they_are_drawn(smoke_checkpoint, maze_dir, tmp_path, capsys):
    from analysis import plot_episodes
    from gcttt.cli import main
    from gcttt.results.records import read_results

    out = tmp_path / "eval"
    argv = ["evaluate", "--checkpoint", str(smoke_checkpoint), "--data-dir", str(maze_dir), "--device", "cpu"]
    argv += ["--method", "gcttt", "--K", "500", "--N", "1", "--eps", "3", "--task-ids", "1", "2"]
    assert main([*argv, "--episodes-per-task", "1", "--out", str(out), "--record-trajectories"]) == 0
    rows = read_results(out)
    (side,) = trajectory_files(out)
    assert side.parent == out / "trajectories"
    episodes = read_trajectories(side).episodes
    assert [e.steps for e in episodes] == rows["episode_steps"].tolist()
    capsys.readouterr()
    figures = tmp_path / "fig"
    assert plot_episodes.main([str(out), "--data-dir", str(maze_dir), "--out", str(figures)]) == 0
    assert (figures / "episodes-pointmaze-medium-navigate.png").stat().st_size > 10_000
    assert (figures / "episodes-pointmaze-medium-navigate.pdf").exists()


def test_a_sweep_without_trajectories_names_the_flag_to_pass(smoke_checkpoint, maze_dir, tmp_path, capsys):
    from analysis import plot_episodes
    from gcttt.cli import main

    out = tmp_path / "plain"
    argv = ["evaluate", "--checkpoint", str(smoke_checkpoint), "--data-dir", str(maze_dir), "--device", "cpu"]
    assert main([*argv, "--method", "baseline", "--task-ids", "1", "--episodes-per-task", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert plot_episodes.main([str(out), "--out", str(tmp_path / "fig")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("plot_episodes.py: error: no trajectories recorded") and "\n" not in err
    assert "--record-trajectories" in err


def test_plot_episodes_on_a_smoke_sweep_and_pictures_in_mlflow(tmp_path, seed_smoke_sweep, ray_head):
    """A smoke sweep that records trajectories: side files, per-trial pictures in MLflow, the grid figure."""
    seed_smoke_sweep(tmp_path)
    argv = [sys.executable, str(ROOT / "sweeps" / "horizon_sweep.py"), "--preset", "smoke", "--tasks", "1", "2"]
    argv += ["--K", "500", "--N", "2", "--ablations", "critic-free", "random", "--random-size", "500"]
    argv += ["--out", str(tmp_path), "--name", "pics", "--ray-address", ray_head[0], "--record-trajectories"]
    env = {**os.environ, **ray_head[1], "GCTTT_OFFLINE": "1", "MPLBACKEND": "Agg"}
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    sweep = tmp_path / "sweeps" / "pics"
    arms = sorted(p.name for p in (sweep / "episodes").iterdir())
    assert len(arms) == 4 and sorted(p.parent.name for p in trajectory_files(sweep)) == arms
    assert sorted(p.stem for p in (sweep / "pictures").glob("*.png")) == arms

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "gcttt-horizon"]
    for run_info in client.search_runs([experiment.experiment_id], filter_string="tags.`gcttt.arm` != ''"):
        # One artifact name in every trial, so that MLflow's compare view lines the pictures up.
        assert [a.path for a in client.list_artifacts(run_info.info.run_id, "pictures")] == ["pictures/picture.png"]
        assert [a.path for a in client.list_artifacts(run_info.info.run_id, "trajectories")] == [
            "trajectories/trajectories.npz"
        ]
        metrics = run_info.data.metrics
        assert metrics["cost/trajectory_bytes"] > 0 and "time/picture_seconds" in metrics

    import pandas as pd

    from analysis import plot_episodes

    figures = tmp_path / "fig"
    assert plot_episodes.main([str(sweep), "--out", str(figures)]) == 0  # data dir from the sweep's sweep.json
    panels = pd.read_csv(figures / "episodes-pointmaze-medium-navigate.csv")
    assert len(panels) == 4 * 2 and panels["arm"].iloc[0] == "pre-trained"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow_args = ["--mlflow-experiment", "gcttt-horizon", "--mlflow-uri", uri]
    mlflow_args += ["--data-dir", str(tmp_path / "data-smoke")]
    assert plot_episodes.main([*mlflow_args, "--out", str(tmp_path / "fig2")]) == 0
    again = pd.read_csv(tmp_path / "fig2" / "episodes-pointmaze-medium-navigate.csv")
    pd.testing.assert_frame_equal(panels, again)


def test_video_where_rendering_works_else_one_line_and_the_trajectories(
    smoke_checkpoint, maze_dir, tmp_path, capsys, monkeypatch
):
    from gcttt.cli import main
    from gcttt.figures import video

    argv = ["evaluate", "--checkpoint", str(smoke_checkpoint), "--data-dir", str(maze_dir), "--device", "cpu"]
    argv += ["--method", "gcttt", "--K", "500", "--N", "1", "--eps", "3", "--task-ids", "1", "--episodes-per-task", "1"]
    argv += ["--video", "--video-every", "250", "--video-size", "48"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    problem = video.offscreen_problem()
    gifs = list((tmp_path / "a" / "videos").glob("*.gif"))
    if problem is None:
        (gif,) = gifs
        from PIL import Image

        assert Image.open(gif).n_frames >= 2
    else:
        assert not gifs and "no video: MuJoCo offscreen rendering failed" in capsys.readouterr().err
    assert trajectory_files(tmp_path / "a")  # trajectories either way

    capsys.readouterr()
    monkeypatch.setattr(video, "offscreen_problem", lambda: "MuJoCo offscreen rendering failed with MUJOCO_GL=x")
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "no video" in line]
    assert len(err) == 1 and "analysis/plot_episodes.py" in err[0]
    assert not (tmp_path / "b" / "videos").exists() and trajectory_files(tmp_path / "b")
