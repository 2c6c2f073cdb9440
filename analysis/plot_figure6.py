"""Figure 6, left and middle panels, from a reproduction's rows (sweeps/reproduce.py --figure6).

- left, ``selection ablation``: success of the pre-trained policy and of test-time training on
  data chosen by each selection rule (random, no optimality, no relevance, GC-TTT's critic
  selection), all at the same budget (K, N, lr), per dataset and averaged over the datasets as
  the paper does (GC-IQL, pointmaze-stitch and antmaze-stitch);
- middle, ``re-plan frequency``: success of critic GC-TTT with N = 200 against the re-plan
  interval K (1000 / 500 / 200 / 100 env steps; K = 1000 on a 1000-step episode is once per
  episode), one line per dataset.
The paper's numbers (docs/method.md §8, `analysis/paper.py`) are drawn beside ours as black markers.
(The right panel, compute allocation, is `analysis/plot_compute.py`.)

Only rows on OGBench's 5 evaluation tasks are read (``task_suite == 'ogbench'``); points are
success rates (mean over pre-training seeds of the per-seed rate) with 95% stratified bootstrap
CIs from `gcttt.results.stats.success_ci`.

    python analysis/plot_figure6.py ~/gcttt-results/sweeps --sweep-id NAME-gciql-pointmaze-medium-stitch-final \\
        --sweep-id NAME-gciql-antmaze-medium-stitch-final --out results/figures

Writes OUT/figure6.png, OUT/figure6.pdf and OUT/figure6.csv (the plotted numbers, with a `panel`
column: ablation, replan).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.paper import REPLAN, SELECTION_ABLATION
from analysis.results import SUCCESS_COLUMNS, Source, drop_repeats, load, output_dir, run_main, single
from analysis.summary import (
    add_caption,
    backbone_label,
    count_text,
    counts,
    dataset_label,
    dataset_order,
    fmt_lr,
    save,
    style,
    summarize,
)
from gcttt.commands.flags import parse
from gcttt.errors import UsageError
from gcttt.results.stats import DEFAULT_RESAMPLES

REQUIRED = (*SUCCESS_COLUMNS, "task_suite")
ABLATION = ("random", "no-optimality", "no-relevance", "critic")
"""Bars after the pre-trained policy, in the paper's order (critic = GC-TTT)."""
LABELS = {
    "pre-trained": "pre-trained",
    "random": "random",
    "no-optimality": "no optimality",
    "no-relevance": "no relevance",
    "critic": "GC-TTT",
}
REPLAN_N = 200
"""The paper's re-plan curve fine-tunes with N = 200 updates at every K."""


def one_row_per_episode_across_sweeps(frame: pd.DataFrame) -> pd.DataFrame:
    """The panels may combine sweeps that played the same arm (e.g. the pre-trained policy and the
    critic at K = 100 in both an ablation sweep and a compute study): the same episode, replayed
    with the same seed, must count once, or its CI narrows for nothing."""
    return drop_repeats(frame, ignore=("sweep_id",)).reset_index(drop=True)


@dataclass(frozen=True)
class Figure6Config(Source):
    """Figure 6 (left: selection ablation; middle: re-plan frequency) from a reproduction's rows, with the
    paper's numbers beside ours.

    Example:
      python analysis/plot_figure6.py ~/gcttt-results/sweeps --sweep-id R-gciql-pointmaze-medium-stitch-final \\
          --sweep-id R-gciql-antmaze-medium-stitch-final --out results/figures"""

    backbone: str | None = "gciql"
    """Keep only this backbone (gciql: the paper's)."""
    confidence: float = 0.95
    """CI level."""
    resamples: int = DEFAULT_RESAMPLES
    """Bootstrap resamples."""


def ablation_budget(ttt: pd.DataFrame) -> tuple[int, int, float]:
    """(K, N, lr) at which the most ablation strategies ran (the paper's: GC-TTT's own budget)."""
    arms = ttt[ttt["selection"].isin(ABLATION) & (ttt["schedule"] == "receding")]
    if arms.empty:
        raise UsageError("no selection-ablation rows; run sweeps/reproduce.py with --figure6 on GC-IQL stitch cells")
    coverage = arms.groupby(["horizon", "grad_steps", "lr"]).agg(
        strategies=("selection", "nunique"), episodes=("success", "size")
    )
    best = coverage.sort_values(["strategies", "episodes"], ascending=False, kind="stable").index[0]
    return int(best[0]), int(best[1]), float(best[2])


