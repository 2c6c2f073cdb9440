"""Receding-horizon test-time training (docs/method.md §6): reset, fine-tuning batches, once-per-episode, knobs.

The controller is driven directly (`begin`, then `act` step by step) with observations taken from
the tiny dataset, so no env is needed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gcttt.agents import load_agent
from gcttt.control.ttt import TestTimeTrainer as Trainer
from gcttt.control.ttt import TTTConfig, TTTStats, schedule_for
from gcttt.data.sampler import GoalSampler
from gcttt.data.transitions import TransitionData
from gcttt.errors import GctttError, UsageError
from gcttt.selection import SelectionConfig, Selector


@pytest.fixture(scope="module")
def data(maze_train) -> TransitionData:
    return TransitionData.from_offline(maze_train)


@pytest.fixture
def setup(smoke_checkpoint, data):
    agent, _ = load_agent(smoke_checkpoint)
    agent.train_mode(False)
    assert len(agent.optimizer.state) > 0  # pre-trained Adam moments to be restored
    pretrained = agent.snapshot()
    sampler = GoalSampler(data, agent.sampler_config(), torch.Generator().manual_seed(0))
    return agent, pretrained, sampler


def trainer_for(setup, data, config: TTTConfig) -> Trainer:
    agent, pretrained, sampler = setup
    selector = Selector(config.selection, data, (0, 1), agent.value, agent.discount, torch.Generator().manual_seed(1))
    return Trainer(agent, pretrained, sampler, selector, config, episode_limit=1000)


def start_and_goal(data: TransitionData) -> tuple[np.ndarray, np.ndarray]:
    """The first state of dataset episode 0 and a state 80 steps later on the same trajectory."""
    start = data.first[0]
    return data.obs(start).numpy(), data.obs(start + 80).numpy()


def state_of(agent) -> tuple[dict, list]:
    nets = {k: v.clone() for k, v in agent.nets.state_dict().items()}
    adam = [{k: v.clone() for k, v in agent.optimizer.state.get(p, {}).items()} for p in agent.trained_parameters()]
    return nets, adam


def equals_snapshot(state: tuple[dict, list], snapshot: dict) -> bool:
    nets, adam = state
    same_nets = nets.keys() == snapshot["nets"].keys() and all(
        torch.equal(v, snapshot["nets"][k]) for k, v in nets.items()
    )
    same_adam = len(adam) == len(snapshot["optimizer"]) and all(
        a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        for a, b in zip(adam, snapshot["optimizer"], strict=True)
    )
    return same_nets and same_adam


def test_every_replan_starts_from_the_pretrained_state(setup, data, monkeypatch):
    agent, pretrained, _ = setup
    config = TTTConfig(horizon=2, steps=3, lr=1e-3)
    trainer = trainer_for(setup, data, config)
    at_selection, after_finetune = [], []
    select = trainer.selector.select

    def spy(state):
        at_selection.append((state_of(agent), agent.steps, agent.optimizer.param_groups[0]["lr"]))
        return select(state)

    monkeypatch.setattr(trainer.selector, "select", spy)
    observation, goal = start_and_goal(data)
    trainer.begin(observation, goal)
    for step in range(6):
        trainer.act(observation, step)
        if step % 2 == 0:
            after_finetune.append(state_of(agent))
    assert trainer.stats.replans == 3 and trainer.stats.updates == 9
    assert all(n > 0 for n in trainer.stats.selected)
    assert len(at_selection) == 3
    for state, steps, lr in at_selection:
        assert equals_snapshot(state, pretrained)  # weights, targets and Adam moments
        assert steps == pretrained["steps"]
        assert lr == 1e-3
    # Fine-tuning did change the weights, so the equalities above are not vacuous.
    for state in after_finetune:
        assert not equals_snapshot(state, pretrained)


def test_finetuning_batches_pin_the_actor_goal_and_stay_in_the_selection(setup, data, monkeypatch):
    agent = setup[0]
    trainer = trainer_for(setup, data, TTTConfig(horizon=4, steps=5))
    batches, selections = [], []
    update, select = trainer.update, trainer.selector.select

    def record_update(batch):
        batches.append(batch)
        return update(batch)

    def record_select(state):
        selections.append(select(state))
        return selections[-1]

    monkeypatch.setattr(trainer, "update", record_update)
    monkeypatch.setattr(trainer.selector, "select", record_select)
    observation, goal = start_and_goal(data)
    trainer.begin(observation, goal)
    for step in range(8):
        trainer.act(observation, step)
    assert len(batches) == 10 and len(selections) == 2
    g = torch.as_tensor(goal).reshape(1, -1)
    for i, batch in enumerate(batches):
        assert batch.size == agent.config.batch_size
        assert torch.equal(batch.actor_goals, g.expand(batch.size, -1))
        # Value goals are relabelled as in pre-training, not pinned to g*.
        assert not torch.equal(batch.value_goals, batch.actor_goals)
        allowed = data.obs(selections[i // 5].indices)
        assert (batch.observations[:, None, :] == allowed[None]).all(-1).any(1).all()


def test_nothing_selected_skips_finetuning(setup, data, monkeypatch):
    agent, pretrained, sampler = setup
    trainer = trainer_for(setup, data, TTTConfig(horizon=2, steps=5))
    calls = []
    monkeypatch.setattr(sampler, "sample_from", lambda *a, **k: calls.append(a))
    far = np.array([100.0, -100.0], dtype=np.float32)  # no dataset state within eps
    _, goal = start_and_goal(data)
    trainer.begin(far, goal)
    for step in range(5):
        action = trainer.act(far, step)
        assert action.shape == (2,)
    assert trainer.stats.replans == 3 and trainer.stats.selected == [0, 0, 0]
    assert trainer.stats.updates == 0 and calls == []
    assert equals_snapshot(state_of(agent), pretrained)


def test_once_per_episode_finetunes_once_and_returns_to_the_pretrained_policy(setup, data):
    agent, pretrained, _ = setup
    config = TTTConfig(horizon=2, steps=3, once=True)
    assert config.schedule == "once"
    trainer = trainer_for(setup, data, config)
    observation, goal = start_and_goal(data)
    trainer.begin(observation, goal)
    trainer.act(observation, 0)
    reset_at = trainer.reset_at
    assert reset_at is not None and reset_at > 2
    assert not equals_snapshot(state_of(agent), pretrained)
    for step in range(1, reset_at):
        trainer.act(observation, step)
    assert not equals_snapshot(state_of(agent), pretrained)  # still fine-tuned, no re-plan at K = 2
    trainer.act(observation, reset_at)
    assert equals_snapshot(state_of(agent), pretrained)  # the selected segment is acted out
    for step in range(reset_at + 1, reset_at + 4):
        trainer.act(observation, step)
    assert trainer.stats.replans == 1 and trainer.stats.updates == 3
    assert trainer.stats.act_calls == reset_at + 4


def test_critic_free_finetunes_once_and_keeps_the_finetuned_policy(setup, data):
    agent, pretrained, _ = setup
    config = TTTConfig(horizon=2, steps=1, selection=SelectionConfig(strategy="critic-free", q=1.0))
    assert config.schedule == "once-keep"
    trainer = trainer_for(setup, data, config)
    observation, goal = start_and_goal(data)
    trainer.begin(observation, goal)
    trainer.act(observation, 0)
    assert trainer.stats.updates == 1
    finetuned = state_of(agent)
    for step in range(1, 300):  # far past any selected segment: no reset, no re-plan
        trainer.act(observation, step)
    assert trainer.stats.replans == 1 and trainer.reset_at is None
    assert all(torch.equal(v, finetuned[0][k]) for k, v in state_of(agent)[0].items())
    assert not equals_snapshot(state_of(agent), pretrained)


def test_k_at_the_episode_limit_is_once_per_episode_and_above_it_is_refused(setup, data):
    agent, pretrained, sampler = setup
    selector = Selector(SelectionConfig(), data, (0, 1), agent.value, agent.discount, torch.Generator())
    at_limit = Trainer(agent, pretrained, sampler, selector, TTTConfig(horizon=200, steps=1), episode_limit=200)
    assert at_limit.schedule == "once"
    assert schedule_for(TTTConfig(horizon=100), 200) == "receding"
    with pytest.raises(UsageError, match="K = 500 exceeds the episode limit"):
        Trainer(agent, pretrained, sampler, selector, TTTConfig(horizon=500), episode_limit=200)
    # critic-free does not read K at all.
    free = TTTConfig(horizon=500, selection=SelectionConfig(strategy="critic-free"))
    assert schedule_for(free, 200) == "once-keep"


def test_finetuning_batches_have_the_asked_size(setup, data):
    sizes = []
    trainer = trainer_for(setup, data, TTTConfig(horizon=5, steps=2, batch_size=7))
    trainer.update = lambda batch: sizes.append(batch.size)
    observation, goal = start_and_goal(data)
    trainer.begin(observation, goal)
    trainer.act(observation, 0)
    assert sizes == [7, 7]


def test_begin_resets_the_agent_and_the_stats(setup, data):
    agent, pretrained, _ = setup
    trainer = trainer_for(setup, data, TTTConfig(horizon=3, steps=2))
    observation, goal = start_and_goal(data)
    trainer.begin(observation, goal)
    for step in range(4):
        trainer.act(observation, step)
    assert trainer.stats.replans == 2
    trainer.begin(observation, goal)
    assert trainer.stats == TTTStats()
    assert equals_snapshot(state_of(agent), pretrained)


@pytest.mark.parametrize(
    ("knobs", "needle"),
    [
        ({"horizon": 0}, "K"),
        ({"steps": -1}, "N"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -1e-4}, "lr"),
        ({"batch_size": 0}, "the fine-tuning batch size"),
        ({"selection": {"q": 1.5}}, "q"),
        ({"selection": {"q": 0.0}}, "q"),
        ({"selection": {"eps": 0.0}}, "eps"),
        ({"selection": {"eps": -1.0}}, "eps"),
    ],
)
def test_bad_knobs_are_one_line_usage_errors(knobs, needle):
    with pytest.raises(UsageError) as excinfo:
        if "selection" in knobs:
            TTTConfig(selection=SelectionConfig(**knobs["selection"]))
        else:
            TTTConfig(**knobs)
    message = str(excinfo.value)
    assert isinstance(excinfo.value, GctttError) and "\n" not in message
    assert message.startswith(needle + " ")


def test_zero_gradient_steps_replan_without_updates(setup, data):
    agent, pretrained, _ = setup
    trainer = trainer_for(setup, data, TTTConfig(horizon=2, steps=0))
    observation, goal = start_and_goal(data)
    trainer.begin(observation, goal)
    for step in range(4):
        trainer.act(observation, step)
    assert trainer.stats.replans == 2 and trainer.stats.updates == 0
    assert equals_snapshot(state_of(agent), pretrained)
