"""The compute-allocation study drawn four ways from the same rows (sweep_kind 'compute').

Does test-time compute spent on GC-TTT beat compute spent on a bigger model? Four panels:

- (a) paper: the paper's accounting (its Figure 6, right; its code counts no FLOPs): models at
  x = (w / w0)^2, the GC-TTT curve starting at the 1x baseline with its K points placed at the x
  of the paired widths (K = 1000, 500, 200, 100 at the 2nd, 3rd, 4th, 5th width), as if a re-plan
  cost a fraction of an episode of acting (log axis; the widths named on a top axis);
- (b) exact: every configuration at its counted test-time FLOPs per episode (log axis; acting +
  selection value passes + fine-tuning updates, `gcttt/control/flops.py`), labelled with its multiple of
  the base model's acting FLOPs (near-equal costs, such as the cheap arms, share one label);
  `--amortise-episodes E` adds each checkpoint's pre-training FLOPs spread over E episodes (wider
  models cost more to pre-train too);
- (c) matched: at budgets of 1x, 4x, 16x, ... the base model's acting FLOPs per episode (up to the
  dearest configuration's cost, or `--budgets`), the best
  success each family reaches within the budget, exactly counted: model scaling (baselines of
  any width) against GC-TTT at the base width (any of its configurations, the cheap ones included);
- (d) total: pre-training FLOPs + E episodes x test-time FLOPs per episode, for E from 1 to 10^5,
  one line per model width and per GC-TTT configuration (labelled with its success); the caption
  names the episode count beyond which a bigger model's one-time pre-training costs less in total
  than GC-TTT's per-episode cost (`crossover_episodes`). Neither the paper nor the authors' code
  has this view.

Points are success rates (mean over pre-training seeds of the per-seed rate) with 95% stratified
bootstrap CIs from `gcttt.results.stats.success_ci`.

    python analysis/plot_compute.py ~/gcttt-results/sweeps/NAME --out results/figures
    python analysis/plot_compute.py --mlflow-experiment gcttt-compute --mlflow-uri sqlite:////abs/mlflow.db

Writes OUT/compute.png, OUT/compute.pdf and OUT/compute.csv: the plotted numbers, one row per
point, with a `panel` column (paper, exact, matched).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.results import SUCCESS_COLUMNS, Source, load, output_dir, run_main, single
from analysis.summary import (
    add_caption,
    backbone_label,
    count_text,
    counts,
    filter_kind,
    fmt_lr,
    k_label,
    require_one_sweep,
    save,
    style,
    summarize,
)
from gcttt.commands.flags import parse
from gcttt.errors import UsageError
from gcttt.results.stats import DEFAULT_RESAMPLES

FLOP_COLUMNS = ("flops_total", "flops_act", "flops_selection", "flops_finetune", "pretrain_flops")
REQUIRED = (*SUCCESS_COLUMNS, *FLOP_COLUMNS)
ARM = ["method", "width", "selection", "schedule", "horizon", "grad_steps", "lr", "finetune_batch", "finetune", "q"]
"""What distinguishes the configurations of a compute study."""
BUDGET_STEP = 4
"""Panel (c)'s default budgets: 1x, 4x, 16x, ... up to the dearest configuration's multiple."""
LABEL_GAP = 0.1
"""Panel (b): points of a family closer than this (log10 FLOPs) to their neighbour share one label."""


@dataclass(frozen=True)
class PlotComputeConfig(Source):
    """Compute-allocation figure in four panels: the paper's accounting, exact counted FLOPs, the compute-matched
    frontier, and total compute (pre-training + E episodes); 95% bootstrap CIs."""

    base_width: int | None = None
    """The GC-TTT model's width [default: the smallest]."""
    amortise_episodes: int = 0
    """Add pre-training FLOPs spread over this many episodes to panel (b) (0: test time only)."""
    budgets: tuple[float, ...] | None = None
    """Panel (c) budgets, multiples of base acting [default: 1, 4, 16, ... up to the dearest configuration]."""
    confidence: float = 0.95
    """CI level."""
    resamples: int = DEFAULT_RESAMPLES
    """Bootstrap resamples."""
    name: str = "compute"
    """Output file stem."""
    title: str | None = None
    """The figure's title [default: Compute allocation: BACKBONE on DATASET (SOURCE data)]."""


