#!/usr/bin/env python
"""The compute-allocation study: larger models without TTT versus the base model with GC-TTT.

Default setting: the paper's (GC-IQL on antmaze-medium-stitch-v0, SPEC §7), 3 pre-training seeds.
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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`python sweeps/compute_sweep.py`, `ray job submit`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gcttt.errors import GctttError, UsageError
from gcttt.presets import get_preset
from sweeps.arms import AUTHORS_BUDGETS, REPLAN_K, at_checkpoints, baseline_arms, ttt_grid
from sweeps.common import add_common_arguments, apply_config_file, build_settings, fail

PROG = "compute_sweep.py"
PAPER_WIDTHS = (512, 624, 732, 992, 1332)
"""The paper's model-scaling widths (1332 pairs with K = 100); other presets keep their ratios."""
MATCHED_WIDTH_RATIO = 4
"""An extra width of 4x the base (16x acting FLOPs) so the matched-budget panel reaches 16x."""


def scaled_widths(base: int) -> list[int]:
    return [round(base * w / PAPER_WIDTHS[0]) for w in PAPER_WIDTHS] + [base * MATCHED_WIDTH_RATIO]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Examples:\n"
            "  python sweeps/compute_sweep.py                       # GC-IQL, antmaze-medium-stitch, cpu preset\n"
            "  python sweeps/compute_sweep.py --preset smoke --dataset pointmaze-medium-stitch-v0 --seeds 0\n"
            "  python analysis/plot_compute.py ~/gcttt-results/sweeps/NAME   # the three panels\n"
        ),
    )
    add_common_arguments(p, default_backbone="gciql")
    for action in p._actions:
        if action.dest == "dataset":
            action.default = "antmaze-medium-stitch-v0"
            action.help = "OGBench dataset name (default: antmaze-medium-stitch-v0, the paper's)"
        if action.dest == "seeds":
            action.default = [0, 1, 2]
            action.help = "pre-training seeds (default: 0 1 2)"
    g = p.add_argument_group("the study")
    g.add_argument(
        "--widths", type=int, nargs="+", default=None, help="widths without TTT (default: the paper's ratios, scaled)"
    )
    g.add_argument(
        "--K", type=int, nargs="+", default=list(REPLAN_K), help="re-plan intervals of GC-TTT (default: %(default)s)"
    )
    g.add_argument(
        "--N",
        type=int,
        default=None,
        help="gradient steps per re-plan (default: the authors' for the dataset, else 200; smoke: 5)",
    )
    g.add_argument(
        "--lr",
        type=float,
        default=None,
        help="fine-tuning learning rate (default: the authors' for the dataset: "
        + ", ".join(f"{d.removesuffix('-v0')} {lr:g}" for d, (lr, _) in AUTHORS_BUDGETS.items())
        + "; else 3e-4)",
    )
    g.add_argument("--selection", default="critic", help="selection strategy of the K arms (default: critic)")
    g.add_argument(
        "--cheap-N",
        type=int,
        nargs="*",
        default=[1, 2, 4, 8, 16],
        help="updates of the cheap arms (critic selection once per episode) (default: %(default)s)",
    )
    g.add_argument("--cheap-batch", type=int, default=64, help="batch of the cheap arms' updates (default: 64)")
    g.add_argument("--cheap-lr", type=float, nargs="+", default=[3e-4, 3e-3], help="learning rates of the cheap arms")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = apply_config_file(parser, argv)
        preset = get_preset(args.preset)
        widths = args.widths if args.widths is not None else scaled_widths(preset.width)
        if not widths or min(widths) < 1:
            raise UsageError(f"--widths needs positive widths (got {widths})")
        if args.cheap_batch < 1:
            raise UsageError(f"--cheap-batch must be at least 1 (got {args.cheap_batch})")
        base = min(widths)
        authors_lr, authors_n = AUTHORS_BUDGETS.get(args.dataset, (3e-4, 200))
        steps = args.N if args.N is not None else (5 if preset.name == "smoke" else authors_n)
        args.lr = args.lr if args.lr is not None else authors_lr
        grid = {
            "widths": widths,
            "K": args.K,
            "N": [steps],
            "lr": [args.lr],
            "selection": args.selection,
            "cheap": [args.cheap_N, args.cheap_batch, args.cheap_lr],
        }
        settings = build_settings(args, "compute", grid)
        from gcttt.envs import dataset_info

        limit = dataset_info(settings.dataset).episode_limit
        knobs = dict(suite=settings.suite, **settings.knobs)
        seeds = list(args.seeds)
        arms = baseline_arms(seeds, sorted(set(widths)), suite=settings.suite)
        arms += ttt_grid(seeds, base, [args.selection], args.K, [steps], [args.lr], [0.2], limit, **knobs)
        if args.cheap_N:
            cheap = {**knobs, "finetune_batch": args.cheap_batch}
            arms += ttt_grid(seeds, base, ["critic"], [limit], args.cheap_N, args.cheap_lr, [0.2], limit, **cheap)
        from sweeps.driver import run_sweep

        return run_sweep(settings, at_checkpoints(list(dict.fromkeys(arms)), settings.checkpoint_steps), PROG)
    except GctttError as exc:
        return fail(PROG, exc)


if __name__ == "__main__":
    sys.exit(main())
