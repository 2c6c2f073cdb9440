"""Fault injection of issue 24 (docs/faults.md, cases 14-19): a damaged part file before --resume,
a held SQLite lock, a lost Ray node, an expert manifest without fingerprint (tests/test_expert.py),
and the bad inputs of the smaller cases."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gcttt.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
MAZE = "pointmaze-medium-navigate-v0"


def _sweep_main(argv: list[str]) -> int:
    from sweeps.horizon_sweep import main

    return main(argv)


def _one_line(capsys, needle: str) -> str:
    err = capsys.readouterr().err.strip()
    assert needle in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _runs(db: Path) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    return {r.data.tags.get("gcttt.arm", r.data.tags.get("gcttt.role")): r.info.status for r in runs}


# --- case 14: a damaged or missing part file ---------------------------------------------------


def _run_sweep(ray_head, out: Path, *extra: str) -> subprocess.CompletedProcess:
    address, ray_env = ray_head
    argv = [sys.executable, str(ROOT / "sweeps" / "horizon_sweep.py"), "--preset", "smoke", "--tasks", "1", "2"]
    argv += ["--K", "200", "--N", "5", "--out", str(out), "--name", "t", "--ray-address", address, *extra]
    env = {**os.environ, **ray_env, "GCTTT_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_a_damaged_and_a_missing_part_are_replayed_exactly_once_on_resume(tmp_path, seed_smoke_sweep, ray_head):
    import pyarrow.parquet as pq

    seed_smoke_sweep(tmp_path)
    first = _run_sweep(ray_head, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Trial status" not in first.stdout + first.stderr  # Tune's table only with -v
    sweep = tmp_path / "sweeps" / "t"
    baseline, ttt = sorted(sweep.glob("episodes/*/"))  # baseline-..., gcttt-critic-...
    (damaged,) = baseline.glob("part-*.parquet")
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # truncated to half
    (missing,) = ttt.glob("part-*.parquet")
    missing.unlink()

    again = _run_sweep(ray_head, tmp_path, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    err = again.stderr
    named = f"episodes/{baseline.name}/{damaged.name} (Parquet magic bytes not found in footer): damaged, moved to"
    assert named in err, err[-3000:]
    assert f"{ttt.name}: no part file; its 2 episodes are played again" in err, err[-3000:]
    # The part files are the record: both arms lack episodes, so both are played, in one experiment.
    assert "sweep t: 2/2 trials, 4/4 episodes" in err and "replay" not in err
    assert (sweep / "damaged" / baseline.name / damaged.name).is_file()  # kept aside, out of episodes/
    for arm in (baseline, ttt):
        (part,) = arm.glob("part-*.parquet")
        assert sorted(pq.read_table(part).column("spec_index").to_pylist()) == [0, 1]  # each episode once
    table = (sweep / "results.md").read_text()
    assert table.count("| 1 | 2 |") == 2, table  # both arms: 1 seed, 2 episodes
    assert set(_runs(tmp_path / "mlflow.db").values()) == {"FINISHED"}


def test_arm_parts_check_counts_each_episode_once(tmp_path):
    """A part file with a missing or repeated episode does not make its arm done."""
    from gcttt.results.records import RunContext, records_table, write_part_file
    from sweeps.arms import baseline_arms
    from sweeps.parts import check_arm
    from tests.test_faults import _settings

    settings = _settings(tmp_path)
    (arm,) = baseline_arms([0], [32])
    assert check_arm(settings, arm).problem == "no part file"
    rows = _fake_rows(2)
    write_part_file(settings.episodes_dir / arm.name, records_table(rows, RunContext()))
    assert check_arm(settings, arm).complete
    write_part_file(settings.episodes_dir / arm.name, records_table(rows[:1], RunContext()))
    assert "3 rows for 2 of its 2 episodes in 2 file(s)" in check_arm(settings, arm).problem


def _fake_rows(n: int):
    from gcttt.results.records import EpisodeRecord

    fields = EpisodeRecord.__dataclass_fields__
    rows = []
    for i in range(n):
        values = {}
        for name, f in fields.items():
            kind = str(f.type)
            values[name] = (
                "x"
                if "str" in kind
                else 0.0
                if "float" in kind
                else False
                if "bool" in kind
                else []
                if "list" in kind or "tuple" in kind
                else 0
            )
        rows.append((EpisodeRecord(**values), {"spec_index": i}))
    return rows


def _settings(tmp_path: Path, **changes):
    """A resolved smoke sweep under `tmp_path` (nothing created), with fields of its configuration
    changed by name, e.g. ``_settings(tmp_path, resume=True)``."""
    import dataclasses

    from sweeps.common import Sweep
    from sweeps.config import Checkpoints, Outputs, Resources, SweepConfig, Tasks

    config = SweepConfig(
        what=Checkpoints(dataset=MAZE, preset="smoke"),
        episodes=Tasks(tasks=(1, 2), episodes_per_task=1),
        resources=Resources(pretrain_device="cpu"),
        outputs=Outputs(
            out=str(tmp_path),
            data_dir=str(tmp_path / "data"),
            mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
            experiment="gcttt-horizon",
            name="t",
        ),
    )
    sweep = Sweep(config, "horizon")
    for key, value in changes.items():
        group = next(g.name for g in dataclasses.fields(config) if key in getattr(config, g.name).__dataclass_fields__)
        sweep = sweep.replace(group, **{key: value})
    return sweep


# --- case 15: a locked MLflow store ------------------------------------------------------------


@pytest.fixture
def held_lock(tmp_path):
    """Another process's `BEGIN EXCLUSIVE` on OUT/mlflow.db (a thread with its own connection)."""
    db = tmp_path / "out" / "mlflow.db"
    db.parent.mkdir()
    sqlite3.connect(db).execute("create table t (x)").connection.close()
    held, release = threading.Event(), threading.Event()

    def hold():
        connection = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN EXCLUSIVE")
        held.set()
        release.wait(60)
        connection.execute("ROLLBACK")
        connection.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(10)
    yield db
    release.set()
    thread.join(10)


