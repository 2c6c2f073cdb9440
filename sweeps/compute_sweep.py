#!/usr/bin/env python
"""The compute-allocation study: larger models without TTT versus the base model with GC-TTT.

Default setting: the paper's (GC-IQL on antmaze-medium-stitch-v0, docs/method.md §8), 3 pre-training seeds.
Arms:
- model scaling: the pre-trained policy without TTT at the paper's width ratios
  512 : 624 : 732 : 992 : 1332, scaled to the preset's width, plus 4x the base width (16x the
  acting FLOPs) so that panel (c) of the figure reaches 16x;
- GC-TTT at the base width re-planning every K = 1000 / 750 / 500 / 200 / 100 steps (the authors'
  re-plan ablation) with critic selection (K equal to the episode limit: once per episode), at
  the authors' lr and N for the dataset where their grids name them (antmaze-medium-stitch:
  lr 3e-5, N = 200; pointmaze-medium-stitch: 3e-4, 200), else lr 3e-4, N = 200;
- cheap GC-TTT that fits small budgets: critic selection once per episode (it selects data on
  stitch datasets, where critic-free finds none), --cheap-N updates of batch --cheap-batch, at
  each --cheap-lr.
Every row carries its counted FLOPs per phase, the unit costs and the checkpoint's pre-training
FLOPs, so `analysis/plot_compute.py` can draw the paper's axis, exact FLOPs and matched budgets.
Missing checkpoints (one per width and seed) are pre-trained first.

Examples:
  python sweeps/compute_sweep.py                       # GC-IQL, antmaze-medium-stitch, cpu preset
  python sweeps/compute_sweep.py --preset smoke --dataset pointmaze-medium-stitch-v0 --seeds 0
  python analysis/plot_compute.py ~/gcttt-results/sweeps/NAME   # the panels
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

from gcttt.envs import dataset_info
from gcttt.errors import GctttError, UsageError
from gcttt.presets import get_preset
from sweeps.arms import AUTHORS_BUDGETS, REPLAN_K, at_checkpoints, baseline_arms, ttt_grid
from sweeps.common import fail, resolve
from sweeps.config import Checkpoints, SweepConfig, parse
from sweeps.driver import run_sweep

PROG = "compute_sweep.py"
PAPER_WIDTHS = (512, 624, 732, 992, 1332)
"""The paper's model-scaling widths (1332 pairs with K = 100); other presets keep their ratios."""
MATCHED_WIDTH_RATIO = 4
"""An extra width of 4x the base (16x acting FLOPs) so the matched-budget panel reaches 16x."""


def scaled_widths(base: int) -> list[int]:
    return [round(base * w / PAPER_WIDTHS[0]) for w in PAPER_WIDTHS] + [base * MATCHED_WIDTH_RATIO]


@dataclass(frozen=True)
class ComputeStudy:
    """The study's arms."""

    widths: tuple[int, ...] | Literal["paper"] = "paper"
    """Widths without TTT ('paper': the paper's ratios scaled to the preset's width, plus 4x)."""
    K: tuple[int, ...] = REPLAN_K
    """Re-plan intervals of GC-TTT."""
    N: int | Literal["authors"] = "authors"
    """Gradient steps per re-plan ('authors': the authors' for the dataset, else 200; smoke: 5)."""
    lr: float | Literal["authors"] = "authors"
    """Fine-tuning learning rate ('authors': the authors' for the dataset (`sweeps.arms.AUTHORS_BUDGETS`:
    antmaze-medium-stitch 3e-5, pointmaze-medium-stitch 3e-4), else 3e-4)."""
    selection: str = "critic"
    """Selection strategy of the K arms."""
    cheap_N: tuple[int, ...] = (1, 2, 4, 8, 16)
    """Updates of the cheap arms (critic selection once per episode; none: no cheap arms)."""
    cheap_batch: int = 64
    """Batch of the cheap arms' updates."""
    cheap_lr: tuple[float, ...] = (3e-4, 3e-3)
    """Learning rates of the cheap arms."""

    def __post_init__(self) -> None:
        if self.widths != "paper" and (not self.widths or min(self.widths) < 1):
            raise UsageError(f"--widths needs positive widths (got {list(self.widths)})")
        if self.cheap_batch < 1:
            raise UsageError(f"--cheap-batch must be at least 1 (got {self.cheap_batch})")


@dataclass(frozen=True)
class ComputeSweep(SweepConfig):
    """The compute study's configuration: the paper's setting by default."""

    what: Checkpoints = field(
        default_factory=lambda: Checkpoints(dataset="antmaze-medium-stitch-v0", backbone="gciql", seeds=(0, 1, 2))
    )
    study: ComputeStudy = field(default_factory=ComputeStudy)


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse(ComputeSweep, argv, PROG, __doc__)
        study = config.study
        preset = get_preset(config.what.preset)
        widths = list(study.widths) if study.widths != "paper" else scaled_widths(preset.width)
        base = min(widths)
        authors_lr, authors_n = AUTHORS_BUDGETS.get(config.what.dataset, (3e-4, 200))
        steps = study.N if study.N != "authors" else (5 if preset.name == "smoke" else authors_n)
        lr = study.lr if study.lr != "authors" else authors_lr
        grid = {
            "widths": widths,
            "K": list(study.K),
            "N": [steps],
            "lr": [lr],
            "selection": study.selection,
            "cheap": [list(study.cheap_N), study.cheap_batch, list(study.cheap_lr)],
        }
        sweep = resolve(config, "compute", grid)

        limit = dataset_info(sweep.what.dataset).episode_limit
        common = sweep.arm_knobs()
        seeds = sweep.what.seeds
        arms = baseline_arms(seeds, sorted(set(widths)), suite=sweep.episodes.suite)
        arms += ttt_grid(
            seeds,
            base,
            [study.selection],
            study.K,
            [steps],
            [lr],
            [0.2],
            limit,
            **common,
        )
        if study.cheap_N:
            cheap = ttt_grid(
                seeds,
                base,
                ["critic"],
                [limit],
                study.cheap_N,
                study.cheap_lr,
                [0.2],
                limit,
                **{**common, "finetune_batch": study.cheap_batch},
            )
            arms += cheap

        return run_sweep(sweep, at_checkpoints(list(dict.fromkeys(arms)), sweep.what.checkpoint_steps), PROG)
    except GctttError as exc:
        return fail(PROG, exc)


if __name__ == "__main__":
    sys.exit(main())
