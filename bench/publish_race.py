"""Two publishes into one study at the same moment: how often the study ends up corrupted.

    python bench/publish_race.py                     # the working tree's store, 20 pairs per mode
    python bench/publish_race.py --revision 27448a3  # the store of an older commit (before the lock)
    python bench/publish_race.py --pairs 50 --json /tmp/race.json

Two worker processes are started once (their imports done, as a scheduler or two terminals
would have them); for each pair they wait at a `multiprocessing.Barrier` and then publish into a
fresh study together. Two modes: `same` (both publish one sweep of 15 rows) and `different` (two
sweeps of 15 rows each). After each pair the study is read back with pyarrow alone (not through
the store under test) and counted as corrupted when any of these hold:
- a row's episode key (`PUBLISH_KEY`) appears more than once;
- manifest.json is not valid JSON, or lacks an entry for a sweep whose rows are in the study, or
  its entries' row counts do not add up to the rows the study holds;
- a worker failed with anything but a one-line refusal (`GctttError`).
A pair where one publish is refused in one line and the study is whole is "refused", not corrupted.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gcttt.commands.flags import parse
from gcttt.errors import run_main

ROOT = Path(__file__).resolve().parent.parent
ROWS = 15


def _store_module(revision: str | None):
    """gcttt.results.store as in the working tree, or as committed at `revision`."""
    if revision is None:
        from gcttt.results import store

        return store
    source = subprocess.run(
        ["git", "show", f"{revision}:gcttt/results/store.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType(f"store_{revision}")
    module.__file__ = f"{revision}:gcttt/results/store.py"
    sys.modules[module.__name__] = module  # dataclasses look their module up by name
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def make_sweep(root: Path, name: str, offset: int) -> Path:
    """A sweep folder of `ROWS` made-up episodes (seeds from `offset`, so two sweeps never clash)."""
    from analysis.synthetic import record
    from gcttt.results.records import RunContext, write_records

    records = [
        record(task_id=1 + i % 5, episode_index=i // 5, seed=offset + i, checkpoint_fingerprint="w1", machine="cpu-a")
        for i in range(ROWS)
    ]
    sweep = root / name
    arm = "baseline-w512-s0"
    write_records(sweep / "episodes" / arm, records, RunContext(sweep_id=name, sweep_kind="horizon", trial_id=arm))
    return sweep


def worker(role: int, barrier, jobs: list[tuple[str, str]], revision: str | None, results) -> None:
    """Publish `jobs` (sweep folder, study folder) in turn, each after the barrier releases both."""
    from gcttt.errors import GctttError

    store = _store_module(revision)
    for sweep, study in jobs:
        barrier.wait()
        released = time.time()
        try:
            report = store.publish([sweep], Path(study).parent, Path(study).name)
            outcome = ("ok", report.added)
        except GctttError as exc:
            outcome = ("refused", str(exc))
        except Exception as exc:  # what the old store raised: counted as corruption
            outcome = ("crash", f"{type(exc).__name__}: {exc}")
        results.put((role, study, outcome, released))


def inspect(study: Path) -> list[str]:
    """What is wrong with a study after a pair (empty: whole), read without the store under test."""
    import pandas as pd
    import pyarrow.parquet as pq

    from gcttt.results.store import PUBLISH_KEY

    files = sorted((study / "rows").glob("*.parquet"))
    rows = pd.concat([pq.read_table(p).to_pandas() for p in files]) if files else pd.DataFrame()
    problems = []
    if len(rows) and rows.duplicated(list(PUBLISH_KEY)).any():
        problems.append(f"{int(rows.duplicated(list(PUBLISH_KEY)).sum())} duplicate rows")
    try:
        manifest = json.loads((study / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        return [*problems, f"manifest unreadable ({type(exc).__name__})"]
    entries = manifest.get("sweeps", {})
    held = set(rows["sweep_id"]) if len(rows) else set()
    if held - set(entries):
        problems.append(f"no manifest entry for {sorted(held - set(entries))}")
    counted = sum(e.get("rows", 0) for e in entries.values())
    if counted != len(rows):
        problems.append(f"manifest counts {counted} rows, study holds {len(rows)}")
    return problems


def run(pairs: int, revision: str | None, root: Path, start_method: str = "spawn") -> dict[str, dict]:
    """Race `pairs` pairs per mode in `root`. 'spawn': two fresh interpreters (two terminals);
    'fork': copies of this process, its imports done (seconds faster: the suite uses it)."""
    ctx = mp.get_context(start_method)
    sweeps = [make_sweep(root, "s1", 1000), make_sweep(root, "s2", 2000)]
    jobs: list[list[tuple[str, str]]] = [[], []]
    modes = []
    skews: list[float] = []
    for i in range(pairs):
        for mode in ("same", "different"):
            study = root / f"store-{mode}-{i}" / "study"
            jobs[0].append((str(sweeps[0]), str(study)))
            jobs[1].append((str(sweeps[0] if mode == "same" else sweeps[1]), str(study)))
            modes.append((mode, study))
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, barrier, jobs[r], revision, results)) for r in (0, 1)]
    for p in procs:
        p.start()
    outcomes: dict[str, list] = {}
    starts: dict[str, list[float]] = {}
    for _ in range(2 * len(modes)):
        _, study, outcome, released = results.get(timeout=600)
        outcomes.setdefault(study, []).append(outcome)
        starts.setdefault(study, []).append(released)
    for p in procs:
        p.join()
    counts = {m: {"pairs": 0, "corrupted": 0, "refused": 0, "both_landed": 0} for m in ("same", "different")}
    examples: dict[str, list[str]] = {"same": [], "different": []}
    for mode, study in modes:
        got = outcomes[str(study)]
        c = counts[mode]
        c["pairs"] += 1
        problems = inspect(study) + [f"crash: {o[1]}" for o in got if o[0] == "crash"]
        added = sum(o[1] for o in got if o[0] == "ok")
        if not any(o[0] == "refused" for o in got) and added != (ROWS if mode == "same" else 2 * ROWS):
            problems.append(f"the publishes reported {added} new rows")
        skews.append(abs(starts[str(study)][0] - starts[str(study)][1]))
        if problems:
            c["corrupted"] += 1
            examples[mode].append("; ".join(problems))
        elif any(o[0] == "refused" for o in got):
            c["refused"] += 1
        else:
            c["both_landed"] += 1
    counts["release_skew_ms"] = {"median": 1000 * statistics.median(skews), "max": 1000 * max(skews)}
    for mode, found in examples.items():
        counts[mode]["problems"] = dict(Counter(found).most_common(3))
    return counts


@dataclass(frozen=True)
class PublishRace:
    """How many pairs to race, and which store."""

    pairs: int = 20
    """Synchronised pairs per mode."""
    revision: str | None = None
    """Git revision whose gcttt/results/store.py to race [default: the working tree]."""
    json: str | None = None
    """Also write the counts here."""


def main(argv: list[str] | None = None) -> int:
    return run_main("publish_race.py", lambda: race(parse(PublishRace, argv, "publish_race.py", __doc__)))


def race(args: PublishRace) -> int:
    with tempfile.TemporaryDirectory(prefix="publish-race-") as tmp:
        counts = run(args.pairs, args.revision, Path(tmp))
    label = args.revision or "working tree"
    skew = counts.pop("release_skew_ms")
    for mode, c in counts.items():
        print(
            f"{label}: {mode:9s} {c['pairs']} pairs: {c['corrupted']} corrupted, {c['refused']} refused in one line, "
            f"{c['both_landed']} whole with both landed"
        )
        for problem, n in c["problems"].items():
            print(f"    {n} x {problem[:150]}")
    print(f"the two publishes of a pair left the barrier {skew['median']:.2f} ms apart (median; max {skew['max']:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"revision": label, **counts, "release_skew_ms": skew}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
