#!/usr/bin/env python
"""Table 1 summarised across its cells, as RL papers now report (Agarwal et al., NeurIPS 2021): per
backbone, the interquartile mean (IQM) of the pre-trained policy and of GC-TTT, the probability that
GC-TTT improves on the pre-trained policy, and both performance profiles, with stratified bootstrap
95% CIs (`gcttt.results.aggregate`).

What is a task and what is a run: a task is one dataset of Table 1 (a cell of the backbone); a run is
one pre-training seed and kept checkpoint, scored by its success rate over OGBench's 5 evaluation
tasks (one episode each in the cpu preset), the number OGBench reports per dataset. The bootstrap
resamples the runs within each dataset. The arms are the ones Table 1 compares: the pre-trained
policy and the configuration chosen on the held-out tasks (`analysis.table1.final_arms`).

    python analysis/aggregate.py results/table1-cpu               # table and figure into results/tables

Writes OUT/table1_aggregate.md, OUT/table1_aggregate.csv and OUT/table1_aggregate.png/.pdf; `make
figures` puts the table under Table 1 and the figure into docs/figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.summary import BACKBONE_LABELS, backbone_label
from analysis.table1 import Table1Config, final_arms, read_rows
from gcttt.commands.flags import parse
from gcttt.errors import run_main
from gcttt.results.aggregate import iqm_ci, performance_profile_ci, probability_of_improvement_ci

RUN = ("pretrain_seed", "checkpoint_step")
"""What makes a run: one network."""
ARMS = {"pretrained": "pre-trained", "ttt": "+ TTT"}
TAUS = np.linspace(0.0, 1.0, 101)
ALL = "all"
"""The row pooling every backbone's cells (each cell one task)."""


def run_scores(arms: pd.DataFrame) -> pd.DataFrame:
    """One row per (backbone, arm, dataset, run): the run's success rate over its episodes."""
    keys = ["backbone", "arm", "dataset", *RUN]
    return arms.groupby(keys, sort=False)["success"].agg(score="mean", episodes="size").reset_index()


def by_task(runs: pd.DataFrame, arm: str) -> list[np.ndarray]:
    """The scores of `arm`'s runs, one array per task (backbone and dataset), tasks in sorted order."""
    here = runs[runs["arm"] == arm]
    return [group["score"].to_numpy(dtype=float) for _, group in here.groupby(["backbone", "dataset"], sort=True)]


def _groups(runs: pd.DataFrame):
    """(name, runs) per backbone in the house order, then every backbone pooled."""
    order = [*BACKBONE_LABELS, *sorted(set(runs["backbone"]) - set(BACKBONE_LABELS))]
    for backbone in order:
        if (runs["backbone"] == backbone).any():
            yield backbone, runs[runs["backbone"] == backbone]
    if runs["backbone"].nunique() > 1:
        yield ALL, runs


def summary(runs: pd.DataFrame, n_resamples: int = 10000) -> pd.DataFrame:
    """Per backbone (and pooled): IQM of each arm and P(+TTT > pre-trained), each with its 95% CI."""
    out = []
    for name, here in _groups(runs):
        record = {
            "backbone": name,
            "tasks": here.groupby(["backbone", "dataset"]).ngroups,
            "runs": int(here[here["arm"] == "ttt"].groupby(["backbone", "dataset", *RUN]).ngroups),
            "episodes_per_run": int(here["episodes"].median()),
        }
        for arm in ARMS:
            record[f"mean_{arm}"] = float(np.mean([t.mean() for t in by_task(here, arm)]))
            ci = iqm_ci(by_task(here, arm), n_resamples=n_resamples)
            record.update({f"iqm_{arm}": ci.mean, f"iqm_{arm}_low": ci.low, f"iqm_{arm}_high": ci.high})
        poi = probability_of_improvement_ci(by_task(here, "ttt"), by_task(here, "pretrained"), n_resamples=n_resamples)
        record.update({"improvement": poi.mean, "improvement_low": poi.low, "improvement_high": poi.high})
        out.append(record)
    return pd.DataFrame(out)


def _name(backbone: str, tasks: int) -> str:
    return f"all backbones ({tasks} cells)" if backbone == ALL else backbone_label(backbone)


def _ci(r: dict, key: str) -> str:
    return f"{r[key]:.2f} [{r[key + '_low']:.2f}, {r[key + '_high']:.2f}]"


def markdown(table: pd.DataFrame) -> str:
    """The summary as a Markdown table and its footnote."""
    lines = [
        "| backbone | IQM pre-trained [95% CI] | IQM + TTT [95% CI] | P(+ TTT > pre-trained) [95% CI] | "
        "mean pre-trained -> + TTT | tasks x runs |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        lines.append(
            f"| {_name(r['backbone'], r['tasks'])} | {_ci(r, 'iqm_pretrained')} | **{_ci(r, 'iqm_ttt')}** | "
            f"{_ci(r, 'improvement')} | {r['mean_pretrained']:.2f} -> {r['mean_ttt']:.2f} | "
            f"{r['tasks']} x {r['runs'] // r['tasks']} |"
        )
    per_run = int(table["episodes_per_run"].median())
    return (
        "\n".join(lines)
        + "\n\nAcross the cells (Agarwal et al., 2021): a task is a dataset of Table 1, a run one pre-training seed "
        f"and checkpoint scored by its success over the 5 evaluation tasks ({per_run} episodes). IQM: the mean of "
        "the middle half of the runs' scores pooled over the tasks; P(+ TTT > pre-trained): the chance that a run "
        "of the chosen configuration beats a run of the pre-trained policy on the same dataset (ties count half), "
        "averaged over datasets; 0.5 is no difference. CIs: stratified bootstrap, runs resampled within each "
        "dataset (10,000 replicates). The performance profiles are in docs/figures/table1_aggregate.png.\n"
    )


