"""Success rates with confidence intervals: the numbers every table, figure and Tune report shows.

Pure NumPy/SciPy (no ray, no mlflow), so sweeps, analysis scripts and tests share one definition.

- `success_ci(successes, groups=None)` -> `Interval(mean, low, high)`: the mean success rate and a
  bootstrap confidence interval computed by `scipy.stats.bootstrap` (percentile method).
  Without `groups` the episodes are resampled as one sample. With `groups` (the pre-training seed
  of each episode) the estimate is the mean over seeds of the per-seed success rates, and the
  bootstrap is stratified: each seed's episodes form a separate sample, resampled within the seed
  (scipy's multi-sample bootstrap with ``paired=False``), so every replicate keeps every seed.
  This is the "stratified bootstrap" of rliable (Agarwal et al., 2021), which treats the seeds as
  fixed and the episodes as the random draw.
- `standard_error(values)`: sample standard deviation (ddof=1) over the square root of n.
- `group_means(values, groups)`: the per-group means, in sorted group order.

Degenerate inputs never raise: when every episode has the same outcome, or no group has two
episodes, there is nothing to resample and the interval collapses to the mean.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _scipy_stats

DEFAULT_RESAMPLES = 9999
"""Bootstrap replicates (scipy's default)."""
_BATCH = 500
"""Replicates computed at once, which bounds memory for large episode counts."""


class Interval(NamedTuple):
    """A point estimate and its confidence interval; unpacks as ``mean, low, high``."""

    mean: float
    low: float
    high: float


def _as_1d(name: str, values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (got shape {array.shape})")
    if array.size == 0:
        raise ValueError(f"{name} is empty: need at least one value")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _split(values: np.ndarray, groups: ArrayLike) -> list[np.ndarray]:
    labels = np.asarray(groups)
    if labels.shape != values.shape:
        raise ValueError(f"groups has shape {labels.shape} but the values have shape {values.shape}")
    return [values[labels == label] for label in np.unique(labels)]


def group_means(values: ArrayLike, groups: ArrayLike) -> np.ndarray:
    """Mean of `values` within each group (e.g. success rate per pre-training seed), groups sorted."""
    array = _as_1d("values", values)
    return np.array([part.mean() for part in _split(array, groups)])


def standard_error(values: ArrayLike) -> float:
    """Standard error of the mean: std (ddof=1) / sqrt(n); NaN for fewer than two values."""
    array = np.asarray(values, dtype=float).ravel()
    if array.size < 2:
        return float("nan")
    return float(array.std(ddof=1) / np.sqrt(array.size))


def _rng_kwargs(seed: int) -> dict:
    # scipy >= 1.15 takes `rng`; older releases (pyproject allows >= 1.11) take `random_state`.
    if "rng" in inspect.signature(_scipy_stats.bootstrap).parameters:
        return {"rng": np.random.default_rng(seed)}
    return {"random_state": np.random.default_rng(seed)}


def success_ci(
    successes: ArrayLike,
    groups: ArrayLike | None = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    method: str = "percentile",
) -> Interval:
    """Mean success and its bootstrap confidence interval, computed by `scipy.stats.bootstrap`.

    Args:
        successes: one outcome per episode (bool or 0/1; any finite numbers work).
        groups: optional label per episode, typically its pre-training seed. When given, the
            estimate is the mean over groups of the per-group means and the bootstrap resamples
            episodes within each group (stratified). Groups with a single episode, or whose
            episodes all agree, contribute a constant.
        confidence: confidence level of the two-sided interval.
        n_resamples: bootstrap replicates.
        seed: seed of the resampling generator (same inputs and seed, same interval).
        method: scipy's interval method. The default 'percentile' stays well defined for binary
            outcomes of a few episodes, where 'BCa''s jackknife acceleration breaks down.

    Returns:
        `Interval(mean, low, high)` with ``low <= mean <= high`` up to resampling noise; the
        interval collapses to the mean when there is nothing to resample.
    """
    values = _as_1d("successes", successes)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1) (got {confidence})")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive (got {n_resamples})")
    parts = [values] if groups is None else _split(values, groups)
    mean = float(np.mean([part.mean() for part in parts]))
    # Samples that cannot vary under resampling are folded into a constant; scipy needs at least
    # two observations per sample and warns on samples without spread.
    varying = [part for part in parts if part.size >= 2 and np.ptp(part) > 0]
    if not varying:
        return Interval(mean, mean, mean)
    constant = float(sum(part.mean() for part in parts if not (part.size >= 2 and np.ptp(part) > 0)))
    n_parts = len(parts)

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        total = sum(sample.mean(axis=axis) for sample in samples)
        return (total + constant) / n_parts

    result = _scipy_stats.bootstrap(
        tuple(varying),
        statistic,
        n_resamples=n_resamples,
        batch=_BATCH,
        vectorized=True,
        paired=False,
        confidence_level=confidence,
        method=method,
        **_rng_kwargs(seed),
    )
    low, high = (float(v) for v in result.confidence_interval)
    return Interval(mean, low, high)
