"""Update throughput (updates/s) of each backbone at given scales, on this machine.

    python bench/bench_updates.py                       # paper and cpu presets, all backbones
    python bench/bench_updates.py --scales 256x2x256 128x3x256 --seconds 10
    python bench/bench_updates.py --compile             # eager and torch.compile side by side
    python bench/bench_updates.py --parts all actor     # full-loss and actor-only updates side by side

A scale is WIDTHxDEPTHxBATCH or a preset name. Batches come from a pointmaze-shaped synthetic
dataset (obs_dim 2, 1000-step episodes), so no dataset file is needed; the numbers are per-update
costs, which do not depend on the data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from gcttt.agents import BACKBONES, make_agent
from gcttt.commands.flags import parse
from gcttt.data.files import OfflineData
from gcttt.data.sampler import GoalSampler
from gcttt.data.transitions import TransitionData
from gcttt.envs import dataset_info
from gcttt.errors import UsageError, run_main
from gcttt.presets import PRESETS, Preset, backbone_config


def synthetic_pointmaze(episodes: int = 200, length: int = 1001, seed: int = 0) -> OfflineData:
    rng = np.random.default_rng(seed)
    obs = np.cumsum(rng.normal(0, 0.1, size=(episodes * length, 2)), axis=0).astype(np.float32)
    terminals = np.zeros(episodes * length, dtype=bool)
    terminals[length - 1 :: length] = True
    actions = rng.uniform(-1, 1, size=(episodes * length, 2)).astype(np.float32)
    return OfflineData(observations=obs, actions=actions, terminals=terminals)


def parse_scale(text: str) -> Preset:
    if text in PRESETS:
        return PRESETS[text]
    width, depth, batch = (int(x) for x in text.split("x"))
    return Preset(text, width, depth, batch, 3e-4, 1, 0, 1, (1,), 1)


def measure(
    backbone: str, preset: Preset, data: TransitionData, seconds: float, compiled: bool = False, part: str = "all"
) -> float:
    """Updates per second of `part` ('all': the full loss; 'actor': `Agent.actor_update`, what
    test-time training runs with `--finetune actor`); `compiled`: through `Agent.compiled_update`
    (compile time excluded)."""
    info = dataset_info("pointmaze-medium-navigate-v0")
    agent = make_agent(backbone, backbone_config(backbone, info, preset), 2, 2, device=data.device)
    sampler = GoalSampler(data, agent.sampler_config(), torch.Generator(data.device).manual_seed(0))
    update = agent.compiled_update(part) if compiled else agent.updater(part)
    for _ in range(5):  # warm-up; the first compiled call compiles
        update(sampler.sample())
    if data.device.type == "cuda":
        torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        update(sampler.sample())
        n += 1
    if data.device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


@dataclass(frozen=True)
class BenchUpdates:
    """What to time."""

    scales: tuple[str, ...] = ("paper", "cpu")
    """Presets or WIDTHxDEPTHxBATCH."""
    backbones: tuple[str, ...] = tuple(BACKBONES)
    """Backbones to time (gcbc, gciql, saw)."""
    seconds: float = 8.0
    """Timing window per measurement."""
    device: str = "cpu"
    """cpu or cuda."""
    threads: int | None = None
    """Torch CPU threads [default: all cores]."""
    compile: bool = False
    """Also measure updates through torch.compile."""
    parts: tuple[Literal["all", "actor"], ...] = ("all",)
    """What an update trains (columns /all, /actor)."""


def main(argv: list[str] | None = None) -> int:
    return run_main("bench_updates.py", lambda: bench(parse(BenchUpdates, argv, "bench_updates.py", __doc__)))


def bench(args: BenchUpdates) -> None:
    unknown = sorted(set(args.backbones) - set(BACKBONES))
    if unknown:
        raise UsageError(f"--backbones {' '.join(unknown)}: not a backbone; choose from {', '.join(BACKBONES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    data = TransitionData.from_offline(synthetic_pointmaze(), device=args.device)
    print(f"device {args.device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    modes = [False, True] if args.compile else [False]
    parts = args.parts
    columns = [
        f"{b}{'/' + p if len(parts) > 1 else ''}{'/c' if c else ''}"
        for b in args.backbones
        for p in parts
        for c in modes
    ]
    print(f"{'scale':>12} {'width':>5} {'depth':>5} {'batch':>5} " + " ".join(f"{c:>12}" for c in columns))
    for text in args.scales:
        preset = parse_scale(text)
        rates = [measure(b, preset, data, args.seconds, c, p) for b in args.backbones for p in parts for c in modes]
        print(
            f"{text:>12} {preset.width:>5} {preset.depth:>5} {preset.batch_size:>5} "
            + " ".join(f"{r:12.1f}" for r in rates),
            flush=True,
        )
    print("(updates per second" + ("; /c: torch.compile, compile time excluded)" if args.compile else ")"))


if __name__ == "__main__":
    raise SystemExit(main())
