"""Point-maze trajectories from the BFS-waypoint oracle (SPEC §2, OGBench's locomaze recipe).

The action is the unit vector from the point's x-y to the env's oracle subgoal (the centre of the
neighbouring cell on the BFS path to the current goal), plus Gaussian noise, clipped to [-1, 1].
"navigate" episodes start in a random free cell and chase random vertex cells, drawing a new one
each time the current one is reached; "stitch" episodes go to a cell exactly 4 BFS steps away.
"""

from __future__ import annotations

from collections import deque

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


def collect_maze_episode(env, kind: str, noise: float, rng: np.random.Generator) -> EpisodeRows:
    """Play one data-collection episode in a point maze (env made with terminate_at_goal=False).

    `rng` draws our own choices (cells, action noise); the caller seeds NumPy's global RNG too,
    which OGBench's env uses for its start-position noise.
    """
    unwrapped = env.unwrapped
    maze_map = unwrapped.maze_map
    cells = free_cells(maze_map)
    vertices = vertex_cells(maze_map)
    init_ij = cells[rng.integers(len(cells))]
    if kind == "navigate":
        goal_ij = vertices[rng.integers(len(vertices))]
    elif kind == "stitch":
        near = cells_at_distance(maze_map, init_ij, 4)
        goal_ij = near[rng.integers(len(near))] if near else init_ij
    else:
        raise ValueError(f"unsupported maze dataset kind {kind!r}")

    ob, _ = env.reset(options=dict(task_info=dict(init_ij=init_ij, goal_ij=goal_ij)))
    rows = EpisodeRows()
    done = False
    while not done:
        xy = unwrapped.get_xy()
        subgoal_xy, _ = unwrapped.get_oracle_subgoal(xy, unwrapped.cur_goal_xy)
        direction = subgoal_xy - xy
        direction = direction / (np.linalg.norm(direction) + 1e-6)
        action = np.clip(direction + rng.normal(0.0, noise, size=2), -1.0, 1.0)
        next_ob, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        success = bool(info["success"])
        rows.add(ob, action, done, info["prev_qpos"], info["prev_qvel"], success=success)
        if success and kind == "navigate":
            unwrapped.set_goal(vertices[rng.integers(len(vertices))])
        ob = next_ob
    return rows
