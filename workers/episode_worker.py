"""An episode worker: one env and one policy copy in a Ray actor, reading a shared dataset.

The driver loads the training split once and calls `share_dataset`, which puts the arrays the
runner reads (observations, actions, terminals) and their `TransitionIndex` into Ray's object
store. Each `EpisodeWorker` receives both as ObjectRefs; Ray resolves them to read-only NumPy
views of the object store's shared memory, and `TransitionData` wraps those views without a
copy on the CPU. So every worker on a node maps the same physical pages: adding a worker costs
its own model, env and the runner's derived per-transition arrays (each transition's episode
end, 8 bytes, from the start; the selection's relevance coordinates, positions and goal
distances, 12 + 4 * len(relevance_index) bytes, from its first gcttt episode), never another copy
of the dataset (bench/bench_pool.py measures it). A node that has not seen the dataset pulls it
once into its own store.

On a GPU (`device='cuda'`) each worker copies the arrays it reads to its device (CUDA memory is
per process); the host copy is still the shared one.

A worker is not tied to one checkpoint: `run(checkpoint, spec)` builds an `EpisodeRunner` for a
checkpoint the first time it is asked for and keeps the few most recent ones, so a sweep starts
its workers once and every trial (every checkpoint) reuses them: the imports, the env and the
dataset views are paid once per worker, not once per trial.

`EpisodeWorker` is a plain class: `workers.pool` turns it into an actor with
`ray.remote(EpisodeWorker).options(num_cpus=..., num_gpus=...)`, and a test can build one
in-process. The worker sets torch's thread count to its CPU share: torch's default (all the
node's cores) oversubscribes the node when several workers share it, and on a busy 2-core
machine one actor step of a small MLP was measured 160 times slower with 2 threads than with 1.
"""

from __future__ import annotations

import os
import socket
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from gcttt.control.runner import EpisodeRunner, EpisodeSpec
from gcttt.data.files import OfflineData
from gcttt.data.provenance import DatasetProvenance
from gcttt.data.transitions import TransitionIndex
from gcttt.errors import UsageError
from gcttt.results.records import EpisodeRecord
from gcttt.results.trajectories import EpisodeTrajectory
from gcttt.selection import DistanceCache


@dataclass(frozen=True)
class SharedDataset:
    """A training split in Ray's object store: what `EpisodePool` and `EpisodeWorker` read."""

    data: Any
    """ObjectRef of the `OfflineData` (observations, actions and terminals only)."""
    index: Any
    """ObjectRef of its `TransitionIndex`."""
    nbytes: int
    """Bytes of the shared arrays (data and index): the memory one copy of the dataset takes."""
    obs_dim: int
    """Observation size, checked against the checkpoint before any worker starts."""
    num_transitions: int
    provenance: DatasetProvenance | None = None
    """Where the file came from (its fingerprint is checked against every checkpoint)."""


def share_dataset(train: OfflineData, provenance: DatasetProvenance | None = None) -> SharedDataset:
    """Put `train` (and its transition index, built here once) into Ray's object store.

    Only the arrays the episode runner reads travel: qpos, qvel and button_states stay out.
    Call it once per driver (or Tune driver) and hand the result to every pool and trial.
    """
    import ray

    if not ray.is_initialized():
        raise UsageError(
            "Ray is not running; call ray.init(address='local') or ray.init(address='auto') before share_dataset"
        )
    slim = OfflineData(
        observations=np.ascontiguousarray(train.observations, dtype=np.float32),
        actions=np.ascontiguousarray(train.actions, dtype=np.float32),
        terminals=np.ascontiguousarray(train.terminals, dtype=bool),
    )
    index = TransitionIndex.from_terminals(slim.terminals)
    nbytes = sum(a.nbytes for a in slim.arrays().values()) + sum(
        a.nbytes for a in (index.rows, index.episode, index.first, index.last)
    )
    return SharedDataset(
        data=ray.put(slim),
        index=ray.put(index),
        nbytes=nbytes,
        obs_dim=slim.obs_dim,
        num_transitions=len(index.rows),
        provenance=provenance,
    )


@dataclass(frozen=True)
class WorkerInfo:
    """Where a worker runs."""

    pid: int
    """Process id of the actor."""
    node: str
    """Host name of the actor's node."""
    device: str
    """Device label of its episodes (as in EpisodeRecord.device)."""
    num_threads: int
    """torch intra-op threads."""


class PoolResult(NamedTuple):
    """One finished spec."""

    spec_index: int
    """Position of the spec in the list given to `EpisodePool.run`."""
    record: EpisodeRecord
    node: str
    """Host name of the node the episode ran on."""
    worker_pid: int
    """Process id of the worker that played it."""
    attempts: int
    """Times the spec was started (1 unless a worker died under it)."""
    trajectory: EpisodeTrajectory | None = None
    """The episode's path and selections, when the pool was asked to record them."""


def threads_for(num_cpus: float) -> int:
    """torch threads for a CPU share: its whole cores, at least one."""
    return max(1, int(num_cpus))


