"""The backbones' loss maths against values computed by hand on tiny tensors.

"The loss falls" would pass with a swapped sign or a missing cap; these do not.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gcttt.agents.losses import (
    advantage_weights,
    ddpgbc_actor_loss,
    expectile_loss,
    gaussian_log_prob,
    goal_distance,
)
from gcttt.agents.networks import length_normalize, soft_update_
from gcttt.datagen.expert.sac import tanh_log_det

LOG_2PI = math.log(2 * math.pi)


def close(actual, expected):
    torch.testing.assert_close(torch.as_tensor(actual, dtype=torch.float32), torch.tensor(expected), atol=1e-5, rtol=0)


def test_expectile_weights_positive_advantages_by_the_expectile():
    adv = torch.tensor([1.0, -1.0, 0.0])
    diff = torch.tensor([2.0, 3.0, 1.0])
    # 0.9 * 2^2, 0.1 * 3^2, 0.9 * 1^2 (zero advantage counts as non-negative)
    close(expectile_loss(adv, diff, 0.9), [3.6, 0.9, 0.9])
    close(expectile_loss(adv, diff, 0.5), [2.0, 4.5, 0.5])


def test_gaussian_log_prob_by_hand():
    mean = torch.zeros(1, 2)
    actions = torch.tensor([[1.0, 2.0]])
    # std 1: -0.5 (1 + 4) - log(2 pi)
    close(gaussian_log_prob(mean, torch.ones(()), actions), [-2.5 - LOG_2PI])
    # std 2: per dim -0.5 a^2 / 4 - log 2 - 0.5 log(2 pi)
    expected = (-0.125 - math.log(2) - 0.5 * LOG_2PI) + (-0.5 - math.log(2) - 0.5 * LOG_2PI)
    close(gaussian_log_prob(mean, torch.tensor([2.0, 2.0]), actions), [expected])


def test_soft_update_moves_the_target_by_tau():
    target, source = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        target.weight.fill_(1.0)
        source.weight.fill_(3.0)
    soft_update_(target, source, 0.25)
    close(target.weight.reshape(-1), [1.5])  # 0.25 * 3 + 0.75 * 1
    close(source.weight.reshape(-1), [3.0])


def test_advantage_weights_exponentiate_and_cap_at_100():
    weights = advantage_weights(torch.tensor([0.0, 1.0, 10.0, -1.0]), temperature=3.0)
    close(weights, [1.0, math.exp(3.0), 100.0, math.exp(-3.0)])


def test_ddpgbc_normalises_q_by_its_detached_mean_magnitude():
    q = torch.tensor([-2.0, -4.0], requires_grad=True)
    log_prob = torch.tensor([-1.0, -3.0], requires_grad=True)
    q_loss, bc_loss = ddpgbc_actor_loss(q, log_prob, alpha=0.5)
    close(q_loss, 1.0)  # -mean(q) / mean|q| = 3 / 3
    close(bc_loss, 1.0)  # -0.5 * mean(log_prob) = -0.5 * -2
    (q_loss + bc_loss).backward()
    # The normaliser carries no gradient: d q_loss / d q_i = -1 / (n mean|q|) = -1/6.
    close(q.grad, [-1 / 6, -1 / 6])
    close(log_prob.grad, [-0.25, -0.25])


def test_goal_distance_inverts_the_discounted_value():
    gamma = 0.99
    value = -(1 - gamma**10) / (1 - gamma)
    close(goal_distance(torch.tensor([value, 0.0]), gamma), [10.0, 0.0])
    assert goal_distance(torch.tensor([-150.0]), gamma).item() == math.inf  # below -1/(1-gamma)


def test_length_normalize_to_sqrt_dim():
    close(length_normalize(torch.tensor([[3.0, 4.0]])), [[3 / 5 * math.sqrt(2), 4 / 5 * math.sqrt(2)]])


def test_tanh_log_det_matches_the_direct_form():
    u = torch.tensor([[0.0, 0.5, -2.0]])
    direct = torch.log(1 - torch.tanh(u) ** 2).sum(-1)
    close(tanh_log_det(u), direct.tolist())
    assert torch.isfinite(tanh_log_det(torch.tensor([[40.0]]))).all()  # no log(0) far out


class StubValue(nn.Module):
    """V(s, g) = s[0] for both heads (SAW's value returns [2, B])."""

    def forward(self, observations, goals, heads=None):
        return observations[:, 0].expand(2, -1)


@pytest.fixture
def saw_agent():
    from gcttt.agents import make_agent
    from gcttt.agents.saw import SAWConfig

    agent = make_agent("saw", SAWConfig(width=8, depth=1, batch_size=2, beta=3.0, awr_temperature=3.0), 1, 1)
    agent.nets["value"] = StubValue()
    return agent


def test_saw_weights_by_hand(saw_agent):
    starts = torch.tensor([[0.0], [0.0]])
    next_obs = torch.tensor([[1.0], [-1.0]])
    waypoints = torch.tensor([[2.0], [50.0]])
    goals = torch.zeros(2, 1)
    awr, boot = saw_agent._advantage_weights(starts, (next_obs, waypoints), goals, (3.0, 3.0))
    close(awr, [math.exp(3.0), math.exp(-3.0)])  # exp(3 (V(s') - V(s)))
    close(boot, [100.0, 100.0])  # exp(3 * 2) = 403 and exp(150): both capped at 100


def test_saw_bootstrap_term_is_the_weighted_squared_distance_of_means(saw_agent, monkeypatch):
    from gcttt.data.sampler import Batch

    obs = torch.zeros(2, 1)
    batch = Batch(
        observations=obs,
        actions=torch.zeros(2, 1),
        next_observations=obs,  # V(s') = V(s): AWR weights 1
        value_goals=obs,
        actor_goals=obs,
        rewards=torch.zeros(2),
        masks=torch.ones(2),
        subgoals=obs,
        actor_waypoints=torch.tensor([[0.0], [1.0 / 3.0]]),  # bootstrap weights 1 and e
    )
    monkeypatch.setattr(saw_agent.nets["actor"], "forward", lambda o, g: (torch.full((2, 1), 2.0), torch.ones(())))
    monkeypatch.setattr(
        saw_agent.nets["sub_actor"], "forward", lambda x: (torch.tensor([[1.0], [0.0]]), torch.ones(()))
    )
    loss, metrics = saw_agent.actor_loss(batch)
    # AWR: -mean(log N(0; 2, 1)) = 2 + 0.5 log(2 pi); bootstrap: mean(1 * (2-1)^2, e * (2-0)^2).
    close(metrics["actor/awr_loss"], 2.0 + 0.5 * LOG_2PI)
    close(metrics["actor/bootstrap_loss"], (1.0 + math.e * 4.0) / 2)
    close(loss, 2.0 + 0.5 * LOG_2PI + (1.0 + math.e * 4.0) / 2)


def test_saw_target_value_shares_the_online_goal_representation(saw_agent):
    from gcttt.agents import make_agent
    from gcttt.agents.saw import SAWConfig

    agent = make_agent("saw", SAWConfig(width=8, depth=1, batch_size=2), 3, 2)
    names = set(agent.nets.keys())
    assert "target_value_heads" in names and "target_value" not in names
    # The target copy holds heads only: no goal representation of its own.
    assert not any("goal_rep" in k for k in agent.nets["target_value_heads"].state_dict())
    obs, goals = torch.randn(4, 3), torch.randn(4, 3)
    value = agent.nets["value"]
    with torch.no_grad():
        for p in agent.nets["target_value_heads"].parameters():
            p.copy_(p * 0)  # make target heads differ from the online ones
        online = value(obs, goals)
        target = value(obs, goals, heads=agent.nets["target_value_heads"])
    assert not torch.allclose(online, target)
    assert torch.allclose(target, torch.zeros_like(target))
