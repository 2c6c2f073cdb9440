"""The vectorised `Selector` against plainly written loops over episodes (docs/method.md §5).

Each reference below is written from docs/method.md §5 alone, one dataset episode and one row at a time,
slow and obviously correct. Random queries over small generated datasets with unequal episode
lengths must give the same transition sets as the vectorised strategies. The value function is
a stub whose goal distance is the Euclidean distance, evaluated row by row here, so both sides
read the same distances.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gcttt.data.files import OfflineData
from gcttt.data.transitions import TransitionData
from gcttt.selection import SelectionConfig, Selector

GAMMA = 0.99
QUERIES = 150
"""Random queries per strategy."""


def stub_value(observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
    dist = torch.linalg.vector_norm(observations - goals, dim=-1)
    return -(1 - GAMMA**dist) / (1 - GAMMA)


def distance(row: np.ndarray, goal: np.ndarray) -> float:
    value = float(stub_value(torch.as_tensor(row)[None], torch.as_tensor(goal)[None])[0])
    d = math.log1p((1 - GAMMA) * value) / math.log(GAMMA) if (1 - GAMMA) * value > -1 else math.inf
    return d


def random_dataset(rng: np.random.Generator, episodes: int = 25) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Random walks in a 10 x 10 box, episode lengths 2-60 rows; returns rows and row ranges."""
    rows, ranges, start = [], [], 0
    for _ in range(episodes):
        length = int(rng.integers(2, 61))
        walk = np.clip(rng.uniform(0, 10, 2) + np.cumsum(rng.normal(0, 0.4, (length, 2)), 0), 0, 10)
        rows.append(walk.astype(np.float32))
        ranges.append((start, start + length))
        start += length
    return np.concatenate(rows), ranges


def to_data(observations: np.ndarray, ranges) -> TransitionData:
    terminals = np.zeros(len(observations), dtype=bool)
    terminals[[b - 1 for _, b in ranges]] = True
    actions = np.zeros_like(observations)
    return TransitionData.from_offline(OfflineData(observations=observations, actions=actions, terminals=terminals))


def near(a: np.ndarray, b: np.ndarray, eps: float) -> bool:
    return float(((a - b) ** 2).sum()) < eps**2


def transitions(e: int, start_row: int, end_row: int) -> list[int]:
    """Rows [start_row, end_row) of episode e as transition indices (each earlier episode has one
    row more than transitions)."""
    return [r - e for r in range(start_row, end_row)]


# --- references, one episode at a time --------------------------------------------------------


def episode_end_point(obs, a, b, first, goal, min_steps):
    """(best distance, its first row) among rows first + min_steps .. b - 1; None if no row."""
    best, at = math.inf, None
    for r in range(first + min_steps, b):
        d = distance(obs[r], goal)
        if at is None or d < best:
            best, at = d, r
    return (best, at) if at is not None and math.isfinite(best) else None


def first_match(obs, a, b, state, eps):
    for r in range(a, b):
        if near(obs[r], state, eps):
            return r
    return None


def ref_critic(obs, ranges, state, goal, eps, min_steps, top_k, relevance=True):
    scored = []
    for e, (a, b) in enumerate(ranges):
        first = first_match(obs, a, b, state, eps) if relevance else a
        if first is None:
            continue
        end = episode_end_point(obs, a, b, first, goal, min_steps)
        if end is not None:
            scored.append((end[0], e, first, end[1]))
    scored.sort()
    return sorted(t for _, e, first, end in scored[:top_k] for t in transitions(e, first, end))


def ref_no_optimality(obs, ranges, state, goal, eps, min_steps, drawn):
    out = []
    for e in drawn:
        a, b = ranges[e]
        first = first_match(obs, a, b, state, eps)
        if first is None:
            continue
        end = episode_end_point(obs, a, b, first, goal, min_steps)
        if end is not None:
            out += transitions(e, first, end[1])
    return sorted(out)


