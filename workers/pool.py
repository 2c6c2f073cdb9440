"""A pool of episode workers: spreads episode specs over N Ray actors and streams the records.

    shared = share_dataset(train)                       # once per driver
    with EpisodePool(checkpoint, shared, num_workers=4) as pool:
        for result in pool.run(specs):                  # in completion order
            sink.write([result], context)

Guarantees
- Every spec yields exactly one `PoolResult`, in completion order; `result.spec_index` is the
  spec's position in the list given to `run`.
- A spec whose worker died (killed, crashed, out of memory, node lost) is played again from
  scratch on a freshly started replacement worker, up to `max_retries` times; the episode's
  randomness derives only from the spec, so the retried record equals the one the first try
  would have given. A spec that keeps losing its worker raises `PoolError`. An exception raised
  by the episode itself (bad knobs, a bug) is not retried: it propagates at once.
- Each worker plays one episode at a time, so work is balanced dynamically: a worker takes the
  next spec as soon as it is done.

Resources
- A worker asks Ray for `cpus_per_worker` CPUs (fractions allowed) and sets torch's thread
  count to the whole cores of that share (at least 1).
- GPUs: `gpus_per_worker=None` picks automatically: 0 on a cluster without GPUs (the same code
  runs on CPU-only machines), otherwise 1 / ceil(num_workers / GPUs), e.g. 0.25 so that four
  workers share one GPU; inside a placement group, the bundle's GPU share. Workers with a GPU
  share run their episodes on 'cuda' (Ray sets CUDA_VISIBLE_DEVICES for each actor).

Inside a Ray Tune trial
- The trial must reserve the workers' resources: run the trainable with
  ``tune.with_resources(trainable, trial_resources(num_workers, cpus_per_worker, gpus))``, a
  placement group of 1 + num_workers bundles: bundle 0 ``{"CPU": trainable_cpus}`` hosts the
  trial's function itself (the driver of the pool, which mostly waits), bundle i + 1
  ``{"CPU": cpus_per_worker, "GPU": gpus_per_worker}`` hosts worker i (the GPU key only when
  positive). Bundles are packed (strategy PACK): on one node when they fit, so the workers share
  that node's copy of the dataset.
- `EpisodePool(placement_group='auto')` (the default) finds the trial's group with
  `ray.util.get_current_placement_group()` and pins worker i to bundle i + 1; a replacement
  worker reuses the dead worker's bundle. Without those bundles, actors started in a trial
  would wait forever for resources the trial does not own, so the pool refuses to start with a
  message saying how to size the trial.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import (
    ActorDiedError,
    NodeDiedError,
    OutOfMemoryError,
    RayActorError,
    WorkerCrashedError,
)
from ray.util.placement_group import PlacementGroup, get_current_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
from tqdm.auto import tqdm

from gcttt.checkpoint import read_checkpoint
from gcttt.errors import GctttError, UsageError
from gcttt.runner import EpisodeSpec
from workers.episode_worker import EpisodeWorker, PoolResult, SharedDataset, WorkerInfo, threads_for

WORKER_LOST = (RayActorError, WorkerCrashedError, NodeDiedError, OutOfMemoryError)
"""Errors meaning the worker (not the episode) failed: the spec is retried on a new worker."""


class PoolError(GctttError):
    """The pool could not start its workers or could not finish a spec."""


def cluster_gpus() -> float:
    """GPUs in the Ray cluster (0 when Ray is not running)."""
    return float(ray.cluster_resources().get("GPU", 0.0)) if ray.is_initialized() else 0.0


def auto_gpus_per_worker(num_workers: int, gpus: float | None = None) -> float:
    """GPU share per worker: 0 without GPUs, else 1 / ceil(num_workers / GPUs), at most 1.

    `gpus` defaults to the Ray cluster's GPUs, or the local CUDA devices when Ray is not running.
    """
    if num_workers < 1:
        raise UsageError(f"num_workers must be at least 1 (got {num_workers})")
    if gpus is None:
        if ray.is_initialized():
            gpus = cluster_gpus()
        else:
            import torch

            gpus = float(torch.cuda.device_count()) if torch.cuda.is_available() else 0.0
    whole = math.floor(gpus)
    if whole < 1:
        return 0.0
    return 1.0 / math.ceil(num_workers / whole)


def _check_shares(num_workers: int, cpus_per_worker: float, gpus_per_worker: float | None) -> None:
    if not isinstance(num_workers, int) or num_workers < 1:
        raise UsageError(f"num_workers must be an integer of at least 1 (got {num_workers!r})")
    if not cpus_per_worker > 0:
        raise UsageError(f"cpus_per_worker must be positive (got {cpus_per_worker})")
    if gpus_per_worker is not None and not 0 <= gpus_per_worker <= 1:
        raise UsageError(f"gpus_per_worker must lie in [0, 1] (got {gpus_per_worker}); a worker uses one device")


def trial_resources(
    num_workers: int,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float | None = None,
    trainable_cpus: float = 1.0,
):
    """Ray Tune resources of a trial that runs an `EpisodePool` of `num_workers` workers.

    A `tune.PlacementGroupFactory` of 1 + num_workers bundles: ``{"CPU": trainable_cpus}`` for
    the trial's function, then ``{"CPU": cpus_per_worker, "GPU": gpus_per_worker}`` per worker
    (no GPU key when the share is 0). `gpus_per_worker=None`: `auto_gpus_per_worker`.
    """
    from ray import tune

    _check_shares(num_workers, cpus_per_worker, gpus_per_worker)
    if not trainable_cpus > 0:
        raise UsageError(f"trainable_cpus must be positive (got {trainable_cpus})")
    gpus = auto_gpus_per_worker(num_workers) if gpus_per_worker is None else float(gpus_per_worker)
    worker: dict[str, float] = {"CPU": float(cpus_per_worker)}
    if gpus > 0:
        worker["GPU"] = gpus
    return tune.PlacementGroupFactory([{"CPU": float(trainable_cpus)}] + [dict(worker)] * num_workers)


@dataclass
class _Slot:
    """One worker position; its actor is replaced when it dies."""

    index: int
    actor: Any
    ready: Any
    """ObjectRef of the actor's `ready()` call (a WorkerInfo once it is up)."""
    replacements: int = 0

    def info(self) -> WorkerInfo:
        return ray.get(self.ready)


