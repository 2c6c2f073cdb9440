"""Shared fixtures of the library tests: a tiny generated dataset and a smoke-preset checkpoint.

The whole session runs offline (``GCTTT_OFFLINE=1``, inherited by subprocesses too), so no test
can reach the network, and with one torch thread, so tests stay small on a busy machine.
Tests pass their data directory explicitly; the default one (``$GCTTT_DATA_DIR``) points at a
fresh temporary folder for the session, so that no test, nor a subprocess it starts, reads or
writes ``~/.ogbench/data`` (where a developer's full-size datasets would make smoke runs slow).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

os.environ["GCTTT_OFFLINE"] = "1"  # before anything imports gcttt
os.environ["GCTTT_DATA_DIR"] = tempfile.mkdtemp(prefix="gcttt-test-data-")
atexit.register(shutil.rmtree, os.environ["GCTTT_DATA_DIR"], ignore_errors=True)

import pytest  # noqa: E402  (after the environment above)
import torch  # noqa: E402

MAZE = "pointmaze-medium-navigate-v0"
"""The dataset of the shared fixtures."""


@pytest.fixture(scope="session", autouse=True)
def _small_and_offline():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    assert os.environ.get("GCTTT_OFFLINE") == "1"
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _no_leaked_tracking_uri(monkeypatch):
    """`mlflow.set_tracking_uri` also exports $MLFLOW_TRACKING_URI, so an in-process test would
    otherwise point every later sweep subprocess at its own database instead of the test's."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield


@pytest.fixture(autouse=True)
def _no_leftover_subprocesses():
    """A test that fails while its sweep subprocess runs (a timeout, say) must not leave it running:
    once left, it held the shared Ray cluster's CPUs, and the next test of that process waited on
    them for minutes. Children started during the test and still alive after it are killed."""
    import psutil

    me = psutil.Process()
    before = {p.pid for p in me.children()}
    yield
    left = [p for p in me.children() if p.pid not in before]
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(left, timeout=10)


@pytest.fixture(scope="session")
def maze_dir(tmp_path_factory):
    """A data directory holding a tiny pointmaze-medium-navigate-v0 (4 + 1 episodes of 101 rows)."""
    from gcttt.datagen.generation import generate_dataset

    root = tmp_path_factory.mktemp("maze-data")
    generate_dataset(MAZE, root, episodes=4, max_episode_steps=101, workers=1, progress=False)
    return root


@pytest.fixture(scope="session")
def maze_train(maze_dir):
    """The train split of `maze_dir` as `OfflineData`."""
    from gcttt.data.access import load_datasets

    train, _ = load_datasets(MAZE, maze_dir)
    return train


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, maze_dir):
    """A finished smoke-preset GC-IQL pre-training run on `maze_dir` (`PretrainResult`)."""
    from gcttt.pretrain import PretrainConfig, pretrain

    out = tmp_path_factory.mktemp("smoke-runs")
    config = PretrainConfig(dataset=MAZE, backbone="gciql", preset="smoke", out_dir=str(out), data_dir=str(maze_dir))
    return config, pretrain(config, progress=False)


@pytest.fixture(scope="session")
def smoke_checkpoint(smoke_run):
    """Path of the smoke run's final checkpoint."""
    return smoke_run[1].final_checkpoint


