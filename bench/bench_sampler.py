"""Sampler throughput: relabelled batches per second on the full dataset, on this machine.

    python bench/bench_sampler.py                                   # pointmaze-medium-navigate-v0
    python bench/bench_sampler.py --batch-sizes 256 1024 --seconds 5 --threads 1

Three ways of drawing a batch, each timed for --seconds after a warm-up:
- `sample`: uniform transitions of the whole dataset, value and actor goals relabelled (pre-training);
- `sample` with SAW's waypoints (subgoal_steps=25): the extra gathers SAW's batches need;
- `sample_from`: a 10-episode subset with the actor goal pinned to a fixed goal (test-time fine-tuning).
The dataset is read with gcttt's loader (generated first if missing, as everywhere else).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from gcttt.commands.flags import parse
from gcttt.data.access import load_datasets
from gcttt.data.sampler import GoalSampler, SamplerConfig
from gcttt.data.transitions import TransitionData
from gcttt.datagen import ensure_dataset_files
from gcttt.errors import run_main
from gcttt.selection import segment_indices


def rate(draw, seconds: float, device: torch.device) -> float:
    """Batches per second of `draw()`."""
    for _ in range(5):
        draw()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        draw()
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n / (time.perf_counter() - start)


@dataclass(frozen=True)
class BenchSampler:
    """What to time."""

    dataset: str = "pointmaze-medium-navigate-v0"
    """OGBench dataset name."""
    data_dir: str | None = None
    """Dataset directory [default: $GCTTT_DATA_DIR or ~/.ogbench/data]."""
    batch_sizes: tuple[int, ...] = (1024, 256)
    """Transitions per batch."""
    seconds: float = 5.0
    """Timed seconds per measurement."""
    device: str = "cpu"
    """cpu or cuda."""
    threads: int | None = None
    """Torch CPU threads [default: torch's choice]."""


def main(argv: list[str] | None = None) -> int:
    return run_main("bench_sampler.py", lambda: bench(parse(BenchSampler, argv, "bench_sampler.py", __doc__)))


def bench(args: BenchSampler) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    ensure_dataset_files(args.dataset, args.data_dir)
    train, _ = load_datasets(args.dataset, args.data_dir)
    data = TransitionData.from_offline(train, device)
    subset = segment_indices(data.first[:10], data.last[:10] + 1)
    goal = data.obs(data.last[:1])[0]
    print(
        f"{args.dataset}: {data.num_transitions} transitions; device {device}, "
        f"{torch.get_num_threads()} torch threads, {args.seconds:g} s per measurement"
    )
    print("| batch | sample (batches/s) | sample + SAW waypoints | sample_from, pinned goal |")
    print("|---|---|---|---|")
    for batch in args.batch_sizes:
        plain = GoalSampler(data, SamplerConfig(batch_size=batch), torch.Generator(device).manual_seed(0))
        saw = GoalSampler(
            data, SamplerConfig(batch_size=batch, subgoal_steps=25), torch.Generator(device).manual_seed(0)
        )
        rates = (
            rate(plain.sample, args.seconds, device),
            rate(saw.sample, args.seconds, device),
            rate(lambda s=plain: s.sample_from(subset, actor_goal=goal), args.seconds, device),
        )
        print(f"| {batch} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
