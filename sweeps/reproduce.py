#!/usr/bin/env python
"""Reproduce the paper's Table 1 (and Figure 6's left and middle panels), tuned on held-out tasks.

For each cell BACKBONE/DATASET, in order:
1. pre-train every seed (cached under OUT/checkpoints, shared with the other sweeps);
2. tune: the paper's grid (lr {3e-4, 3e-5} x N {50, 100, 200} x K {100, 200} x {critic,
   critic-free}; critic-free does not read K) with the first seed on a held-out task suite,
   start/goal pairs that are not OGBench's (docs/method.md §7: the paper tuned on the reported tasks);
3. choose the configuration with the best held-out success (ties: the cheaper one);
4. evaluate the pre-trained policy and the chosen configuration on OGBench's 5 tasks with every
   seed, at every checkpoint the preset keeps (cpu: 16k, 18k and 20k updates; the authors
   average 800k/900k/1M, docs/method.md §3), one episode per task and checkpoint by default: 3 seeds x 3
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

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import tyro

from gcttt.agents import get_backbone
from gcttt.envs import dataset_info
from gcttt.errors import GctttError, UsageError
from gcttt.files.fileio import atomic_write_text
from gcttt.presets import get_preset
from gcttt.results.summary import summarize
from gcttt.results.tables import read_sweep_rows
from sweeps.arms import AUTHORS_BUDGETS, REPLAN_K, Arm, at_checkpoints, baseline_arms, ttt_grid
from sweeps.common import Sweep, fail, resolve
from sweeps.config import Checkpoints, SweepConfig, Tasks, parse
from sweeps.driver import run_sweep, sweep_state

PROG = "reproduce.py"
GRID = {"lr": [3e-4, 3e-5], "N": [50, 100, 200], "K": [100, 200], "selections": ["critic", "critic-free"]}
"""The paper's tuning grid (docs/method.md §7): 12 settings x 2 variants (critic-free ignores K: 18 arms)."""
SMOKE_GRID = {"lr": [3e-4], "N": [5], "K": [100, 200], "selections": ["critic", "critic-free"]}
ORDER = (
    "pointmaze-medium-navigate-v0",
    "antmaze-medium-navigate-v0",
    "antmaze-medium-stitch-v0",
    "pointmaze-medium-stitch-v0",
    "cube-single-play-v0",
)
DEFAULT_CELLS = tuple(f"{b}/{d}" for d in ORDER for b in ("gcbc", "gciql", "saw"))
"""Every cell of Table 1 whose data can be made offline (humanoidmaze needs OGBench's download)."""
ABLATIONS = ("random", "no-optimality", "no-relevance")


@dataclass(frozen=True)
class ReproduceCheckpoints(Checkpoints):
    """The checkpoints of every cell (the cells name backbone and dataset)."""

    dataset: tyro.conf.Suppress[str] = Checkpoints.dataset
    backbone: tyro.conf.Suppress[str] = Checkpoints.backbone
    seeds: tuple[int, ...] = (0, 1, 2)
    """Pre-training seeds (one checkpoint each)."""
    checkpoints: Literal["final", "kept"] = "kept"
    """Final phase: every checkpoint the preset keeps, averaged as the authors do, or the final one only
    (tuning always uses the final one)."""


@dataclass(frozen=True)
class Reproduction:
    """What to reproduce and how."""

    cells: tuple[str, ...] | Literal["all"] = "all"
    """BACKBONE/DATASET cells, e.g. gcbc/pointmaze-medium-navigate-v0 gciql/antmaze-medium-stitch-v0
    ('all': every offline cell; smoke: gcbc/pointmaze-medium-navigate-v0)."""
    phase: Literal["all", "tune", "final"] = "all"
    """Run only one phase."""
    heldout_seed: int = 0
    """Seed of the held-out task pairs."""
    tune_episodes: int = 1
    """Episodes per held-out task while tuning."""
    paper_protocol: bool = False
    """Also evaluate the whole grid on the reported tasks (the paper's choice of number; costly)."""
    figure6: bool = False
    """Add the selection ablation and re-plan arms (GC-IQL stitch)."""

    def __post_init__(self) -> None:
        if self.tune_episodes < 1:
            raise UsageError(f"--tune-episodes must be at least 1 (got {self.tune_episodes})")


@dataclass(frozen=True)
class ReproduceConfig(SweepConfig):
    """The reproduction's configuration; --episodes-per-task counts final episodes per OGBench task,
    arm and checkpoint."""

    what: ReproduceCheckpoints = field(default_factory=ReproduceCheckpoints)
    episodes: Tasks = field(default_factory=lambda: Tasks(episodes_per_task=1))
    reproduction: Reproduction = field(default_factory=Reproduction)


def parse_cell(text: str) -> tuple[str, str]:

    backbone, sep, dataset = text.partition("/")
    if not sep:
        raise UsageError(f"--cells {text!r}: name cells BACKBONE/DATASET, e.g. gcbc/pointmaze-medium-navigate-v0")
    get_backbone(backbone)
    dataset_info(dataset)
    return backbone, dataset


def cell_id(backbone: str, dataset: str) -> str:
    return f"{backbone}-{dataset.removesuffix('-v0')}"


