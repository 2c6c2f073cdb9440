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
    weights of a published checkpoint (another CPU or build), or rows of another file of a published
    dataset, are refused, naming both. An unfinished sweep (interrupted, killed, a failed trial) is
    refused unless --partial is given; then its finished arms are published and its manifest entry
    says partial, until the finished sweep is published. Two publishes into one study take turns
    (STUDY/.lock); every rows file's sha256 is recorded and checked by every reader."""

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
    partial: bool = False
    """Publish the finished arms of an unfinished sweep now (recorded as partial in the manifest)."""


@dataclass(frozen=True)
class ResultsList:
    """The studies of the store, their rows, machines and size; each rows file checked against the
    sha256 its manifest records."""

    store: str = str(DEFAULT_STORE)
    """The store (results/ of this checkout)."""


def run_publish(args: ResultsPublish) -> int:
    from gcttt.errors import UsageError
    from gcttt.results.store import publish

    if not args.sweeps:
        raise UsageError("give at least one sweep folder, e.g. ~/gcttt-results/sweeps/NAME")
    report = publish(
        list(args.sweeps),
        args.store,
        args.study,
        command=args.command,
        description=args.description,
        partial=args.partial,
    )
    for note in report.notes:
        print(f"note: {note}")
    where = f" into {report.path}" if report.path else ""
    print(f"published {report.added} new rows{where}; {report.repeats} already in study {args.study}")
    return 0


def run_list(args: ResultsList) -> int:
    """Rows as the studies hold them (each file checked against its manifest), not as the manifests count them."""
    from pathlib import Path

    from gcttt.results.store import list_studies

    studies = list_studies(args.store)
    if not studies:
        print(f"{Path(args.store).expanduser()}: no studies yet")
        return 0
    for s in studies:
        partial = f" ({s['partial']} partial)" if s["partial"] else ""
        print(
            f"{s['study']}: {s['rows']} rows in {s['sweeps']} sweeps{partial}, {s['bytes'] / 1024:.0f} KiB; "
            f"{', '.join(s['machines'])}"
        )
    return 0


ACTIONS = {
    "publish": (ResultsPublish, run_publish, "copy sweeps' episode rows into a study of the store"),
    "list": (ResultsList, run_list, "the studies of the store, their rows, machines and size"),
}
