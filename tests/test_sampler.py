"""GoalSampler: hindsight relabelling statistics (docs/method.md §4) and subset sampling for fine-tuning.

The datasets are labelled: the observation of row r of episode e is (e, r), so every goal can be
traced back to the episode and row it came from.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gcttt.data.files import OfflineData
from gcttt.data.sampler import ACTOR_GOALS, VALUE_GOALS, GoalMix, GoalSampler, SamplerConfig
from gcttt.data.transitions import TransitionData

# Rows per episode, deliberately uneven (one episode holds a single transition).
LENGTHS = (120, 2, 75, 200, 31, 150, 90, 60, 45, 110)
BIG = 40_000
"""Batch size of the statistical checks: a share's standard error is at most 0.0025."""


def labelled(lengths=LENGTHS) -> TransitionData:
    episode = np.repeat(np.arange(len(lengths)), lengths)
    rows = np.arange(sum(lengths))
    terminals = np.zeros(len(rows), dtype=bool)
    terminals[np.cumsum(lengths) - 1] = True
    offline = OfflineData(
        observations=np.stack([episode, rows], 1).astype(np.float32),
        actions=np.stack([rows, -rows], 1).astype(np.float32) / len(rows),
        terminals=terminals,
    )
    return TransitionData.from_offline(offline)


def sampler(data: TransitionData, seed: int = 0, **config) -> GoalSampler:
    return GoalSampler(data, SamplerConfig(**config), torch.Generator().manual_seed(seed))


