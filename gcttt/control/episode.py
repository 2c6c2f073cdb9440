"""Playing one evaluation episode with a controller.

The protocol is OGBench's (docs/method.md §3): reset on a task (``options=dict(task_id=k)`` for OGBench's
5 tasks, ``options=dict(task_info=...)`` for held-out pairs), the goal is ``info['goal']`` (a
full observation), the episode ends at the env's limit or on success (the env terminates there),
and success is ``info['success']`` at the end.

Randomness stays local. OGBench's envs draw from three places during a reset: their own
``np_random`` (seeded by ``reset(seed=...)``), NumPy's global RNG (the mazes' start and goal
noise) and their action space (the random steps taken before the goal observation is
recorded, from a space the manipulation envs re-create unseeded on every access). `play_episode`
seeds all three from the episode seed and puts NumPy's global state back afterwards, so an
episode replays identically anywhere and the caller's global RNG is untouched.

A controller turns observations into actions; `PolicyController` asks a backbone for its
deterministic action, while test-time training (`gcttt.control.ttt`) also fine-tunes between steps.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from gcttt.agents.base import Agent
from gcttt.seeding import derive_seed


def episode_seed(seed: int, task_id: int, episode_index: int) -> int:
    """A 32-bit seed that depends only on (seed, task, episode index)."""
    return derive_seed(seed, task_id, episode_index)


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


def seedable_action_space(env):
    """The unwrapped env's action space as one persistent object that `seed()` sticks to.

    OGBench's manipulation envs define `action_space` as a property that builds a new, unseeded Box
    on every access (and sample from it during reset). Without touching OGBench's files, the
    instance gets a subclass whose property returns one Box, kept on the instance.
    """
    unwrapped = env.unwrapped
    cls = type(unwrapped)
    if isinstance(inspect.getattr_static(cls, "action_space", None), property):
        space = unwrapped.action_space
        seeded = type(cls.__name__, (cls,), {"action_space": property(lambda self: self._gcttt_action_space)})
        unwrapped._gcttt_action_space = space
        unwrapped.__class__ = seeded
    return unwrapped.action_space


def play_episode(
    env,
    controller: Controller,
    reset_options: dict[str, Any],
    seed: int,
    max_steps: int | None = None,
) -> EpisodeOutcome:
    """Play one episode from `reset_options` (task_id or task_info); `seed` fixes every random draw."""
    start = time.perf_counter()
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        seedable_action_space(env).seed(seed)
        observation, info = env.reset(seed=seed, options=reset_options)
        controller.begin(observation, info["goal"])
        limit = max_steps or env.spec.max_episode_steps
        success, steps = False, 0
        for step in range(limit):
            observation, _, terminated, truncated, info = env.step(controller.act(observation, step))
            steps = step + 1
            success = bool(info["success"])
            if terminated or truncated:
                break
    finally:
        np.random.set_state(saved)
    return EpisodeOutcome(success=success, steps=steps, seconds=time.perf_counter() - start)
