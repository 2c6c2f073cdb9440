"""The episode runner: plays one task with any method and returns an `EpisodeRecord`.

An `EpisodeRunner` is built once per worker from a checkpoint and the training split: it owns
the env, the agent and its pre-trained snapshot, the dataset on the device, the sampler, the
selectors, the task suites and the FLOP cost model. `run(spec)` then plays one `EpisodeSpec`;
all of its randomness (env, sampler, selection, the agent's own noise) derives only from the
spec's (seed, task, episode index), so an episode replays identically on any worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch

from gcttt.agents import load_agent
from gcttt.agents.graphed import GraphedUpdates, resolve_update_mode, update_mode_from_compile
from gcttt.control.episode import PolicyController, episode_seed, play_episode
from gcttt.control.flops import CostModel
from gcttt.control.tasks import OGBENCH, TaskSuite, parse_suite, task_suite
from gcttt.control.ttt import TestTimeTrainer, TTTConfig, schedule_for, ttt_columns
from gcttt.data.access import make_env
from gcttt.data.files import OfflineData
from gcttt.data.provenance import DatasetProvenance
from gcttt.data.sampler import GoalSampler
from gcttt.data.transitions import TransitionData, TransitionIndex
from gcttt.envs import dataset_info
from gcttt.errors import CheckpointError, UsageError
from gcttt.files.provenance import device_name, file_fingerprint, machine_name, weights_fingerprint
from gcttt.results.records import EpisodeRecord
from gcttt.results.trajectories import EpisodeTrajectory, TrajectoryRecorder
from gcttt.selection import DistanceCache, SelectionConfig, Selector

COMPILE_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to play."""

    task_id: int
    """Task within the suite, 1-based (OGBench: 1-5)."""
    episode_index: int = 0
    """Index among the episodes of this task and method."""
    seed: int = 0
    """Run seed; the episode seed derives from (seed, task_id, episode_index)."""
    method: Literal["baseline", "gcttt"] = "gcttt"
    """'baseline' plays the pre-trained policy; 'gcttt' fine-tunes at test time."""
    ttt: TTTConfig = field(default_factory=TTTConfig)
    """Test-time training knobs (ignored by the baseline)."""
    suite: str = OGBENCH
    """Task suite: 'ogbench' (the 5 evaluation tasks) or 'heldout-SEED'."""

    def __post_init__(self) -> None:
        if self.method not in ("baseline", "gcttt"):
            raise UsageError(f"unknown method {self.method!r}; choose baseline or gcttt")
        parse_suite(self.suite)
        if self.task_id < 1:
            raise UsageError(f"task ids start at 1 (got {self.task_id})")


