#!/usr/bin/env python
"""Table 1 of a reproduction (sweeps/reproduce.py), from its rows: ours beside the paper's, per cell.

Per (backbone, dataset) cell, from the tuning phase's held-out rows and the final phase's rows on
OGBench's 5 tasks:
- the configuration chosen on the held-out suite (best success; ties: fewer FLOPs per episode);
- the pre-trained policy and that configuration on the 5 tasks, every seed and kept checkpoint:
  success as the authors compute it (mean over checkpoints per seed, then over seeds) with a 95%
  bootstrap CI (episodes resampled within each seed and checkpoint);
- the paired difference (+TTT minus pre-trained on the same seed, checkpoint, task and episode
  index) with its bootstrap CI;
- where the final phase evaluated the whole grid (--paper-protocol: first seed, last checkpoint),
  the paper's protocol: the best configuration judged on the reported tasks, beside the chosen
  configuration on the same episodes;
- the paper's two numbers and the episode time the cell cost.

    python analysis/table1.py results/table1-cpu                    # a study of the results store
    python analysis/table1.py ~/gcttt-results/sweeps --name table1-cpu # a reproduction's sweep folders

Writes OUT/table1.md, OUT/table1.csv and the figure OUT/table1.png/.pdf (ours vs the paper, per cell).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import tyro

from analysis.paper import TABLE1
from analysis.summary import BACKBONE_LABELS, backbone_label, dataset_label, dataset_order, fmt_lr, k_label
from gcttt.commands.flags import parse
from gcttt.errors import UsageError, run_main
from gcttt.results.stats import success_ci
from gcttt.results.summary import checkpoint_groups, summarize

CONFIG = ("selection", "schedule", "horizon", "grad_steps", "lr", "q", "finetune_batch", "finetune")
PAIR = ("pretrain_seed", "checkpoint_step", "task_id", "episode_index")
"""What pairs a +TTT episode with a pre-trained one: same network, same task, same episode seed."""


def read_rows(source: Path, name: str | None) -> pd.DataFrame:
    """Rows of a study (STUDY/rows) or of a reproduction's sweep folders (SWEEPS/NAME-*/episodes)."""
    from gcttt.results.records import read_results
    from gcttt.results.store import published_rows

    source = Path(source).expanduser()
    if (source / "rows").is_dir():
        rows = published_rows(source)
    else:
        if not name:
            raise UsageError(f"{source} is not a study of the results store; name the reproduction with --name")
        frames = [
            read_results(arm) for ep in sorted(source.glob(f"{name}-*/episodes")) for arm in sorted(ep.glob("*/"))
        ]
        frames = [f for f in frames if len(f)]
        if not frames:
            raise UsageError(f"no rows of reproduction {name!r} under {source}; run sweeps/reproduce.py first")
        rows = pd.concat(frames, ignore_index=True)
    if name and (source / "rows").is_dir():
        rows = rows[rows["sweep_id"].str.startswith(f"{name}-")]
    if rows.empty:
        raise UsageError(f"{source}: no rows")
    return rows


def _matching(rows: pd.DataFrame, config: pd.Series) -> pd.DataFrame:
    keep = np.ones(len(rows), dtype=bool)
    for column in CONFIG:
        value = config[column]
        if isinstance(value, str):
            keep &= (rows[column] == value).to_numpy()
        else:
            keep &= np.isclose(rows[column].astype(float), float(value))
    return rows[keep]


def label(config: pd.Series) -> str:
    k = k_label(config)
    return f"{config['selection']} {k}, N={int(config['grad_steps'])}, lr={fmt_lr(float(config['lr']))}"


def paired_difference(base: pd.DataFrame, ttt: pd.DataFrame) -> tuple[float, float, float, int]:
    """Mean of +TTT minus pre-trained over paired episodes, its stratified bootstrap CI, and the pairs."""
    pairs = ttt.merge(base, on=list(PAIR), suffixes=("_ttt", "_base"))
    if pairs.empty:
        return np.nan, np.nan, np.nan, 0
    diff = pairs["success_ttt"].astype(float) - pairs["success_base"].astype(float)
    ci = success_ci(diff.to_numpy(), groups=checkpoint_groups(pairs))
    return ci.mean, ci.low, ci.high, len(pairs)


