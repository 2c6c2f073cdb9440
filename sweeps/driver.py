"""Running a sweep: Ray, resources, inputs, the MLflow parent run, Ray Tune, and the final table.

Both entry points (horizon_sweep.py, compute_sweep.py) validate their flags into a
`SweepSettings` and a list of `Arm`s, then call `run_sweep`. Everything that can be refused is
refused before the MLflow parent run or any output directory is created.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

from gcttt.errors import GctttError, UsageError
from sweeps import tracking
from sweeps.arms import Arm
from sweeps.common import SweepSettings, arms_summary, elapsed


class SweepIncomplete(GctttError):
    """Some trials failed or the sweep was interrupted; `--resume` continues it."""

    exit_code = 1


def check_local_gpu_request(settings: SweepSettings) -> None:
    """A GPU share asked on a machine without CUDA is refused before Ray even starts."""
    if settings.gpus_per_worker and settings.ray_address in (None, "local"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(
                f"--gpus-per-worker {settings.gpus_per_worker:g} but this machine has no CUDA GPU "
                "(or torch is a CPU build); drop the flag or pass --gpus-per-worker 0"
            )


def resolve_resources(settings: SweepSettings) -> SweepSettings:
    """Fill in the workers per trial and CPUs per worker from the Ray cluster's size."""
    import ray

    cluster = ray.cluster_resources()
    cpus = float(cluster.get("CPU", 1.0))
    gpus = float(cluster.get("GPU", 0.0))
    if settings.gpus_per_worker and gpus <= 0:
        raise UsageError(
            f"--gpus-per-worker {settings.gpus_per_worker:g} but the Ray cluster has no GPUs; "
            "drop the flag or pass --gpus-per-worker 0"
        )
    per_trial = cpus / settings.max_concurrent_trials
    room = per_trial - settings.trial_cpus
    workers, cpus_per_worker = settings.workers, settings.cpus_per_worker
    if workers is None:
        workers = max(1, math.floor(room / cpus_per_worker)) if cpus_per_worker else max(1, round(per_trial))
    if cpus_per_worker is None:
        # Round down to Ray's resource granularity so that the bundles fit exactly.
        cpus_per_worker = math.floor(room / workers * 100) / 100
    needed = settings.trial_cpus + workers * cpus_per_worker
    if cpus_per_worker <= 0 or needed > per_trial + 1e-9:
        raise UsageError(
            f"a trial needs {needed:g} CPUs ({workers} workers x {cpus_per_worker:g} + {settings.trial_cpus:g}) "
            f"but the cluster has {cpus:g} CPUs for {settings.max_concurrent_trials} concurrent trial(s); "
            "lower --workers, --cpus-per-worker or --max-concurrent-trials"
        )
    return dataclasses.replace(settings, workers=workers, cpus_per_worker=cpus_per_worker)


def _tune_dir(settings: SweepSettings) -> Path:
    return settings.sweep_dir / "tune"


def check_sweep_state(settings: SweepSettings) -> None:
    """A new sweep must not overwrite an old one; a resumed one must exist."""
    from ray import tune

    path = _tune_dir(settings)
    if settings.resume and not tune.Tuner.can_restore(str(path)):
        raise UsageError(f"nothing to resume: no sweep state at {path}; run without --resume to start it")
    if not settings.resume and path.exists():
        raise UsageError(
            f"sweep {settings.name} already exists at {settings.sweep_dir}; pass --resume to continue it "
            "or --name to start another"
        )


def _arm_name(trial) -> str:
    return Arm(**trial.config["arm"]).name


