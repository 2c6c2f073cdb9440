#!/usr/bin/env python
"""Regenerate every published figure and results table from the results store alone (`make figures`).

Reads only ``results/STUDY/rows`` (no network, no ``~/gcttt-results``, no MLflow). For each study
that exists it writes its tables as Markdown into ``docs/results/`` and its figures into
``docs/figures/``, then copies every table into the pages that show it (`SHOWN_ON`: the README,
docs/reproducing.md, docs/compute-study.md) between its markers::

    <!-- generated: docs/results/NAME.md -->
    ...
    <!-- end generated -->

so a published number cannot drift from its rows: tests/test_published.py regenerates the tables
and fails when a page or docs/results disagree with them.

    python analysis/make_figures.py                 # tables, figures, pages
    python analysis/make_figures.py --tables-only   # tables and pages (seconds)
    python analysis/make_figures.py --check         # exit 1 if a table in docs/results or a page is stale
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from gcttt.commands.flags import parse
from gcttt.errors import run_main

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"(<!-- generated: (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _demo_table(study: Path) -> str:
    from gcttt.results.store import published_rows
    from gcttt.results.tables import markdown_table, summary_frame

    rows = published_rows(study)
    counts = rows.groupby("trial_id").size()
    sweeps = ", ".join(sorted(rows["sweep_id"].unique()))
    machines = ", ".join(sorted(rows["machine"].unique()))
    return (
        markdown_table(summary_frame(rows))
        + f"\n\n({len(rows)} episodes, {counts.min()}-{counts.max()} per row; sweep {sweeps}; machine {machines}; "
        f"checkpoint {', '.join(sorted(rows['checkpoint_fingerprint'].unique()))}; rows in {study.relative_to(ROOT)})\n"
    )


def _demo_figures(study: Path, figures: Path) -> None:
    from analysis import plot_horizon

    with tempfile.TemporaryDirectory() as tmp:
        plot_horizon.main([str(study / "rows"), "--out", tmp])
        for stem, name in (("horizon_grid", "default_sweep_grid"), ("selection_ablation", "default_sweep_ablation")):
            if (Path(tmp) / f"{stem}.png").exists():
                shutil.copy(Path(tmp) / f"{stem}.png", figures / f"{name}.png")


def _table1(study: Path) -> str:
    from analysis import aggregate
    from analysis.table1 import cells, final_arms, markdown, read_rows

    rows = read_rows(study, None)
    # Below the per-cell table, the same arms summarised across the cells (IQM, P(improvement)).
    across = aggregate.markdown(aggregate.summary(aggregate.run_scores(final_arms(rows))))
    return markdown(cells(rows)) + "\n" + across


def _table1_figures(study: Path, figures: Path) -> None:
    from analysis import aggregate
    from analysis.table1 import cells, figure, final_arms, read_rows

    rows = read_rows(study, None)
    runs = aggregate.run_scores(final_arms(rows))
    with tempfile.TemporaryDirectory() as tmp:
        figure(cells(rows), Path(tmp))
        aggregate.figure(runs, aggregate.summary(runs), Path(tmp))
        for name in ("table1.png", "table1_aggregate.png"):
            shutil.copy(Path(tmp) / name, figures / name)


def _figure6_table(study: Path) -> str:
    from analysis.plot_figure6 import REQUIRED, Figure6Config, markdown, panels
    from analysis.results import read_directory

    ablation, replan, frame = panels(read_directory(study / "rows", REQUIRED), Figure6Config())
    sweeps = ", ".join(sorted(frame["sweep_id"].unique()))
    return markdown(ablation, replan) + (
        f"\nGC-IQL, OGBench's 5 evaluation tasks; success: mean over checkpoints per seed, then over seeds, with 95% "
        f"bootstrap CIs (episodes resampled within seed and checkpoint); paper: full scale, official data "
        f"(docs/method.md §8). "
        f"{len(frame)} episodes from sweeps {sweeps}; rows in {study.relative_to(ROOT)}.\n"
    )


def _figure6_figures(study: Path, figures: Path) -> None:
    from analysis import plot_figure6

    with tempfile.TemporaryDirectory() as tmp:
        plot_figure6.main([str(study / "rows"), "--out", tmp])
        shutil.copy(Path(tmp) / "figure6.png", figures / "figure6.png")


def _compute_frames(study: Path):
    """(sweep id, its rows) of each compute sweep of the study, in the order of the campaign."""
    from analysis.plot_compute import REQUIRED
    from analysis.results import read_directory
    from analysis.summary import filter_kind
    from gcttt.results.summary import drop_repeats

    frame = filter_kind(drop_repeats(read_directory(study / "rows", REQUIRED)), "compute")
    return [(sweep, frame[frame["sweep_id"] == sweep]) for sweep in sorted(frame["sweep_id"].unique())]


def _compute_table(study: Path) -> str:
    from analysis.compute_answer import markdown
    from gcttt.figures.style import backbone_label

    # One table per sweep (setting), each under a line naming it, so that two settings read apart.
    return "\n".join(
        f"**Sweep {sweep}** ({backbone_label(rows['backbone'].iloc[0])} on {rows['dataset'].iloc[0]}):\n\n"
        + markdown(rows)
        for sweep, rows in _compute_frames(study)
    )


def _compute_figures(study: Path, figures: Path) -> None:
    from analysis import plot_compute

    with tempfile.TemporaryDirectory() as tmp:
        for sweep, _ in _compute_frames(study):
            plot_compute.main([str(study / "rows"), "--sweep-id", sweep, "--out", tmp, "--name", sweep])
            shutil.copy(Path(tmp) / f"{sweep}.png", figures / f"{sweep}.png")


def _machine_check_table(study: Path) -> str:
    from analysis.machine_check import markdown

    # The compute-pm-nav model-scaling arms re-played from checkpoints pre-trained on another CPU.
    return markdown(study.parent / "compute-cpu", study, "pointmaze-medium-navigate-v0", "gcbc")


def _finetune_table(study: Path) -> str:
    from analysis.finetune_parts import markdown
    from gcttt.results.store import published_rows

    return markdown(published_rows(study))


def _finetune_answer_table(study: Path) -> str:
    from analysis.finetune_answer import markdown
    from gcttt.results.store import published_rows

    return markdown(published_rows(study))


def _finetune_figures(study: Path, figures: Path) -> None:
    from analysis import plot_compute
    from analysis.finetune_answer import frames
    from gcttt.results.store import published_rows

    # The compute study's four panels at what GC-TTT costs with the actor alone (GC-BC's default).
    name = "finetune-pm-nav-actor"
    title = "Compute allocation, fine-tuning the actor alone: GC-BC on pointmaze-medium-navigate-v0 (generated data)"
    with tempfile.TemporaryDirectory() as tmp:
        config = plot_compute.PlotComputeConfig(out=tmp, name=name, title=title)
        plot_compute.draw(frames(published_rows(study), "pointmaze-medium-navigate-v0")["actor"], config)
        shutil.copy(Path(tmp) / f"{name}.png", figures / f"{name}.png")


def _finetune_parts_figure(study: Path, figures: Path) -> None:
    from analysis import plot_finetune
    from analysis.finetune_parts import configurations
    from gcttt.results.store import published_rows

    with tempfile.TemporaryDirectory() as tmp:
        plot_finetune.draw(configurations(published_rows(study)), tmp, "finetune-parts")
        shutil.copy(Path(tmp) / "finetune-parts.png", figures / "finetune-parts.png")


def _no_figures(study: Path, figures: Path) -> None:
    """A study shown as a table only."""


class Published(NamedTuple):
    """One published table: the study whose rows it reads, its file in docs/results, how it is made,
    and the figures drawn from the same rows."""

    study: str
    name: str
    table: Callable[[Path], str]
    figures: Callable[[Path, Path], None]


PUBLISHED: tuple[Published, ...] = (
    Published("demo", "demo.md", _demo_table, _demo_figures),
    Published("table1-cpu", "table1.md", _table1, _table1_figures),
    Published("figure6-cpu", "figure6.md", _figure6_table, _figure6_figures),
    Published("compute-cpu", "compute.md", _compute_table, _compute_figures),
    Published("compute-check-xeon", "machine_check.md", _machine_check_table, _no_figures),
    Published("finetune-epyc-avx2", "finetune.md", _finetune_table, _finetune_parts_figure),
    Published("finetune-epyc-avx2", "finetune_answer.md", _finetune_answer_table, _finetune_figures),
)
"""Every published table, and how it and its study's figures are made."""

