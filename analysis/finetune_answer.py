#!/usr/bin/env python
"""The compute answer twice: GC-TTT fine-tuning every network ('all'), then the actor alone ('actor').

A compute study played both ways on one machine's weights (the same pre-trained models of every
width, and GC-TTT's arms at the base width once with `--finetune all` and once with `actor`) answers
`compute_answer.py`'s question twice, at the same budgets. One line per accounting, each side's best
GC-TTT configuration and its answer against the best model, then in words:

- at equal success, how many times cheaper GC-TTT became (per configuration, and the cheapest way
  to reach the best success of 'all');
- at which budgets the answer changed;
- panel (d)'s total-compute crossover each way.

Pre-trained episodes that several sweeps of the study hold (a sweep continued with `--published`
copies them) count once.

    python analysis/finetune_answer.py results/finetune-epyc-avx2

Prints a Markdown table (also what `make figures` puts into docs/results/finetune_answer.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pandas as pd
import tyro

from analysis.compute_answer import _name, answers, base_width_of
from analysis.plot_compute import (
    ARM,
    base_acting,
    configurations,
    crossover_text,
    crossovers,
    default_budgets,
    multiple_text,
)
from analysis.results import require_study, single
from analysis.summary import backbone_label, filter_kind
from gcttt.agents.base import FINETUNE_PARTS as PARTS
from gcttt.commands.flags import parse
from gcttt.errors import UsageError, run_main
from gcttt.results.stats import DEFAULT_RESAMPLES
from gcttt.results.store import published_rows
from gcttt.results.summary import drop_repeats

SAME_ARM = [c for c in ARM if c != "finetune"]
"""A GC-TTT configuration, what it fine-tunes aside."""


def frames(rows: pd.DataFrame, dataset: str | None = None) -> dict[str, pd.DataFrame]:
    """The study's compute rows (of `dataset`, if given) once per part: every pre-trained model (each
    episode once, whichever sweeps hold it) beside GC-TTT's arms played that way."""
    compute = filter_kind(rows, "compute")
    if dataset is not None:
        if not (compute["dataset"] == dataset).any():
            found = ", ".join(sorted(compute["dataset"].unique()))
            raise UsageError(f"--dataset {dataset}: the study's compute rows are of {found}; pick one of those")
        compute = compute[compute["dataset"] == dataset]
    for column, flag in (("dataset", "--dataset"), ("backbone", "--backbone")):
        single(compute, column, flag)
    models = drop_repeats(compute[compute["method"] == "baseline"], ignore=("sweep_id",))
    ttt = drop_repeats(compute[compute["method"] == "gcttt"], ignore=("sweep_id",))
    missing = [p for p in PARTS if not (ttt["finetune"] == p).any()]
    if missing:
        raise UsageError(
            f"the study holds no compute-study GC-TTT arms played with --finetune {' or '.join(missing)}; "
            "publish both ways' sweeps into it (sweeps/campaigns/finetune.sh)"
        )
    if models["width"].nunique() < 2:
        raise UsageError(
            "the study holds pre-trained models of one width only; publish the wider models played on the same "
            "weights (compute_sweep.py --published STUDY) to compare with model scaling"
        )
    return {p: pd.concat([models, ttt[ttt["finetune"] == p]], ignore_index=True) for p in PARTS}


