#!/usr/bin/env python
"""What recording trajectories costs: side-file bytes per 100 episodes and seconds per episode.

Plays the same episodes with `EpisodeRunner.run` and `run_traced` (one after the other, per
method), checks that the records agree (timing columns aside), writes the trajectories as one
side file per method, and prints one JSON line per method:

    python bench/bench_trajectories.py --checkpoint CKPT --data-dir DIR --episodes 10

(`--selections` picks the GC-TTT arms; K = 200, N = 1 keeps fine-tuning short, so that the
recording's own cost is not lost in it.)
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gcttt.commands.flags import parse
from gcttt.errors import run_main

TIMING = {"wall_seconds", "act_seconds", "selection_seconds", "finetune_seconds"}


@dataclass(frozen=True)
class BenchTrajectories:
    """Which episodes to play."""

    checkpoint: str
    """Pre-trained checkpoint (final.pt of a `gcttt pretrain` run)."""
    data_dir: str | None = None
    """Dataset directory [default: $GCTTT_DATA_DIR or ~/.ogbench/data]."""
    episodes: int = 10
    """Episodes per method (tasks 1-5 in turn)."""
    selections: tuple[str, ...] = ("critic", "critic-free", "random", "full-dataset")
    """GC-TTT arms, one per selection strategy."""
    K: int = 200
    """Env steps between re-plans."""
    N: int = 1
    """Gradient steps per re-plan."""


def main(argv: list[str] | None = None) -> int:
    return run_main(
        "bench_trajectories.py", lambda: bench(parse(BenchTrajectories, argv, "bench_trajectories.py", __doc__))
    )


def bench(args: BenchTrajectories) -> int:

    import torch

    from gcttt.control.runner import EpisodeRunner, EpisodeSpec
    from gcttt.control.ttt import TTTConfig
    from gcttt.data.access import load_datasets, resolve_data_dir
    from gcttt.data.provenance import dataset_provenance
    from gcttt.datagen import ensure_dataset_files
    from gcttt.files.checkpoint import read_checkpoint
    from gcttt.results.trajectories import write_trajectories
    from gcttt.selection import SelectionConfig

    torch.set_num_threads(1)
    meta = read_checkpoint(args.checkpoint)
    ensure_dataset_files(meta["dataset"], args.data_dir)
    train, _ = load_datasets(meta["dataset"], args.data_dir)
    provenance = dataset_provenance(resolve_data_dir(args.data_dir), meta["dataset"])
    runner = EpisodeRunner(args.checkpoint, train, provenance=provenance)
    methods = [("baseline", None)] + [(s, s) for s in args.selections]
    with tempfile.TemporaryDirectory() as tmp:
        for label, selection in methods:
            ttt = TTTConfig(horizon=args.K, steps=args.N, selection=SelectionConfig(selection or "critic"))
            method = "baseline" if selection is None else "gcttt"
            specs = [
                EpisodeSpec(task_id=1 + i % 5, episode_index=i // 5, method=method, ttt=ttt)
                for i in range(args.episodes)
            ]
            plain_s = traced_s = 0.0
            trajectories, identical = [], True
            for i, spec in enumerate(specs):  # alternating which goes first, so neither gains from warm caches
                for traced in (i % 2 == 0, i % 2 == 1):
                    start = time.perf_counter()
                    if traced:
                        record, trajectory = runner.run_traced(spec)
                        traced_s += time.perf_counter() - start
                    else:
                        plain = runner.run(spec)
                        plain_s += time.perf_counter() - start
                same = {k: v for k, v in record.to_row().items() if k not in TIMING}
                identical &= same == {k: v for k, v in plain.to_row().items() if k not in TIMING}
                trajectories.append(trajectory)
            path = write_trajectories(Path(tmp) / f"{label}.npz", trajectories, {"bench": label})
            steps = sum(t.steps for t in trajectories)
            print(
                json.dumps(
                    {
                        "method": label,
                        "episodes": len(specs),
                        "mean_steps": steps / len(specs),
                        "segments_per_episode": sum(len(r.segments) for t in trajectories for r in t.replans)
                        / len(specs),
                        "bytes_per_100_episodes": round(path.stat().st_size * 100 / len(specs)),
                        "seconds_per_episode_plain": round(plain_s / len(specs), 3),
                        "seconds_per_episode_traced": round(traced_s / len(specs), 3),
                        "identical_records": identical,
                    }
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