def configurations(frame: pd.DataFrame, confidence: float, resamples: int) -> pd.DataFrame:
    """One row per configuration: success with CI and the mean of every FLOP column."""
    out = summarize(frame, ARM, confidence, resamples, means=FLOP_COLUMNS)
    out["label"] = [label(r) for _, r in out.iterrows()]
    return out


def label(row: pd.Series) -> str:
    if row["method"] == "baseline":
        return f"width {int(row['width'])}"
    k = k_label(row, kept="once, kept")
    batch = f", b={int(row['finetune_batch'])}" if row["finetune_batch"] else ""
    actor = ", actor only" if row.get("finetune") == "actor" else ""
    return f"{row['selection']} {k}, N={int(row['grad_steps'])}{batch}, lr={fmt_lr(float(row['lr']))}{actor}"


def base_acting(configs: pd.DataFrame, base_width: int) -> float:
    """Acting FLOPs per episode of the base model without TTT: the unit of panels (b) and (c)."""
    base = configs[(configs["method"] == "baseline") & (configs["width"] == base_width)]
    if base.empty:
        raise UsageError(f"no baseline rows at the base width {base_width}: the compute study needs them")
    return float(base["flops_act"].iloc[0])


def paper_series(configs: pd.DataFrame, base_width: int) -> pd.DataFrame:
    """The TTT curve of the paper's figure: critic selection at the base width, the (N, lr) with the
    most re-plan intervals; K from the longest to the shortest."""
    ttt = configs[
        (configs["method"] == "gcttt") & (configs["width"] == base_width) & (configs["selection"] == "critic")
    ]
    ttt = ttt[ttt["schedule"].isin(["receding", "once"])]
    if ttt.empty:
        return ttt
    best = ttt.groupby(["grad_steps", "lr", "finetune_batch"]).size().sort_values(ascending=False).index[0]
    series = ttt[(ttt["grad_steps"] == best[0]) & (ttt["lr"] == best[1]) & (ttt["finetune_batch"] == best[2])]
    return series.sort_values("horizon", ascending=False)


def paper_points(configs: pd.DataFrame, base_width: int) -> pd.DataFrame:
    """Panel (a): models at (w / w0)^2; the TTT curve at the 1x baseline, then K points at the x of
    the paired widths (the k-th K at the (k+1)-th width)."""
    models = configs[configs["method"] == "baseline"].sort_values("width")
    models = models.assign(family="model scaling", x=(models["width"] / base_width) ** 2)
    widths = [w for w in models["width"] if w > base_width]
    series = paper_series(configs, base_width)
    start = models[models["width"] == base_width].assign(family="GC-TTT")
    ttt = series.head(len(widths)).assign(family="GC-TTT", x=[(w / base_width) ** 2 for w in widths[: len(series)]])
    return pd.concat([models, start, ttt], ignore_index=True).assign(panel="paper")


def exact_points(configs: pd.DataFrame, base_width: int, amortise: int = 0) -> pd.DataFrame:
    """Panel (b): every configuration at its counted FLOPs per episode (plus amortised pre-training)."""
    unit = base_acting(configs, base_width)
    points = configs[(configs["method"] == "baseline") | (configs["width"] == base_width)].copy()
    points["family"] = np.where(points["method"] == "baseline", "model scaling", "GC-TTT")
    x = points["flops_total"].to_numpy(float)
    if amortise:
        x = x + points["pretrain_flops"].to_numpy(float) / amortise
    points["x"] = x
    points["multiple"] = x / unit
    return points.assign(panel="exact")


def default_budgets(configs: pd.DataFrame, base_width: int) -> list[float]:
    """1x, 4x, 16x, ... the base model's acting FLOPs, until every configuration of panel (c) fits."""
    unit = base_acting(configs, base_width)
    shown = configs[(configs["method"] == "baseline") | (configs["width"] == base_width)]
    dearest = float(shown["flops_total"].max()) / unit
    steps = max(0, int(np.ceil(np.log(max(dearest, 1.0)) / np.log(BUDGET_STEP) - 1e-9)))
    return [float(BUDGET_STEP**i) for i in range(steps + 1)]