class EpisodeWorker:
    """Hosts `EpisodeRunner`s (env, agent, pre-trained snapshot) for a shared dataset and plays specs."""

    def __init__(
        self,
        train: OfflineData,
        index: TransitionIndex,
        device: str = "cpu",
        num_threads: int = 1,
        provenance: DatasetProvenance | None = None,
        distance_cache: str | None = None,
        max_runners: int = 3,
        preload: str | None = None,
        compile: str = "auto",
        gpu_share: float | None = None,
    ):
        """`train` and `index` arrive as ObjectRefs that Ray resolves to zero-copy views.
        `distance_cache`: folder of the shared goal-distance tables (None: no sharing).
        `preload`: a checkpoint whose runner is built at once (so start-up errors show early).
        `gpu_share`: this worker's fraction of its GPU (None: what Ray assigned); a runner whose
        estimated memory exceeds that fraction of the GPU's memory is refused
        (`workers.gpu_share`)."""
        if num_threads < 1:
            raise UsageError(f"num_threads must be at least 1 (got {num_threads})")
        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise UsageError(
                "this worker was given a GPU share but torch sees no CUDA device (a CPU-only torch "
                "build, or no GPU on this node); install a CUDA build of torch or pass gpus_per_worker=0"
            )
        torch.set_num_threads(num_threads)
        self.train = train
        self.index = index
        self.device = device
        self.provenance = provenance
        self.cache = DistanceCache(distance_cache) if distance_cache else None
        self.max_runners = max_runners
        self.compile = compile
        self.gpu_share = gpu_share
        self.runners: OrderedDict[str, EpisodeRunner] = OrderedDict()
        if preload:
            self.runner(preload)

    def runner(self, checkpoint: str) -> EpisodeRunner:
        """The runner of `checkpoint`, built on first use; the least recently used is dropped."""
        if checkpoint in self.runners:
            self.runners.move_to_end(checkpoint)
            return self.runners[checkpoint]
        if torch.device(self.device).type == "cuda":
            self.check_gpu_share(checkpoint)
        runner = EpisodeRunner(
            checkpoint,
            self.train,
            device=self.device,
            index=self.index,
            provenance=self.provenance,
            distance_cache=self.cache,
            compile=self.compile,
        )
        self.runners[checkpoint] = runner
        while len(self.runners) > self.max_runners:
            self.runners.popitem(last=False)
        return runner

    def check_gpu_share(self, checkpoint: str) -> None:
        """Refuse a checkpoint whose runner would not fit this worker's share of its GPU."""
        from gcttt.files.checkpoint import read_checkpoint
        from workers.gpu_share import assigned_gpu_share, check_share_fits, estimate_for_checkpoint

        state = read_checkpoint(checkpoint)["agent"]
        need = estimate_for_checkpoint(state, rows=len(self.train.observations), transitions=len(self.index.rows))
        share = self.gpu_share if self.gpu_share is not None else assigned_gpu_share()
        check_share_fits(need, share, torch.cuda.get_device_properties(torch.device(self.device)).total_memory)

    def ready(self) -> WorkerInfo:
        """Returns once constructed; says where the worker runs."""
        from gcttt.files.provenance import device_name

        return WorkerInfo(
            pid=os.getpid(),
            node=socket.gethostname(),
            device=device_name(torch.device(self.device)),
            num_threads=torch.get_num_threads(),
        )

    def prepare(self, checkpoint: str) -> None:
        """Build the runner of `checkpoint` now (start-up work before the first episode)."""
        self.runner(checkpoint)

    def run(self, checkpoint: str, spec: EpisodeSpec) -> EpisodeRecord:
        """Play one episode with `checkpoint`."""
        return self.runner(checkpoint).run(spec)

    def run_traced(self, checkpoint: str, spec: EpisodeSpec) -> tuple[EpisodeRecord, EpisodeTrajectory]:
        """Play one episode and record its trajectory (gcttt.results.trajectories)."""
        return self.runner(checkpoint).run_traced(spec)

    def memory(self) -> dict[str, int]:
        """This process's memory in bytes: rss (resident, shared pages included), uss (pages only
        this process holds: what the worker costs), pss (rss with shared pages split evenly
        between the processes that map them), shared (resident pages backed by shared memory);
        on a GPU also cuda_max_allocated / cuda_max_reserved (this process's peaks) and the
        device's cuda_free / cuda_total (`workers.gpu_share.cuda_memory`)."""
        import psutil

        from workers.gpu_share import cuda_memory

        info = psutil.Process().memory_full_info()
        return {
            "rss": int(info.rss),
            "uss": int(info.uss),
            "pss": int(getattr(info, "pss", 0)),
            "shared": int(getattr(info, "shared", 0)),
            **cuda_memory(self.device),
        }

    def dataset_view(self) -> dict[str, Any]:
        """How this worker holds the dataset: whether its observations are a read-only view it
        does not own (Ray's shared object store) and whether the runner's tensor is that view."""
        obs = self.train.observations
        tensor = next(iter(self.runners.values())).data.observations
        return {
            "writeable": bool(obs.flags.writeable),
            "owns_data": bool(obs.flags.owndata),
            "nbytes": int(obs.nbytes + self.train.actions.nbytes),
            "tensor_shares_buffer": tensor.device.type == "cpu" and tensor.data_ptr() == obs.ctypes.data,
        }

    def touch_dataset(self) -> float:
        """Read every observation and action once (a sum), so that memory() counts the shared
        pages as resident; the benchmark calls it before measuring."""
        return float(self.train.observations.sum(dtype=np.float64) + self.train.actions.sum(dtype=np.float64))
