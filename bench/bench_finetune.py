"""Fine-tuning time of GC-TTT episodes with `--finetune all` and `--finetune actor`, side by side.

    python bench/bench_finetune.py CHECKPOINT --rounds 3 --threads 1

Plays the same episodes (critic selection, K and N as given, tasks 1..--tasks) with one runner,
alternating the two parts episode by episode so that both see the same load, and prints each
part's fine-tuning seconds per episode (min / median / max over rounds) and their ratio. The
episodes themselves are identical for GC-BC (tests/test_finetune_part.py); for the other
backbones the two parts are two methods and only the time is compared. The dataset is the one
the checkpoint was pre-trained on, read from --data-dir (generated there first if missing).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Annotated

import torch
import tyro

from gcttt.commands.flags import parse
from gcttt.control.runner import EpisodeRunner, EpisodeSpec
from gcttt.control.ttt import TTTConfig
from gcttt.data.access import load_datasets
from gcttt.datagen import ensure_dataset_files
from gcttt.errors import UsageError, run_main
from gcttt.files.checkpoint import read_checkpoint
from gcttt.selection import SelectionConfig


@dataclass(frozen=True)
class BenchFinetuneConfig:
    """Fine-tuning seconds per GC-TTT episode, full loss against actor alone."""

    checkpoint: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="CHECKPOINT")]
    """A pre-trained checkpoint (final.pt or step_*.pt of a pretrain run)."""
    data_dir: str | None = None
    """Data directory holding the checkpoint's dataset (default: $GCTTT_DATA_DIR or ~/.ogbench/data)."""
    K: int = 100
    """Env steps between re-plans."""
    N: int = 100
    """Updates per re-plan."""
    lr: float = 3e-4
    """Fine-tuning learning rate."""
    tasks: int = 2
    """Tasks 1..tasks are played each round."""
    rounds: int = 3
    """Rounds; each plays every task with both parts."""
    threads: int = 1
    """torch CPU threads."""


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(BenchFinetuneConfig, argv, "bench_finetune.py", __doc__)
        if min(args.K, args.N, args.tasks, args.rounds, args.threads) < 1:
            raise UsageError("--K, --N, --tasks, --rounds and --threads must be at least 1")
        torch.set_num_threads(args.threads)
        dataset = read_checkpoint(args.checkpoint)["dataset"]
        ensure_dataset_files(dataset, args.data_dir)
        train, _ = load_datasets(dataset, args.data_dir, validation=False)
        runner = EpisodeRunner(args.checkpoint, train)
        seconds: dict[str, list[float]] = {"all": [], "actor": []}
        for _ in range(args.rounds):
            for task in range(1, args.tasks + 1):
                for part in ("all", "actor"):
                    selection = SelectionConfig()
                    ttt = TTTConfig(horizon=args.K, steps=args.N, lr=args.lr, finetune=part, selection=selection)
                    seconds[part].append(runner.run(EpisodeSpec(task_id=task, ttt=ttt)).finetune_seconds)
        print(f"{runner.agent.name} {dataset}, K={args.K} N={args.N}, {args.threads} thread(s), {args.rounds} rounds")
        for part, values in seconds.items():
            print(
                f"  {part:>5}: fine-tuning s/episode min {min(values):.2f} median {statistics.median(values):.2f} "
                f"max {max(values):.2f}"
            )
        ratio = statistics.median(seconds["all"]) / max(statistics.median(seconds["actor"]), 1e-9)
        print(f"  median all / actor: {ratio:.1f}x")
        return 0

    return run_main("bench_finetune.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
