"""The house rules that keep gcttt easy to extend: a pure library, one place per backbone, a
strategy registry, and episodes that replay identically anywhere."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import gcttt

REPO = Path(__file__).resolve().parent.parent
TIMING = {"wall_seconds", "act_seconds", "selection_seconds", "finetune_seconds", "checkpoint", "device"}


def test_the_library_imports_without_ray_mlflow_sweeps_or_workers():
    modules = sorted(m.name for m in pkgutil.walk_packages(gcttt.__path__, "gcttt."))
    assert len(modules) > 30
    script = f"""
import sys, importlib, importlib.abc

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ray", "mlflow", "sweeps", "workers", "analysis"):
            raise ImportError(f"the library imported {{name}}")
        return None

sys.meta_path.insert(0, Refuse())
for name in {modules!r}:
    importlib.import_module(name)
print("ok", len({modules!r}))
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("ok")


# --- a toy backbone and a toy strategy: what adding one takes ----------------------------------


def test_a_new_backbone_is_its_file_plus_one_registry_line(monkeypatch, maze_train):
    """A toy backbone written as a new file would be: a config, dataset_overrides, the agent and
    BACKBONE. Registering it is one line in gcttt/agents/__init__.py; presets, pre-training,
    checkpoints and the runner then take it with no other change."""
    from torch import nn

    from gcttt.agents import BACKBONES, agent_from_state, make_agent
    from gcttt.agents.base import Backbone
    from gcttt.agents.gcbc import GCBCAgent, GCBCConfig
    from gcttt.envs import dataset_info
    from gcttt.presets import backbone_config, get_preset

    @dataclass(frozen=True)
    class ToyConfig(GCBCConfig):
        """GC-BC with a smaller default expectile (a 'new' hyperparameter default)."""

        expectile: float = 0.8
        """IQL expectile for V."""

    class ToyAgent(GCBCAgent):
        name = "toy"

        def build_networks(self) -> nn.ModuleDict:
            return super().build_networks()

    def toy_overrides(info):
        return {"discount": 0.97 if info.kind == "stitch" else 0.99}

    monkeypatch.setitem(BACKBONES, "toy", Backbone("toy", ToyAgent, ToyConfig, toy_overrides))
    info = dataset_info("pointmaze-medium-stitch-v0")
    config = backbone_config("toy", info, get_preset("smoke"))
    assert (config.discount, config.expectile, config.width) == (0.97, 0.8, 32)
    agent = make_agent("toy", config, 2, 2)
    clone = agent_from_state(agent.state_dict())
    assert isinstance(clone, ToyAgent) and clone.config == config


def test_a_new_selection_strategy_is_one_decorated_function(monkeypatch):
    from gcttt.selection import STRATEGIES, Selection, SelectionConfig, knob_columns, strategies_help, strategy

    monkeypatch.setitem(STRATEGIES, "first-transitions", None)  # removed again after the test

    @strategy("first-transitions", knobs=("random_size",), summary="toy: the first transitions")
    def first(sel, state):
        n = sel.config.random_size
        return Selection(torch.arange(n), 1, 0, n)

    config = SelectionConfig(strategy="first-transitions", random_size=3)
    assert config.receding and knob_columns(config)["random_size"] == 3 and knob_columns(config)["eps"] == 0
    assert "first-transitions" in strategies_help()


# --- replays ---------------------------------------------------------------------------------


def comparable(record) -> dict:
    return {k: v for k, v in asdict(record).items() if k not in TIMING}


def _smoke_checkpoint(tmp_path, data_dir, dataset: str, backbone: str, **overrides) -> str:
    from gcttt.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(
        dataset=dataset, backbone=backbone, preset="smoke", steps=20, eval_every=0, eval_episodes=1,
        out_dir=str(tmp_path / "runs"), data_dir=str(data_dir),
    )  # fmt: skip
    if overrides:
        # A learned-std actor: pre-train with the config override through the library.
        from gcttt import presets

        original = presets.backbone_config

        def patched(*args, **kwargs):
            return original(*args, **{**kwargs, **overrides})

        import gcttt.pretrain as pretrain_module

        pretrain_module.backbone_config = patched
        try:
            return str(pretrain(config, progress=False).final_checkpoint)
        finally:
            pretrain_module.backbone_config = original
    return str(pretrain(config, progress=False).final_checkpoint)