def run_sweep(settings: SweepSettings, arms: list[Arm], prog: str) -> int:
    """Run the sweep; return the process exit status."""
    import ray
    from ray import tune

    from gcttt.data.access import load_datasets
    from sweeps.prepare import prepare_checkpoints, prepare_dataset
    from sweeps.report import markdown_table, read_sweep_rows, summary_frame
    from sweeps.trial import run_trial
    from workers.episode_worker import share_dataset
    from workers.pool import trial_resources

    started = time.perf_counter()
    check_local_gpu_request(settings)
    check_sweep_state(settings)
    if not ray.is_initialized():
        ray.init(address=settings.ray_address, log_to_driver=True)
    settings = resolve_resources(settings)
    print(
        f"{prog}: sweep {settings.name}: {len(arms)} trials ({arms_summary(arms)}); {settings.workers} workers x "
        f"{settings.cpus_per_worker:g} CPU per trial; results in {settings.sweep_dir}",
        file=sys.stderr,
    )

    prepare_dataset(settings)
    checkpoints = prepare_checkpoints(settings, [(a.seed, a.width) for a in arms])
    train, _ = load_datasets(settings.dataset, settings.data_dir, fetch="never")
    shared = share_dataset(train)
    del train

    parent_tags = {
        "gcttt.sweep_id": settings.name,
        "gcttt.role": "sweep",
        "gcttt.sweep_kind": settings.kind,
        "gcttt.dataset": settings.dataset,
        "gcttt.backbone": settings.backbone,
        "gcttt.preset": settings.preset,
    }
    parent = tracking.start_or_resume_run(settings.mlflow_uri, settings.experiment, settings.name, parent_tags)
    status = "FAILED"
    try:
        from gcttt.provenance import git_sha

        tracking.set_tags(settings.mlflow_uri, parent, {"gcttt.git_sha": git_sha()})
        tracking.log_params(settings.mlflow_uri, parent, {**dataclasses.asdict(settings), "arms": len(arms)})
        trainable = tune.with_resources(
            tune.with_parameters(
                run_trial, settings=settings, shared=shared, checkpoints=checkpoints, parent_run_id=parent
            ),
            trial_resources(settings.workers, settings.cpus_per_worker, settings.gpus_per_worker, settings.trial_cpus),
        )
        if settings.resume:
            path = str(_tune_dir(settings))
            tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, restart_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space={"arm": tune.grid_search([a.as_dict() for a in arms])},
                tune_config=tune.TuneConfig(
                    max_concurrent_trials=settings.max_concurrent_trials,
                    trial_name_creator=_arm_name,
                    trial_dirname_creator=_arm_name,
                ),
                run_config=tune.RunConfig(
                    name="tune",
                    storage_path=str(settings.sweep_dir),
                    failure_config=tune.FailureConfig(max_failures=1),
                    verbose=1,
                ),
            )
        fit_started = time.perf_counter()
        grid = tuner.fit()
        fit_seconds = time.perf_counter() - fit_started

        rows = read_sweep_rows(settings.episodes_dir)
        summary = summary_frame(rows) if len(rows) else None
        table = markdown_table(summary) if summary is not None else "(no episodes finished)"
        trial_seconds = [r.metrics.get("trial_seconds", 0.0) for r in grid if r.metrics]
        sweep_metrics = {"trials_finished": float(len(trial_seconds)), "fit_seconds": fit_seconds}
        if trial_seconds and not settings.resume:
            # Tune's own share: the fit's wall time not spent inside trial functions.
            busy = sum(trial_seconds) / settings.max_concurrent_trials
            sweep_metrics["tune_overhead_share"] = max(0.0, 1.0 - busy / fit_seconds)
        _write_outputs(settings, parent, table, summary, sweep_metrics)
        print(f"\n{table}\n", flush=True)
        errors = [r for r in grid if r.error is not None]
        finished = len(trial_seconds)
        if errors or finished < len(arms):
            status = "FAILED" if errors else "KILLED"
            raise SweepIncomplete(
                f"{finished} of {len(arms)} trials finished ({len(errors)} failed; see {_tune_dir(settings)}); "
                f"rerun the same command with --resume to continue"
            )
        status = "FINISHED"
        print(
            f"{prog}: done in {elapsed(started)}; rows in {settings.episodes_dir}; compare runs with: "
            f"mlflow ui --backend-store-uri {settings.mlflow_uri}",
            file=sys.stderr,
        )
        return 0
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tracking.end_run(settings.mlflow_uri, parent, status)


def _write_outputs(settings, parent: str, table: str, summary, metrics: dict[str, float]) -> None:
    import os
    import tempfile

    settings.sweep_dir.mkdir(parents=True, exist_ok=True)
    path = settings.sweep_dir / "results.md"
    fd, tmp = tempfile.mkstemp(dir=settings.sweep_dir, prefix=".results.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(table + "\n")
    os.replace(tmp, path)
    tracking.log_artifact(settings.mlflow_uri, parent, path)
    if summary is not None:
        csv = settings.sweep_dir / "results.csv"
        summary.to_csv(csv, index=False)
        tracking.log_artifact(settings.mlflow_uri, parent, csv)
        base = summary[summary["method"] == "baseline"]["success"]
        ttt = summary[summary["method"] != "baseline"]["success"]
        if len(base):
            metrics["baseline_success"] = float(base.mean())
        if len(ttt):
            metrics["best_gcttt_success"] = float(ttt.max())
    tracking.log_metrics(settings.mlflow_uri, parent, metrics)
