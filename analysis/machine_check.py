#!/usr/bin/env python
"""The same configurations re-played from checkpoints pre-trained on another machine.

Pre-training is deterministic on one machine but not across CPUs, so a study re-run elsewhere has
other weights and is another study (the store refuses to mix them). This script sets two studies
side by side for the pre-trained policies (method baseline) they share, per width: success (mean
over checkpoints per seed, then over seeds) with its 95% stratified bootstrap CI, each seed's mean,
the episodes, and the machine. It answers "is this number a property of the configuration or of
one machine's weights?".

    python analysis/machine_check.py results/compute-cpu results/compute-check-xeon \\
        --dataset pointmaze-medium-navigate-v0 --backbone gcbc

Prints a Markdown table (also what `make figures` puts into docs/results/machine_check.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pandas as pd
import tyro

from analysis.results import require_study
from gcttt.commands.flags import parse
from gcttt.errors import UsageError, run_main
from gcttt.figures.style import backbone_label
from gcttt.results.stats import DEFAULT_RESAMPLES
from gcttt.results.store import published_rows
from gcttt.results.summary import drop_repeats, seed_means, summarize


def baselines(study: Path, dataset: str, backbone: str) -> pd.DataFrame:
    """The study's pre-trained-policy rows of `backbone` on `dataset` (one row per episode)."""
    rows = published_rows(study)
    rows = rows[(rows["method"] == "baseline") & (rows["dataset"] == dataset) & (rows["backbone"] == backbone)]
    if rows.empty:
        raise UsageError(f"{study}: no pre-trained-policy rows of {backbone} on {dataset}; check --dataset/--backbone")
    return drop_repeats(rows)


def per_width(rows: pd.DataFrame, resamples: int = DEFAULT_RESAMPLES) -> pd.DataFrame:
    """One row per width: success with CI, each seed's mean, episodes."""
    table = summarize(rows, ["width"], n_resamples=resamples, means=())
    table["per_seed"] = [" / ".join(f"{v:.2f}" for v in seed_means(rows[rows["width"] == w])) for w in table["width"]]
    return table


def markdown(reference: Path, check: Path, dataset: str, backbone: str, resamples: int = DEFAULT_RESAMPLES) -> str:
    """The two studies' pre-trained policies per width they share, as one Markdown table and a caption."""
    ref_rows, check_rows = baselines(reference, dataset, backbone), baselines(check, dataset, backbone)
    ref, new = per_width(ref_rows, resamples), per_width(check_rows, resamples)
    shared = sorted(set(ref["width"]) & set(new["width"]))
    if not shared:
        raise UsageError(f"{reference.name} and {check.name} share no width of {backbone} on {dataset}")

    def cell(table: pd.DataFrame, width: int) -> str:
        r = table[table["width"] == width].iloc[0]
        return f"{r['mean']:.2f} [{r['low']:.2f}, {r['high']:.2f}] ({r['per_seed']}; {int(r['episodes'])})"

    ref_machine = ", ".join(sorted(ref_rows["machine"].unique()))
    new_machine = ", ".join(sorted(check_rows["machine"].unique()))
    lines = [
        f"| width | {reference.name} ({ref_machine}) | {check.name} ({new_machine}) |",
        "|---|---|---|",
        *(f"| {w} | {cell(ref, w)} | {cell(new, w)} |" for w in shared),
    ]
    caption = (
        f"\nPre-trained {backbone_label(backbone)} policies on {dataset}, OGBench's 5 tasks; success [95% CI] "
        f"(each seed's mean; episodes): mean over checkpoints per seed, then over seeds. Left: sweep "
        f"{sweeps(ref_rows)}; right: sweep {sweeps(check_rows)}. The two columns come from different weights "
        "(checkpoints pre-trained on each machine), never one number.\n"
    )
    return "\n".join(lines) + "\n" + caption


def sweeps(rows: pd.DataFrame) -> str:
    return ", ".join(sorted(rows["sweep_id"].unique()))


@dataclass(frozen=True)
class MachineCheckConfig:
    """Two studies' pre-trained policies per width side by side: is a number a property of the configuration or
    of one machine's weights?"""

    reference: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="REFERENCE")]
    """The published study, e.g. results/compute-cpu."""
    check: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="CHECK")]
    """The study re-played on another machine, e.g. results/compute-check-xeon."""
    dataset: str
    """OGBench dataset name, e.g. pointmaze-medium-navigate-v0."""
    backbone: str
    """gcbc, gciql or saw."""
    resamples: int = DEFAULT_RESAMPLES
    """Bootstrap resamples."""


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(MachineCheckConfig, argv, "machine_check.py", MachineCheckConfig.__doc__)
        reference, check = (require_study(s) for s in (args.reference, args.check))
        print(markdown(reference, check, args.dataset, args.backbone, args.resamples), end="")
        return 0

    return run_main("machine_check.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
