"""Maze trajectories from the BFS-waypoint oracle (docs/method.md §2, OGBench's locomaze recipe).

At every step the oracle gives a unit direction: from the agent's x-y to the env's oracle
subgoal (the centre of the neighbouring cell on the BFS path to the current goal), or, for
"explore" datasets, a random direction redrawn every 10 steps. A `policy` turns the agent's
observation and that direction into an action: for the point maze the direction itself, for the
ant the locomotion expert (`gcttt.datagen.expert`). Gaussian noise is added and the action clipped to
[-1, 1]. "navigate" and "explore" episodes start in a random free cell with a random vertex goal
(navigate draws a new vertex goal each time the current one is reached); "stitch" episodes go to
a cell exactly 4 BFS steps away.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from gcttt.data.episodes import EpisodeRows


def free_cells(maze_map: np.ndarray) -> list[tuple[int, int]]:
    """All free (0) cells of the maze, row by row."""
    return [(i, j) for i in range(maze_map.shape[0]) for j in range(maze_map.shape[1]) if maze_map[i, j] == 0]


def vertex_cells(maze_map: np.ndarray) -> list[tuple[int, int]]:
    """Free cells that are not straight hallway cells (open on exactly two opposite sides)."""
    out = []
    for i, j in free_cells(maze_map):
        vertical_hall = (
            maze_map[i - 1, j] == 0
            and maze_map[i + 1, j] == 0
            and maze_map[i, j - 1] == 1
            and (maze_map[i, j + 1] == 1)
        )
        horizontal_hall = (
            maze_map[i, j - 1] == 0
            and maze_map[i, j + 1] == 0
            and maze_map[i - 1, j] == 1
            and (maze_map[i + 1, j] == 1)
        )
        if not (vertical_hall or horizontal_hall):
            out.append((i, j))
    return out


def cells_at_distance(maze_map: np.ndarray, start: tuple[int, int], steps: int) -> list[tuple[int, int]]:
    """Free cells exactly `steps` BFS steps (4-neighbourhood) from `start`."""
    dist = {start: 0}
    queue = deque([start])
    found = []
    while queue:
        i, j = queue.popleft()
        for di, dj in ((-1, 0), (0, -1), (1, 0), (0, 1)):
            ni, nj = i + di, j + dj
            inside = 0 <= ni < maze_map.shape[0] and 0 <= nj < maze_map.shape[1]
            if inside and maze_map[ni, nj] == 0 and (ni, nj) not in dist:
                dist[(ni, nj)] = dist[(i, j)] + 1
                if dist[(ni, nj)] == steps:
                    found.append((ni, nj))
                queue.append((ni, nj))
    return found


MazePolicy = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(body observation without x-y, unit direction) -> action."""


def point_policy(body: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The point mass is its own expert: it moves along the direction."""
    return direction


EXPLORE_EVERY = 10
"""Steps between random directions of explore datasets."""


def collect_maze_episode(
    env, kind: str, noise: float, rng: np.random.Generator, policy: MazePolicy = point_policy
) -> EpisodeRows:
    """Play one data-collection episode in a maze (env made with terminate_at_goal=False).

    `rng` draws our own choices (cells, directions, action noise); the caller seeds NumPy's global
    RNG too, which OGBench's env uses for its start-position noise.
    """
    unwrapped = env.unwrapped
    maze_map = unwrapped.maze_map
    cells = free_cells(maze_map)
    vertices = vertex_cells(maze_map)
    init_ij = cells[rng.integers(len(cells))]
    if kind in ("navigate", "explore"):
        goal_ij = vertices[rng.integers(len(vertices))]
    elif kind == "stitch":
        near = cells_at_distance(maze_map, init_ij, 4)
        goal_ij = near[rng.integers(len(near))] if near else init_ij
    else:
        raise ValueError(f"unsupported maze dataset kind {kind!r}")

    ob, _ = env.reset(options=dict(task_info=dict(init_ij=init_ij, goal_ij=goal_ij)))
    rows = EpisodeRows()
    done, step, direction = False, 0, None
    while not done:
        if kind == "explore":
            if step % EXPLORE_EVERY == 0:
                direction = rng.normal(size=2)
                direction = direction / (np.linalg.norm(direction) + 1e-6)
        else:
            xy = unwrapped.get_xy()
            subgoal_xy, _ = unwrapped.get_oracle_subgoal(xy, unwrapped.cur_goal_xy)
            direction = subgoal_xy - xy
            direction = direction / (np.linalg.norm(direction) + 1e-6)
        body = np.asarray(ob)[2:]  # the observation without the x-y position
        action = np.asarray(policy(body, direction), dtype=np.float64)
        action = np.clip(action + rng.normal(0.0, noise, size=action.shape), -1.0, 1.0)
        next_ob, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        success = bool(info["success"])
        rows.add(ob, action, done, info["prev_qpos"], info["prev_qvel"], success=success)
        if success and kind == "navigate":
            unwrapped.set_goal(vertices[rng.integers(len(vertices))])
        ob = next_ob
        step += 1
    return rows


def cell_coverage(maze_map: np.ndarray, xy: np.ndarray, cell_of) -> tuple[int, int, np.ndarray]:
    """(free cells visited, free cells, visits per free cell) of the positions `xy` [T, 2];
    `cell_of(xy)` is the env's own position -> (i, j) map (OGBench's `xy_to_ij`)."""
    free = free_cells(maze_map)
    index = {cell: k for k, cell in enumerate(free)}
    visits = np.zeros(len(free), dtype=np.int64)
    # Positions outside the free cells (rounding at the walls' edges) are not counted.
    for position in xy:
        k = index.get(cell_of(position))
        if k is not None:
            visits[k] += 1
    return int((visits > 0).sum()), len(free), visits
