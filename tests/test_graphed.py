"""The CUDA-graph update path (gcttt/agents/graphed.py), and proof that the CPU path is unchanged.

On the CPU nothing may change numerically: pre-training and fine-tuning must give bit-identical
weights, Adam state and records to the eager loops that ran before the graph path existed. Those
loops are written out here as the reference. The graph machinery itself (static buffers, in-place
resets, re-binding, fallback) runs on the CPU with `capture=False`; the capture only on CUDA.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from gcttt.agents import load_agent, make_agent
from gcttt.agents.graphed import (
    GraphedUpdates,
    StaticSubset,
    optimizer_tensors,
    resolve_update_mode,
    restore_in_place,
    update_mode_from_compile,
)
from gcttt.control.runner import EpisodeRunner, EpisodeSpec
from gcttt.control.ttt import TestTimeTrainer as Trainer
from gcttt.control.ttt import TTTConfig
from gcttt.data.sampler import GoalSampler
from gcttt.data.transitions import TransitionData
from gcttt.envs import dataset_info
from gcttt.errors import UsageError
from gcttt.files.checkpoint import read_checkpoint
from gcttt.presets import backbone_config, get_preset
from gcttt.pretrain import PretrainConfig, pretrain, resolved_scale
from gcttt.selection import SelectionConfig, Selector
from tests.conftest import MAZE

CUDA = torch.cuda.is_available()


def assert_same_state(a: dict, b: dict) -> None:
    """Bitwise equality of two agent `state_dict()`s: weights, targets, Adam state, step."""
    assert a["nets"].keys() == b["nets"].keys()
    for k in a["nets"]:
        assert torch.equal(a["nets"][k], b["nets"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for k in sa[i]:
            assert torch.equal(sa[i][k], sb[i][k]), (i, k)
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
    assert a["steps"] == b["steps"]


# --- the CPU path is unchanged ------------------------------------------------------------------


def reference_pretraining(config: PretrainConfig, train) -> dict:
    """The pre-training update loop as it was before update modes existed (no evaluation: it
    never touches the weights, the Adam state or the batch stream)."""
    info = dataset_info(config.dataset)
    scale = resolved_scale(config)
    agent_config = backbone_config(
        config.backbone,
        info,
        get_preset(config.preset),
        width=scale["width"],
        depth=scale["depth"],
        batch_size=scale["batch_size"],
        lr=scale["lr"],
    )
    agent = make_agent(config.backbone, agent_config, train.obs_dim, train.action_dim, seed=config.seed)
    sampler = GoalSampler(TransitionData.from_offline(train), agent.sampler_config(), torch.Generator().manual_seed(0))
    sampler.generator.manual_seed(config.seed)
    agent.train_mode(True)
    for _ in range(scale["steps"]):
        agent.update(sampler.sample())
    return agent.state_dict()


@pytest.mark.parametrize("backbone", ["gciql", "saw"])
def test_cpu_pretraining_is_bit_identical_to_the_eager_loop(tmp_path, maze_dir, maze_train, backbone):
    config = PretrainConfig(
        dataset=MAZE, backbone=backbone, preset="smoke", steps=12, out_dir=str(tmp_path), data_dir=str(maze_dir)
    )
    expected = reference_pretraining(config, maze_train)
    for mode in ("auto", "eager"):
        out = tmp_path / mode
        result = pretrain(dataclasses.replace(config, out_dir=str(out)), progress=False, update_mode=mode)
        assert_same_state(read_checkpoint(result.final_checkpoint)["agent"], expected)


def test_cpu_runner_and_trainer_keep_the_eager_finetuning_loop(smoke_checkpoint, maze_train):
    """On the CPU the runner picks the eager loop for auto, and one re-plan of the trainer equals
    the reference re-plan written out below, bit for bit."""
    runner = EpisodeRunner(smoke_checkpoint, maze_train)
    assert runner.update_mode == "eager" and not runner.compiled
    ttt = TTTConfig(horizon=50, steps=6, lr=3e-4, selection=SelectionConfig(strategy="critic"))
    spec = EpisodeSpec(task_id=1, method="gcttt", ttt=ttt)
    first = runner.run(spec)
    assert runner._graphed is None  # no graph path was built
    eager = EpisodeRunner(smoke_checkpoint, maze_train, update_mode="eager").run(spec)
    timing = {"wall_seconds", "act_seconds", "selection_seconds", "finetune_seconds"}
    row, ref = first.to_row(), eager.to_row()
    assert {k: v for k, v in row.items() if k not in timing} == {k: v for k, v in ref.items() if k not in timing}

    # One re-plan through the trainer vs the loop it ran before (restore, lr, select, N updates).
    data = TransitionData.from_offline(maze_train)
    start, goal = data.obs(data.first[0]).numpy(), data.obs(data.first[0] + 80).numpy()

    def build():
        agent, _ = load_agent(smoke_checkpoint)
        agent.train_mode(False)
        sampler = GoalSampler(data, agent.sampler_config(), torch.Generator().manual_seed(7))
        selector = Selector(ttt.selection, data, (0, 1), agent.value, agent.discount, torch.Generator().manual_seed(8))
        return agent, agent.snapshot(), sampler, selector

    agent, pretrained, sampler, selector = build()
    trainer = Trainer(agent, pretrained, sampler, selector, ttt, episode_limit=1000)
    trainer.begin(start, goal)
    trainer.replan(start)
    ref_agent, ref_pretrained, ref_sampler, ref_selector = build()
    g = torch.as_tensor(goal).reshape(1, -1)
    ref_selector.begin_episode(g)
    ref_agent.restore(ref_pretrained)
    ref_agent.set_lr(ttt.lr)
    selection = ref_selector.select(torch.as_tensor(start))
    assert selection.size > 0
    ref_agent.train_mode(True)
    for _ in range(ttt.steps):
        ref_agent.update(ref_sampler.sample_from(selection.indices, actor_goal=g, batch_size=trainer.batch_size))
    assert_same_state(agent.state_dict(), ref_agent.state_dict())


# --- modes ----------------------------------------------------------------------------------------


def test_update_modes_resolve_per_device():
    assert resolve_update_mode("auto", "cpu") == "eager"
    assert resolve_update_mode("eager", "cpu") == "eager"
    assert resolve_update_mode("compiled", "cpu") == "compiled"
    with pytest.raises(UsageError, match="needs a CUDA device"):
        resolve_update_mode("graph", "cpu")
    with pytest.raises(UsageError, match="update mode must be one of"):
        resolve_update_mode("fast", "cpu")
    if CUDA:
        assert resolve_update_mode("auto", "cuda") == "graph"
    assert [update_mode_from_compile(c) for c in ("auto", "on", "off")] == ["auto", "compiled", "eager"]


# --- static buffers, in-place resets ------------------------------------------------------------


@pytest.fixture
def agent_and_sampler(smoke_checkpoint, maze_train):
    agent, _ = load_agent(smoke_checkpoint)
    data = TransitionData.from_offline(maze_train)
    return agent, GoalSampler(data, agent.sampler_config(), torch.Generator().manual_seed(3))


def test_static_subset_holds_any_selection_without_reallocating():
    subset = StaticSubset(10, torch.device("cpu"))
    ptr = subset.indices.data_ptr()
    subset.load_(torch.tensor([4, 2, 9]))
    assert subset.indices[:3].tolist() == [4, 2, 9] and int(subset.count) == 3
    subset.load_(torch.arange(10))
    assert int(subset.count) == 10 and subset.indices.data_ptr() == ptr
    with pytest.raises(ValueError, match="does not fit"):
        subset.load_(torch.arange(11))
    with pytest.raises(ValueError, match="does not fit"):
        subset.load_(torch.zeros(0, dtype=torch.long))


def test_buffer_sampling_draws_uniformly_from_the_selection_only(agent_and_sampler):
    _, sampler = agent_and_sampler
    subset = StaticSubset(sampler.data.num_transitions, torch.device("cpu"))
    chosen = torch.tensor([5, 17, 40, 41, 42])
    subset.load_(torch.arange(100))  # stale entries beyond the count must never be drawn
    subset.load_(chosen)
    goal = sampler.data.obs(torch.tensor([60]))
    picks = []
    for _ in range(40):
        batch = sampler.sample_from_buffer(subset.indices, subset.count, actor_goal=goal, batch_size=64)
        assert torch.equal(batch.actor_goals, goal.expand(64, -1))
        picks.append(batch.observations)
    obs = torch.cat(picks)
    allowed = sampler.data.obs(chosen)
    match = (obs[:, None, :] == allowed[None]).all(-1)
    assert match.any(1).all()  # every draw is a selected transition
    counts = match.float().sum(0)
    assert (counts > 0.1 * len(obs) / len(chosen)).all()  # and each is drawn (uniform: ~512 each)


def test_restore_in_place_keeps_every_tensor_and_covers_an_empty_adam_state(agent_and_sampler):
    agent, sampler = agent_and_sampler
    snapshot = agent.snapshot()
    tensors = [t.data_ptr() for t in agent.nets.state_dict().values()]
    adam = [v.data_ptr() for s in optimizer_tensors(agent) for v in s.values()]
    for _ in range(3):
        agent.update(sampler.sample())
    restore_in_place(agent, snapshot)
    assert [t.data_ptr() for t in agent.nets.state_dict().values()] == tensors
    assert [v.data_ptr() for s in optimizer_tensors(agent) for v in s.values()] == adam
    for k, v in agent.nets.state_dict().items():
        assert torch.equal(v, snapshot["nets"][k])
    for state, saved in zip(optimizer_tensors(agent), snapshot["optimizer"], strict=True):
        assert all(torch.equal(state[k], saved[k]) for k in saved)
    fresh = dict(snapshot, optimizer=[{} for _ in snapshot["optimizer"]])
    restore_in_place(agent, fresh)  # a never-trained snapshot: zero moments, step 0, same tensors
    assert [v.data_ptr() for s in optimizer_tensors(agent) for v in s.values()] == adam
    assert all(float(v.abs().sum()) == 0.0 for s in optimizer_tensors(agent) for v in s.values())


def test_bind_reinstalls_the_captured_adam_tensors_with_the_new_values(agent_and_sampler):
    agent, sampler = agent_and_sampler
    graphed = GraphedUpdates(agent, sampler, capture=False)
    graphed._bound = optimizer_tensors(agent)
    captured = [dict(s) for s in graphed._bound]
    state = agent.state_dict()
    agent.update(sampler.sample())
    agent.load_state_dict(state)  # Optimizer.load_state_dict allocates new state tensors
    graphed.bind()
    for p, cap in zip(agent.trained_parameters(), captured, strict=True):
        live = agent.optimizer.state[p]
        assert all(live[k] is cap[k] for k in cap)
    for i, p in enumerate(agent.trained_parameters()):
        saved = state["optimizer"]["state"][i]
        assert all(torch.equal(agent.optimizer.state[p][k], saved[k]) for k in saved)


# --- the static-buffer step run directly (what the graph replays), and the fallback --------------


def test_graphed_finetuning_without_capture_trains_and_replays_per_seed(agent_and_sampler):
    agent, sampler = agent_and_sampler
    pretrained = agent.snapshot()
    graphed = GraphedUpdates(agent, sampler, capture=False)
    indices = torch.arange(10, 60)
    goal = sampler.data.obs(torch.tensor([70]))

    def run(seed: int) -> dict:
        agent.restore(pretrained)
        sampler.generator.manual_seed(seed)
        metrics = graphed.finetune(indices, goal, steps=4, batch_size=32)
        assert all(torch.isfinite(v) for v in metrics.values())
        return {k: v.clone() for k, v in agent.nets.state_dict().items()}

    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert any(not torch.equal(a[k], pretrained["nets"][k]) for k in a)
    assert agent.steps == pretrained["steps"] + 4
    assert graphed.finetune(indices, goal, steps=0, batch_size=32) == {}


def test_graphed_updates_drive_a_test_time_trainer(agent_and_sampler):
    agent, sampler = agent_and_sampler
    data = sampler.data
    ttt = TTTConfig(horizon=50, steps=3, selection=SelectionConfig(strategy="critic"))
    selector = Selector(ttt.selection, data, (0, 1), agent.value, agent.discount, torch.Generator().manual_seed(1))
    graphed = GraphedUpdates(agent, sampler, capture=False)
    trainer = Trainer(agent, agent.snapshot(), sampler, selector, ttt, episode_limit=1000, updates=graphed)
    start, goal = data.obs(data.first[0]).numpy(), data.obs(data.first[0] + 80).numpy()
    trainer.begin(start, goal)
    action = trainer.act(start, 0)
    assert action.shape == (data.action_dim,) and np.all(np.abs(action) <= 1)
    assert trainer.stats.updates == 3 and graphed._finetune  # the static-buffer step ran


def test_a_failed_capture_warns_once_and_runs_the_eager_loop(agent_and_sampler, monkeypatch):
    agent, sampler = agent_and_sampler
    pretrained = agent.snapshot()
    indices, goal = torch.arange(10, 60), sampler.data.obs(torch.tensor([70]))
    graphed = GraphedUpdates(agent, sampler, capture=False)
    graphed.capture = True  # as on CUDA, with a capture that fails

    def broken(*args):
        agent.update(sampler.sample())  # half-done work must be undone
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(graphed, "_capture", broken)
    sampler.generator.manual_seed(5)
    with pytest.warns(UserWarning, match="CUDA graph capture failed"):
        graphed.finetune(indices, goal, steps=3, batch_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        graphed.finetune(indices, goal, steps=0, batch_size=32)
        graphed.pretrain_step()
    assert graphed.failed.startswith("RuntimeError")
    after_fallback = agent.state_dict()
    # The reference: the eager loop from the same start and seed.
    agent2, _ = load_agent_like(agent, pretrained)
    sampler.generator.manual_seed(5)
    for _ in range(3):
        agent2.update(sampler.sample_from(indices, actor_goal=goal, batch_size=32))
    agent2.update(sampler.sample())
    assert_same_state(after_fallback, agent2.state_dict())


def load_agent_like(agent, snapshot):
    """A fresh copy of `agent` restored to `snapshot`."""
    state = agent.state_dict()
    other = make_agent(agent.name, agent.config, agent.obs_dim, agent.action_dim)
    other.load_state_dict(state)
    other.restore(snapshot)
    return other, state


# --- CUDA only ----------------------------------------------------------------------------------


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("backbone", ["gcbc", "gciql", "saw"])
def test_cuda_graph_finetuning_captures_replays_and_follows_seeds_and_lr(maze_train, backbone):
    info = dataset_info(MAZE)
    agent = make_agent(backbone, backbone_config(backbone, info, get_preset("smoke")), 2, 2, device="cuda")
    data = TransitionData.from_offline(maze_train, device="cuda")
    sampler = GoalSampler(data, agent.sampler_config(), torch.Generator("cuda").manual_seed(0))
    for _ in range(5):
        agent.update(sampler.sample())
    pretrained = agent.snapshot()
    graphed = GraphedUpdates(agent, sampler)
    indices, goal = torch.arange(10, 60, device="cuda"), data.obs(torch.tensor([70], device="cuda"))

    def run(seed: int, lr: float = 3e-4) -> dict:
        agent.restore(pretrained)
        agent.set_lr(lr)
        sampler.generator.manual_seed(seed)
        graphed.finetune(indices, goal, steps=5, batch_size=64)
        return {k: v.clone() for k, v in agent.nets.state_dict().items()}

    a, b, c = run(1), run(1), run(2)
    assert graphed.failed is None and graphed._finetune[64].graph is not None
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    frozen = run(1, lr=0.0)
    trained = [k for k in a if not k.startswith("target_")]
    assert all(torch.equal(frozen[k], pretrained["nets"][k]) for k in trained)
    metrics = graphed.pretrain_step()
    assert all(torch.isfinite(v) for v in metrics.values())
    assert isinstance(agent.optimizer.param_groups[0]["lr"], float)
