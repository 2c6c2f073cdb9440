"""Per-configuration summaries of episode rows: the one definition every table and figure uses.

`CONFIG_COLUMNS` names what makes two rows the same configuration (every knob that can change an
episode's outcome); `EPISODE_KEY` what makes them the same episode. `summarize(frame, by)`
gives, per group: the success rate (mean over pre-training seeds of the per-seed rate), its
stratified bootstrap CI (`gcttt.results.stats.success_ci`), the standard error, counts, and the mean of
any cost columns asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from gcttt.results.stats import DEFAULT_RESAMPLES, Interval, group_means, standard_error, success_ci
from gcttt.selection import KNOBS

CONFIG_COLUMNS: tuple[str, ...] = (
    "dataset",
    "backbone",
    "width",
    "method",
    "selection",
    "schedule",
    "horizon",
    "grad_steps",
    "lr",
    "finetune_batch",
    "finetune",
    *KNOBS,
    "compiled",
    "task_suite",
)
"""Columns that together say which configuration a row evaluated (pre-training seed aside)."""

EPISODE_KEY: tuple[str, ...] = (
    "sweep_id",
    "trial_id",
    "dataset_fingerprint",
    "preset",
    "depth",
    "pretrain_seed",
    "checkpoint_step",
    *CONFIG_COLUMNS,
    "task_id",
    "episode_index",
    "seed",
)
"""Columns that identify one evaluated episode; rows equal on all of them are the same episode."""


def summarize(
    frame: pd.DataFrame,
    by: Sequence[str],
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    with_ci: bool = True,
    means: Sequence[str] = ("flops_total",),
) -> pd.DataFrame:
    """One row per configuration `by`: mean, low, high, se, se_over, seeds, episodes, and the mean
    of each column in `means` (present ones only). `with_ci=False` skips the bootstrap."""
    rows = []
    for key, group in frame.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        successes = group["success"].to_numpy(dtype=float)
        runs = checkpoint_groups(group)
        per_seed = seed_means(group)
        if with_ci:
            # Stratified by (seed, checkpoint): with the same checkpoints per seed, the mean over
            # these cells is the authors' mean over checkpoints, then over seeds.
            ci = success_ci(successes, groups=runs, confidence=confidence, n_resamples=n_resamples)
            ci = Interval(float(per_seed.mean()), ci.low, ci.high)
        else:
            ci = Interval(float(per_seed.mean()), np.nan, np.nan)
        row = {
            **dict(zip(by, key, strict=False)),
            "mean": ci.mean,
            "low": ci.low,
            "high": ci.high,
            "se": standard_error(per_seed) if per_seed.size > 1 else standard_error(successes),
            "se_over": "seeds" if per_seed.size > 1 else "episodes",
            "seeds": int(per_seed.size),
            "checkpoints": len(np.unique(runs)),
            "episodes": len(group),
        }
        for column in means:
            if column in group:
                row[column] = float(group[column].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def checkpoint_groups(frame: pd.DataFrame) -> np.ndarray:
    """A label per row for its (pre-training seed, checkpoint step): one pre-trained network."""
    seeds = frame["pretrain_seed"].astype(str).to_numpy()
    if "checkpoint_step" not in frame:
        return seeds
    return np.char.add(np.char.add(seeds, "@"), frame["checkpoint_step"].astype(str).to_numpy().astype(str))


def seed_means(frame: pd.DataFrame) -> np.ndarray:
    """Success per pre-training seed as the authors compute it (docs/method.md §3): the mean over the seed's
    checkpoints of each checkpoint's success rate; one value per seed, seeds sorted."""
    runs = checkpoint_groups(frame)
    successes = frame["success"].to_numpy(dtype=float)
    seeds = frame["pretrain_seed"].to_numpy()
    _, first = np.unique(runs, return_index=True)  # one row of each run, in sorted label order
    per_run = group_means(successes, runs)  # in the same sorted label order
    return group_means(per_run, seeds[first])


def drop_repeats(frame: pd.DataFrame, ignore: Sequence[str] = ()) -> pd.DataFrame:
    """One row per episode (the newest by `written_at` where present), see `EPISODE_KEY`; columns in
    `ignore` do not tell episodes apart (e.g. `sweep_id`, when two sweeps replayed the same arm)."""
    key = [c for c in EPISODE_KEY if c in frame.columns and c not in ignore]
    if "written_at" in frame.columns:
        frame = frame.sort_values("written_at", kind="stable")
    deduped = frame.drop_duplicates(subset=key, keep="last")
    repeats = len(frame) - len(deduped)
    if repeats:
        print(f"note: dropped {repeats} repeated episode rows (kept the newest of each)", file=sys.stderr)
    return deduped.sort_index()
