#!/usr/bin/env python
"""Reproduce the paper's Table 1 (and Figure 6's left and middle panels), tuned on held-out tasks.

For each cell BACKBONE/DATASET, in order:
1. pre-train every seed (cached under OUT/checkpoints, shared with the other sweeps);
2. tune: the paper's grid (lr {3e-4, 3e-5} x N {50, 100, 200} x K {100, 200} x {critic,
   critic-free}; critic-free does not read K) with the first seed on a held-out task suite,
   start/goal pairs that are not OGBench's (SPEC §6: the paper tuned on the reported tasks);
3. choose the configuration with the best held-out success (ties: the cheaper one);
4. evaluate the pre-trained policy and the chosen configuration on OGBench's 5 tasks with every
   seed, at every checkpoint the preset keeps (cpu: 16k, 18k and 20k updates; the authors
   average 800k/900k/1M, SPEC §3), one episode per task and checkpoint by default: 3 seeds x 3
   checkpoints x 5 tasks = 45 episodes per entry. --paper-protocol also evaluates the whole grid
   there with the first seed at the last checkpoint, so the report can show the number the
   paper's protocol (best configuration judged on the reported tasks) would have given.
   --figure6 adds, in GC-IQL stitch cells, the selection ablation (random, no-optimality,
   no-relevance and the critic at K = 100) and the re-plan curve (K = 1000/750/500/200/100), both
   at the authors' lr and N for the dataset (`sweeps.arms.AUTHORS_BUDGETS`);
   `analysis/plot_figure6.py` draws both panels from the final sweeps' rows.

Each phase is a sweep of its own (Ray Tune trials, Parquet rows with a task_suite column, an
MLflow parent run) named NAME-CELL-tune / NAME-CELL-final; a finished phase is skipped, an
interrupted one resumed, so the same command continues an interrupted reproduction. One progress
line per cell; `analysis/table1.py` makes Table 1 (with the paper's numbers beside ours) from the
rows, of the sweep folders or of the study they are published into (`gcttt results publish`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`python sweeps/reproduce.py`, `ray job submit`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gcttt.errors import GctttError, UsageError
from gcttt.presets import get_preset
from sweeps.arms import AUTHORS_BUDGETS, REPLAN_K, Arm, at_checkpoints, baseline_arms, ttt_grid
from sweeps.common import add_common_arguments, apply_config_file, build_settings, fail

PROG = "reproduce.py"
GRID = {"lr": [3e-4, 3e-5], "N": [50, 100, 200], "K": [100, 200], "selections": ["critic", "critic-free"]}
"""The paper's tuning grid (SPEC §6): 12 settings x 2 variants (critic-free ignores K: 18 arms)."""
SMOKE_GRID = {"lr": [3e-4], "N": [5], "K": [100, 200], "selections": ["critic", "critic-free"]}
ORDER = ("pointmaze-medium-navigate-v0", "antmaze-medium-navigate-v0", "antmaze-medium-stitch-v0",
         "pointmaze-medium-stitch-v0", "cube-single-play-v0")  # fmt: skip
DEFAULT_CELLS = tuple(f"{b}/{d}" for d in ORDER for b in ("gcbc", "gciql", "saw"))
"""Every cell of Table 1 whose data can be made offline (humanoidmaze needs OGBench's download)."""
ABLATIONS = ("random", "no-optimality", "no-relevance")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p, default_backbone="gcbc")
    for action in p._actions:  # the cells name backbone and dataset; seeds default to the paper's 3
        if action.dest in ("dataset", "backbone"):
            action.help = argparse.SUPPRESS
        if action.dest == "seeds":
            action.default = [0, 1, 2]
            action.help = "pre-training seeds (default: 0 1 2)"
        if action.dest == "episodes_per_task":
            action.help = "final episodes per OGBench task, arm and checkpoint (default: 1)"
        if action.dest == "checkpoints":
            action.default = "kept"
            action.help = (
                "final phase: every checkpoint the preset keeps, averaged as the authors do, or the final one only "
                "(default: kept; tuning always uses the final one)"
            )
    g = p.add_argument_group("the reproduction")
    g.add_argument(
        "--cells",
        nargs="+",
        default=None,
        help="BACKBONE/DATASET cells, e.g. gcbc/pointmaze-medium-navigate-v0 gciql/antmaze-medium-stitch-v0 "
        f"(default: all {len(DEFAULT_CELLS)} offline cells; smoke: gcbc/pointmaze-medium-navigate-v0)",
    )
    g.add_argument("--phase", choices=["all", "tune", "final"], default="all", help="run only one phase (default: all)")
    g.add_argument("--heldout-seed", type=int, default=0, help="seed of the held-out task pairs (default: 0)")
    g.add_argument("--tune-episodes", type=int, default=1, help="episodes per held-out task while tuning (default: 1)")
    g.add_argument(
        "--paper-protocol",
        action="store_true",
        help="also evaluate the whole grid on the reported tasks (the paper's choice of number; costly)",
    )
    g.add_argument("--figure6", action="store_true", help="add the selection ablation and re-plan arms (GC-IQL stitch)")
    return p