def _replays_identically(checkpoint: str, train, spec) -> None:
    from gcttt.control.runner import EpisodeRunner

    records = []
    for attempt in range(2):
        # Global RNGs in any state: an episode must not depend on them (nor change them).
        np.random.seed(attempt)
        torch.manual_seed(1000 + attempt)
        before = np.random.get_state()[1].copy()
        records.append(EpisodeRunner(checkpoint, train).run(spec))
        assert np.array_equal(np.random.get_state()[1], before), "the episode moved NumPy's global RNG"
    assert comparable(records[0]) == comparable(records[1])


@pytest.mark.parametrize(
    ("backbone", "overrides"),
    [("gcbc", {}), ("gciql", {}), ("gciql", {"const_std": False}), ("saw", {})],
    ids=["gcbc", "gciql", "gciql-learned-std", "saw"],
)
def test_an_episode_replays_identically_on_a_fresh_runner(tmp_path, maze_dir, maze_train, backbone, overrides):
    from gcttt.control.runner import EpisodeSpec
    from gcttt.control.ttt import TTTConfig
    from gcttt.selection import SelectionConfig

    checkpoint = _smoke_checkpoint(tmp_path, maze_dir, "pointmaze-medium-navigate-v0", backbone, **overrides)
    ttt = TTTConfig(horizon=400, steps=3, selection=SelectionConfig(eps=100.0))
    _replays_identically(checkpoint, maze_train, EpisodeSpec(task_id=2, method="gcttt", ttt=ttt, seed=5))


def test_cube_goals_and_episodes_replay_identically(tmp_path):
    from gcttt.control.runner import EpisodeSpec
    from gcttt.data.access import load_datasets
    from gcttt.datagen.generation import generate_dataset

    dataset = "cube-single-play-v0"
    generate_dataset(dataset, tmp_path / "data", episodes=2, max_episode_steps=60, workers=1, progress=False)
    train, _ = load_datasets(dataset, tmp_path / "data")
    checkpoint = _smoke_checkpoint(tmp_path, tmp_path / "data", dataset, "gcbc")
    _replays_identically(checkpoint, train, EpisodeSpec(task_id=3, method="baseline", seed=1))


def test_a_cached_goal_table_holds_the_pretrained_distances_and_replays(
    tmp_path, monkeypatch, smoke_checkpoint, maze_train
):
    """A goal the cache misses is filled lazily during the episode and completed after it; the
    stored table must be the pre-trained value's (not the fine-tuned policy's at the episode's
    end), and a later run reading it must play the same episode."""
    import gcttt.selection.distances as distances
    from gcttt.control.runner import EpisodeRunner, EpisodeSpec
    from gcttt.control.ttt import TTTConfig
    from gcttt.selection import DistanceCache, SelectionConfig
    from gcttt.selection.distances import GoalDistances

    # Small blocks, so that the episode's selections leave part of the tiny dataset to complete.
    monkeypatch.setattr(distances, "BLOCK", 32)
    cache = DistanceCache(tmp_path / "distances")
    ttt = TTTConfig(horizon=100, steps=5, selection=SelectionConfig(eps=10.0))
    spec = EpisodeSpec(task_id=1, method="gcttt", ttt=ttt)
    cold = EpisodeRunner(smoke_checkpoint, maze_train, distance_cache=cache)
    selector = cold.selector(spec.ttt.selection)
    known_at_end = []
    end_episode = selector.end_episode
    monkeypatch.setattr(
        selector, "end_episode", lambda: (known_at_end.append(selector.distances.block_known.clone()), end_episode())
    )
    first = cold.run(spec)
    assert first.updates > 0 and not first.distance_cache_hit
    assert 0 < int(known_at_end[0].sum()) < len(known_at_end[0])  # some blocks completed after the episode
    (table_file,) = (tmp_path / "distances").glob("*.npy")
    rows = (cold.data.observations, selector.row_first, selector.row_end)
    fresh = GoalDistances(*rows, cold.agent.value, selector.goal, selector.discount)
    torch.testing.assert_close(torch.from_numpy(np.load(table_file)), fresh.complete(), rtol=0, atol=0)
    warm = EpisodeRunner(smoke_checkpoint, maze_train, distance_cache=DistanceCache(tmp_path / "distances"))
    second = warm.run(spec)
    assert second.distance_cache_hit and second.value_evaluations_computed == 0
    skip = {"distance_cache_hit", "value_evaluations_computed"}
    assert {k: v for k, v in comparable(second).items() if k not in skip} == {
        k: v for k, v in comparable(first).items() if k not in skip
    }
