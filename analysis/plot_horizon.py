"""Horizon sweep: success over the K x N grid, and the selection ablation, from one sweep.

1. ``horizon_grid``: one heatmap per (lr, q) of the grid's selection strategy (default 'critic'),
   rows K (env steps between re-plans), columns N (updates per re-plan). Each cell shows the
   success rate and its 95% bootstrap CI; the colour scale is centred on the pre-trained baseline
   (white = baseline, blue = better, red = worse), whose value is marked on the colour bar.
2. ``selection_ablation``: bars for the baseline and every selection strategy (random,
   no-relevance, no-optimality, full-dataset, critic, critic-quantile, critic-free) at one (K, N, lr)
   configuration, by default the one at which the most strategies ran, with 95% CIs.

Success rates are means over pre-training seeds of the per-seed rate; CIs are stratified
bootstrap intervals from `gcttt.results.stats.success_ci` (scipy.stats.bootstrap).

    python analysis/plot_horizon.py ~/gcttt-results/sweeps/NAME --out results/figures

Writes OUT/horizon_grid.{png,pdf,csv} and OUT/selection_ablation.{png,pdf,csv} (the latter only
when the sweep ran selection strategies besides the grid's).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pandas as pd
import tyro

from analysis.results import SUCCESS_COLUMNS, Source, load, output_dir, run_main, single, with_once
from analysis.summary import (
    add_caption,
    backbone_label,
    count_text,
    counts,
    data_text,
    filter_kind,
    fmt_lr,
    require_one_sweep,
    save,
    style,
    summarize,
)
from gcttt.commands.flags import parse
from gcttt.errors import UsageError
from gcttt.results.stats import DEFAULT_RESAMPLES

REQUIRED = SUCCESS_COLUMNS
ABLATION_ORDER = (
    "random",
    "no-relevance",
    "no-optimality",
    "full-dataset",
    "critic",
    "critic-quantile",
    "critic-free",
)
"""Bar order after the baseline: the ablations, then the full selection rules."""
FULL_RULES = ("critic", "critic-quantile", "critic-free")


@dataclass(frozen=True)
class PlotHorizonConfig(Source):
    """Horizon-sweep figures: success over the K x N grid (one heatmap per lr/q, baseline marked) and the
    selection-ablation bars, with 95% bootstrap CIs. The ablation's configuration (--ablation-*) defaults to
    where the most strategies ran."""

    selection: str | None = None
    """Selection strategy of the K x N heatmaps [default: critic if present, else the most common]."""
    ablation_horizon: Annotated[int | None, tyro.conf.arg(metavar="K")] = None
    """The ablation bars' re-plan horizon."""
    ablation_grad_steps: Annotated[int | None, tyro.conf.arg(metavar="N")] = None
    """The ablation bars' gradient steps per re-plan."""
    ablation_lr: Annotated[float | None, tyro.conf.arg(metavar="LR")] = None
    """The ablation bars' learning rate."""
    confidence: float = 0.95
    """CI level."""
    resamples: int = DEFAULT_RESAMPLES
    """Bootstrap resamples."""


def _horizon_label(k: int, once: bool) -> str:
    return f"{k} (once)" if once else str(k)


def baseline_for(frame: pd.DataFrame, ttt: pd.DataFrame) -> pd.DataFrame:
    """Baseline rows at the width(s) of the GC-TTT rows."""
    baseline = frame[frame["method"] == "baseline"]
    return baseline[baseline["width"].isin(set(ttt["width"]))]


