"""SAW: subgoal-advantage-weighted policy bootstrapping (Zhou & Kao; docs/method.md §4).

- Value as in HIQL: two heads V(s, phi([s; g])) over a shared, length-normalised goal
  representation phi of dimension 10, fitted by expectile regression with double-DQN-style
  targets. The target value shares the ONLINE goal representation: only the two heads have an
  EMA copy (as in the authors' code).
- A sub-policy pi_sub(a | s, w) on waypoints w = s_{t+k}, trained by AWR with the one-step
  advantage V(s', w) - V(s, w).
- A flat actor pi(a | s, psi([s; g])) (its own goal representation psi) trained by AWR with
  advantage V(s', g) - V(s, g), plus the bootstrap term
  exp(beta * (V(w, g) - V(s, g))) * KL(pi_sub(. | s, w) || pi(. | s, g)), which with a fixed
  std is the squared distance of the two means (the sub-policy detached). Weights capped at 100.

Everything that sets a SAW run's hyperparameters is in this file: `SAWConfig` and
`dataset_overrides`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from gcttt.agents.base import Agent, Backbone, Metrics
from gcttt.agents.gciql import STITCH_ACTOR_GOALS, maze_discount
from gcttt.agents.losses import advantage_weights, expectile_loss, gaussian_log_prob
from gcttt.agents.networks import MLP, EnsembleMLP, GaussianActor, length_normalize, soft_update_
from gcttt.data.sampler import ACTOR_GOALS, VALUE_GOALS, Batch, GoalMix, SamplerConfig
from gcttt.envs import DatasetInfo


@dataclass(frozen=True)
class SAWConfig:
    """SAW hyperparameters; defaults from docs/method.md §4 and the SAW paper."""

    width: int = 512
    """Hidden units per layer, in every network."""
    depth: int = 3
    """Hidden layers per network."""
    lr: float = 3e-4
    """Adam learning rate."""
    batch_size: int = 1024
    """Transitions per update."""
    discount: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Target-network EMA rate."""
    expectile: float = 0.7
    """Value expectile (0.9 for cube-single)."""
    awr_temperature: float = 3.0
    """AWR temperature of the flat actor."""
    sub_temperature: float = 3.0
    """AWR temperature of the sub-policy."""
    beta: float = 3.0
    """Temperature of the bootstrap weight exp(beta * (V(w, g) - V(s, g))) (0.3 for cube-single)."""
    subgoal_steps: int = 25
    """Waypoint distance k (humanoid 100, manipulation 10)."""
    rep_dim: int = 10
    """Size of the goal representations."""
    const_std: bool = True
    """Actor stds fixed at 1; the KL term is then a squared distance of means."""
    layer_norm: bool = True
    """LayerNorm in the value and goal-representation networks."""
    value_goals: GoalMix = field(default_factory=lambda: VALUE_GOALS)
    """Goal relabelling for the value."""
    actor_goals: GoalMix = field(default_factory=lambda: ACTOR_GOALS)
    """Goal relabelling for the flat actor."""

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        return (self.width,) * self.depth


def dataset_overrides(info: DatasetInfo) -> dict[str, Any]:
    """SAW's per-dataset settings (docs/method.md §4)."""
    manipulation = not info.is_maze
    out: dict[str, Any] = {
        "discount": maze_discount(info),
        "subgoal_steps": 10 if manipulation else (100 if info.family == "humanoidmaze" else 25),
    }
    if info.family == "cube" and info.variant == "single":
        out.update(beta=0.3, expectile=0.9, actor_goals=STITCH_ACTOR_GOALS)
    if info.kind == "stitch":
        out["actor_goals"] = STITCH_ACTOR_GOALS
    return out


def value_heads(obs_dim: int, config: SAWConfig) -> EnsembleMLP:
    return EnsembleMLP(2, obs_dim + config.rep_dim, config.hidden_dims, layer_norm=config.layer_norm)


class GoalConditionedValue(nn.Module):
    """Two heads V(s, phi([s; g])) sharing one goal representation phi."""

    def __init__(self, obs_dim: int, config: SAWConfig):
        super().__init__()
        self.goal_rep = MLP(2 * obs_dim, config.hidden_dims, config.rep_dim, layer_norm=config.layer_norm)
        self.heads = value_heads(obs_dim, config)

    def forward(self, observations: torch.Tensor, goals: torch.Tensor, heads: nn.Module | None = None) -> torch.Tensor:
        """[2, B] values; `heads` replaces the online heads (the target heads share phi)."""
        phi = length_normalize(self.goal_rep(torch.cat([observations, goals], -1)))
        return (heads or self.heads)(torch.cat([observations, phi], -1))


