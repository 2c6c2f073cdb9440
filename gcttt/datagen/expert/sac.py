"""Soft actor-critic as OGBench trains its locomotion experts (docs/method.md §2), in PyTorch.

- Actor: MLP 256x256 (GELU) to a tanh-squashed Gaussian with a state-dependent std; both
  output layers initialised at scale 0.01; log-std clipped to [-5, 2].
- Critic: two Q heads, 256x256, GELU, no LayerNorm; the target is the minimum of two target
  heads, which follow by EMA (tau 0.005).
- Entropy coefficient alpha = exp(log_alpha), learned towards a target entropy of
  -0.5 x action_dim, starting at 1.
- One Adam (lr 1e-4) over actor, critic and log_alpha on the summed losses; the actor's loss
  sees the critic as a constant (gradients reach the actions only), the critic's target and the
  actor's loss see alpha as a constant.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from gcttt.agents.base import frozen_call, make_adam
from gcttt.agents.networks import MLP, EnsembleMLP, soft_update_, xavier_uniform_


@dataclass(frozen=True)
class SACConfig:
    """OGBench's SAC settings for the ant expert (impls/agents/sac.py)."""

    hidden: tuple[int, ...] = (256, 256)
    """Hidden layers of actor and critic."""
    lr: float = 1e-4
    """Adam learning rate (one optimizer for everything)."""
    batch_size: int = 256
    """Replay transitions per update."""
    discount: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Target-critic EMA rate."""
    target_entropy_per_dim: float = -0.5
    """Target entropy per action dimension."""
    init_alpha: float = 1.0
    """Initial entropy coefficient."""
    log_std_min: float = -5.0
    """Lower clip of the actor's log-std."""
    log_std_max: float = 2.0
    """Upper clip of the actor's log-std."""
    final_init_scale: float = 0.01
    """Init scale of the actor's mean and log-std layers."""


def tanh_log_det(u: torch.Tensor) -> torch.Tensor:
    """log(1 - tanh(u)^2) summed over the last axis, in the overflow-free form 2(log 2 - u - softplus(-2u))."""
    return (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)


class TanhGaussianActor(nn.Module):
    """pi(a | s) = tanh(N(mean(s), std(s)))."""

    def __init__(self, obs_dim: int, action_dim: int, config: SACConfig):
        super().__init__()
        self.trunk = MLP(obs_dim, config.hidden, activate_final=True)
        self.mean = nn.Linear(self.trunk.out_dim, action_dim)
        self.log_std = nn.Linear(self.trunk.out_dim, action_dim)
        for layer in (self.mean, self.log_std):
            xavier_uniform_(layer.weight, self.trunk.out_dim, action_dim, scale=config.final_init_scale)
            nn.init.zeros_(layer.bias)
        self.log_std_range = (config.log_std_min, config.log_std_max)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std of the Gaussian before the tanh."""
        h = self.trunk(obs)
        return self.mean(h), self.log_std(h).clamp(*self.log_std_range)

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action and its log-probability (tanh correction included)."""
        mean, log_std = self(obs)
        std = log_std.exp()
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        u = mean + std * noise
        log_prob = (-0.5 * noise**2 - log_std - 0.5 * math.log(2.0 * math.pi)).sum(-1) - tanh_log_det(u)
        return torch.tanh(u), log_prob

    @torch.no_grad()
    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The mode: tanh(mean)."""
        return torch.tanh(self(obs)[0])


class SACAgent:
    """Actor, twin critics with targets, entropy coefficient and their one Adam."""

    def __init__(self, obs_dim: int, action_dim: int, config: SACConfig = SACConfig(), seed: int = 0, device="cpu"):
        self.config = config
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.device = torch.device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor = TanhGaussianActor(obs_dim, action_dim, config).to(self.device)
            self.critic = EnsembleMLP(2, obs_dim + action_dim, config.hidden, layer_norm=False).to(self.device)
            self.target_critic = EnsembleMLP(2, obs_dim + action_dim, config.hidden, layer_norm=False).to(self.device)
        self.target_critic.load_state_dict(self.critic.state_dict())
        self.target_critic.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.init_alpha), device=self.device))
        self.target_entropy = config.target_entropy_per_dim * action_dim
        params = [*self.actor.parameters(), *self.critic.parameters(), self.log_alpha]
        self.optimizer = make_adam(params, config.lr)
        self.generator = torch.Generator(self.device).manual_seed(seed + 1)
        self.updates = 0

    def update(self, obs, actions, rewards, masks, next_obs) -> dict[str, torch.Tensor]:
        """One gradient step on critic + actor + alpha losses, then the target EMA."""
        c = self.config
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            next_actions, next_log_prob = self.actor.sample(next_obs, self.generator)
            next_q = self.target_critic(torch.cat([next_obs, next_actions], -1)).min(0).values
            target = rewards + c.discount * masks * (next_q - alpha * next_log_prob)
        q = self.critic(torch.cat([obs, actions], -1))
        critic_loss = ((q - target) ** 2).mean()

        new_actions, log_prob = self.actor.sample(obs, self.generator)
        q_pi = frozen_call(self.critic, torch.cat([obs, new_actions], -1)).min(0).values
        actor_loss = (alpha * log_prob - q_pi).mean()
        entropy = -log_prob.detach().mean()
        alpha_loss = self.log_alpha.exp() * (entropy - self.target_entropy)

        self.optimizer.zero_grad(set_to_none=True)
        (critic_loss + actor_loss + alpha_loss).backward()
        self.optimizer.step()
        soft_update_(self.target_critic, self.critic, c.tau)
        self.updates += 1
        return {
            "critic_loss": critic_loss.detach(),
            "actor_loss": actor_loss.detach(),
            "alpha": alpha,
            "entropy": entropy,
            "q_mean": q.detach().mean(),
        }

    @torch.no_grad()
    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.sample(obs, self.generator)[0]

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "obs_dim": self.obs_dim,
            "action_dim": self.action_dim,
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "target_critic": self.target_critic.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.target_critic.load_state_dict(state["target_critic"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])


def config_from_dict(values: dict[str, Any]) -> SACConfig:
    values = dict(values)
    values["hidden"] = tuple(values["hidden"])
    return SACConfig(**values)