def _shared_root(tmp_path_factory) -> Path:
    """A folder that every test process of this run shares: the parent of their temporary folders
    under pytest-xdist (each process has its own below it), the run's own one without it."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def seed_smoke_sweep(tmp_path_factory):
    """`seed(out, seeds=(0,), data_dir=None, backbone=None, widths=None)`: give a smoke sweep about
    to run in `out` the inputs it would make first, each made once per test run (shared by the test
    processes, under a file lock): its generated dataset (OUT/data-smoke, or `data_dir`), the
    pre-trained checkpoints of `seeds` x `widths` (OUT/checkpoints; by default the smoke preset's
    width and the horizon sweep's backbone) and an empty MLflow store (OUT/mlflow.db, its tables
    made: a new store's set-up alone takes over a second). The sweep finds them as cached inputs;
    its own code checks them (dataset fingerprint, backbone, width) as it checks any cache. Tests
    of generation, pre-training or a new store do not use it."""
    from filelock import FileLock

    from gcttt.presets import get_preset
    from gcttt.pretrain import pretrain, run_directory
    from sweeps.common import resolve
    from sweeps.config import parse
    from sweeps.horizon_sweep import HorizonSweep
    from sweeps.prepare import prepare_dataset, pretrain_config

    cache = _shared_root(tmp_path_factory) / "smoke-sweep-inputs"
    cache.mkdir(exist_ok=True)
    lock = FileLock(str(cache) + ".lock")

    def settings_for(seeds, backbone):
        argv = ["--preset", "smoke", "--out", str(cache), "--seeds", *map(str, seeds)]
        argv += ["--backbone", backbone] if backbone else []
        config = parse(HorizonSweep, argv, "seed", "")
        return resolve(config, "horizon", config.grid.axes("smoke"))

    def made_once(done: Path, make) -> None:
        if not done.exists():
            make()
            done.touch()

    def empty_store() -> None:
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=f"sqlite:///{cache / 'mlflow.db'}").search_experiments()

    def seed(out, seeds=(0,), data_dir=None, backbone=None, widths=None) -> None:
        settings = settings_for(seeds, backbone)
        widths = widths or (get_preset("smoke").width,)
        runs = [pretrain_config(settings, s, w) for s in seeds for w in widths]
        with lock:
            made_once(cache / "data-smoke.done", lambda: prepare_dataset(settings))
            made_once(cache / "mlflow.done", empty_store)
            for config in runs:
                run = run_directory(config)
                made_once(run.parent / f"{run.name}.done", lambda c=config: pretrain(c, progress=False))
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(cache / "data-smoke", Path(data_dir) if data_dir else out / "data-smoke", dirs_exist_ok=True)
        shutil.copy(cache / "mlflow.db", out / "mlflow.db")
        for config in runs:
            run = run_directory(config).relative_to(cache.resolve())
            shutil.copytree(cache / run, out / run, dirs_exist_ok=True)

    return seed


def _free_ports(n: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """`(address, env)` of a 2-CPU Ray cluster that this test process's end-to-end sweeps connect to
    (``--ray-address ADDRESS``, subprocess environment updated with `env`), started once per test
    process. A sweep that starts its own local Ray spends ~8 s starting it and ~3 s stopping it;
    connected, about 1 s. Tests of what a sweep's own local Ray does (a kill that takes Ray with the
    driver) keep ``--ray-address local``. Authentication is off on this private cluster so that it
    does not depend on a token file in the developer's home. Every port is chosen free, so that two
    test processes (and a developer's own cluster) each have theirs."""
    import signal
    import subprocess
    import sys
    import time

    gcs, client, node, objects, metrics, agent, agent_grpc, runtime_env = _free_ports(8)
    env = {"RAY_AUTH_MODE": "disabled"}
    log = tmp_path_factory.mktemp("ray-head") / "ray-start.log"
    argv = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--num-cpus=2"]
    argv += ["--include-dashboard=false", "--disable-usage-stats", "--node-ip-address=127.0.0.1"]
    argv += [f"--port={gcs}", f"--ray-client-server-port={client}", f"--node-manager-port={node}"]
    argv += [f"--object-manager-port={objects}", f"--metrics-export-port={metrics}"]
    argv += [f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}"]
    argv += [f"--runtime-env-agent-port={runtime_env}"]
    with log.open("w") as sink:
        head = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.time() + 120
    while "This command will now block" not in log.read_text():
        if head.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    yield f"127.0.0.1:{gcs}", env
    # `ray start --block` stops its processes on SIGTERM, slowly (over 10 s here); the cluster is
    # private and holds nothing to save, so whatever is left after 3 s goes with SIGKILL.
    os.killpg(head.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        head.wait(timeout=3)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)
