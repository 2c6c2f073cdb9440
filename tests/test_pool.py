"""The episode pool on a local 2-CPU Ray: one record per spec, determinism, worker death, Tune.

One Ray session and one pool serve the whole module (starting Ray costs ~10 s, a worker ~5 s).
The dataset is tiny (4 pointmaze episodes of 101 steps) and the checkpoint a 50-update smoke
run; env episodes still last up to 1000 steps (about 1 s each with one torch thread).
"""

from __future__ import annotations

import os
import signal
from dataclasses import asdict

import pytest
import torch

ray = pytest.importorskip("ray")

from gcttt.control.runner import EpisodeRunner, EpisodeSpec  # noqa: E402
from gcttt.control.ttt import TTTConfig  # noqa: E402
from gcttt.data.access import load_datasets  # noqa: E402
from gcttt.data.files import OfflineData  # noqa: E402
from gcttt.data.transitions import TransitionIndex  # noqa: E402
from gcttt.errors import GctttError, UsageError  # noqa: E402
from gcttt.selection import SelectionConfig  # noqa: E402
from sweeps.resources import trial_resources  # noqa: E402
from workers.episode_worker import EpisodeWorker, share_dataset  # noqa: E402
from workers.parquet_sink import ParquetSink, RunContext, read_results  # noqa: E402
from workers.pool import EpisodePool, PoolError  # noqa: E402

DATASET = "pointmaze-medium-navigate-v0"
TIMING = {"wall_seconds", "act_seconds", "selection_seconds", "finetune_seconds"}
SPECS = [
    EpisodeSpec(task_id=1, method="baseline"),
    EpisodeSpec(task_id=2, episode_index=1, seed=3, method="baseline"),
    EpisodeSpec(task_id=3, method="gcttt", ttt=TTTConfig(horizon=250, steps=3, selection=SelectionConfig("random"))),
    EpisodeSpec(task_id=4, method="baseline"),
    EpisodeSpec(task_id=5, method="gcttt", ttt=TTTConfig(horizon=500, steps=2)),
]


def comparable(record) -> dict:
    return {k: v for k, v in asdict(record).items() if k not in TIMING}


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """(checkpoint path, train split) of a tiny generated dataset and a smoke checkpoint."""
    from gcttt.datagen.generation import generate_dataset
    from gcttt.pretrain import PretrainConfig, pretrain

    root = tmp_path_factory.mktemp("pool")
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GCTTT_OFFLINE", "1")
        torch.set_num_threads(1)  # as the workers; also much faster on a busy machine
        try:
            generate_dataset(DATASET, root / "data", episodes=4, max_episode_steps=101, workers=1, progress=False)
            result = pretrain(
                PretrainConfig(
                    dataset=DATASET,
                    backbone="gciql",
                    preset="smoke",
                    steps=50,
                    eval_every=0,
                    out_dir=str(root / "runs"),
                    data_dir=str(root / "data"),
                ),
                progress=False,
            )
            train, _ = load_datasets(DATASET, root / "data")
            runner = EpisodeRunner(result.final_checkpoint, train)
            expected = [runner.run(spec) for spec in SPECS]
        finally:
            torch.set_num_threads(threads)
        yield str(result.final_checkpoint), train, expected


@pytest.fixture(scope="module")
def ray_session(ray_head):
    """This process as a driver of the test process's 2-CPU cluster (started once for all its tests)."""
    address, env = ray_head
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        ray.init(address=address, log_to_driver=False)
        yield
        ray.shutdown()


@pytest.fixture(scope="module")
def shared(ray_session, assets):
    return share_dataset(assets[1])


@pytest.fixture(scope="module")
def pool(shared, assets):
    # Half a CPU each, so a Tune trial (1 CPU) fits beside the pool on the 2-CPU Ray.
    with EpisodePool.for_checkpoint(assets[0], shared, num_workers=2, cpus_per_worker=0.5, progress=False) as p:
        yield p


