"""Training the ant expert with SAC on the directional task (`gcttt expert train ant`).

OGBench's loop (data_gen_scripts/main_sac.py): 10k uniformly random actions first, then one
update per env step on a batch of 256 from the replay buffer, actions sampled from the policy;
400k env steps for the ant. The run directory holds ``latest.pt`` (agent, optimizer, step,
RNG states and the replay buffer, written atomically every `save_every` steps), so a killed run
continues where its last save left off, and ``actor.pt`` plus ``manifest.json`` at the end.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from gcttt.datagen.expert.directional import ACTION_DIM, EPISODE_STEPS, OBS_DIM, DirectionalAnt
from gcttt.datagen.expert.sac import SACAgent, SACConfig
from gcttt.errors import UsageError
from gcttt.files.fileio import atomic_write_bytes, torch_save_atomic


@dataclass(frozen=True)
class ExpertTrainConfig:
    """One SAC run on the directional ant task."""

    steps: int = 400_000
    """Env steps (one update each after the random phase), OGBench's 400k for the ant."""
    random_steps: int = 10_000
    """Env steps of uniformly random actions before the first update."""
    seed: int = 0
    """Seed of the weights, the env and the replay sampling."""
    eval_every: int = 50_000
    """Env steps between evaluations (0: only at the end)."""
    eval_episodes: int = 10
    """Episodes per periodic evaluation (the final check uses 50)."""
    save_every: int = 20_000
    """Env steps between resumable saves."""
    out: str = "runs/expert/ant"
    """Run directory."""
    device: str = "cpu"
    """cpu or cuda."""

    def __post_init__(self) -> None:
        for name in ("steps", "save_every", "eval_episodes"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        for name in ("random_steps", "eval_every"):
            if getattr(self, name) < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be 0 or more (got {getattr(self, name)})")


@dataclass(frozen=True)
class DirectionalScore:
    """How well a policy follows commanded directions."""

    speed: float
    """Mean displacement along the commanded direction per second (m/s)."""
    early_termination_rate: float
    """Share of episodes that ended before the step limit (the torso left [0.2, 1.0])."""
    episodes: int


@torch.no_grad()
def evaluate_directional(actor, episodes: int, seed: int, device="cpu") -> DirectionalScore:
    """Deterministic actions (tanh of the mean) on `episodes` directional episodes."""
    env = DirectionalAnt()
    distance, seconds, early = 0.0, 0.0, 0
    for i in range(episodes):
        obs = env.reset(seed=seed + i)
        for _ in range(EPISODE_STEPS):
            action = actor.deterministic(torch.as_tensor(obs, device=device).unsqueeze(0))[0].cpu().numpy()
            obs, reward, terminated, truncated = env.step(action)
            distance += reward
            seconds += env.dt
            if terminated or truncated:
                break
        early += int(terminated)
    return DirectionalScore(speed=distance / seconds, early_termination_rate=early / episodes, episodes=episodes)


class ReplayBuffer:
    """Preallocated transitions (as many as the run has env steps), sampled uniformly."""

    def __init__(self, capacity: int, device: torch.device):
        self.arrays = {
            "obs": torch.zeros(capacity, OBS_DIM),
            "actions": torch.zeros(capacity, ACTION_DIM),
            "rewards": torch.zeros(capacity),
            "masks": torch.zeros(capacity),
            "next_obs": torch.zeros(capacity, OBS_DIM),
        }
        self.size = 0
        self.device = device

    def add(self, obs, action, reward, mask, next_obs) -> None:
        i = self.size
        a = self.arrays
        a["obs"][i] = torch.from_numpy(obs)
        a["actions"][i] = torch.from_numpy(action)
        a["rewards"][i] = reward
        a["masks"][i] = mask
        a["next_obs"][i] = torch.from_numpy(next_obs)
        self.size += 1

    def sample(self, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
        idx = torch.randint(self.size, (batch_size,), generator=generator)
        a = self.arrays
        return [a[k][idx].to(self.device) for k in ("obs", "actions", "rewards", "masks", "next_obs")]

    def state(self) -> dict[str, Any]:
        return {"size": self.size, **{k: v[: self.size].clone() for k, v in self.arrays.items()}}

    def load(self, state: dict[str, Any]) -> None:
        self.size = int(state["size"])
        for k, v in self.arrays.items():
            v[: self.size] = state[k]


def train_expert(config: ExpertTrainConfig, command: str = "", progress: bool = True) -> Path:
    """Train (or resume, or find finished) the SAC ant expert; returns the run directory."""
    from gcttt.files.provenance import file_fingerprint, git_sha, versions

    out = Path(config.out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory")
    if (out / "actor.pt").exists():
        print(f"gcttt expert train: {out} is finished (actor.pt exists)", file=sys.stderr)
        return out
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(config.device)
    agent = SACAgent(OBS_DIM, ACTION_DIM, SACConfig(), seed=config.seed, device=device)
    buffer = ReplayBuffer(config.steps, device)
    sample_gen = torch.Generator().manual_seed(config.seed + 2)
    action_rng = np.random.default_rng(config.seed + 3)
    env = DirectionalAnt()
    step, episode, history = 0, 0, []
    latest = out / "latest.pt"
    if latest.exists():
        saved = torch.load(latest, map_location="cpu", weights_only=False)
        same = ("steps", "random_steps", "seed", "eval_every", "eval_episodes", "save_every")
        if any(saved["config"][k] != getattr(config, k) for k in same):
            raise UsageError(f"{latest} was written by a run with other settings; delete {out} to start over")
        agent.load_state_dict(saved["agent"])
        buffer.load(saved["buffer"])
        sample_gen.set_state(saved["sample_generator"])
        action_rng.bit_generator.state = saved["action_rng"]
        step, episode, history = saved["step"], saved["episode"], saved["history"]
        print(f"gcttt expert train: resuming {out} from step {step}", file=sys.stderr)
    obs = env.reset(seed=config.seed * 1_000_003 + episode)

    def save() -> None:
        torch_save_atomic(
            latest,
            {
                "config": asdict(config),
                "agent": agent.state_dict(),
                "buffer": buffer.state(),
                "sample_generator": sample_gen.get_state(),
                "action_rng": action_rng.bit_generator.state,
                "step": step,
                "episode": episode,
                "history": history,
            },
        )

    started = time.perf_counter()
    bar = tqdm(total=config.steps, initial=step, desc="SAC ant", unit="step", disable=not progress, smoothing=0.05)
    ep_return, ep_len, recent_speed = 0.0, 0, []
    metrics: dict[str, torch.Tensor] = {}
    try:
        while step < config.steps:
            if step < config.random_steps:
                action = action_rng.uniform(-1.0, 1.0, ACTION_DIM).astype(np.float32)
            else:
                action = agent.explore(torch.as_tensor(obs, device=device).unsqueeze(0))[0].cpu().numpy()
            next_obs, reward, terminated, truncated = env.step(action)
            buffer.add(obs, action, reward, float(not terminated), next_obs)
            obs = next_obs
            ep_return += reward
            ep_len += 1
            step += 1
            if terminated or truncated:
                recent_speed = [*recent_speed[-9:], ep_return / (ep_len * env.dt)]
                episode += 1
                obs = env.reset(seed=config.seed * 1_000_003 + episode)
                ep_return, ep_len = 0.0, 0
            if buffer.size >= config.random_steps:
                metrics = agent.update(*buffer.sample(agent.config.batch_size, sample_gen))
            bar.update()
            if step % 1000 == 0 and metrics:
                bar.set_postfix(
                    speed=f"{np.mean(recent_speed) if recent_speed else 0.0:.2f}m/s",
                    alpha=f"{float(metrics['alpha']):.3f}",
                    q=f"{float(metrics['q_mean']):.1f}",
                )
            if (config.eval_every and step % config.eval_every == 0) or step == config.steps:
                score = evaluate_directional(agent.actor, config.eval_episodes, seed=10_000_000 + step, device=device)
                history.append({"step": step, "seconds": time.perf_counter() - started, **asdict(score)})
                bar.write(
                    f"step {step}: speed along the command {score.speed:.3f} m/s, "
                    f"early terminations {score.early_termination_rate:.0%} ({score.episodes} episodes)"
                )
                with (out / "history.jsonl").open("a") as f:
                    f.write(json.dumps(history[-1]) + "\n")
            if step % config.save_every == 0 or step == config.steps:
                save()
    finally:
        bar.close()
    actor_state = {k: v.detach().cpu() for k, v in agent.actor.state_dict().items()}
    config_dict = asdict(agent.config)
    config_dict["hidden"] = list(config_dict["hidden"])
    torch_save_atomic(out / "actor.pt", {"config": config_dict, "actor": actor_state})
    manifest = {
        "actor_fingerprint": file_fingerprint(out / "actor.pt"),
        "format": "gcttt-expert-v1",
        "task": "ant, directional (OGBench online-ant-v0, new direction every 100 steps)",
        "command": command,
        "seed": config.seed,
        "steps": config.steps,
        "train_config": asdict(config),
        "sac_config": asdict(agent.config),
        "git_sha": git_sha(),
        "versions": versions(),
        "training_history": history,
    }
    atomic_write_bytes(out / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return out
