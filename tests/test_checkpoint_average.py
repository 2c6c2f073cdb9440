"""Checkpoint averaging as the authors do it (docs/method.md §3): rows of three checkpoint steps, the mean
over checkpoints per seed, then over seeds; arms at the kept steps; Table 1's paired difference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.synthetic import record
from gcttt.results.records import RunContext, records_table
from gcttt.results.summary import seed_means, summarize


def _rows(outcomes: dict[tuple[int, int], list[bool]], method: str = "baseline") -> pd.DataFrame:
    records = [
        record(pretrain_seed=seed, checkpoint_step=step, success=ok, episode_index=i, method=method)
        for (seed, step), results in outcomes.items()
        for i, ok in enumerate(results)
    ]
    return records_table(((r, {}) for r in records), RunContext()).to_pandas()


def test_success_is_the_mean_over_checkpoints_per_seed_then_over_seeds():
    rows = _rows(
        {
            (0, 16_000): [True, True],  # 1.0
            (0, 18_000): [True, False, False, False],  # 0.25
            (0, 20_000): [False],  # 0.0
            (1, 16_000): [True],
            (1, 18_000): [True],
            (1, 20_000): [True, True, True],
        }
    )
    np.testing.assert_allclose(seed_means(rows), [(1.0 + 0.25 + 0.0) / 3, 1.0])
    s = summarize(rows, ["method"], n_resamples=500).iloc[0]
    assert s["mean"] == pytest.approx(((1.0 + 0.25 + 0.0) / 3 + 1.0) / 2)
    assert s["mean"] != pytest.approx(rows["success"].mean())  # not the plain mean over episodes
    assert (s["seeds"], s["checkpoints"], s["episodes"]) == (2, 6, 12)
    assert s["low"] <= s["mean"] <= s["high"]


def test_rows_of_one_checkpoint_summarize_as_before():
    rows = _rows({(0, 20_000): [True, False, True], (1, 20_000): [False, False, True]})
    s = summarize(rows, ["method"], n_resamples=500).iloc[0]
    assert s["mean"] == pytest.approx((2 / 3 + 1 / 3) / 2) and s["checkpoints"] == 2


def test_arms_at_the_kept_checkpoints_are_named_by_step():
    from sweeps.arms import Arm, at_checkpoints

    arms = at_checkpoints([Arm(0, 128), Arm(1, 128)], (16_000, 18_000, 20_000))
    assert [a.name for a in arms[:3]] == [f"baseline-w128-s0-c{s}" for s in (16_000, 18_000, 20_000)]
    assert len(arms) == 6 and at_checkpoints(arms[:1], ()) == arms[:1]
    assert Arm(0, 128).name == "baseline-w128-s0"  # the final checkpoint keeps its old name


def test_the_paired_difference_pairs_seed_checkpoint_task_and_episode():
    from analysis.table1 import paired_difference

    base = _rows({(0, 16_000): [False, False, True], (0, 18_000): [False, True, True]})
    ttt = _rows({(0, 16_000): [True, False, True], (0, 18_000): [True, True, False]}, method="gcttt")
    mean, low, high, pairs = paired_difference(base, ttt)
    # Differences per pair: (+1, 0, 0) and (+1, 0, -1): mean over checkpoints of the per-checkpoint means.
    assert pairs == 6 and mean == pytest.approx((1 / 3 + 0.0) / 2)
    assert low <= mean <= high


def test_reproduce_final_phase_evaluates_every_kept_checkpoint(monkeypatch, tmp_path):
    from sweeps import reproduce

    ran = {}
    monkeypatch.setattr(reproduce, "run_phase", lambda sweep, arms: ran.setdefault(sweep.name, arms))
    monkeypatch.setattr(reproduce, "choose", lambda rows, arms: (arms[0], 0.5))
    monkeypatch.setattr(reproduce, "_progress", lambda *a: None)
    monkeypatch.setattr(reproduce, "read_sweep_rows", lambda d: pd.DataFrame())
    argv = ["--cells", "gcbc/pointmaze-medium-navigate-v0", "--out", str(tmp_path), "--name", "r", "--phase", "all"]
    monkeypatch.setattr(reproduce, "_report", lambda *a: None, raising=False)
    reproduce.main(argv)
    final = ran["r-gcbc-pointmaze-medium-navigate-final"]
    steps = sorted({a.checkpoint_step for a in final})
    assert steps == [16_000, 18_000, 20_000]
    assert len([a for a in final if a.method == "baseline"]) == 3 * 3  # 3 seeds x 3 checkpoints
    tune = ran["r-gcbc-pointmaze-medium-navigate-tune"]
    assert {a.checkpoint_step for a in tune} == {None} and {a.seed for a in tune} == {0}