def test_a_locked_store_is_refused_in_one_line_before_any_work(held_lock, tmp_path, capsys):
    import tracking

    uri = f"sqlite:///{held_lock}"
    started = time.perf_counter()
    with pytest.raises(UsageError, match="is locked by another process"):
        tracking.check_sqlite_free(uri, timeout_s=0.2)
    assert time.perf_counter() - started < 5
    out = tmp_path / "out"
    started = time.perf_counter()
    assert _sweep_main(["--preset", "smoke", "--out", str(out), "--name", "t", "--tasks", "1"]) == 2
    err = _one_line(capsys, f"MLflow store {held_lock} is locked by another process (waited 5 s)")
    assert time.perf_counter() - started < 20, err
    assert sorted(p.name for p in out.iterdir()) == ["mlflow.db"]  # no sweep folder, no Ray, no rows


def test_a_lock_after_the_check_is_one_line_too():
    import tracking

    with pytest.raises(UsageError, match="is locked by another process"):
        tracking.raise_if_locked(
            "sqlite:////x/mlflow.db", RuntimeError("(sqlite3.OperationalError) database is locked")
        )
    tracking.raise_if_locked("sqlite:////x/mlflow.db", RuntimeError("something else"))  # not ours: re-raised by caller


def test_a_sweep_that_never_started_does_not_block_the_same_command(tmp_path):
    """A manifest and a Tune folder without restorable state or rows (a start that failed on
    MLflow) are cleared; rows of a started sweep still block."""
    from sweeps.arms import baseline_arms
    from sweeps.driver import check_sweep_state

    settings = _settings(tmp_path)
    arms = baseline_arms([0], [32])
    (settings.sweep_dir / "tune").mkdir(parents=True)
    (settings.sweep_dir / "sweep.json").write_text(json.dumps({"arms": [a.name for a in arms]}))
    check_sweep_state(settings, arms)
    assert not (settings.sweep_dir / "tune").exists() and not (settings.sweep_dir / "sweep.json").exists()
    part = settings.episodes_dir / arms[0].name / "part-x.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"rows")
    (settings.sweep_dir / "sweep.json").write_text("{}")
    with pytest.raises(UsageError, match="already exists"):
        check_sweep_state(settings, arms)


# --- case 16: Ray resources per node, pending trials, a lost node -------------------------------


