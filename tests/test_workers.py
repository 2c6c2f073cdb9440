"""Resource arithmetic of the episode workers, and refusals without a running Ray (no cluster)."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from gcttt.data.files import OfflineData  # noqa: E402
from gcttt.errors import UsageError  # noqa: E402
from sweeps.resources import trial_resources  # noqa: E402
from workers.episode_worker import share_dataset, threads_for  # noqa: E402
from workers.pool import auto_gpus_per_worker  # noqa: E402


def test_threads_follow_the_cpu_share():
    assert [threads_for(c) for c in (0.25, 0.5, 1, 1.5, 2, 4)] == [1, 1, 1, 1, 2, 4]


def test_automatic_gpu_share():
    assert auto_gpus_per_worker(4, gpus=0) == 0.0
    assert auto_gpus_per_worker(4, gpus=0.5) == 0.0  # less than one whole GPU: none
    assert auto_gpus_per_worker(4, gpus=1) == 0.25
    assert auto_gpus_per_worker(1, gpus=1) == 1.0
    assert auto_gpus_per_worker(2, gpus=4) == 1.0
    assert auto_gpus_per_worker(4, gpus=2) == 0.5
    assert auto_gpus_per_worker(3, gpus=1) == pytest.approx(1 / 3)
    with pytest.raises(UsageError, match="num_workers must be at least 1"):
        auto_gpus_per_worker(0, gpus=1)


def test_trial_resources_bundles():
    cpu_only = trial_resources(2, cpus_per_worker=0.5, gpus_per_worker=0)
    assert cpu_only.bundles == [{"CPU": 1.0}, {"CPU": 0.5}, {"CPU": 0.5}]
    gpu = trial_resources(4, cpus_per_worker=1, gpus_per_worker=0.25, trainable_cpus=2)
    assert gpu.bundles == [{"CPU": 2.0}] + [{"CPU": 1.0, "GPU": 0.25}] * 4
    assert gpu.required_resources == {"CPU": 6.0, "GPU": 1.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(num_workers=0), "num_workers must be an integer of at least 1"),
        (dict(num_workers=2, cpus_per_worker=0), "cpus_per_worker must be positive"),
        (dict(num_workers=2, gpus_per_worker=1.5), r"gpus_per_worker must lie in \[0, 1\]"),
        (dict(num_workers=2, trainable_cpus=0), "trainable_cpus must be positive"),
    ],
)
def test_trial_resources_refuses_bad_input(args, message):
    with pytest.raises(UsageError, match=message):
        trial_resources(**args)


def test_share_dataset_needs_ray(monkeypatch):
    # Whatever session an earlier test module left running (the order must not decide whether this
    # test runs): share_dataset sees no Ray.
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    data = OfflineData(
        observations=np.zeros((3, 2), np.float32),
        actions=np.zeros((3, 2), np.float32),
        terminals=np.array([False, False, True]),
    )
    with pytest.raises(UsageError, match=r"Ray is not running; call ray.init\(address='local'\)"):
        share_dataset(data)
