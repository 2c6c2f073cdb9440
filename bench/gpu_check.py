"""One prepared GPU check: update throughput per mode, CPU-vs-CUDA agreement, GPU sharing; one JSON report.

    python bench/gpu_check.py --out report.json           # on a GPU machine: fits one 10-minute command
    python bench/gpu_check.py --out r.json --quick        # ~20 s (the test suite runs this on the CPU)

No Ray, no network, installs nothing, needs only the GPU image's packages (bench/gpu_image/
packages.txt: no tyro, gymnasium, mujoco, ogbench, ray or mlflow; a missing one is named in one
line). `PYTHONPATH=bench/gpu_image` runs it here with every other package hidden, as
tests/test_gpu_check.py does. Sections, each with its share of `--budget` seconds (sizes
are cut when a section's deadline comes; what was skipped says so in the report):
1. data: a small pointmaze-medium-navigate set from the repo's generator; when ogbench or mujoco
   is missing (or with --synthetic) a synthetic 2-D point-mass world instead: a dataset in
   OGBench's format (observations, actions, terminals) with the same dynamics as its env.
2. updates: updates/s of every backbone at the cpu and paper scales, eager / compiled / graph
   (graph needs CUDA; compile time and capture time reported apart from the timed window).
3. pretrain: GC-IQL briefly at both scales on the dataset (graph on CUDA, eager on the CPU).
4. episodes: GC-TTT episodes with the cpu-scale model on CUDA and on the CPU: the first re-plan's
   selected index set per episode and the selections of random (state, goal) queries compared
   across devices, success rates side by side.
5. workers: episodes/s with 1, 4 and 16 worker processes sharing the device (paper scale on CUDA,
   cpu scale on the CPU), each worker's peak memory (torch.cuda.max_memory_allocated) beside the
   estimate of workers/gpu_share.py.
Without CUDA the check says so in one line and runs the CPU half (every section on the CPU).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

# The GPU machine runs a bare checkout (gcttt is not installed there): its root goes on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# A GPU machine has a fixed image and no network (bench/gpu_image/packages.txt lists its
# packages): what this needs and the image lacks is named in one line before anything runs.
try:
    import numpy as np
    import torch

    from gcttt.agents import BACKBONES, agent_from_state, make_agent
    from gcttt.agents.graphed import GraphedUpdates
    from gcttt.control.episode import episode_seed, play_episode
    from gcttt.control.ttt import TestTimeTrainer, TTTConfig
    from gcttt.data.files import OfflineData
    from gcttt.data.sampler import GoalSampler
    from gcttt.data.transitions import TransitionData
    from gcttt.envs import dataset_info
    from gcttt.presets import backbone_config, get_preset
    from gcttt.selection import SelectionConfig, Selector
    from workers.gpu_share import estimate_for_checkpoint
except ModuleNotFoundError as exc:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(
        f"gpu_check: error: the Python package {exc.name!r} is not installed here: carry a wheel of it for "
        f"Python {python} on {platform.machine()} and `pip install --no-index WHEEL` first (docs/benchmarks.md)",
        file=sys.stderr,
    )
    sys.exit(2)

MAZE = "pointmaze-medium-navigate-v0"
SHARES = {"data": 0.08, "updates": 0.30, "pretrain": 0.12, "episodes": 0.22, "workers": 0.28}
"""Each section's share of the budget."""


# --- the synthetic world (no mujoco needed) ---------------------------------------------------


class _Space:
    def seed(self, seed: int) -> None:
        pass