def figure(runs: pd.DataFrame, table: pd.DataFrame, out: Path, n_resamples: int = 10000) -> list[Path]:
    """IQM per backbone and arm, P(+TTT > pre-trained) per backbone, and the performance profiles."""
    import matplotlib.pyplot as plt

    from analysis.summary import add_caption, save, style

    style()
    colours = {"pretrained": "#7f7f7f", "ttt": "#1f77b4"}
    backbones = [(b, here) for b, here in _groups(runs) if b != ALL]
    # Top: IQM and P(improvement) side by side; below: one profile per backbone, as wide together.
    n = len(backbones)
    mosaic = [["iqm"] * n + ["poi"] * n, [f"p{i // 2}" for i in range(2 * n)]]
    fig, panel = plt.subplot_mosaic(mosaic, figsize=(10, 7.2), layout="constrained")
    axes = [panel["iqm"], panel["poi"]]
    rows = table.to_dict("records")
    y = np.arange(len(rows))[::-1]
    names = [_name(r["backbone"], r["tasks"]).replace(" (", "\n(") for r in rows]
    for offset, arm in ((0.15, "pretrained"), (-0.15, "ttt")):
        mean = np.array([r[f"iqm_{arm}"] for r in rows])
        err = np.array([[r[f"iqm_{arm}"] - r[f"iqm_{arm}_low"], r[f"iqm_{arm}_high"] - r[f"iqm_{arm}"]] for r in rows])
        axes[0].errorbar(mean, y + offset, xerr=err.T, fmt="o", color=colours[arm], capsize=3, label=ARMS[arm])
    axes[0].set_yticks(y, names)
    axes[0].set_xlim(-0.02, 1.02)
    axes[0].set_xlabel("IQM of success (95% CI)")
    axes[0].legend(loc="lower right", fontsize=8)
    axes[0].set_title("(a) interquartile mean")
    p = np.array([r["improvement"] for r in rows])
    err = np.array([[r["improvement"] - r["improvement_low"], r["improvement_high"] - r["improvement"]] for r in rows])
    axes[1].errorbar(p, y, xerr=err.T, fmt="o", color="#1f77b4", capsize=3)
    axes[1].axvline(0.5, color="0.4", lw=1, ls=":")
    axes[1].set_yticks(y, names)
    axes[1].set_xlim(0.0, 1.0)
    axes[1].set_xlabel("P(+ TTT > pre-trained) (95% CI)")
    axes[1].set_title("(b) probability of improvement")
    for i, (backbone, here) in enumerate(backbones):
        ax = panel[f"p{i}"]
        for arm, ls in (("pretrained", "--"), ("ttt", "-")):
            prof = performance_profile_ci(by_task(here, arm), TAUS, n_resamples=n_resamples)
            ax.step(TAUS, prof.fraction, where="post", color=colours[arm], ls=ls, label=ARMS[arm])
            ax.fill_between(TAUS, prof.low, prof.high, step="post", color=colours[arm], alpha=0.15)
        ax.set_xlabel(r"success threshold $\tau$")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"({chr(ord('c') + i)}) {backbone_label(backbone)}: performance profile")
        if i == 0:
            ax.set_ylabel(r"fraction of runs with success $> \tau$")
            ax.legend(fontsize=8, loc="upper right")
        else:
            ax.tick_params(labelleft=False)
    runs_per_task = int(runs.groupby(["backbone", "dataset", "arm"]).size().median())
    add_caption(
        fig,
        f"Table 1 across its cells: per backbone, {runs['dataset'].nunique()} datasets (tasks) x {runs_per_task} "
        "runs (pre-training seeds x checkpoints), each run scored by its success over OGBench's 5 evaluation tasks. "
        "+ TTT: the configuration chosen on held-out tasks. Bars and bands: 95% stratified bootstrap CIs (runs "
        "resampled within each dataset); P = 0.5: no difference.",
    )
    return save(fig, out, "table1_aggregate")


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        from gcttt.files.fileio import atomic_write_text, check_writable_dir

        args = parse(Table1Config, argv, "aggregate.py", __doc__)
        runs = run_scores(final_arms(read_rows(Path(args.source), args.name)))
        table = summary(runs)
        out = check_writable_dir(args.out, "--out")
        text = markdown(table)
        atomic_write_text(out / "table1_aggregate.md", text)
        atomic_write_text(out / "table1_aggregate.csv", table.to_csv(index=False))
        if args.figure:
            figure(runs, table, out)
        print(text)
        return 0

    return run_main("aggregate.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
