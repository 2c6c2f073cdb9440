"""Ray resources of a sweep: how many episode workers, with what share, and Tune trial bundles.

A sweep starts its episode workers once (`workers.pool.WorkerSet`, outside any placement group)
and every trial only needs a small CPU share for its own, mostly waiting, process. The workers
take what is left of the cluster's CPUs. `trial_resources` builds the placement group of a trial
that starts its own `EpisodePool` instead (one bundle for the trial, one per worker).
"""

from __future__ import annotations

import dataclasses
import math

from gcttt.errors import UsageError
from workers.pool import auto_gpus_per_worker, check_shares


def trial_resources(
    num_workers: int,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float | None = None,
    trainable_cpus: float = 1.0,
):
    """Ray Tune resources of a trial that runs its own `EpisodePool` of `num_workers` workers.

    A `tune.PlacementGroupFactory` of 1 + num_workers bundles: ``{"CPU": trainable_cpus}`` for
    the trial's function, then ``{"CPU": cpus_per_worker, "GPU": gpus_per_worker}`` per worker
    (no GPU key when the share is 0). `gpus_per_worker=None`: `auto_gpus_per_worker`.
    """
    from ray import tune

    check_shares(num_workers, cpus_per_worker, gpus_per_worker)
    if not trainable_cpus > 0:
        raise UsageError(f"trainable_cpus must be positive (got {trainable_cpus})")
    gpus = auto_gpus_per_worker(num_workers) if gpus_per_worker is None else float(gpus_per_worker)
    worker: dict[str, float] = {"CPU": float(cpus_per_worker)}
    if gpus > 0:
        worker["GPU"] = gpus
    return tune.PlacementGroupFactory([{"CPU": float(trainable_cpus)}] + [dict(worker)] * num_workers)


def resolve_resources(settings):
    """Fill in the workers and their CPU and GPU shares from the Ray cluster's size.

    The trials take `trial_cpus` each (times the concurrent trials); the workers share the rest.
    """
    import ray

    cluster = ray.cluster_resources()
    cpus = float(cluster.get("CPU", 1.0))
    gpus = float(cluster.get("GPU", 0.0))
    if settings.gpus_per_worker and gpus <= 0:
        raise UsageError(
            f"--gpus-per-worker {settings.gpus_per_worker:g} but the Ray cluster has no GPUs; "
            "drop the flag or pass --gpus-per-worker 0"
        )
    room = cpus - settings.trial_cpus * settings.max_concurrent_trials
    workers, cpus_per_worker = settings.workers, settings.cpus_per_worker
    if workers is None:
        workers = max(1, math.floor(room / cpus_per_worker)) if cpus_per_worker else max(1, round(room))
    if cpus_per_worker is None:
        # Round down to Ray's resource granularity so that everything fits exactly.
        cpus_per_worker = math.floor(room / workers * 100) / 100
    needed = settings.trial_cpus * settings.max_concurrent_trials + workers * cpus_per_worker
    if cpus_per_worker <= 0 or needed > cpus + 1e-9:
        raise UsageError(
            f"the sweep needs {needed:g} CPUs ({workers} workers x {cpus_per_worker:g} + "
            f"{settings.max_concurrent_trials} trial(s) x {settings.trial_cpus:g}) but the cluster has {cpus:g}; "
            "lower --workers, --cpus-per-worker or --max-concurrent-trials"
        )
    gpu_share = settings.gpus_per_worker
    if gpu_share is None:
        gpu_share = auto_gpus_per_worker(workers, gpus)
    return dataclasses.replace(settings, workers=workers, cpus_per_worker=cpus_per_worker, gpus_per_worker=gpu_share)
