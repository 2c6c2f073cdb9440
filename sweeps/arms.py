"""What a sweep evaluates: arms (one configuration each), grids of arms, and their names.

An arm is one trial of a sweep: a checkpoint (width, pre-training seed), a method with every
knob that can change an episode, and the task suite it plays. Arms are plain dicts in Ray Tune's
param space, so they round-trip through Tune's experiment state on resume; `Arm` gives them a
typed face and a stable name that keys the trial's Parquet folder and its MLflow run (a resumed
sweep rewrites, never duplicates). Knobs a strategy does not read are fixed to neutral values
(`gcttt.selection.STRATEGIES` says which it reads), so a grid never holds two identical trials.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, fields, replace

from gcttt.errors import UsageError
from gcttt.runner import EpisodeSpec
from gcttt.selection import SelectionConfig, get_strategy
from gcttt.tasks import OGBENCH
from gcttt.ttt import TTTConfig, schedule_for

_SELECTION_DEFAULTS = SelectionConfig()

AUTHORS_BUDGETS: dict[str, tuple[float, int]] = {
    "antmaze-medium-stitch-v0": (3e-5, 200),
    "pointmaze-medium-stitch-v0": (3e-4, 200),
}
"""(lr, N) of the authors' selection and re-plan ablations per dataset (GC-IQL; their
grids/selection_ablation.yaml and grids/replanning_ablation.yaml at ea8e889, SPEC §6)."""
REPLAN_K: tuple[int, ...] = (1000, 750, 500, 200, 100)
"""The re-plan intervals of the authors' re-plan ablation (SPEC §6)."""


@dataclass(frozen=True)
class Arm:
    """One sweep trial."""

    method: str
    """'baseline' or 'gcttt'."""
    seed: int
    """Pre-training seed of the checkpoint."""
    width: int
    """Width of the checkpoint's networks."""
    selection: str = ""
    """Selection strategy (gcttt)."""
    horizon: int = 0
    """K (gcttt; 0 for strategies that select once)."""
    grad_steps: int = 0
    """N (gcttt)."""
    lr: float = 0.0
    """Fine-tuning learning rate (gcttt)."""
    finetune_batch: int = 0
    """Fine-tuning batch size (gcttt; 0: the backbone's)."""
    q: float = 0.0
    """Selection quantile (strategies that read it)."""
    eps: float = _SELECTION_DEFAULTS.eps
    min_steps: int = _SELECTION_DEFAULTS.min_steps
    top_k: int = _SELECTION_DEFAULTS.top_k
    slack: int = _SELECTION_DEFAULTS.slack
    random_size: int = _SELECTION_DEFAULTS.random_size
    distance_discount: float = (
        -1.0 if _SELECTION_DEFAULTS.distance_discount is None else _SELECTION_DEFAULTS.distance_discount
    )
    """-1: the backbone's own discount."""
    suite: str = OGBENCH
    """Task suite the arm plays."""
    checkpoint_step: int | None = None
    """Pre-training step of the checkpoint the arm plays (a kept `step_XXXXXXXX.pt`); None: the run's
    final checkpoint. The authors evaluate every run at three steps and average them (SPEC §3)."""

    @property
    def name(self) -> str:
        suite = "" if self.suite == OGBENCH else f"-{self.suite}"
        if self.checkpoint_step is not None:
            suite = f"-c{self.checkpoint_step}{suite}"
        if self.method == "baseline":
            return f"baseline-w{self.width}-s{self.seed}{suite}"
        strategy = get_strategy(self.selection)
        parts = [f"gcttt-{self.selection}"]
        if self.horizon:
            parts.append(f"K{self.horizon}")
        parts += [f"N{self.grad_steps}", f"lr{self.lr:g}"]
        if self.finetune_batch:
            parts.append(f"b{self.finetune_batch}")
        if "q" in strategy.knobs:
            parts.append(f"q{self.q:g}")
        defaults = Arm("gcttt", 0, 0)
        for knob in ("eps", "min_steps", "top_k", "slack", "random_size", "distance_discount"):
            value = getattr(self, knob)
            if knob in strategy.knobs and value != getattr(defaults, knob):
                parts.append(f"{knob}{value:g}")
        return "-".join(parts) + f"-w{self.width}-s{self.seed}{suite}"

    def as_dict(self) -> dict:
        return asdict(self)

    def selection_config(self) -> SelectionConfig:
        discount = None if self.distance_discount < 0 else self.distance_discount
        return SelectionConfig(
            strategy=self.selection,
            eps=self.eps,
            min_steps=self.min_steps,
            top_k=self.top_k,
            q=self.q or _SELECTION_DEFAULTS.q,
            slack=self.slack,
            random_size=self.random_size,
            distance_discount=discount,
        )

    def ttt_config(self) -> TTTConfig:
        """The arm's TTT knobs (validated: bad values raise UsageError); defaults for the baseline."""
        if self.method == "baseline":
            return TTTConfig()
        return TTTConfig(
            horizon=max(1, self.horizon),
            steps=self.grad_steps,
            lr=self.lr,
            batch_size=self.finetune_batch or None,
            selection=self.selection_config(),
        )

    def specs(self, tasks: tuple[int, ...], episodes_per_task: int, eval_seed: int) -> list[EpisodeSpec]:
        ttt = self.ttt_config()
        return [
            EpisodeSpec(task_id=t, episode_index=i, seed=eval_seed, method=self.method, ttt=ttt, suite=self.suite)
            for t in tasks
            for i in range(episodes_per_task)
        ]


