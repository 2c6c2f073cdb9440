"""The sweeps at the smoke preset: rows, MLflow runs, interruption and resume, and refused input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _runs(db: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiments = client.search_experiments()
    return [r for e in experiments for r in client.search_runs([e.experiment_id])]


def _args(ray_head, out: Path, *extra: str) -> list[str]:
    """The smoke horizon sweep of these tests: 3 arms (baseline, N = 5, N = 2400) x 2 tasks. The last
    arm takes long enough that a Ctrl-C sent once it has started always finds it playing (at N = 600
    it could end its episodes and hold all its rows before Tune stopped it)."""
    argv = ["--preset", "smoke", "--tasks", "1", "2", "--K", "200", "--N", "5", "2400"]
    return [*argv, "--out", str(out), "--name", "t", "--ray-address", ray_head[0], *extra]


def _sweep(ray_head, out: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, str(ROOT / "sweeps" / "horizon_sweep.py"), *_args(ray_head, out, *extra)]
    env = {**os.environ, **ray_head[1], "GCTTT_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _refused(argv: list[str], capsys) -> str:
    """Run the sweep's `main` in this process, where a refusal costs no start-up (every refusal comes
    before Ray is reached): its one-line message, asserting exit status 2."""
    capsys.readouterr()
    assert _main(argv) == 2
    return capsys.readouterr().err


def _wait_for_parts(proc: subprocess.Popen, episodes: Path, count: int, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and len(list(episodes.glob("*/part-*.parquet"))) < count:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0][-3000:]


def _wait_for_trials(proc: subprocess.Popen, db: Path, finished: set[str], started: str, timeout: float = 900) -> None:
    """Until every arm of `finished` has its MLflow run FINISHED (the trial reported) and `started`
    has a run (its trial is playing). Part files alone do not say a trial has reported: on a busy
    machine a trial writes its rows seconds before Tune records it as done."""
    deadline = time.time() + timeout
    episodes = db.parent / "sweeps" / "t" / "episodes"
    while time.time() < deadline and proc.poll() is None:
        # Open the store only once the sweep has written rows: by then it has created MLflow's
        # tables, and a second process creating them at the same time fails its migration.
        if db.exists() and any(episodes.glob("*/part-*.parquet")):
            try:
                status = {r.data.tags.get("gcttt.arm"): r.info.status for r in _runs(db)}
            except Exception:  # sqlite busy while the sweep writes: ask again
                status = {}
            if all(status.get(arm) == "FINISHED" for arm in finished) and started in status:
                return
        time.sleep(1.0)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    raise AssertionError(f"the sweep did not reach its last trial within {timeout:.0f} s")


ARMS = {
    "baseline-w32-s0",
    "gcttt-critic-K200-N5-lr0.0003-actor-w32-s0",
    "gcttt-critic-K200-N2400-lr0.0003-actor-w32-s0",
}
LAST = "gcttt-critic-K200-N2400-lr0.0003-actor-w32-s0"


def test_ctrl_c_in_the_last_trial_fails_loudly_and_resume_finishes_exactly_once(
    tmp_path, seed_smoke_sweep, ray_head, capsys
):
    """Also: a second driver of a running sweep is refused, and so is a new run of a finished one."""
    seed_smoke_sweep(tmp_path)
    episodes = tmp_path / "sweeps" / "t" / "episodes"
    first = _sweep(ray_head, tmp_path)
    _wait_for_parts(first, episodes, 1)
    err = _refused(_args(ray_head, tmp_path), capsys)  # a second driver, while the first one plays
    assert "sweep t is already running (pid" in err and "use --name" in err
    _wait_for_trials(first, tmp_path / "mlflow.db", ARMS - {LAST}, LAST)  # the last (slow) trial is playing
    first.send_signal(signal.SIGINT)  # like Ctrl+C: Tune saves its state and stops
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 1, out[-3000:]
    assert f"2 of 3 trials finished (interrupted; unfinished: {LAST})" in out
    assert "--resume" in out and "done in" not in out
    runs = _runs(tmp_path / "mlflow.db")
    status = {r.data.tags.get("gcttt.arm", r.data.tags.get("gcttt.role")): r.info.status for r in runs}
    assert status.get("sweep") == "KILLED" and status.get(LAST) == "KILLED", status
    assert "RUNNING" not in status.values()

    second = _sweep(ray_head, tmp_path, "--resume")
    out, _ = second.communicate(timeout=900)
    assert second.returncode == 0, out[-3000:]

    from gcttt.results.tables import read_sweep_rows

    rows = read_sweep_rows(episodes)
    assert set(rows["trial_id"]) == ARMS
    assert len(rows) == 3 * 2  # arms x tasks x 1 episode, each exactly once
    assert not rows.duplicated(["trial_id", "task_id", "episode_index"]).any()
    assert set(rows["sweep_kind"]) == {"horizon"} and set(rows["sweep_id"]) == {"t"}
    assert (rows[rows["method"] == "gcttt"]["updates"] > 0).all()
    assert set(rows["dataset_source"]) == {"generated"}

    runs = _runs(tmp_path / "mlflow.db")
    children = [r for r in runs if r.data.tags.get("gcttt.arm")]
    parents = [r for r in runs if r.data.tags.get("gcttt.role") == "sweep"]
    assert sorted(r.data.tags["gcttt.arm"] for r in children) == sorted(ARMS)
    assert len(parents) == 1
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in children + parents)
    assert all("success" in r.data.metrics and "success_ci_low" in r.data.metrics for r in children)
    assert parents[0].data.tags["gcttt.dataset_source"] == "generated"  # the trials' label
    assert parents[0].data.params["arms"] == str(len(ARMS)) and parents[0].data.tags["gcttt.best_gcttt"]
    assert all("None" not in r.data.params.values() for r in children + parents)
    assert "| baseline |" in out
    # Artifacts sit beside the database, not in the working directory; one file per arm, even for an
    # arm whose first attempt logged its rows before the interruption.
    logged = sorted(p.name for p in (tmp_path / "mlartifacts").rglob("episodes/*.parquet"))
    assert logged == ["episodes.parquet"] * len(ARMS)  # one name in every trial: MLflow's compare view

    # The lock went with the driver: a new run of the same name is refused as a finished sweep,
    # not as a running one.
    assert "already exists" in _refused(_args(ray_head, tmp_path), capsys)
    # A resume with another grid is refused, naming what differs; nothing is written.
    err = _refused(_args(ray_head, tmp_path, "--resume", "--N", "5", "7"), capsys)
    assert "--resume of t with another grid: 1 new arm(s) (gcttt-critic-K200-N7" in err
    assert f"1 missing arm(s) ({LAST})" in err
    assert len(read_sweep_rows(episodes)) == 6
    # So is a resume that would play other episodes for the same arms.
    err = _refused(_args(ray_head, tmp_path, "--resume", "--episodes-per-task", "2"), capsys)
    assert "--resume of t with other settings: --episodes-per-task was 1, now 2" in err
    assert len(read_sweep_rows(episodes)) == 6


def test_ctrl_c_while_the_sweep_pretrains_stops_at_once_and_says_how_to_go_on(tmp_path, seed_smoke_sweep, ray_head):
    seed_smoke_sweep(tmp_path)  # its dataset: the sweep's own pre-training below is not cached
    first = _sweep(ray_head, tmp_path, "--pretrain-steps", "200000", "--tasks", "1")  # a long pre-training
    deadline = time.time() + 300
    while time.time() < deadline and not list((tmp_path / "checkpoints").rglob("*-n200000-*/metrics.jsonl")):
        assert first.poll() is None, first.communicate()[0][-3000:]
        time.sleep(0.5)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=60)  # an unbounded ray.wait used to ignore Ctrl-C until the run ended
    assert first.returncode == 1, out[-3000:]
    assert "interrupted while pre-training (0 of 1 checkpoints done" in out
    assert "rerun the same command" in out and "Traceback" not in out
    assert not (tmp_path / "sweeps" / "t" / "episodes").exists()


def test_a_ctrl_c_that_ray_swallows_still_stops_the_pretraining_wait(monkeypatch, tmp_path):
    """Ray's wait runs Python's SIGINT handler itself and turns its KeyboardInterrupt into a status of
    the wait, which was once lost: the sweep went on pre-training. Here every wait swallows it."""
    import ray

    from sweeps.prepare import PretrainInterrupted, _train_missing

    waits = []

    def swallowing_wait(pending, **kwargs):
        waits.append(1)
        if len(waits) == 1:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)  # Python runs the handler here
            except KeyboardInterrupt:
                pass  # what Ray's wait did with it
        return ([], pending) if len(waits) < 5 else (pending, [])

    task = SimpleNamespace(remote=lambda config, threads: object())
    monkeypatch.setattr(ray, "remote", lambda f: SimpleNamespace(options=lambda **kw: task))
    monkeypatch.setattr(ray, "wait", swallowing_wait)
    monkeypatch.setattr(ray, "get", lambda ref: "final.pt")
    monkeypatch.setattr(ray, "cancel", lambda ref, force: None)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {})
    settings = SimpleNamespace(resources=SimpleNamespace(pretrain_device="cpu"), checkpoint_root=tmp_path)
    config = SimpleNamespace(out_dir=str(tmp_path), dataset="d", backbone="b", preset="p", seed=0, width=1)
    monkeypatch.setattr("sweeps.prepare.run_directory", lambda c: tmp_path / "run")
    with pytest.raises(PretrainInterrupted, match="interrupted while pre-training"):
        _train_missing(settings, {"s0-w1": config}, {})
    assert len(waits) == 1  # stopped after the wait that swallowed it, not when the run finished


def test_ctrl_c_outside_its_block_is_python_s_own_again():
    from workers.ctrl_c import CtrlC

    outside = signal.signal(signal.SIGINT, signal.default_int_handler)  # pytest-xdist's workers ignore it
    try:
        with CtrlC() as ctrl_c:
            ctrl_c.check()  # nothing pressed: no exception
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)
            assert ctrl_c.pressed
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outside)


def _main(argv: list[str]) -> int:
    from sweeps.horizon_sweep import main

    return main(argv)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--dataset", "nosuch-maze-v0"], "unknown dataset"),
        (["--q", "1.5"], "q must lie in (0, 1]"),
        (["--N", "-1"], "N"),
        (["--selections", "psychic"], "unknown selection"),
        (["--tasks", "9"], "--tasks"),
    ],
)
def test_bad_arguments_fail_at_once_and_leave_nothing(tmp_path, capsys, argv, needle):
    code = _main([*argv, "--out", str(tmp_path / "out"), "--preset", "smoke"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()  # no MLflow database, hence no RUNNING run


def test_empty_grid_from_a_config_file_is_refused(tmp_path, capsys):
    config = tmp_path / "grid.json"
    config.write_text(json.dumps({"K": [], "preset": "smoke"}))
    assert _main(["--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "give at least one value for --K" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_gpu_request_without_a_gpu_is_refused(tmp_path, capsys):
    assert _main(["--gpus-per-worker", "0.25", "--out", str(tmp_path / "out"), "--preset", "smoke"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _smoke_sweep(**changes):
    from tests.test_faults import _settings

    return _settings(Path("/nonexistent"), **changes)


@pytest.mark.parametrize("auth", [False, True])
def test_a_cluster_that_does_not_answer_is_one_line_naming_the_way_out(monkeypatch, auth):
    import ray

    from gcttt.errors import UsageError
    from sweeps.driver import _connect

    def refuse(**kwargs):
        cause = ray.exceptions.AuthenticationError("token missing") if auth else None
        raise ConnectionError(f"Failed to connect to Ray cluster at {kwargs['address']}") from cause

    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(UsageError, match=r"no Ray cluster answers at 10\.0\.0\.9:6379") as caught:
        _connect(_smoke_sweep(ray_address="10.0.0.9:6379"))
    assert ("RAY_AUTH_MODE=token" in str(caught.value)) == auth
    assert ("ray start --head" in str(caught.value)) != auth


@pytest.mark.parametrize("job_address", [None, "10.0.0.7:6379"])
def test_local_means_the_jobs_cluster_or_a_new_ray_never_another_running_one(monkeypatch, job_address):
    import ray

    from sweeps.driver import _connect

    asked = {}
    monkeypatch.setattr(ray, "init", lambda **kwargs: asked.update(kwargs))
    if job_address:
        monkeypatch.setenv("RAY_ADDRESS", job_address)
    else:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    _connect(_smoke_sweep(ray_address="local"))
    assert asked["address"] == (job_address or "local")  # Ray's None would join any `ray start` cluster here


def test_resume_without_state_and_rerun_of_existing_sweep_are_refused(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--preset", "smoke", "--name", "x"]
    assert _main([*args, "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    part = tmp_path / "sweeps" / "x" / "episodes" / "baseline-w32-s0" / "part-0.parquet"  # rows: it started
    part.parent.mkdir(parents=True)
    part.write_bytes(b"rows")
    assert _main(args) == 2
    assert "already exists" in capsys.readouterr().err


def test_compute_sweep_arms_cover_widths_horizons_and_cheap_budgets(monkeypatch):
    from gcttt.control.ttt import schedule_for
    from sweeps import compute_sweep

    seen = {}
    monkeypatch.setattr(compute_sweep, "run_sweep", lambda sweep, arms, prog: seen.update(s=sweep, arms=arms) or 0)
    assert compute_sweep.main(["--preset", "cpu", "--out", "/tmp/unused"]) == 0
    assert seen["s"].what.dataset == "antmaze-medium-stitch-v0" and seen["s"].what.backbone == "gciql"
    arms = seen["arms"]
    names = [a.name for a in arms]
    assert len(names) == len(set(names))
    widths = [a.width for a in arms if a.method == "baseline" and a.seed == 0]
    assert widths == [128, 156, 183, 248, 333, 512]  # 512:624:732:992:1332 scaled, and 4x for 16x FLOPs
    assert {a.seed for a in arms} == {0, 1, 2}
    ttt = [a.ttt for a in arms if a.method == "gcttt" and a.ttt.batch_size == "backbone" and a.seed == 0]
    assert sorted(t.horizon for t in ttt) == [100, 200, 500, 750, 1000]  # the authors' re-plan ablation
    # The authors' budget on antmaze-medium-stitch (grids/replanning_ablation.yaml): lr 3e-5, N = 200.
    assert all(t.steps == 200 and t.lr == 3e-5 and t.selection.strategy == "critic" for t in ttt)
    assert {a.width for a in arms if a.method == "gcttt"} == {128}
    assert [schedule_for(t, 1000) for t in ttt if t.horizon == 1000] == ["once"]
    cheap = [a.ttt for a in arms if a.method == "gcttt" and a.ttt.batch_size == 64 and a.seed == 0]
    assert sorted({t.steps for t in cheap}) == [1, 2, 4, 8, 16]
    # Critic selection once per episode: it finds data on stitch datasets, where critic-free selects none.
    assert {t.selection.strategy for t in cheap} == {"critic"}
    assert all(schedule_for(t, 1000) == "once" for t in cheap)


def test_compute_sweep_smoke_end_to_end_draws_its_three_panels(tmp_path, seed_smoke_sweep, ray_head):
    seed_smoke_sweep(tmp_path, data_dir=tmp_path / "data", backbone="gciql", widths=(32, 64))
    argv = [sys.executable, str(ROOT / "sweeps" / "compute_sweep.py"), "--preset", "smoke", "--dataset"]
    argv += ["pointmaze-medium-navigate-v0", "--seeds", "0", "--widths", "32", "64", "--K", "1000", "200"]
    argv += ["--cheap-N", "1", "--cheap-lr", "3e-4", "--tasks", "1", "2", "--out", str(tmp_path), "--name", "c"]
    argv += ["--data-dir", str(tmp_path / "data")]  # the seeded small dataset, never ~/.ogbench
    address, ray_env = ray_head
    env = {**os.environ, **ray_env, "GCTTT_OFFLINE": "1", "MPLBACKEND": "Agg"}
    run = subprocess.run([*argv, "--ray-address", address], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]

    from analysis import plot_compute
    from gcttt.results.tables import read_sweep_rows

    rows = read_sweep_rows(tmp_path / "sweeps" / "c" / "episodes")
    assert len(rows) == 5 * 2  # baselines at 2 widths, K = 1000 and 200, one cheap arm; 2 tasks each
    assert (rows["pretrain_flops"] > 0).all() and (rows["flops_act"] > 0).all()
    figure = ["--out", str(tmp_path / "fig"), "--resamples", "200"]
    assert plot_compute.main([str(tmp_path / "sweeps" / "c"), *figure]) == 0
    import pandas as pd

    plotted = pd.read_csv(tmp_path / "fig" / "compute.csv")
    assert set(plotted["panel"]) == {"paper", "exact", "matched"}