def parse_cell(text: str) -> tuple[str, str]:
    from gcttt.agents import get_backbone
    from gcttt.envs import dataset_info

    backbone, sep, dataset = text.partition("/")
    if not sep:
        raise UsageError(f"--cells {text!r}: name cells BACKBONE/DATASET, e.g. gcbc/pointmaze-medium-navigate-v0")
    get_backbone(backbone)
    dataset_info(dataset)
    return backbone, dataset


def cell_id(backbone: str, dataset: str) -> str:
    return f"{backbone}-{dataset.removesuffix('-v0')}"


def phase_settings(args: argparse.Namespace, backbone: str, dataset: str, phase: str, seeds, name: str):
    ns = argparse.Namespace(**vars(args))
    ns.backbone, ns.dataset, ns.seeds = backbone, dataset, list(seeds)
    ns.name = f"{name}-{cell_id(backbone, dataset)}-{phase}"
    if phase == "tune":
        ns.suite, ns.tasks, ns.episodes_per_task = f"heldout-{args.heldout_seed}", None, args.tune_episodes
        ns.checkpoints = "final"
    else:
        ns.suite, ns.tasks = "ogbench", None
    grid = SMOKE_GRID if args.preset == "smoke" else GRID
    return build_settings(ns, "reproduce", {"phase": phase, "grid": grid, "heldout_seed": args.heldout_seed})


def grid_arms(settings, seeds, width: int, limit: int) -> list[Arm]:
    grid = SMOKE_GRID if settings.preset == "smoke" else GRID
    knobs = dict(suite=settings.suite, **settings.knobs)
    return ttt_grid(list(seeds), width, grid["selections"], grid["K"], grid["N"], grid["lr"], [0.2], limit, **knobs)


def choose(rows, arms: list[Arm]) -> tuple[Arm, float]:
    """The arm with the best held-out success; ties go to the one with fewer FLOPs per episode."""
    from gcttt.summary import summarize

    by_name = {a.name: a for a in arms}
    rows = rows[rows["trial_id"].isin(by_name)]
    summary = summarize(rows, ["trial_id"], with_ci=False, means=("flops_total",))
    best = summary.sort_values(["mean", "flops_total"], ascending=[False, True], kind="stable").iloc[0]
    return by_name[best["trial_id"]], float(best["mean"])