def markdown(
    rows: pd.DataFrame, dataset: str | None = None, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES
) -> str:
    parts = frames(rows, dataset)
    configs = {p: configurations(f, confidence, resamples) for p, f in parts.items()}
    base_width = base_width_of(configs["all"])
    unit = base_acting(configs["all"], base_width)
    # one set of budgets for both sides: those that the dearer side ('all') needs
    budgets = sorted(
        set(default_budgets(configs["all"], base_width)) | set(default_budgets(configs["actor"], base_width))
    )
    tables = {p: answers(parts[p], configs[p], confidence, resamples, budgets) for p in PARTS}
    tables = {p: t.set_index("accounting") for p, t in tables.items()}
    lines = [
        "| accounting | model scaling (success [CI], x base acting) | GC-TTT, all networks | answer "
        "| GC-TTT, actor alone | answer |",
        "|---|---|---|---|---|---|",
    ]
    changed, better = [], []
    for accounting in tables["all"].index:  # the same budgets, so the same accountings on both sides
        full, actor = tables["all"].loc[accounting], tables["actor"].loc[accounting]
        cells = [full["GC-TTT"], _answer(full), actor["GC-TTT"], _answer(actor)]
        lines.append(f"| {accounting} | {full['model scaling']} | " + " | ".join(cells) + " |")
        if full["outcome"] != actor["outcome"]:
            changed.append(f"{accounting}: {full['outcome']} -> {actor['outcome']}")
        elif actor["ttt_success"] > full["ttt_success"]:  # the same answer, by a wider margin
            better.append(f"{accounting.split(' (')[0]} ({full['ttt_success']:.2f} -> {actor['ttt_success']:.2f})")
    dataset, backbone = (single(parts["all"], c, f"--{c}") for c in ("dataset", "backbone"))
    lines += ["", _caption(configs, base_width, unit, changed, better, backbone, dataset, parts)]
    return "\n".join(lines) + "\n"


def _answer(r: pd.Series) -> str:
    return f"{r['difference']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}]: {r['outcome']}"


def _caption(configs, base_width, unit, changed, better, backbone, dataset, parts) -> str:
    ttt = {p: configs[p][(configs[p]["method"] == "gcttt") & (configs[p]["width"] == base_width)] for p in PARTS}
    both = ttt["all"].merge(ttt["actor"], on=SAME_ARM, suffixes=("_all", "_actor"))
    ratio = both["flops_total_all"] / both["flops_total_actor"]
    best = ttt["all"].sort_values(["mean", "flops_total"], ascending=[False, True], kind="stable").iloc[0]
    reach = ttt["actor"][ttt["actor"]["mean"] >= best["mean"] - 1e-12].sort_values("flops_total").iloc[0]
    episodes = {p: len(parts[p]) for p in PARTS}
    text = (
        f"{backbone_label(backbone)} on {dataset}, base width {base_width}, the same pre-trained models on both "
        f"sides ({episodes['all']:,} and {episodes['actor']:,} episodes); differences paired over pre-training "
        "seed x checkpoint x task x episode, 95% stratified bootstrap CIs; costs in multiples of the base model's "
        f"acting FLOPs per episode. At equal success: the {len(both)} GC-TTT configurations played both ways cost "
        f"{ratio.min():.1f}x to {ratio.max():.1f}x less with the actor alone (median {ratio.median():.1f}x); "
        f"the best with all networks ({_name(best)}, {best['mean']:.2f}) costs "
        f"{multiple_text(best['flops_total'] / unit)}, and the cheapest actor-only configuration reaching that "
        f"success ({_name(reach)}, {reach['mean']:.2f}) "
        f"{multiple_text(reach['flops_total'] / unit)}: {best['flops_total'] / reach['flops_total']:.1f}x cheaper. "
    )
    if changed:
        text += "The answer changed at " + "; ".join(changed) + ". "
    else:
        text += "The answer is the same at every budget. "
    if better:
        text += "Where it is the same, a better GC-TTT configuration now fits: " + ", ".join(better) + ". "
    for p, name in (("all", "All networks"), ("actor", "Actor alone")):
        text += f"{name}, " + crossover_text(crossovers(configs[p], base_width))
    return text.strip()


@dataclass(frozen=True)
class FinetuneAnswerConfig:
    """The compute answer with GC-TTT fine-tuning all networks and the actor alone, side by side at the same budgets."""

    study: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="STUDY")]
    """A study of the results store, e.g. results/finetune-epyc-avx2."""
    dataset: str | None = None
    """The compute study's dataset, where the study holds several."""
    confidence: float = 0.95
    """CI level."""
    resamples: int = DEFAULT_RESAMPLES
    """Bootstrap resamples."""


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(FinetuneAnswerConfig, argv, "finetune_answer.py", FinetuneAnswerConfig.__doc__)
        rows = published_rows(require_study(args.study))
        print(markdown(rows, args.dataset, args.confidence, args.resamples), end="")
        return 0

    return run_main("finetune_answer.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
