"""Compute allocation: success rate against counted test-time FLOPs per episode.

Two curves from a compute study (sweep_kind 'compute'):
- model scaling without TTT: the baseline (pre-trained policy) at each network width;
- GC-TTT at the base (smallest) width, re-planning every K steps, K decreasing (more compute);
  its first point is the baseline at the base width, shared with the scaling curve.
x is the mean of `flops_total` (acting + selection + fine-tuning) per episode of each
configuration, on a log axis; the top axis shows it as a multiple of the base model's compute.
Points are success rates (mean over pre-training seeds of the per-seed rate) with 95% stratified
bootstrap CIs from `gcttt.stats.success_ci` (scipy.stats.bootstrap; episodes resampled within
each seed).

    python analysis/plot_compute.py ~/gcttt-results/sweeps/NAME --out results/figures
    python analysis/plot_compute.py --mlflow-experiment gcttt-compute --mlflow-uri sqlite:////abs/mlflow.db

Writes OUT/compute.png, OUT/compute.pdf and OUT/compute.csv (the plotted points).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from analysis.results import SUCCESS_COLUMNS, add_source_arguments, load, run_main, single, with_once
from analysis.summary import (
    add_caption,
    backbone_label,
    count_text,
    counts,
    filter_kind,
    fmt_lr,
    require_one_sweep,
    save,
    style,
    summarize,
)
from gcttt.errors import UsageError
from gcttt.stats import DEFAULT_RESAMPLES

REQUIRED = (*SUCCESS_COLUMNS, "flops_total")
TTT_CONFIG = ("selection", "grad_steps", "lr", "q")
"""Knobs besides K that make separate GC-TTT curves when a study varies them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plot_compute.py",
        description="Compute-allocation figure: success rate vs counted test-time FLOPs, model scaling "
        "without TTT vs GC-TTT at growing re-plan frequency, with 95% bootstrap CIs.",
    )
    add_source_arguments(parser, default_out="results/figures")
    parser.add_argument(
        "--base-width",
        type=int,
        default=None,
        help="width of the GC-TTT model [default: the smallest width that has GC-TTT rows]",
    )
    parser.add_argument("--confidence", type=float, default=0.95, help="CI level [default: %(default)s]")
    parser.add_argument(
        "--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples [default: %(default)s]"
    )
    parser.add_argument("--name", default="compute", help="output file stem [default: %(default)s]")
    return parser


def compute_points(
    frame: pd.DataFrame, base_width: int | None, confidence: float, resamples: int
) -> tuple[pd.DataFrame, list[tuple[str, pd.DataFrame]], int]:
    """(scaling points by width, [(label, GC-TTT points by K incl. the base baseline)], base width)."""
    baseline = frame[frame["method"] == "baseline"]
    ttt = frame[frame["method"] == "gcttt"]
    if baseline.empty:
        raise UsageError("no baseline rows: the compute figure needs baseline episodes at each width")
    if base_width is None:
        base_width = int(ttt["width"].min()) if not ttt.empty else int(baseline["width"].min())
    if base_width not in set(baseline["width"]):
        widths = sorted(set(baseline["width"]))
        raise UsageError(
            f"no baseline rows at the base width {base_width} (baseline widths: {widths}); set --base-width"
        )
    bad = frame.groupby(["method", "width", "horizon"])["flops_total"].mean()
    if (bad <= 0).any():
        configs = [f"{m} w={w} K={k}" for (m, w, k), v in bad.items() if v <= 0]
        raise UsageError(f"flops_total is 0 for {configs}: these rows were written without FLOP counting")
    scaling = summarize(baseline, ["width"], confidence, resamples).sort_values("width")
    start = scaling[scaling["width"] == base_width].assign(horizon=0, once=False)
    curves = []
    ttt = ttt[ttt["width"] == base_width]
    for key, group in ttt.groupby(list(TTT_CONFIG), sort=True):
        points = summarize(group, ["horizon", "once"], confidence, resamples)
        points = pd.concat([start, points], ignore_index=True).sort_values("flops_total")
        selection, grad_steps, lr, q = key
        knobs = f"{selection}, N={grad_steps}, lr={fmt_lr(lr)}" + (f", q={q:g}" if q else "")
        curves.append((knobs, points))
    return scaling, curves, base_width


def _k_label(row: pd.Series) -> str:
    return "once" if row["once"] else f"K={row['horizon']}"


def _annotate(ax, xs: pd.Series, ys: pd.Series, labels: list[str], color: str) -> None:
    """Label points to their right, alternately above and below, so neighbours do not collide."""
    for i, (x, y, label) in enumerate(zip(xs, ys, labels, strict=False)):
        offset = (5, 5) if i % 2 == 0 else (5, -12)
        ax.annotate(
            label,
            (x, y),
            xytext=offset,
            textcoords="offset points",
            fontsize=8,
            color=color,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
        )


