"""Sweep results as tables: a sweep's episode rows, and the summary it prints at its end (one line per
configuration, pooled over pre-training seeds)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gcttt.results.summary import CONFIG_COLUMNS, summarize

COSTS = ("mean_selected", "flops_total", "wall_seconds", "act_seconds", "selection_seconds", "finetune_seconds")


def read_sweep_rows(episodes_dir: Path) -> pd.DataFrame:
    """Every episode row the sweep wrote (one sub-directory of part files per arm)."""
    from gcttt.results.records import read_results

    frames = [read_results(d) for d in sorted(Path(episodes_dir).glob("*/")) if d.is_dir()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summary_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: success with a 95% bootstrap CI stratified by seed, costs and times."""
    frame = summarize(rows, list(CONFIG_COLUMNS), means=COSTS).rename(
        columns={"mean": "success", "low": "ci_low", "high": "ci_high"}
    )
    if len(frame):
        frame["_order"] = frame["method"].map({"baseline": 0}).fillna(1)
        frame = frame.sort_values(["task_suite", "_order", "width", "selection", "horizon", "grad_steps", "lr", "q"])
        frame = frame.drop(columns="_order").reset_index(drop=True)
    return frame


def knob_text(r) -> list[str]:
    """K / N / lr / q as table cells: '-' where the method has none, 'once' and 'once (kept)'."""
    if r.method == "baseline":
        return ["-"] * 5
    k = {"once": "once", "once-keep": "once (kept)"}.get(r.schedule, str(r.horizon))
    q = f"{r.q:g}" if r.q else "-"
    return [r.selection, k, str(r.grad_steps), f"{r.lr:g}", q]


def markdown_table(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (also readable in a terminal)."""
    suites = summary["task_suite"].nunique() > 1
    header = (
        "| method | selection | K | N | lr | q | width | seeds | episodes | success [95% CI] | selected/replan "
        "| GFLOPs/episode | s/episode (act / select / fine-tune) |"
    )
    if suites:
        header = "| tasks " + header
    lines = [header, "|" + "---|" * (13 + suites)]
    for r in summary.itertuples():
        ttt = r.method != "baseline"
        cells = [
            r.method,
            *knob_text(r),
            str(r.width),
            str(r.seeds),
            str(r.episodes),
            f"{r.success:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]",
            f"{r.mean_selected:.0f}" if ttt else "-",
            f"{r.flops_total / 1e9:.3g}",
            f"{r.wall_seconds:.1f} ({r.act_seconds:.1f} / {r.selection_seconds:.1f} / {r.finetune_seconds:.1f})",
        ]
        if suites:
            cells = [r.task_suite, *cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
