"""Evaluation of a pre-trained policy on a dataset's 5 OGBench tasks (docs/method.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gcttt.agents.base import Agent
from gcttt.control.episode import PolicyController, episode_seed, play_episode

TASK_IDS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class TaskResult:
    task_id: int
    successes: tuple[bool, ...]

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes))


def evaluate_policy(
    agent: Agent, env, episodes_per_task: int, seed: int = 0, task_ids: tuple[int, ...] = TASK_IDS
) -> list[TaskResult]:
    """Success of the agent's deterministic policy, task by task."""
    was_training = agent.nets.training
    agent.train_mode(False)
    results = []
    for task_id in task_ids:
        successes = []
        for index in range(episodes_per_task):
            seed_k = episode_seed(seed, task_id, index)
            outcome = play_episode(env, PolicyController(agent), {"task_id": task_id}, seed_k)
            successes.append(outcome.success)
        results.append(TaskResult(task_id, tuple(successes)))
    agent.train_mode(was_training)
    return results


def overall_success(results: list[TaskResult]) -> float:
    return float(np.mean([s for r in results for s in r.successes]))
