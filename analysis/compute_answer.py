#!/usr/bin/env python
"""The plain answer of a compute-allocation study: does GC-TTT beat model scaling, by how much?

One row per accounting of `plot_compute.py`'s panels, each comparing the best configuration of
each family that the accounting allows, with the paired difference in success (GC-TTT minus model
scaling, paired over pre-training seed x checkpoint x task x episode, stratified bootstrap CI):

- the paper's accounting (panel a): GC-TTT's point at the widest model's x against that model;
- exact FLOPs at matched budgets (panel c): per budget, the best of each family within it;
- total compute (panel d): the episode count beyond which the best wider model costs less in
  total than the best GC-TTT configuration (a sentence under the table).

Where the CI holds 0 the row says "not resolved" and about how many paired episodes would resolve
a gap of the measured size, (1.96 sd / gap)^2.

    python analysis/compute_answer.py results/compute-cpu/rows --sweep-id compute-am-stitch

Prints the table and writes it to OUT/compute_answer.md.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.plot_compute import (
    ARM,
    REQUIRED,
    base_acting,
    configurations,
    crossover_text,
    crossovers,
    default_budgets,
    matched_points,
    multiple_text,
    paper_points,
)
from analysis.results import Source, load, output_dir, run_main, single
from analysis.summary import backbone_label, filter_kind, require_one_sweep
from analysis.table1 import PAIR
from gcttt.commands.flags import parse
from gcttt.results.stats import DEFAULT_RESAMPLES, success_ci
from gcttt.results.summary import checkpoint_groups

Z95 = 1.96


def rows_of(frame: pd.DataFrame, config: pd.Series) -> pd.DataFrame:
    """The episodes of one configuration (its `ARM` columns)."""
    mask = np.ones(len(frame), dtype=bool)
    for column in ARM:
        mask &= (frame[column] == config[column]).to_numpy()
    return frame[mask]


def compare(frame: pd.DataFrame, ttt: pd.Series, model: pd.Series, confidence: float, resamples: int) -> dict:
    """GC-TTT's configuration minus the model's, paired over seed, checkpoint, task and episode."""
    pairs = rows_of(frame, ttt).merge(rows_of(frame, model), on=list(PAIR), suffixes=("_ttt", "_model"))
    diff = pairs["success_ttt"].astype(float) - pairs["success_model"].astype(float)
    ci = success_ci(diff.to_numpy(), groups=checkpoint_groups(pairs), confidence=confidence, n_resamples=resamples)
    if ttt["label"] == model["label"] and ttt["method"] == model["method"]:
        outcome = verdict = "the same configuration"
    elif ci.low > 0:
        outcome = verdict = "GC-TTT better"
    elif ci.high < 0:
        outcome = verdict = "model scaling better"
    else:
        outcome = "not resolved"
        if ci.mean == 0:
            verdict = "not resolved (no difference measured)"
        else:
            needed = math.ceil((Z95 * float(diff.std(ddof=1)) / abs(ci.mean)) ** 2)
            verdict = f"not resolved; about {needed:,} paired episodes would resolve a gap of {ci.mean:+.2f}"
    interval = {"difference": ci.mean, "low": ci.low, "high": ci.high}
    return {**interval, "pairs": len(pairs), "outcome": outcome, "verdict": verdict}


def _name(config: pd.Series) -> str:
    return config["label"] if config["method"] == "gcttt" else f"{config['label']} (pre-trained)"


def base_width_of(configs: pd.DataFrame) -> int:
    """The GC-TTT model's width: the smallest with GC-TTT rows (as plot_compute.py's default)."""
    return int(configs.loc[configs["method"] == "gcttt", "width"].min())


def answers(
    frame: pd.DataFrame,
    configs: pd.DataFrame,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    budgets: list[float] | None = None,
) -> pd.DataFrame:
    """One row per accounting; `configs` is `configurations(frame, ...)`; `budgets` those of panel (c)
    [default: 1x, 4x, ... up to the dearest configuration]."""
    base_width = base_width_of(configs)
    unit = base_acting(configs, base_width)
    out = []

    def row(accounting: str, ttt: pd.Series, model: pd.Series) -> None:
        out.append({
            "accounting": accounting,
            "GC-TTT": f"{_name(ttt)}: {ttt['mean']:.2f} [{ttt['low']:.2f}, {ttt['high']:.2f}], "
                      f"{multiple_text(ttt['flops_total'] / unit)}",
            "model scaling": f"{_name(model)}: {model['mean']:.2f} [{model['low']:.2f}, {model['high']:.2f}], "
                             f"{multiple_text(model['flops_total'] / unit)}",
            "ttt_success": ttt["mean"],
            **compare(frame, ttt, model, confidence, resamples),
        })  # fmt: skip

    paper = paper_points(configs, base_width)
    models = paper[paper["family"] == "model scaling"]
    widest = models.sort_values("x").iloc[-1]
    at_widest = paper[(paper["family"] == "GC-TTT") & np.isclose(paper["x"], widest["x"])]
    if len(at_widest):
        row(f"paper's, at x = {widest['x']:.3g} (panel a)", at_widest.iloc[0], widest)
    matched = matched_points(configs, base_width, budgets or default_budgets(configs, base_width))
    for budget, group in matched.groupby("budget", sort=True):
        by_family = {r["family"]: r for _, r in group.iterrows()}
        if {"GC-TTT", "model scaling"} <= by_family.keys():
            ttt, model = by_family["GC-TTT"], by_family["model scaling"]
            row(f"exact FLOPs within {multiple_text(budget)} (panel c)", ttt, model)
    return pd.DataFrame(out)


def markdown(frame: pd.DataFrame, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES) -> str:
    configs = configurations(frame, confidence, resamples)
    table = answers(frame, configs, confidence, resamples)
    base_width = base_width_of(configs)
    lines = [
        "| accounting | GC-TTT (success [CI], x base acting) | model scaling | GC-TTT minus model [95% CI] | answer |",
        "|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(
            f"| {r['accounting']} | {r['GC-TTT']} | {r['model scaling']} | "
            f"{r['difference']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}] | {r['verdict']} |"
        )
    dataset, backbone = single(frame, "dataset", "--dataset"), single(frame, "backbone", "--backbone")
    sweeps = ", ".join(sorted(frame["sweep_id"].unique()))
    lines += [
        "",
        f"{backbone_label(backbone)} on {dataset}, base width {base_width}; differences paired over pre-training "
        f"seed x checkpoint x task x episode ({int(table['pairs'].max()) if len(table) else 0} pairs); "
        + crossover_text(crossovers(configs, base_width))
        + f"Sweep {sweeps}, {len(frame)} episodes.",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ComputeAnswerConfig(Source):
    """The plain answer of a compute-allocation study: GC-TTT against model scaling per accounting, with paired
    bootstrap CIs, as a Markdown table."""

    confidence: float = 0.95
    """CI level."""
    resamples: int = DEFAULT_RESAMPLES
    """Bootstrap resamples."""


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(ComputeAnswerConfig, argv, "compute_answer.py", ComputeAnswerConfig.__doc__)
        out = output_dir(args.out)  # before any reading: a bad --out is one line, not a traceback at the end
        frame = filter_kind(load(args, REQUIRED), "compute")
        require_one_sweep(frame, args.sweep_id)
        text = markdown(frame, args.confidence, args.resamples)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compute_answer.md").write_text(text)
        print(text, end="")
        print(f"wrote {out / 'compute_answer.md'}", file=sys.stderr)
        return 0

    return run_main("compute_answer.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
