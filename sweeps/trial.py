"""One Ray Tune trial: evaluate one arm on its tasks, write its rows, log its MLflow run, report.

The trial's function runs in Tune's trainable process and feeds the sweep's episode workers
(started once by the driver, `workers.pool.EpisodePool`; each keeps the runners of the checkpoints
it has seen). Its rows are written after the last episode as one atomic file under
``SWEEP/staging/ARM/``, logged to its MLflow run, and moved into ``SWEEP/episodes/ARM/`` only
once that run has ended FINISHED with its metrics: rows there mean a trial that ran to its end,
which is what the driver reads to know what is done (`sweeps.parts`). A trial that is played
again first removes what an earlier attempt of the same arm left, so rows are never duplicated.
Its MLflow run is found again by its tags (sweep id, arm), so runs are never duplicated either.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

import tracking
from gcttt.control.episode import episode_seed
from gcttt.files.provenance import git_sha
from gcttt.files.write_errors import write_failure
from gcttt.results.records import EpisodeRecord, RunContext
from gcttt.results.stats import success_ci
from gcttt.results.store import arm_rows, copy_rows, published_rows, rows_to_records
from sweeps import mlflow_view
from sweeps.arms import Arm
from sweeps.common import Sweep
from sweeps.prepare import checkpoint_slot
from workers.parquet_sink import ParquetSink


def summarize(records: list[EpisodeRecord]) -> dict[str, float]:
    """Success with its 95% bootstrap CI over the trial's episodes, costs and times."""
    success = np.array([r.success for r in records], dtype=float)
    tasks = np.array([r.task_id for r in records])
    mean, low, high = success_ci(success)
    metrics = {
        "success": mean,
        "success_ci_low": low,
        "success_ci_high": high,
        "episodes": float(len(records)),
        "flops_per_episode": float(np.mean([r.flops_total for r in records])),
        "episode_seconds": float(np.mean([r.wall_seconds for r in records])),
        "act_seconds": float(np.mean([r.act_seconds for r in records])),
        "selection_seconds": float(np.mean([r.selection_seconds for r in records])),
        "finetune_seconds": float(np.mean([r.finetune_seconds for r in records])),
        "mean_selected": float(np.mean([r.mean_selected for r in records])),
        "value_evaluations": float(np.sum([r.value_evaluations for r in records])),
        "value_evaluations_computed": float(np.sum([r.value_evaluations_computed for r in records])),
    }
    for task in sorted(set(tasks.tolist())):
        metrics[f"task{task}_success"] = float(success[tasks == task].mean())
    return metrics


def summarize_rows(rows) -> dict[str, float]:
    """`summarize` of an arm's rows read back from its part files (an arm done in an earlier run)."""
    return summarize(rows_to_records(rows))


def _unpublished(sweep: Sweep, arm: Arm, specs: list) -> tuple[list[int], Any]:
    """Positions of the specs a study of the results store does not hold yet, and the study's rows
    of this arm, their `spec_index` set to their spec's position in this trial (so that the arm's
    parts hold every episode exactly once, `sweeps.parts`)."""
    if not sweep.outputs.published:
        return list(range(len(specs))), pd.DataFrame()

    what = sweep.what
    rows = arm_rows(published_rows(sweep.outputs.published), what.dataset, what.backbone, what.preset, arm.name)
    rows = rows.drop_duplicates(subset=["task_suite", "task_id", "episode_index", "seed"])
    position = {
        (s.suite, s.task_id, s.episode_index, episode_seed(s.seed, s.task_id, s.episode_index)): i
        for i, s in enumerate(specs)
    }
    keys = list(zip(rows["task_suite"], rows["task_id"], rows["episode_index"], rows["seed"], strict=True))
    rows = rows[[k in position for k in keys]].copy()
    rows["spec_index"] = [position[k] for k in keys if k in position]
    held = set(rows["spec_index"])
    return [i for i in range(len(specs)) if i not in held], rows


def _one_line_when_it_cannot_write(trial: Callable[..., None]) -> Callable[..., None]:
    """A trial that cannot write (a full or read-only disk) fails with gcttt's one line naming the
    folder, without the chain of every library that tried to write (Tune prints a failed trial's
    traceback, retries included); any other error goes on as it is."""

    @functools.wraps(trial)
    def run(config: dict[str, Any], sweep: Sweep, **shared: Any) -> None:
        try:
            trial(config, sweep, **shared)
        except Exception as exc:
            failure = write_failure(exc, sweep.sweep_dir, "rerun with --resume")
            if failure is None:
                raise
            raise failure from None

    return run


