"""Where an episode's wall time and test-time FLOPs go: acting, selection, fine-tuning.

One row per method configuration (method, selection, K, N, lr, q, width): the episodes, the mean
wall time of an episode, the share of the summed wall time spent computing actions, selecting
data and fine-tuning (the rest is the simulator's steps and bookkeeping), and the mean counted
FLOPs split the same way. Shares are ratios of sums over episodes, so long episodes weigh more.

    python analysis/time_share.py ~/gcttt-results/sweeps/NAME --out results/tables

Writes OUT/time_share.md and OUT/time_share.csv and prints the Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.results import Source, load, output_dir, run_main
from analysis.summary import fmt_lr, k_label
from gcttt.commands.flags import parse

PARTS = ("act", "selection", "finetune")
CONFIG = ("method", "selection", "schedule", "horizon", "grad_steps", "lr", "q", "width")
REQUIRED = (*CONFIG, "wall_seconds", *(f"{p}_seconds" for p in PARTS), *(f"flops_{p}" for p in PARTS), "flops_total")


@dataclass(frozen=True)
class TimeShareConfig(Source):
    """Share of episode wall time and counted FLOPs spent in acting, selection and fine-tuning."""

    out: str = "results/tables"
    """Output directory."""
    name: str = "time_share"
    """Output file stem."""


def time_shares(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: episodes, mean wall seconds, time shares, mean FLOPs per part."""
    rows = []
    for key, group in frame.groupby(list(CONFIG), sort=True, dropna=False):
        config = dict(zip(CONFIG, key, strict=True))
        wall = group["wall_seconds"].sum()
        row = {**config, "episodes": len(group), "wall_seconds_mean": wall / len(group)}
        for part in PARTS:
            row[f"{part}_share"] = group[f"{part}_seconds"].sum() / wall if wall > 0 else float("nan")
        row["other_share"] = 1.0 - sum(row[f"{p}_share"] for p in PARTS)
        for part in (*PARTS, "total"):
            row[f"flops_{part}_mean"] = group[f"flops_{part}"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def _label(row: pd.Series) -> str:
    if row["method"] == "baseline":
        return f"baseline (width {int(row['width'])})"
    k = k_label(row)
    lr = fmt_lr(float(row["lr"]))
    return f"{row['selection']} {k} N={int(row['grad_steps'])} lr={lr} (width {int(row['width'])})"


def markdown(shares: pd.DataFrame) -> str:
    lines = [
        "| configuration | episodes | s / episode | acting | selection | fine-tuning | env + rest | GFLOPs / episode |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in shares.iterrows():
        cells = [f"{100 * r[f'{p}_share']:.1f} %" for p in (*PARTS, "other")]
        lines.append(
            f"| {_label(r)} | {int(r['episodes'])} | {r['wall_seconds_mean']:.2f} | "
            + " | ".join(cells)
            + f" | {r['flops_total_mean'] / 1e9:.3g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(TimeShareConfig, argv, "time_share.py", TimeShareConfig.__doc__)
        output_dir(args.out)  # before any reading: a bad --out is one line, not a traceback at the end
        shares = time_shares(load(args, REQUIRED))
        out = output_dir(args.out, create=True)
        md, csv = out / f"{args.name}.md", out / f"{args.name}.csv"
        text = markdown(shares)
        md.write_text(text)
        shares.to_csv(csv, index=False)
        print(text)
        print(f"wrote {md}\nwrote {csv}")
        return 0

    return run_main("time_share.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