def _dedup(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop_duplicates(subset=["trial_id", "dataset", "backbone", *PAIR, "task_suite", "seed"], keep="last")


def _chosen(rows: pd.DataFrame):
    """Per cell with both phases: (backbone, dataset, the cell's final rows, the tuning rows, the held-out
    summary, the chosen configuration, its seeds, the pre-trained final rows, the chosen final rows)."""
    tune = rows[rows["task_suite"] != "ogbench"]
    final = rows[rows["task_suite"] == "ogbench"]
    for (backbone, dataset), cell in final.groupby(["backbone", "dataset"], sort=False):
        base = cell[cell["method"] == "baseline"]
        tuned = tune[(tune["backbone"] == backbone) & (tune["dataset"] == dataset) & (tune["method"] == "gcttt")]
        if tuned.empty or base.empty:
            continue
        held = summarize(tuned, list(CONFIG), with_ci=False, means=("flops_total",))
        best = held.sort_values(["mean", "flops_total"], ascending=[False, True], kind="stable").iloc[0]
        seeds = sorted(base["pretrain_seed"].unique())
        ttt = _matching(cell[cell["method"] == "gcttt"], best)
        ttt = ttt[ttt["pretrain_seed"].isin(seeds)]
        if not ttt.empty:
            yield backbone, dataset, cell, tuned, held, best, seeds, base, ttt


def final_arms(rows: pd.DataFrame) -> pd.DataFrame:
    """The episodes behind each cell's two numbers: the pre-trained policy's and the chosen
    configuration's on OGBench's 5 tasks, with `arm` 'pretrained' or 'ttt'."""
    frames = [
        arm.assign(arm=name)
        for *_, base, ttt in _chosen(_dedup(rows))
        for name, arm in (("pretrained", base), ("ttt", ttt))
    ]
    if not frames:
        raise UsageError("no cell has both its tuning and its final phase yet")
    return pd.concat(frames, ignore_index=True)


def cells(rows: pd.DataFrame) -> pd.DataFrame:
    """One record per cell with both phases present (see the module's docstring)."""
    rows = _dedup(rows)
    out = []
    for backbone, dataset, cell, tuned, held, best, seeds, base, ttt in _chosen(rows):
        b, t = summarize(base, ["method"]).iloc[0], summarize(ttt, ["method"]).iloc[0]
        d, d_low, d_high, pairs = paired_difference(base, ttt)
        # The paper's protocol: the whole grid on the reported tasks (first seed, last checkpoint).
        grid = cell[(cell["method"] == "gcttt") & cell["trial_id"].str.match(r"^gcttt-(critic|critic-free)-")]
        seed0, last = seeds[0], int(cell["checkpoint_step"].max())
        grid = grid[(grid["pretrain_seed"] == seed0) & (grid["checkpoint_step"] == last)]
        per_config = summarize(grid, list(CONFIG), with_ci=False) if len(grid) else pd.DataFrame()
        protocol = chosen_same = np.nan
        if len(per_config) > 2:
            protocol = float(per_config["mean"].max())
            same = _matching(grid, best)
            chosen_same = float(same["success"].mean()) if len(same) else np.nan
        paper = TABLE1.get((backbone, dataset), (np.nan, np.nan))
        out.append(
            {
                "backbone": backbone,
                "dataset": dataset,
                "pretrained": b["mean"],
                "pretrained_low": b["low"],
                "pretrained_high": b["high"],
                "ttt": t["mean"],
                "ttt_low": t["low"],
                "ttt_high": t["high"],
                "difference": d,
                "difference_low": d_low,
                "difference_high": d_high,
                "pairs": pairs,
                "paper_pretrained": paper[0],
                "paper_ttt": paper[1],
                "chosen": label(best),
                "heldout_success": float(best["mean"]),
                "heldout_configurations": len(held),
                "heldout_episodes": int(len(tuned) / max(1, len(held))),
                "protocol_best": protocol,
                "protocol_chosen": chosen_same,
                "seeds": int(t["seeds"]),
                "checkpoints": int(ttt["checkpoint_step"].nunique()),
                "episodes": int(t["episodes"]),
                "episode_hours": float(
                    rows[(rows["backbone"] == backbone) & (rows["dataset"] == dataset)]["wall_seconds"].sum() / 3600
                ),
                "machines": ", ".join(sorted(cell["machine"].unique())) if "machine" in cell else "",
                "data": ", ".join(sorted(cell["dataset_source"].unique())),
            }
        )
    if not out:
        raise UsageError("no cell has both its tuning and its final phase yet")
    table = pd.DataFrame(out)
    table["_d"] = table["dataset"].map(dataset_order)
    table["_b"] = table["backbone"].map(list(BACKBONE_LABELS).index)
    return table.sort_values(["_d", "_b"]).drop(columns=["_d", "_b"]).reset_index(drop=True)


def _ci(r, key: str) -> str:
    return f"{r[key]:.2f} [{r[key + '_low']:.2f}, {r[key + '_high']:.2f}]"


def markdown(table: pd.DataFrame) -> str:
    """The cells as a Markdown table, one line per cell, and its footnote."""
    head = (
        "| cell | pre-trained [95% CI] | + TTT [95% CI] | paired difference [95% CI] | paper | chosen on held-out "
        "pairs (held-out success) | episodes | episode time |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        r = r._asdict()
        cell = f"{backbone_label(r['backbone'])}, {dataset_label(r['dataset'])}"
        paper = f"{r['paper_pretrained']:.2f} -> {r['paper_ttt']:.2f}"
        counts = f"{r['seeds']} seeds x {r['checkpoints']} ckpts, {r['episodes']}"
        lines.append(
            f"| {cell} | {_ci(r, 'pretrained')} | **{_ci(r, 'ttt')}** | {_ci(r, 'difference')} | {paper} | "
            f"{r['chosen']} ({r['heldout_success']:.2f}) | {counts} | {r['episode_hours']:.2f} h |"
        )
    protocol = table[table["protocol_best"].notna()]
    text = "\n".join(lines) + "\n"
    if len(protocol):
        text += (
            "\nThe paper's protocol (the best of the grid judged on the reported tasks; first seed, last checkpoint):"
            "\n\n| cell | best of the grid on the reported tasks | the held-out choice on the same episodes |\n"
            "|---|---|---|\n"
        )
        for r in protocol.itertuples(index=False):
            text += (
                f"| {backbone_label(r.backbone)}, {dataset_label(r.dataset)} | {r.protocol_best:.2f} | "
                f"{r.protocol_chosen:.2f} |\n"
            )
    machines = ", ".join(sorted(set(", ".join(table["machines"]).split(", "))))
    text += (
        "\nSuccess on OGBench's 5 evaluation tasks at the cpu preset, mean over checkpoints per seed then over seeds "
        "(docs/method.md §3); CIs: bootstrap, episodes resampled within each seed and checkpoint; "
        "paired difference: +TTT minus "
        "pre-trained on the same seed, checkpoint, task and episode. Paper: full scale, official data. "
        f"Data: {', '.join(sorted(set(table['data'])))}; machines: {machines}. Episode time: the summed wall time of "
        "the cell's episodes (tuning and final), not counting pre-training.\n"
    )
    return text


def figure(table: pd.DataFrame, out: Path) -> list[Path]:
    """Ours (pre-trained and +TTT, with CIs) beside the paper's numbers: one panel per dataset,
    one column per backbone (an empty column is a cell not yet run)."""
    import matplotlib.pyplot as plt

    from analysis.summary import add_caption, dataset_order, save, style

    style()
    datasets = sorted(table["dataset"].unique(), key=dataset_order)
    # Every backbone in every panel, so a cell not run yet shows as an empty column.
    backbones = ["gcbc", "gciql", "saw", *sorted(set(table["backbone"]) - {"gcbc", "gciql", "saw"})]
    fig, axes = plt.subplots(1, len(datasets), figsize=(2.6 * len(datasets) + 1.2, 3.9), sharey=True, squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        here = table[table["dataset"] == dataset].set_index("backbone").reindex(backbones)
        x = np.arange(len(backbones))
        for offset, key, colour, name in (
            (-0.14, "pretrained", "#7f7f7f", "pre-trained"),
            (0.14, "ttt", "#1f77b4", "+ TTT"),
        ):
            mean = here[key].to_numpy(dtype=float)
            err = np.vstack([mean - here[f"{key}_low"], here[f"{key}_high"] - mean])
            ax.errorbar(x + offset, mean, yerr=err, fmt="o", color=colour, capsize=3, label=f"ours, {name} (95% CI)")
            ax.scatter(
                x + offset, here[f"paper_{key}"], marker="x", s=40, color=colour, label=f"paper, {name}", zorder=3
            )
        for i, backbone in enumerate(backbones):
            if np.isnan(here.loc[backbone, "ttt"]):  # a cell not run yet: the paper's numbers, and say so
                paper = TABLE1.get((backbone, dataset), (np.nan, np.nan))
                ax.scatter([i - 0.14, i + 0.14], paper, marker="x", s=40, color=["#7f7f7f", "#1f77b4"], zorder=3)
                ax.text(i, 0.02, "not run yet", ha="center", va="bottom", fontsize=7, color="0.4", rotation=90)
        ax.set_xticks(x, [backbone_label(b) for b in backbones])
        ax.set_xlim(-0.6, len(backbones) - 0.4)
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(dataset_label(dataset), fontsize=10)
    axes[0][0].set_ylabel("success rate")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside upper center", ncol=4, frameon=False)
    add_caption(
        fig,
        f"Table 1 at CPU scale ({int(table['episodes'].max())} episodes per point: seeds x checkpoints x 5 tasks), "
        f"locally generated data; x: the paper's full-scale numbers. {len(table)} cells.",
    )
    return save(fig, out, "table1")


@dataclass(frozen=True)
class Table1Config:
    """Where a reproduction's rows are and where its tables go (table1.py and aggregate.py)."""

    source: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="SOURCE")]
    """A study of the results store (results/STUDY) or a folder of sweep folders."""
    name: str | None = None
    """The reproduction's name (sweeps NAME-CELL-tune, NAME-CELL-final)."""
    out: str = "results/tables"
    """Output folder."""
    figure: bool = True
    """Draw the figure too (--no-figure: write the table only)."""


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        from gcttt.files.fileio import atomic_write_text, check_writable_dir

        args = parse(Table1Config, argv, "table1.py", __doc__)
        table = cells(read_rows(Path(args.source), args.name))
        out = check_writable_dir(args.out, "--out")
        text = markdown(table)
        atomic_write_text(out / "table1.md", text)
        atomic_write_text(out / "table1.csv", table.to_csv(index=False))
        if args.figure:
            figure(table, out)
        print(text)
        return 0

    return run_main("table1.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
