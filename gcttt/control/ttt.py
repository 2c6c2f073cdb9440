"""Receding-horizon test-time training (docs/method.md §1, §6).

Every `horizon` (K) env steps the controller
1. restores the pre-trained snapshot: weights, target networks and Adam moments (of the networks
   the last re-plan changed);
2. sets the fine-tuning learning rate;
3. selects data for the current state and the test goal g*;
4. runs `steps` (N) updates on batches drawn uniformly from the selection, value goals relabelled
   as in pre-training, every actor goal set to g* (skipped when nothing is selected): of the
   backbone's full loss (`finetune='all'`, the paper's) or of the acting networks' loss alone
   (`'actor'`: no value or critic pass, no target EMA; exact for GC-BC, whose default it is);
5. acts with the fine-tuned policy until the next re-plan.

The schedule (`schedule_for`) says when re-plans happen:
- ``receding``: every K steps (K below the episode limit);
- ``once``: the "once per episode" ablation of a receding strategy (`once=True`, or K equal to the
  episode limit): fine-tune at the first step and return to the pre-trained policy once the
  longest selected segment has been acted out, as the authors' code does for K = 1000;
- ``once-keep``: strategies that select once (critic-free): fine-tune at the first step and act
  with the fine-tuned policy for the whole episode (the authors' code); K is not read.
K above the episode limit is refused: it would silently be the same trial as K = the limit.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

import numpy as np
import torch

from gcttt.agents.base import FINETUNE_PARTS, Agent
from gcttt.control.flops import CostModel
from gcttt.data.sampler import GoalSampler
from gcttt.errors import UsageError
from gcttt.flagnames import flag
from gcttt.selection import SelectionConfig, Selector, knob_columns, knobs_from_columns


@dataclass(frozen=True)
class TTTConfig:
    """The knobs of test-time training."""

    horizon: Annotated[int, flag("K")] = 100
    """K: env steps between re-plans (equal to the episode limit: once per episode)."""
    steps: Annotated[int, flag("N")] = 200
    """N: gradient updates per re-plan."""
    lr: float = 3e-4
    """Learning rate of the fine-tuning updates."""
    batch_size: Annotated[int | Literal["backbone"], flag("finetune-batch")] = "backbone"
    """Transitions per fine-tuning update ('backbone': the backbone's pre-training batch size)."""
    once: bool = False
    """Fine-tune at the first step only and return to the pre-trained policy after the selected
    segment (the 'once per episode' ablation)."""
    finetune: Literal["backbone", "all", "actor"] = "backbone"
    """What each update trains: 'all' (the backbone's full loss: value, critic, actor, targets; the
    paper's), 'actor' (the acting networks' loss alone) or 'backbone' (its default: 'actor' for
    GC-BC, where it is exact, since no value or critic update can change its actions; 'all' for
    GC-IQL and SAW, whose actor losses read the value or critic)."""
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    """Which data to fine-tune on."""

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise UsageError(f"K (re-plan horizon) must be at least 1 (got {self.horizon})")
        if self.steps < 0:
            raise UsageError(f"N (gradient steps) must be 0 or more (got {self.steps})")
        if not self.lr > 0:
            raise UsageError(f"lr must be positive (got {self.lr})")
        if self.batch_size != "backbone" and self.batch_size < 1:
            raise UsageError(f"the fine-tuning batch size must be at least 1 (got {self.batch_size})")
        if self.finetune not in ("backbone", *FINETUNE_PARTS):
            raise UsageError(f"finetune must be backbone, all or actor (got {self.finetune!r})")

    def for_backbone(self, agent: type[Agent] | Agent) -> TTTConfig:
        """This configuration with 'backbone' settings that records must name made concrete
        (`finetune`: the backbone's `finetune_default`)."""
        if self.finetune != "backbone":
            return self
        return replace(self, finetune=agent.finetune_default)

    @property
    def schedule(self) -> str:
        """receding, once or once-keep, before the episode limit is known (see `schedule_for`)."""
        if not self.selection.receding:
            return "once-keep"
        return "once" if self.once else "receding"


def schedule_for(config: TTTConfig, episode_limit: int) -> str:
    """The schedule of `config` on episodes of `episode_limit` steps; refuses K above the limit."""
    schedule = config.schedule
    if schedule == "receding":
        if config.horizon > episode_limit:
            raise UsageError(
                f"K = {config.horizon} exceeds the episode limit ({episode_limit} steps): it would re-plan "
                f"only once, like K = {episode_limit}; use K = {episode_limit} (once per episode) or less"
            )
        if config.horizon == episode_limit:
            return "once"
    return schedule


def ttt_columns(config: TTTConfig | None) -> dict[str, Any]:
    """The one flattening of a method into record columns (and sweep parameters): the strategy, K
    (0 where not read: the pre-trained policy, strategies that select once), N, lr, the fine-tuning
    batch (0: the backbone's), what the updates train (`finetune`, made concrete first by
    `TTTConfig.for_backbone`) and every selection knob (`knob_columns`). `None` is the pre-trained
    policy, whose columns are all empty. `ttt_from_columns` reads them back."""
    if config is None:
        empty = {"selection": "", "horizon": 0, "grad_steps": 0, "lr": 0.0, "finetune_batch": 0, "finetune": ""}
        return {**empty, **knob_columns(None)}
    if config.finetune == "backbone":
        raise ValueError("finetune='backbone' names no part: call TTTConfig.for_backbone first")
    return {
        "selection": config.selection.strategy,
        "horizon": config.horizon if config.selection.receding else 0,
        "grad_steps": config.steps,
        "lr": config.lr,
        "finetune_batch": 0 if config.batch_size == "backbone" else config.batch_size,
        "finetune": config.finetune,
        **knob_columns(config.selection),
    }


def ttt_from_columns(columns: Mapping[str, Any]) -> TTTConfig | None:
    """`ttt_columns` read back (None for the pre-trained policy); unread knobs take their defaults,
    and a strategy that selects once gets K = 1 (it never reads K)."""
    if not columns.get("selection"):
        return None
    return TTTConfig(
        horizon=max(1, int(columns["horizon"])),
        steps=int(columns["grad_steps"]),
        lr=float(columns["lr"]),
        batch_size=int(columns["finetune_batch"]) or "backbone",
        finetune=columns.get("finetune") or "all",  # rows from before the knob trained everything
        selection=knobs_from_columns(columns["selection"], columns),
    )


@dataclass
class TTTStats:
    """Per-episode bookkeeping of test-time training."""

    replans: int = 0
    selected: list[int] = field(default_factory=list)
    """Transitions selected at each re-plan."""
    value_evaluations: int = 0
    """V(s, g*) evaluations the method needed (its own cost, cached or not)."""
    updates: int = 0
    act_calls: int = 0
    act_seconds: float = 0.0
    selection_seconds: float = 0.0
    finetune_seconds: float = 0.0

    def flops(self, costs: CostModel, batch_size: int, part: str = "all") -> dict[str, int]:
        """Counted FLOPs of the episode's acting, selection and fine-tuning (updates of `part`
        at `batch_size`)."""
        act = self.act_calls * costs.act
        selection = self.value_evaluations * costs.value
        finetune = self.updates * costs.update_flops(batch_size, part)
        return {"act": act, "selection": selection, "finetune": finetune, "total": act + selection + finetune}


class TestTimeTrainer:
    """A controller (see `gcttt.control.episode`) that fine-tunes the agent towards the episode's goal."""

    def __init__(
        self,
        agent: Agent,
        pretrained: dict,
        sampler: GoalSampler,
        selector: Selector,
        config: TTTConfig,
        episode_limit: int,
        update=None,
        updates=None,
    ):
        """`config.finetune` 'backbone' is the agent's default (`TTTConfig.for_backbone`).
        `update(batch)` runs one fine-tuning step (default: `agent.updater(part)`; a compiled one
        of the same part may be given). `updates`: runs a re-plan's N updates at once instead (a
        `gcttt.agents.graphed.GraphedUpdates`, the CUDA-graph path); None: the eager loop."""
        config = config.for_backbone(agent)
        self.agent = agent
        self.pretrained = pretrained
        self.sampler = sampler
        self.selector = selector
        self.config = config
        self.schedule = schedule_for(config, episode_limit)
        self.batch_size = agent.config.batch_size if config.batch_size == "backbone" else config.batch_size
        self.part = config.finetune
        self.changed = agent.trained_networks(self.part)
        """The networks a re-plan's updates change: all that the next restore must copy back."""
        self.update = update or agent.updater(self.part)
        self.updates = updates
        self.goal: torch.Tensor | None = None
        self.reset_at: int | None = None
        self.stats = TTTStats()
        self._pretrained_state = False
        """True while the agent holds exactly the pre-trained snapshot (no update since a restore)."""
        self._cuda = agent.device.type == "cuda"

    def _sync(self) -> None:
        # Phase timings on a GPU need the queued kernels to finish; only at re-plan boundaries.
        if self._cuda:
            torch.cuda.synchronize(self.agent.device)

    def begin(self, observation: np.ndarray, goal: np.ndarray) -> None:
        self.goal = torch.as_tensor(goal, dtype=torch.float32, device=self.agent.device).reshape(1, -1)
        self.selector.begin_episode(self.goal)
        self.agent.restore(self.pretrained)
        self._pretrained_state = True
        self.reset_at = None
        self.stats = TTTStats()

    def replan(self, observation: np.ndarray) -> None:
        cfg, agent = self.config, self.agent
        self._sync()
        start = time.perf_counter()
        if not self._pretrained_state:  # at step 0 `begin` has just restored it: once is enough
            agent.restore(self.pretrained, self.changed)
        agent.set_lr(cfg.lr)
        selection = self.selector.select(torch.as_tensor(observation, dtype=torch.float32, device=agent.device))
        self._sync()
        selected = time.perf_counter()
        self.stats.replans += 1
        self.stats.selected.append(selection.size)
        self.stats.value_evaluations += selection.value_evaluations
        self.stats.selection_seconds += selected - start
        if selection.size > 0 and cfg.steps > 0:
            agent.train_mode(True)
            if self.updates is not None:
                self.updates.finetune(selection.indices, self.goal, cfg.steps, self.batch_size, self.part)
            else:
                for _ in range(cfg.steps):
                    self.update(
                        self.sampler.sample_from(selection.indices, actor_goal=self.goal, batch_size=self.batch_size)
                    )
            agent.train_mode(False)
            self.stats.updates += cfg.steps
            self._pretrained_state = False
        self._sync()
        self.stats.finetune_seconds += time.perf_counter() - selected
        if self.schedule == "once":
            self.reset_at = selection.longest_segment

    def act(self, observation: np.ndarray, step: int) -> np.ndarray:
        replan = step == 0 or (self.schedule == "receding" and step % self.config.horizon == 0)
        if replan:
            self.replan(observation)
        elif self.reset_at is not None and step == self.reset_at:
            self.agent.restore(self.pretrained, self.changed)  # the selected segment is acted out
            self._pretrained_state = True
        start = time.perf_counter()
        obs = torch.as_tensor(observation, dtype=torch.float32, device=self.agent.device).reshape(1, -1)
        action = self.agent.act(obs, self.goal)[0].cpu().numpy()
        self.stats.act_seconds += time.perf_counter() - start
        self.stats.act_calls += 1
        return action