def ref_critic_free(obs, ranges, state, goal, eps, q, slack):
    found = {}
    for e, (a, b) in enumerate(ranges):
        best = None
        last_start = None
        for r in range(a, b):
            if near(obs[r], state, eps):
                last_start = r
            if near(obs[r], goal, eps) and last_start is not None and r > last_start:
                length = r - last_start
                if best is None or length < best[0]:
                    best = (length, last_start, r)
        if best is not None:
            found[e] = best
    if not found:
        return []
    cutoff = np.quantile(np.array([v[0] for v in found.values()], dtype=np.float32), q)
    out = []
    for e, (length, start, goal_row) in found.items():
        if length <= cutoff:
            last_row = ranges[e][1] - 1
            out += transitions(e, start, min(goal_row + slack, last_row))
    return sorted(out)


# --- the comparison ---------------------------------------------------------------------------


def queries(seed: int):
    rng = np.random.default_rng(seed)
    obs, ranges = random_dataset(rng)
    data = to_data(obs, ranges)
    for k in range(QUERIES):
        # States and goals near dataset rows, so that matches exist most of the time.
        state = obs[rng.integers(len(obs))] + rng.normal(0, 0.3, 2).astype(np.float32)
        goal = obs[rng.integers(len(obs))] + rng.normal(0, 0.3, 2).astype(np.float32)
        yield k, rng, obs, ranges, data, state, goal


def vectorised(data, config: SelectionConfig, state, goal, seed: int = 0) -> list[int]:
    s = Selector(config, data, (0, 1), stub_value, GAMMA, torch.Generator().manual_seed(seed))
    s.begin_episode(torch.as_tensor(goal))
    return sorted(s.select(torch.as_tensor(state)).indices.tolist())


@pytest.mark.parametrize("strategy", ["critic", "no-relevance"])
def test_critic_matches_the_reference(strategy):
    nonempty = 0
    for k, rng, obs, ranges, data, state, goal in queries(1):
        eps, min_steps, top_k = float(rng.choice([0.5, 1.0])), int(rng.choice([0, 3, 10])), int(rng.choice([1, 3, 10]))
        config = SelectionConfig(strategy=strategy, eps=eps, min_steps=min_steps, top_k=top_k)
        expected = ref_critic(obs, ranges, state, goal, eps, min_steps, top_k, relevance=strategy == "critic")
        assert vectorised(data, config, state, goal) == expected, f"query {k}"
        nonempty += bool(expected)
    assert nonempty > QUERIES // 2  # the queries exercise real selections


def test_no_optimality_matches_the_reference():
    nonempty = 0
    for k, rng, obs, ranges, data, state, goal in queries(2):
        eps, min_steps, top_k = 1.0, int(rng.choice([0, 3, 10])), int(rng.choice([2, 5, 10]))
        seed = int(rng.integers(1000))
        # The same draw the strategy makes: top_k episodes of all, from the selection generator.
        drawn = torch.randperm(len(ranges), generator=torch.Generator().manual_seed(seed))[:top_k].tolist()
        config = SelectionConfig(strategy="no-optimality", eps=eps, min_steps=min_steps, top_k=top_k)
        expected = ref_no_optimality(obs, ranges, state, goal, eps, min_steps, sorted(drawn))
        assert vectorised(data, config, state, goal, seed=seed) == expected, f"query {k}"
        nonempty += bool(expected)
    assert nonempty > QUERIES // 4


def test_critic_free_matches_the_reference():
    nonempty = 0
    for k, rng, obs, ranges, data, state, goal in queries(3):
        eps, q, slack = 1.0, float(rng.choice([0.2, 0.5, 1.0])), int(rng.choice([0, 5, 10]))
        config = SelectionConfig(strategy="critic-free", eps=eps, q=q, slack=slack)
        expected = ref_critic_free(obs, ranges, state, goal, eps, q, slack)
        assert vectorised(data, config, state, goal) == expected, f"query {k}"
        nonempty += bool(expected)
    assert nonempty > QUERIES // 4
