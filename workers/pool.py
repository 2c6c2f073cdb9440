"""Episode workers on Ray: one pool of actors that share one dataset, and the loop that feeds them.

    shared = share_dataset(train, provenance)           # once per driver
    with EpisodePool.for_checkpoint(checkpoint, shared, num_workers=4) as pool:
        for result in pool.run(specs):                  # in completion order
            ...

A sweep starts one `EpisodePool` for its whole run and hands it to every trial (`attach`), which
plays its own checkpoint with `pool.run(specs, checkpoint)`: each
worker keeps the runners of the checkpoints it has seen, so the start-up (imports, env, dataset
views, checkpoint load) is paid once per worker, not once per trial.

Guarantees of `run_specs` (and `EpisodePool.run`)
- Every spec yields exactly one `PoolResult`, in completion order; `result.spec_index` is the
  spec's position in the list given.
- A spec whose worker died (killed, crashed, out of memory, node lost) is played again from
  scratch on the next free worker (a surviving one, or the replacement started in the
  background, which may wait for room when its node is gone), up to `max_retries` times; the episode's
  randomness derives only from the spec, so the retried record equals the one the first try
  would have given. A spec that keeps losing its worker raises `PoolError`. An exception raised
  by the episode itself (bad knobs, a bug) is not retried: it propagates at once.
- Each worker plays one episode at a time, so work is balanced dynamically.

Resources
- A worker asks Ray for `cpus_per_worker` CPUs (fractions allowed) and sets torch's thread count
  to the whole cores of that share (at least 1).
- GPUs: `gpus_per_worker=None` picks automatically: 0 on a cluster without GPUs (the same code
  runs on CPU-only machines), otherwise 1 / ceil(num_workers / GPUs), e.g. 0.25 so that four
  workers share one GPU. Workers with a GPU share run their episodes on 'cuda'.
- Workers of a sweep's pool are scheduled outside any placement group (also when created inside
  a Tune trial), so a trial can replace a dead worker without owning its resources. An
  `EpisodePool` may instead pin its workers to the bundles 1..W of a placement group.
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

from gcttt.control.runner import EpisodeSpec
from gcttt.errors import GctttError, UsageError
from gcttt.files.checkpoint import read_checkpoint
from workers.ctrl_c import CtrlC
from workers.episode_worker import EpisodeWorker, PoolResult, SharedDataset, WorkerInfo, threads_for

WORKER_LOST = (RayActorError, WorkerCrashedError, NodeDiedError, OutOfMemoryError)
"""Errors meaning the worker (not the episode) failed: the spec is retried on a new worker."""


class PoolError(GctttError):
    """The workers could not start or could not finish a spec."""


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


def check_shares(num_workers: int, cpus_per_worker: float, gpus_per_worker: float | None) -> None:
    if not isinstance(num_workers, int) or num_workers < 1:
        raise UsageError(f"num_workers must be an integer of at least 1 (got {num_workers!r})")
    if not cpus_per_worker > 0:
        raise UsageError(f"cpus_per_worker must be positive (got {cpus_per_worker})")
    if gpus_per_worker is not None and not 0 <= gpus_per_worker <= 1:
        raise UsageError(f"gpus_per_worker must lie in [0, 1] (got {gpus_per_worker}); a worker uses one device")


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


@dataclass(frozen=True)
class WorkerSpec:
    """How to start (and restart) a worker: everything but its position."""

    dataset: SharedDataset
    cpus_per_worker: float
    gpus_per_worker: float
    distance_cache: str | None = None
    placement_group: PlacementGroup | None = None
    """Pin worker i to bundle i + 1 of this group; None: outside any placement group."""
    compile: str = "auto"
    """Fine-tuning updates through torch.compile: on, off, or auto (a CUDA graph on CUDA, eager on CPUs)."""

    @property
    def device(self) -> str:
        return "cuda" if self.gpus_per_worker > 0 else "cpu"


def _check_ray_and_dataset(dataset: Any) -> None:
    if not ray.is_initialized():
        raise UsageError(
            "Ray is not running; call ray.init(address='local') (or connect to a cluster) before starting "
            "an EpisodePool"
        )
    if not isinstance(dataset, SharedDataset):
        raise UsageError(f"dataset must come from workers.episode_worker.share_dataset (got {type(dataset).__name__})")


def _resolve_placement_group(placement_group, num_workers: int, cpus_per_worker: float) -> PlacementGroup | None:
    """'auto': the current placement group (inside a Tune trial) when there is one, checked to hold
    one bundle for the trial and one per worker."""
    if placement_group == "auto":
        placement_group = get_current_placement_group()
    elif isinstance(placement_group, str):
        raise UsageError(f"placement_group must be 'auto', None or a PlacementGroup (got {placement_group!r})")
    if placement_group is None:
        return None
    bundles = placement_group.bundle_specs
    if len(bundles) < num_workers + 1:
        raise UsageError(
            f"the placement group has {len(bundles)} bundles but a pool of {num_workers} workers "
            f"needs {num_workers + 1} (one for the trial, one per worker); size the trial with "
            f"sweeps.resources.trial_resources({num_workers}, ...)"
        )
    for i in range(1, num_workers + 1):
        if bundles[i].get("CPU", 0.0) + 1e-9 < cpus_per_worker:
            raise UsageError(
                f"bundle {i} of the placement group has {bundles[i].get('CPU', 0.0)} CPUs but "
                f"cpus_per_worker is {cpus_per_worker}; size the trial with "
                f"trial_resources({num_workers}, cpus_per_worker={cpus_per_worker})"
            )
    return placement_group


def _resolve_gpus(
    pg: PlacementGroup | None, gpus_per_worker: float | None, num_workers: int, cpus_per_worker: float
) -> float:
    if pg is not None:
        bundle_gpus = min(b.get("GPU", 0.0) for b in pg.bundle_specs[1 : num_workers + 1])
        if gpus_per_worker is None:
            return float(bundle_gpus)
        if gpus_per_worker > bundle_gpus + 1e-9:
            raise UsageError(
                f"gpus_per_worker={gpus_per_worker} but the placement group's worker bundles hold "
                f"{bundle_gpus} GPU; size the trial with trial_resources(..., gpus_per_worker={gpus_per_worker})"
            )
        return float(gpus_per_worker)
    largest = max((n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n["Alive"]), default=0.0)
    if cpus_per_worker > largest:
        raise UsageError(
            f"cpus_per_worker={cpus_per_worker:g} but no node of the Ray cluster has that many "
            f"CPUs (largest: {largest:g}); lower cpus_per_worker"
        )
    available = cluster_gpus()
    if gpus_per_worker is None:
        return auto_gpus_per_worker(num_workers, available)
    if gpus_per_worker > 0 and available <= 0:
        raise UsageError(
            f"gpus_per_worker={gpus_per_worker} but the Ray cluster has no GPUs; "
            "pass gpus_per_worker=0 (or None to choose automatically)"
        )
    return float(gpus_per_worker)


class EpisodePool:
    """`num_workers` episode workers on one shared dataset, for any checkpoint of that dataset; a
    context manager that stops them. `for_checkpoint` starts a pool for one checkpoint (the
    resources checked and resolved, its runner built in every worker); `attach` wraps workers
    another process started (a sweep driver's, inside a trial)."""

    def __init__(
        self,
        spec: WorkerSpec,
        num_workers: int,
        preload: str | None = None,
        start_timeout_s: float = 600,
        max_retries: int = 3,
        progress: bool = True,
    ):
        _check_ray_and_dataset(spec.dataset)
        if not isinstance(max_retries, int) or max_retries < 0:
            raise UsageError(f"max_retries must be an integer of 0 or more (got {max_retries!r})")
        self.spec = spec
        self.num_workers = num_workers
        self.checkpoint = preload
        self.max_retries = max_retries
        self.progress = progress
        self._actor_class = ray.remote(EpisodeWorker)
        self.slots: list[_Slot] = []
        try:
            self.slots = [self._start(i, preload=preload) for i in range(num_workers)]
            self._wait_ready(start_timeout_s)
        except BaseException:
            self.shutdown()
            raise

    @classmethod
    def for_checkpoint(
        cls,
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
        distance_cache: str | None = None,
        compile: str = "auto",
    ) -> EpisodePool:
        """Start `num_workers` workers for `checkpoint` and wait until all are up, each with the
        checkpoint's runner built.

        placement_group: 'auto' uses the current one (inside a Tune trial) when there is one;
            None ignores placement groups; or a PlacementGroup whose bundle i + 1 hosts worker i.
        """
        _check_ray_and_dataset(dataset)  # before the checks below ask Ray about the cluster
        check_shares(num_workers, cpus_per_worker, gpus_per_worker)
        checkpoint = str(Path(checkpoint).expanduser().resolve())
        obs_dim = int(read_checkpoint(checkpoint)["agent"]["obs_dim"])
        if obs_dim != dataset.obs_dim:
            raise UsageError(
                f"{checkpoint} expects observations of size {obs_dim} but the shared dataset's "
                f"have {dataset.obs_dim}; share the split of the dataset the checkpoint was trained on"
            )
        pg = _resolve_placement_group(placement_group, num_workers, float(cpus_per_worker))
        gpus = _resolve_gpus(pg, gpus_per_worker, num_workers, float(cpus_per_worker))
        spec = WorkerSpec(dataset, float(cpus_per_worker), gpus, distance_cache, pg, compile)
        return cls(spec, num_workers, checkpoint, start_timeout_s, max_retries, progress)

    @classmethod
    def attach(cls, spec: WorkerSpec, actors: Sequence[Any]) -> EpisodePool:
        """A pool over workers another process started (a sweep driver's, inside a trial)."""
        self = cls.__new__(cls)
        self.spec = spec
        self.num_workers = len(actors)
        self.checkpoint = None
        self.max_retries = 3
        self.progress = True
        self._actor_class = ray.remote(EpisodeWorker)
        self.slots = [_Slot(index=i, actor=a, ready=a.ready.remote()) for i, a in enumerate(actors)]
        return self

    def _start(self, index: int, replacements: int = 0, preload: str | None = None) -> _Slot:
        spec = self.spec
        if spec.placement_group is not None:
            strategy = PlacementGroupSchedulingStrategy(
                placement_group=spec.placement_group, placement_group_bundle_index=index + 1
            )
        else:  # never captured into the placement group of a Tune trial that starts it
            strategy = PlacementGroupSchedulingStrategy(placement_group=None)
        actor = self._actor_class.options(
            num_cpus=spec.cpus_per_worker,
            num_gpus=spec.gpus_per_worker,
            max_restarts=0,
            max_task_retries=0,
            scheduling_strategy=strategy,
        ).remote(
            spec.dataset.data,
            spec.dataset.index,
            device=spec.device,
            num_threads=threads_for(spec.cpus_per_worker),
            provenance=spec.dataset.provenance,
            distance_cache=spec.distance_cache,
            preload=preload,
            compile=spec.compile,
        )
        return _Slot(index=index, actor=actor, ready=actor.ready.remote(), replacements=replacements)

    def _wait_ready(self, timeout_s: float) -> None:
        refs = [s.ready for s in self.slots]
        ready, waiting, deadline = [], refs, time.monotonic() + timeout_s
        with CtrlC() as ctrl_c:  # short waits, so that Ctrl-C while workers start stops the driver
            while waiting and time.monotonic() < deadline:
                done, waiting = ray.wait(
                    waiting, num_returns=len(waiting), timeout=min(1.0, deadline - time.monotonic())
                )
                ready += done
                ctrl_c.check()
        for ref in ready:
            try:
                ray.get(ref)
            except RayActorError as exc:
                raise PoolError(f"an episode worker failed to start: {_first_line(exc)}") from None
        if waiting:
            free = ray.available_resources()
            raise PoolError(
                f"{len(waiting)} of {self.num_workers} episode workers were not scheduled within "
                f"{timeout_s:g} s (each needs {self.spec.cpus_per_worker:g} CPU, {self.spec.gpus_per_worker:g} GPU; "
                f"the cluster has {free.get('CPU', 0):g} CPU, {free.get('GPU', 0):g} GPU free); "
                "lower the number of workers or the per-worker shares"
            )

    @property
    def actors(self) -> list[Any]:
        """The current actor handles, by worker position."""
        return [s.actor for s in self.slots]

    @property
    def device(self) -> str:
        return self.spec.device

    @property
    def gpus_per_worker(self) -> float:
        return self.spec.gpus_per_worker

    @property
    def cpus_per_worker(self) -> float:
        return self.spec.cpus_per_worker

    @property
    def placement_group(self) -> PlacementGroup | None:
        return self.spec.placement_group

    def info(self) -> list[WorkerInfo]:
        """Where each current worker runs (waits for replacement workers to come up)."""
        return [s.info() for s in self.slots]

    def memory(self) -> list[dict[str, int]]:
        """Each worker's memory (see `EpisodeWorker.memory`); waits for running episodes."""
        return ray.get([a.memory.remote() for a in self.actors])

    def run(self, specs: Sequence[EpisodeSpec], checkpoint: str | None = None) -> Iterator[PoolResult]:
        """Play every spec once with `checkpoint` (default: the pool's own, `for_checkpoint`'s);
        yield its `PoolResult` as soon as it is done."""
        checkpoint = checkpoint or self.checkpoint
        if checkpoint is None:
            raise UsageError("this pool has no checkpoint of its own; pass run(specs, checkpoint)")
        return run_specs(self, checkpoint, specs, self.max_retries, self.progress)

    def prepare(self, checkpoint: str) -> float:
        """Build every worker's runner of `checkpoint` now; returns the seconds it took."""
        started = time.perf_counter()
        calls = [(slot, slot.actor.prepare.remote(checkpoint)) for slot in list(self.slots)]
        for slot, ref in calls:
            try:
                ray.get(ref)
            except ActorDiedError as exc:
                if exc.actor_init_failed:
                    raise PoolError(f"an episode worker failed to start: {_first_line(exc)}") from None
                self.replace(slot)  # lost (its node, its process): the replacement builds it on its first episode
            except WORKER_LOST:
                self.replace(slot)
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, GctttError):
                    raise cause from None
                raise
        return time.perf_counter() - started

    def replace(self, slot: _Slot) -> None:
        with contextlib.suppress(Exception):
            ray.kill(slot.actor, no_restart=True)
        self.slots[slot.index] = self._start(slot.index, slot.replacements + 1)

    def shutdown(self) -> None:
        """Stop every worker. The pool cannot run afterwards."""
        for slot in self.slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.actor, no_restart=True)
        self.slots = []

    def __enter__(self) -> EpisodePool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()


