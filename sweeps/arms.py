"""What a sweep evaluates: arms (one configuration each), grids of arms, and their names.

An arm is one trial of a sweep: a checkpoint (width, pre-training seed, step), a method (the
pre-trained policy, or a `TTTConfig` with its selection inside) and the task suite it plays.
In Ray Tune's param space an arm is its plain values (`Arm.params`: the record's own columns of
the method, `gcttt.control.ttt.ttt_columns`), read back in the trial by `Arm.from_params`; its
stable name keys the trial's Parquet folder (what says the arm is done) and its MLflow run (a
resumed sweep rewrites, never duplicates). Knobs a strategy does not read stay at their defaults
(`SelectionConfig.canonical`), so a grid never holds two identical trials.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from gcttt.control.runner import EpisodeSpec
from gcttt.control.tasks import OGBENCH
from gcttt.control.ttt import TTTConfig, schedule_for, ttt_columns, ttt_from_columns
from gcttt.errors import UsageError
from gcttt.selection import KNOBS, SelectionConfig, SelectionKnobs, knob_columns

AUTHORS_BUDGETS: dict[str, tuple[float, int]] = {
    "antmaze-medium-stitch-v0": (3e-5, 200),
    "pointmaze-medium-stitch-v0": (3e-4, 200),
}
"""(lr, N) of the authors' selection and re-plan ablations per dataset (GC-IQL; their
grids/selection_ablation.yaml and grids/replanning_ablation.yaml at ea8e889, docs/method.md §7)."""
DEFAULT_KNOBS = SelectionKnobs()
REPLAN_K: tuple[int, ...] = (1000, 750, 500, 200, 100)
"""The re-plan intervals of the authors' re-plan ablation (docs/method.md §7)."""


@dataclass(frozen=True)
class Arm:
    """One sweep trial: a checkpoint, a method, a task suite."""

    seed: int
    """Pre-training seed of the checkpoint."""
    width: int
    """Width of the checkpoint's networks."""
    ttt: TTTConfig | None = None
    """GC-TTT's knobs, the selection inside; None: the pre-trained policy (the baseline)."""
    suite: str = OGBENCH
    """Task suite the arm plays."""
    checkpoint_step: int | None = None
    """Pre-training step of the checkpoint the arm plays (a kept `step_XXXXXXXX.pt`); None: the run's
    final checkpoint. The authors evaluate every run at three steps and average them (docs/method.md §3)."""

    @property
    def method(self) -> str:
        return "baseline" if self.ttt is None else "gcttt"

    @property
    def name(self) -> str:
        """Stable id of the trial (its Parquet folder and MLflow run): the method's columns that
        differ from the defaults, the checkpoint and the suite."""
        suite = "" if self.suite == OGBENCH else f"-{self.suite}"
        if self.checkpoint_step is not None:
            suite = f"-c{self.checkpoint_step}{suite}"
        if self.ttt is None:
            return f"baseline-w{self.width}-s{self.seed}{suite}"
        columns = ttt_columns(self.ttt)
        read = self.ttt.selection.reads
        parts = [f"gcttt-{columns['selection']}"]
        if columns["horizon"]:
            parts.append(f"K{columns['horizon']}")
        parts += [f"N{columns['grad_steps']}", f"lr{columns['lr']:g}"]
        if columns["finetune_batch"]:
            parts.append(f"b{columns['finetune_batch']}")
        if columns["finetune"] != "all":  # names from before the knob stay as they were
            parts.append(columns["finetune"])
        if "q" in read:  # the quantile always shows where it is read (a grid axis)
            parts.append(f"q{columns['q']:g}")
        defaults = knob_columns(SelectionConfig(strategy=self.ttt.selection.strategy))
        parts += [f"{k}{columns[k]:g}" for k in KNOBS if k != "q" and k in read and columns[k] != defaults[k]]
        return "-".join(parts) + f"-w{self.width}-s{self.seed}{suite}"

    def params(self) -> dict[str, Any]:
        """The arm as plain values (Ray Tune's parameter space, resumable): the record's columns
        of the method (`gcttt.control.ttt.ttt_columns`), read back by `from_params`."""
        return {
            "method": self.method,
            "seed": self.seed,
            "width": self.width,
            **ttt_columns(self.ttt),
            "suite": self.suite,
            "checkpoint_step": self.checkpoint_step,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Arm:
        ttt = None if params["method"] == "baseline" else ttt_from_columns(params)
        return cls(params["seed"], params["width"], ttt, params.get("suite", OGBENCH), params.get("checkpoint_step"))

    def specs(self, tasks: tuple[int, ...], episodes_per_task: int, eval_seed: int) -> list[EpisodeSpec]:
        ttt = self.ttt or TTTConfig()
        return [
            EpisodeSpec(task_id=t, episode_index=i, seed=eval_seed, method=self.method, ttt=ttt, suite=self.suite)
            for t in tasks
            for i in range(episodes_per_task)
        ]


def ttt_grid(
    seeds: Sequence[int],
    width: int,
    selections: Sequence[str],
    horizons: Sequence[int],
    grad_steps: Sequence[int],
    lrs: Sequence[float],
    qs: Sequence[float],
    episode_limit: int,
    suite: str = OGBENCH,
    knobs: SelectionKnobs = DEFAULT_KNOBS,
    finetune_batch: int | Literal["backbone"] = "backbone",
    finetune: str = "all",
) -> list[Arm]:
    """The Cartesian grid of gcttt arms, without repeats.

    K above `episode_limit` is refused (it would be the same trial as K = the limit, which means
    once per episode); strategies that select once ignore K, and strategies that do not read q
    (or any other knob) ignore it, so neither multiplies the grid.
    """
    for name, values in (("selections", selections), ("K", horizons), ("N", grad_steps), ("lr", lrs), ("q", qs)):
        if not values:
            raise UsageError(f"the grid is empty: give at least one value for --{name}")
    base = knobs.knobs()
    arms = []
    for seed, sel, k, n, lr, q in itertools.product(seeds, selections, horizons, grad_steps, lrs, qs):
        selection = SelectionConfig(strategy=sel, **{**base, "q": q}).canonical()
        # Every K is checked (by `TTTConfig`, and against the limit by `schedule_for`) before
        # anything starts, even where only strategies that select once, and never read K, run.
        ttt = TTTConfig(horizon=k, steps=n, lr=lr, batch_size=finetune_batch, finetune=finetune, selection=selection)
        schedule_for(ttt, episode_limit)
        if not selection.receding:  # one arm, whatever K: such strategies record K = 1
            ttt = replace(ttt, horizon=1)
        arms.append(Arm(seed, width, ttt, suite=suite))
    return list(dict.fromkeys(arms))


def baseline_arms(seeds: Sequence[int], widths: Sequence[int], suite: str = OGBENCH) -> list[Arm]:
    return [Arm(seed, width, suite=suite) for width in widths for seed in seeds]


def at_checkpoints(arms: list[Arm], steps: tuple[int, ...] | None) -> list[Arm]:
    """Each arm once per kept checkpoint step (None: the final checkpoint only), steps innermost."""
    if not steps:
        return list(arms)
    return list(dict.fromkeys(replace(a, checkpoint_step=step) for a in arms for step in steps))
