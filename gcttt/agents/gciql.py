"""GC-IQL: goal-conditioned implicit Q-learning (docs/method.md §4, OGBench's gciql).

V(s, g) is fitted by expectile regression towards the minimum of the two target Q heads; the Q
heads regress r + gamma * mask * V(s', g). The actor is DDPG+BC by default
(-Q(s, pi(s, g), g) / mean|Q| - alpha * log pi(a | s, g)) or AWR. GC-BC (gcbc.py) reuses the
value learning with a behaviour-cloning actor.

Everything that sets a GC-IQL run's hyperparameters is in this file: `GCIQLConfig` (OGBench's
defaults) and `dataset_overrides` (what changes per dataset).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from gcttt.agents.base import Agent, Backbone, Metrics, frozen_call
from gcttt.agents.losses import advantage_weights, ddpgbc_actor_loss, expectile_loss, gaussian_log_prob
from gcttt.agents.networks import MLP, EnsembleMLP, GaussianActor, soft_update_
from gcttt.data.sampler import ACTOR_GOALS, VALUE_GOALS, Batch, GoalMix, SamplerConfig
from gcttt.envs import DatasetInfo

STITCH_ACTOR_GOALS = GoalMix(p_current=0.0, p_future=0.5, p_random=0.5)
"""Actor goals on stitch datasets: half from the same trajectory, half random (docs/method.md §4)."""


def maze_discount(info: DatasetInfo, humanoid_long: bool = True) -> float:
    """0.995 on giant mazes (and humanoid mazes when `humanoid_long`), else 0.99 (docs/method.md §4)."""
    long_horizon = info.is_giant_maze or (humanoid_long and info.family == "humanoidmaze")
    return 0.995 if long_horizon else 0.99


@dataclass(frozen=True)
class GCIQLConfig:
    """GC-IQL hyperparameters; defaults are OGBench's (docs/method.md §4)."""

    width: int = 512
    """Hidden units per layer, in every network."""
    depth: int = 3
    """Hidden layers per network."""
    lr: float = 3e-4
    """Adam learning rate."""
    batch_size: int = 1024
    """Transitions per update."""
    discount: float = 0.99
    """Discount factor (0.995 for giant and humanoid mazes)."""
    tau: float = 0.005
    """Target-network EMA rate."""
    expectile: float = 0.9
    """IQL expectile for V."""
    actor_loss: Literal["ddpgbc", "awr"] = "ddpgbc"
    """Actor objective: DDPG+BC or AWR."""
    alpha: float = 0.3
    """BC coefficient of DDPG+BC, or the AWR temperature."""
    const_std: bool = True
    """Actor std fixed at 1 (True) or a learned state-independent vector."""
    layer_norm: bool = True
    """LayerNorm after every hidden layer of V and Q."""
    value_goals: GoalMix = field(default_factory=lambda: VALUE_GOALS)
    """Goal relabelling for V and Q."""
    actor_goals: GoalMix = field(default_factory=lambda: ACTOR_GOALS)
    """Goal relabelling for the actor."""

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        return (self.width,) * self.depth


def dataset_overrides(info: DatasetInfo) -> dict[str, Any]:
    """GC-IQL's per-dataset settings (docs/method.md §4)."""
    out: dict[str, Any] = {
        "discount": maze_discount(info),
        "alpha": {"pointmaze": 0.003, "antmaze": 0.3, "humanoidmaze": 0.1}.get(info.family, 1.0),
    }
    if info.kind == "stitch":
        out["actor_goals"] = STITCH_ACTOR_GOALS
    return out