class EpisodeRunner:
    """Plays episodes for one pre-trained checkpoint."""

    def __init__(
        self,
        checkpoint: str,
        train: OfflineData,
        device: str | torch.device = "cpu",
        index: TransitionIndex | None = None,
        provenance: DatasetProvenance | None = None,
        distance_cache: DistanceCache | None = None,
        heldout_size: int = 10,
        compile: str = "auto",
        update_mode: str | None = None,
    ):
        """`provenance` describes the training file (gcttt.data.provenance): its fingerprint must be
        the one the checkpoint was trained on. `distance_cache` shares goal distances with other
        runs of the same checkpoint and data. `compile`: fine-tuning updates through
        `torch.compile`: 'on', 'off' (eager), or 'auto' (the device's default: a CUDA graph on CUDA;
        eager on CPUs, where compiling was measured to gain nothing, see docs/benchmarks.md). `update_mode`
        (eager, compiled, graph or auto, see `gcttt.agents.graphed`) overrides `compile`."""
        if compile not in COMPILE_MODES:
            raise UsageError(f"compile must be one of {', '.join(COMPILE_MODES)} (got {compile!r})")
        device = torch.device(device)
        self.update_mode = resolve_update_mode(update_mode or update_mode_from_compile(compile), device)
        self.checkpoint = str(checkpoint)
        self.agent, self.meta = load_agent(checkpoint, device=device)
        self.dataset = self.meta["dataset"]
        self.info = dataset_info(self.dataset)
        if train.obs_dim != self.agent.obs_dim:
            raise UsageError(
                f"{checkpoint} expects observations of size {self.agent.obs_dim}, the dataset has {train.obs_dim}"
            )
        trained_on = self.meta.get("dataset_fingerprint")
        if provenance is not None and trained_on and provenance.fingerprint != trained_on:
            raise CheckpointError(
                f"{checkpoint} was pre-trained on a {self.dataset} file with fingerprint {trained_on}, but this "
                f"dataset file has {provenance.fingerprint}; evaluate with the file it was trained on, or "
                "pre-train again on this one"
            )
        self.provenance = provenance
        self.agent.train_mode(False)
        self.pretrained = self.agent.snapshot()
        self.checkpoint_fingerprint = weights_fingerprint(self.pretrained["nets"])
        self.data = TransitionData.from_offline(train, device, index)
        self.sampler = GoalSampler(self.data, self.agent.sampler_config(), torch.Generator(device).manual_seed(0))
        self.selection_generator = torch.Generator(device).manual_seed(0)
        self.env = make_env(self.info)
        self.episode_limit = int(self.env.spec.max_episode_steps)
        self.costs = CostModel.measure(self.agent, self.sampler)
        self.distance_cache = distance_cache
        self.weights_fingerprint = file_fingerprint(checkpoint) if distance_cache is not None else ""
        self.heldout_size = heldout_size
        self.compiled = self.update_mode == "compiled"
        self._compiled: dict[str, object] = {}  # compiled updates per fine-tuned part, built on first use
        self._graphed: GraphedUpdates | None = None  # the CUDA-graph updates, captured on first use
        self._selectors: dict[SelectionConfig, Selector] = {}
        self._suites: dict[str, TaskSuite] = {}
        self.device_label = device_name(device)
        self.machine = machine_name(device)

    def selector(self, config: SelectionConfig) -> Selector:
        if config not in self._selectors:
            self._selectors[config] = Selector(
                config,
                self.data,
                self.info.relevance_index,
                self.agent.value,
                self.agent.discount,
                self.selection_generator,
                cache=self.distance_cache,
                weights_fingerprint=self.weights_fingerprint,
            )
        return self._selectors[config]

    def suite(self, name: str) -> TaskSuite:
        if name not in self._suites:
            self._suites[name] = task_suite(self.env, self.info, name, self.heldout_size)
        return self._suites[name]

    def check(self, spec: EpisodeSpec) -> None:
        """Refuse a spec this runner cannot play (unknown task, K above the episode limit)."""
        self.suite(spec.suite).reset_options(spec.task_id)
        if spec.method == "gcttt":
            schedule_for(spec.ttt, self.episode_limit)

    def run(self, spec: EpisodeSpec) -> EpisodeRecord:
        return self._play(spec)

    def run_traced(
        self, spec: EpisodeSpec, recorder: TrajectoryRecorder | None = None
    ) -> tuple[EpisodeRecord, EpisodeTrajectory]:
        """`run`, and the episode's x-y path and selections (gcttt.results.trajectories); the record is
        the one `run` gives. `recorder`: one of its own (e.g. gcttt.figures.video's, which also renders)."""
        if not self.info.is_maze:
            raise UsageError(f"trajectories are recorded for maze datasets only (x-y paths), not {self.dataset}")
        recorder = recorder or TrajectoryRecorder(self.data.rows, self.data.episode)
        record = self._play(spec, recorder)
        final = self.env.unwrapped.get_xy()
        return record, recorder.finish(final, record.task_suite, spec.task_id, spec.episode_index, record.seed)

    def _play(self, spec: EpisodeSpec, recorder: TrajectoryRecorder | None = None) -> EpisodeRecord:
        self.check(spec)
        suite = self.suite(spec.suite)
        seed = episode_seed(spec.seed, spec.task_id, spec.episode_index)
        self.sampler.generator.manual_seed(seed)
        self.selection_generator.manual_seed(seed + 1)
        self.agent.generator.manual_seed(seed + 2)
        options = suite.reset_options(spec.task_id)
        if spec.method == "baseline":
            self.agent.restore(self.pretrained)  # (GC-TTT's trainer restores at the start of its episode)
            controller = PolicyController(self.agent)
            outcome = play_episode(self.env, recorder.controller(controller) if recorder else controller, options, seed)
            act_flops = controller.act_calls * self.costs.act
            return self._record(spec, suite, seed, outcome, act_seconds=controller.act_seconds, flops_act=act_flops)
        ttt = spec.ttt.for_backbone(self.agent)
        selector = self.selector(ttt.selection)
        if self.compiled and ttt.finetune not in self._compiled:
            self._compiled[ttt.finetune] = self.agent.compiled_update(ttt.finetune)
        if self.update_mode == "graph" and self._graphed is None:
            self._graphed = GraphedUpdates(self.agent, self.sampler)
        trainer = TestTimeTrainer(
            self.agent,
            self.pretrained,
            self.sampler,
            recorder.selector(selector) if recorder else selector,
            ttt,
            self.episode_limit,
            update=self._compiled.get(ttt.finetune),
            updates=self._graphed,
        )
        outcome = play_episode(self.env, recorder.controller(trainer) if recorder else trainer, options, seed)
        # The pre-trained weights first: a cache-missed goal's table is completed with them.
        self.agent.restore(self.pretrained)
        selector.end_episode()
        stats = trainer.stats
        batch = trainer.batch_size
        flops = stats.flops(self.costs, batch, trainer.part)
        return self._record(
            replace(spec, ttt=ttt),
            suite,
            seed,
            outcome,
            act_seconds=stats.act_seconds,
            selection_seconds=stats.selection_seconds,
            finetune_seconds=stats.finetune_seconds,
            replans=stats.replans,
            selected_per_replan=list(stats.selected),
            mean_selected=float(np.mean(stats.selected)) if stats.selected else 0.0,
            value_evaluations=stats.value_evaluations,
            value_evaluations_computed=selector.computed,
            distance_cache_hit=selector.distances is not None and selector.distances.computed == 0,
            updates=stats.updates,
            flops_act=flops["act"],
            flops_selection=flops["selection"],
            flops_finetune=flops["finetune"],
            flops_per_update=self.costs.update_flops(batch, trainer.part),
            finetune_batch=batch,
            schedule=trainer.schedule,
            compiled=self.compiled and not getattr(self.agent, "compile_failed", False),
        )

    def _record(self, spec: EpisodeSpec, suite: TaskSuite, seed: int, outcome, **extra) -> EpisodeRecord:
        meta = self.meta
        pretrain = meta.get("pretrain_config", {})
        config = self.agent.config
        baseline = spec.method == "baseline"
        method = ttt_columns(None if baseline else spec.ttt)
        prov = self.provenance
        step = int(meta.get("step", 0))
        record = EpisodeRecord(
            dataset=self.dataset,
            dataset_source=prov.source if prov else "unknown",
            dataset_fingerprint=prov.fingerprint if prov else str(meta.get("dataset_fingerprint", "")),
            backbone=self.agent.name,
            preset=pretrain.get("preset", ""),
            width=config.width,
            depth=config.depth,
            pretrain_seed=int(pretrain.get("seed", -1)),
            checkpoint=self.checkpoint,
            checkpoint_step=step,
            checkpoint_fingerprint=self.checkpoint_fingerprint,
            pretrain_flops=step * self.costs.update_flops(config.batch_size),
            method=spec.method,
            schedule="",
            compiled=False,
            task_suite=suite.name,
            task_id=spec.task_id,
            task_pair=suite.describe(spec.task_id),
            episode_index=spec.episode_index,
            seed=seed,
            success=outcome.success,
            episode_steps=outcome.steps,
            wall_seconds=outcome.seconds,
            act_seconds=0.0,
            selection_seconds=0.0,
            finetune_seconds=0.0,
            replans=0,
            flops_per_act=self.costs.act,
            flops_per_value=self.costs.value,
            flops_per_update=self.costs.update_flops(config.batch_size),
            device=self.device_label,
            machine=self.machine,
            **method,
        )
        record = replace(record, **extra)
        return replace(record, flops_total=record.flops_act + record.flops_selection + record.flops_finetune)