class SyntheticPointEnv:
    """A 2-D point mass on [0, 10]^2: x <- clip(x + 0.2 * clip(a, -1, 1)); success within 0.5 of
    the goal (terminates). Five fixed tasks, like OGBench's (reset options: task_id 1-5)."""

    TASKS = (((1, 1), (9, 9)), ((9, 1), (1, 9)), ((1, 5), (9, 5)), ((5, 9), (5, 1)), ((2, 8), (8, 3)))

    def __init__(self, max_episode_steps: int):
        self.spec = SimpleNamespace(max_episode_steps=max_episode_steps)
        self.action_space = _Space()
        self.unwrapped = self
        self.x = np.zeros(2, np.float32)
        self.goal = np.zeros(2, np.float32)

    def reset(self, seed: int | None = None, options: dict | None = None):
        rng = np.random.default_rng(seed)
        start, goal = self.TASKS[(options or {}).get("task_id", 1) - 1]
        self.x = (np.asarray(start, np.float32) + rng.normal(0, 0.1, 2)).astype(np.float32)
        self.goal = np.asarray(goal, np.float32)
        return self.x.copy(), {"goal": self.goal.copy()}

    def step(self, action):
        self.x = np.clip(self.x + 0.2 * np.clip(action, -1, 1), 0, 10).astype(np.float32)
        success = bool(np.linalg.norm(self.x - self.goal) < 0.5)
        return self.x.copy(), float(success), success, False, {"success": success}


def synthetic_dataset(episodes: int, length: int, seed: int = 0) -> OfflineData:
    """Noisy goal-reaching trajectories of `SyntheticPointEnv` (a new random goal when reached),
    stored as OGBench stores them: one row per observation, terminals on each trajectory's end."""
    rng = np.random.default_rng(seed)
    obs = np.zeros((episodes, length, 2), np.float32)
    act = np.zeros((episodes, length, 2), np.float32)
    for e in range(episodes):
        x, goal = rng.uniform(0, 10, 2), rng.uniform(0, 10, 2)
        for t in range(length):
            if np.linalg.norm(goal - x) < 0.5:
                goal = rng.uniform(0, 10, 2)
            direction = (goal - x) / (np.linalg.norm(goal - x) + 1e-8)
            a = np.clip(direction + rng.normal(0, 0.5, 2), -1, 1)
            obs[e, t], act[e, t] = x, a
            x = np.clip(x + 0.2 * a, 0, 10)
    terminals = np.zeros((episodes, length), bool)
    terminals[:, -1] = True
    return OfflineData(observations=obs.reshape(-1, 2), actions=act.reshape(-1, 2), terminals=terminals.reshape(-1))


@dataclass
class World:
    """The dataset and a way to make its evaluation env."""

    kind: str
    """'pointmaze' (the repo's generator and OGBench's env) or 'synthetic'."""
    train: OfflineData
    episode_steps: int
    data_dir: str = ""

    def make_env(self):
        if self.kind == "synthetic":
            return SyntheticPointEnv(self.episode_steps)
        from gcttt.data.access import make_env

        return make_env(dataset_info(MAZE))


def have_ogbench() -> str:
    """'' when ogbench and mujoco import, else what is missing."""
    missing = []
    for name in ("mujoco", "ogbench"):
        try:
            __import__(name)
        except Exception:
            missing.append(name)
    return ", ".join(missing)


def build_world(args, report: dict) -> World:
    missing = have_ogbench()
    if args.synthetic or missing:
        if missing:
            print(f"gpu_check: {missing} not importable: using the synthetic point-mass world", flush=True)
        world = World("synthetic", synthetic_dataset(args.data_episodes, args.data_length), args.episode_steps)
    else:
        from gcttt.data.access import load_datasets
        from gcttt.datagen.generation import generate_dataset

        root = tempfile.mkdtemp(prefix="gpu-check-data-")
        generate_dataset(
            MAZE,
            root,
            episodes=args.data_episodes,
            max_episode_steps=args.data_length,
            workers=args.gen_workers,
            progress=False,
        )
        train, _ = load_datasets(MAZE, root)
        world = World("pointmaze", train, args.episode_steps, root)
    report["world"] = world.kind
    report["missing_packages"] = missing
    report["rows"] = int(world.train.num_rows)
    return world


# --- updates/s ---------------------------------------------------------------------------------


def scale_config(backbone: str, scale: str):
    return backbone_config(backbone, dataset_info(MAZE), get_preset(scale))