def selection_knobs_from(**values) -> dict:
    """Arm fields for sweep-wide selection knobs (e.g. eps, top_k from the command line)."""
    known = {f.name for f in fields(Arm)}
    unknown = set(values) - known
    if unknown:
        raise UsageError(f"unknown selection knobs {sorted(unknown)}")
    return {k: v for k, v in values.items() if v is not None}


def ttt_grid(
    seeds: list[int],
    width: int,
    selections: list[str],
    horizons: list[int],
    grad_steps: list[int],
    lrs: list[float],
    qs: list[float],
    episode_limit: int,
    suite: str = OGBENCH,
    **knobs,
) -> list[Arm]:
    """The Cartesian grid of gcttt arms, without repeats.

    K above `episode_limit` is refused (it would be the same trial as K = the limit, which means
    once per episode); strategies that select once ignore K, and strategies that do not read q
    ignore it, so neither multiplies the grid.
    """
    for name, values in (("selection", selections), ("K", horizons), ("N", grad_steps), ("lr", lrs), ("q", qs)):
        if not values:
            raise UsageError(f"the grid is empty: give at least one value for --{name}")
    for k in horizons:  # validated even where only strategies that select once (and ignore K) run
        if k < 1:
            raise UsageError(f"K (re-plan horizon) must be at least 1 (got {k})")
    extra = selection_knobs_from(**knobs)
    for q in qs:  # validated even where no strategy of the grid reads it
        SelectionConfig(q=q)
    arms = []
    finetune_batch = extra.pop("finetune_batch", 0)
    for seed, sel, k, n, lr, q in itertools.product(seeds, selections, horizons, grad_steps, lrs, qs):
        strategy = get_strategy(sel)
        read = {knob: value for knob, value in extra.items() if knob in strategy.knobs}
        arm = Arm(
            "gcttt",
            seed,
            width,
            sel,
            horizon=k if strategy.receding else 0,
            grad_steps=n,
            lr=lr,
            finetune_batch=finetune_batch,
            q=q if "q" in strategy.knobs else 0.0,
            suite=suite,
            **read,
        )
        # Validate the knobs now, so that a bad grid fails before anything starts.
        schedule_for(arm.ttt_config(), episode_limit)
        arms.append(arm)
    return list(dict.fromkeys(arms))


def baseline_arms(seeds: list[int], widths: list[int], suite: str = OGBENCH) -> list[Arm]:
    return [Arm("baseline", seed, width, suite=suite) for width in widths for seed in seeds]


def at_checkpoints(arms: list[Arm], steps: tuple[int, ...] | None) -> list[Arm]:
    """Each arm once per kept checkpoint step (None: the final checkpoint only), steps innermost."""
    if not steps:
        return list(arms)
    return list(dict.fromkeys(replace(a, checkpoint_step=step) for a in arms for step in steps))
