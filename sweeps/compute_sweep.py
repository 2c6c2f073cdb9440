#!/usr/bin/env python
"""The compute-allocation study: larger models without TTT versus the base model with TTT.

Arms: the pre-trained policy at widths 512/624/732/992 (paper scale; scaled by the same ratios
from the preset's width, e.g. 128/156/183/248 at the cpu preset) without test-time training, and
the base width with GC-TTT re-planning every K in {1000, 500, 200, 100} steps (K at the episode
limit is the once-per-episode form). Every episode row carries its counted test-time FLOPs
(acting, selection, fine-tuning), so `analysis/plot_compute.py` can place each arm on a FLOPs
axis. Missing checkpoints (one per width and seed) are pre-trained first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`python sweeps/compute_sweep.py`, `ray job submit`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gcttt.errors import GctttError, UsageError
from gcttt.presets import get_preset
from sweeps.arms import baseline_arms, ttt_grid
from sweeps.common import add_common_arguments, apply_config_file, build_settings, fail

PROG = "compute_sweep.py"
PAPER_WIDTHS = (512, 624, 732, 992)
"""Widths of the paper's model-scaling curve; other presets keep their ratios to 512."""


def scaled_widths(base: int) -> list[int]:
    return [round(base * w / PAPER_WIDTHS[0]) for w in PAPER_WIDTHS]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Examples:\n"
            "  python sweeps/compute_sweep.py                     # GC-IQL, cpu preset\n"
            "  python sweeps/compute_sweep.py --preset smoke\n"
            "  python analysis/plot_compute.py                    # the figure from the results\n"
        ),
    )
    add_common_arguments(p, default_backbone="gciql")
    g = p.add_argument_group("the study")
    g.add_argument(
        "--widths", type=int, nargs="+", default=None, help="widths without TTT (default: the paper's, scaled)"
    )
    g.add_argument("--K", type=int, nargs="+", default=[1000, 500, 200, 100], help="re-plan horizons of the TTT arms")
    g.add_argument("--N", type=int, default=None, help="gradient steps per re-plan (default: 50; smoke: 5)")
    g.add_argument("--lr", type=float, default=3e-4, help="fine-tuning learning rate")
    g.add_argument("--selection", default="critic", help="selection strategy of the TTT arms")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = apply_config_file(parser, argv)
        preset = get_preset(args.preset)
        widths = args.widths if args.widths is not None else scaled_widths(preset.width)
        if not widths or min(widths) < 1:
            raise UsageError(f"--widths needs positive widths (got {widths})")
        base = min(widths)
        steps = args.N if args.N is not None else (5 if preset.name == "smoke" else 50)
        grid = {"widths": widths, "K": args.K, "N": [steps], "lr": [args.lr], "selection": args.selection}
        settings = build_settings(args, "compute", grid)
        from gcttt.envs import dataset_info

        limit = dataset_info(settings.dataset).episode_limit
        arms = baseline_arms(list(args.seeds), sorted(set(widths)), suite=settings.suite)
        knobs = dict(suite=settings.suite, **settings.knobs)
        arms += ttt_grid(list(args.seeds), base, [args.selection], args.K, [steps], [args.lr], [0.2], limit, **knobs)
        from sweeps.driver import run_sweep

        return run_sweep(settings, arms, PROG)
    except GctttError as exc:
        return fail(PROG, exc)


if __name__ == "__main__":
    sys.exit(main())