SHOWN_ON: dict[str, tuple[str, ...]] = {
    # table in docs/results: the pages (relative to the checkout) that show it between its markers
    "demo.md": ("README.md",),
    "table1.md": ("README.md", "docs/reproducing.md"),
    "figure6.md": ("docs/reproducing.md",),
    "compute.md": ("docs/compute-study.md",),
    "machine_check.md": ("docs/compute-study.md",),
    "finetune.md": ("docs/compute-study.md", "docs/benchmarks.md"),
    "finetune_answer.md": ("docs/compute-study.md",),
}
"""Where each table is shown; every page listed must hold the table's block (tests/test_published.py)."""
PAGES: tuple[str, ...] = tuple(dict.fromkeys(page for pages in SHOWN_ON.values() for page in pages))
"""Every page with generated blocks."""


def tables(store: Path) -> dict[str, str]:
    """docs/results file name -> its Markdown, for every published study present in `store`."""
    out = {}
    for entry in PUBLISHED:
        if (store / entry.study / "rows").is_dir():
            out[entry.name] = entry.table(store / entry.study)
    return out


def fill_blocks(text: str, generated: dict[str, str]) -> str:
    """A page with every generated block replaced by its table (blocks of absent studies kept)."""

    def put(match: re.Match) -> str:
        name = Path(match["path"]).name
        body = generated.get(name, match["body"])
        return f"{match.group(1)}{body.rstrip()}\n{match.group(4)}"

    return MARKER.sub(put, text)