def run_specs(
    workers: EpisodePool,
    checkpoint: str,
    specs: Sequence[EpisodeSpec],
    max_retries: int = 3,
    progress: bool = True,
    start_timeout_s: float = 600.0,
    trace: bool = False,
) -> Iterator[PoolResult]:
    """Play every spec once with `checkpoint`; yield its `PoolResult` as soon as it is done.

    A worker that is lost (its process or its whole node) is replaced in the background: its
    spec goes back to the front of the queue and the surviving workers go on taking specs while
    the replacement waits for room on the cluster (a lost node's share may fit nowhere else).
    Only when no worker is up for `start_timeout_s` is a `PoolError` raised. `trace`: also record
    each episode's trajectory (`PoolResult.trajectory`).
    """
    specs = list(specs)
    for i, spec in enumerate(specs):
        if not isinstance(spec, EpisodeSpec):
            raise UsageError(f"spec {i} is a {type(spec).__name__}, not a gcttt.control.runner.EpisodeSpec")
    if not workers.slots:
        raise UsageError("this EpisodePool was shut down; start a new one")
    queue = deque(range(len(specs)))
    attempts = [0] * len(specs)
    idle: deque[int] = deque()
    starting: dict[Any, int] = {}  # ObjectRef of a worker's ready() -> worker position
    start_losses = [0] * workers.num_workers
    in_flight: dict[Any, tuple[int, int]] = {}  # ObjectRef -> (spec index, worker position)
    successes = retries = finished = 0
    bar = tqdm(total=len(specs), desc="episodes", unit="ep", disable=not progress)
    started = time.perf_counter()
    nobody_up_since: float | None = None

    def restart(w: int, exc: Exception) -> None:
        start_losses[w] += 1
        if start_losses[w] > max_retries + 1:
            raise PoolError(
                f"episode worker {w} was lost {start_losses[w]} times in a row while starting (last: "
                f"{type(exc).__name__}); see the worker logs under /tmp/ray/session_latest/logs"
            ) from None
        workers.replace(workers.slots[w])
        starting[workers.slots[w].ready] = w

    def came_up(refs: list[Any]) -> None:
        for ref in sorted(refs, key=lambda r: starting[r]):  # by position: worker 0 first
            w = starting.pop(ref)
            try:
                ray.get(ref)
            except ActorDiedError as exc:
                if exc.actor_init_failed:
                    raise PoolError(f"an episode worker failed to start: {_first_line(exc)}") from None
                restart(w, exc)
            except WORKER_LOST as exc:
                restart(w, exc)
            else:
                start_losses[w] = 0
                idle.append(w)

    for w, slot in enumerate(workers.slots):
        starting[slot.ready] = w
    try:
        ready, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0)
        came_up(ready)
        while queue or in_flight:
            while queue and idle:
                i, w = queue.popleft(), idle.popleft()
                attempts[i] += 1
                actor = workers.slots[w].actor
                play = actor.run_traced if trace else actor.run
                in_flight[play.remote(checkpoint, specs[i])] = (i, w)
            ready, _ = ray.wait(list(in_flight) + list(starting), num_returns=1, timeout=1.0)
            if not ready:
                if in_flight or idle:
                    nobody_up_since = None
                    continue
                nobody_up_since = nobody_up_since or time.perf_counter()
                if time.perf_counter() - nobody_up_since > start_timeout_s:
                    free = ray.available_resources()
                    raise PoolError(
                        f"no episode worker was up for {start_timeout_s:g} s (each needs "
                        f"{workers.spec.cpus_per_worker:g} CPU, {workers.spec.gpus_per_worker:g} GPU; the cluster "
                        f"has {free.get('CPU', 0):g} CPU, {free.get('GPU', 0):g} GPU free); a lost node's "
                        "workers fit nowhere else: add a node, or lower the workers or their shares"
                    )
                continue
            nobody_up_since = None
            (ref,) = ready
            if ref in starting:
                came_up([ref])
                continue
            i, w = in_flight.pop(ref)
            slot = workers.slots[w]
            try:
                record, trajectory = ray.get(ref) if trace else (ray.get(ref), None)
            except ActorDiedError as exc:
                if exc.actor_init_failed:
                    raise PoolError(f"an episode worker failed to start: {_first_line(exc)}") from None
                _retry(specs[i], i, attempts[i], max_retries, exc)
                restart(w, exc)
                queue.appendleft(i)
                retries += 1
                continue
            except WORKER_LOST as exc:
                _retry(specs[i], i, attempts[i], max_retries, exc)
                restart(w, exc)
                queue.appendleft(i)
                retries += 1
                continue
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, GctttError):  # a user error from inside the episode: one line
                    raise cause from None
                raise
            idle.append(w)
            successes += bool(record.success)
            info = slot.info()
            finished += 1
            bar.update()
            bar.set_postfix(
                success=f"{successes / finished:.2f}",
                retries=retries,
                ep_per_s=f"{finished / (time.perf_counter() - started):.2f}",
            )
            yield PoolResult(i, record, info.node, info.pid, attempts[i], trajectory)
    finally:
        bar.close()
        for ref in in_flight:  # only when the caller stopped early or an error is propagating
            with contextlib.suppress(Exception):
                ray.cancel(ref)


def _retry(spec: EpisodeSpec, i: int, tries: int, max_retries: int, exc: Exception) -> None:
    """Raise when spec `i` has used up its retries (its worker is then replaced by the caller)."""
    if tries > max_retries:
        raise PoolError(
            f"spec {i} (task {spec.task_id}, episode {spec.episode_index}, {spec.method}) "
            f"lost its worker {tries} times (last: {type(exc).__name__}); it may be crashing its "
            "worker, e.g. out of memory: see the worker logs under /tmp/ray/session_latest/logs"
        ) from None


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
    "WorkerSpec",
    "auto_gpus_per_worker",
    "cluster_gpus",
    "run_specs",
]
