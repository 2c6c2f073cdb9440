#!/usr/bin/env python
"""Ray Tune sweep of GC-TTT's knobs: re-plan horizon K, gradient steps N, lr, quantile q.

One trial per grid point and pre-training seed, plus the pre-trained baseline of every seed, so
every comparison comes from one run. Each trial plays tasks x episodes with episode workers in
its placement group, writes one row per episode to Parquet and logs one MLflow run under the
sweep's parent run. With no arguments: the embedded default (local Ray, a locally generated
pointmaze-medium-navigate-v0, GC-BC at the cpu preset, sqlite MLflow under ~/gcttt-results).

Examples:
  python sweeps/horizon_sweep.py                      # the default (about 12 min on 2 cores)
  python sweeps/horizon_sweep.py --preset smoke       # under a minute
  python sweeps/horizon_sweep.py --name headline-gcbc --seeds 0 1 2 --selections critic \\
      --K 200 --N 100 --lr 3e-4 --episodes-per-task 3   # the README's headline
  RAY_AUTH_MODE=token ray job submit --working-dir . -- \\
      python sweeps/horizon_sweep.py --out /shared/results
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gcttt.envs import dataset_info
from gcttt.errors import GctttError
from gcttt.presets import get_preset
from gcttt.results.store import compare_with_reference, read_study
from gcttt.results.tables import read_sweep_rows
from sweeps.arms import at_checkpoints, baseline_arms, ttt_grid
from sweeps.common import Sweep, fail, resolve
from sweeps.config import Outputs, SweepConfig, parse
from sweeps.driver import run_sweep, sweep_state

PROG = "horizon_sweep.py"

GRIDS = {
    # K, N, lr, q: values from the authors' sweep (docs/method.md §7), trimmed to fit the preset's budget.
    "paper": {"K": (100, 200), "N": (50, 100, 200), "lr": (3e-4, 3e-5), "q": (0.2,)},
    "cpu": {"K": (100, 200), "N": (50, 100), "lr": (3e-4, 3e-5), "q": (0.2,)},
    "smoke": {"K": (200,), "N": (5, 10), "lr": (3e-4,), "q": (0.2,)},
}
"""Default grid per preset (K / N / lr / q); any flag replaces its axis."""
ABLATIONS = ("random", "no-relevance", "no-optimality", "full-dataset", "critic-free")
"""The selection controls of docs/method.md §5, run beside the grid so one sweep gives the ablation bars."""


@dataclass(frozen=True)
class HorizonGrid:
    """The grid: each axis replaces the preset's default (paper / cpu / smoke, `GRIDS`)."""

    K: tuple[int, ...] | Literal["preset"] = "preset"
    """Re-plan horizons (env steps between re-plans); K equal to the episode limit means once per episode
    (back to the pre-trained policy after the segment), K above it is refused (cpu: 100 200)."""
    N: tuple[int, ...] | Literal["preset"] = "preset"
    """Gradient steps per re-plan (cpu: 50 100)."""
    lr: tuple[float, ...] | Literal["preset"] = "preset"
    """Fine-tuning learning rates (cpu: 3e-4 3e-5)."""
    q: tuple[float, ...] | Literal["preset"] = "preset"
    """Selection quantiles (critic-quantile, critic-free) (cpu: 0.2)."""
    selections: tuple[str, ...] = ("critic",)
    """Selection strategies (critic, random, full-dataset, ...)."""
    ablations: tuple[str, ...] | Literal["preset"] = "preset"
    """Control selections evaluated at one grid point: the largest K and N, the first lr and q
    ('preset': random no-relevance no-optimality full-dataset critic-free; smoke: none)."""
    baseline: bool = True
    """Include the pre-trained baseline trials."""

    def axes(self, preset: str) -> dict[str, list]:
        """The grid's axes with the preset's defaults filled in (also part of the sweep's name)."""
        axes = {a: list(v if getattr(self, a) == "preset" else getattr(self, a)) for a, v in GRIDS[preset].items()}
        axes["selections"] = list(self.selections)
        axes["ablations"] = None if self.ablations == "preset" else list(self.ablations)
        return axes


@dataclass(frozen=True)
class HorizonSweep(SweepConfig):
    """The horizon sweep's configuration."""

    outputs: Outputs = field(default_factory=lambda: Outputs(record_trajectories=True))
    grid: HorizonGrid = field(default_factory=HorizonGrid)
    check_against: str | None = None
    """After the sweep, compare its rows with a study of the results store (make demo: results/demo):
    'identical' where the checkpoints' weights match, else the rows that differ beyond their 95% CIs."""


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse(HorizonSweep, argv, PROG, __doc__)
        preset = get_preset(config.what.preset)
        grid = config.grid.axes(preset.name)
        sweep = resolve(config, "horizon", grid)
        width = preset.width

        limit = dataset_info(sweep.what.dataset).episode_limit
        common = sweep.arm_knobs()
        seeds = sweep.what.seeds
        arms = ttt_grid(seeds, width, grid["selections"], grid["K"], grid["N"], grid["lr"], grid["q"], limit, **common)
        ablations = grid["ablations"]
        if ablations is None:
            ablations = [] if preset.name == "smoke" else list(ABLATIONS)
        if ablations:
            at = ([max(grid["K"])], [max(grid["N"])], grid["lr"][:1], grid["q"][:1])
            arms += [a for a in ttt_grid(seeds, width, ablations, *at, limit, **common) if a not in arms]
        if config.grid.baseline:
            arms = baseline_arms(seeds, [width], suite=sweep.episodes.suite) + arms

        arms = at_checkpoints(arms, sweep.what.checkpoint_steps)
        reference = None
        if config.check_against:  # resolved and read now: a missing or damaged study is refused before Ray starts
            reference = str(Path(config.check_against).expanduser().resolve())
            _read_reference(reference)
        # A second `make demo`: check the finished sweep again.
        if reference and not sweep.outputs.resume and sweep_state(sweep, arms) == "done":
            print(f"{PROG}: sweep {sweep.name} already finished ({sweep.sweep_dir})", file=sys.stderr)
            check_against(sweep, reference, config.check_against)
            return 0
        code = run_sweep(sweep, arms, PROG)
        if code == 0 and reference:
            check_against(sweep, reference, config.check_against)
        return code
    except GctttError as exc:
        return fail(PROG, exc)


def _read_reference(study: str):
    """The rows of the study named by an absolute path (each file checked against its manifest)."""
    return read_study(Path(study).parent, Path(study).name)


def check_against(sweep: Sweep, study: str, label: str | None = None) -> None:
    """The demo's self-check: this sweep's rows beside a study's reference rows (`study`: absolute;
    `label`: how the user named it)."""
    reference = _read_reference(study)
    label = label or study
    lines = compare_with_reference(read_sweep_rows(sweep.episodes_dir), reference, label)
    print(f"{PROG}: self-check against {label}:", *lines, sep="\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