def test_workers_are_sized_per_node_not_from_the_cluster_total():
    from sweeps.resources import size_workers

    assert size_workers([2.0], 0.1, 1, None, None) == (2, 0.95)  # one node: as before
    assert size_workers([1.0, 1.0], 0.1, 1, None, None) == (2, 0.9)  # 2 x 0.95 + 0.1 fits on neither
    assert size_workers([1.0, 1.0], 0.1, 1, 3, None) == (3, 0.5)
    assert size_workers([1.0, 1.0], 0.1, 1, None, 0.5) == (3, 0.5)
    with pytest.raises(UsageError, match=r"2 episode worker\(s\) x 0.95 CPU do not fit on the Ray nodes \(1 \+ 1"):
        size_workers([1.0, 1.0], 0.1, 1, 2, 0.95)
    with pytest.raises(UsageError, match=r"3 trial\(s\) x 0.5 CPU do not fit"):
        size_workers([1.0], 0.5, 3, None, None)


def test_trials_pending_with_nothing_running_get_one_warning(capsys, monkeypatch):
    from types import SimpleNamespace

    from sweeps import progress as progress_module

    monkeypatch.setattr(progress_module, "free_cpus_by_node", lambda: "0.05 CPU free of 1 + 1 on 2 node(s)")
    progress = progress_module.SweepProgress("t", 2, 8, show_bar=False, pending_warn_s=0.0, trial_cpus=0.1)
    progress.setup()
    pending = [SimpleNamespace(status="PENDING", trial_id="a", last_result={}, config={})]
    progress.on_step_end(0, pending)
    progress.on_step_end(1, pending)
    progress.on_step_end(2, [SimpleNamespace(status="RUNNING", trial_id="a", last_result={}, config={})])
    progress.close()
    err = capsys.readouterr().err
    assert err.count("warning: 1 trial(s) have waited") == 1, err
    assert "asks for 0.1 CPU; 0.05 CPU free of 1 + 1 on 2 node(s)" in err


