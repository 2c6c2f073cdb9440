"""Task suites: which start/goal pairs an evaluation plays.

- ``ogbench``: the dataset's 5 fixed evaluation tasks, ``env.reset(options=dict(task_id=k))``
  (docs/method.md §3): what is reported.
- ``heldout-<seed>``: start/goal pairs drawn by gcttt that are not OGBench's tasks, with similar
  difficulty, for tuning without looking at the reported tasks. Mazes: pairs of free cells whose
  BFS distance lies within the range of the 5 tasks' distances, drawn from a generator seeded
  by the suite's seed; cube tasks: random initial and goal positions of the cubes in the env's
  sampling area. Played through ``env.reset(options=dict(task_info=...))``.

A suite is reproducible for its seed: the same name always gives the same pairs.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from gcttt.envs import DatasetInfo
from gcttt.errors import UsageError

OGBENCH = "ogbench"
HELDOUT_SIZE = 10
"""Pairs in a held-out suite unless asked otherwise."""


def parse_suite(name: str) -> tuple[str, int]:
    """('ogbench', 0) or ('heldout', seed); UsageError otherwise."""
    if name == OGBENCH:
        return OGBENCH, 0
    m = re.fullmatch(r"heldout-(\d+)", name)
    if m is None:
        raise UsageError(f"unknown task suite {name!r}: use 'ogbench' or 'heldout-SEED' (e.g. heldout-0)")
    return "heldout", int(m[1])


def bfs_distances(maze_map: np.ndarray, start: tuple[int, int]) -> dict[tuple[int, int], int]:
    """BFS steps (4-neighbourhood) from `start` to every reachable free cell."""
    dist = {start: 0}
    queue = deque([start])
    while queue:
        i, j = queue.popleft()
        for di, dj in ((-1, 0), (0, -1), (1, 0), (0, 1)):
            n = (i + di, j + dj)
            if 0 <= n[0] < maze_map.shape[0] and 0 <= n[1] < maze_map.shape[1] and maze_map[n] == 0 and n not in dist:
                dist[n] = dist[(i, j)] + 1
                queue.append(n)
    return dist


def _cell(ij) -> tuple[int, int]:
    return int(ij[0]), int(ij[1])


@dataclass(frozen=True)
class TaskSuite:
    """The tasks of one suite for one env; `size` tasks numbered 1..size."""

    name: str
    infos: tuple[dict[str, Any], ...]
    """task_info dicts (held-out suites) or OGBench's own (the ogbench suite)."""

    @property
    def size(self) -> int:
        return len(self.infos)

    def reset_options(self, task_id: int) -> dict[str, Any]:
        self._check(task_id)
        if self.name == OGBENCH:
            return {"task_id": task_id}
        return {"task_info": self.infos[task_id - 1]}

    def describe(self, task_id: int) -> str:
        """The pair as text: maze cells 'i,j->i,j', cubes 'x,y->x,y' per cube."""
        self._check(task_id)
        info = self.infos[task_id - 1]
        if "init_ij" in info:
            (a, b), (c, d) = _cell(info["init_ij"]), _cell(info["goal_ij"])
            return f"{a},{b}->{c},{d}"
        if "init_xyzs" in info:
            start = ";".join(f"{x:.3f},{y:.3f}" for x, y, _ in np.asarray(info["init_xyzs"]))
            goal = ";".join(f"{x:.3f},{y:.3f}" for x, y, _ in np.asarray(info["goal_xyzs"]))
            return f"{start}->{goal}"
        return str(info.get("task_name", task_id))

    def _check(self, task_id: int) -> None:
        if not 1 <= task_id <= self.size:
            raise UsageError(f"task {task_id} is not in suite {self.name} (tasks 1-{self.size})")


def task_suite(env, info: DatasetInfo, name: str = OGBENCH, size: int = HELDOUT_SIZE) -> TaskSuite:
    """The suite `name` for `env` (an OGBench evaluation env of dataset `info`)."""
    kind, seed = parse_suite(name)
    official = tuple(env.unwrapped.task_infos)
    if kind == OGBENCH:
        return TaskSuite(OGBENCH, official)
    if size < 1:
        raise UsageError(f"a held-out suite needs at least one task (got {size})")
    rng = np.random.default_rng([seed, 7_919])
    if info.is_maze:
        infos = _heldout_maze(env.unwrapped.maze_map, official, size, rng)
    elif info.family == "cube":
        infos = _heldout_cubes(official, size, rng)
    else:
        raise UsageError(f"held-out suites exist for mazes and cube tasks, not for {info.dataset}")
    return TaskSuite(name, infos)


def _heldout_maze(maze_map: np.ndarray, official, size: int, rng: np.random.Generator) -> tuple[dict, ...]:
    taken = {(_cell(t["init_ij"]), _cell(t["goal_ij"])) for t in official}
    lengths = [bfs_distances(maze_map, _cell(t["init_ij"]))[_cell(t["goal_ij"])] for t in official]
    low, high = min(lengths), max(lengths)
    free = [(i, j) for i in range(maze_map.shape[0]) for j in range(maze_map.shape[1]) if maze_map[i, j] == 0]
    candidates = []
    for start in free:
        for goal, d in bfs_distances(maze_map, start).items():
            if low <= d <= high and (start, goal) not in taken:
                candidates.append((start, goal))
    if len(candidates) < size:
        raise UsageError(f"this maze has only {len(candidates)} held-out pairs; ask for at most that many")
    picks = rng.choice(len(candidates), size=size, replace=False)
    return tuple({"init_ij": candidates[k][0], "goal_ij": candidates[k][1]} for k in sorted(picks))


def _heldout_cubes(official, size: int, rng: np.random.Generator) -> tuple[dict, ...]:
    # The env's own sampling area for objects and targets (ogbench manipspace: x 0.3-0.55, y -0.3-0.3).
    low, high = np.array([0.3, -0.3]), np.array([0.55, 0.3])
    n_cubes = len(official[0]["init_xyzs"])
    taken = [(np.asarray(t["init_xyzs"]), np.asarray(t["goal_xyzs"])) for t in official]
    out = []
    while len(out) < size:
        init = np.concatenate([rng.uniform(low, high, (n_cubes, 2)), np.full((n_cubes, 1), 0.02)], 1)
        goal = np.concatenate([rng.uniform(low, high, (n_cubes, 2)), np.full((n_cubes, 1), 0.02)], 1)
        far_enough = np.linalg.norm(init[:, :2] - goal[:, :2], axis=1).min() > 0.1
        official_pair = any(np.allclose(init, a, atol=0.02) and np.allclose(goal, b, atol=0.02) for a, b in taken)
        if far_enough and not official_pair:
            out.append({"task_name": f"heldout{len(out) + 1}", "init_xyzs": init, "goal_xyzs": goal})
    return tuple(out)
