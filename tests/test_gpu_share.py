"""GPU sharing of episode workers (workers/gpu_share.py): the memory estimate and the refusal."""

from __future__ import annotations

import pytest
import torch

from gcttt.errors import UsageError
from gcttt.files.checkpoint import read_checkpoint
from workers.gpu_share import (
    GIB,
    WorkerMemory,
    assigned_gpu_share,
    check_share_fits,
    cuda_memory,
    estimate_for_checkpoint,
    estimate_worker_bytes,
    workers_that_fit,
)


def test_the_estimate_grows_with_every_part():
    base = dict(
        parameters=1_000_000,
        width=512,
        depth=3,
        batch_size=1024,
        rows=1_001_000,
        transitions=1_000_000,
        obs_dim=2,
        action_dim=2,
    )
    est = estimate_worker_bytes(**base)
    assert est.total == est.dataset + est.model + est.activations + est.context
    for key, more in (("parameters", 2_000_000), ("batch_size", 2048), ("rows", 2_002_000), ("obs_dim", 29)):
        assert estimate_worker_bytes(**{**base, key: more}).total > est.total, key
    # Paper scale on a 1M-transition pointmaze: about a GiB or two per worker, so 16 fit 139 GiB.
    assert 0.5 * GIB < est.total < 4 * GIB


def test_estimate_for_a_checkpoint_counts_trained_parameters_only(smoke_checkpoint):
    state = read_checkpoint(smoke_checkpoint)["agent"]
    est = estimate_for_checkpoint(state, rows=505, transitions=500)
    trained = sum(v.numel() for k, v in state["nets"].items() if not k.startswith("target_"))
    assert est.model == trained * 32
    assert estimate_for_checkpoint(state, rows=505, transitions=500, batch_size=4096).activations > est.activations


def test_a_share_that_fits_passes_and_one_that_does_not_is_refused_with_the_fix():
    need = WorkerMemory(dataset=0, model=0, activations=0, context=10 * GIB)
    check_share_fits(need, 0.25, 80 * GIB)  # 20 GiB room
    with pytest.raises(UsageError) as err:
        check_share_fits(need, 1 / 16, 80 * GIB)  # 5 GiB room
    message = str(err.value)
    assert "\n" not in message and "16 workers per GPU do not fit" in message
    assert "--gpus-per-worker 0.125 (at most 8 workers per GPU)" in message
    with pytest.raises(UsageError, match=r"the whole GPU has 8\.0 GiB"):
        check_share_fits(need, 1.0, 8 * GIB)
    with pytest.raises(UsageError, match="must lie in"):
        check_share_fits(need, 0.0, 8 * GIB)
    assert workers_that_fit(10 * GIB, 80 * GIB) == 8


def test_outside_ray_and_without_cuda_the_helpers_are_neutral():
    assert assigned_gpu_share() == 1.0
    assert cuda_memory("cpu") == {}
    if torch.cuda.is_available():
        assert {"cuda_max_allocated", "cuda_total"} <= cuda_memory("cuda").keys()


def test_an_episode_worker_refuses_a_checkpoint_its_gpu_share_cannot_hold(smoke_checkpoint, maze_train, monkeypatch):
    from types import SimpleNamespace

    from gcttt.data.transitions import TransitionIndex
    from workers.episode_worker import EpisodeWorker

    index = TransitionIndex.from_terminals(maze_train.terminals)
    worker = EpisodeWorker(maze_train, index, device="cpu", gpu_share=1 / 16)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: SimpleNamespace(total_memory=GIB))
    with pytest.raises(UsageError, match="16 workers per GPU do not fit"):
        worker.check_gpu_share(str(smoke_checkpoint))
    worker.gpu_share = 1.0
    worker.check_gpu_share(str(smoke_checkpoint))  # the whole (1 GiB) GPU holds a smoke model
    assert "cuda_max_allocated" not in worker.memory()  # a CPU worker reports no GPU memory
