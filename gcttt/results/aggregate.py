"""Aggregate statistics over tasks and runs (Agarwal et al., NeurIPS 2021): the interquartile mean,
the probability of improvement and the performance profile, each with a stratified bootstrap CI.

Pure NumPy/SciPy: rliable computes the same numbers but cannot be imported next to pandas 3 (its
dependency `arch` fails at import).

Scores come as one 1-D array per task, the scores of that task's runs (a run: one seed and
checkpoint of a method; a task: what the runs were scored on). Tasks may hold different numbers of
runs. The definitions:

- interquartile mean (IQM): the mean of the middle half of every score pooled over the tasks,
  a quarter of the scores cut from each end (`scipy.stats.trim_mean` with 0.25);
- probability of improvement P(X > Y): within a task, the fraction of (run of X, run of Y) pairs in
  which X scores higher, a tie counting one half (the Mann-Whitney U statistic over n x m); then the
  mean over tasks, each task weighing the same;
- performance profile at tau: within a task, the fraction of runs scoring above tau; then the mean
  over tasks;
- stratified bootstrap: a replicate draws, within each task, as many runs as the task has, with
  replacement from that task's runs only, so every replicate keeps every task and its size. The
  interval is the percentile interval of the replicates. P(X > Y) resamples X's and Y's runs
  independently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _scipy_stats

from gcttt.results.stats import Interval

DEFAULT_RESAMPLES = 10000
"""Bootstrap replicates per interval."""
TRIM = 0.25
"""The share of scores the IQM cuts from each end."""


class Profile(NamedTuple):
    """A performance profile: the fraction of runs above each threshold, with pointwise CIs."""

    taus: np.ndarray
    fraction: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _tasks(name: str, scores: Sequence[ArrayLike]) -> list[np.ndarray]:
    if isinstance(scores, np.ndarray) and scores.ndim == 2:
        raise ValueError(
            f"{name}: pass one 1-D array per task (a list), not a 2-D array whose axes could be read both ways"
        )
    tasks = [np.asarray(task, dtype=float) for task in scores]
    if not tasks:
        raise ValueError(f"{name} holds no task: need at least one task with one run")
    for i, task in enumerate(tasks):
        if task.ndim != 1 or task.size == 0:
            raise ValueError(f"{name}: task {i} must be a non-empty 1-D array of run scores (got shape {task.shape})")
        if not np.all(np.isfinite(task)):
            raise ValueError(f"{name}: task {i} holds NaN or infinite scores")
    return tasks


def stratified_resamples(scores: Sequence[ArrayLike], n_resamples: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Bootstrap replicates of each task's runs: one array (n_resamples, runs of the task) per task,
    row r drawn with replacement from that task's runs only."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive (got {n_resamples})")
    return [task[rng.integers(0, task.size, size=(n_resamples, task.size))] for task in _tasks("scores", scores)]


def _percentile(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1) (got {confidence})")
    tail = 100 * (1 - confidence) / 2
    return np.percentile(replicates, tail, axis=0), np.percentile(replicates, 100 - tail, axis=0)


def _interval(
    statistic: Callable[..., np.ndarray],
    samples: Sequence[Sequence[ArrayLike]],
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Interval:
    """`statistic(*samples)` and its percentile interval over stratified replicates of every sample."""
    rng = np.random.default_rng(seed)
    point = float(statistic(*[[t[None, :] for t in _tasks("scores", s)] for s in samples])[0])
    replicates = statistic(*[stratified_resamples(s, n_resamples, rng) for s in samples])
    low, high = _percentile(replicates, confidence)
    return Interval(point, float(low), float(high))


def _iqm_rows(tasks: Sequence[np.ndarray]) -> np.ndarray:
    """IQM of each row of the tasks' (replicates, runs) arrays."""
    return _scipy_stats.trim_mean(np.concatenate(tasks, axis=1), TRIM, axis=1)


def _improvement_rows(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> np.ndarray:
    """P(X > Y) of each row of the tasks' (replicates, runs) arrays."""
    if len(xs) != len(ys):
        raise ValueError(f"X has {len(xs)} tasks and Y {len(ys)}: both must be scored on the same tasks")
    per_task = []
    for x, y in zip(xs, ys, strict=True):
        a, b = x[:, :, None], y[:, None, :]
        per_task.append((a > b).mean(axis=(1, 2)) + 0.5 * (a == b).mean(axis=(1, 2)))
    return np.mean(per_task, axis=0)


def _profile_rows(tasks: Sequence[np.ndarray], taus: np.ndarray) -> np.ndarray:
    """(replicates, taus): the mean over tasks of the fraction of runs above each tau."""
    return np.mean([(task[:, :, None] > taus).mean(axis=1) for task in tasks], axis=0)


def iqm(scores: Sequence[ArrayLike]) -> float:
    """The interquartile mean of every run's score, pooled over the tasks."""
    return float(_iqm_rows([t[None, :] for t in _tasks("scores", scores)])[0])


def probability_of_improvement(x: Sequence[ArrayLike], y: Sequence[ArrayLike]) -> float:
    """P(X > Y), ties one half, averaged over tasks; `x` and `y` list the same tasks in the same order."""
    return float(_improvement_rows([t[None, :] for t in _tasks("x", x)], [t[None, :] for t in _tasks("y", y)])[0])


def performance_profile(scores: Sequence[ArrayLike], taus: ArrayLike) -> np.ndarray:
    """The fraction of runs scoring above each tau (strictly), averaged over tasks."""
    return _profile_rows([t[None, :] for t in _tasks("scores", scores)], np.asarray(taus, dtype=float))[0]


def iqm_ci(
    scores: Sequence[ArrayLike], confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> Interval:
    """The IQM and its stratified bootstrap percentile interval."""
    return _interval(_iqm_rows, [scores], confidence, n_resamples, seed)


def probability_of_improvement_ci(
    x: Sequence[ArrayLike],
    y: Sequence[ArrayLike],
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """P(X > Y) and its stratified bootstrap percentile interval (X's and Y's runs drawn independently)."""
    return _interval(_improvement_rows, [x, y], confidence, n_resamples, seed)


def performance_profile_ci(
    scores: Sequence[ArrayLike],
    taus: ArrayLike,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Profile:
    """The performance profile at `taus` and its pointwise stratified bootstrap percentile band."""
    grid = np.asarray(taus, dtype=float)
    if grid.ndim != 1:
        raise ValueError(f"taus must be one-dimensional (got shape {grid.shape})")
    rng = np.random.default_rng(seed)
    replicates = _profile_rows(stratified_resamples(scores, n_resamples, rng), grid)
    low, high = _percentile(replicates, confidence)
    return Profile(grid, performance_profile(scores, grid), low, high)