def stale(store: Path, docs: Path, root: Path) -> list[str]:
    """What differs from the rows: docs/results tables and the blocks of the pages under `root`
    (empty when all agree)."""
    generated = tables(store)
    problems = [
        f"{docs / name} differs from what {store.name}/ gives"
        for name, text in generated.items()
        if not (docs / name).exists() or (docs / name).read_text() != text
    ]
    for page in PAGES:
        for match in MARKER.finditer((root / page).read_text()):
            name = Path(match["path"]).name
            if name in generated and match["body"].rstrip() != generated[name].rstrip():
                problems.append(f"{page}: the block of {match['path']} differs from what the rows give")
    return problems


@dataclass(frozen=True)
class MakeFiguresConfig:
    """Where the rows are and where the tables, figures and pages go."""

    store: str = str(ROOT / "results")
    """The results store."""
    docs: str = str(ROOT / "docs")
    """Where results/ tables and figures/ go."""
    root: str = str(ROOT)
    """The checkout whose pages' blocks are filled."""
    tables_only: bool = False
    """Skip the figures."""
    check: bool = False
    """Write nothing; exit 1 if anything is stale."""


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(MakeFiguresConfig, argv, "make_figures.py", __doc__)
        from gcttt.files.fileio import atomic_write_text

        store, docs, root = Path(args.store), Path(args.docs), Path(args.root)
        started = time.perf_counter()
        if args.check:
            problems = stale(store, docs / "results", root)
            for line in problems:
                print(f"stale: {line}")
            print("make_figures.py: " + ("stale; run make figures" if problems else "every table agrees with results/"))
            return 1 if problems else 0
        generated = tables(store)
        (docs / "results").mkdir(parents=True, exist_ok=True)
        for name, text in generated.items():
            atomic_write_text(docs / "results" / name, text)
        for page in PAGES:
            atomic_write_text(root / page, fill_blocks((root / page).read_text(), generated))
        if not args.tables_only:
            (docs / "figures").mkdir(parents=True, exist_ok=True)
            for entry in PUBLISHED:
                if (store / entry.study / "rows").is_dir():
                    entry.figures(store / entry.study, docs / "figures")
        print(f"make_figures.py: {len(generated)} tables from {store} in {time.perf_counter() - started:.1f} s")
        return 0

    return run_main("make_figures.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
