"""The compute study's cheap arms really select data on a stitch dataset, and panel (d)'s crossover
(the episode count at which a bigger model's one-time pre-training costs less than GC-TTT)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.plot_compute import crossover_episodes, crossovers, total_points

STITCH = "pointmaze-medium-stitch-v0"


def test_crossover_of_hand_made_costs():
    # Base model: pre-training 1e12, 1e6 per episode acting, GC-TTT adds 1e9 per episode.
    # A 2x wider model: 4x pre-training and acting.
    assert crossover_episodes(4e12, 4e6, 1e12, 1e9 + 1e6) == pytest.approx(3e12 / (1e9 + 1e6 - 4e6))
    assert crossover_episodes(1e12, 1e6, 2e12, 1e9) == 0.0  # cheaper from the first episode
    assert math.isinf(crossover_episodes(4e12, 4e6, 1e12, 1e6))  # TTT that costs less per episode: never


def test_total_points_and_crossovers_on_hand_made_configurations():
    configs = pd.DataFrame(
        [
            dict(method="baseline", width=128, label="width 128", mean=0.2, pretrain_flops=1e12, flops_total=1e6,
                 flops_finetune=0.0),
            dict(method="baseline", width=256, label="width 256", mean=0.3, pretrain_flops=4e12, flops_total=4e6,
                 flops_finetune=0.0),
            dict(method="gcttt", width=128, label="critic K=100", mean=0.6, pretrain_flops=1e12, flops_total=1.001e9,
                 flops_finetune=1e9),
        ]
    )  # fmt: skip
    total = total_points(configs, 128, episodes=[1, 10_000])
    ttt = total[total["label"] == "critic K=100"].set_index("episodes_served")["total_flops"]
    assert ttt[1] == pytest.approx(1e12 + 1.001e9) and ttt[10_000] == pytest.approx(1e12 + 1.001e13)
    cross = crossovers(configs, 128)
    assert len(cross) == 1 and cross.iloc[0]["model"] == "width 256"
    assert cross.iloc[0]["crossover_episodes"] == pytest.approx(3e12 / (1.001e9 - 4e6))


@pytest.fixture(scope="module")
def stitch_runner(tmp_path_factory):
    from gcttt.control.runner import EpisodeRunner
    from gcttt.data.access import load_datasets
    from gcttt.data.provenance import dataset_provenance
    from gcttt.datagen.generation import generate_dataset
    from gcttt.pretrain import PretrainConfig, pretrain

    root = tmp_path_factory.mktemp("stitch")
    generate_dataset(STITCH, root, episodes=300, workers=1, progress=False)
    config = PretrainConfig(dataset=STITCH, backbone="gciql", preset="smoke", out_dir=str(root / "runs"),
                            data_dir=str(root))  # fmt: skip
    final = pretrain(config, progress=False).final_checkpoint
    train, _ = load_datasets(STITCH, root)
    return EpisodeRunner(str(final), train, provenance=dataset_provenance(root, STITCH))


def test_the_cheap_critic_arms_select_data_on_stitch_data_where_critic_free_finds_none(stitch_runner):
    from sweeps.arms import ttt_grid

    cheap = ttt_grid([0], 32, ["critic"], [1000], [2], [3e-4], [0.2], 1000, finetune_batch=64)[0]
    free = ttt_grid([0], 32, ["critic-free"], [1000], [2], [3e-4], [0.2], 1000, finetune_batch=64)[0]
    for task in (1, 3):
        selected = stitch_runner.run(cheap.specs((task,), 1, 0)[0])
        assert selected.schedule == "once" and selected.replans == 1
        assert selected.selected_per_replan[0] > 0 and selected.updates == 2 and selected.flops_finetune > 0
        none = stitch_runner.run(free.specs((task,), 1, 0)[0])
        assert none.selected_per_replan == [0] and none.updates == 0  # no 201-step trajectory joins start and goal
