"""What a sweep evaluates: arms (one configuration each), grids of arms, and their names.

An arm is one trial of a sweep: a checkpoint (width, pre-training seed) and a method with its
knobs. Arms are plain dicts in Ray Tune's param space, so they round-trip through Tune's
experiment state on resume; `Arm` gives them a typed face and a stable name that keys the
trial's Parquet file and its MLflow run (a resumed sweep rewrites, never duplicates).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

from gcttt.errors import UsageError
from gcttt.runner import EpisodeSpec
from gcttt.selection import STRATEGIES, SelectionConfig
from gcttt.ttt import TTTConfig

Q_STRATEGIES = ("critic-quantile", "critic-free")
"""Strategies that read q; for the others q is fixed so the grid has no duplicate trials."""


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
    """K (gcttt)."""
    grad_steps: int = 0
    """N (gcttt)."""
    lr: float = 0.0
    """Fine-tuning learning rate (gcttt)."""
    q: float = 0.0
    """Selection quantile (gcttt)."""
    once: bool = False
    """Fine-tune once per episode, reset after the segment (gcttt)."""

    @property
    def name(self) -> str:
        if self.method == "baseline":
            return f"baseline-w{self.width}-s{self.seed}"
        once = "-once" if self.once else ""
        return (
            f"gcttt-{self.selection}-K{self.horizon}-N{self.grad_steps}-lr{self.lr:g}-q{self.q:g}{once}"
            f"-w{self.width}-s{self.seed}"
        )

    def as_dict(self) -> dict:
        return asdict(self)

    def ttt_config(self) -> TTTConfig:
        """The arm's TTT knobs (validated: bad values raise UsageError); defaults for the baseline."""
        if self.method == "baseline":
            return TTTConfig()
        return TTTConfig(
            horizon=self.horizon,
            steps=self.grad_steps,
            lr=self.lr,
            once=self.once,
            selection=SelectionConfig(strategy=self.selection, q=self.q),
        )

    def specs(self, tasks: tuple[int, ...], episodes_per_task: int, eval_seed: int) -> list[EpisodeSpec]:
        ttt = self.ttt_config()
        return [
            EpisodeSpec(task_id=t, episode_index=i, seed=eval_seed, method=self.method, ttt=ttt)
            for t in tasks
            for i in range(episodes_per_task)
        ]


def ttt_grid(
    seeds: list[int],
    width: int,
    selections: list[str],
    horizons: list[int],
    grad_steps: list[int],
    lrs: list[float],
    qs: list[float],
    episode_limit: int,
) -> list[Arm]:
    """The Cartesian grid of gcttt arms. K >= the episode limit means once per episode."""
    for name, values in (
        ("selection", selections),
        ("K", horizons),
        ("N", grad_steps),
        ("lr", lrs),
        ("q", qs),
    ):
        if not values:
            raise UsageError(f"the grid is empty: give at least one value for --{name}")
    for s in selections:
        if s not in STRATEGIES:
            raise UsageError(f"unknown selection {s!r}; choose from {', '.join(STRATEGIES)}")
    arms = []
    for seed, sel, k, n, lr in itertools.product(seeds, selections, horizons, grad_steps, lrs):
        for q in qs if sel in Q_STRATEGIES else qs[:1]:
            # Validate the knobs now, so that a bad grid fails before anything starts.
            arm = Arm("gcttt", seed, width, sel, k, n, lr, q, once=k >= episode_limit)
            arm.ttt_config()
            arms.append(arm)
    return list(dict.fromkeys(arms))


def baseline_arms(seeds: list[int], widths: list[int]) -> list[Arm]:
    return [Arm("baseline", seed, width) for width in widths for seed in seeds]