def phase_sweep(config: ReproduceConfig, backbone: str, dataset: str, phase: str, seeds, name: str):
    what = replace(config.what, backbone=backbone, dataset=dataset, seeds=tuple(seeds))
    outputs = replace(config.outputs, name=f"{name}-{cell_id(backbone, dataset)}-{phase}")
    heldout_seed = config.reproduction.heldout_seed
    if phase == "tune":
        episodes = replace(
            config.episodes,
            suite=f"heldout-{heldout_seed}",
            tasks="all",
            episodes_per_task=config.reproduction.tune_episodes,
        )
        what = replace(what, checkpoints="final")
    else:
        episodes = replace(config.episodes, suite="ogbench", tasks="all")
    grid = SMOKE_GRID if config.what.preset == "smoke" else GRID
    phase_config = replace(config, what=what, outputs=outputs, episodes=episodes)
    return resolve(phase_config, "reproduce", {"phase": phase, "grid": grid, "heldout_seed": heldout_seed})


def grid_arms(sweep: Sweep, seeds, width: int, limit: int) -> list[Arm]:
    grid = SMOKE_GRID if sweep.what.preset == "smoke" else GRID
    return ttt_grid(
        seeds,
        width,
        grid["selections"],
        grid["K"],
        grid["N"],
        grid["lr"],
        [0.2],
        limit,
        **sweep.arm_knobs(),
    )


def choose(rows, arms: list[Arm]) -> tuple[Arm, float]:
    """The arm with the best held-out success; ties go to the one with fewer FLOPs per episode."""
    by_name = {a.name: a for a in arms}
    rows = rows[rows["trial_id"].isin(by_name)]
    summary = summarize(rows, ["trial_id"], with_ci=False, means=("flops_total",))
    best = summary.sort_values(["mean", "flops_total"], ascending=[False, True], kind="stable").iloc[0]
    return by_name[best["trial_id"]], float(best["mean"])


def run_phase(sweep: Sweep, arms: list[Arm]) -> None:

    state = sweep_state(sweep, arms)
    if state == "done":
        return
    code = run_sweep(sweep.replace("outputs", resume=state == "partial"), arms, PROG)
    if code != 0:
        raise UsageError(f"sweep {sweep.name} did not finish; rerun the same command to continue it")


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse(ReproduceConfig, argv, PROG, __doc__)
        args = config.reproduction
        preset = get_preset(config.what.preset)
        default_cells = ["gcbc/pointmaze-medium-navigate-v0"] if preset.name == "smoke" else DEFAULT_CELLS
        cells = [parse_cell(c) for c in (default_cells if args.cells == "all" else args.cells)]
        name = f"reproduce-{preset.name}" if config.outputs.name == "derived" else config.outputs.name
        seeds = list(config.what.seeds)
        out_dir = None
        choices: dict[str, dict] = {}
        for i, (backbone, dataset) in enumerate(cells, 1):
            limit = dataset_info(dataset).episode_limit
            width = preset.width
            tune = phase_sweep(config, backbone, dataset, "tune", seeds[:1], name)
            out_dir = Path(tune.outputs.out) / "reproduce" / name
            choices_path = out_dir / "choices.json"
            if choices_path.exists():
                choices = json.loads(choices_path.read_text())
            tune_arms = grid_arms(tune, seeds[:1], width, limit)
            cid = cell_id(backbone, dataset)
            if args.phase in ("all", "tune"):
                run_phase(tune, tune_arms)

                chosen, heldout = choose(read_sweep_rows(tune.episodes_dir), tune_arms)
                choices[cid] = {"backbone": backbone, "dataset": dataset, "arm": chosen.params(), "heldout": heldout}

                atomic_write_text(choices_path, json.dumps(choices, indent=2) + "\n")
            if args.phase == "tune":
                print(
                    f"{PROG}: cell {i}/{len(cells)} {backbone}/{dataset}: tuned, best {choices[cid]['arm']}", flush=True
                )
                continue
            if cid not in choices:
                raise UsageError(f"cell {backbone}/{dataset} has no tuned configuration yet; run --phase tune first")
            final = phase_sweep(config, backbone, dataset, "final", seeds, name)
            chosen = Arm.from_params({**choices[cid]["arm"], "suite": "ogbench"})
            steps = final.what.checkpoint_steps
            last = steps[-1] if steps else None
            arms = at_checkpoints(baseline_arms(seeds, [width]), steps)
            chosen_arms = at_checkpoints([replace(chosen, seed=s) for s in seeds], steps)
            arms += chosen_arms
            if args.paper_protocol:
                protocol = [replace(a, checkpoint_step=last) for a in grid_arms(final, seeds[:1], width, limit)]
                arms += [a for a in protocol if a not in arms]
            if args.figure6 and backbone == "gciql" and "stitch" in dataset:
                knobs = final.arm_knobs()  # the final phase's suite: ogbench
                lr, n = AUTHORS_BUDGETS.get(dataset, (chosen.ttt.lr, 200))
                ablations = ttt_grid(seeds, width, ["critic", *ABLATIONS], [100], [n], [lr], [0.2], limit, **knobs)
                replan = ttt_grid(
                    seeds, width, ["critic"], [k for k in REPLAN_K if k <= limit], [n], [lr], [0.2], limit, **knobs
                )
                arms += [a for a in at_checkpoints(ablations + replan, steps) if a not in arms]
            run_phase(final, arms)
            _progress(i, len(cells), backbone, dataset, final, chosen_arms, choices[cid]["heldout"])
        if out_dir is not None and args.phase != "tune":
            sweeps = Path(config.outputs.out).expanduser().resolve() / "sweeps"
            print(
                f"{PROG}: Table 1 of these cells: python analysis/table1.py {sweeps} --name {name} --out {out_dir}; "
                f"publish them: gcttt results publish {sweeps}/{name}-* --study {name}",
                file=sys.stderr,
            )
        return 0
    except GctttError as exc:
        return fail(PROG, exc)


def _progress(i: int, n: int, backbone: str, dataset: str, final, chosen: list[Arm], heldout: float) -> None:

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