def ablation_points(frame: pd.DataFrame, args: Figure6Config) -> pd.DataFrame:
    """One row per (dataset or 'mean', bar): our success with CI and the paper's number. Each
    dataset's bars use that dataset's budget (the authors' differ: lr 3e-4 on pointmaze-stitch,
    3e-5 on antmaze-stitch)."""
    parts = []
    for _, rows in frame.groupby("dataset", sort=True):
        ttt = rows[rows["method"] == "gcttt"]
        k, n, lr = ablation_budget(ttt)
        at = ttt[(ttt["horizon"] == k) & (ttt["grad_steps"] == n) & np.isclose(ttt["lr"], lr)]
        at = at[at["selection"].isin(ABLATION) & (at["schedule"] == "receding")]
        base = rows[rows["method"] == "baseline"].assign(selection="pre-trained")
        parts.append(pd.concat([base, at], ignore_index=True).assign(horizon=k, grad_steps=n, lr=lr))
    rows = pd.concat(parts, ignore_index=True)
    points = summarize(rows, ["dataset", "selection", "horizon", "grad_steps", "lr"], args.confidence, args.resamples)
    # The paper averages the two datasets; with equal episodes per dataset, pooling them is that mean.
    mean = summarize(rows.assign(dataset="mean"), ["dataset", "selection"], args.confidence, args.resamples)
    for column in ("horizon", "grad_steps", "lr"):  # the mean's budget, where the datasets share it
        values = rows[column].unique()
        mean[column] = values[0] if len(values) == 1 else np.nan
    out = pd.concat([points, mean], ignore_index=True)
    out["paper"] = [
        SELECTION_ABLATION.get({"critic": "GC-TTT"}.get(s, s), np.nan) if d == "mean" else np.nan
        for d, s in zip(out["dataset"], out["selection"], strict=True)
    ]
    return out.assign(panel="ablation")


def replan_points(frame: pd.DataFrame, args: Figure6Config) -> pd.DataFrame:
    """Success against K (critic, N = 200), per dataset at its ablation budget's lr; K at the
    episode limit is once per episode."""
    parts = []
    for _, rows in frame.groupby("dataset", sort=True):
        ttt = rows[(rows["method"] == "gcttt") & (rows["selection"] == "critic") & (rows["grad_steps"] == REPLAN_N)]
        ttt = ttt[ttt["schedule"].isin(["receding", "once"])]
        if ttt.empty:
            continue
        if ttt["lr"].nunique() > 1:  # one curve per dataset: keep the lr of its ablation budget's arms
            ttt = ttt[np.isclose(ttt["lr"], ablation_budget(rows[rows["method"] == "gcttt"])[2])]
        parts.append(ttt)
    if not parts:
        raise UsageError(f"no critic rows with N = {REPLAN_N}; run sweeps/reproduce.py with --figure6")
    points = summarize(
        pd.concat(parts, ignore_index=True), ["dataset", "horizon", "lr"], args.confidence, args.resamples
    )
    points["paper"] = [
        REPLAN.get(d, {}).get(int(k), np.nan) for d, k in zip(points["dataset"], points["horizon"], strict=True)
    ]
    return points.assign(panel="replan", grad_steps=REPLAN_N)


def budget_text(ablation: pd.DataFrame) -> str:
    """'K = 100, N = 200; lr 3e-4 on pm-medium-stitch, 3e-5 on am-medium-stitch'."""
    per = ablation[ablation["dataset"] != "mean"].dropna(subset=["lr"]).drop_duplicates("dataset")
    per = per.sort_values("dataset", key=lambda c: c.map(dataset_order))
    ks = sorted({int(k) for k in per["horizon"]})
    ns = sorted({int(n) for n in per["grad_steps"]})
    lrs = ", ".join(f"{fmt_lr(float(r.lr))} on {dataset_label(r.dataset)}" for r in per.itertuples())
    return f"K = {'/'.join(map(str, ks))}, N = {'/'.join(map(str, ns))}; lr {lrs}"


