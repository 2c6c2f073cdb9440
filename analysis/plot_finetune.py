#!/usr/bin/env python
"""What the actor alone buys: each GC-TTT configuration's success against a whole episode's cost,
fine-tuning every network (hollow) and the actor alone (filled), an arrow from one to the other.

One panel per setting (backbone and dataset) of a study that holds both parts on the same weights
(`analysis/finetune_parts.py` gives the numbers). A panel shows the configurations that a setting's
compute arms share: critic selection at its largest N, played from the most pre-trained networks
(so make demo's single checkpoint does not crowd the compute study's arms). An arrow that only runs
left is the same success for less compute (GC-BC, where actor-only updates are exact); one that also
moves up or down is another method, whose paired difference the caption states.

    python analysis/plot_finetune.py results/finetune-epyc-avx2 --out docs/figures

Writes OUT/NAME.png and OUT/NAME.pdf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pandas as pd
import tyro

from analysis.finetune_parts import PARTS, configurations
from analysis.results import require_study
from analysis.summary import add_caption, backbone_label, k_label, save, style
from gcttt.commands.flags import parse
from gcttt.errors import UsageError, run_main
from gcttt.results.stats import DEFAULT_RESAMPLES
from gcttt.results.store import published_rows

COLOURS = {"gcbc": "tab:blue", "gciql": "tab:orange", "saw": "tab:green"}


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting, the configurations its compute arms share: critic selection, the setting's largest
    N, played from the most pre-trained networks."""
    critic = table[table["selection"] == "critic"]
    if critic.empty:
        raise UsageError("no critic-selection configuration was played both ways; nothing to draw")
    keep = []
    for _, setting in critic.groupby(["backbone", "dataset"], sort=True):
        at_n = setting[setting["grad_steps"] == setting["grad_steps"].max()]
        keep.append(at_n[at_n["checkpoints"] == at_n["checkpoints"].max()])
    return pd.concat(keep, ignore_index=True)


def draw(table: pd.DataFrame, out: str, name: str):
    """One panel per setting; returns the written paths."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    style()
    chosen = shown(table)
    settings = list(chosen.groupby(["backbone", "dataset"], sort=True))
    # one cost axis for every panel, so arrows of equal length are equal savings
    fig, axes = plt.subplots(1, len(settings), figsize=(4.8 * len(settings), 4.4), squeeze=False, sharex=True)
    notes = []
    for ax, ((backbone, dataset), setting) in zip(axes[0], settings, strict=True):
        colour = COLOURS.get(backbone, "tab:gray")
        for _, c in setting.iterrows():
            for part, face in zip(PARTS, ("white", colour), strict=True):
                y = c[f"success_{part}"]
                ax.errorbar(
                    c[f"cost_{part}"],
                    y,
                    yerr=[[y - c[f"low_{part}"]], [c[f"high_{part}"] - y]],
                    fmt="o",
                    mfc=face,
                    mec=colour,
                    ecolor=colour,
                    alpha=0.9,
                    capsize=2,
                    zorder=3,
                )
            ax.annotate(
                "",
                xy=(c["cost_actor"], c["success_actor"]),
                xytext=(c["cost_all"], c["success_all"]),
                arrowprops={"arrowstyle": "->", "color": "0.35", "shrinkA": 5, "shrinkB": 5},
            )
            # K above the arrow's middle (log axis: the geometric mean), clear of both points' CI bars
            ax.annotate(
                k_label(c, prefix=""),
                ((c["cost_all"] * c["cost_actor"]) ** 0.5, (c["success_all"] + c["success_actor"]) / 2),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                va="bottom",
                fontsize=8,
                color="0.3",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
                zorder=4,
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(-0.05, 1.05)
        n, lr = int(setting["grad_steps"].iloc[0]), setting["lr"].iloc[0]
        ax.set_title(f"{backbone_label(backbone)}, {dataset.removesuffix('-v0')}\ncritic, N={n}, lr={lr:g}")
        ax.set_xlabel("episode cost (x the pre-trained model's acting FLOPs)")
        low, high = setting["diff"].min(), setting["diff"].max()
        alike = f"{setting['alike'].sum()} of {setting['episodes'].sum()} episodes end alike"
        notes.append(
            f"{backbone_label(backbone)}: {len(setting)} configuration{'s' * (len(setting) > 1)}, {alike}, "
            f"actor minus all {low:+.2f}" + (f" to {high:+.2f}" if high != low else "")
        )
    axes[0][0].set_ylabel("success rate")
    axes[0][0].plot([], [], "o", mfc="white", mec="0.3", label="every network (all)")
    axes[0][0].plot([], [], "o", mfc="0.3", mec="0.3", label="the actor alone (actor)")
    axes[0][0].legend(loc="upper left", frameon=False)
    add_caption(
        fig,
        "Test-time training of every network (hollow) against the actor alone (filled), the same "
        "configurations on the same checkpoints, each labelled with K (env steps between re-plans); "
        "success with its 95% bootstrap CI, mean over checkpoints per seed, then seeds. "
        + "; ".join(notes)
        + " (paired per episode; CIs in analysis/finetune_parts.py).",
    )
    return save(fig, out, name)


@dataclass(frozen=True)
class PlotFinetuneConfig:
    """Success against a whole episode's cost, fine-tuning every network and the actor alone."""

    study: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="STUDY")]
    """A study of the results store holding both parts, e.g. results/finetune-epyc-avx2."""
    out: str = "results/figures"
    """Folder to write NAME.png and NAME.pdf into."""
    name: str = "finetune-parts"
    """File name of the figure, without suffix."""
    resamples: int = DEFAULT_RESAMPLES
    """Bootstrap resamples."""


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(PlotFinetuneConfig, argv, "plot_finetune.py", PlotFinetuneConfig.__doc__)
        table = configurations(published_rows(require_study(args.study)), args.resamples)
        for path in draw(table, args.out, args.name):
            print(path)
        return 0

    return run_main("plot_finetune.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