def grid_figure(frame: pd.DataFrame, args: PlotHorizonConfig) -> list:
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    ttt = frame[frame["method"] == "gcttt"]
    selections = ttt["selection"].value_counts()
    selection = args.selection or ("critic" if "critic" in selections else str(selections.index[0]))
    grid = ttt[ttt["selection"] == selection]
    if grid.empty:
        raise UsageError(f"no GC-TTT rows with selection {selection!r}; the sweep ran: {', '.join(selections.index)}")
    cells = summarize(grid, ["lr", "q", "horizon", "once", "grad_steps"], args.confidence, args.resamples)
    baseline = baseline_for(frame, grid)
    base = summarize(baseline, ["method"], args.confidence, args.resamples).iloc[0] if not baseline.empty else None
    if base is None:
        print(
            "note: no baseline rows at the grid's width; the heatmap is not centred on a baseline",
            file=sys.stderr,
        )

    facets = sorted(set(zip(cells["lr"], cells["q"], strict=False)), reverse=True)
    rows = sorted(set(zip(cells["horizon"], cells["once"], strict=False)))
    cols = sorted(set(cells["grad_steps"]))
    # A linear scale symmetric about the baseline: white = baseline, blue better, red worse.
    centre = float(base["mean"]) if base is not None else float(cells["mean"].median())
    half = float(np.abs(cells["mean"] - centre).max()) + 0.02
    norm = Normalize(vmin=centre - half, vmax=centre + half)
    cmap = plt.get_cmap("RdBu")

    width = 1.1 + 0.95 * len(cols) * len(facets) + 0.9
    fig, axes = plt.subplots(
        1, len(facets), figsize=(max(6.0, width), 2.2 + 0.62 * len(rows)), sharey=True, squeeze=False
    )
    show_q = len({q for _, q in facets}) > 1 or selection in ("critic-quantile", "critic-free")
    for ax, (lr, q) in zip(axes[0], facets, strict=False):
        facet = cells[(cells["lr"] == lr) & (cells["q"] == q)]
        matrix = np.full((len(rows), len(cols)), np.nan)
        for _, cell in facet.iterrows():
            matrix[rows.index((cell["horizon"], cell["once"])), cols.index(cell["grad_steps"])] = cell["mean"]
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, norm=norm, aspect="auto")
        ax.set_facecolor("0.85")
        for _, cell in facet.iterrows():
            i, j = rows.index((cell["horizon"], cell["once"])), cols.index(cell["grad_steps"])
            r, g, b, _ = cmap(norm(cell["mean"]))
            color = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
            ax.text(j, i - 0.1, f"{cell['mean']:.2f}", ha="center", va="center", fontsize=10, color=color)
            ax.text(
                j,
                i + 0.22,
                f"[{cell['low']:.2f}, {cell['high']:.2f}]",
                ha="center",
                va="center",
                fontsize=7,
                color=color,
            )
        ax.set_xticks(range(len(cols)), [str(c) for c in cols])
        ax.set_yticks(range(len(rows)), [_horizon_label(k, o) for k, o in rows])
        ax.set_xlabel("N (updates per re-plan)")
        ax.set_title(f"lr = {fmt_lr(lr)}" + (f", q = {q:g}" if show_q else ""))
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
    axes[0][0].set_ylabel("K (env steps between re-plans)")
    bar = fig.colorbar(image, ax=list(axes[0]), fraction=0.05, pad=0.03)
    bar.set_label("success rate")
    bar.ax.set_ylim(max(0.0, norm.vmin), min(1.0, norm.vmax))
    if base is not None:
        bar.ax.axhline(centre, color="black", lw=2)
        bar.set_label(f"success rate (line: baseline {centre:.2f})")
    dataset, backbone = single(frame, "dataset", "--dataset"), single(frame, "backbone", "--backbone")
    fig.suptitle(f"GC-TTT ({selection} selection) over K x N\n{backbone_label(backbone)} on {dataset}", fontsize=11)
    seeds, episodes = counts(pd.concat([grid, baseline]))
    baseline_text = (
        f"Colour centred on the pre-trained baseline, {base['mean']:.2f} [{base['low']:.2f}, {base['high']:.2f}] "
        f"(white; blue better, red worse; black line on the colour bar). "
        if base is not None
        else "No baseline rows. "
    )
    add_caption(
        fig,
        f"Cells: success rate (mean over pre-training seeds of the per-seed rate) and {args.confidence:.0%} "
        f"bootstrap CI (scipy.stats.bootstrap, percentile, {args.resamples} resamples within seeds). "
        f"{baseline_text}'once': fine-tuned once per episode. Grey: not run. "
        f"{count_text(seeds, episodes)} ({_span(cells['episodes'])} per cell). {data_text(grid)}",
    )
    paths = save(fig, args.out, "horizon_grid")
    csv = paths[0].with_suffix(".csv")
    cells.assign(selection=selection).to_csv(csv, index=False)
    return [*paths, csv]


def ablation_config(ttt: pd.DataFrame, args: PlotHorizonConfig) -> tuple[int, int, float]:
    """(K, N, lr) of the ablation bars: the flags where given, else where the most strategies ran."""
    candidates = ttt[ttt["schedule"] != "once-keep"]  # strategies that select once run at any K
    for column, value in (
        ("horizon", args.ablation_horizon),
        ("grad_steps", args.ablation_grad_steps),
        ("lr", args.ablation_lr),
    ):
        if value is not None:
            candidates = candidates[np.isclose(candidates[column], value)]
    if candidates.empty:
        raise UsageError("no GC-TTT rows at the --ablation-* configuration; drop the flags to pick one automatically")
    coverage = candidates.groupby(["horizon", "grad_steps", "lr"]).agg(
        strategies=("selection", "nunique"), episodes=("success", "size")
    )
    best = coverage.sort_values(["strategies", "episodes"], ascending=False, kind="stable").index[0]
    return int(best[0]), int(best[1]), float(best[2])


