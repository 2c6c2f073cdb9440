"""gcttt.results.aggregate against its definitions, on scores small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gcttt.results.aggregate import (
    iqm,
    iqm_ci,
    performance_profile,
    performance_profile_ci,
    probability_of_improvement,
    probability_of_improvement_ci,
    stratified_resamples,
)


def test_iqm_is_the_mean_of_the_middle_half_pooled_over_tasks():
    # Pooled: 1..8; a quarter (2 scores) cut from each end leaves 3, 4, 5, 6.
    assert iqm([[8, 1, 5], [2, 7], [3, 6, 4]]) == pytest.approx(4.5)
    # An outlier moves the mean but not the IQM.
    assert iqm([[0, 1, 2, 3, 4, 5, 6, 1000]]) == pytest.approx(3.5)


def test_probability_of_improvement_counts_pairs_with_ties_as_half_then_averages_tasks():
    # Task 1: X = 1, 2, 3 against Y = 2, 2, 0. Pairs won by X: 1 (1>0), 1 (2>0) + two ties, 3 (3 beats all):
    # (1 + 1 + 2 * 0.5 + 3) / 9 = 6/9. Task 2: X always below Y: 0. Mean over tasks: 1/3.
    x = [[1, 2, 3], [0, 0]]
    y = [[2, 2, 0], [1, 1, 1]]
    assert probability_of_improvement(x, y) == pytest.approx(1 / 3)
    # P(X > Y) + P(Y > X) = 1 by the tie rule.
    assert probability_of_improvement(y, x) == pytest.approx(2 / 3)
    # Tasks weigh the same whatever their run counts: a 1-run task counts as much as a 3-run one.
    assert probability_of_improvement([[1], [0, 0, 0]], [[0], [1, 1, 1]]) == pytest.approx(0.5)


def test_probability_of_improvement_needs_the_same_tasks():
    with pytest.raises(ValueError, match="same tasks"):
        probability_of_improvement([[1], [2]], [[1]])


def test_performance_profile_is_the_share_above_tau_averaged_over_tasks():
    scores = [[0.0, 0.2, 0.4, 1.0], [0.5, 0.5]]
    # tau 0.3: 2 of 4 and 2 of 2 -> (0.5 + 1) / 2; tau 0.5 (strictly above): 1 of 4 and 0 of 2.
    assert performance_profile(scores, [0.3, 0.5, 1.0]) == pytest.approx([0.75, 0.125, 0.0])


def test_stratified_resamples_draw_each_task_from_its_own_runs_and_keep_its_size():
    scores = [[1, 2, 3], [10, 20], [100]]
    draws = stratified_resamples(scores, 500, np.random.default_rng(0))
    assert [d.shape for d in draws] == [(500, 3), (500, 2), (500, 1)]
    for task, draw in zip(scores, draws, strict=True):
        assert set(np.unique(draw)) == set(task)  # only its own runs, and every run drawn at some point
    # With replacement: some replicates repeat a run of the 3-run task.
    assert any(len(set(row)) < 3 for row in draws[0])


def test_stratified_bootstrap_keeps_the_task_mix_so_a_between_task_spread_leaves_no_interval():
    # Task A scores 0 in every run, task B 1: any within-task replicate has 4 zeros and 4 ones, so the
    # IQM of every replicate is 0.5; a bootstrap pooling the runs across tasks would spread around it.
    scores = [[0, 0, 0, 0], [1, 1, 1, 1]]
    assert tuple(iqm_ci(scores, n_resamples=2000)) == pytest.approx((0.5, 0.5, 0.5))
    profile = performance_profile_ci(scores, [0.5], n_resamples=2000)
    assert (profile.low[0], profile.fraction[0], profile.high[0]) == pytest.approx((0.5, 0.5, 0.5))


def test_intervals_cover_the_estimate_and_are_reproducible():
    rng = np.random.default_rng(1)
    x = [rng.uniform(0.3, 1.0, size=9) for _ in range(4)]
    y = [rng.uniform(0.0, 0.7, size=9) for _ in range(4)]
    ci = iqm_ci(x, n_resamples=3000, seed=5)
    assert ci.low < ci.mean < ci.high
    assert iqm_ci(x, n_resamples=3000, seed=5) == ci
    poi = probability_of_improvement_ci(x, y, n_resamples=3000)
    assert poi.mean == pytest.approx(probability_of_improvement(x, y))
    assert 0.5 < poi.low < poi.mean < poi.high <= 1.0
    profile = performance_profile_ci(x, np.linspace(0, 1, 11), n_resamples=3000)
    assert np.all(profile.low <= profile.fraction + 1e-12) and np.all(profile.fraction <= profile.high + 1e-12)
    assert np.all(np.diff(profile.fraction) <= 0)  # a share above tau never grows with tau


def test_the_bootstrap_matches_the_known_spread_of_a_one_task_mean():
    # One task's profile at tau 0.5 is a plain proportion p over n runs: its bootstrap spread must match
    # the binomial standard error sqrt(p(1-p)/n) within sampling noise.
    scores = [np.r_[np.ones(30), np.zeros(70)]]
    profile = performance_profile_ci(scores, [0.5], n_resamples=20000)
    half_width = (profile.high[0] - profile.low[0]) / 2
    assert half_width == pytest.approx(1.96 * np.sqrt(0.3 * 0.7 / 100), rel=0.1)


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="no task"):
        iqm([])
    with pytest.raises(ValueError, match="task 1"):
        iqm([[1.0], []])
    with pytest.raises(ValueError, match="NaN"):
        iqm([[1.0, np.nan]])
    with pytest.raises(ValueError, match="2-D"):
        iqm(np.zeros((3, 2)))


def test_table1_runs_are_one_network_scored_over_its_episodes_and_tasks_are_datasets():
    import pandas as pd

    from analysis.aggregate import by_task, run_scores

    # Two datasets; on d1 seed 0 / checkpoint 10 plays 2 episodes (1, 0), seed 1 plays (1, 1); d2: one run (0, 0).
    arms = pd.DataFrame(
        {
            "backbone": "gcbc",
            "arm": "ttt",
            "dataset": ["d1", "d1", "d1", "d1", "d2", "d2"],
            "pretrain_seed": [0, 0, 1, 1, 0, 0],
            "checkpoint_step": 10,
            "success": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0],
        }
    )
    runs = run_scores(arms)
    assert [list(t) for t in by_task(runs, "ttt")] == [[0.5, 1.0], [0.0]]
    assert runs["episodes"].tolist() == [2, 2, 2]