def matched_points(configs: pd.DataFrame, base_width: int, budgets) -> pd.DataFrame:
    """Panel (c): per budget (multiples of the base model's acting FLOPs per episode) and family, the
    configuration with the best success among those whose exact FLOPs per episode fit the budget."""
    unit = base_acting(configs, base_width)
    families = {
        "model scaling": configs[configs["method"] == "baseline"],
        "GC-TTT": configs[(configs["method"] == "gcttt") & (configs["width"] == base_width)],
    }
    rows = []
    for budget in budgets:
        for family, group in families.items():
            fits = group[group["flops_total"] <= budget * unit * (1 + 1e-9)]
            if family == "GC-TTT":  # the base model without TTT is also a way to spend under budget
                fits = pd.concat([fits, configs[(configs["method"] == "baseline") & (configs["width"] == base_width)]])
                fits = fits[fits["flops_total"] <= budget * unit * (1 + 1e-9)]
            if fits.empty:
                continue
            best = fits.sort_values(["mean", "flops_total"], ascending=[False, True], kind="stable").iloc[0]
            rows.append({**best.to_dict(), "family": family, "budget": budget, "x": budget})
    return pd.DataFrame(rows).assign(panel="matched")


EPISODES = np.logspace(0, 5, 41)
"""Episode counts of panel (d): 1 to 10^5."""


def crossover_episodes(pre_model: float, per_model: float, pre_ttt: float, per_ttt: float) -> float:
    """Episodes E beyond which model + E x its episode cost < TTT model + E x TTT's episode cost.

    0 when the model is cheaper from the first episode on; inf when it never becomes cheaper."""
    if pre_model <= pre_ttt and per_model <= per_ttt:
        return 0.0
    if per_ttt <= per_model:
        return float("inf")
    return max(0.0, (pre_model - pre_ttt) / (per_ttt - per_model))


def total_points(configs: pd.DataFrame, base_width: int, episodes=EPISODES) -> pd.DataFrame:
    """Panel (d): total FLOPs (pre-training + E x per episode) of every model width and of every
    GC-TTT configuration at the base width, for each E."""
    keep = configs[(configs["method"] == "baseline") | (configs["width"] == base_width)]
    rows = []
    for _, c in keep.iterrows():
        family = "model scaling" if c["method"] == "baseline" else "GC-TTT"
        for e in episodes:
            rows.append({**c.to_dict(), "family": family, "episodes_served": e,
                         "x": e, "total_flops": c["pretrain_flops"] + e * c["flops_total"]})  # fmt: skip
    return pd.DataFrame(rows).assign(panel="total")


def crossovers(configs: pd.DataFrame, base_width: int) -> pd.DataFrame:
    """For every wider model and every GC-TTT configuration that it does not beat on success, the
    episode count beyond which the model costs less in total; the model's and TTT's success beside."""
    models = configs[(configs["method"] == "baseline") & (configs["width"] > base_width)]
    ttt = configs[(configs["method"] == "gcttt") & (configs["width"] == base_width) & (configs["flops_finetune"] > 0)]
    rows = []
    for _, m in models.iterrows():
        for _, t in ttt.iterrows():
            e = crossover_episodes(m["pretrain_flops"], m["flops_total"], t["pretrain_flops"], t["flops_total"])
            rows.append({"model": m["label"], "model_success": m["mean"], "ttt": t["label"], "ttt_success": t["mean"],
                         "crossover_episodes": e})  # fmt: skip
    return pd.DataFrame(rows)


def cost_clusters(points: pd.DataFrame) -> list[pd.DataFrame]:
    """Panel (b): a family's points sorted by cost, split where neighbours lie LABEL_GAP apart or more."""
    points = points.sort_values("x")
    gaps = np.diff(np.log10(points["x"].to_numpy(float)))
    starts = [0, *(np.flatnonzero(gaps >= LABEL_GAP) + 1)]
    return [points.iloc[a:b] for a, b in zip(starts, [*starts[1:], len(points)], strict=True)]


def _errorbar(ax, points: pd.DataFrame, **kwargs) -> None:
    yerr = np.vstack([points["mean"] - points["low"], points["high"] - points["mean"]]).clip(min=0)
    ax.errorbar(points["x"], points["mean"], yerr=yerr, capsize=3, markersize=5, **kwargs)


COLORS = {"model scaling": "C0", "GC-TTT": "C3"}


def multiple_text(multiple: float) -> str:
    return f"{multiple:,.0f}x" if multiple >= 100 else f"{multiple:.3g}x"


