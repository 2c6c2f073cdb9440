"""Network pieces shared by the backbones (docs/method.md §4), as in OGBench's `impls`.

- `MLP`: GELU, optional LayerNorm after every hidden activation; Xavier-uniform weights, zero
  biases. (JAX defaults to GELU's tanh approximation; the two differ by under 1e-3 and the exact
  form is 2.4x faster on CPU, so we use it.)
- `EnsembleMLP`: several independent MLPs evaluated with one batched matmul per layer (the two
  Q or V heads).
- `GaussianActor`: MLP trunk without LayerNorm, mean head initialised small (scale 1e-2),
  state-independent std (a constant 1, or a learned vector).
- `soft_update_` (target EMA) and `length_normalize` (HIQL's goal representation). The loss maths
  lives in `gcttt.agents.losses`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

LAYER_NORM_EPS = 1e-6  # flax's LayerNorm default


def xavier_uniform_(weight: torch.Tensor, fan_in: int, fan_out: int, scale: float = 1.0) -> None:
    """Variance-scaling init with fan_avg and a uniform distribution (flax's default_init)."""
    bound = math.sqrt(3.0 * scale / ((fan_in + fan_out) / 2.0))
    with torch.no_grad():
        weight.uniform_(-bound, bound)


class MLP(nn.Module):
    """Linear layers with GELU between them; LayerNorm after each activation when asked."""

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int | None = None,
        layer_norm: bool = False,
        activate_final: bool = False,
        final_init_scale: float = 1.0,
    ):
        super().__init__()
        dims = [in_dim, *hidden_dims] + ([out_dim] if out_dim is not None else [])
        layers: list[nn.Module] = []
        n_linear = len(dims) - 1
        for i in range(n_linear):
            linear = nn.Linear(dims[i], dims[i + 1])
            scale = final_init_scale if (i == n_linear - 1 and out_dim is not None) else 1.0
            xavier_uniform_(linear.weight, dims[i], dims[i + 1], scale)
            nn.init.zeros_(linear.bias)
            layers.append(linear)
            if i < n_linear - 1 or activate_final:
                layers.append(nn.GELU())
                if layer_norm:
                    layers.append(nn.LayerNorm(dims[i + 1], eps=LAYER_NORM_EPS))
        self.net = nn.Sequential(*layers)
        self.out_dim = dims[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EnsembleLinear(nn.Module):
    """`members` independent linear layers applied to a [members, batch, in] input."""

    def __init__(self, members: int, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(members, 1, out_dim))
        xavier_uniform_(self.weight, in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over the last dimension with separate affine parameters per member."""

    def __init__(self, members: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(members, 1, dim))
        self.bias = nn.Parameter(torch.zeros(members, 1, dim))
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.dim,), eps=LAYER_NORM_EPS) * self.weight + self.bias


class EnsembleMLP(nn.Module):
    """`members` MLPs with scalar outputs; input [batch, in] -> output [members, batch]."""

    def __init__(self, members: int, in_dim: int, hidden_dims: Sequence[int], layer_norm: bool = True):
        super().__init__()
        dims = [in_dim, *hidden_dims, 1]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(EnsembleLinear(members, dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.GELU())
                if layer_norm:
                    layers.append(EnsembleLayerNorm(members, dims[i + 1]))
        self.net = nn.Sequential(*layers)
        self.members = members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(0).expand(self.members, *x.shape)
        return self.net(x).squeeze(-1)


class GaussianActor(nn.Module):
    """pi(a | inputs): Gaussian with a state-independent std.

    `const_std=True` (OGBench's default) fixes the std at 1, so the log-likelihood is a squared
    error on the mean; otherwise a learned log-std vector, clipped to [-5, 2].
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], action_dim: int, const_std: bool = True):
        super().__init__()
        self.trunk = MLP(in_dim, hidden_dims, activate_final=True)
        self.mean = nn.Linear(self.trunk.out_dim, action_dim)
        xavier_uniform_(self.mean.weight, self.trunk.out_dim, action_dim, scale=1e-2)
        nn.init.zeros_(self.mean.bias)
        self.log_std = None if const_std else nn.Parameter(torch.zeros(action_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean [B, A] and std ([A] or scalar tensor)."""
        mean = self.mean(self.trunk(x))
        if self.log_std is None:
            std = torch.ones((), device=mean.device, dtype=mean.dtype)
        else:
            std = self.log_std.clamp(-5.0, 2.0).exp()
        return mean, std


@torch.no_grad()
def soft_update_(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- tau * source + (1 - tau) * target, in place."""
    t_params = list(target.parameters())
    s_params = list(source.parameters())
    torch._foreach_lerp_(t_params, s_params, tau)


def length_normalize(x: torch.Tensor) -> torch.Tensor:
    """Scale each row to length sqrt(dim) (HIQL's goal representation)."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True) * math.sqrt(x.shape[-1])