def measure_updates(backbone: str, scale: str, mode: str, data: TransitionData, seconds: float) -> dict:
    """Updates/s of pre-training updates in `mode`; set-up (compile, capture) timed apart."""
    device = data.device
    agent = make_agent(backbone, scale_config(backbone, scale), 2, 2, device=device)
    sampler = GoalSampler(data, agent.sampler_config(), torch.Generator(device).manual_seed(0))
    started = time.perf_counter()
    if mode == "graph":
        graphed = GraphedUpdates(agent, sampler)
        step = graphed.pretrain_step
    elif mode == "compiled":
        compiled = agent.compiled_update()

        def step():
            return compiled(sampler.sample())
    else:

        def step():
            return agent.update(sampler.sample())

    for _ in range(3):
        step()
    sync(device)
    setup = time.perf_counter() - started
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            step()
        n += 10
        sync(device)
    out = {"updates_per_s": n / (time.perf_counter() - start), "setup_s": setup, "updates": n}
    if mode == "graph" and graphed.failed:
        out["fell_back"] = graphed.failed
    if mode == "compiled" and getattr(agent, "compile_failed", False):
        out["fell_back"] = "torch.compile failed"
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- pre-training and episodes -------------------------------------------------------------------


def pretrain_briefly(scale: str, data: TransitionData, seconds: float, max_steps: int) -> tuple[dict, dict]:
    device = data.device
    agent = make_agent("gciql", scale_config("gciql", scale), 2, 2, device=device)
    sampler = GoalSampler(data, agent.sampler_config(), torch.Generator(device).manual_seed(0))
    graphed = GraphedUpdates(agent, sampler) if device.type == "cuda" else None
    agent.train_mode(True)
    start, steps, metrics = time.perf_counter(), 0, {}
    while steps < max_steps and time.perf_counter() - start < seconds:
        metrics = graphed.pretrain_step() if graphed else agent.update(sampler.sample())
        steps += 1
    sync(device)
    elapsed = time.perf_counter() - start
    info = {
        "steps": steps,
        "seconds": elapsed,
        "updates_per_s": steps / max(elapsed, 1e-9),
        "losses": {k: float(v) for k, v in metrics.items() if "loss" in k},
        "mode": "graph" if graphed and not graphed.failed else "eager",
    }
    return agent.state_dict(), info


class RecordingSelector:
    """A selector that keeps the indices of its first selection in each episode."""

    def __init__(self, selector: Selector):
        self.selector = selector
        self.first: torch.Tensor | None = None

    def begin_episode(self, goal: torch.Tensor) -> None:
        self.first = None
        self.selector.begin_episode(goal)

    def select(self, state: torch.Tensor):
        selection = self.selector.select(state)
        if self.first is None:
            self.first = selection.indices.cpu()
        return selection


class EpisodePlayer:
    """Agent, data, sampler, selector and env on one device; plays GC-TTT episodes by spec."""

    def __init__(self, state: dict, world: World, device: str, ttt: TTTConfig):
        self.device = torch.device(device)
        self.agent = agent_from_state(state, self.device)
        self.agent.train_mode(False)
        self.pretrained = self.agent.snapshot()
        self.data = TransitionData.from_offline(world.train, self.device)
        self.sampler = GoalSampler(self.data, self.agent.sampler_config(), torch.Generator(self.device).manual_seed(0))
        self.selection_generator = torch.Generator(self.device).manual_seed(0)
        self.selector = Selector(
            ttt.selection, self.data, (0, 1), self.agent.value, self.agent.discount, self.selection_generator
        )
        self.recorder = RecordingSelector(self.selector)
        self.updates = GraphedUpdates(self.agent, self.sampler) if self.device.type == "cuda" else None
        self.env = world.make_env()
        self.world = world
        self.ttt = ttt

    def play(self, task_id: int, index: int = 0) -> dict:
        seed = episode_seed(0, task_id, index)
        self.sampler.generator.manual_seed(seed)
        self.selection_generator.manual_seed(seed + 1)
        self.agent.generator.manual_seed(seed + 2)
        self.agent.restore(self.pretrained)
        trainer = TestTimeTrainer(
            self.agent,
            self.pretrained,
            self.sampler,
            self.recorder,
            self.ttt,
            self.world.episode_steps,
            updates=self.updates,
        )
        outcome = play_episode(self.env, trainer, {"task_id": task_id}, seed, max_steps=self.world.episode_steps)
        self.agent.restore(self.pretrained)
        return {
            "task_id": task_id,
            "success": outcome.success,
            "steps": outcome.steps,
            "seconds": outcome.seconds,
            "updates": trainer.stats.updates,
            "first_selection": self.recorder.first,
        }


