"""What every backbone shares: the interface, one Adam over all trained weights, and state.

A backbone subclasses `Agent` and provides its networks (`self.nets`, with target copies under
names starting with ``target_``), `losses(batch)`, `actor_loss(batch)`, `act`, `value` and
`sampler_config`. The base class supplies `update` (the full loss) and `actor_update` (the acting
networks' loss alone), `state_dict`/`load_state_dict` (weights, targets and Adam state) and
`snapshot`/`restore`, the in-place reset that test-time training runs before every re-plan.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from gcttt.data.sampler import Batch, SamplerConfig
from gcttt.envs import DatasetInfo
from gcttt.errors import CheckpointError

Metrics = dict[str, torch.Tensor]
"""Scalar tensors keyed by namespaced names (``value/loss``, ``actor/mse``, ...). They stay on the
device so that an update costs no host sync; call `.item()` only when logging."""


def frozen_call(module: nn.Module, *args: torch.Tensor) -> Any:
    """Call `module` so that gradients reach its inputs but never its parameters."""
    params = {name: p.detach() for name, p in module.named_parameters()}
    return torch.func.functional_call(module, params, args)


def make_adam(params: list[nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch build has it (3x faster on CPU than the loop)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr)


@dataclass(frozen=True)
class Backbone:
    """A registry entry: everything the rest of gcttt needs to know about one backbone.

    Each backbone file ends with ``BACKBONE = Backbone(...)``; `gcttt.agents.BACKBONES` lists them.
    """

    name: str
    """Registry name (``--backbone``)."""
    agent: type[Agent]
    """The agent class."""
    config: type
    """Its config dataclass; the defaults are the backbone's own."""
    dataset_overrides: Callable[[DatasetInfo], dict[str, Any]]
    """Config values that differ per dataset (discount, temperatures, goal mixes)."""


FINETUNE_PARTS = ("all", "actor")
"""What a fine-tuning update trains: every network (the backbone's full loss, target EMA included)
or only the networks that acting reads (their loss alone; the others, their Adam moments and the
targets are left as they are)."""


