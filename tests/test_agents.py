"""Contract tests shared by every backbone: learning, state, snapshot/restore, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gcttt.agents import BACKBONES, agent_from_state, backbone_classes, make_agent
from gcttt.agents.base import Agent
from gcttt.data.sampler import GoalSampler
from gcttt.data.transitions import TransitionData
from gcttt.envs import dataset_info
from gcttt.errors import CheckpointError, GctttError, UsageError
from gcttt.presets import backbone_config, get_preset

MAZE = "pointmaze-medium-navigate-v0"

# What must go down over 150 updates at lr 1e-3, width 32. GC-IQL's DDPG+BC actor maximises Q,
# which need not lower any loss, so its contract run uses alpha 1 (the manipulation value), where
# the BC term dominates.
FALLING = {
    "gcbc": ("value/loss", "critic/loss", "actor/mse"),
    "gciql": ("value/loss", "critic/loss", "actor/mse"),
    "saw": ("value/loss", "sub_actor/mse", "actor/mse"),
}
OVERRIDES = {"gciql": {"alpha": 1.0}}


def tiny_agent(name: str, data: TransitionData, seed: int = 0, **overrides) -> Agent:
    config = backbone_config(name, dataset_info(MAZE), get_preset("smoke"), **overrides)
    return make_agent(name, config, data.obs_dim, data.action_dim, seed=seed)


def tiny_sampler(agent: Agent, data: TransitionData, seed: int = 0) -> GoalSampler:
    return GoalSampler(data, agent.sampler_config(), torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def data(maze_train) -> TransitionData:
    return TransitionData.from_offline(maze_train)


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def adam_state(agent: Agent) -> list[dict[str, torch.Tensor]]:
    return [{k: v.clone() for k, v in agent.optimizer.state[p].items()} for p in agent.trained_parameters()]


def adam_state_refs(agent: Agent) -> list[dict[str, torch.Tensor]]:
    return [agent.optimizer.state[p] for p in agent.trained_parameters()]


def assert_same_adam(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for sa, sb in zip(a, b, strict=True):
        assert set(sa) == set(sb) == {"step", "exp_avg", "exp_avg_sq"}
        assert_same_tensors(sa, sb)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_losses_fall_on_the_tiny_dataset(name, data):
    agent = tiny_agent(name, data, lr=1e-3, **OVERRIDES.get(name, {}))
    sampler = tiny_sampler(agent, data)
    history = [{k: float(v) for k, v in agent.update(sampler.sample()).items()} for _ in range(150)]
    assert agent.steps == 150
    for key in FALLING[name]:
        first = np.mean([h[key] for h in history[:15]])
        last = np.mean([h[key] for h in history[-15:]])
        assert np.isfinite(last)
        assert last < 0.9 * first, f"{name} {key}: {first:.4f} -> {last:.4f}"


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_snapshot_restore_is_bit_exact(name, data):
    agent = tiny_agent(name, data)
    sampler = tiny_sampler(agent, data)
    for _ in range(5):
        agent.update(sampler.sample())
    snap = agent.snapshot()
    weights, adam = {k: v.clone() for k, v in agent.nets.state_dict().items()}, adam_state(agent)
    assert any(k.startswith("target_") for k in weights)

    probe = sampler.sample()
    agent.update(probe)
    after_one = {k: v.clone() for k, v in agent.nets.state_dict().items()}
    for _ in range(4):
        agent.update(sampler.sample())
    changed = agent.nets.state_dict()
    assert any(not torch.equal(changed[k], weights[k]) for k in weights if k.startswith("target_"))
    assert agent.steps == 10

    agent.restore(snap)
    assert agent.steps == 5
    assert_same_tensors(agent.nets.state_dict(), weights)  # weights and target networks
    assert_same_adam(adam_state(agent), adam)  # exp_avg, exp_avg_sq, step
    # The restored Adam state steps exactly as the original did (bias correction included).
    agent.update(probe)
    assert_same_tensors(agent.nets.state_dict(), after_one)
    # The snapshot is a copy: training after a restore does not change it.
    agent.restore(snap)
    assert_same_tensors(agent.nets.state_dict(), weights)


def test_restore_of_a_fresh_snapshot_forgets_adam_state(data):
    agent = tiny_agent("gciql", data)
    fresh = agent.snapshot()
    initial = {k: v.clone() for k, v in agent.nets.state_dict().items()}
    sampler = tiny_sampler(agent, data)
    agent.update(sampler.sample())
    assert len(agent.optimizer.state) > 0
    agent.restore(fresh)
    assert len(agent.optimizer.state) == 0 and agent.steps == 0
    assert_same_tensors(agent.nets.state_dict(), initial)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_state_dict_round_trip_continues_identically(name, data):
    agent = tiny_agent(name, data, seed=3)
    sampler = tiny_sampler(agent, data)
    for _ in range(3):
        agent.update(sampler.sample())
    clone = agent_from_state(agent.state_dict())
    assert type(clone) is type(agent) and clone.config == agent.config and clone.steps == 3
    # A loaded agent owns its Adam state: it shares no memory with the state's source.
    source = {t.data_ptr() for s in adam_state_refs(agent) for t in s.values()}
    assert not source & {t.data_ptr() for s in adam_state_refs(clone) for t in s.values()}
    batch = sampler.sample()
    agent.update(batch)
    clone.update(batch)
    assert_same_tensors(clone.nets.state_dict(), agent.nets.state_dict())
    assert_same_adam(adam_state(clone), adam_state(agent))
    obs, goals = batch.observations[:8], batch.actor_goals[:8]
    assert torch.equal(clone.act(obs, goals), agent.act(obs, goals))
    assert torch.equal(clone.value(obs, goals), agent.value(obs, goals))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_act_is_deterministic_clipped_and_shaped(name, data):
    agent = tiny_agent(name, data)
    obs, goals = data.obs(torch.arange(16)), data.obs(torch.arange(16).flip(0))
    actions = agent.act(obs, goals)
    assert actions.shape == (16, data.action_dim)
    assert torch.equal(actions, agent.act(obs, goals))
    assert actions.abs().max() <= 1.0
    assert agent.value(obs, goals).shape == (16,)


def test_saw_value_is_the_mean_of_its_two_heads(data):
    agent = tiny_agent("saw", data)
    obs, goals = data.obs(torch.arange(32)), data.obs(torch.arange(32).flip(0))
    with torch.no_grad():
        heads = agent.nets["value"](obs, goals)
    assert heads.shape == (2, 32)
    assert not torch.allclose(heads[0], heads[1])  # independently initialised heads
    torch.testing.assert_close(agent.value(obs, goals), (heads[0] + heads[1]) / 2)


def test_gciql_value_is_the_value_network(data):
    agent = tiny_agent("gciql", data)
    obs, goals = data.obs(torch.arange(8)), data.obs(torch.arange(8).flip(0))
    with torch.no_grad():
        expected = agent.nets["value"](torch.cat([obs, goals], -1)).squeeze(-1)
    torch.testing.assert_close(agent.value(obs, goals), expected)


def one_line(excinfo, *needles: str) -> str:
    assert isinstance(excinfo.value, GctttError)
    message = str(excinfo.value)
    assert "\n" not in message and message
    for needle in needles:
        assert needle in message, message
    return message


def test_unknown_backbone_is_a_one_line_error(data):
    with pytest.raises(UsageError) as excinfo:
        backbone_classes("hiql")
    one_line(excinfo, "'hiql'", "gcbc", "gciql", "saw")
    with pytest.raises(UsageError):
        make_agent("hiql", None, 2, 2)
    state = tiny_agent("gcbc", data).state_dict()
    with pytest.raises(CheckpointError) as excinfo:
        agent_from_state({**state, "backbone": "hiql"})
    one_line(excinfo, "'hiql'")


def test_loading_a_state_into_another_backbone_or_size_is_refused(data):
    gcbc = tiny_agent("gcbc", data)
    gciql = tiny_agent("gciql", data)
    with pytest.raises(CheckpointError) as excinfo:
        gciql.load_state_dict(gcbc.state_dict())
    one_line(excinfo, "gcbc", "gciql")
    config = gciql.config
    wider = make_agent("gciql", config, 29, 8)
    with pytest.raises(CheckpointError) as excinfo:
        wider.load_state_dict(gciql.state_dict())
    one_line(excinfo, "observation size 2", "29")


def test_initial_weights_depend_only_on_the_seed(data):
    torch.manual_seed(123)
    a = tiny_agent("saw", data, seed=7)
    torch.manual_seed(456)
    b = tiny_agent("saw", data, seed=7)
    c = tiny_agent("saw", data, seed=8)
    assert_same_tensors(a.nets.state_dict(), b.nets.state_dict())
    assert not torch.equal(a.nets["actor"].policy.mean.weight, c.nets["actor"].policy.mean.weight)