def draw(frame: pd.DataFrame, args: argparse.Namespace, out_stem: str) -> list:
    style()
    import matplotlib.pyplot as plt

    dataset = single(frame, "dataset", "--dataset")
    backbone = single(frame, "backbone", "--backbone")
    scaling, curves, base_width = compute_points(frame, args.base_width, args.confidence, args.resamples)
    if not curves:
        print(f"note: no GC-TTT rows at width {base_width}; drawing the scaling curve only", file=sys.stderr)
    every = pd.concat([scaling, *(p for _, p in curves)])
    base_flops = float(scaling.loc[scaling["width"] == base_width, "flops_total"].iloc[0])
    # Exact counting can put fine-tuning orders of magnitude above acting; then the model-scaling
    # points crowd at the left, and a second panel shows them on a linear, relative axis.
    zoom = np.log10(every["flops_total"].max() / every["flops_total"].min()) > 1.5 and len(scaling) > 1
    if zoom:
        fig, (ax, zax) = plt.subplots(1, 2, figsize=(9.0, 4.6), gridspec_kw={"width_ratios": [2.4, 1]}, sharey=True)
    else:
        fig, ax = plt.subplots(figsize=(7.0, 4.6))

    for i, (knobs, points) in enumerate(curves):
        color = f"C{i + 1}"
        _errorbar(
            ax,
            points,
            points["flops_total"],
            fmt="s-",
            ms=8,
            color=color,
            label=f"GC-TTT at width {base_width} ({knobs}), re-plan every K steps",
        )
        ttt_points = points[points["horizon"] > 0]
        _annotate(
            ax,
            ttt_points["flops_total"],
            ttt_points["mean"],
            [_k_label(r) for _, r in ttt_points.iterrows()],
            color,
        )
    _errorbar(ax, scaling, scaling["flops_total"], fmt="o-", color="C0", label="Model scaling, no TTT (label: width)")
    widths = [f"w={w}" for w in scaling["width"]]
    if zoom:
        relative = scaling["flops_total"] / base_flops
        _errorbar(zax, scaling, relative, fmt="o-", color="C0")
        # Ticks name the widths; the relative compute sits beside each point (both on the ticks overlap).
        zax.set_xticks(list(relative), [str(w) for w in scaling["width"]], fontsize=8)
        _annotate(zax, relative, scaling["mean"], [f"{r:.3g}x" for r in relative], "C0")
        zax.set_xlim(relative.min() - 0.3, relative.max() + 0.5)
        zax.set_xlabel(f"network width (at its compute\nrelative to width {base_width})", fontsize=9)
        zax.tick_params(labelleft=False)
        zax.set_title("zoom: model scaling without TTT", fontsize=10)
    else:
        _annotate(ax, scaling["flops_total"], scaling["mean"], widths, "C0")
    ax.set_xscale("log")
    top = ax.secondary_xaxis("top", functions=(lambda x: x / base_flops, lambda x: x * base_flops))
    top.set_xlabel(f"compute relative to the width-{base_width} model without TTT", fontsize=9)
    ax.set_xlabel("counted test-time FLOPs per episode (acting + selection + fine-tuning)")
    ax.set_ylabel("success rate")
    low, high = float(every["low"].min()), float(every["high"].max())
    pad = max(0.05, 0.1 * (high - low))
    ax.set_ylim(max(-0.02, low - pad), min(1.02, high + pad))
    ax.set_xlim(every["flops_total"].min() / 2.5, every["flops_total"].max() * 4)
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    fig.suptitle(f"Compute allocation: {backbone_label(backbone)} on {dataset}")
    seeds, n_episodes = counts(frame)
    add_caption(
        fig,
        f"Success rate (mean over pre-training seeds of the per-seed rate) against the mean counted FLOPs per "
        f"episode. Error bars: {args.confidence:.0%} bootstrap CI (scipy.stats.bootstrap, percentile, "
        f"{args.resamples} resamples, episodes resampled within each seed). The first GC-TTT point is the "
        f"width-{base_width} baseline; 'once': fine-tuned once per episode. {count_text(seeds, n_episodes)} "
        f"({_span(every['episodes'])} per point).",
    )
    paths = save(fig, args.out, out_stem)
    table = pd.concat(
        [scaling.assign(curve="scaling")] + [p.assign(curve=f"gcttt ({k})") for k, p in curves],
        ignore_index=True,
    )
    csv = paths[0].with_suffix(".csv")
    table.to_csv(csv, index=False)
    return [*paths, csv]


def _errorbar(ax, points: pd.DataFrame, x: pd.Series, **kwargs) -> None:
    yerr = np.vstack([points["mean"] - points["low"], points["high"] - points["mean"]]).clip(min=0)
    ax.errorbar(x, points["mean"], yerr=yerr, capsize=3, lw=1.6, **{"ms": 6, **kwargs})


def _span(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}-{high}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        frame = with_once(filter_kind(load(args, REQUIRED), "compute"))
        require_one_sweep(frame, args.sweep_id)
        for path in draw(frame, args, args.name):
            print(f"wrote {path}")
        return 0

    return run_main("plot_compute.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
