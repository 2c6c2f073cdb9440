"""GC-BC as the paper uses it: GC-IQL's value learning with a pure behaviour-cloning actor.

The actor minimises -log pi(a | s, g) with goals drawn from future states of the same trajectory
on every dataset (stitch included: in the authors' configs the 0.5/0.5 stitch mix belongs to
GC-IQL and SAW only). V and Q are still trained beside it by the IQL losses, because data
selection at test time reads the value function. Discount 0.995 on giant mazes only; humanoid
mazes keep 0.99 for GC-BC (docs/method.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from gcttt.agents.base import Backbone, Metrics
from gcttt.agents.gciql import GCIQLAgent, maze_discount
from gcttt.agents.losses import gaussian_log_prob
from gcttt.data.sampler import ACTOR_GOALS, VALUE_GOALS, Batch, GoalMix
from gcttt.envs import DatasetInfo


@dataclass(frozen=True)
class GCBCConfig:
    """GC-BC hyperparameters; value learning as GC-IQL's, defaults OGBench's (docs/method.md §4)."""

    width: int = 512
    """Hidden units per layer, in every network."""
    depth: int = 3
    """Hidden layers per network."""
    lr: float = 3e-4
    """Adam learning rate."""
    batch_size: int = 1024
    """Transitions per update."""
    discount: float = 0.99
    """Discount factor (0.995 for giant mazes; 0.99 on humanoid mazes, as the authors' GC-BC)."""
    tau: float = 0.005
    """Target-network EMA rate."""
    expectile: float = 0.9
    """IQL expectile for V."""
    const_std: bool = True
    """Actor std fixed at 1 (True) or a learned state-independent vector."""
    layer_norm: bool = True
    """LayerNorm after every hidden layer of V and Q."""
    value_goals: GoalMix = field(default_factory=lambda: VALUE_GOALS)
    """Goal relabelling for V and Q."""
    actor_goals: GoalMix = field(default_factory=lambda: ACTOR_GOALS)
    """Goal relabelling for the actor: future states of the same trajectory on every dataset."""

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        return (self.width,) * self.depth


def dataset_overrides(info: DatasetInfo) -> dict[str, Any]:
    """GC-BC's per-dataset settings: only the discount changes (docs/method.md §4)."""
    return {"discount": maze_discount(info, humanoid_long=False)}


class GCBCAgent(GCIQLAgent):
    name = "gcbc"
    config: GCBCConfig
    # Its actor loss reads neither V nor Q, selection reads the pre-trained V and acting the actor
    # alone: a value or critic update at test time cannot change an action, so test-time training
    # updates the actor only (tests/test_finetune_part.py compares the rows both ways).
    actor_update_exact = True
    finetune_default = "actor"

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        mean, std = self.nets["actor"](torch.cat([batch.observations, batch.actor_goals], -1))
        loss = -gaussian_log_prob(mean, std, batch.actions).mean()
        return loss, {
            "actor/mse": ((mean - batch.actions) ** 2).mean().detach(),
            "actor/loss": loss.detach(),
        }


BACKBONE = Backbone("gcbc", GCBCAgent, GCBCConfig, dataset_overrides)
