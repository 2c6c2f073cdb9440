"""Data selection (docs/method.md §5) on a hand-built maze where every strategy's answer is known.

Observations are x-y positions (p = identity, eps = 1). The current state is the origin and the
goal g* is (10, 0). A stub value function makes the goal distance exactly the Euclidean distance:
V(s, g) = -(1 - gamma^||s - g||) / (1 - gamma), so d(s, g) = log(1 + (1 - gamma) V) / log(gamma)
= ||s - g||.

Episodes (row t of an episode is its transition t, except the last row, which has no action;
selection reads every row, the last one included, as the authors' code does):
- B: y = 5, x = 0 .. 12: never near the origin, passes 5 above the goal.
- A: y = 0, x = -3 .. 14 in steps of 0.5: passes the origin (first match at t = 5, x = -0.5),
  reaches the goal exactly at t = 26.
- C: y = 0, x = 0.5 .. -14.5: starts at the origin and walks away from the goal.
- D: a single transition far away.
- E: y = 0, x = -8 .. 0: its matches are its last two rows, too late for any end point.
- F: y = 0, x = 0 .. 9.5 in steps of 0.25: slower; its last row (t = 38, no action) ends 0.5 short
  of the goal and is its best end point.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gcttt.data.files import OfflineData
from gcttt.data.transitions import TransitionData
from gcttt.errors import GctttError, UsageError
from gcttt.selection import STRATEGIES, SelectionConfig, Selector, goal_distance, segment_indices

GAMMA = 0.99
STATE = torch.tensor([0.0, 0.0])
GOAL = torch.tensor([10.0, 0.0])


def line(x0: float, step: float, rows: int, y: float = 0.0) -> np.ndarray:
    x = x0 + step * np.arange(rows)
    return np.stack([x, np.full(rows, y)], 1)


EPISODES = {
    "B": line(0.0, 0.5, 25, y=5.0),
    "A": line(-3.0, 0.5, 35),
    "C": line(0.5, -0.5, 31),
    "D": np.array([[20.0, 20.0], [20.5, 20.0]]),
    "E": line(-8.0, 0.5, 17),
    "F": line(0.0, 0.25, 39),
}
NAMES = list(EPISODES)


def maze() -> TransitionData:
    observations = np.concatenate(list(EPISODES.values())).astype(np.float32)
    terminals = np.zeros(len(observations), dtype=bool)
    terminals[np.cumsum([len(e) for e in EPISODES.values()]) - 1] = True
    actions = np.zeros_like(observations)
    return TransitionData.from_offline(OfflineData(observations=observations, actions=actions, terminals=terminals))


DATA = maze()


def at(name: str, t: int) -> int:
    """Global transition index of transition t of episode `name`."""
    return int(DATA.first[NAMES.index(name)]) + t


def span(name: str, start: int, end: int) -> list[int]:
    return list(range(at(name, start), at(name, end)))


class DistanceValue:
    """Stub agent: the value whose implied goal distance is the Euclidean distance."""

    discount = GAMMA

    def __init__(self):
        self.evaluated = 0

    def value(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        self.evaluated += len(observations)
        dist = torch.linalg.vector_norm(observations - goals, dim=-1)
        return -(1 - GAMMA**dist) / (1 - GAMMA)


def selector(strategy: str, seed: int = 0, **config) -> Selector:
    stub = DistanceValue()
    s = Selector(
        SelectionConfig(strategy=strategy, **config),
        DATA,
        (0, 1),
        stub.value,
        GAMMA,
        torch.Generator().manual_seed(seed),
    )
    s.stub = stub
    s.begin_episode(GOAL)
    return s


def test_the_stub_value_implies_euclidean_distance():
    values = DistanceValue().value(torch.tensor([[0.0, 0.0], [7.0, 0.0], [10.0, 0.0]]), GOAL.expand(3, 2))
    torch.testing.assert_close(goal_distance(values, GAMMA), torch.tensor([10.0, 3.0, 0.0]))
    # A value below -1 / (1 - gamma) has no distance: +inf, never NaN.
    assert goal_distance(torch.tensor([-150.0]), GAMMA).item() == math.inf


def test_critic_selects_the_episode_that_reaches_the_goal():
    s = selector("critic", top_k=1)
    chosen = s.select(STATE)
    # A: from its first start match (x = -0.5) up to, not including, the goal (x = 10).
    assert chosen.indices.tolist() == span("A", 5, 26)
    assert chosen.episodes == 1 and chosen.longest_segment == 21
    assert chosen.indices.dtype == torch.int64


def test_critic_ranks_episodes_by_their_best_end_point():
    chosen = selector("critic", top_k=10).select(STATE)
    # A (d = 0), F (d = 0.75) and C (best at its first candidate, 10 steps in). B never passes
    # the state, D is far away, E matches only on its last transition (no end point 10 later).
    expected = span("A", 5, 26) + span("F", 0, 38) + span("C", 0, 10)
    assert chosen.indices.tolist() == expected
    assert chosen.episodes == 3 and chosen.longest_segment == 38
    two = selector("critic", top_k=2).select(STATE)
    assert two.indices.tolist() == span("A", 5, 26) + span("F", 0, 38)


def test_the_last_row_takes_part_as_an_end_point():
    # F's best end point is its last row (x = 9.5, no action); the segment stops before it, so
    # every selected index is a transition with an action.
    chosen = selector("critic", top_k=2).select(STATE)
    f = NAMES.index("F")
    assert chosen.indices.max().item() == DATA.last[f].item()


def test_critic_respects_min_steps():
    # With no minimum, C's best end point is its first row: an empty segment; E's first match
    # (x = -0.5) can now end at its last row (x = 0): one transition.
    chosen = selector("critic", top_k=10, min_steps=0).select(STATE)
    assert chosen.indices.tolist() == span("A", 5, 26) + span("F", 0, 38) + span("E", 15, 16)
    # A needs its end point 25 steps after x = -0.5: x >= 12, best at x = 12.
    late = selector("critic", top_k=1, min_steps=25).select(STATE)
    assert late.indices.tolist() == span("F", 0, 38)  # F (d = 0.5) now beats A (d = 2)


def test_goal_distances_are_computed_once_per_episode_and_cached():
    s = selector("critic", top_k=10)
    first = s.select(STATE)
    # The method needs every row of the four episodes with a start match (A, C, E, F), nothing
    # else; the worker computes whole blocks of rows (here the dataset is one block).
    matched = sum(len(EPISODES[n]) for n in "ACEF")
    rows = sum(len(e) for e in EPISODES.values())
    assert first.value_evaluations == matched
    assert s.computed == s.stub.evaluated == rows
    second = s.select(STATE + 0.25)
    assert second.value_evaluations == 0 and s.stub.evaluated == rows
    # B passes (6, 5): now the method needs B's distances too, and only B's.
    third = s.select(torch.tensor([6.0, 5.0]))
    assert third.value_evaluations == len(EPISODES["B"])
    s.begin_episode(GOAL)  # a new goal forgets the distances
    assert s.select(STATE).value_evaluations == matched


def test_critic_quantile_keeps_the_best_fraction_of_matching_episodes():
    # Three episodes with a start match and an end point: A, F, C.
    assert selector("critic-quantile", q=0.2).select(STATE).indices.tolist() == span("A", 5, 26)
    half = selector("critic-quantile", q=0.5).select(STATE)
    assert half.indices.tolist() == span("A", 5, 26) + span("F", 0, 38)
    assert selector("critic-quantile", q=1.0).select(STATE).episodes == 3


def test_no_relevance_ignores_the_start_match():
    chosen = selector("no-relevance", top_k=1).select(STATE)
    assert chosen.indices.tolist() == span("A", 0, 26)  # from A's very first transition
    three = selector("no-relevance", top_k=3).select(STATE)
    # B counts now (d = 5 at x = 10, its transition 20); D has no end point 10 steps later.
    assert three.indices.tolist() == span("A", 0, 26) + span("F", 0, 38) + span("B", 0, 20)


def test_no_optimality_draws_episodes_blindly_and_cuts_them_as_the_critic_does():
    critic_segments = {"A": span("A", 5, 26), "C": span("C", 0, 10), "F": span("F", 0, 38)}
    seen, sizes = set(), set()
    for seed in range(40):
        chosen = selector("no-optimality", seed=seed, top_k=2).select(STATE)
        idx = chosen.indices
        names = [NAMES[e] for e in torch.unique_consecutive(DATA.episode[idx]).tolist()]
        # Two episodes drawn from all six; only those with a start match and an end point count.
        assert set(names) <= {"A", "C", "F"} and chosen.episodes == len(names) <= 2
        assert idx.tolist() == [i for n in sorted(names, key=NAMES.index) for i in critic_segments[n]]
        seen |= set(names)
        sizes.add(len(names))
    assert seen == {"A", "C", "F"} and sizes == {0, 1, 2}


def test_critic_free_keeps_the_shortest_start_to_goal_segments():
    s = selector("critic-free", q=0.2, slack=10)
    assert not s.receding
    chosen = s.select(STATE)
    # A: last start match x = 0.5 (t = 7) to first goal match x = 9.5 (t = 25), length 18; F's is
    # 34 (t = 3 .. 37), above the 0.2 quantile. Select [7, 25 + 10), cut at A's last transition.
    assert chosen.indices.tolist() == span("A", 7, 34)
    assert chosen.value_evaluations == 0 and s.stub.evaluated == 0
    both = selector("critic-free", q=1.0, slack=0).select(STATE)
    assert both.indices.tolist() == span("A", 7, 25) + span("F", 3, 37)
    # Nothing near the goal from here: nothing selected.
    assert selector("critic-free").select(torch.tensor([20.0, 20.0])).size == 0


def test_random_draws_the_documented_number_of_transitions():
    chosen = selector("random", random_size=500).select(STATE)
    assert chosen.size == 500
    assert chosen.indices.min() >= 0 and chosen.indices.max() < DATA.num_transitions
    assert chosen.episodes == len(torch.unique(DATA.episode[chosen.indices]))
    assert chosen.episodes >= 5  # spread over the dataset, D's single transition aside
    other = selector("random", seed=1, random_size=500).select(STATE)
    assert not torch.equal(chosen.indices, other.indices)


def test_full_dataset_returns_everything():
    chosen = selector("full-dataset").select(STATE)
    assert torch.equal(chosen.indices, torch.arange(DATA.num_transitions))
    assert chosen.episodes == len(EPISODES) and chosen.value_evaluations == 0


def test_nothing_near_the_state_selects_nothing():
    for strategy in ("critic", "critic-quantile", "no-optimality"):
        chosen = selector(strategy).select(torch.tensor([-50.0, -50.0]))
        assert chosen.size == 0 and chosen.episodes == 0, strategy


def test_every_strategy_returns_indices_inside_the_dataset():
    for strategy in STRATEGIES:
        s = selector(strategy)
        assert s.receding == (strategy != "critic-free")
        chosen = s.select(STATE)
        assert chosen.size > 0, strategy
        assert chosen.indices.min() >= 0 and chosen.indices.max() < DATA.num_transitions


def test_select_needs_a_goal_first():
    s = Selector(SelectionConfig(), DATA, (0, 1), DistanceValue().value, GAMMA, torch.Generator())
    with pytest.raises(RuntimeError, match="begin_episode"):
        s.select(STATE)


@pytest.mark.parametrize(
    ("knobs", "needle"),
    [
        ({"strategy": "oracle"}, "'oracle'"),
        ({"eps": 0.0}, "eps"),
        ({"q": 0.0}, "q must lie in (0, 1]"),
        ({"q": 1.5}, "q must lie in (0, 1]"),
        ({"top_k": 0}, "--top-k must be at least 1"),
        ({"min_steps": -1}, "--min-steps must be 0 or more"),
    ],
)
def test_bad_selection_knobs_are_one_line_usage_errors(knobs, needle):
    with pytest.raises(UsageError) as excinfo:
        SelectionConfig(**knobs)
    assert isinstance(excinfo.value, GctttError)
    assert needle in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_segment_indices_concatenates_ranges():
    starts, ends = torch.tensor([3, 10, 7, 0]), torch.tensor([6, 10, 9, 1])
    assert segment_indices(starts, ends).tolist() == [3, 4, 5, 7, 8, 0]
    assert segment_indices(torch.tensor([5]), torch.tensor([2])).tolist() == []


def test_the_authors_cube_match_finds_starts_on_the_first_two_coordinates():
    """A cube-like dataset: the maze above as the cube's position (coordinates 2-3, the relevance
    coordinates) and an arm (coordinates 0-1) that rests far away except in episode B. The
    authors' code matches critic starts on the arm; the paper (and the default) on the cube."""
    arm = {name: np.full((len(e), 2), 0.0 if name == "B" else 50.0) for name, e in EPISODES.items()}
    observations = np.concatenate([np.concatenate([arm[n], EPISODES[n]], 1) for n in NAMES]).astype(np.float32)
    terminals = np.zeros(len(observations), dtype=bool)
    terminals[np.cumsum([len(e) for e in EPISODES.values()]) - 1] = True
    data = TransitionData.from_offline(
        OfflineData(observations=observations, actions=np.zeros_like(observations), terminals=terminals)
    )
    state, goal = torch.tensor([0.0, 0.0, 0.0, 0.0]), torch.tensor([50.0, 50.0, 10.0, 0.0])

    def chosen(strategy: str, **knobs) -> list[str]:
        stub = DistanceValue()
        config = SelectionConfig(strategy=strategy, top_k=1, **knobs)
        s = Selector(config, data, (2, 3), stub.value, GAMMA, torch.Generator().manual_seed(0))
        s.begin_episode(goal)
        episodes = data.episode[s.select(state).indices]
        return [NAMES[e] for e in torch.unique_consecutive(episodes).tolist()]

    assert chosen("critic") == ["A"]  # the cube passes the state's cube position and reaches the goal
    assert chosen("critic", authors_cube_match=True) == ["B"]  # only B's arm is at the state's arm
    assert "authors_cube_match" not in SelectionConfig(strategy="critic-free").reads
    assert chosen("critic-free", slack=0) == chosen("critic-free", slack=0, authors_cube_match=True)
