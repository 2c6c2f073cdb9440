"""Paper-style results table: backbone x dataset, pre-trained baseline vs + TTT.

Each cell is the success rate, the mean over pre-training seeds of the per-seed rate, ± the
standard error over seeds (`gcttt.results.stats.standard_error` of the per-seed rates). A cell with a
single seed shows the standard error over its episodes instead, marked †. The better of each
baseline / + TTT pair is bold.

The + TTT row uses the GC-TTT rows of one selection strategy (default 'critic'), optionally
pinned to one configuration with --horizon/--grad-steps/--lr/--q. Where a cell still holds
several configurations, --pick error (default) refuses and lists them (pin one, or use a
reproduction's rows, whose configuration was chosen on held-out tasks); --pick best takes the
best by mean success on the rows' own tasks and says so in the footnote (an optimistic number:
the paper's protocol). Both methods use one
network width per cell: --width, else the smallest width with GC-TTT rows.

    python analysis/table.py ~/gcttt-results/sweeps --out results/tables

Writes OUT/table.md, OUT/table.tex (booktabs) and OUT/table.csv, and prints the Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import tyro

from analysis.results import SUCCESS_COLUMNS, Source, load, output_dir, run_main
from analysis.summary import (
    BACKBONE_LABELS,
    backbone_label,
    dataset_label,
    dataset_order,
    fmt_lr,
    k_label,
    summarize,
)
from gcttt.commands.flags import parse
from gcttt.errors import UsageError

REQUIRED = SUCCESS_COLUMNS
CONFIG = ("schedule", "horizon", "grad_steps", "lr", "q")


@dataclass(frozen=True)
class Entry:
    """One number of the table."""

    mean: float
    se: float
    se_over: str
    """'seeds' or 'episodes' (a single seed)."""
    seeds: int
    episodes: int


@dataclass(frozen=True)
class Cell:
    backbone: str
    dataset: str
    width: int
    baseline: Entry | None
    ttt: Entry | None
    config: str
    """The GC-TTT configuration used ('' without TTT rows)."""
    candidates: int
    """GC-TTT configurations the cell held."""


@dataclass(frozen=True)
class TableConfig(Source):
    """Paper-style table (backbone x dataset, baseline vs +TTT, mean ± standard error) as Markdown and LaTeX."""

    out: str = "results/tables"
    """Output directory."""
    selection: str = "critic"
    """Selection strategy of the + TTT row."""
    horizon: Annotated[int | None, tyro.conf.arg(metavar="K")] = None
    """Keep only this K."""
    grad_steps: Annotated[int | None, tyro.conf.arg(metavar="N")] = None
    """Keep only this N."""
    lr: float | None = None
    """Keep only this learning rate."""
    q: float | None = None
    """Keep only this selection quantile."""
    pick: Literal["best", "error"] = "error"
    """Several configurations left in a cell: refuse, or take the best by mean success on the same tasks
    (optimistic)."""
    digits: int = 2
    """Decimals."""
    name: str = "table"
    """Output file stem."""


def _entry(rows: pd.DataFrame) -> Entry:
    s = summarize(rows, ["method"], with_ci=False).iloc[0]
    return Entry(float(s["mean"]), float(s["se"]), str(s["se_over"]), int(s["seeds"]), int(s["episodes"]))


def _config_label(row: pd.Series) -> str:
    k = k_label(row)
    q = f", q={row['q']:g}" if row["q"] else ""
    return f"{k}, N={int(row['grad_steps'])}, lr={fmt_lr(float(row['lr']))}{q}"


def _same(column: pd.Series, value) -> np.ndarray:
    if isinstance(value, str):
        return (column == value).to_numpy()
    return np.isclose(column.astype(float), float(value))


def build_cells(frame: pd.DataFrame, args: TableConfig) -> list[Cell]:
    ttt_all = frame[(frame["method"] == "gcttt") & (frame["selection"] == args.selection)]
    for column, value in (
        ("horizon", args.horizon),
        ("grad_steps", args.grad_steps),
        ("lr", args.lr),
        ("q", args.q),
    ):
        if value is not None:
            ttt_all = ttt_all[np.isclose(ttt_all[column], value)]
    cells = []
    for backbone, dataset in sorted(
        set(zip(frame["backbone"], frame["dataset"], strict=False)),
        key=lambda bd: (
            list(BACKBONE_LABELS).index(bd[0]) if bd[0] in BACKBONE_LABELS else 99,
            bd[0],
            dataset_order(bd[1]),
        ),
    ):
        here = frame[(frame["backbone"] == backbone) & (frame["dataset"] == dataset)]
        ttt = ttt_all[(ttt_all["backbone"] == backbone) & (ttt_all["dataset"] == dataset)]
        baseline = here[here["method"] == "baseline"]
        width = args.width or int((ttt if not ttt.empty else baseline if not baseline.empty else here)["width"].min())
        ttt, baseline = ttt[ttt["width"] == width], baseline[baseline["width"] == width]
        if ttt.empty and baseline.empty:
            continue
        config, candidates, ttt_entry = "", 0, None
        if not ttt.empty:
            configs = summarize(ttt, list(CONFIG), with_ci=False)
            candidates = len(configs)
            if candidates > 1 and args.pick == "error":
                listed = "; ".join(_config_label(r) for _, r in configs.iterrows())
                raise UsageError(
                    f"{backbone} on {dataset} has {candidates} GC-TTT configurations ({listed}); pin one with "
                    "--horizon/--grad-steps/--lr/--q, or --pick best for the best on these same tasks (optimistic)"
                )
            best = configs.sort_values(["mean", "episodes"], ascending=False, kind="stable").iloc[0]
            mask = np.logical_and.reduce([_same(ttt[c], best[c]) for c in CONFIG])
            ttt_entry = _entry(ttt[mask])
            config = _config_label(best)
        cells.append(
            Cell(
                backbone=backbone,
                dataset=dataset,
                width=width,
                baseline=_entry(baseline) if not baseline.empty else None,
                ttt=ttt_entry,
                config=config,
                candidates=candidates,
            )
        )
    if not cells:
        raise UsageError("no baseline or GC-TTT rows to tabulate; check --selection and the configuration flags")
    return cells


def _layout(cells: list[Cell]) -> tuple[list[str], list[str], dict[tuple[str, str], Cell]]:
    backbones = list(dict.fromkeys(c.backbone for c in cells))
    datasets = sorted({c.dataset for c in cells}, key=dataset_order)
    return backbones, datasets, {(c.backbone, c.dataset): c for c in cells}


def _better(cell: Cell | None) -> str:
    """'baseline', 'ttt' or '' (tie or a side missing)."""
    if cell is None or cell.baseline is None or cell.ttt is None or cell.baseline.mean == cell.ttt.mean:
        return ""
    return "ttt" if cell.ttt.mean > cell.baseline.mean else "baseline"


def _number(entry: Entry | None, digits: int, bold: bool, latex: bool) -> str:
    if entry is None:
        return "—" if not latex else "--"
    mean = f"{entry.mean:.{digits}f}"
    se = "" if np.isnan(entry.se) else f"{entry.se:.{digits}f}"
    dagger = entry.se_over == "episodes"
    if latex:
        body = mean + (rf" \pm {se}" if se else "")
        body = rf"\mathbf{{{body}}}" if bold else body
        return f"${body}$" + (r"$^\dagger$" if dagger else "")
    body = mean + (f" ± {se}" if se else "")
    return (f"**{body}**" if bold else body) + ("†" if dagger else "")


def _footnotes(cells: list[Cell], args: TableConfig) -> list[str]:
    seeds = max((e.seeds for c in cells for e in (c.baseline, c.ttt) if e), default=0)
    episodes = sum(e.episodes for c in cells for e in (c.baseline, c.ttt) if e)
    notes = [
        f"Success rate: mean over pre-training seeds of the per-seed rate ± standard error over seeds; "
        f"up to {seeds} seeds, {episodes} episodes in all. Bold: the better of each pair.",
    ]
    if any(e.se_over == "episodes" for c in cells for e in (c.baseline, c.ttt) if e):
        notes.append("† one seed: ± is the standard error over its episodes.")
    chosen = [c for c in cells if c.ttt is not None]
    if chosen:
        tuned = any(c.candidates > 1 for c in chosen)
        how = "best configuration per cell by mean success (optimistic)" if tuned else "one configuration per cell"
        notes.append(
            f"+ TTT: GC-TTT with {args.selection} selection, {how}: "
            + "; ".join(
                f"{backbone_label(c.backbone)} / {dataset_label(c.dataset)} (width {c.width}): {c.config}"
                + (f" (best of {c.candidates})" if c.candidates > 1 else "")
                for c in chosen
            )
            + "."
        )
    return notes


def render_markdown(cells: list[Cell], args: TableConfig) -> str:
    backbones, datasets, index = _layout(cells)
    lines = [
        "| Method | " + " | ".join(dataset_label(d) for d in datasets) + " |",
        "|---|" + "---|" * len(datasets),
    ]
    for backbone in backbones:
        for side, suffix in (("baseline", ""), ("ttt", " + TTT")):
            row = [f"{backbone_label(backbone)}{suffix}"]
            for dataset in datasets:
                cell = index.get((backbone, dataset))
                entry = getattr(cell, side) if cell else None
                row.append(_number(entry, args.digits, _better(cell) == side, latex=False))
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(_footnotes(cells, args)) + "\n"


def _latex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(char, repl)
    return text


def render_latex(cells: list[Cell], args: TableConfig) -> str:
    backbones, datasets, index = _layout(cells)
    notes = _footnotes(cells, args)
    lines = [
        "% Generated by analysis/table.py; needs \\usepackage{booktabs}.",
        "\\begin{table}[t]",
        "\\centering",
        "\\caption{" + _latex_escape(" ".join(notes)).replace("†", "$^\\dagger$").replace("±", "$\\pm$") + "}",
        "\\label{tab:gcttt}",
        "\\begin{tabular}{l" + "c" * len(datasets) + "}",
        "\\toprule",
        "Method & " + " & ".join(_latex_escape(dataset_label(d)) for d in datasets) + " \\\\",
    ]
    for backbone in backbones:
        lines.append("\\midrule")
        for side, suffix in (("baseline", ""), ("ttt", " + TTT")):
            row = [_latex_escape(f"{backbone_label(backbone)}{suffix}")]
            for dataset in datasets:
                cell = index.get((backbone, dataset))
                entry = getattr(cell, side) if cell else None
                row.append(_number(entry, args.digits, _better(cell) == side, latex=True))
            lines.append(" & ".join(row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def write(cells: list[Cell], args: TableConfig) -> list[Path]:
    out = output_dir(args.out, create=True)
    md, tex, csv = (out / f"{args.name}.{ext}" for ext in ("md", "tex", "csv"))
    md.write_text(render_markdown(cells, args))
    tex.write_text(render_latex(cells, args))
    rows = []
    for c in cells:
        for side in ("baseline", "ttt"):
            entry = getattr(c, side)
            if entry is not None:
                config = c.config if side == "ttt" else ""
                rows.append(
                    {
                        "backbone": c.backbone,
                        "dataset": c.dataset,
                        "width": c.width,
                        "method": side,
                        "config": config,
                        **entry.__dict__,
                    }
                )
    pd.DataFrame(rows).to_csv(csv, index=False)
    return [md, tex, csv]


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(TableConfig, argv, "table.py", TableConfig.__doc__)
        output_dir(args.out)  # before any reading: a bad --out is one line, not a traceback at the end
        cells = build_cells(load(args, REQUIRED), args)
        paths = write(cells, args)
        print(paths[0].read_text())
        for path in paths:
            print(f"wrote {path}")
        return 0

    return run_main("table.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