def test_worker_in_process_matches_runner(assets):
    checkpoint, train, expected = assets
    threads = torch.get_num_threads()
    try:
        index = TransitionIndex.from_terminals(train.terminals)
        worker = EpisodeWorker(train, index, max_runners=1)
        assert torch.get_num_threads() == 1
        assert comparable(worker.run(checkpoint, SPECS[0])) == comparable(expected[0])
        first = worker.runner(checkpoint)
        assert worker.runner(checkpoint) is first  # built once, reused by every later episode
        assert set(worker.memory()) == {"rss", "uss", "pss", "shared"}
        if not torch.cuda.is_available():
            with pytest.raises(UsageError, match="given a GPU share but torch sees no CUDA device"):
                EpisodeWorker(train, index, device="cuda")
    finally:
        torch.set_num_threads(threads)


def test_workers_read_one_shared_copy_of_the_dataset(pool, shared, assets):
    views = ray.get([a.dataset_view.remote() for a in pool.actors])
    for view in views:
        # A read-only view the worker does not own is Ray's shared object store; the runner's
        # tensor points at the same bytes.
        assert view == {
            "writeable": False,
            "owns_data": False,
            "nbytes": assets[1].observations.nbytes + assets[1].actions.nbytes,
            "tensor_shares_buffer": True,
        }
    infos = pool.info()
    assert len({i.pid for i in infos}) == 2
    assert all(i.num_threads == 1 and i.device.startswith("cpu") for i in infos)
    assert shared.obs_dim == 2 and shared.num_transitions == assets[1].num_transitions


def test_every_spec_yields_one_record_equal_to_the_direct_runner(pool, assets, tmp_path):
    results = list(pool.run(SPECS))
    assert sorted(r.spec_index for r in results) == list(range(len(SPECS)))
    for r in results:
        assert comparable(r.record) == comparable(assets[2][r.spec_index])
        assert r.attempts == 1
    # ... and they round-trip through the Parquet sink.
    ParquetSink(tmp_path).write(results, RunContext(sweep_id="s", trial_id="t"))
    frame = read_results(tmp_path).sort_values("spec_index")
    assert list(frame["spec_index"]) == list(range(len(SPECS)))
    assert list(frame["selected_per_replan"]) == [e.selected_per_replan for e in assets[2]]
    assert set(frame["node"]) == {pool.info()[0].node}


def test_stopping_early_leaves_the_pool_usable(pool, assets):
    for _ in pool.run(SPECS):
        break  # the other worker's episode is cancelled or finishes unseen
    results = sorted(pool.run(SPECS[:3]))
    assert [r.spec_index for r in results] == [0, 1, 2]
    assert [comparable(r.record) for r in results] == [comparable(e) for e in assets[2][:3]]


def test_killed_worker_mid_run_every_spec_still_yields_one_record(pool, assets):
    before = {i.pid for i in pool.info()}
    results, killed = [], None
    for result in pool.run(SPECS):
        results.append(result)
        if killed is None:
            # The other worker is in the middle of an episode: kill its process.
            (killed,) = before - {result.worker_pid}
            os.kill(killed, signal.SIGKILL)
    assert sorted(r.spec_index for r in results) == list(range(len(SPECS)))
    assert any(r.attempts == 2 for r in results)
    assert killed not in {r.worker_pid for r in results if r.attempts == 2}
    for r in results:  # the retried episode replays exactly
        assert comparable(r.record) == comparable(assets[2][r.spec_index])
    after = {i.pid for i in pool.info()}
    assert killed not in after and len(after) == 2


def test_spec_that_keeps_losing_its_worker_raises(pool):
    pool.max_retries = 0
    try:
        os.kill(pool.info()[0].pid, signal.SIGKILL)  # the first spec goes to worker 0
        message = r"spec 0 \(task 1, episode 0, baseline\) lost its worker 1 times"
        with pytest.raises(PoolError, match=message):
            list(pool.run(SPECS[:1]))
    finally:
        pool.max_retries = 3
    # The pool replaced the dead worker and still works.
    assert [r.spec_index for r in pool.run(SPECS[:1])] == [0]