class EpisodePool:
    """`num_workers` episode workers that share one dataset and one checkpoint."""

    def __init__(
        self,
        checkpoint: str | Path,
        dataset: SharedDataset,
        num_workers: int,
        *,
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float | None = None,
        placement_group: PlacementGroup | str | None = "auto",
        max_retries: int = 3,
        progress: bool = True,
        start_timeout_s: float = 600.0,
    ):
        """Start the workers and wait until all are up.

        checkpoint: a gcttt checkpoint file readable on every node.
        dataset: the training split from `share_dataset`.
        gpus_per_worker: None picks automatically (see the module docstring).
        placement_group: 'auto' uses the current one (inside a Tune trial) when there is one;
            None ignores placement groups; or a PlacementGroup whose bundle i + 1 hosts worker i.
        max_retries: times one spec may be restarted after losing its worker.
        start_timeout_s: how long to wait for the workers to be scheduled and constructed.
        """
        if not ray.is_initialized():
            raise UsageError(
                "Ray is not running; call ray.init(address='local') (or connect to a cluster) "
                "before starting an EpisodePool"
            )
        if not isinstance(dataset, SharedDataset):
            raise UsageError(
                f"dataset must come from workers.episode_worker.share_dataset (got {type(dataset).__name__})"
            )
        _check_shares(num_workers, cpus_per_worker, gpus_per_worker)
        if not isinstance(max_retries, int) or max_retries < 0:
            raise UsageError(f"max_retries must be an integer of 0 or more (got {max_retries!r})")
        self.checkpoint = str(Path(checkpoint).expanduser().resolve())
        obs_dim = int(read_checkpoint(self.checkpoint)["agent"]["obs_dim"])
        if obs_dim != dataset.obs_dim:
            raise UsageError(
                f"{self.checkpoint} expects observations of size {obs_dim} but the shared dataset's "
                f"have {dataset.obs_dim}; share the split of the dataset the checkpoint was trained on"
            )
        self.dataset = dataset
        self.num_workers = num_workers
        self.cpus_per_worker = float(cpus_per_worker)
        self.max_retries = max_retries
        self.progress = progress
        self.placement_group = self._resolve_placement_group(placement_group)
        self.gpus_per_worker = self._resolve_gpus(gpus_per_worker)
        self.device = "cuda" if self.gpus_per_worker > 0 else "cpu"
        self._actor_class = ray.remote(EpisodeWorker)
        self._slots: list[_Slot] = []
        try:
            self._slots = [self._start_slot(i) for i in range(num_workers)]
            self._wait_ready(start_timeout_s)
        except BaseException:
            self.shutdown()
            raise

    # --- set-up --------------------------------------------------------------------------------
    def _resolve_placement_group(self, placement_group) -> PlacementGroup | None:
        if placement_group == "auto":
            placement_group = get_current_placement_group()
        elif isinstance(placement_group, str):
            raise UsageError(f"placement_group must be 'auto', None or a PlacementGroup (got {placement_group!r})")
        if placement_group is None:
            return None
        bundles = placement_group.bundle_specs
        if len(bundles) < self.num_workers + 1:
            raise UsageError(
                f"the placement group has {len(bundles)} bundles but a pool of {self.num_workers} workers "
                f"needs {self.num_workers + 1} (one for the trial, one per worker); run the trainable with "
                f"tune.with_resources(trainable, workers.pool.trial_resources({self.num_workers}, ...))"
            )
        for i in range(1, self.num_workers + 1):
            if bundles[i].get("CPU", 0.0) + 1e-9 < self.cpus_per_worker:
                raise UsageError(
                    f"bundle {i} of the placement group has {bundles[i].get('CPU', 0.0)} CPUs but "
                    f"cpus_per_worker is {self.cpus_per_worker}; size the trial with "
                    f"trial_resources({self.num_workers}, cpus_per_worker={self.cpus_per_worker})"
                )
        return placement_group

    def _resolve_gpus(self, gpus_per_worker: float | None) -> float:
        pg = self.placement_group
        if pg is not None:
            bundle_gpus = min(b.get("GPU", 0.0) for b in pg.bundle_specs[1 : self.num_workers + 1])
            if gpus_per_worker is None:
                return float(bundle_gpus)
            if gpus_per_worker > bundle_gpus + 1e-9:
                raise UsageError(
                    f"gpus_per_worker={gpus_per_worker} but the placement group's worker bundles hold "
                    f"{bundle_gpus} GPU; size the trial with "
                    f"trial_resources(..., gpus_per_worker={gpus_per_worker})"
                )
            return float(gpus_per_worker)
        largest = max((n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n["Alive"]), default=0.0)
        if self.cpus_per_worker > largest:
            raise UsageError(
                f"cpus_per_worker={self.cpus_per_worker:g} but no node of the Ray cluster has that many "
                f"CPUs (largest: {largest:g}); lower cpus_per_worker"
            )
        available = cluster_gpus()
        if gpus_per_worker is None:
            return auto_gpus_per_worker(self.num_workers, available)
        if gpus_per_worker > 0 and available <= 0:
            raise UsageError(
                f"gpus_per_worker={gpus_per_worker} but the Ray cluster has no GPUs; "
                "pass gpus_per_worker=0 (or None to choose automatically)"
            )
        return float(gpus_per_worker)

    def _start_slot(self, index: int, replacements: int = 0) -> _Slot:
        options: dict[str, Any] = {
            "num_cpus": self.cpus_per_worker,
            "num_gpus": self.gpus_per_worker,
            "max_restarts": 0,
            "max_task_retries": 0,
        }
        if self.placement_group is not None:
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                placement_group=self.placement_group, placement_group_bundle_index=index + 1
            )
        actor = self._actor_class.options(**options).remote(
            self.checkpoint,
            self.dataset.data,
            self.dataset.index,
            device=self.device,
            num_threads=threads_for(self.cpus_per_worker),
        )
        return _Slot(index=index, actor=actor, ready=actor.ready.remote(), replacements=replacements)

    def _wait_ready(self, timeout_s: float) -> None:
        refs = [s.ready for s in self._slots]
        ready, waiting = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        for ref in ready:
            try:
                ray.get(ref)
            except RayActorError as exc:
                raise PoolError(f"an episode worker failed to start: {_first_line(exc)}") from None
        if waiting:
            free = ray.available_resources()
            raise PoolError(
                f"{len(waiting)} of {self.num_workers} episode workers were not scheduled within "
                f"{timeout_s:g} s (each needs {self.cpus_per_worker:g} CPU, {self.gpus_per_worker:g} GPU; "
                f"the cluster has {free.get('CPU', 0):g} CPU, {free.get('GPU', 0):g} GPU free); "
                "lower num_workers or the per-worker shares"
            )

    # --- running -------------------------------------------------------------------------------
    @property
    def actors(self) -> list[Any]:
        """The current actor handles, by worker position."""
        return [s.actor for s in self._slots]

    def info(self) -> list[WorkerInfo]:
        """Where each current worker runs (waits for replacement workers to come up)."""
        return [s.info() for s in self._slots]

    def memory(self) -> list[dict[str, int]]:
        """Each worker's memory (see `EpisodeWorker.memory`); waits for running episodes."""
        return ray.get([a.memory.remote() for a in self.actors])

    def _replace(self, slot: _Slot) -> None:
        ray.kill(slot.actor, no_restart=True)
        self._slots[slot.index] = self._start_slot(slot.index, slot.replacements + 1)

    def run(self, specs: Sequence[EpisodeSpec]) -> Iterator[PoolResult]:
        """Play every spec once; yield its `PoolResult` as soon as it is done."""
        specs = list(specs)
        for i, spec in enumerate(specs):
            if not isinstance(spec, EpisodeSpec):
                raise UsageError(f"spec {i} is a {type(spec).__name__}, not a gcttt.runner.EpisodeSpec")
        if not self._slots:
            raise UsageError("this EpisodePool was shut down; start a new one")
        queue = deque(range(len(specs)))
        attempts = [0] * len(specs)
        done = [False] * len(specs)
        idle = deque(range(self.num_workers))
        in_flight: dict[Any, tuple[int, int]] = {}  # ObjectRef -> (spec index, worker position)
        successes = retries = finished = 0
        bar = tqdm(total=len(specs), desc="episodes", unit="ep", disable=not self.progress)
        started = time.perf_counter()
        try:
            while queue or in_flight:
                while queue and idle:
                    i, w = queue.popleft(), idle.popleft()
                    attempts[i] += 1
                    in_flight[self._slots[w].actor.run.remote(specs[i])] = (i, w)
                (ref,), _ = ray.wait(list(in_flight), num_returns=1)
                i, w = in_flight.pop(ref)
                slot = self._slots[w]
                try:
                    record = ray.get(ref)
                except ActorDiedError as exc:
                    if exc.actor_init_failed:
                        raise PoolError(f"an episode worker failed to start: {_first_line(exc)}") from None
                    self._retry(specs[i], i, attempts[i], exc, slot)
                    queue.appendleft(i)
                    idle.append(w)
                    retries += 1
                    continue
                except WORKER_LOST as exc:
                    self._retry(specs[i], i, attempts[i], exc, slot)
                    queue.appendleft(i)
                    idle.append(w)
                    retries += 1
                    continue
                idle.append(w)
                if done[i]:  # cannot happen with one try in flight per spec; kept as a guard
                    continue
                done[i] = True
                successes += bool(record.success)
                info = slot.info()
                finished += 1
                bar.update()
                bar.set_postfix(
                    success=f"{successes / finished:.2f}",
                    retries=retries,
                    ep_per_s=f"{finished / (time.perf_counter() - started):.2f}",
                )
                yield PoolResult(i, record, info.node, info.pid, attempts[i])
        finally:
            bar.close()
            for ref in in_flight:  # only when the caller stopped early or an error is propagating
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
        missing = [i for i, d in enumerate(done) if not d]
        if missing:  # unreachable unless the loop above is broken
            raise PoolError(f"specs {missing} yielded no record")

    def _retry(self, spec: EpisodeSpec, i: int, tries: int, exc: Exception, slot: _Slot) -> None:
        """Replace the dead worker of `slot`, or raise when spec `i` has used up its retries."""
        if tries > self.max_retries:
            raise PoolError(
                f"spec {i} (task {spec.task_id}, episode {spec.episode_index}, {spec.method}) "
                f"lost its worker {tries} times (last: {type(exc).__name__}); it may be crashing its "
                "worker, e.g. out of memory: see the worker logs under /tmp/ray/session_latest/logs"
            ) from None
        self._replace(slot)

    # --- tear-down -----------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop every worker. The pool cannot run afterwards."""
        for slot in self._slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.actor, no_restart=True)
        self._slots = []

    def __enter__(self) -> EpisodePool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()


def _first_line(exc: BaseException) -> str:
    """The most informative line of a Ray error: the original exception's message if present."""
    text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln.split(":")[0]:
            return ln
    return lines[0] if lines else type(exc).__name__


__all__ = [
    "EpisodePool",
    "PoolError",
    "PoolResult",
    "auto_gpus_per_worker",
    "cluster_gpus",
    "trial_resources",
]