class GCIQLAgent(Agent):
    name = "gciql"
    config: GCIQLConfig

    def build_networks(self) -> nn.ModuleDict:
        c, d, a = self.config, self.obs_dim, self.action_dim
        critic = EnsembleMLP(2, 2 * d + a, c.hidden_dims, layer_norm=c.layer_norm)
        target_critic = EnsembleMLP(2, 2 * d + a, c.hidden_dims, layer_norm=c.layer_norm)
        target_critic.load_state_dict(critic.state_dict())
        return nn.ModuleDict(
            {
                "value": MLP(2 * d, c.hidden_dims, 1, layer_norm=c.layer_norm),
                "critic": critic,
                "target_critic": target_critic,
                "actor": GaussianActor(2 * d, c.hidden_dims, a, const_std=c.const_std),
            }
        )

    def sampler_config(self) -> SamplerConfig:
        c = self.config
        return SamplerConfig(
            batch_size=c.batch_size, discount=c.discount, value_goals=c.value_goals, actor_goals=c.actor_goals
        )

    # --- losses ---------------------------------------------------------------------------------

    def value_loss(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        with torch.no_grad():
            q = (
                self.nets["target_critic"](torch.cat([batch.observations, batch.value_goals, batch.actions], -1))
                .min(0)
                .values
            )
        v = self.nets["value"](torch.cat([batch.observations, batch.value_goals], -1)).squeeze(-1)
        loss = expectile_loss(q - v, q - v, self.config.expectile).mean()
        return loss, {"value/loss": loss.detach(), "value/v_mean": v.detach().mean()}

    def critic_loss(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        with torch.no_grad():
            next_v = self.nets["value"](torch.cat([batch.next_observations, batch.value_goals], -1)).squeeze(-1)
            target = batch.rewards + self.config.discount * batch.masks * next_v
        q = self.nets["critic"](torch.cat([batch.observations, batch.value_goals, batch.actions], -1))
        loss = ((q - target) ** 2).sum(0).mean()
        return loss, {"critic/loss": loss.detach(), "critic/q_mean": q.detach().mean()}

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        c = self.config
        sg = torch.cat([batch.observations, batch.actor_goals], -1)
        mean, std = self.nets["actor"](sg)
        log_prob = gaussian_log_prob(mean, std, batch.actions)
        metrics: Metrics = {"actor/mse": ((mean - batch.actions) ** 2).mean().detach()}
        if c.actor_loss == "awr":
            with torch.no_grad():
                v = self.nets["value"](sg).squeeze(-1)
                q = self.nets["critic"](torch.cat([sg, batch.actions], -1)).min(0).values
                weight = advantage_weights(q - v, c.alpha)
            loss = -(weight * log_prob).mean()
            metrics["actor/adv"] = (q - v).mean()
        else:  # ddpgbc
            # With a constant std the policy's action is its mean; a learned std samples.
            pi_action = mean if c.const_std else mean + std * self.noise_like(mean)
            q = frozen_call(self.nets["critic"], torch.cat([sg, pi_action.clamp(-1.0, 1.0)], -1)).min(0).values
            q_loss, bc_loss = ddpgbc_actor_loss(q, log_prob, c.alpha)
            loss = q_loss + bc_loss
            metrics.update({"actor/q_loss": q_loss.detach(), "actor/bc_loss": bc_loss.detach()})
        metrics["actor/loss"] = loss.detach()
        return loss, metrics

    def losses(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        value_loss, metrics = self.value_loss(batch)
        critic_loss, critic_metrics = self.critic_loss(batch)
        actor_loss, actor_metrics = self.actor_loss(batch)
        return value_loss + critic_loss + actor_loss, {**metrics, **critic_metrics, **actor_metrics}

    def update_targets(self) -> None:
        soft_update_(self.nets["target_critic"], self.nets["critic"], self.config.tau)

    # --- inference ----------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        mean, _ = self.nets["actor"](torch.cat([observations, goals], -1))
        return mean.clamp(-1.0, 1.0)

    @torch.no_grad()
    def value(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        return self.nets["value"](torch.cat([observations, goals], -1)).squeeze(-1)


BACKBONE = Backbone("gciql", GCIQLAgent, GCIQLConfig, dataset_overrides)
