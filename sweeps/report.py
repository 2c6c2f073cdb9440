"""The table a sweep prints at its end: one line per configuration, pooled over pre-training seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gcttt.stats import success_ci

CONFIG_COLUMNS = ["method", "selection", "horizon", "grad_steps", "lr", "q", "once", "width"]


def read_sweep_rows(episodes_dir: Path) -> pd.DataFrame:
    """Every episode row the sweep wrote (one sub-directory of part files per arm)."""
    from workers.parquet_sink import read_results

    frames = [read_results(d) for d in sorted(Path(episodes_dir).glob("*/")) if d.is_dir()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summary_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: success with a 95% bootstrap CI stratified by seed, costs and times."""
    out = []
    for key, group in rows.groupby(CONFIG_COLUMNS, sort=False):
        mean, low, high = success_ci(group["success"].to_numpy(float), groups=group["pretrain_seed"].to_numpy())
        out.append(
            {
                **dict(zip(CONFIG_COLUMNS, key, strict=True)),
                "seeds": group["pretrain_seed"].nunique(),
                "episodes": len(group),
                "success": mean,
                "ci_low": low,
                "ci_high": high,
                "selected": group["mean_selected"].mean(),
                "gflops": group["flops_total"].mean() / 1e9,
                "seconds": group["wall_seconds"].mean(),
                "act_s": group["act_seconds"].mean(),
                "selection_s": group["selection_seconds"].mean(),
                "finetune_s": group["finetune_seconds"].mean(),
            }
        )
    frame = pd.DataFrame(out)
    if len(frame):
        frame["_order"] = frame["method"].map({"baseline": 0}).fillna(1)
        frame = frame.sort_values(["_order", "width", "selection", "horizon", "grad_steps", "lr", "q"])
        frame = frame.drop(columns="_order").reset_index(drop=True)
    return frame


def markdown_table(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (also readable in a terminal)."""
    header = (
        "| method | selection | K | N | lr | q | width | seeds | episodes | success [95% CI] | selected/replan "
        "| GFLOPs/episode | s/episode (act / select / fine-tune) |"
    )
    lines = [header, "|" + "---|" * 13]
    for r in summary.itertuples():
        ttt = r.method != "baseline"
        knobs = (
            [r.selection, "once" if r.once else str(r.horizon), str(r.grad_steps), f"{r.lr:g}", f"{r.q:g}"]
            if ttt
            else ["-"] * 5
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    r.method,
                    *knobs,
                    str(r.width),
                    str(r.seeds),
                    str(r.episodes),
                    f"{r.success:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]",
                    f"{r.selected:.0f}" if ttt else "-",
                    f"{r.gflops:.3g}",
                    f"{r.seconds:.1f} ({r.act_s:.1f} / {r.selection_s:.1f} / {r.finetune_s:.1f})",
                ]
            )
            + " |"
        )
    return "\n".join(lines)
