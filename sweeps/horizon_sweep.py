#!/usr/bin/env python
"""Ray Tune sweep of GC-TTT's knobs: re-plan horizon K, gradient steps N, lr, quantile q.

One trial per grid point and pre-training seed, plus the pre-trained baseline of every seed, so
every comparison comes from one run. Each trial plays tasks x episodes with episode workers in
its placement group, writes one row per episode to Parquet and logs one MLflow run under the
sweep's parent run. With no arguments: the embedded default (local Ray, a locally generated
pointmaze-medium-navigate-v0, GC-BC at the cpu preset, sqlite MLflow under ~/gcttt-results).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`python sweeps/horizon_sweep.py`, `ray job submit`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gcttt.errors import GctttError
from gcttt.presets import get_preset
from sweeps.arms import at_checkpoints, baseline_arms, ttt_grid
from sweeps.common import add_common_arguments, apply_config_file, build_settings, fail

PROG = "horizon_sweep.py"

GRIDS = {
    # K, N, lr, q: values from the authors' sweep (SPEC §6), trimmed to fit the preset's budget.
    "paper": {"K": [100, 200], "N": [50, 100, 200], "lr": [3e-4, 3e-5], "q": [0.2]},
    "cpu": {"K": [100, 200], "N": [50, 100], "lr": [3e-4, 3e-5], "q": [0.2]},
    "smoke": {"K": [200], "N": [5, 10], "lr": [3e-4], "q": [0.2]},
}
"""Default grid per preset; any flag replaces its axis."""
ABLATIONS = ("random", "no-relevance", "no-optimality", "full-dataset", "critic-free")
"""The selection controls of SPEC §5, run beside the grid so one sweep gives the ablation bars."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Examples:\n"
            "  python sweeps/horizon_sweep.py                      # the default (about 12 min on 2 cores)\n"
            "  python sweeps/horizon_sweep.py --preset smoke       # under a minute\n"
            "  python sweeps/horizon_sweep.py --name headline-gcbc --seeds 0 1 2 --selections critic \\\n"
            "      --K 200 --N 100 --lr 3e-4 --episodes-per-task 3   # the README's headline\n"
            "  RAY_AUTH_MODE=token ray job submit --working-dir . -- \\\n"
            "      python sweeps/horizon_sweep.py --out /shared/results\n"
            "Default grids (K / N / lr / q): "
            + "; ".join(f"{k}: {v['K']} / {v['N']} / {v['lr']} / {v['q']}" for k, v in GRIDS.items())
        ),
    )
    add_common_arguments(p, default_backbone="gcbc", trajectories=True)
    g = p.add_argument_group("the grid (each flag replaces the preset's default axis)")
    g.add_argument(
        "--K",
        type=int,
        nargs="+",
        default=None,
        help="re-plan horizons (env steps between re-plans); K equal to the episode limit means once per episode "
        "(back to the pre-trained policy after the segment), K above it is refused",
    )
    g.add_argument("--N", type=int, nargs="+", default=None, help="gradient steps per re-plan")
    g.add_argument("--lr", type=float, nargs="+", default=None, help="fine-tuning learning rates")
    g.add_argument(
        "--q", type=float, nargs="+", default=None, help="selection quantiles (critic-quantile, critic-free)"
    )
    g.add_argument(
        "--selections", nargs="+", default=["critic"], help="selection strategies (critic, random, full-dataset, ...)"
    )
    g.add_argument(
        "--ablations",
        nargs="*",
        default=None,
        help="control selections evaluated at one grid point: the largest K and N, the first lr and q "
        "(default: random no-relevance no-optimality full-dataset critic-free; smoke: none)",
    )
    g.add_argument("--no-baseline", action="store_true", help="leave out the pre-trained baseline trials")
    p.add_argument(
        "--check-against",
        default=None,
        metavar="STUDY_DIR",
        help="after the sweep, compare its rows with a study of the results store (make demo: results/demo): "
        "'identical' where the checkpoints' weights match, else the rows that differ beyond their 95%% CIs",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = apply_config_file(parser, argv)
        preset = get_preset(args.preset)
        grid = {a: v if getattr(args, a) is None else getattr(args, a) for a, v in GRIDS[preset.name].items()}
        grid["selections"] = args.selections
        grid["ablations"] = args.ablations
        settings = build_settings(args, "horizon", grid)
        width = preset.width
        from gcttt.envs import dataset_info

        limit = dataset_info(settings.dataset).episode_limit
        knobs = dict(suite=settings.suite, **settings.knobs)
        arms = ttt_grid(
            list(args.seeds), width, args.selections, grid["K"], grid["N"], grid["lr"], grid["q"], limit, **knobs
        )
        ablations = args.ablations
        if ablations is None:
            ablations = [] if preset.name == "smoke" else list(ABLATIONS)
        if ablations:
            at = ([max(grid["K"])], [max(grid["N"])], grid["lr"][:1], grid["q"][:1])
            arms += [a for a in ttt_grid(list(args.seeds), width, ablations, *at, limit, **knobs) if a not in arms]
        if not args.no_baseline:
            arms = baseline_arms(list(args.seeds), [width], suite=settings.suite) + arms
        from sweeps.driver import run_sweep

        arms = at_checkpoints(arms, settings.checkpoint_steps)
        if args.check_against and not settings.resume:
            from sweeps.driver import sweep_state

            if sweep_state(settings, arms) == "done":  # a second `make demo`: check the finished sweep again
                print(f"{PROG}: sweep {settings.name} already finished ({settings.sweep_dir})", file=sys.stderr)
                check_against(settings, args.check_against)
                return 0
        code = run_sweep(settings, arms, PROG)
        if code == 0 and args.check_against:
            check_against(settings, args.check_against)
        return code
    except GctttError as exc:
        return fail(PROG, exc)


def check_against(settings, study: str) -> None:
    """The demo's self-check: this sweep's rows beside a study's reference rows."""
    from gcttt.store import compare_with_reference, read_study
    from gcttt.tables import read_sweep_rows

    path = Path(study).expanduser().resolve()
    reference = read_study(path.parent, path.name)
    lines = compare_with_reference(read_sweep_rows(settings.episodes_dir), reference, f"{study}")
    print(f"{PROG}: self-check against {study}:", *lines, sep="\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