def test_pool_inside_a_tune_trial(pool, shared, assets, tmp_path):
    from ray import tune

    checkpoint, _, expected = assets

    def trainable(config, shared, checkpoint):
        from workers.pool import EpisodePool

        with EpisodePool.for_checkpoint(checkpoint, shared, num_workers=2, cpus_per_worker=0.25, progress=False) as p:
            assert p.placement_group is not None
            results = list(p.run(SPECS[:2]))
        sink = ParquetSink(config["out"])
        sink.write(results, RunContext(sweep_id="tune-test", trial_id=tune.get_context().get_trial_id()))
        tune.report({"episodes": len(results), "success": sum(r.record.success for r in results)})

    tuner = tune.Tuner(
        tune.with_resources(
            tune.with_parameters(trainable, shared=shared, checkpoint=checkpoint),
            trial_resources(2, cpus_per_worker=0.25, gpus_per_worker=0, trainable_cpus=0.5),
        ),
        param_space={"out": str(tmp_path / "episodes")},
        run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="pool-test", verbose=0),
    )
    grid = tuner.fit()
    assert not grid.errors, grid.errors
    assert grid[0].metrics["episodes"] == 2
    frame = read_results(tmp_path / "episodes").sort_values("spec_index")
    assert list(frame["spec_index"]) == [0, 1]
    assert list(frame["trial_id"].unique()) == [grid[0].metrics["trial_id"]]
    assert list(frame["success"]) == [e.success for e in expected[:2]]
    assert list(frame["episode_steps"]) == [e.episode_steps for e in expected[:2]]


def test_clear_errors(pool, shared, assets, tmp_path):
    checkpoint = assets[0]
    bad = [
        (dict(num_workers=0), "num_workers must be an integer of at least 1"),
        (dict(num_workers=1, cpus_per_worker=0), "cpus_per_worker must be positive"),
        (dict(num_workers=1, cpus_per_worker=3), "no node of the Ray cluster has that many CPUs"),
        (dict(num_workers=1, gpus_per_worker=0.25), "the Ray cluster has no GPUs"),
        (dict(num_workers=1, gpus_per_worker=2), r"gpus_per_worker must lie in \[0, 1\]"),
        (dict(num_workers=1, max_retries=-1), "max_retries must be an integer of 0 or more"),
        (dict(num_workers=1, placement_group="mine"), "placement_group must be 'auto', None"),
    ]
    for kwargs, message in bad:
        with pytest.raises(UsageError, match=message):
            EpisodePool.for_checkpoint(checkpoint, shared, **kwargs)
    with pytest.raises(UsageError, match=r"must come from workers\.episode_worker\.share_dataset"):
        EpisodePool.for_checkpoint(checkpoint, assets[1], 1)
    with pytest.raises(GctttError, match="no such checkpoint file"):
        EpisodePool.for_checkpoint(tmp_path / "missing.pt", shared, 1)
    three = OfflineData(
        observations=torch.zeros(4, 3).numpy(),
        actions=torch.zeros(4, 2).numpy(),
        terminals=torch.tensor([False, True, False, True]).numpy(),
    )
    with pytest.raises(UsageError, match="expects observations of size 2 but the shared dataset's have 3"):
        EpisodePool.for_checkpoint(checkpoint, share_dataset(three), 1)
    with pytest.raises(UsageError, match=r"not a gcttt\.control\.runner\.EpisodeSpec"):
        list(pool.run([{"task_id": 1}]))
    group = ray.util.placement_group([{"CPU": 0.01}])
    try:
        with pytest.raises(UsageError, match=r"needs 3 \(one for the trial, one per worker\)"):
            EpisodePool.for_checkpoint(checkpoint, shared, 2, placement_group=group)
    finally:
        ray.util.remove_placement_group(group)
