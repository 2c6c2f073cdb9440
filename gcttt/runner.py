"""The episode runner: plays one OGBench task with any method and returns an `EpisodeRecord`.

An `EpisodeRunner` is built once per worker from a checkpoint and the training split: it owns
the env, the agent and its pre-trained snapshot, the dataset on the device, the sampler, the
selectors and the FLOP cost model. `run(spec)` then plays one `EpisodeSpec`; its randomness
derives only from the spec's (seed, task, episode index), so an episode replays identically on
any worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch

from gcttt.checkpoint import load_agent
from gcttt.data.access import make_env
from gcttt.data.files import OfflineData
from gcttt.data.sampler import GoalSampler
from gcttt.data.transitions import TransitionData, TransitionIndex
from gcttt.envs import dataset_info
from gcttt.episode import PolicyController, episode_seed, play_episode
from gcttt.errors import UsageError
from gcttt.flops import CostModel
from gcttt.provenance import device_name
from gcttt.records import EpisodeRecord
from gcttt.selection import SelectionConfig, Selector
from gcttt.ttt import TestTimeTrainer, TTTConfig


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to play."""

    task_id: int
    """OGBench task, 1-5."""
    episode_index: int = 0
    """Index among the episodes of this task and method."""
    seed: int = 0
    """Run seed; the episode seed derives from (seed, task_id, episode_index)."""
    method: Literal["baseline", "gcttt"] = "gcttt"
    """'baseline' plays the pre-trained policy; 'gcttt' fine-tunes at test time."""
    ttt: TTTConfig = field(default_factory=TTTConfig)
    """Test-time training knobs (ignored by the baseline)."""

    def __post_init__(self) -> None:
        if self.method not in ("baseline", "gcttt"):
            raise UsageError(f"unknown method {self.method!r}; choose baseline or gcttt")
        if not 1 <= self.task_id <= 5:
            raise UsageError(f"task ids are 1-5 (got {self.task_id})")


class EpisodeRunner:
    """Plays episodes for one pre-trained checkpoint."""

    def __init__(
        self,
        checkpoint: str,
        train: OfflineData,
        device: str | torch.device = "cpu",
        index: TransitionIndex | None = None,
    ):
        device = torch.device(device)
        self.checkpoint = str(checkpoint)
        self.agent, self.meta = load_agent(checkpoint, device=device)
        self.dataset = self.meta["dataset"]
        self.info = dataset_info(self.dataset)
        if train.obs_dim != self.agent.obs_dim:
            raise UsageError(
                f"{checkpoint} expects observations of size {self.agent.obs_dim}, the dataset has {train.obs_dim}"
            )
        self.agent.train_mode(False)
        self.pretrained = self.agent.snapshot()
        self.data = TransitionData.from_offline(train, device, index)
        self.sampler = GoalSampler(self.data, self.agent.sampler_config(), torch.Generator(device).manual_seed(0))
        self.selection_generator = torch.Generator(device).manual_seed(0)
        self.env = make_env(self.info)
        self.costs = CostModel.measure(self.agent, self.sampler, self.agent.config.batch_size)
        self._selectors: dict[SelectionConfig, Selector] = {}
        self.device_label = device_name(device)

    def selector(self, config: SelectionConfig) -> Selector:
        if config not in self._selectors:
            self._selectors[config] = Selector(
                config, self.data, self.info.relevance_index, self.agent, self.selection_generator
            )
        return self._selectors[config]

    def run(self, spec: EpisodeSpec) -> EpisodeRecord:
        seed = episode_seed(spec.seed, spec.task_id, spec.episode_index)
        self.sampler.generator.manual_seed(seed)
        self.selection_generator.manual_seed(seed + 1)
        self.agent.restore(self.pretrained)
        if spec.method == "baseline":
            controller = PolicyController(self.agent)
            outcome = play_episode(self.env, controller, spec.task_id, seed)
            act_flops = controller.act_calls * self.costs.act
            return self._record(spec, seed, outcome, act_seconds=controller.act_seconds, flops_act=act_flops)
        trainer = TestTimeTrainer(
            self.agent, self.pretrained, self.sampler, self.selector(spec.ttt.selection), spec.ttt
        )
        outcome = play_episode(self.env, trainer, spec.task_id, seed)
        self.agent.restore(self.pretrained)
        stats = trainer.stats
        flops = stats.flops(self.costs)
        return self._record(
            spec,
            seed,
            outcome,
            act_seconds=stats.act_seconds,
            selection_seconds=stats.selection_seconds,
            finetune_seconds=stats.finetune_seconds,
            replans=stats.replans,
            selected_per_replan=list(stats.selected),
            mean_selected=float(np.mean(stats.selected)) if stats.selected else 0.0,
            value_evaluations=stats.value_evaluations,
            updates=stats.updates,
            flops_act=flops["act"],
            flops_selection=flops["selection"],
            flops_finetune=flops["finetune"],
        )

    def _record(self, spec: EpisodeSpec, seed: int, outcome, **extra) -> EpisodeRecord:
        scale = self.meta.get("scale", {})
        config = self.agent.config
        ttt = spec.ttt
        baseline = spec.method == "baseline"
        record = EpisodeRecord(
            dataset=self.dataset,
            backbone=self.agent.name,
            preset=self.meta.get("pretrain_config", {}).get("preset", ""),
            width=config.width,
            depth=config.depth,
            pretrain_seed=int(self.meta.get("pretrain_config", {}).get("seed", -1)),
            checkpoint=self.checkpoint,
            checkpoint_step=int(self.meta.get("step", scale.get("steps", 0))),
            method=spec.method,
            selection="" if baseline else ttt.selection.strategy,
            horizon=0 if baseline else ttt.horizon,
            grad_steps=0 if baseline else ttt.steps,
            lr=0.0 if baseline else ttt.lr,
            q=0.0 if baseline else ttt.selection.q,
            eps=0.0 if baseline else ttt.selection.eps,
            once=False if baseline else not ttt.receding,
            task_id=spec.task_id,
            episode_index=spec.episode_index,
            seed=seed,
            success=outcome.success,
            episode_steps=outcome.steps,
            wall_seconds=outcome.seconds,
            act_seconds=0.0,
            selection_seconds=0.0,
            finetune_seconds=0.0,
            replans=0,
            device=self.device_label,
        )
        record = replace(record, **extra)
        return replace(record, flops_total=record.flops_act + record.flops_selection + record.flops_finetune)
