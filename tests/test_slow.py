"""Longer checks, outside the default run (`make test-slow`): compiled updates, the shipped expert."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


def test_compiled_updates_match_eager_and_run_an_episode(smoke_checkpoint, maze_train):
    from gcttt.agents import load_agent
    from gcttt.control.runner import EpisodeRunner, EpisodeSpec
    from gcttt.control.ttt import TTTConfig
    from gcttt.data.sampler import GoalSampler
    from gcttt.data.transitions import TransitionData
    from gcttt.selection import SelectionConfig

    eager, _ = load_agent(smoke_checkpoint)
    compiled, _ = load_agent(smoke_checkpoint)
    data = TransitionData.from_offline(maze_train)
    batch = GoalSampler(data, eager.sampler_config(), torch.Generator().manual_seed(0)).sample()
    update = compiled.compiled_update()
    for _ in range(3):
        a, b = eager.update(batch), update(batch)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    for (name, p), q in zip(eager.nets.named_parameters(), compiled.nets.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)

    runner = EpisodeRunner(smoke_checkpoint, maze_train, compile="on")
    spec = EpisodeSpec(
        task_id=1, method="gcttt", ttt=TTTConfig(horizon=500, steps=3, selection=SelectionConfig(eps=50))
    )
    record = runner.run(spec)
    assert record.compiled and record.updates > 0


def test_the_shipped_ant_expert_navigates_antmaze_medium():
    from gcttt.datagen.expert.checks import MAZE_BAR, maze_success
    from gcttt.datagen.expert.shipped import load_expert

    rates = maze_success(load_expert("ant"), "antmaze-medium-navigate-v0", episodes_per_task=2)
    assert sum(rates) / len(rates) >= MAZE_BAR, rates