class Agent:
    """Base class of the backbones. Not an `nn.Module`: its state includes the optimizer."""

    name: ClassVar[str]
    acting_networks: ClassVar[tuple[str, ...]] = ("actor",)
    """The networks `act` reads: all that an actor-only update trains."""
    actor_update_exact: ClassVar[bool] = False
    """True where no update of a network other than the acting ones can change an action at test
    time (GC-BC), so that fine-tuning with 'all' and with 'actor' plays the same episodes
    (tests/test_finetune_part.py compares the rows)."""
    finetune_default: ClassVar[str] = "all"
    """What test-time training updates unless told (`FINETUNE_PARTS`): 'actor' where that is exact
    (`actor_update_exact`), else 'all' (the paper's choice)."""

    def __init__(self, config: Any, obs_dim: int, action_dim: int, device: str | torch.device = "cpu", seed: int = 0):
        self.config = config
        self.obs_dim = obs_dim
        self.action_dim = action_dim
        self.device = torch.device(device)
        # Initial weights come from a generator forked from `seed`, never from global state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.nets = self.build_networks().to(self.device)
        self.generator = torch.Generator(self.device).manual_seed(seed + 1)
        for name, net in self.nets.items():
            if name.startswith("target_"):
                net.requires_grad_(False)
        self.optimizer = make_adam(self.trained_parameters(), config.lr)
        self.steps = 0

    # --- to be provided by each backbone -------------------------------------------------------

    def build_networks(self) -> nn.ModuleDict:
        raise NotImplementedError

    def losses(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        """Total loss and metrics; every part of the loss trains only its own network."""
        raise NotImplementedError

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        """The loss of the acting networks alone (the actor's part of `losses`): it must send
        gradients to `acting_networks` only, reading every other network frozen."""
        raise NotImplementedError

    def update_targets(self) -> None:
        raise NotImplementedError

    def act(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """Deterministic actions: the actor's mean, clipped to [-1, 1]."""
        raise NotImplementedError

    def value(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """V(s, g), the value that data selection reads."""
        raise NotImplementedError

    def sampler_config(self) -> SamplerConfig:
        """The batches this backbone trains on."""
        raise NotImplementedError

    # --- shared machinery ----------------------------------------------------------------------

    @property
    def discount(self) -> float:
        return self.config.discount

    def noise_like(self, x: torch.Tensor) -> torch.Tensor:
        """Standard normal noise from the agent's own generator."""
        return torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)

    def trained_parameters(self) -> list[nn.Parameter]:
        return [p for name, net in self.nets.items() if not name.startswith("target_") for p in net.parameters()]

    def trained_networks(self, part: str = "all") -> tuple[str, ...]:
        """Names of the networks an update of `part` (`FINETUNE_PARTS`) changes, targets included."""
        if part == "actor":
            return self.acting_networks
        if part != "all":
            raise ValueError(f"unknown fine-tuning part {part!r}; choose one of {', '.join(FINETUNE_PARTS)}")
        return tuple(self.nets)

    def update(self, batch: Batch) -> Metrics:
        """One gradient step on the full loss, then the target-network EMA."""
        return self._step(self.losses(batch), targets=True)

    def actor_update(self, batch: Batch) -> Metrics:
        """One gradient step on `actor_loss` alone. The other networks get no gradient, so Adam
        skips them (their moments and step counts stay as they are), and no target moves. For a
        backbone whose actor loss reads no other network (GC-BC) the actor's new weights are
        bit-identical to those of `update`: its gradient is the same sum of the same terms."""
        return self._step(self.actor_loss(batch), targets=False)

    def updater(self, part: str = "all") -> Callable[[Batch], Metrics]:
        """`update` or `actor_update` for `part` (`FINETUNE_PARTS`)."""
        self.trained_networks(part)  # refuses an unknown part
        return self.actor_update if part == "actor" else self.update

    def _step(self, result: tuple[torch.Tensor, Metrics], targets: bool) -> Metrics:
        loss, metrics = result
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if targets:
            self.update_targets()
        self.steps += 1
        return metrics

    def compiled_update(self, part: str = "all") -> Callable[[Batch], Metrics]:
        """`updater(part)` with the loss (forward and backward) compiled by `torch.compile`.

        Compiled once per agent (and batch shape) on first use; restoring a snapshot copies values
        in place, so the compiled graph stays valid across re-plans and episodes. If compiling
        fails on this platform, the first call falls back to eager updates (and says so).
        """
        eager = self.actor_loss if part == "actor" else self.losses
        targets = part != "actor"
        self.trained_networks(part)
        state = {"fn": torch.compile(eager, dynamic=False)}

        def update(batch: Batch) -> Metrics:
            try:
                return self._step(state["fn"](batch), targets)
            except Exception as exc:  # inductor's failures come in many types
                if state["fn"] is eager:
                    raise
                warnings.warn(f"torch.compile failed ({type(exc).__name__}); using eager updates", stacklevel=2)
                state["fn"] = eager
                self.compile_failed = True
                return self._step(eager(batch), targets)

        return update

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def train_mode(self, training: bool) -> None:
        self.nets.train(training)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training: weights, targets, Adam state, step, config."""
        return {
            "backbone": self.name,
            "config": asdict(self.config),
            "obs_dim": self.obs_dim,
            "action_dim": self.action_dim,
            "nets": self.nets.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("backbone") != self.name:
            raise CheckpointError(f"checkpoint holds a {state.get('backbone')!r} backbone, not {self.name!r}")
        if (state["obs_dim"], state["action_dim"]) != (self.obs_dim, self.action_dim):
            raise CheckpointError(
                f"checkpoint was trained for observation size {state['obs_dim']} and action size "
                f"{state['action_dim']}, but this env has {self.obs_dim} and {self.action_dim}: "
                "use a checkpoint pre-trained on this dataset"
            )
        self.nets.load_state_dict(state["nets"])
        # Optimizer.load_state_dict keeps the given tensors where dtype and device already fit;
        # copy them, so that this agent never shares Adam moments with the state's source.
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        # A generator saved on another device type (CPU vs CUDA) has another layout; keep the seed.
        with contextlib.suppress(RuntimeError):
            self.generator.set_state(state["generator"])
        self.steps = int(state["steps"])

    # --- snapshot / restore: the reset before every re-plan -----------------------------------

    def _optimizer_state(self) -> list[dict[str, torch.Tensor]]:
        return [self.optimizer.state.get(p, {}) for p in self.trained_parameters()]

    def _trained_parameter_networks(self) -> list[str]:
        """The network of each entry of `trained_parameters()`, in the same order."""
        return [name for name, net in self.nets.items() if not name.startswith("target_") for _ in net.parameters()]

    def snapshot(self) -> dict[str, Any]:
        """A copy of weights, targets and Adam moments, kept on the agent's device."""
        return {
            "nets": {k: v.detach().clone() for k, v in self.nets.state_dict().items()},
            "optimizer": [{k: v.detach().clone() for k, v in s.items()} for s in self._optimizer_state()],
            "steps": self.steps,
        }

    @torch.no_grad()
    def restore(self, snapshot: dict[str, Any], networks: tuple[str, ...] | None = None) -> None:
        """Copy a snapshot back in place (no reallocation), Adam moments and step counts included.
        `networks`: only these networks (and their Adam state), the ones that have changed since
        the snapshot was restored last (`trained_networks` of the updates run); None: all."""
        current = self.nets.state_dict()
        keys = [k for k in snapshot["nets"] if networks is None or k.split(".", 1)[0] in networks]
        torch._foreach_copy_([current[k] for k in keys], [snapshot["nets"][k] for k in keys])
        owners = self._trained_parameter_networks()
        for p, owner, saved in zip(self.trained_parameters(), owners, snapshot["optimizer"], strict=True):
            if networks is not None and owner not in networks:
                continue
            if not saved:
                self.optimizer.state.pop(p, None)
                continue
            state = self.optimizer.state.get(p)
            if state is None or state.keys() != saved.keys():
                self.optimizer.state[p] = {k: v.clone() for k, v in saved.items()}
            else:
                for k, v in saved.items():
                    state[k].copy_(v)
        self.steps = snapshot["steps"]