def selection_agreement(state: dict, world: World, devices: list[str], queries: int, ttt: TTTConfig) -> dict:
    """Selections of the same (state, goal) queries on each device: identical index sets?"""
    rng = np.random.default_rng(0)
    rows = rng.integers(0, world.train.num_rows, size=(queries, 2))
    selections: dict[str, list[torch.Tensor]] = {}
    for device in devices:
        player = EpisodePlayer(state, world, device, ttt)
        out = []
        for s, g in rows:
            obs = torch.as_tensor(world.train.observations[s], device=player.device)
            goal = torch.as_tensor(world.train.observations[g], device=player.device).reshape(1, -1)
            player.selector.begin_episode(goal)
            out.append(torch.sort(player.selector.select(obs).indices.cpu()).values)
        selections[device] = out
    if len(devices) < 2:
        return {"queries": queries, "compared": False, "sizes": [len(x) for x in selections[devices[0]]]}
    a, b = (selections[d] for d in devices)
    same = [bool(torch.equal(x, y)) for x, y in zip(a, b, strict=True)]
    return {"queries": queries, "compared": True, "identical": sum(same), "sizes": [len(x) for x in a]}


def run_episodes(state: dict, world: World, device: str, ttt: TTTConfig, tasks: list[int], deadline: float) -> dict:
    player = EpisodePlayer(state, world, device, ttt)
    episodes, start = [], time.perf_counter()
    for task in tasks:
        if time.perf_counter() > deadline and episodes:
            break
        episodes.append(player.play(task))
    seconds = time.perf_counter() - start
    return {
        "episodes": episodes,
        "success_rate": float(np.mean([e["success"] for e in episodes])) if episodes else None,
        "episodes_per_s": len(episodes) / max(seconds, 1e-9),
        "seconds": seconds,
        "graph": bool(player.updates and not player.updates.failed),
    }


# --- workers sharing the device ---------------------------------------------------------------


def _worker(state_path: str, world: World, device: str, ttt: TTTConfig, index: int, ready, go, results, stop_at):
    """One worker process: build, wait for the start signal, play episodes until its deadline."""
    try:
        torch.set_num_threads(1)
        state = torch.load(state_path, weights_only=False)
        player = EpisodePlayer(state, world, device, ttt)
        player.play(1, index=10_000 + index)  # warm-up (graph capture), not timed
        ready.put(index)
        go.wait()
        start, done, steps = time.perf_counter(), 0, 0
        while time.time() < stop_at.value and done < 1000:
            out = player.play(1 + (index + done) % 5, index=done)
            done, steps = done + 1, steps + out["steps"]
        memory = {}
        if player.device.type == "cuda":
            memory = {
                "cuda_max_allocated": int(torch.cuda.max_memory_allocated(player.device)),
                "cuda_max_reserved": int(torch.cuda.max_memory_reserved(player.device)),
            }
        results.put(
            {"index": index, "episodes": done, "env_steps": steps, "seconds": time.perf_counter() - start, **memory}
        )
    except Exception as exc:  # reported, never hangs the parent
        ready.put(index)
        results.put({"index": index, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:]})


def run_workers(state: dict, world: World, device: str, ttt: TTTConfig, count: int, seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "agent.pt")
        torch.save(state, path)
        ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        build_deadline = time.time() + max(30.0, seconds)
        stop_at = ctx.Value("d", 0.0)  # set once every worker is up
        procs = [
            ctx.Process(target=_worker, args=(path, world, device, ttt, i, ready, go, results, stop_at), daemon=True)
            for i in range(count)
        ]
        started = time.perf_counter()
        for p in procs:
            p.start()
        up = 0
        while up < count and time.time() < build_deadline:
            try:
                ready.get(timeout=1.0)
                up += 1
            except Exception:
                if not any(p.is_alive() for p in procs):
                    break
        startup = time.perf_counter() - started
        stop_at.value = time.time() + seconds
        go.set()
        out = []
        for _ in range(up):
            try:
                out.append(results.get(timeout=seconds + 120))
            except Exception:
                break
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    errors = [r["error"] for r in out if "error" in r]
    good = [r for r in out if "error" not in r]
    wall = max((r["seconds"] for r in good), default=0.0)
    episodes = sum(r["episodes"] for r in good)
    return {
        "workers": count,
        "started": up,
        "startup_s": startup,
        "episodes": episodes,
        "episodes_per_s": episodes / wall if wall else 0.0,
        "env_steps_per_s": sum(r["env_steps"] for r in good) / wall if wall else 0.0,
        "per_worker": good,
        "errors": errors[:3],
    }