def ablation_figure(frame: pd.DataFrame, args: PlotHorizonConfig) -> list:
    import matplotlib.pyplot as plt

    ttt = frame[frame["method"] == "gcttt"]
    if ttt["selection"].nunique() < 2:
        print(
            f"note: the sweep ran one selection strategy ({ttt['selection'].iloc[0]}); no ablation figure",
            file=sys.stderr,
        )
        return []
    k, n, lr = ablation_config(ttt, args)
    at_k = (ttt["horizon"] == k) | (ttt["schedule"] == "once-keep")
    at = ttt[at_k & (ttt["grad_steps"] == n) & np.isclose(ttt["lr"], lr)]
    bars = summarize(at, ["selection", "q", "once"], args.confidence, args.resamples)
    multi_q = bars.groupby("selection")["q"].transform("nunique") > 1
    bars["label"] = [
        _bar_label(s, q if many else None, once)
        for s, q, many, once in zip(bars["selection"], bars["q"], multi_q, bars["once"], strict=False)
    ]
    order = {name: i for i, name in enumerate(ABLATION_ORDER)}
    bars["rank"] = [order.get(s, len(order)) for s in bars["selection"]]
    bars = bars.sort_values(["rank", "selection", "q"]).drop(columns="rank")
    baseline = baseline_for(frame, at)
    if not baseline.empty:
        base = summarize(baseline, ["method"], args.confidence, args.resamples).assign(
            selection="baseline", q=0.0, once=False, label="baseline\n(no TTT)"
        )
        bars = pd.concat([base.drop(columns="method"), bars], ignore_index=True)
    missing = [s for s in ABLATION_ORDER if s in set(ttt["selection"]) and s not in set(at["selection"])]

    fig, ax = plt.subplots(figsize=(max(5.5, 1.0 + 0.9 * len(bars)), 4.4))
    colors = ["0.6" if s == "baseline" else ("C0" if s in FULL_RULES else "C1") for s in bars["selection"]]
    x = np.arange(len(bars))
    yerr = np.vstack([bars["mean"] - bars["low"], bars["high"] - bars["mean"]]).clip(min=0)
    ax.bar(x, bars["mean"], color=colors, width=0.7, yerr=yerr, capsize=4, ecolor="0.2")
    for xi, (_, row) in zip(x, bars.iterrows(), strict=False):
        ax.text(xi, row["high"] + 0.015, f"{row['mean']:.2f}", ha="center", va="bottom", fontsize=9)
    if not baseline.empty:
        ax.axhline(float(bars["mean"].iloc[0]), color="0.4", ls="--", lw=1)
    ax.set_xticks(x, bars["label"], fontsize=9)
    ax.set_ylabel("success rate")
    ax.set_ylim(0, min(1.1, float(bars["high"].max()) + 0.12))
    ax.grid(axis="x", visible=False)
    dataset, backbone = single(frame, "dataset", "--dataset"), single(frame, "backbone", "--backbone")
    ax.set_title(
        f"Selection ablation: {backbone_label(backbone)} on {dataset}\nK = {k}, N = {n}, lr = {fmt_lr(lr)}",
        fontsize=10,
    )
    seeds, episodes = counts(pd.concat([at, baseline]))
    add_caption(
        fig,
        f"Bars: success rate (mean over pre-training seeds of the per-seed rate); error bars: {args.confidence:.0%} "
        f"bootstrap CI (scipy.stats.bootstrap, percentile, {args.resamples} resamples within seeds). Blue: full "
        f"selection rules; orange: ablations; grey: pre-trained policy (dashed line); 'once': selects and "
        f"fine-tunes once per episode (critic-free always does). "
        + (f"Not run at this configuration: {', '.join(missing)}. " if missing else "")
        + f"{count_text(seeds, episodes)} ({_span(bars['episodes'])} per bar). {data_text(frame)}",
    )
    paths = save(fig, args.out, "selection_ablation")
    csv = paths[0].with_suffix(".csv")
    bars.assign(horizon=k, grad_steps=n, lr=lr).drop(columns="label").to_csv(csv, index=False)
    return [*paths, csv]


def _bar_label(selection: str, q: float | None, once: bool) -> str:
    """'critic-free\n(q=0.2)\n(once)': q only where the strategy ran at several q."""
    notes = ([f"q={q:g}"] if q is not None else []) + (["once"] if once else [])
    return "\n".join([selection, *(f"({note})" for note in notes)])


def _span(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}-{high}"


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(PlotHorizonConfig, argv, "plot_horizon.py", PlotHorizonConfig.__doc__)
        output_dir(args.out)  # before any reading: a bad --out is one line, not a traceback at the end
        frame = with_once(filter_kind(load(args, REQUIRED), "horizon"))
        require_one_sweep(frame, args.sweep_id)
        single(frame, "dataset", "--dataset")
        single(frame, "backbone", "--backbone")
        if (frame["method"] == "gcttt").sum() == 0:
            raise UsageError("no GC-TTT rows (method 'gcttt'); the horizon figures need a sweep's TTT arms")
        style()
        for path in grid_figure(frame, args) + ablation_figure(frame, args):
            print(f"wrote {path}")
        return 0

    return run_main("plot_horizon.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
