"""What test-time training updates (`TTTConfig.finetune`): every network, or the actor alone.

The claim that makes 'actor' GC-BC's default is that it changes nothing but the cost: no value or
critic update made at test time can change a GC-BC action. These tests check it where it matters,
on the rows: GC-TTT episodes of a GC-BC checkpoint played both ways are identical in every column
but times, FLOP counts and the `finetune` column itself.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from analysis.synthetic import record
from gcttt.agents import load_agent
from gcttt.agents.gcbc import GCBCAgent
from gcttt.agents.gciql import GCIQLAgent
from gcttt.agents.saw import SAWAgent
from gcttt.control.flops import CostModel, count_flops
from gcttt.control.runner import EpisodeRunner, EpisodeSpec
from gcttt.control.ttt import TTTConfig, ttt_columns, ttt_from_columns
from gcttt.data.sampler import GoalSampler
from gcttt.data.transitions import TransitionData
from gcttt.errors import UsageError
from gcttt.results.records import SCHEMA, read_part, write_records
from gcttt.selection import SelectionConfig

MAZE = "pointmaze-medium-navigate-v0"

COSTS = {"wall_seconds", "act_seconds", "selection_seconds", "finetune_seconds"} | {
    "flops_finetune",
    "flops_total",
    "flops_per_update",
}
"""Columns that may differ between 'all' and 'actor': times, and the counted cost of the updates."""


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, maze_dir):
    """Smoke-preset checkpoints of every backbone on the shared tiny dataset (GC-BC 400 updates, so
    that its actor is no longer at its initial weights and selection finds data; the others 50:
    their tests only need trained Adam moments)."""
    from gcttt.pretrain import PretrainConfig, pretrain

    out = tmp_path_factory.mktemp("finetune-part")
    made = {}
    for backbone in ("gcbc", "gciql", "saw"):
        config = PretrainConfig(
            dataset=MAZE,
            backbone=backbone,
            preset="smoke",
            steps=400 if backbone == "gcbc" else 50,
            out_dir=str(out),
            data_dir=str(maze_dir),
        )
        made[backbone] = str(pretrain(config, progress=False).final_checkpoint)
    return made


def comparable(record) -> dict:
    return {k: v for k, v in asdict(record).items() if k not in COSTS | {"finetune"}}


def test_gcbc_rows_are_identical_with_actor_only_updates(checkpoints, maze_train):
    """Critic selection re-planning 5 times per episode, critic-free (selects once) and the random
    control: 'actor' plays every episode exactly as 'all' does, at a fraction of the update FLOPs.
    (A wide relevance radius, so that the tiny dataset has data to select at every re-plan.)"""
    runner = EpisodeRunner(checkpoints["gcbc"], maze_train)
    cases = [("critic", 200, 1), ("critic", 200, 2), ("critic-free", 1, 1), ("random", 250, 1), ("random", 250, 2)]
    for strategy, k, task in cases:
        selection = SelectionConfig(strategy, eps=10.0).canonical()
        rows, paths = {}, {}
        for part in ("all", "actor"):
            ttt = TTTConfig(horizon=k, steps=8, selection=selection, finetune=part)
            rows[part], trajectory = runner.run_traced(EpisodeSpec(task_id=task, episode_index=task, ttt=ttt))
            paths[part] = trajectory.path
        full, actor = rows["all"], rows["actor"]
        # the x-y path too: an untrained checkpoint fails either way, so success alone would say little
        assert np.array_equal(paths["all"], paths["actor"]), f"{strategy}, task {task}: the paths differ"
        assert (full.finetune, actor.finetune) == ("all", "actor")
        assert full.updates > 0 and full.updates == actor.updates, f"{strategy}: nothing was fine-tuned"
        if strategy == "critic":
            # restore, select and fine-tune again, several times in the episode
            assert full.replans == 5 and sum(n > 0 for n in full.selected_per_replan) >= 3
        assert comparable(full) == comparable(actor), f"{strategy}, task {task}"
        assert 0 < actor.flops_per_update < full.flops_per_update
        assert actor.flops_finetune == actor.updates * actor.flops_per_update


def test_gcbc_defaults_to_actor_only_and_the_others_to_all(checkpoints, maze_train):
    assert TTTConfig().for_backbone(GCBCAgent).finetune == "actor"
    assert TTTConfig().for_backbone(GCIQLAgent).finetune == "all"
    assert TTTConfig().for_backbone(SAWAgent).finetune == "all"
    assert TTTConfig(finetune="all").for_backbone(GCBCAgent).finetune == "all"
    runner = EpisodeRunner(checkpoints["gcbc"], maze_train)
    record = runner.run(EpisodeSpec(task_id=1, ttt=TTTConfig(horizon=500, steps=2)))
    assert record.finetune == "actor"
    baseline = runner.run(EpisodeSpec(task_id=1, method="baseline"))
    assert baseline.finetune == ""


@pytest.mark.parametrize("backbone", ["gcbc", "gciql", "saw"])
def test_an_actor_update_moves_the_actor_alone(checkpoints, maze_train, backbone):
    agent, _ = load_agent(checkpoints[backbone])
    data = TransitionData.from_offline(maze_train)
    sampler = GoalSampler(data, agent.sampler_config(), torch.Generator().manual_seed(0))
    before = agent.snapshot()
    others = [n for n in agent.nets if n not in agent.acting_networks]
    for _ in range(3):
        agent.actor_update(sampler.sample())
    after = agent.nets.state_dict()
    changed = {k.split(".", 1)[0] for k, v in after.items() if not torch.equal(v, before["nets"][k])}
    assert changed == set(agent.acting_networks)
    owners = agent._trained_parameter_networks()
    for p, owner, saved in zip(agent.trained_parameters(), owners, before["optimizer"], strict=True):
        state = agent.optimizer.state.get(p, {})
        same = state.keys() == saved.keys() and all(torch.equal(state[k], saved[k]) for k in saved)
        assert same == (owner not in agent.acting_networks), owner
    assert others  # every backbone has networks that acting does not read


def test_gcbc_actor_weights_match_the_full_update_bit_for_bit(checkpoints, maze_train):
    data = TransitionData.from_offline(maze_train)
    agents = {}
    for part in ("all", "actor"):
        agent, _ = load_agent(checkpoints["gcbc"])
        sampler = GoalSampler(data, agent.sampler_config(), torch.Generator().manual_seed(5))
        update = agent.updater(part)
        for _ in range(20):
            update(sampler.sample())
        agents[part] = agent
    full, actor = (agents[p].nets["actor"].state_dict() for p in ("all", "actor"))
    assert all(torch.equal(full[k], actor[k]) for k in full)
    # ... and the full update did move the value and critic, which the actor update left alone
    assert not torch.equal(
        agents["all"].nets["value"].state_dict()[next(iter(agents["all"].nets["value"].state_dict()))],
        agents["actor"].nets["value"].state_dict()[next(iter(agents["actor"].nets["value"].state_dict()))],
    )


def test_restoring_only_the_changed_networks_gives_back_the_snapshot(checkpoints, maze_train):
    agent, _ = load_agent(checkpoints["gciql"])
    data = TransitionData.from_offline(maze_train)
    sampler = GoalSampler(data, agent.sampler_config(), torch.Generator().manual_seed(0))
    snapshot = agent.snapshot()
    for _ in range(3):
        agent.actor_update(sampler.sample())
    agent.restore(snapshot, agent.trained_networks("actor"))
    state = agent.nets.state_dict()
    assert all(torch.equal(state[k], v) for k, v in snapshot["nets"].items())
    for p, saved in zip(agent.trained_parameters(), snapshot["optimizer"], strict=True):
        state = agent.optimizer.state.get(p, {})
        assert state.keys() == saved.keys() and all(torch.equal(state[k], saved[k]) for k in saved)


@pytest.mark.parametrize("backbone", ["gcbc", "gciql", "saw"])
def test_actor_update_flops_count_what_runs(checkpoints, maze_train, backbone):
    agent, _ = load_agent(checkpoints[backbone])
    data = TransitionData.from_offline(maze_train)
    sampler = GoalSampler(data, agent.sampler_config(), torch.Generator().manual_seed(0))
    costs = CostModel.measure(agent, sampler)
    batch = sampler.sample(48)
    assert count_flops(lambda: agent.actor_update(batch)) == costs.update_flops(48, "actor")
    assert 0 < costs.update_flops(48, "actor") < costs.update_flops(48, "all")
    with pytest.raises(ValueError, match="unknown fine-tuning part"):
        costs.update_flops(48, "critic")


def test_the_knob_round_trips_through_columns_and_older_rows_read_as_all(tmp_path):
    config = TTTConfig(horizon=200, steps=5, finetune="actor")
    assert ttt_columns(config)["finetune"] == "actor"
    assert ttt_from_columns(ttt_columns(config)) == config
    assert ttt_columns(None)["finetune"] == ""
    with pytest.raises(ValueError, match="for_backbone"):
        ttt_columns(TTTConfig())
    with pytest.raises(UsageError, match="finetune must be"):
        TTTConfig(finetune="critic")
    # rows written before the column existed: GC-TTT rows trained everything, baselines nothing
    columns = ttt_columns(TTTConfig(horizon=200, finetune="all"))
    del columns["finetune"]
    assert ttt_from_columns(columns).finetune == "all"
    path = write_records(tmp_path, [record(), record(method="gcttt")])
    old = pq.read_table(path)
    old = old.drop_columns(["finetune"])
    pq.write_table(old, path)
    table = read_part(path)
    assert table.schema.field("finetune") == SCHEMA.field("finetune")
    assert table.column("finetune").to_pylist() == ["", "all"]
    assert isinstance(table, pa.Table)


def _played(part, seconds, steps_of_last, fails=False, horizon=200, backbone="gcbc"):
    """Ten GC-TTT episodes of one configuration, fine-tuning `part`, as published rows."""
    from gcttt.results.records import RunContext, records_table

    made = [
        record(
            method="gcttt",
            backbone=backbone,
            finetune=part,
            horizon=horizon,
            task_id=1 + i % 5,
            episode_index=i // 5,
            seed=100 + i,
            success=i % 2 == 0 and not fails,
            episode_steps=steps_of_last if i == 9 else 100,
            finetune_seconds=seconds,
            flops_finetune=4_000_000_000 if part == "all" else 1_000_000_000,
            flops_total=5_000_000_000 if part == "all" else 2_000_000_000,
            checkpoint_fingerprint="w1",
            machine="AMD EPYC (AVX2)",
        )
        for i in range(10)
    ]
    context = RunContext(trial_id=f"{part}-{horizon}", sweep_id=part)
    return records_table(((r, {}) for r in made), context).to_pandas()


def _baseline(backbone="gcbc"):
    from gcttt.results.records import RunContext, records_table

    acting = record(
        method="baseline",
        backbone=backbone,
        finetune="",
        flops_total=10_000_000,
        success=True,
        checkpoint_fingerprint="w1",
    )
    return records_table([(acting, {})], RunContext(trial_id="base", sweep_id="all")).to_pandas()


def test_the_finetune_table_pairs_the_same_episodes_and_counts_those_that_end_alike():
    """analysis/finetune_parts.py: one line per configuration played both ways on the same weights."""
    import pandas as pd

    from analysis.finetune_parts import markdown

    rows, base = _played, _baseline()
    both = pd.concat([rows("all", 8.0, 100), rows("actor", 2.0, 120)], ignore_index=True)
    with pytest.raises(UsageError, match="no baseline episodes"):
        markdown(both, resamples=200)
    table = markdown(pd.concat([both, base], ignore_index=True), resamples=200)
    line = next(line for line in table.splitlines() if line.startswith("| GC-BC"))
    assert "| 10 | 9 |" in line  # 10 episodes played both ways, the last ended after other steps
    assert "8.0 / 2.0 (4.0x less)" in line and "4 / 1 (4.0x less)" in line
    assert "| 500 / 200 (2.5x less) |" in line  # whole episodes, in the base model's acting per episode
    assert "10 GC-TTT episodes" in table and "ending alike (success and steps): GC-BC 9 of 10." in table
    assert "| +0.00 [+0.00, +0.00] |" in line  # actor minus all, episode by episode
    assert "baseline episodes: GC-BC on pointmaze-medium-navigate 1.00 [1.00, 1.00] (1 episode)." in table
    # a backbone whose actor-only episodes all fail where half the full ones succeeded: -0.50, paired
    worse = pd.concat([rows("all", 8.0, 100), rows("actor", 2.0, 100, fails=True), base], ignore_index=True)
    line = next(line for line in markdown(worse, resamples=200).splitlines() if line.startswith("| GC-BC"))
    paired = line.split(" | ")[10]
    mean, low, high = (float(v) for v in paired.replace("[", "").replace("]", "").replace(",", "").split())
    assert mean == -0.5 and low < mean < high < 0, paired
    assert "over every configuration" not in table  # one configuration: nothing to pool
    # two configurations of one setting, one alike both ways and one where 'actor' loses half: pooled -0.25
    two = pd.concat([worse, rows("all", 8.0, 100, horizon=100), rows("actor", 2.0, 100, horizon=100)])
    assert "GC-BC on pointmaze-medium-navigate -0.25 [" in (pooled := markdown(two, resamples=200))
    assert "over 20 pairs" in pooled
    with pytest.raises(UsageError, match="both --finetune all and actor"):
        markdown(rows("all", 8.0, 100))


def test_the_finetune_figure_draws_a_panel_per_setting_and_an_arrow_per_configuration(tmp_path):
    """analysis/plot_finetune.py: the compute arms of each setting (critic, its largest N, the most
    checkpoints), every network against the actor alone."""
    import matplotlib.image
    import pandas as pd

    from analysis import plot_finetune
    from analysis.finetune_parts import configurations

    gcbc = [_played("all", 8.0, 100), _played("actor", 2.0, 100), _baseline()]
    gciql = [
        _played(p, 8.0, 100, fails=p == "actor", horizon=k, backbone="gciql")
        for p in ("all", "actor")
        for k in (100, 500)
    ]
    table = configurations(pd.concat([*gcbc, *gciql, _baseline("gciql")], ignore_index=True), resamples=200)
    shown = plot_finetune.shown(table)
    drawn = sorted(zip(shown["backbone"], shown["horizon"], strict=True))
    assert drawn == [("gcbc", 200), ("gciql", 100), ("gciql", 500)]
    assert list(shown["diff"][shown["backbone"] == "gciql"]) == [-0.5, -0.5]
    # a configuration at a smaller N is not one of the compute arms: left out
    fewer = table.copy()
    fewer.loc[fewer.index[-1], "grad_steps"] -= 1
    assert len(plot_finetune.shown(fewer)) == 2
    png, pdf = plot_finetune.draw(table, str(tmp_path), "parts")
    image = matplotlib.image.imread(png)
    assert pdf.stat().st_size > 5_000 and image.shape[1] > 2 * image.shape[0]  # two panels side by side
    assert image[..., :3].std() > 0.05
    with pytest.raises(SystemExit) as done:
        plot_finetune.main(["--help"])
    assert done.value.code == 0
    assert plot_finetune.main([str(tmp_path / "nowhere")]) == 2