# --- driver --------------------------------------------------------------------------------------


# argparse, not tyro like the other entry points: the GPU image has no tyro (bench/gpu_image/packages.txt).
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="gpu_check.json", help="the JSON report (default: gpu_check.json)")
    p.add_argument("--budget", type=float, default=None, help="seconds for all sections (default: 540; --quick: 10)")
    p.add_argument("--quick", action="store_true", help="tiny sizes and budget: a smoke run of about 20 s on a CPU")
    p.add_argument("--synthetic", action="store_true", help="use the synthetic world even where ogbench works")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cuda or cpu")
    p.add_argument("--workers", type=int, nargs="+", default=None, help="worker counts (default: 1 4 16)")
    p.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    p.add_argument("--scales", nargs="+", default=None, help="presets for updates/s (default: cpu paper)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = p.parse_args(argv)
    q = args.quick
    if args.budget is None:
        args.budget = 10.0 if q else 540.0
    args.scales = args.scales or (["smoke"] if q else ["cpu", "paper"])
    args.pretrain_scales = ["smoke"] if q else ["cpu", "paper"]
    args.episode_scale = "smoke" if q else "cpu"
    args.worker_scale = "smoke" if q else None  # None: paper on CUDA, cpu on the CPU
    args.data_episodes = 6 if q else 100
    args.data_length = 101 if q else 1001
    args.episode_steps = 30 if q else 1000
    args.gen_workers = min(8, os.cpu_count() or 1)
    args.window = 0.2 if q else 2.0
    args.workers = args.workers or ([1] if q else [1, 4, 16])
    args.tasks = [1, 2] if q else [1, 2, 3, 4, 5]
    args.queries = 4 if q else 30
    return args


def ttt_config(steps: int, horizon: int, episode_steps: int) -> TTTConfig:
    return TTTConfig(horizon=min(horizon, episode_steps), steps=steps, lr=3e-4, selection=SelectionConfig())


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    deadline = t0 + args.budget
    cuda = torch.cuda.is_available() and args.device != "cpu"
    device = "cuda" if cuda else "cpu"
    if not cuda:
        print("gpu_check: no CUDA device: running the CPU half only", flush=True)
    report: dict = {
        "meta": {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.machine()})",
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "budget_s": args.budget,
            "quick": args.quick,
            "cuda_available": cuda,
        },
        "sections": {},
    }
    sections = report["sections"]
    elapsed = 0.0

    def section_deadline(name: str) -> float:
        # Its share, but never eating into half the shares of the sections after it.
        later = list(SHARES)[list(SHARES).index(name) + 1 :]
        reserve = 0.5 * sum(SHARES[n] for n in later) * args.budget
        return min(deadline - reserve, time.perf_counter() + SHARES[name] * args.budget)

    def record(name: str, fn):
        start = time.perf_counter()
        try:
            sections[name] = fn()
            sections[name]["status"] = "ok"
        except Exception as exc:
            sections[name] = {"status": f"failed: {type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-1500:]}
        sections[name]["seconds"] = time.perf_counter() - start
        print(f"gpu_check: {name} {sections[name]['status']} in {sections[name]['seconds']:.1f} s", flush=True)

    holder: dict = {}

    def data_section():
        out: dict = {}
        holder["world"] = build_world(args, out)
        holder["data"] = TransitionData.from_offline(holder["world"].train, device)
        holder["cpu_data"] = TransitionData.from_offline(holder["world"].train, "cpu")
        return out

    def updates_section():
        end = section_deadline("updates")
        modes = ["eager", "compiled", "graph"] if cuda else ["eager", "compiled"]
        if args.quick:
            modes = [m for m in modes if m != "compiled"]
        rows, skipped = [], []
        # Compiling takes tens of seconds per model: every eager and graph rate comes first.
        order = [m for m in modes if m != "compiled"] + [m for m in modes if m == "compiled"]
        for mode in order:
            for scale in args.scales:
                for backbone in args.backbones:
                    need = args.window + (60.0 if mode == "compiled" else 2.0)
                    if time.perf_counter() + need > end:
                        skipped.append(f"{scale}/{backbone}/{mode}")
                        continue
                    rows.append(
                        {"scale": scale, "backbone": backbone, "mode": mode, "device": device}
                        | measure_updates(backbone, scale, mode, holder["data"], args.window)
                    )
        return {"rows": rows, "skipped_for_budget": skipped, "window_s": args.window}

    def pretrain_section():
        end = section_deadline("pretrain")
        out = {}
        scales = args.pretrain_scales
        for i, scale in enumerate(scales):
            seconds = (end - time.perf_counter()) / (len(scales) - i)
            holder[scale], out[scale] = pretrain_briefly(scale, holder["data"], seconds, 100_000)
        return out

    def episodes_section():
        end = section_deadline("episodes")
        steps = 4 if args.quick else 50
        ttt = ttt_config(steps, 100, args.episode_steps)
        world, state = holder["world"], holder[args.episode_scale]
        devices = ["cuda", "cpu"] if cuda else ["cpu"]
        out = {
            "scale": args.episode_scale,
            "ttt": {"K": ttt.horizon, "N": ttt.steps, "lr": ttt.lr, "selection": ttt.selection.strategy},
        }
        out["selection_agreement"] = selection_agreement(state, world, devices, args.queries, ttt)
        runs = {}
        for i, dev in enumerate(devices):
            runs[dev] = run_episodes(
                state,
                world,
                dev,
                ttt,
                args.tasks,
                time.perf_counter() + (end - time.perf_counter()) / (len(devices) - i),
            )
        if cuda:
            pairs = list(zip(runs["cuda"]["episodes"], runs["cpu"]["episodes"], strict=False))
            out["first_replan_identical"] = sum(
                bool(
                    a["first_selection"] is not None
                    and b["first_selection"] is not None
                    and torch.equal(torch.sort(a["first_selection"]).values, torch.sort(b["first_selection"]).values)
                )
                for a, b in pairs
            )
            out["episodes_compared"] = len(pairs)
        for run in runs.values():
            for e in run["episodes"]:
                e["first_selection"] = None if e["first_selection"] is None else len(e["first_selection"])
        out["runs"] = runs
        out["success_rates"] = {d: r["success_rate"] for d, r in runs.items()}
        return out

    def workers_section():
        end = section_deadline("workers")
        scale = args.worker_scale or ("paper" if cuda else "cpu")
        steps = 4 if args.quick else (200 if cuda else 50)
        ttt = ttt_config(steps, 100, args.episode_steps)
        world, state = holder["world"], holder[scale]
        transitions = int((~world.train.terminals).sum())
        estimate = estimate_for_checkpoint(state, rows=world.train.num_rows, transitions=transitions)
        out = {"scale": scale, "ttt": {"K": ttt.horizon, "N": ttt.steps}, "estimate_bytes": estimate.total, "runs": []}
        counts = list(args.workers)
        for i, count in enumerate(counts):
            left = end - time.perf_counter()
            window = max(1.0, left / (len(counts) - i) - (25.0 if not args.quick else 0.0))
            if left < 2.0:
                out["runs"].append({"workers": count, "skipped": "budget"})
                continue
            out["runs"].append(run_workers(state, world, device, ttt, count, window))
        return out

    record("data", data_section)
    if sections["data"]["status"] == "ok":
        record("updates", updates_section)
        record("pretrain", pretrain_section)
        if sections["pretrain"]["status"] == "ok":
            record("episodes", episodes_section)
            record("workers", workers_section)
    elapsed = time.perf_counter() - t0
    report["meta"]["total_s"] = elapsed
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(f"gpu_check: report in {args.out} ({elapsed:.0f} s)", flush=True)
    failed = [n for n, s in sections.items() if s["status"] != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
