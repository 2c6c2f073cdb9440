"""Updates as a captured CUDA graph: the GPU path of pre-training and of test-time fine-tuning.

On a GPU one update of these small networks is dozens of short kernels, so launch overhead, not
arithmetic, sets the speed. `GraphedUpdates` captures one whole update (batch sampling with the
indices drawn on the device, the backbone's losses, backward, Adam, target EMA) into a CUDA graph
once and replays it: N fine-tuning updates of a re-plan are N replays, with no Python and no host
sync between them.

What makes the update capturable, and how each part is kept graph-safe:
- Inputs live in static buffers: the selection's transition indices are copied into a buffer as
  large as the dataset (`StaticSubset`; the count is a device tensor, so a selection of any size
  reuses the graph) and g* into a goal buffer. `GoalSampler.sample_from_buffer` draws the batch
  indices on the device from those buffers (uniform, like `sample_from`, but through a different
  random draw: graph updates are not bit-identical to eager CUDA updates).
- Randomness: the sampler's and the agent's `torch.Generator`s are registered with the graph
  (`CUDAGraph.register_generator_state`), so every replay advances their Philox offsets and
  re-seeding them (each episode does) changes the draws of later replays.
- Adam: the optimizer's state (step, moments) exists before capture and is never reallocated;
  during capture its groups are `capturable` and their learning rate is a device tensor, which
  `sync_lr` refreshes from the group's float before replays (so `Agent.set_lr` stays the one way
  to set it and checkpoints keep plain floats).
- The reset before each re-plan copies in place (`Agent.restore` does for trained state;
  `restore_in_place` also covers a snapshot without Adam state); `bind` re-installs the captured
  tensors if anything replaced them (a `load_state_dict`).

Eager stays the CPU path and the fallback: `resolve_update_mode('auto', device)` is 'graph' on
CUDA and 'eager' on the CPU, and a capture that fails warns once and runs the same updates eagerly.
With `capture=False` the class runs its static-buffer step directly, which lets the CPU tests
cover everything but the capture itself.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

from gcttt.agents.base import Agent, Metrics
from gcttt.data.sampler import GoalSampler
from gcttt.errors import UsageError

UPDATE_MODES = ("auto", "eager", "compiled", "graph")
"""How updates run: eager PyTorch, `torch.compile`d losses, a captured CUDA graph, or auto
(graph on CUDA, eager on the CPU)."""

WARM_UP_STEPS = 3
"""Eager updates on a side stream before capture (cuBLAS handles, autograd's streams, Adam state)."""


def resolve_update_mode(mode: str, device: str | torch.device) -> str:
    """eager, compiled or graph for `mode` on `device`; refuses a graph on a device without CUDA."""
    if mode not in UPDATE_MODES:
        raise UsageError(f"update mode must be one of {', '.join(UPDATE_MODES)} (got {mode!r})")
    cuda = torch.device(device).type == "cuda"
    if mode == "auto":
        return "graph" if cuda else "eager"
    if mode == "graph" and not cuda:
        raise UsageError("--update-mode graph needs a CUDA device; use --update-mode auto or eager on the CPU")
    return mode


def update_mode_from_compile(compile: str) -> str:
    """The update mode of the older `--compile auto|on|off` switch (auto: the device's default)."""
    modes = {"auto": "auto", "on": "compiled", "off": "eager"}
    if compile not in modes:
        raise UsageError(f"compile must be one of {', '.join(modes)} (got {compile!r})")
    return modes[compile]


class StaticSubset:
    """Transition indices in a fixed buffer: `indices[:count]` is the current selection."""

    def __init__(self, capacity: int, device: torch.device):
        if capacity < 1:
            raise ValueError(f"a subset buffer needs room for at least one index (got {capacity})")
        self.indices = torch.zeros(capacity, dtype=torch.long, device=device)
        self.count = torch.ones((), dtype=torch.long, device=device)

    def load_(self, indices: torch.Tensor) -> None:
        """Copy a selection in (no reallocation); its size is set on the device."""
        k = len(indices)
        if not 0 < k <= len(self.indices):
            raise ValueError(f"a selection of {k} transitions does not fit a buffer of {len(self.indices)}")
        self.indices[:k].copy_(indices)
        self.count.fill_(k)


def optimizer_tensors(agent: Agent) -> list[dict[str, torch.Tensor]]:
    """Adam's state of every trained parameter (created as zeros, step 0, where missing)."""
    optimizer = agent.optimizer
    out = []
    for group in optimizer.param_groups:
        fused_or_capturable = bool(group.get("fused")) or bool(group.get("capturable"))
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state:
                step_device = p.device if fused_or_capturable or p.device.type == "cuda" else "cpu"
                state = {
                    "step": torch.zeros((), dtype=torch.float32, device=step_device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
                optimizer.state[p] = state
            out.append(state)
    return out


@torch.no_grad()
def restore_in_place(agent: Agent, snapshot: dict[str, Any]) -> None:
    """`Agent.restore` that never reallocates: a parameter without saved Adam state gets zero
    moments and step 0 (a fresh Adam state) in its existing tensors."""
    current = agent.nets.state_dict()
    torch._foreach_copy_([current[k] for k in snapshot["nets"]], list(snapshot["nets"].values()))
    states = optimizer_tensors(agent)
    for state, saved in zip(states, snapshot["optimizer"], strict=True):
        if not saved:
            for v in state.values():
                v.zero_()
            continue
        if state.keys() != saved.keys():
            raise ValueError(f"Adam state keys differ: {sorted(state)} vs {sorted(saved)}")
        for k, v in saved.items():
            state[k].copy_(v)
    agent.steps = snapshot["steps"]


class _Captured:
    """One captured step: its graph (None when run directly) and its static outputs."""

    def __init__(self, step: Callable[[], Metrics]):
        self.step = step
        self.graph: Any = None
        self.metrics: Metrics = {}
        self.lr: torch.Tensor | None = None
        self.lr_value: float | None = None


class GraphedUpdates:
    """Pre-training and fine-tuning updates of one agent and sampler as captured CUDA graphs.

    `pretrain_step()` runs one update on a batch of the whole dataset; `finetune(indices, goal,
    steps, batch_size)` runs the N updates of a re-plan on batches from `indices` with every actor
    goal set to `goal`. Graphs are captured on first use (one per fine-tuning batch size and part).
    Returned metrics are the graph's static outputs: read them before the next update.
    """

    mode = "graph"

    def __init__(self, agent: Agent, sampler: GoalSampler, capture: bool | None = None):
        if sampler.data.device != agent.device:
            raise ValueError(f"sampler data on {sampler.data.device} but agent on {agent.device}")
        self.agent = agent
        self.sampler = sampler
        self.capture = agent.device.type == "cuda" if capture is None else capture
        if self.capture and agent.device.type != "cuda":
            raise UsageError("capturing a CUDA graph needs an agent on a CUDA device")
        self.failed: str | None = None
        """Why capture failed (the updates then run eagerly), or None."""
        self.subset = StaticSubset(sampler.data.num_transitions, agent.device)
        self.goal = torch.zeros(1, sampler.data.obs_dim, device=agent.device)
        self._pretrain: _Captured | None = None
        self._finetune: dict[tuple[int, str], _Captured] = {}
        self._bound: list[dict[str, torch.Tensor]] = []
        self.capture_seconds = 0.0

    # --- the steps that are captured ------------------------------------------------------------

    def _pretrain_batch_step(self) -> Metrics:
        return self.agent.update(self.sampler.sample())

    def _finetune_step(self, batch_size: int, part: str) -> Callable[[], Metrics]:
        update = self.agent.updater(part)

        def step() -> Metrics:
            batch = self.sampler.sample_from_buffer(
                self.subset.indices, self.subset.count, actor_goal=self.goal, batch_size=batch_size
            )
            return update(batch)

        return step

    # --- public interface -------------------------------------------------------------------

    def pretrain_step(self) -> Metrics:
        """One pre-training update (a batch of the whole dataset)."""
        if self.failed:
            return self._pretrain_batch_step()
        if self._pretrain is None:
            self._pretrain = self._build(self._pretrain_batch_step)
            if self.failed:
                return self._pretrain_batch_step()
        return self._run(self._pretrain, 1)

    def finetune(
        self, indices: torch.Tensor, goal: torch.Tensor, steps: int, batch_size: int, part: str = "all"
    ) -> Metrics:
        """`steps` fine-tuning updates of `part` ('all' or 'actor', see `Agent.updater`) on
        batches drawn from `indices`, actor goals set to `goal`."""
        if steps <= 0:
            return {}
        if self.failed:
            return self._eager_finetune(indices, goal, steps, batch_size, part)
        self.subset.load_(indices)
        self.goal.copy_(goal.reshape(1, -1))
        captured = self._finetune.get((batch_size, part))
        if captured is None:
            captured = self._finetune[batch_size, part] = self._build(self._finetune_step(batch_size, part))
            if self.failed:
                return self._eager_finetune(indices, goal, steps, batch_size, part)
        return self._run(captured, steps)

    def _eager_finetune(
        self, indices: torch.Tensor, goal: torch.Tensor, steps: int, batch_size: int, part: str
    ) -> Metrics:
        update = self.agent.updater(part)
        metrics: Metrics = {}
        for _ in range(steps):
            metrics = update(self.sampler.sample_from(indices, actor_goal=goal, batch_size=batch_size))
        return metrics

    # --- machinery --------------------------------------------------------------------------

    def bind(self) -> None:
        """Make Adam's state the captured tensors again if something replaced them (values kept)."""
        if not self._bound:
            return
        optimizer = self.agent.optimizer
        params = [p for g in optimizer.param_groups for p in g["params"]]
        with torch.no_grad():
            for p, captured in zip(params, self._bound, strict=True):
                state = optimizer.state.get(p)
                if state is captured:
                    continue
                if not state:
                    for v in captured.values():
                        v.zero_()
                else:
                    for k, v in captured.items():
                        if state[k] is not v:
                            v.copy_(state[k])
                optimizer.state[p] = captured

    def sync_lr(self, captured: _Captured) -> None:
        """Refresh the graph's device learning rate from the optimizer group's float."""
        lr = float(self.agent.optimizer.param_groups[0]["lr"])
        if captured.lr is not None and captured.lr_value != lr:
            captured.lr.fill_(lr)
            captured.lr_value = lr

    def _run(self, captured: _Captured, steps: int) -> Metrics:
        if captured.graph is None:  # capture=False: the same static-buffer step, run directly
            metrics: Metrics = {}
            for _ in range(steps):
                metrics = captured.step()
            return metrics
        self.bind()
        self.sync_lr(captured)
        for _ in range(steps):
            captured.graph.replay()
        self.agent.steps += steps
        return captured.metrics

    def _generators(self) -> list[torch.Generator]:
        gens = [self.sampler.generator]
        if self.agent.generator is not self.sampler.generator:
            gens.append(self.agent.generator)
        return gens

    def _build(self, step: Callable[[], Metrics]) -> _Captured:
        captured = _Captured(step)
        if not self.capture:
            return captured
        started = time.perf_counter()
        agent = self.agent
        saved = agent.snapshot()
        generators = self._generators()
        rng = [g.get_state() for g in generators]
        groups = agent.optimizer.param_groups
        saved_groups = [(g["lr"], g.get("capturable", False)) for g in groups]
        try:
            self._capture(captured, step, generators)
        except Exception as exc:  # capture fails in many ways (unsupported op, driver, memory)
            self.failed = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            warnings.warn(f"CUDA graph capture failed ({self.failed}); using eager updates", stacklevel=3)
            captured.graph = None
        finally:
            for g, (lr, capturable) in zip(groups, saved_groups, strict=True):
                g["lr"], g["capturable"] = lr, capturable
            if torch.cuda.is_available():
                with contextlib.suppress(RuntimeError):
                    torch.cuda.synchronize(agent.device)
            if self.failed:
                agent.restore(saved)
            else:
                restore_in_place(agent, saved)
            for g, state in zip(generators, rng, strict=True):
                g.set_state(state)
        self.capture_seconds += time.perf_counter() - started
        return captured

    def _capture(self, captured: _Captured, step: Callable[[], Metrics], generators: list[torch.Generator]) -> None:
        agent = self.agent
        self._bound = optimizer_tensors(agent)
        side = torch.cuda.Stream(agent.device)
        side.wait_stream(torch.cuda.current_stream(agent.device))
        with torch.cuda.stream(side):
            for _ in range(WARM_UP_STEPS):
                step()
        torch.cuda.current_stream(agent.device).wait_stream(side)
        self._bound = optimizer_tensors(agent)
        lr = float(agent.optimizer.param_groups[0]["lr"])
        captured.lr = torch.tensor(lr, dtype=torch.float32, device=agent.device)
        captured.lr_value = lr
        for g in agent.optimizer.param_groups:
            g["lr"], g["capturable"] = captured.lr, True
        graph = torch.cuda.CUDAGraph()
        for gen in generators:
            graph.register_generator_state(gen)
        agent.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            captured.metrics = step()
        captured.graph = graph
