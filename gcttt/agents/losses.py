"""The loss maths of the backbones as pure functions on tensors (docs/method.md §4).

Each is small enough to check by hand; `tests/test_losses.py` pins every one to values computed
on tiny tensors, so a swapped sign or a missing cap fails a test rather than a reproduction.
"""

from __future__ import annotations

import math

import torch

WEIGHT_CAP = 100.0
"""Upper bound of exponentiated advantage weights (AWR, SAW's bootstrap), as in OGBench."""


def expectile_loss(adv: torch.Tensor, diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """Asymmetric L2: `expectile` * diff^2 where adv >= 0, else (1 - expectile) * diff^2."""
    weight = torch.where(adv >= 0, expectile, 1.0 - expectile)
    return weight * diff**2


def gaussian_log_prob(mean: torch.Tensor, std: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Log-density of a diagonal Gaussian, summed over the last (action) dimension."""
    var = std * std
    per_dim = -0.5 * (actions - mean) ** 2 / var - torch.log(std) - 0.5 * math.log(2.0 * math.pi)
    return per_dim.sum(-1)


def advantage_weights(advantage: torch.Tensor, temperature: float, cap: float = WEIGHT_CAP) -> torch.Tensor:
    """exp(temperature * advantage), capped at `cap`: AWR's and SAW's sample weights."""
    return torch.exp(advantage * temperature).clamp(max=cap)


def ddpgbc_actor_loss(q: torch.Tensor, log_prob: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """DDPG+BC: -Q(s, pi(s)) / mean|Q| (the normaliser carries no gradient) and -alpha * log pi(a|s).

    Returns (q_loss, bc_loss); the actor minimises their sum.
    """
    q_loss = -q.mean() / (q.abs().mean().detach() + 1e-6)
    bc_loss = -(alpha * log_prob).mean()
    return q_loss, bc_loss


def goal_distance(values: torch.Tensor, discount: float) -> torch.Tensor:
    """Steps to the goal implied by V(s, g) = -(1 - gamma^d) / (1 - gamma) (docs/method.md §5).

    d = log(1 + (1 - gamma) V) / log(gamma); where V < -1 / (1 - gamma) the logarithm is NaN,
    which becomes +inf: such a state never wins a selection.
    """
    d = torch.log1p((1.0 - discount) * values) / math.log(discount)
    return torch.nan_to_num(d, nan=math.inf)