def run_phase(settings, arms: list[Arm]) -> None:
    from sweeps.driver import run_sweep, sweep_state

    state = sweep_state(settings, arms)
    if state == "done":
        return
    code = run_sweep(replace(settings, resume=state == "partial"), arms, PROG)
    if code != 0:
        raise UsageError(f"sweep {settings.name} did not finish; rerun the same command to continue it")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = apply_config_file(parser, argv)
        preset = get_preset(args.preset)
        cells = [parse_cell(c) for c in (args.cells or (["gcbc/pointmaze-medium-navigate-v0"] if preset.name ==
                                                          "smoke" else DEFAULT_CELLS))]  # fmt: skip
        if args.tune_episodes < 1:
            raise UsageError(f"--tune-episodes must be at least 1 (got {args.tune_episodes})")
        if args.episodes_per_task is None:
            args.episodes_per_task = 1
        name = args.name or f"reproduce-{preset.name}"
        seeds = list(args.seeds)
        out_dir = None
        choices: dict[str, dict] = {}
        for i, (backbone, dataset) in enumerate(cells, 1):
            from gcttt.envs import dataset_info

            limit = dataset_info(dataset).episode_limit
            width = preset.width
            tune = phase_settings(args, backbone, dataset, "tune", seeds[:1], name)
            out_dir = Path(tune.out) / "reproduce" / name
            choices_path = out_dir / "choices.json"
            if choices_path.exists():
                choices = json.loads(choices_path.read_text())
            tune_arms = grid_arms(tune, seeds[:1], width, limit)
            cid = cell_id(backbone, dataset)
            if args.phase in ("all", "tune"):
                run_phase(tune, tune_arms)
                from gcttt.tables import read_sweep_rows

                chosen, heldout = choose(read_sweep_rows(tune.episodes_dir), tune_arms)
                choices[cid] = {"backbone": backbone, "dataset": dataset, "arm": chosen.as_dict(), "heldout": heldout}
                from gcttt.fileio import atomic_write_text

                atomic_write_text(choices_path, json.dumps(choices, indent=2) + "\n")
            if args.phase == "tune":
                print(
                    f"{PROG}: cell {i}/{len(cells)} {backbone}/{dataset}: tuned, best {choices[cid]['arm']}", flush=True
                )
                continue
            if cid not in choices:
                raise UsageError(f"cell {backbone}/{dataset} has no tuned configuration yet; run --phase tune first")
            final = phase_settings(args, backbone, dataset, "final", seeds, name)
            chosen = Arm(**{**choices[cid]["arm"], "suite": "ogbench"})
            steps = final.checkpoint_steps
            last = steps[-1] if steps else None
            arms = at_checkpoints(baseline_arms(seeds, [width]), steps)
            chosen_arms = at_checkpoints([Arm(**{**chosen.as_dict(), "seed": s}) for s in seeds], steps)
            arms += chosen_arms
            if args.paper_protocol:
                protocol = [replace(a, checkpoint_step=last) for a in grid_arms(final, seeds[:1], width, limit)]
                arms += [a for a in protocol if a not in arms]
            if args.figure6 and backbone == "gciql" and "stitch" in dataset:
                knobs = dict(suite="ogbench", **final.knobs)
                lr, n = AUTHORS_BUDGETS.get(dataset, (chosen.lr, 200))
                ablations = ttt_grid(seeds, width, ["critic", *ABLATIONS], [100], [n], [lr], [0.2], limit, **knobs)
                replan = ttt_grid(seeds, width, ["critic"], [k for k in REPLAN_K if k <= limit], [n], [lr], [0.2],
                                  limit, **knobs)  # fmt: skip
                arms += [a for a in at_checkpoints(ablations + replan, steps) if a not in arms]
            run_phase(final, arms)
            _progress(i, len(cells), backbone, dataset, final, chosen_arms, choices[cid]["heldout"])
        if out_dir is not None and args.phase != "tune":
            sweeps = Path(args.out).expanduser().resolve() / "sweeps"
            print(
                f"{PROG}: Table 1 of these cells: python analysis/table1.py {sweeps} --name {name} --out {out_dir}; "
                f"publish them: gcttt results publish {sweeps}/{name}-* --study {name}",
                file=sys.stderr,
            )
        return 0
    except GctttError as exc:
        return fail(PROG, exc)


def _progress(i: int, n: int, backbone: str, dataset: str, final, chosen: list[Arm], heldout: float) -> None:
    from gcttt.summary import summarize
    from gcttt.tables import read_sweep_rows

    rows = read_sweep_rows(final.episodes_dir)
    base = rows[rows["method"] == "baseline"]
    ttt = rows[rows["trial_id"].isin([a.name for a in chosen])]
    b = summarize(base, ["method"]).iloc[0]
    t = summarize(ttt, ["method"]).iloc[0]
    label = chosen[0].name.rsplit("-w", 1)[0]
    print(
        f"{PROG}: cell {i}/{n} {backbone}/{dataset}: pre-trained {b['mean']:.2f} [{b['low']:.2f}, {b['high']:.2f}] "
        f"-> +TTT {t['mean']:.2f} [{t['low']:.2f}, {t['high']:.2f}] with {label} (held-out {heldout:.2f}); "
        f"{int(t['seeds'])} seeds x {int(t['checkpoints']) // max(1, int(t['seeds']))} checkpoints, "
        f"{int(t['episodes'])} episodes",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
