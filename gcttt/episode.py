"""Playing one OGBench evaluation episode with a controller.

The protocol is OGBench's (SPEC §3): ``env.reset(options=dict(task_id=k))`` for k in 1..5, the
goal is ``info['goal']`` (a full observation), the episode ends at the env's limit or on
success (the env terminates there), and success is ``info['success']`` at the end.

A controller turns observations into actions; `PolicyController` simply asks a backbone for its
deterministic action, while test-time training (`gcttt.ttt`) also fine-tunes between steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from gcttt.agents.base import Agent


def episode_seed(seed: int, task_id: int, episode_index: int) -> int:
    """A 32-bit seed that depends only on (seed, task, episode index)."""
    return int(np.random.SeedSequence([seed, task_id, episode_index]).generate_state(1)[0])


class Controller(Protocol):
    """Chooses actions during one episode."""

    def begin(self, observation: np.ndarray, goal: np.ndarray) -> None:
        """Called once after reset, with the first observation and the task's goal."""

    def act(self, observation: np.ndarray, step: int) -> np.ndarray:
        """The action at `step` (0-based)."""


class PolicyController:
    """The pre-trained policy as it is: deterministic actions, no test-time training."""

    def __init__(self, agent: Agent):
        self.agent = agent
        self.goal: torch.Tensor | None = None
        self.act_seconds = 0.0
        self.act_calls = 0

    def begin(self, observation: np.ndarray, goal: np.ndarray) -> None:
        self.goal = torch.as_tensor(goal, dtype=torch.float32, device=self.agent.device).unsqueeze(0)

    def act(self, observation: np.ndarray, step: int) -> np.ndarray:
        start = time.perf_counter()
        obs = torch.as_tensor(observation, dtype=torch.float32, device=self.agent.device).unsqueeze(0)
        action = self.agent.act(obs, self.goal)[0].cpu().numpy()
        self.act_seconds += time.perf_counter() - start
        self.act_calls += 1
        return action


@dataclass(frozen=True)
class EpisodeOutcome:
    """What the env says about one episode."""

    success: bool
    steps: int
    seconds: float
    """Wall time of the whole episode, env steps included."""


def play_episode(env, controller: Controller, task_id: int, seed: int, max_steps: int | None = None) -> EpisodeOutcome:
    """Play task `task_id` once; `seed` fixes the env's start noise.

    OGBench's envs draw their start noise from NumPy's global RNG as well as their own, so
    both are seeded from `seed`.
    """
    start = time.perf_counter()
    np.random.seed(seed)
    observation, info = env.reset(seed=seed, options=dict(task_id=task_id))
    controller.begin(observation, info["goal"])
    limit = max_steps or env.spec.max_episode_steps
    success, steps = False, 0
    for step in range(limit):
        observation, _, terminated, truncated, info = env.step(controller.act(observation, step))
        steps = step + 1
        success = bool(info["success"])
        if terminated or truncated:
            break
    return EpisodeOutcome(success=success, steps=steps, seconds=time.perf_counter() - start)
