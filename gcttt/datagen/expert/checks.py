"""What an ant expert must show before its datasets mean anything (`gcttt expert check ant`).

1. Directional control: mean speed along the commanded direction and the early-termination rate
   over `episodes` deterministic episodes of the training task.
2. Maze navigation: the expert driven by OGBench's BFS oracle (the direction to the next cell on
   the shortest path, as in data generation, noise off; in the goal's own cell, the direction to
   the goal itself) on antmaze-medium's 5 evaluation tasks, judged by the env's own success test
   (within 0.5 of the goal). OGBench's data is only meaningful if this succeeds almost always
   (the bar: 95%).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from gcttt.datagen.expert.shipped import ExpertPolicy
from gcttt.datagen.expert.train import evaluate_directional

MAZE_BAR = 0.95
"""Success the expert must reach with the oracle on antmaze-medium."""


@dataclass(frozen=True)
class ExpertReport:
    speed: float
    """m/s along the commanded direction (deterministic actions)."""
    early_termination_rate: float
    directional_episodes: int
    maze: str
    maze_success: float
    maze_success_per_task: list[float]
    maze_episodes_per_task: int
    seconds: float

    @property
    def passed(self) -> bool:
        return self.maze_success >= MAZE_BAR

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed, "maze_bar": MAZE_BAR}


def maze_success(expert: ExpertPolicy, maze: str, episodes_per_task: int, seed: int = 0) -> list[float]:
    """Per-task success of expert + BFS oracle on `maze`'s 5 evaluation tasks (no action noise)."""
    from gcttt.control.episode import play_episode
    from gcttt.data.access import make_env
    from gcttt.seeding import derive_seed

    env = make_env(maze)
    unwrapped = env.unwrapped

    class OracleDriven:
        def begin(self, observation, goal):
            pass

        def act(self, observation, step):
            xy, goal = unwrapped.get_xy(), np.asarray(unwrapped.cur_goal_xy)
            subgoal, _ = unwrapped.get_oracle_subgoal(xy, goal)
            if unwrapped.xy_to_ij(xy) == unwrapped.xy_to_ij(goal):
                # In the goal's cell the BFS oracle points at the cell's centre, but the goal is
                # placed with noise and must be reached within 0.5: head for the goal itself.
                subgoal = goal
            direction = (subgoal - xy) / (np.linalg.norm(subgoal - xy) + 1e-6)
            return np.clip(expert(np.asarray(observation)[2:], direction), -1.0, 1.0)

    rates = []
    for task in range(1, 6):
        wins = [
            play_episode(env, OracleDriven(), {"task_id": task}, derive_seed(seed, task, i)).success
            for i in range(episodes_per_task)
        ]
        rates.append(float(np.mean(wins)))
    return rates


def check_expert(expert: ExpertPolicy, episodes: int = 50, maze_episodes: int = 10, seed: int = 0) -> ExpertReport:
    started = time.perf_counter()
    torch.set_grad_enabled(False)
    try:
        score = evaluate_directional(expert.actor, episodes, seed=20_000_000 + seed)
        per_task = maze_success(expert, "antmaze-medium-navigate-v0", maze_episodes, seed)
    finally:
        torch.set_grad_enabled(True)
    return ExpertReport(
        speed=score.speed,
        early_termination_rate=score.early_termination_rate,
        directional_episodes=score.episodes,
        maze="antmaze-medium-v0",
        maze_success=float(np.mean(per_task)),
        maze_success_per_task=per_task,
        maze_episodes_per_task=maze_episodes,
        seconds=time.perf_counter() - started,
    )
