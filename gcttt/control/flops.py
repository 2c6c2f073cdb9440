"""Exact test-time FLOP accounting.

What is counted is what torch's FLOP counter (`torch.utils.flop_counter.FlopCounterMode`)
counts: the matrix products of the networks (forward and backward), i.e. the work of acting,
of the value passes of data selection and of the fine-tuning updates (of the full loss, or of
the actor's alone where test-time training updates only the actor). Element-wise work
(activations, LayerNorm, Adam, relevance masks) is not counted, as in the paper's accounting.

Counting under the FLOP counter on every call would slow the hot loops, so `CostModel`
measures each unit of work once (one action, one value evaluation, one update per batch
element) with the counter and multiplies by how often it happened. The units are exact:
matrix-product FLOPs are linear in the batch size (checked when measuring), and
`mlp_forward_flops` states the closed form that a test checks against the counter.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from gcttt.agents.base import Agent
from gcttt.data.sampler import GoalSampler

PROBE = 64
"""Batch size at which the units are measured."""


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs torch's counter attributes to one call of `fn`."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def mlp_forward_flops(batch: int, dims: Sequence[int]) -> int:
    """Closed form for an MLP's forward pass: 2 * batch * sum(in * out) over its layers."""
    return 2 * batch * sum(a * b for a, b in itertools.pairwise(dims))


@dataclass(frozen=True)
class CostModel:
    """FLOPs of the units of test-time work for one agent configuration."""

    act: int
    """One action (batch of one)."""
    value: int
    """One V(s, g) evaluation."""
    update_per_sample: int
    """One update of the full loss (every network's forward and backward, the target critic's
    forward) per element of its batch."""
    actor_update_per_sample: int = 0
    """One actor-only update (`Agent.actor_update`: the actor's forward and backward, plus the
    frozen passes its loss reads, e.g. GC-IQL's Q or SAW's V and sub-actor) per batch element."""

    def update_flops(self, batch_size: int, part: str = "all") -> int:
        """One update of `part` ('all' or 'actor', see `gcttt.agents.base.FINETUNE_PARTS`) at `batch_size`."""
        if part == "actor":
            return self.actor_update_per_sample * batch_size
        if part != "all":
            raise ValueError(f"unknown fine-tuning part {part!r}")
        return self.update_per_sample * batch_size

    @classmethod
    def measure(cls, agent: Agent, sampler: GoalSampler) -> CostModel:
        """Measure the units on `agent`; its state (weights, Adam, RNGs) is left as it was."""
        data = sampler.data
        probe = torch.arange(min(PROBE, data.num_transitions), device=data.device)
        obs, goals = data.obs(probe), data.obs(probe.flip(0))
        act = count_flops(lambda: agent.act(obs[:1], goals[:1]))
        value_total = count_flops(lambda: agent.value(obs, goals))
        if value_total % len(probe):
            raise AssertionError("value FLOPs are not linear in the batch size")
        snapshot = agent.snapshot()
        generator_states = sampler.generator.get_state(), agent.generator.get_state()
        batch = sampler.sample(PROBE)
        update = count_flops(lambda: agent.update(batch))
        agent.restore(snapshot)
        actor_update = count_flops(lambda: agent.actor_update(batch))
        agent.restore(snapshot)
        sampler.generator.set_state(generator_states[0])
        agent.generator.set_state(generator_states[1])
        if update % PROBE or actor_update % PROBE:
            raise AssertionError("update FLOPs are not linear in the batch size")
        return cls(
            act=act,
            value=value_total // len(probe),
            update_per_sample=update // PROBE,
            actor_update_per_sample=actor_update // PROBE,
        )
