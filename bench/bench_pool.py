"""Episode pool: throughput with 1 vs 2 workers, and memory per worker (shared dataset).

    python bench/bench_pool.py                       # both parts, defaults below
    python bench/bench_pool.py --skip-memory --episodes 20
    python bench/bench_pool.py --json /tmp/bench_pool.json

Throughput: the same episode specs (method gcttt, K=200, N=20 by default, tasks 1-5 in turn; the
smoke checkpoint unless --checkpoint names a real one) on
the full pointmaze-medium-navigate dataset, first with a pool of 1 worker, then with 2 workers,
in one run and one Ray session (num_cpus=2, 1 CPU and 1 torch thread per worker). Episodes per
second count from the first dispatch to the last record (worker start-up excluded, reported
apart); scaling efficiency = rate(2) / (2 * rate(1)).

Memory: for each dataset, a pool of 2 workers; every worker reads all of the dataset once and
plays one gcttt episode (so the selection's per-worker arrays exist), then reports its USS
(memory only it holds), PSS (shared pages split between the processes mapping them) and RSS
(all resident pages, shared ones included). The reference is the same pair of workers on a tiny
dataset; a "copy" control actor holds a private copy of the arrays, as a worker would without
the object store. Datasets:
- the full pointmaze-medium-navigate-v0 (1M transitions, obs_dim 2) from --pointmaze-dir;
- a large manipulation dataset: cube-double-play-v0 generated with --manip-episodes episodes
  into --workdir (real oracle data), then tiled to --manip-rows rows (whole episodes repeated):
  generating 1M cube-double steps takes about an hour on one core.
Checkpoints are smoke GC-IQL runs (50 updates) pre-trained in --workdir on the small generated
sets (obs_dim 2 and 37); only their input sizes matter here. Everything in --workdir is reused
by later runs.

On a shared machine rates are noisy: run it when nothing else runs, or repeat it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gcttt.commands.flags import parse
from gcttt.control.runner import EpisodeSpec
from gcttt.control.ttt import TTTConfig
from gcttt.data.access import load_datasets
from gcttt.data.files import OfflineData
from gcttt.datagen.generation import generate_dataset
from gcttt.errors import UsageError, run_main
from gcttt.pretrain import PretrainConfig, pretrain
from gcttt.selection import SelectionConfig
from workers.episode_worker import EpisodeWorker, share_dataset
from workers.pool import EpisodePool

POINTMAZE = "pointmaze-medium-navigate-v0"
MANIP = "cube-double-play-v0"
MB = 1024**2


def prepare(dataset: str, workdir: Path, episodes: int, max_steps: int | None) -> tuple[str, OfflineData]:
    """A small generated dataset and a smoke GC-IQL checkpoint for it (cached in workdir)."""
    data_dir = workdir / "data"
    if not (data_dir / f"{dataset}.npz").exists():
        print(f"generating {episodes} episodes of {dataset} into {data_dir}", flush=True)
        generate_dataset(dataset, data_dir, episodes=episodes, max_episode_steps=max_steps, workers=1)
    result = pretrain(
        PretrainConfig(
            dataset=dataset,
            backbone="gciql",
            preset="smoke",
            steps=50,
            eval_every=0,
            eval_episodes=1,
            out_dir=str(workdir / "runs"),
            data_dir=str(data_dir),
            device="cpu",
        ),
        progress=False,
    )
    train, _ = load_datasets(dataset, data_dir)
    return str(result.final_checkpoint), train


def tiled(train: OfflineData, rows: int) -> OfflineData:
    """`train` repeated whole (episode boundaries kept) until it has at least `rows` rows."""
    reps = max(1, -(-rows // train.num_rows))
    return OfflineData(
        observations=np.tile(train.observations, (reps, 1)),
        actions=np.tile(train.actions, (reps, 1)),
        terminals=np.tile(train.terminals, reps),
    )


def make_specs(n: int, method: str, horizon: int, steps: int) -> list[EpisodeSpec]:
    ttt = TTTConfig(horizon=horizon, steps=steps)
    return [EpisodeSpec(task_id=1 + i % 5, episode_index=i // 5, method=method, ttt=ttt) for i in range(n)]


def throughput(checkpoint: str, train: OfflineData, specs: list[EpisodeSpec], workers: list[int]) -> dict:
    shared = share_dataset(train)
    out = {"episodes": len(specs), "runs": []}
    for n in workers:
        started = time.perf_counter()
        with EpisodePool.for_checkpoint(checkpoint, shared, n, cpus_per_worker=1, progress=True) as pool:
            startup = time.perf_counter() - started
            started = time.perf_counter()
            results = list(pool.run(specs))
            seconds = time.perf_counter() - started
        steps = sum(r.record.episode_steps for r in results)
        run = {
            "workers": n,
            "startup_s": startup,
            "seconds": seconds,
            "episodes_per_s": len(results) / seconds,
            "env_steps_per_s": steps / seconds,
        }
        out["runs"].append(run)
        print(
            f"  {n} worker(s): {len(results)} episodes in {seconds:.1f} s = {run['episodes_per_s']:.3f} ep/s "
            f"({run['env_steps_per_s']:.0f} env steps/s; start-up {startup:.1f} s)",
            flush=True,
        )
    rates = {r["workers"]: r["episodes_per_s"] for r in out["runs"]}
    if 1 in rates and 2 in rates:
        out["scaling_efficiency"] = rates[2] / (2 * rates[1])
        print(f"  scaling efficiency rate(2) / (2 rate(1)) = {out['scaling_efficiency']:.2f}", flush=True)
    return out


class CopyingWorker(EpisodeWorker):
    """Control: a worker that holds a private copy of the dataset (what sharing avoids)."""

    def __init__(self, checkpoint, train, index, device="cpu", num_threads=1):
        private = OfflineData(
            observations=np.array(train.observations),
            actions=np.array(train.actions),
            terminals=train.terminals,
        )
        super().__init__(checkpoint, private, index, device, num_threads)


def memory(name: str, checkpoint: str, train: OfflineData, spec: EpisodeSpec) -> dict:
    """Memory of 2 pool workers and of a copying control, after reading the dataset once
    ('read') and after one episode ('episode')."""
    import ray

    def mb(m: dict[str, int]) -> dict[str, float]:
        return {k: v / MB for k, v in m.items()}

    shared = share_dataset(train)
    with EpisodePool.for_checkpoint(checkpoint, shared, 2, cpus_per_worker=1, progress=False) as pool:
        ray.get([a.touch_dataset.remote() for a in pool.actors])
        read = pool.memory()
        ray.get([a.run.remote(spec) for a in pool.actors])
        episode = pool.memory()
        views = ray.get([a.dataset_view.remote() for a in pool.actors])
    control = ray.remote(CopyingWorker).options(num_cpus=1).remote(checkpoint, shared.data, shared.index)
    ray.get(control.touch_dataset.remote())
    control_read = ray.get(control.memory.remote())
    ray.get(control.run.remote(spec))
    control_episode = ray.get(control.memory.remote())
    ray.kill(control)
    row = {
        "dataset": name,
        "transitions": shared.num_transitions,
        "obs_dim": shared.obs_dim,
        "shared_mb": shared.nbytes / MB,
        "obs_actions_mb": (train.observations.nbytes + train.actions.nbytes) / MB,
        "workers_read": [mb(m) for m in read],
        "workers_episode": [mb(m) for m in episode],
        "views": views,
        "copy_read": mb(control_read),
        "copy_episode": mb(control_episode),
    }
    print(
        f"  {name}: {shared.num_transitions} transitions, shared arrays {row['shared_mb']:.0f} MB "
        f"(observations + actions {row['obs_actions_mb']:.0f} MB)",
        flush=True,
    )
    for i in range(2):
        r, e, v = row["workers_read"][i], row["workers_episode"][i], views[i]
        zero_copy = not v["owns_data"] and not v["writeable"] and v["tensor_shares_buffer"]
        print(
            f"    worker {i}: read: USS {r['uss']:.0f} PSS {r['pss']:.0f} RSS {r['rss']:.0f}; "
            f"after an episode: USS {e['uss']:.0f} PSS {e['pss']:.0f} RSS {e['rss']:.0f}; "
            f"zero-copy view: {zero_copy}",
            flush=True,
        )
    r, e = row["copy_read"], row["copy_episode"]
    print(
        f"    copy control: read: USS {r['uss']:.0f} PSS {r['pss']:.0f} RSS {r['rss']:.0f}; "
        f"after an episode: USS {e['uss']:.0f} PSS {e['pss']:.0f} RSS {e['rss']:.0f}",
        flush=True,
    )
    return row


@dataclass(frozen=True)
class BenchPool:
    """What to measure."""

    workdir: str = "/tmp/gcttt_bench_data"
    """Cache of generated data and checkpoints."""
    pointmaze_dir: str = "~/.ogbench/data"
    """Directory with the full pointmaze dataset (read only)."""
    checkpoint: str | None = None
    """Pointmaze checkpoint for the throughput runs, e.g. a cpu-preset final.pt [default: a smoke GC-IQL
    checkpoint pre-trained in --workdir]."""
    episodes: int = 10
    """Episodes of the throughput runs."""
    method: Literal["baseline", "gcttt"] = "gcttt"
    """Method of the throughput episodes."""
    horizon: int = 200
    """K of the gcttt episodes."""
    grad_steps: int = 20
    """N of the gcttt episodes."""
    manip_episodes: int = 10
    """Cube-double episodes to generate."""
    manip_rows: int = 1_000_000
    """Rows of the tiled manipulation set."""
    skip_throughput: bool = False
    """Skip the throughput runs."""
    skip_memory: bool = False
    """Skip the memory measurements."""
    json: str | None = None
    """Also write the numbers to this JSON file."""

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.manip_episodes < 1 or self.manip_rows < 1:
            raise UsageError("--episodes, --manip-episodes and --manip-rows must be at least 1")


def main(argv: list[str] | None = None) -> int:
    return run_main("bench_pool.py", lambda: bench(parse(BenchPool, argv, "bench_pool.py", __doc__)))


def bench(args: BenchPool) -> int:

    import ray

    os.environ.setdefault("GCTTT_OFFLINE", "1")
    torch.set_num_threads(1)
    workdir = Path(args.workdir).expanduser().resolve()
    report: dict = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    try:
        maze_ckpt, maze_tiny = prepare(POINTMAZE, workdir, episodes=4, max_steps=101)
        maze_full, _ = load_datasets(POINTMAZE, args.pointmaze_dir)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        if not args.skip_throughput:
            specs = make_specs(args.episodes, args.method, args.horizon, args.grad_steps)
            print(f"throughput: {len(specs)} {args.method} episodes on the full {POINTMAZE}", flush=True)
            checkpoint = str(Path(args.checkpoint).expanduser()) if args.checkpoint else maze_ckpt
            report["throughput"] = throughput(checkpoint, maze_full, specs, [1, 2])
            report["throughput"]["checkpoint"] = checkpoint
        if not args.skip_memory:
            manip_ckpt, manip_small = prepare(MANIP, workdir, episodes=args.manip_episodes, max_steps=None)
            spec = EpisodeSpec(
                task_id=1,
                method="gcttt",
                ttt=TTTConfig(horizon=1000, steps=1, selection=SelectionConfig("critic")),
            )
            print("memory per worker (MB; 1 MB = 2^20 bytes):", flush=True)
            report["memory"] = [
                memory(f"{POINTMAZE} (tiny, 4 episodes)", maze_ckpt, maze_tiny, spec),
                memory(f"{POINTMAZE} (full)", maze_ckpt, maze_full, spec),
                memory(f"{MANIP} ({args.manip_episodes} generated episodes)", manip_ckpt, manip_small, spec),
                memory(
                    f"{MANIP} (tiled to {args.manip_rows} rows)",
                    manip_ckpt,
                    tiled(manip_small, args.manip_rows),
                    spec,
                ),
            ]
    finally:
        ray.shutdown()
    report["load_average_after"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