def draw(frame: pd.DataFrame, args: PlotComputeConfig) -> list:
    import matplotlib.pyplot as plt

    configs = configurations(frame, args.confidence, args.resamples)
    ttt_widths = configs.loc[configs["method"] == "gcttt", "width"]
    base_width = args.base_width or int(ttt_widths.min() if len(ttt_widths) else configs["width"].min())
    paper = paper_points(configs, base_width)
    exact = exact_points(configs, base_width, args.amortise_episodes)
    budgets = args.budgets or default_budgets(configs, base_width)
    matched = matched_points(configs, base_width, budgets)
    unit = base_acting(configs, base_width)

    style()
    fig, grid = plt.subplots(2, 2, figsize=(14, 10))
    axes = grid.ravel()
    ax = axes[0]
    for family in ("model scaling", "GC-TTT"):
        pts = paper[paper["family"] == family].sort_values("x")
        _errorbar(ax, pts, fmt="o-", color=COLORS[family], label=family)
    # Widths name the x positions on a top axis rather than labels beside the points: at small
    # multiples (1.5x, 2x) the labels of the widths and of GC-TTT's K points printed over each other.
    widths_at = paper[paper["family"] == "model scaling"].sort_values("x")
    ax.set_xscale("log", base=2)
    ticks = [2.0**i for i in range(int(np.floor(np.log2(paper["x"].max()))) + 1)]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    top = ax.secondary_xaxis("top")
    top.set_xticks(list(widths_at["x"]), [f"{int(w)}" for w in widths_at["width"]], fontsize=8)
    top.set_xlabel("model width w (no TTT)", fontsize=8)
    for _, p in paper[(paper["family"] == "GC-TTT") & (paper["method"] == "gcttt")].iterrows():
        k = f"K={int(p['horizon'])}" + (" (once)" if p["schedule"] == "once" else "")
        ax.annotate(k, (p["x"], p["high"]), textcoords="offset points", xytext=(3, 6), fontsize=8, color="C3")
    ax.set_xlabel("test-time compute, the paper's accounting: (w / w0)^2 (log)")
    ax.set_title("(a) as the paper draws it")

    ax = axes[1]
    for family, marker in (("model scaling", "o"), ("GC-TTT", "s")):
        pts = exact[exact["family"] == family].sort_values("x")
        _errorbar(ax, pts, fmt=marker, color=COLORS[family], label=family, linestyle="none")
        for cluster in cost_clusters(pts):
            # One label per cluster of near-equal costs (the cheap arms), upright above the cluster's
            # highest CI end: neighbouring costs lie closer on the log axis than a label is long.
            lo, hi = cluster["multiple"].min(), cluster["multiple"].max()
            text = multiple_text(lo) if hi / lo < 1.05 else f"{multiple_text(lo)[:-1]}-{multiple_text(hi)}"
            anchor = (np.sqrt(cluster["x"].min() * cluster["x"].max()), cluster["high"].max())
            ax.annotate(text, anchor, textcoords="offset points", xytext=(0, 4), fontsize=7, rotation=90,
                        ha="center", va="bottom", color=COLORS[family])  # fmt: skip
    ax.set_xscale("log")
    what = "test-time FLOPs per episode" + (
        f" + pre-training / {args.amortise_episodes} episodes" if args.amortise_episodes else ""
    )
    ax.set_xlabel(f"exact {what} (log)")
    ax.set_title("(b) counted exactly (labels: x base acting)")

    ax = axes[2]
    for family, fmt, shift in (("model scaling", "o-", 0.95), ("GC-TTT", "s--", 1.05)):
        pts = matched[matched["family"] == family].sort_values("x")
        _errorbar(ax, pts.assign(x=pts["x"] * shift), fmt=fmt, color=COLORS[family], label=family)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(budgets), [multiple_text(b) for b in budgets])
    ax.set_xlabel("budget per episode (x the base model's acting FLOPs)")
    ax.set_title("(c) best success within a matched budget")
    for ax in axes[:3]:
        ax.set_ylabel("success rate")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="upper left", fontsize=8)

    ax = axes[3]
    total = total_points(configs, base_width)
    best_ttt = configs[(configs["method"] == "gcttt") & (configs["width"] == base_width)]
    best_ttt = best_ttt.sort_values(["mean", "flops_total"], ascending=[False, True]).head(3)
    shown = pd.concat([configs[configs["method"] == "baseline"], best_ttt])
    # One shade per line (light = narrow or weakest, dark = wide or best), so that the legend names each line.
    shades = {"model scaling": plt.get_cmap("Blues"), "GC-TTT": plt.get_cmap("Reds")}
    for family, group in (("model scaling", shown[shown["method"] == "baseline"].sort_values("width")),
                          ("GC-TTT", shown[shown["method"] != "baseline"].sort_values("mean"))):  # fmt: skip
        for i, (_, c) in enumerate(group.iterrows()):
            line = total[(total["label"] == c["label"]) & (total["family"] == family)]
            shade = shades[family](0.35 + 0.6 * i / max(1, len(group) - 1))
            ax.plot(line["x"], line["total_flops"], "-" if family == "model scaling" else "--", color=shade,
                    label=f"{c['label']}: {c['mean']:.2f}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("episodes served E (log)")
    ax.set_ylabel("total FLOPs: pre-training + E x per episode")
    ax.set_title("(d) total compute (legend: success)")
    ax.legend(loc="upper left", fontsize=7)
    cross = crossovers(configs, base_width)

    dataset, backbone = single(frame, "dataset", "--dataset"), single(frame, "backbone", "--backbone")
    seeds, episodes = counts(frame)
    source = ", ".join(sorted(frame["dataset_source"].unique())) if "dataset_source" in frame else "?"
    idle = int(((exact["method"] == "gcttt") & (exact["flops_finetune"] == 0)).sum())
    idle_text = (
        f"{idle} GC-TTT configuration(s) selected no data and played the pre-trained policy (no selection or "
        "fine-tuning FLOPs). "
        if idle
        else ""
    )
    title = args.title or f"Compute allocation: {backbone_label(backbone)} on {dataset} ({source} data)"
    fig.suptitle(title, fontsize=12)
    add_caption(
        fig,
        f"Success rate (mean over pre-training seeds) with {args.confidence:.0%} stratified bootstrap CIs. Base "
        f"model: width {base_width}; its acting costs {unit / 1e9:.3g} GFLOPs per episode. (a) the paper's x-axis "
        "(a model at (w/w0)^2; GC-TTT's K points parked at the paired widths' x). (b) exact counted FLOPs per "
        "episode: acting + selection value passes + fine-tuning updates (torch's FLOP counter). (c) for each "
        "budget, the best configuration of each family whose exact FLOPs fit it; the widest model costs "
        f"{exact.loc[exact['family'] == 'model scaling', 'multiple'].max():.3g}x. "
        + idle_text
        + crossover_text(cross)
        + f"{count_text(seeds, episodes)}.",
    )
    paths = save(fig, args.out, args.name)
    if len(cross):
        cross.to_csv(paths[0].with_name(f"{args.name}_crossovers.csv"), index=False)
    csv = paths[0].with_suffix(".csv")
    keep = ["panel", "family", "label", "x", "mean", "low", "high", "seeds", "episodes", *FLOP_COLUMNS]
    table = pd.concat([paper, exact.assign(budget=np.nan), matched], ignore_index=True)
    table["multiple"] = table["flops_total"] / unit
    table[[*keep, "multiple", "budget", *ARM]].to_csv(csv, index=False)
    return [*paths, csv]


def crossover_text(cross: pd.DataFrame) -> str:
    """The caption's sentence on panel (d): where the widest model that matches GC-TTT's best becomes cheaper."""
    if cross.empty:
        return "(d): no wider model and fine-tuning GC-TTT configuration to compare. "
    best = cross.sort_values("ttt_success", ascending=False).iloc[0]["ttt"]
    rows = cross[cross["ttt"] == best].sort_values("model_success", ascending=False)
    r = rows.iloc[0]
    e = r["crossover_episodes"]
    when = "never" if np.isinf(e) else "from the first episode on" if e == 0 else f"beyond {e:,.0f} episodes"
    text = (
        f"(d): against the best GC-TTT configuration ({best}, success {r['ttt_success']:.2f}), the best wider model "
        f"({r['model']}, {r['model_success']:.2f}) costs less in total {when}"
    )
    if r["model_success"] < r["ttt_success"]:
        text += ", but no wider model reaches GC-TTT's success, so that is cheaper, not as good"
    return text + ". "


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(PlotComputeConfig, argv, "plot_compute.py", PlotComputeConfig.__doc__)
        output_dir(args.out)  # before any reading: a bad --out is one line, not a traceback at the end
        frame = filter_kind(load(args, REQUIRED), "compute")
        require_one_sweep(frame, args.sweep_id)
        if args.amortise_episodes < 0:
            raise UsageError(f"--amortise-episodes must be 0 or more (got {args.amortise_episodes})")
        for path in draw(frame, args):
            print(f"wrote {path}")
        return 0

    return run_main("plot_compute.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
