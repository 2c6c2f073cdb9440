"""`gcttt results publish|list`: the episode rows behind published numbers, kept in the repository."""

from __future__ import annotations

from dataclasses import dataclass

import tyro

from gcttt.files.provenance import REPO_ROOT

DEFAULT_STORE = REPO_ROOT / "results"


@dataclass(frozen=True)
class ResultsPublish:
    """Publish the episode rows of one or more sweep folders (OUT/sweeps/NAME) into STORE/STUDY/rows as
    zstd Parquet and record where they came from in STORE/STUDY/manifest.json (command, git SHAs, dates,
    machines, versions, dataset and checkpoint fingerprints). Idempotent: rows already published are not
    added again. A row that disagrees with a published one for the same episode, or rows played by other
    weights of a published checkpoint (another CPU or build), are refused, naming both."""

    sweeps: tyro.conf.Positional[tuple[str, ...]]
    """Sweep folders, e.g. ~/gcttt-results/sweeps/NAME."""
    study: str
    """Study (folder of the store) the rows belong to, e.g. table1-cpu."""
    store: str = str(DEFAULT_STORE)
    """The store (results/ of this checkout)."""
    command: str | None = None
    """The command that produced the rows (None: the sweep's own, from its sweep.json)."""
    description: str | None = None
    """One line saying what the study is."""


@dataclass(frozen=True)
class ResultsList:
    """The studies of the store, their rows, machines and size."""

    store: str = str(DEFAULT_STORE)
    """The store (results/ of this checkout)."""


def run_publish(args: ResultsPublish) -> int:
    from gcttt.errors import UsageError
    from gcttt.results.store import publish

    if not args.sweeps:
        raise UsageError("give at least one sweep folder, e.g. ~/gcttt-results/sweeps/NAME")
    report = publish(list(args.sweeps), args.store, args.study, command=args.command, description=args.description)
    where = f" into {report.path}" if report.path else ""
    print(f"published {report.added} new rows{where}; {report.repeats} already in study {args.study}")
    return 0


def run_list(args: ResultsList) -> int:
    import json
    from pathlib import Path

    store = Path(args.store).expanduser()
    studies = sorted(p.parent for p in store.glob("*/manifest.json"))
    if not studies:
        print(f"{store}: no studies yet")
        return 0
    for study in studies:
        manifest = json.loads((study / "manifest.json").read_text())
        size = sum(f.stat().st_size for f in study.rglob("*") if f.is_file())
        rows = sum(s["rows"] for s in manifest["sweeps"].values())
        machines = sorted({m for s in manifest["sweeps"].values() for m in s["machines"]})
        sweeps = len(manifest["sweeps"])
        print(f"{study.name}: {rows} rows in {sweeps} sweeps, {size / 1024:.0f} KiB; {', '.join(machines)}")
    return 0


ACTIONS = {
    "publish": (ResultsPublish, run_publish, "copy sweeps' episode rows into a study of the store"),
    "list": (ResultsList, run_list, "the studies of the store, their rows, machines and size"),
}
