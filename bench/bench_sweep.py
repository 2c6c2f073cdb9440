#!/usr/bin/env python
"""One sweep with and without the shared goal-distance cache: time, value passes, identical records.

    python bench/bench_sweep.py --quick      # a small smoke-preset sweep (a few minutes here)
    python bench/bench_sweep.py              # `make demo`'s sweep (the cpu preset's default grid)

Both runs use the same pre-trained checkpoint (trained first if missing, not timed) and a fresh
results folder each; the cached run starts with an empty cache, so every hit comes from one
trial reusing what an earlier trial of the same sweep computed. The records of the two runs are
compared episode by episode on every column except wall times and the cache bookkeeping
(`value_evaluations_computed`, `distance_cache_hit`). The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gcttt.commands.flags import parse
from gcttt.data.access import resolve_data_dir
from gcttt.errors import run_main
from gcttt.results.tables import read_sweep_rows

ROOT = Path(__file__).resolve().parent.parent

QUICK = ["--preset", "smoke", "--selections", "critic", "--K", "100", "200", "--N", "5", "10", "--tasks", "1", "2", "3"]
IGNORED = {
    "wall_seconds",
    "act_seconds",
    "selection_seconds",
    "finetune_seconds",
    "value_evaluations_computed",
    "distance_cache_hit",
    "written_at",
    "sweep_id",
    "node",
    "spec_index",
    "attempts",
}


def run_sweep(out: Path, name: str, flags: list[str], cached: bool, shared: Path) -> float:
    """Run horizon_sweep.py in a fresh process; returns its wall time."""
    argv = [sys.executable, str(ROOT / "sweeps" / "horizon_sweep.py"), *flags, "--out", str(out), "--name", name]
    argv += ["--data-dir", str(shared / "data")]
    if not cached:
        argv.append("--no-distance-cache")
    (out / "checkpoints").parent.mkdir(parents=True, exist_ok=True)
    if not (out / "checkpoints").exists():
        (out / "checkpoints").symlink_to(shared / "checkpoints")
    started = time.perf_counter()
    run = subprocess.run(argv, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"bench_sweep: the sweep failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return seconds


@dataclass(frozen=True)
class BenchSweep:
    """Which sweep to time, and where."""

    quick: bool = False
    """A small smoke-preset sweep instead of make demo's."""
    work: str = "/tmp/gcttt-bench-sweep"
    """Scratch folder (emptied first)."""
    data_dir: str | None = None
    """Dataset folder [default: $GCTTT_DATA_DIR or ~/.ogbench/data]."""
    checkpoints: str | None = None
    """An existing checkpoint root to reuse, e.g. ~/gcttt-results/checkpoints [default: pre-train into the
    scratch folder, untimed]."""


def main(argv: list[str] | None = None) -> int:
    return run_main("bench_sweep.py", lambda: bench(parse(BenchSweep, argv, "bench_sweep.py", __doc__)))


def bench(args: BenchSweep) -> int:
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    shared = work / "shared"
    shared.mkdir(parents=True)
    if args.checkpoints:
        (shared / "checkpoints").symlink_to(Path(args.checkpoints).expanduser().resolve())
    else:
        (shared / "checkpoints").mkdir()
    data = Path(args.data_dir).expanduser() if args.data_dir else resolve_data_dir(None)
    if args.quick:
        data = shared / "data"  # the smoke preset generates its small dataset there
    (shared / "data").parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        (shared / "data").symlink_to(data)
    flags = QUICK if args.quick else []
    # Warm-up (not timed): the dataset and the pre-trained checkpoint both runs share.
    run_sweep(work / "warmup", "warmup", [*flags, "--no-baseline", "--K", "1000", "--N", "1", "--selections",
                                          "random", "--ablations", "--tasks", "1", "--episodes-per-task", "1"],
              cached=False, shared=shared)  # fmt: skip
    seconds_uncached = run_sweep(work / "uncached", "bench", flags, cached=False, shared=shared)
    seconds_cached = run_sweep(work / "cached", "bench", flags, cached=True, shared=shared)

    uncached = read_sweep_rows(work / "uncached" / "sweeps" / "bench" / "episodes")
    cached = read_sweep_rows(work / "cached" / "sweeps" / "bench" / "episodes")
    key = ["trial_id", "task_id", "episode_index"]
    columns = [c for c in uncached.columns if c not in IGNORED]
    a = uncached.sort_values(key).reset_index(drop=True)[columns]
    b = cached.sort_values(key).reset_index(drop=True)[columns]
    identical = len(a) == len(b) and a.equals(b)
    differing = [] if identical or len(a) != len(b) else [c for c in columns if not a[c].equals(b[c])]
    ttt_u, ttt_c = uncached[uncached["method"] == "gcttt"], cached[cached["method"] == "gcttt"]
    result = {
        "sweep": "quick (smoke preset)" if args.quick else "make demo (cpu preset default grid)",
        "episodes": len(uncached),
        "seconds_uncached": round(seconds_uncached, 1),
        "seconds_cached": round(seconds_cached, 1),
        "speedup": round(seconds_uncached / seconds_cached, 3),
        "selection_seconds_per_episode_uncached": round(float(ttt_u["selection_seconds"].mean()), 3),
        "selection_seconds_per_episode_cached": round(float(ttt_c["selection_seconds"].mean()), 3),
        "value_evaluations_needed": int(uncached["value_evaluations"].sum()),
        "value_evaluations_uncached": int(uncached["value_evaluations_computed"].sum()),
        "value_evaluations_cached": int(cached["value_evaluations_computed"].sum()),
        "cache_hits": int(cached["distance_cache_hit"].sum()),
        "identical": bool(identical),
        "differing_columns": differing,
    }
    print(json.dumps(result))
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