def episode_row(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[:, 0].long(), x[:, 1].long()


@pytest.fixture(scope="module")
def data() -> TransitionData:
    return labelled()


def test_value_goal_mix_matches_the_configured_probabilities(data):
    batch = sampler(data).sample(BIG)
    ep, row = episode_row(batch.observations)
    g_ep, g_row = episode_row(batch.value_goals)
    current = (g_ep == ep) & (g_row == row)
    other_episode = g_ep != ep
    # Only the random source leaves the episode; it stays inside with probability sum (n_e / N)^2.
    sizes = np.bincount(data.episode.numpy()) / data.num_transitions
    p_same = float((sizes**2).sum())
    assert VALUE_GOALS.p_current == 0.2
    # The current state: 0.2, plus future goals of an episode's final transition and rare random hits.
    final = data.obs(data.last)[:, 1]
    p_final = len(final) / data.num_transitions
    expected_current = 0.2 + 0.5 * p_final + 0.3 / data.num_transitions
    assert abs(current.float().mean().item() - expected_current) < 0.012
    assert abs(other_episode.float().mean().item() - 0.3 * (1 - p_same)) < 0.012
    # Everything inside the episode lies at or ahead of the current row (random hits aside).
    behind = (g_ep == ep) & (g_row < row)
    assert behind.float().mean().item() < 0.3 * p_same


def test_value_rewards_and_masks_mark_the_current_state(data):
    batch = sampler(data, seed=1).sample(BIG)
    at_goal = (batch.value_goals == batch.observations).all(1)
    assert at_goal.any() and not at_goal.all()
    torch.testing.assert_close(batch.rewards, torch.where(at_goal, 0.0, -1.0))
    torch.testing.assert_close(batch.masks, torch.where(at_goal, 0.0, 1.0))
    assert batch.rewards.dtype == batch.masks.dtype == torch.float32


def test_future_goals_are_in_the_same_episode_and_ahead(data):
    mix = GoalMix(p_current=0.0, p_future=1.0, p_random=0.0, geometric=True)
    batch = sampler(data, value_goals=mix).sample(BIG)
    ep, row = episode_row(batch.observations)
    g_ep, g_row = episode_row(batch.value_goals)
    assert torch.equal(g_ep, ep)
    assert (g_row >= row).all()
    # Strictly ahead except at an episode's final transition, where there is nowhere to go.
    last_row = data.obs(data.last)[:, 1].long()[ep]
    assert torch.equal(g_row == row, row == last_row)
    assert (g_row <= last_row).all()


def test_geometric_future_offsets_have_the_discounts_mean():
    # One long episode: truncation at its end is negligible for offsets of mean 1 / (1 - 0.9) = 10.
    data = labelled((20_000,))
    mix = GoalMix(p_current=0.0, p_future=1.0, p_random=0.0, geometric=True)
    s = sampler(data, discount=0.9, value_goals=mix)
    t = torch.randint(0, 15_000, (BIG,), generator=torch.Generator().manual_seed(3))
    offsets = (s.future_indices(t, geometric=True) - t).float()
    assert offsets.min().item() >= 1
    assert abs(offsets.mean().item() - 10.0) < 0.3
    # Geometric: P(offset = 1) = 1 - discount.
    assert abs((offsets == 1).float().mean().item() - 0.1) < 0.01


def test_random_goals_spread_over_the_whole_dataset(data):
    mix = GoalMix(p_current=0.0, p_future=0.0, p_random=1.0)
    batch = sampler(data, value_goals=mix).sample(BIG)
    g_ep, _ = episode_row(batch.value_goals)
    counts = torch.bincount(g_ep, minlength=data.num_episodes).float() / BIG
    sizes = torch.bincount(data.episode, minlength=data.num_episodes).float() / data.num_transitions
    assert (counts - sizes).abs().max().item() < 0.015
    # Independent of the current transition: as many goals behind as ahead across the dataset.
    _, row = episode_row(batch.observations)
    _, g_row = episode_row(batch.value_goals)
    assert abs((g_row > row).float().mean().item() - 0.5) < 0.02


def test_actor_goals_are_uniform_future_states_of_the_same_episode(data):
    assert ACTOR_GOALS.p_future == 1.0 and not ACTOR_GOALS.geometric
    batch = sampler(data, seed=2).sample(BIG)
    ep, row = episode_row(batch.observations)
    g_ep, g_row = episode_row(batch.actor_goals)
    last_row = data.obs(data.last)[:, 1].long()[ep]
    assert torch.equal(g_ep, ep)
    ahead = row < last_row
    assert (g_row[ahead] > row[ahead]).all() and (g_row <= last_row).all()
    # Uniform over what is left of the episode: the relative position averages one half
    # (a geometric offset would put it near the start).
    room = (last_row - row).float()
    long_way = room >= 20
    position = (g_row - row).float()[long_way] / room[long_way]
    assert abs(position.mean().item() - 0.5) < 0.02
    assert abs((position < 0.25).float().mean().item() - 0.25) < 0.03


def test_sample_from_stays_in_the_subset_and_pins_the_actor_goal(data):
    subset = torch.cat([data.first[3] + torch.arange(5), data.first[1:2], data.last[6:7]])
    goal = torch.tensor([7.5, -3.25])
    batch = sampler(data).sample_from(subset, actor_goal=goal, batch_size=4096)
    assert batch.size == 4096
    assert torch.equal(batch.actor_goals, goal.expand(4096, 2))
    # Observations (and so actions and next observations) come from the subset only, all of it.
    drawn = set(map(tuple, batch.observations.tolist()))
    allowed = set(map(tuple, data.obs(subset).tolist()))
    assert drawn == allowed
    torch.testing.assert_close(batch.next_observations[:, 1], batch.observations[:, 1] + 1)
    # Value goals are still relabelled (here: some future ones beyond the subset).
    assert (batch.value_goals != batch.observations).any()
    assert (batch.rewards == 0).float().mean().item() > 0.1


def test_sample_from_without_a_goal_relabels_actor_goals(data):
    subset = data.first[3] + torch.arange(10)
    batch = sampler(data).sample_from(subset, batch_size=512)
    ep, row = episode_row(batch.observations)
    g_ep, g_row = episode_row(batch.actor_goals)
    assert torch.equal(g_ep, ep) and (g_row > row).all()


def test_sample_from_an_empty_subset_is_refused(data):
    with pytest.raises(ValueError, match="empty"):
        sampler(data).sample_from(torch.zeros(0, dtype=torch.long))


def test_saw_waypoints_are_k_steps_ahead_within_the_episode(data):
    k = 25
    s = sampler(data, subgoal_steps=k)
    batch = s.sample(4096)
    ep, row = episode_row(batch.observations)
    last_row = data.obs(data.last)[:, 1].long()[ep]
    w_ep, w_row = episode_row(batch.subgoals)
    assert torch.equal(w_ep, ep)
    assert torch.equal(w_row, torch.minimum(row + k, last_row))
    # The actor's waypoint never passes the actor goal (same episode, ahead).
    a_ep, a_row = episode_row(batch.actor_waypoints)
    _, g_row = episode_row(batch.actor_goals)
    assert torch.equal(a_ep, ep)
    assert torch.equal(a_row, torch.minimum(w_row, g_row))


def test_saw_waypoints_under_a_pinned_goal_follow_the_originally_sampled_goal():
    """docs/method.md §6: with g* pinned, only the flat actor's goal changes; the waypoint target stays
    s[min(t + k, index of the goal drawn as in pre-training)], not s[min(t + k, episode end)]."""
    k = 25
    trajectory = labelled((100,))  # one hand-made trajectory: row r holds (0, r)
    subset = torch.tensor([10])  # every transition is row 10
    goal = torch.tensor([7.0, 7.0])  # from outside the dataset
    pinned = sampler(trajectory, seed=3, subgoal_steps=k).sample_from(subset, actor_goal=goal, batch_size=2000)
    free = sampler(trajectory, seed=3, subgoal_steps=k).sample_from(subset, batch_size=2000)
    assert torch.equal(pinned.actor_goals, goal.expand(2000, 2))
    _, w_row = episode_row(pinned.actor_waypoints)
    _, g_row = episode_row(free.actor_goals)  # the goals the pinned batch drew too (same stream)
    # Uniform future goals lie in rows 11-99, so the waypoint is min(35, goal row): in 11-35.
    assert torch.equal(w_row, torch.minimum(torch.tensor(35), g_row))
    assert w_row.min().item() == 11 and w_row.max().item() == 35
    share_before = (w_row < 35).float().mean().item()
    assert abs(share_before - 24 / 89) < 0.04  # goals in rows 11-34: 24 of 89
    # The sub-policy's own waypoint is k steps ahead either way, and nothing else changes.
    assert torch.equal(episode_row(pinned.subgoals)[1], torch.full((2000,), 35))
    assert torch.equal(pinned.value_goals, free.value_goals)
    assert torch.equal(pinned.actor_waypoints, free.actor_waypoints)


def test_a_pinned_goal_draws_no_actor_goal_for_backbones_without_waypoints(data):
    """GC-BC and GC-IQL batches under a pinned goal keep their random stream (records unchanged)."""
    subset = torch.arange(data.num_transitions)
    a = sampler(data, seed=4).sample_from(subset, actor_goal=torch.zeros(2), batch_size=256)
    s = sampler(data, seed=4)
    t = subset[torch.randint(len(subset), (256,), generator=s.generator)]
    value_goal_t = s.goal_indices(t, s.config.value_goals)
    assert torch.equal(a.value_goals, data.obs(value_goal_t))
    assert a.actor_waypoints is None


def test_same_seed_same_batches_and_probabilities_must_sum_to_one(data):
    a, b = sampler(data, seed=5).sample(256), sampler(data, seed=5).sample(256)
    c = sampler(data, seed=6).sample(256)
    assert torch.equal(a.value_goals, b.value_goals) and torch.equal(a.actor_goals, b.actor_goals)
    assert not torch.equal(a.observations, c.observations)
    with pytest.raises(ValueError, match="sum to 1"):
        GoalMix(p_current=0.2, p_future=0.5, p_random=0.2)
    with pytest.raises(ValueError, match="discount"):
        SamplerConfig(discount=1.0)
