"""Ray resources of a sweep: how many episode workers, with what share, and Tune trial bundles.

A sweep starts its episode workers once (`workers.pool.EpisodePool`, outside any placement group)
and every trial only needs a small CPU share for its own, mostly waiting, process. The workers
take what is left of the cluster's CPUs, counted node by node (`size_workers`).
`trial_resources` builds the placement group of a trial that starts its own `EpisodePool`
instead (one bundle for the trial, one per worker).
"""

from __future__ import annotations

import math

from gcttt.errors import UsageError
from sweeps.common import Sweep
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


def node_cpus() -> list[float]:
    """CPUs of each alive node of the Ray cluster, largest first."""
    import ray

    cpus = [float(n["Resources"].get("CPU", 0.0)) for n in ray.nodes() if n.get("Alive")]
    return sorted((c for c in cpus if c > 0), reverse=True)


def _fits(room: list[float], share: float) -> int:
    """Workers of `share` CPUs that fit into nodes with `room` CPUs left (Ray never splits one)."""
    return sum(math.floor(r / share + 1e-9) for r in room)


def size_workers(
    nodes: list[float], trial_cpus: float, trials: int, workers: int | None, cpus_per_worker: float | None
) -> tuple[int, float]:
    """(workers, CPUs per worker) that fit node by node: a Ray actor or trial lives on one node, so
    the cluster's total CPUs say nothing about what fits (2 nodes x 1 CPU hold no 0.95 + 0.1).

    The trials' shares go first, each on the node with the most room; the workers take what is
    left. Unset values are the largest that fit: by default one worker per whole CPU left on
    each node, all with the same share. Raises `UsageError` naming the fit when nothing does.
    """
    nodes_text = " + ".join(f"{c:g}" for c in nodes) or "0"
    room = sorted(nodes, reverse=True)
    for _ in range(trials):
        room.sort(reverse=True)
        if not room or room[0] + 1e-9 < trial_cpus:
            raise UsageError(
                f"{trials} trial(s) x {trial_cpus:g} CPU do not fit on the Ray nodes ({nodes_text} CPUs); "
                "lower --trial-cpus or --max-concurrent-trials"
            )
        room[0] -= trial_cpus
    if cpus_per_worker is None:
        if workers is None:
            per_node = [max(1, round(r)) if r >= 0.1 else 0 for r in room]
            shares = [math.floor(r / n * 100) / 100 for r, n in zip(room, per_node, strict=True) if n]
            cpus_per_worker = min(shares, default=0.0)
            workers = sum(per_node)
        else:
            # The largest share (in Ray's 0.01 steps) at which `workers` fit.
            candidates = sorted(
                {math.floor(r / k * 100) / 100 for r in room for k in range(1, workers + 1)}, reverse=True
            )
            cpus_per_worker = next((c for c in candidates if c > 0 and _fits(room, c) >= workers), 0.0)
    elif workers is None:
        workers = _fits(room, cpus_per_worker)
    if not cpus_per_worker or cpus_per_worker <= 0 or not workers or _fits(room, cpus_per_worker) < workers:
        share = f"{cpus_per_worker:g}" if cpus_per_worker else "any"
        fit = _fits(room, cpus_per_worker) if cpus_per_worker else 0
        raise UsageError(
            f"{workers or 1} episode worker(s) x {share} CPU do not fit on the Ray nodes ({nodes_text} CPUs, "
            f"{trials} trial(s) x {trial_cpus:g} taken first; at most {fit} such workers fit, each on one node); "
            "lower --workers, --cpus-per-worker or --max-concurrent-trials"
        )
    return workers, cpus_per_worker


def resolve_resources(sweep: Sweep) -> Sweep:
    """Fill in the workers and their CPU and GPU shares from the Ray cluster's nodes (`size_workers`)."""
    import ray

    asked = sweep.resources
    cluster = ray.cluster_resources()
    gpus = float(cluster.get("GPU", 0.0))
    if asked.gpu_share and gpus <= 0:
        raise UsageError(
            f"--gpus-per-worker {asked.gpu_share:g} but the Ray cluster has no GPUs; "
            "drop the flag or pass --gpus-per-worker 0"
        )
    workers, cpus_per_worker = size_workers(
        node_cpus(),
        asked.trial_cpus,
        asked.max_concurrent_trials,
        None if asked.workers == "auto" else asked.workers,
        None if asked.cpus_per_worker == "auto" else asked.cpus_per_worker,
    )
    gpu_share = asked.gpu_share
    if gpu_share is None:
        gpu_share = auto_gpus_per_worker(workers, gpus)
    return sweep.replace("resources", workers=workers, cpus_per_worker=cpus_per_worker, gpus_per_worker=gpu_share)
