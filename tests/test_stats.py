"""gcttt.results.stats: success rates with scipy bootstrap CIs, standard errors, degenerate inputs."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats

from gcttt.results import stats
from gcttt.results.stats import Interval, group_means, standard_error, success_ci


def _scipy_ci(samples, n_resamples, seed):
    """The same interval straight from scipy.stats.bootstrap."""

    def statistic(*xs, axis=-1):
        return np.mean([x.mean(axis=axis) for x in xs], axis=0)

    result = scipy_stats.bootstrap(
        tuple(samples),
        statistic,
        n_resamples=n_resamples,
        batch=stats._BATCH,
        vectorized=True,
        paired=False,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return result.confidence_interval


def test_ungrouped_interval_is_scipy_bootstrap():
    x = np.random.default_rng(1).random(60) < 0.4
    mean, low, high = success_ci(x, n_resamples=999, seed=3)
    expected = _scipy_ci([x.astype(float)], 999, 3)
    assert mean == pytest.approx(x.mean())
    assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert low <= mean <= high


def test_grouped_interval_is_stratified_scipy_bootstrap():
    rng = np.random.default_rng(2)
    seeds = np.repeat([0, 1, 2], [10, 14, 8])
    x = rng.random(seeds.size) < np.array([0.2, 0.5, 0.7])[seeds]
    ci = success_ci(x, groups=seeds, n_resamples=999, seed=5)
    parts = [x[seeds == s].astype(float) for s in (0, 1, 2)]
    expected = _scipy_ci(parts, 999, 5)
    assert ci.mean == pytest.approx(np.mean([p.mean() for p in parts]))
    assert (ci.low, ci.high) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert ci.low <= ci.mean <= ci.high
    # the estimate weights seeds equally, not episodes
    assert ci.mean != pytest.approx(x.mean())


def test_result_is_a_named_tuple_and_reproducible():
    x = [1, 0, 1, 1, 0, 0, 1]
    first = success_ci(x, seed=7, n_resamples=500)
    assert isinstance(first, Interval) and first == success_ci(x, seed=7, n_resamples=500)
    assert first._fields == ("mean", "low", "high")


def test_coverage_is_close_to_nominal():
    rng = np.random.default_rng(0)
    p, n, trials = 0.3, 80, 150
    hits = 0
    for t in range(trials):
        x = rng.random(n) < p
        _, low, high = success_ci(x, n_resamples=400, seed=t)
        hits += low <= p <= high
    assert 0.86 <= hits / trials <= 1.0


def test_wider_with_fewer_episodes():
    rng = np.random.default_rng(4)
    small = success_ci(rng.random(20) < 0.5, n_resamples=999)
    large = success_ci(rng.random(2000) < 0.5, n_resamples=999)
    assert (small.high - small.low) > 2 * (large.high - large.low)


@pytest.mark.parametrize(
    ("successes", "groups", "expected"),
    [
        ([1, 1, 1, 1], None, 1.0),
        ([0, 0, 0], None, 0.0),
        ([True], None, 1.0),
        ([1, 0, 1], [0, 1, 2], 2 / 3),  # one episode per seed: nothing to resample
        ([1, 1, 0, 0], [0, 0, 1, 1], 0.5),  # each seed constant
    ],
)
def test_degenerate_inputs_collapse_to_the_mean(successes, groups, expected):
    assert success_ci(successes, groups=groups) == pytest.approx((expected,) * 3)


def test_constant_groups_shift_the_varying_ones():
    # seed 0 always succeeds; seed 1 varies: the mean over seeds moves seed 1's interval up by 1/2.
    x = np.array([1, 1, 1, 1, 0, 1, 0, 1, 1, 0])
    seeds = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    ci = success_ci(x, groups=seeds, n_resamples=999, seed=0)
    alone = success_ci(x[seeds == 1], n_resamples=999, seed=0)
    assert ci.mean == pytest.approx((1 + 0.5) / 2)
    assert (ci.low, ci.high) == pytest.approx(((1 + alone.low) / 2, (1 + alone.high) / 2))


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="empty"):
        success_ci([])
    with pytest.raises(ValueError, match="confidence"):
        success_ci([1, 0], confidence=1.5)
    with pytest.raises(ValueError, match="groups"):
        success_ci([1, 0, 1], groups=[0, 1])
    with pytest.raises(ValueError, match="NaN"):
        success_ci([1.0, np.nan])


def test_standard_error_and_group_means():
    assert standard_error([0.5, 1.0]) == pytest.approx(0.25)
    assert standard_error(np.array([0.2, 0.4, 0.6])) == pytest.approx(np.std([0.2, 0.4, 0.6], ddof=1) / np.sqrt(3))
    assert np.isnan(standard_error([0.7]))
    assert np.isnan(standard_error([]))
    assert group_means([1, 0, 1, 1], [5, 5, 2, 2]) == pytest.approx([1.0, 0.5])  # sorted by group


def test_module_imports_neither_ray_nor_mlflow():
    code = "import sys, gcttt.results.stats; print(sorted(m for m in ('ray', 'mlflow', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