@pytest.fixture
def two_nodes():
    """A local Ray cluster of two 1-CPU nodes (Ray's own test utility), torn down afterwards."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3},
        },
    )
    second = cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        yield cluster, second
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_lost_nodes_episodes_are_retried_on_the_surviving_node_exactly_once(two_nodes, maze_train, smoke_checkpoint):
    from gcttt.control.runner import EpisodeSpec
    from sweeps.resources import node_cpus, size_workers
    from workers.episode_worker import share_dataset
    from workers.pool import EpisodePool, WorkerSpec, run_specs

    cluster, second = two_nodes
    assert node_cpus() == [1.0, 1.0]
    workers, share = size_workers(node_cpus(), 0.1, 1, None, None)
    assert (workers, share) == (2, 0.9)  # one worker per node, room for a trial's 0.1
    pool = EpisodePool(WorkerSpec(share_dataset(maze_train), share, 0.0), workers)
    try:
        pids = {i.pid for i in pool.info()}
        assert len(pids) == 2
        specs = [EpisodeSpec(task_id=1 + i % 5, episode_index=i, method="baseline") for i in range(6)]
        results, after_kill = [], []
        for result in run_specs(pool, str(smoke_checkpoint), specs, progress=False, start_timeout_s=120):
            (after_kill if results else results).append(result)
            if len(results) == 1 and not after_kill:
                cluster.remove_node(second)  # its raylet and its worker die, mid-episode or about to start one
                results.append(None)
        # The removed node's worker process may take a moment to exit on a loaded machine.
        deadline = time.monotonic() + 60
        while all(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        (lost,) = [pid for pid in pids if not _alive(pid)]
        (survivor,) = pids - {lost}
        done = [results[0], *after_kill]
        assert sorted(r.spec_index for r in done) == list(range(6))  # each episode exactly once
        assert any(r.attempts == 2 for r in done)  # the lost one, played again ...
        assert {r.worker_pid for r in after_kill} == {survivor}  # ... on the surviving node
    finally:
        pool.shutdown()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped: in a container pid 1 may never reap it) is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


# --- case 18: the smaller ones -----------------------------------------------------------------


def test_a_second_generate_into_the_same_folder_is_refused_while_the_first_runs(tmp_path, capsys):
    from gcttt.cli import main as gcttt_main
    from gcttt.files.fileio import exclusive_lock

    out = tmp_path / "data"
    with exclusive_lock(out / f".{MAZE}.lock", "held by the test"):  # what a running generate holds
        assert gcttt_main(["data", "generate", MAZE, "--out", str(out), "--episodes", "2", "--workers", "1"]) == 2
        _one_line(capsys, f"another process is generating {MAZE} into {out}; wait for it to finish")
    assert not list(out.glob("*.npz"))
    # Once it is done, the same command runs (the lock file left behind does not block).
    assert gcttt_main(["data", "generate", MAZE, "--out", str(out), "--episodes", "2", "--workers", "1"]) == 0
    assert (out / f"{MAZE}.npz").is_file()


@pytest.mark.parametrize("script", ["plot_horizon", "plot_compute", "plot_figure6", "table", "time_share"])
@pytest.mark.parametrize("where", ["file", "under-file", "read-only"])
def test_analysis_out_that_cannot_be_written_is_one_line(tmp_path, capsys, script, where):
    import importlib

    results = tmp_path / "results"
    results.mkdir()
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"file": afile, "under-file": afile / "sub", "read-only": Path("/proc/gcttt-test-out")}[where]
    main = importlib.import_module(f"analysis.{script}").main
    assert main([str(results), "--out", str(out)]) == 2
    _one_line(capsys, f"{script}.py: error: --out {out}")
    assert afile.read_text() == "x"


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["sweep", "--seeds", "-1"], "--seeds must be 0 or more (got -1)"),
        (["sweep", "--seeds", "0", "-2"], "--seeds must be 0 or more (got -2)"),
        (["sweep", "--eval-seed", "-1"], "--eval-seed must be 0 or more (got -1)"),
        (["pretrain", "--dataset", MAZE, "--seed", "-1"], "--seed must be 0 or more (got -1)"),
        (["data", "generate", MAZE, "--seed", "-1"], "--seed must be 0 or more (got -1)"),
        (["sweep", "--dataset", "pointmaze-medum-navigate-v0"], "did you mean pointmaze-medium-navigate-v0?"),
        (["pretrain", "--dataset", "antmaze-medium-navigat-v0"], "did you mean antmaze-medium-navigate-v0?"),
        (["data", "generate", "pointmaze-mediun-stitch-v0"], "did you mean pointmaze-medium-stitch-v0?"),
        (["data", "info", "cube-singel-play-v0"], "did you mean cube-single-play-v0?"),
        (["sweep", "--dataset", "nosuch"], "known names: {point,ant}maze-"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_negative_seeds_and_unknown_dataset_names_are_refused_in_one_line(tmp_path, capsys, argv, needle):
    from gcttt.cli import main as gcttt_main

    out = tmp_path / "out"
    if argv[0] == "sweep":
        code = _sweep_main([*argv[1:], "--preset", "smoke", "--out", str(out)])
    elif argv[0] == "pretrain":
        code = gcttt_main([*argv, "--backbone", "gcbc", "--preset", "smoke", "--out", str(out)])
    elif argv[:2] == ["data", "generate"]:
        code = gcttt_main([*argv, "--out", str(out), "--episodes", "2"])
    else:
        code = gcttt_main([*argv, "--data-dir", str(out)])
    assert code == 2
    _one_line(capsys, needle)
    assert not out.exists()


def test_mlflow_paths_are_absolute_and_a_run_outlives_its_deleted_working_dir(tmp_path, monkeypatch):
    """`ray job submit --working-dir` to two nodes on one machine: the second node unpacks the job's
    package where the driver runs, deleting the driver's working directory (docs/faults.md case 27).
    The paths resolved at start-up stay absolute, and MLflow works from a held folder."""
    import tracking
    from gcttt.tracking_uri import held_working_dir, sqlite_uri

    start, out = tmp_path / "job", tmp_path / "out"
    start.mkdir()
    out.mkdir()
    monkeypatch.chdir(start)
    uri = sqlite_uri("../out/mlflow.db")  # a relative flag, resolved once at start-up
    assert uri == f"sqlite:///{out.resolve()}/mlflow.db"
    start.rmdir()
    with pytest.raises(FileNotFoundError):
        os.getcwd()
    assert tracking.artifact_root(uri) == (out.resolve() / "mlartifacts").as_uri()  # no working-dir lookup
    with held_working_dir(out.resolve()):
        run = tracking.start_or_resume_run(uri, "deleted-cwd", "r", {"gcttt.test": "1"})
        (out / "rows.txt").write_text("x")
        tracking.log_artifact(uri, run, out / "rows.txt")
        tracking.end_run(uri, run, "FINISHED")
        assert tracking.run_status(uri, run) == "FINISHED"
    assert [p.name for p in (out / "mlartifacts").rglob("rows.txt")] == ["rows.txt"]
    assert os.getcwd() == str(out.resolve())  # nowhere to go back to: it stays in the held folder
    with pytest.raises(ValueError, match="absolute"), held_working_dir("out"):
        pass
