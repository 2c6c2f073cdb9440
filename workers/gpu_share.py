"""Several episode workers on one GPU: how much memory one needs, and a refusal when a share is too small.

Ray hands a worker a fraction of a GPU (`num_gpus=0.25`: four workers per GPU) but enforces no
memory limit: sixteen workers that each need 10 GiB on an 80 GiB GPU fail one by one with CUDA
out-of-memory errors halfway through a sweep. So before a worker builds its runner on a GPU it
estimates what it will hold (`estimate_worker_bytes`: the dataset and the selection's arrays on
the device, the networks with their targets, gradients, Adam moments and the pre-trained
snapshot, one update's activations twice over for the graph's private pool, and the CUDA
context) and refuses, with the share that would fit, when that exceeds its share of the GPU's
memory (`check_share_fits`). The estimate is deliberately simple; `bench/gpu_check.py` measures
the real `torch.cuda.max_memory_allocated` of workers beside it, which is what to calibrate
`ACTIVATION_FACTOR` and `CUDA_CONTEXT_BYTES` against once a GPU has run the check.

`cuda_memory()` is what a worker reports (`EpisodeWorker.memory()`): peak allocated and reserved
bytes of its process, and the device's free and total memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gcttt.errors import UsageError

GIB = 1024**3

CUDA_CONTEXT_BYTES = 600 * 1024**2
"""A process's CUDA context and the kernels torch loads (not counted by max_memory_allocated):
roughly 0.3-0.6 GiB on recent GPUs; the larger value until a measurement says otherwise."""

ACTIVATION_FACTOR = 48
"""Saved activations per update, in units of batch x width x depth floats: about a dozen MLP
passes (value, two critic heads, target, actor, the frozen critic of DDPG+BC; SAW's five) keeping
~4 tensors per layer (pre-activation, GELU, LayerNorm, gradient)."""

BYTES_PER_PARAMETER = 4 * 8
"""float32 weights, target copy (bound), gradient, two Adam moments, and the pre-trained snapshot
of weights and moments: 8 floats per trained parameter."""


@dataclass(frozen=True)
class WorkerMemory:
    """An estimate of one episode worker's GPU memory, in bytes, by part."""

    dataset: int
    model: int
    activations: int
    context: int

    @property
    def total(self) -> int:
        return self.dataset + self.model + self.activations + self.context

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v / GIB:.2f}" for k, v in self.__dict__.items())
        return f"{self.total / GIB:.2f} GiB ({parts})"


def estimate_worker_bytes(
    parameters: int,
    width: int,
    depth: int,
    batch_size: int,
    rows: int,
    transitions: int,
    obs_dim: int,
    action_dim: int,
    relevance_dims: int = 2,
) -> WorkerMemory:
    """What one worker holds on its GPU: see the module docstring for each part."""
    # Observations and actions by row; per transition the index's rows, episode and episode end
    # (int64), the selection buffer of the graph path (int64), and the selection's relevance
    # coordinates and goal distances (float32); per row the selection's positions.
    dataset = rows * (obs_dim + action_dim) * 4 + transitions * (4 * 8 + 4 * (relevance_dims + 1)) + rows * 12
    model = parameters * BYTES_PER_PARAMETER
    activations = 2 * ACTIVATION_FACTOR * batch_size * width * depth * 4  # eager warm-up + graph pool
    return WorkerMemory(dataset=dataset, model=model, activations=activations, context=CUDA_CONTEXT_BYTES)


def estimate_for_checkpoint(
    state: dict, rows: int, transitions: int, batch_size: int | None = None, relevance_dims: int = 2
) -> WorkerMemory:
    """`estimate_worker_bytes` for an agent `state_dict()` (a checkpoint's ``agent`` entry)."""
    config = state["config"]
    parameters = sum(v.numel() for k, v in state["nets"].items() if not k.startswith("target_"))
    return estimate_worker_bytes(
        parameters=parameters,
        width=int(config["width"]),
        depth=int(config["depth"]),
        batch_size=int(batch_size or config["batch_size"]),
        rows=rows,
        transitions=transitions,
        obs_dim=int(state["obs_dim"]),
        action_dim=int(state["action_dim"]),
        relevance_dims=relevance_dims,
    )


def workers_that_fit(need_bytes: int, total_bytes: int) -> int:
    """How many workers of `need_bytes` one GPU of `total_bytes` holds."""
    return max(0, math.floor(total_bytes / max(need_bytes, 1)))


def check_share_fits(need: WorkerMemory, share: float, total_bytes: int) -> None:
    """Refuse (one line, with the fix) a GPU share whose memory is smaller than a worker needs."""
    if not 0 < share <= 1:
        raise UsageError(f"a GPU share must lie in (0, 1] (got {share})")
    room = share * total_bytes
    if need.total <= room:
        return
    fit = workers_that_fit(need.total, total_bytes)
    if fit == 0:
        raise UsageError(
            f"an episode worker needs about {need.describe()} of GPU memory but the whole GPU has "
            f"{total_bytes / GIB:.1f} GiB; use a smaller model or batch, or run the workers on CPUs "
            "(--gpus-per-worker 0)"
        )
    raise UsageError(
        f"{round(1 / share)} workers per GPU do not fit: each needs about {need.describe()} but a "
        f"{share:g} share of this {total_bytes / GIB:.1f} GiB GPU is {room / GIB:.2f} GiB; use "
        f"--gpus-per-worker {1 / fit:.4g} (at most {fit} workers per GPU) or fewer workers"
    )


def assigned_gpu_share() -> float:
    """This process's GPU share as Ray assigned it (1.0 outside a Ray worker or without a GPU key)."""
    try:
        import ray

        if not ray.is_initialized():
            return 1.0
        share = float(ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0))
    except Exception:  # Ray absent, or not a worker process
        return 1.0
    return share if share > 0 else 1.0


def cuda_memory(device: str | torch.device = "cuda") -> dict[str, int]:
    """Peak allocated/reserved bytes of this process on `device` and the device's free/total bytes
    ({} without CUDA)."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return {}
    free, total = torch.cuda.mem_get_info(device)
    return {
        "cuda_max_allocated": int(torch.cuda.max_memory_allocated(device)),
        "cuda_max_reserved": int(torch.cuda.max_memory_reserved(device)),
        "cuda_free": int(free),
        "cuda_total": int(total),
    }