def _cell(r: pd.Series) -> str:
    return f"{r['mean']:.2f} [{r['low']:.2f}, {r['high']:.2f}]"


def markdown(ablation: pd.DataFrame, replan: pd.DataFrame) -> str:
    """The two panels' numbers as Markdown tables (ours with CIs, the paper's beside them)."""
    datasets = sorted(set(ablation["dataset"]) - {"mean"}, key=dataset_order)
    groups = [*datasets, "mean"] if len(datasets) > 1 else datasets
    names = {g: dataset_label(g) if g != "mean" else "mean of the two" for g in groups}
    lines = [
        f"Selection ablation ({budget_text(ablation)}; every bar of a dataset at its budget):",
        "",
        "| selection | " + " | ".join(names[g] for g in groups) + " | paper (mean) |",
        "|---|" + "---|" * (len(groups) + 1),
    ]
    for bar in ["pre-trained", *ABLATION]:
        cells = []
        for g in groups:
            hit = ablation[(ablation["dataset"] == g) & (ablation["selection"] == bar)]
            cells.append(_cell(hit.iloc[0]) if len(hit) else "-")
        paper = SELECTION_ABLATION.get({"critic": "GC-TTT"}.get(bar, bar), np.nan)
        lines.append(f"| {LABELS[bar]} | " + " | ".join(cells) + f" | {'-' if np.isnan(paper) else f'{paper:.2f}'} |")
    horizons = sorted(replan["horizon"].unique(), reverse=True)
    lines += [
        "",
        f"Re-plan frequency (critic, N = {REPLAN_N}; K = 1000 is once per 1000-step episode):",
        "",
        "| dataset | " + " | ".join(f"K = {int(h)}" for h in horizons) + " |",
        "|---|" + "---|" * len(horizons),
    ]
    for d in sorted(replan["dataset"].unique(), key=dataset_order):
        cells = []
        for h in horizons:
            hit = replan[(replan["dataset"] == d) & (replan["horizon"] == h)]
            if hit.empty:
                cells.append("-")
                continue
            r = hit.iloc[0]
            paper = "" if np.isnan(r["paper"]) else f" (paper {r['paper']:.2f})"
            cells.append(_cell(r) + paper)
        lines.append(
            f"| {dataset_label(d)}, lr {fmt_lr(float(replan[replan['dataset'] == d]['lr'].iloc[0]))} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def panels(frame: pd.DataFrame, args: Figure6Config) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(ablation points, re-plan points, the rows they come from) of OGBench-task rows."""
    frame = frame[frame["task_suite"] == "ogbench"]
    if frame.empty:
        raise UsageError("no rows on OGBench's tasks (task_suite 'ogbench'); pass a reproduction's final sweeps")
    frame = one_row_per_episode_across_sweeps(frame)
    return ablation_points(frame, args), replan_points(frame, args), frame


def draw(ablation: pd.DataFrame, replan: pd.DataFrame, frame: pd.DataFrame, args: Figure6Config) -> list:
    import matplotlib.pyplot as plt

    datasets = sorted(set(ablation["dataset"]) - {"mean"}, key=dataset_order)
    fig, (left, middle) = plt.subplots(1, 2, figsize=(11.5, 4.6), gridspec_kw={"width_ratios": [1.5, 1]})

    groups = [*datasets, "mean"] if len(datasets) > 1 else datasets
    bars = ["pre-trained", *ABLATION]
    width = 0.8 / len(bars)
    colors = {"pre-trained": "0.6", "random": "C1", "no-optimality": "C3", "no-relevance": "C4", "critic": "C0"}
    for j, bar in enumerate(bars):
        for i, group in enumerate(groups):
            hit = ablation[(ablation["dataset"] == group) & (ablation["selection"] == bar)]
            if hit.empty:
                continue
            r = hit.iloc[0]
            x = i + (j - (len(bars) - 1) / 2) * width
            err = np.array([[max(0, r["mean"] - r["low"])], [max(0, r["high"] - r["mean"])]])
            left.bar(x, r["mean"], width * 0.92, color=colors[bar], yerr=err, capsize=2, ecolor="0.25",
                     label=LABELS[bar] if i == 0 else None)  # fmt: skip
            # Values printed on the bars: a bar at 0 is otherwise invisible.
            left.annotate(f"{r['mean']:.2f}", (x, max(r["mean"], r["high"])), textcoords="offset points", xytext=(0, 2),
                          ha="center", va="bottom", fontsize=7)  # fmt: skip
            paper = r["paper"]
            if len(datasets) == 1:  # one dataset drawn: still show the paper's (two-dataset mean) numbers
                mean_row = ablation[(ablation["dataset"] == "mean") & (ablation["selection"] == bar)]
                paper = mean_row["paper"].iloc[0] if len(mean_row) else np.nan
            if not np.isnan(paper):
                left.plot(x, paper, marker="_", color="k", markersize=14, mew=2,
                          label=("paper (mean of pm/am stitch)" if len(datasets) == 1 else "paper")
                          if j == 0 and i == len(groups) - 1 else None)  # fmt: skip
    left.set_xticks(range(len(groups)), [dataset_label(g) if g != "mean" else "mean of the two" for g in groups])
    left.set_ylabel("success rate")
    left.set_ylim(0, 1.05)
    left.grid(axis="x", visible=False)
    left.set_title(f"Selection ablation ({budget_text(ablation)})", fontsize=9)
    left.legend(ncol=3, loc="upper left", fontsize=8)

    for i, dataset in enumerate(sorted(replan["dataset"].unique(), key=dataset_order)):
        pts = replan[replan["dataset"] == dataset].sort_values("horizon", ascending=False)
        x = np.arange(len(pts))
        err = np.vstack([pts["mean"] - pts["low"], pts["high"] - pts["mean"]]).clip(min=0)
        middle.errorbar(
            x, pts["mean"], yerr=err, marker="o", capsize=3, color=f"C{i}", label=f"{dataset_label(dataset)}"
        )
        if pts["paper"].notna().any():  # the paper has no K = 750: join the Ks it has
            known = pts["paper"].notna().to_numpy()
            middle.plot(x[known], pts["paper"][known], ls="--", marker="s", color=f"C{i}", mfc="white",
                        label=f"{dataset_label(dataset)}, paper")  # fmt: skip
        middle.set_xticks(x, [str(int(h)) for h in pts["horizon"]])
    middle.set_xlabel("K: env steps between re-plans (1000 = once per episode)")
    middle.set_ylabel("success rate")
    middle.set_ylim(0, 1.05)
    middle.set_title(f"Re-plan frequency (critic, N = {REPLAN_N})")
    middle.legend(fontsize=8, loc="upper left")

    backbone = backbone_label(single(frame, "backbone", "--backbone"))
    seeds, episodes = counts(frame)
    sources = ", ".join(sorted(frame["dataset_source"].unique())) if "dataset_source" in frame else "unknown"
    fig.suptitle(f"Figure 6 (left, middle): {backbone}, OGBench's 5 evaluation tasks", fontsize=11)
    add_caption(
        fig,
        f"Ours: success rate (mean over pre-training seeds of the per-seed rate) with {args.confidence:.0%} bootstrap "
        f"CIs ({args.resamples} resamples within seeds); 'mean of the two' averages the per-dataset rates, as the "
        "paper does. Black bars / dashed lines: the paper's numbers (full scale, official data). Ablations "
        f"fine-tune with GC-TTT's budget. Data: {sources}. {count_text(seeds, episodes)} in all.",
    )
    paths = save(fig, args.out, "figure6")
    csv = paths[0].with_suffix(".csv")
    pd.concat([ablation, replan], ignore_index=True).to_csv(csv, index=False)
    return [*paths, csv]


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(Figure6Config, argv, "plot_figure6.py", Figure6Config.__doc__)
        output_dir(args.out)  # before any reading: a bad --out is one line, not a traceback at the end
        ablation, replan, frame = panels(load(args, REQUIRED), args)
        style()
        for path in draw(ablation, replan, frame, args):
            print(f"wrote {path}")
        return 0

    return run_main("plot_figure6.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