class RepresentedActor(nn.Module):
    """pi(a | s, psi([s; g])) with its own goal representation psi."""

    def __init__(self, obs_dim: int, action_dim: int, config: SAWConfig):
        super().__init__()
        self.goal_rep = MLP(2 * obs_dim, config.hidden_dims, config.rep_dim, layer_norm=config.layer_norm)
        self.policy = GaussianActor(obs_dim + config.rep_dim, config.hidden_dims, action_dim, config.const_std)

    def forward(self, observations: torch.Tensor, goals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        psi = length_normalize(self.goal_rep(torch.cat([observations, goals], -1)))
        return self.policy(torch.cat([observations, psi], -1))


class SAWAgent(Agent):
    name = "saw"
    config: SAWConfig

    def build_networks(self) -> nn.ModuleDict:
        c, d, a = self.config, self.obs_dim, self.action_dim
        value = GoalConditionedValue(d, c)
        target_heads = value_heads(d, c)
        target_heads.load_state_dict(value.heads.state_dict())
        return nn.ModuleDict(
            {
                "value": value,
                "target_value_heads": target_heads,
                "actor": RepresentedActor(d, a, c),
                "sub_actor": GaussianActor(2 * d, c.hidden_dims, a, const_std=c.const_std),
            }
        )

    def sampler_config(self) -> SamplerConfig:
        c = self.config
        return SamplerConfig(
            batch_size=c.batch_size,
            discount=c.discount,
            value_goals=c.value_goals,
            actor_goals=c.actor_goals,
            subgoal_steps=c.subgoal_steps,
        )

    # --- losses ---------------------------------------------------------------------------------

    def value_loss(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        gamma = self.config.discount
        value, target_heads = self.nets["value"], self.nets["target_value_heads"]
        with torch.no_grad():
            next_v_t = value(batch.next_observations, batch.value_goals, heads=target_heads)  # [2, B]
            v_t = value(batch.observations, batch.value_goals, heads=target_heads).mean(0)
            adv = batch.rewards + gamma * batch.masks * next_v_t.min(0).values - v_t
            q = batch.rewards + gamma * batch.masks * next_v_t  # per head
        v = value(batch.observations, batch.value_goals)
        loss = expectile_loss(adv, q - v, self.config.expectile).mean(-1).sum()
        return loss, {"value/loss": loss.detach(), "value/v_mean": v.detach().mean()}

    def _advantage_weights(
        self,
        starts: torch.Tensor,
        ends: tuple[torch.Tensor, ...],
        goals: torch.Tensor,
        temperatures: tuple[float, ...],
    ) -> list[torch.Tensor]:
        """exp(temperature * (V(end, g) - V(start, g))) capped at 100, one value pass for all ends."""
        with torch.no_grad():
            n = len(ends) + 1
            v = self.nets["value"](torch.cat([starts, *ends]), goals.repeat(n, 1)).mean(0).view(n, -1)
            return [advantage_weights(v[i + 1] - v[0], temp) for i, temp in enumerate(temperatures)]

    def sub_actor_loss(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        (weight,) = self._advantage_weights(
            batch.observations, (batch.next_observations,), batch.subgoals, (self.config.sub_temperature,)
        )
        mean, std = self.nets["sub_actor"](torch.cat([batch.observations, batch.subgoals], -1))
        loss = -(weight * gaussian_log_prob(mean, std, batch.actions)).mean()
        return loss, {
            "sub_actor/loss": loss.detach(),
            "sub_actor/mse": ((mean - batch.actions) ** 2).mean().detach(),
        }

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        c = self.config
        awr_weight, boot_weight = self._advantage_weights(
            batch.observations,
            (batch.next_observations, batch.actor_waypoints),
            batch.actor_goals,
            (c.awr_temperature, c.beta),
        )
        mean, std = self.nets["actor"](batch.observations, batch.actor_goals)
        awr_loss = -(awr_weight * gaussian_log_prob(mean, std, batch.actions)).mean()
        with torch.no_grad():
            sub_mean, sub_std = self.nets["sub_actor"](torch.cat([batch.observations, batch.actor_waypoints], -1))
        if c.const_std:
            divergence = ((mean - sub_mean) ** 2).sum(-1)
        else:  # KL(pi_sub || pi) of diagonal Gaussians
            divergence = (torch.log(std / sub_std) + (sub_std**2 + (sub_mean - mean) ** 2) / (2 * std**2) - 0.5).sum(-1)
        boot_loss = (boot_weight * divergence).mean()
        return awr_loss + boot_loss, {
            "actor/awr_loss": awr_loss.detach(),
            "actor/bootstrap_loss": boot_loss.detach(),
            "actor/mse": ((mean - batch.actions) ** 2).mean().detach(),
        }

    def losses(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        value_loss, metrics = self.value_loss(batch)
        sub_loss, sub_metrics = self.sub_actor_loss(batch)
        actor_loss, actor_metrics = self.actor_loss(batch)
        return value_loss + sub_loss + actor_loss, {**metrics, **sub_metrics, **actor_metrics}

    def update_targets(self) -> None:
        soft_update_(self.nets["target_value_heads"], self.nets["value"].heads, self.config.tau)

    # --- inference ----------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        mean, _ = self.nets["actor"](observations, goals)
        return mean.clamp(-1.0, 1.0)

    @torch.no_grad()
    def value(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        return self.nets["value"](observations, goals).mean(0)


BACKBONE = Backbone("saw", SAWAgent, SAWConfig, dataset_overrides)