@_one_line_when_it_cannot_write
def run_trial(
    config: dict[str, Any],
    sweep: Sweep,
    checkpoints: dict[str, str],
    parent_run_id: str,
    worker_spec: Any,
    actors: list[Any],
) -> None:
    """Tune's function trainable (bound with `tune.with_parameters`): the arm's MLflow run, its
    episodes, its rows."""
    started = time.perf_counter()

    from ray import tune

    from workers.pool import EpisodePool, run_specs

    torch.set_num_threads(1)  # this process only waits for the workers
    arm = Arm.from_params(config["arm"])
    checkpoint = checkpoints[checkpoint_slot(arm.seed, arm.width, arm.checkpoint_step)]
    specs = sweep.specs(arm)
    uri, trace = sweep.outputs.mlflow_uri, sweep.outputs.record_trajectories
    rows_dir = sweep.episodes_dir / arm.name
    staging = sweep.sweep_dir / "staging" / arm.name
    for earlier in (rows_dir, staging):  # what an earlier, unfinished attempt of this arm left
        shutil.rmtree(earlier, ignore_errors=True)
    to_play, published = _unpublished(sweep, arm, specs)
    if trace:
        from sweeps import trajectories

        trajectories.clear(sweep, arm)

    tags = {
        "gcttt.sweep_id": sweep.name,
        "gcttt.arm": arm.name,
        "gcttt.sweep_kind": sweep.kind,
        "gcttt.dataset": sweep.what.dataset,
        "gcttt.backbone": sweep.what.backbone,
        "gcttt.preset": sweep.what.preset,
    }
    name = mlflow_view.run_name(arm)
    with tracking.tracked_run(uri, sweep.outputs.experiment, name, tags, parent_run_id) as run_id:
        trial_id = tune.get_context().get_trial_id() or ""
        tracking.set_tags(
            uri,
            run_id,
            {"gcttt.git_sha": git_sha(), "gcttt.tune_trial": trial_id, "gcttt.checkpoint": checkpoint},
        )
        params = mlflow_view.trial_params(arm, sweep.episodes.task_ids(arm.suite), sweep.episodes.episodes_per_task)
        tracking.log_params(uri, run_id, params)
        workers = EpisodePool.attach(worker_spec, actors)
        prepare_seconds = workers.prepare(checkpoint)  # nothing to do once the workers know the checkpoint
        episodes_started = time.perf_counter()
        played = [specs[i] for i in to_play]
        results = (
            list(run_specs(workers, checkpoint, played, progress=sweep.outputs.verbose > 0, trace=trace))
            if played
            else []
        )
        # Positions in this trial's spec list (run_specs counts within the episodes it was given).
        results = [r._replace(spec_index=to_play[r.spec_index]) for r in results]
        episodes_seconds = time.perf_counter() - episodes_started

        context = RunContext(sweep_id=sweep.name, sweep_kind=sweep.kind, trial_id=arm.name)
        path = ParquetSink(staging).write(results, context)
        records = [r.record for r in results]
        if len(published):
            # The study's rows keep their own provenance (sweep, commit, machine, time).
            copied = copy_rows(published, staging)
            path = path or copied
            records += rows_to_records(published)
        metrics = summarize(records)
        tracking.log_artifact(uri, run_id, path, artifact_path="episodes", name=mlflow_view.EPISODES)
        if trace:
            metrics.update(trajectories.save_trial(sweep, arm, results, path, run_id, worker_spec.dataset.data))
        provenance = records[0]
        tracking.set_tags(
            uri,
            run_id,
            {
                "gcttt.dataset_source": provenance.dataset_source,
                "gcttt.dataset_fingerprint": provenance.dataset_fingerprint,
            },
        )
        trial_seconds = time.perf_counter() - started
        metrics.update(
            trial_seconds=trial_seconds,
            episodes_wall_seconds=episodes_seconds,
            prepare_seconds=prepare_seconds,
            # Everything that is not playing episodes: Tune's function start-up, runner start-up on
            # the workers (once per checkpoint and worker), MLflow and Parquet writes.
            overhead_share=1.0 - episodes_seconds / trial_seconds,
        )
        tracking.log_metrics(uri, run_id, mlflow_view.trial_metrics(metrics))
    # The run has ended FINISHED: now the rows become the arm's record (an interrupt before this
    # line leaves them in staging/, and the arm is played again).
    rows_dir.mkdir(parents=True, exist_ok=True)
    for part in sorted(staging.glob("part-*.parquet")):
        os.replace(part, rows_dir / part.name)
    shutil.rmtree(staging, ignore_errors=True)
    tune.report(metrics)
