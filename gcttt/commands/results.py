"""`gcttt results publish|list`: the episode rows behind published numbers, kept in the repository."""

from __future__ import annotations

import argparse

from gcttt.provenance import REPO_ROOT

DEFAULT_STORE = REPO_ROOT / "results"


def add_parser(sub) -> None:
    parser = sub.add_parser("results", help="publish sweep rows into the results store (results/), list it")
    results_sub = parser.add_subparsers(dest="results_command", required=True, metavar="ACTION")
    pub = results_sub.add_parser(
        "publish",
        help="copy a sweep's episode rows into a study of the store",
        description=(
            "Publish the episode rows of one or more sweep folders (OUT/sweeps/NAME) into STORE/STUDY/rows as "
            "zstd Parquet and record where they came from in STORE/STUDY/manifest.json (command, git SHAs, dates, "
            "machines, versions, dataset and checkpoint fingerprints). Idempotent: rows already published are "
            "not added again. A row that disagrees with a published one for the same episode, or rows played by "
            "other weights of a published checkpoint (another CPU or build), are refused, naming both."
        ),
    )
    pub.add_argument("sweeps", nargs="+", help="sweep folders, e.g. ~/gcttt-results/sweeps/NAME")
    pub.add_argument("--study", required=True, help="study (folder of the store) the rows belong to, e.g. table1-cpu")
    pub.add_argument("--store", default=str(DEFAULT_STORE), help="the store (default: results/ of this checkout)")
    pub.add_argument(
        "--command", dest="made_by", default=None, help="the command that produced the rows (default: the sweep's own)"
    )
    pub.add_argument("--description", default=None, help="one line saying what the study is")
    pub.set_defaults(handler=run_publish)
    lst = results_sub.add_parser("list", help="the studies of the store, their rows, machines and size")
    lst.add_argument("--store", default=str(DEFAULT_STORE), help="the store (default: results/ of this checkout)")
    lst.set_defaults(handler=run_list)


def run_publish(args: argparse.Namespace) -> int:
    from gcttt.store import publish

    report = publish(args.sweeps, args.store, args.study, command=args.made_by, description=args.description)
    where = f" into {report.path}" if report.path else ""
    print(f"published {report.added} new rows{where}; {report.repeats} already in study {args.study}")
    return 0


def run_list(args: argparse.Namespace) -> int:
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
