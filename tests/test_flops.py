"""FLOP accounting: the counter against hand counts, and the cost model's units.

Convention (gcttt/control/flops.py): only matrix products count, 2 FLOPs per multiply-add; biases,
activations, LayerNorm and Adam are not counted.
"""

from __future__ import annotations

import pytest
import torch

from gcttt.agents import make_agent
from gcttt.agents.networks import MLP, EnsembleMLP, GaussianActor
from gcttt.control.flops import CostModel, count_flops, mlp_forward_flops
from gcttt.control.ttt import TTTStats
from gcttt.data.sampler import GoalSampler
from gcttt.data.transitions import TransitionData
from gcttt.envs import dataset_info
from gcttt.presets import backbone_config, get_preset

MAZE = "pointmaze-medium-navigate-v0"


def test_closed_form_is_the_hand_count():
    # 4 samples through 3 -> 5 -> 7 -> 2: 2 * 4 * (15 + 35 + 14) multiply-adds.
    assert mlp_forward_flops(4, (3, 5, 7, 2)) == 2 * 4 * (3 * 5 + 5 * 7 + 7 * 2) == 512
    assert mlp_forward_flops(1, (10, 1)) == 20


@pytest.mark.parametrize("layer_norm", [False, True])
def test_counter_matches_the_hand_count_of_an_mlp(layer_norm):
    net = MLP(3, (5, 7), 2, layer_norm=layer_norm)
    x = torch.zeros(4, 3)
    assert count_flops(lambda: net(x)) == 512
    assert count_flops(lambda: net(torch.zeros(1, 3))) == 128


def test_counter_matches_the_hand_count_of_an_ensemble_and_an_actor():
    ensemble = EnsembleMLP(2, 6, (8, 8))
    # Two members, each 6 -> 8 -> 8 -> 1, on 5 samples.
    assert count_flops(lambda: ensemble(torch.zeros(5, 6))) == 2 * 2 * 5 * (6 * 8 + 8 * 8 + 8 * 1)
    actor = GaussianActor(4, (16, 16), 3)
    assert count_flops(lambda: actor(torch.zeros(2, 4))) == mlp_forward_flops(2, (4, 16, 16, 3))


def test_backward_of_a_linear_layer_costs_two_forward_passes():
    net = MLP(3, (5,), 2)
    x = torch.zeros(4, 3, requires_grad=True)
    # Forward 2*b*(15 + 10); backward: weight gradients and input gradients, each as much again.
    assert count_flops(lambda: net(x).sum().backward()) == 3 * mlp_forward_flops(4, (3, 5, 2))


@pytest.fixture(scope="module")
def data(maze_train) -> TransitionData:
    return TransitionData.from_offline(maze_train)


def agent_and_sampler(name: str, data: TransitionData):
    config = backbone_config(name, dataset_info(MAZE), get_preset("smoke"))
    agent = make_agent(name, config, data.obs_dim, data.action_dim)
    return agent, GoalSampler(data, agent.sampler_config(), torch.Generator().manual_seed(0))


def test_gciql_costs_match_the_closed_form(data):
    agent, sampler = agent_and_sampler("gciql", data)
    costs = CostModel.measure(agent, sampler)
    hidden, d, a = agent.config.hidden_dims, data.obs_dim, data.action_dim
    assert costs.act == mlp_forward_flops(1, (2 * d, *hidden, a))
    assert costs.value == mlp_forward_flops(1, (2 * d, *hidden, 1))


@pytest.mark.parametrize("name", ["gcbc", "gciql", "saw"])
def test_update_cost_is_linear_in_the_batch_and_measuring_changes_nothing(name, data):
    agent, sampler = agent_and_sampler(name, data)
    agent.update(sampler.sample(8))  # some Adam state to preserve
    nets = {k: v.clone() for k, v in agent.nets.state_dict().items()}
    steps, rng = agent.steps, sampler.generator.get_state()
    costs = CostModel.measure(agent, sampler)
    assert costs.act > 0 and costs.value > 0 and costs.update_per_sample > 0
    # The per-sample unit is exact: an update counted at another batch size agrees.
    batch = sampler.sample(96)
    snapshot = agent.snapshot()
    assert count_flops(lambda: agent.update(batch)) == costs.update_flops(96)
    agent.restore(snapshot)
    sampler.generator.set_state(rng)
    # One update (forward and backward of every network) costs more than a forward value pass
    # per sample.
    assert costs.update_flops(32) > 32 * costs.value
    for key, value in agent.nets.state_dict().items():
        assert torch.equal(value, nets[key]), key
    assert agent.steps == steps and torch.equal(sampler.generator.get_state(), rng)


def test_episode_flops_multiply_units_by_counts():
    costs = CostModel(act=10, value=3, update_per_sample=5)
    stats = TTTStats(act_calls=7, value_evaluations=11, updates=2)
    assert stats.flops(costs, batch_size=100) == {"act": 70, "selection": 33, "finetune": 1000, "total": 1103}
    assert TTTStats().flops(costs, batch_size=100)["total"] == 0
