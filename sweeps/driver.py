"""Running a sweep: lock, Ray, inputs, episode workers, the MLflow parent run, Ray Tune, the table.

Every entry point (horizon_sweep.py, compute_sweep.py, reproduce.py) validates its flags into a
`Sweep` and a list of `Arm`s, then calls `run_sweep`. Everything that can be refused is
refused before the MLflow parent run or any result is written:
- one driver per sweep folder at a time (`sweeps.lock`); a new sweep never overwrites an old one;
- a resumed sweep must have the same arms as the one it continues (what differs is named);
- the dataset is validated and every cached checkpoint checked before any trial starts.

The part files are the one record of what a sweep has played: an arm is done when its part
files hold each of its episodes once (`sweeps.parts`; a trial moves its rows into
``SWEEP/episodes/ARM/`` only once its MLflow run has ended FINISHED). Every run of the driver,
fresh or `--resume`d, reads them, plays the arms that still lack episodes in a new Ray Tune
experiment (Tune schedules trials and reports metrics; nothing is restored from its experiment
state) and finds the MLflow runs again by their sweep and arm tags. So a run goes:
1. prepare (`_run_locked`): dataset, Ray, checkpoints, episode workers, the MLflow parent run;
2. plan (`_plan`): damaged part files set aside, the arms still to play;
3. play (`_play`): one Tune trial per arm still to play;
4. summarise (`_summarise`): the table, the sweep's state, the runs of unfinished arms closed.

A sweep ends FINISHED only when every arm has its rows. Otherwise (Ctrl-C, a failed trial) it
exits non-zero, names the arms that did not finish, marks their MLflow runs and the parent
KILLED or FAILED, and says to run it again with --resume.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

import tracking
from gcttt.errors import GctttError, UsageError
from gcttt.files.checkpoint import read_checkpoint
from gcttt.files.fileio import atomic_write_text
from gcttt.files.provenance import git_sha, weights_fingerprint
from gcttt.files.write_errors import probe_write, write_failure
from gcttt.results.records import part_files
from gcttt.results.store import check_checkpoint, check_study_dataset, published_rows, record_sweep_state
from gcttt.results.tables import markdown_table, read_sweep_rows, summary_frame
from gcttt.tracking_uri import held_working_dir
from sweeps import mlflow_view
from sweeps.arms import Arm
from sweeps.common import Sweep, arms_summary, elapsed
from sweeps.lock import SweepLock
from sweeps.parts import complete_arms, expected_episodes, set_aside_damaged
from sweeps.prepare import prepare_checkpoints, prepare_dataset
from sweeps.trial import run_trial, summarize_rows

RERUN = "rerun with --resume"
"""The way out of a sweep that stopped on a full or read-only disk."""


class SweepIncomplete(GctttError):
    """Some trials failed or the sweep was interrupted; `--resume` continues it."""

    exit_code = 1


def check_local_gpu_request(sweep: Sweep) -> None:
    """A GPU share asked on a machine without CUDA is refused before Ray even starts."""
    share = sweep.resources.gpu_share
    if share and sweep.resources.ray_address == "local" and not torch.cuda.is_available():
        raise UsageError(
            f"--gpus-per-worker {share:g} but this machine has no CUDA GPU "
            "(or torch is a CPU build); drop the flag or pass --gpus-per-worker 0"
        )


def _tune_dir(sweep: Sweep) -> Path:
    return sweep.sweep_dir / "tune"


def _manifest_path(sweep: Sweep) -> Path:
    return sweep.sweep_dir / "sweep.json"


def check_sweep_state(sweep: Sweep, arms: list[Arm]) -> None:
    """A new sweep must not overwrite an old one; a resumed one must exist and have the same arms and
    the same result settings (`RESULT_SETTINGS`)."""
    path = _tune_dir(sweep)
    if not sweep.outputs.resume:
        if _never_started(sweep):
            _clear_never_started(sweep)
        if path.exists() or _manifest_path(sweep).exists() or _has_rows(sweep):
            raise UsageError(
                f"sweep {sweep.name} already exists at {sweep.sweep_dir}; pass --resume to continue it "
                "or --name to start another"
            )
        return
    if not (_manifest_path(sweep).exists() or path.exists() or _has_rows(sweep)):
        raise UsageError(f"nothing to resume: no sweep at {sweep.sweep_dir}; run without --resume to start it")
    try:
        manifest = json.loads(_manifest_path(sweep).read_text())
        saved = manifest["arms"]
    except (OSError, ValueError, KeyError):
        return  # a sweep from before manifests: its part files alone say what is done
    changed = _changed_settings(manifest.get("settings", {}), sweep)
    if changed:
        raise UsageError(
            f"--resume of {sweep.name} with other settings: {'; '.join(changed)}; resume with the flags it "
            "started with, or use --name to start a new sweep"
        )
    asked = [a.name for a in arms]
    added, dropped = sorted(set(asked) - set(saved)), sorted(set(saved) - set(asked))
    if added or dropped:
        what = []
        if added:
            what.append(f"{len(added)} new arm(s) ({', '.join(added[:3])}{', ...' if len(added) > 3 else ''})")
        if dropped:
            what.append(
                f"{len(dropped)} missing arm(s) ({', '.join(dropped[:3])}{', ...' if len(dropped) > 3 else ''})"
            )
        raise UsageError(
            f"--resume of {sweep.name} with another grid: {' and '.join(what)}; resume with the flags it "
            "started with, or use --name to start a new sweep"
        )


def _never_started(sweep: Sweep) -> bool:
    """A manifest or Tune folder but no rows: nothing was played (a start that failed on a locked
    MLflow store, an interrupt in the first trial); it must not block the same command."""
    return not _has_rows(sweep)


def _has_rows(sweep: Sweep) -> bool:

    episodes = sweep.episodes_dir
    return episodes.is_dir() and any(part_files(episodes, recursive=True))


def _clear_never_started(sweep: Sweep) -> None:
    shutil.rmtree(_tune_dir(sweep), ignore_errors=True)
    _manifest_path(sweep).unlink(missing_ok=True)


RESULT_SETTINGS = (
    "dataset",
    "backbone",
    "preset",
    "tasks",
    "episodes_per_task",
    "eval_seed",
    "seeds",
    "suite",
    "heldout_size",
    "pretrain_steps",
    "compile",
    "checkpoint_steps",
    "knobs",
)
"""Settings that change what a sweep's episodes are (the arms aside): a resume must keep them."""


def _changed_settings(saved: dict, sweep: Sweep) -> list[str]:
    """'name: was -> now' for every result setting that differs from the sweep's manifest."""
    now = sweep.record()
    return [
        f"--{name.replace('_', '-')} was {saved[name]!r}, now {now[name]!r}"
        for name in RESULT_SETTINGS
        if name in saved and saved[name] != now[name]
    ]


def sweep_state(sweep: Sweep, arms: list[Arm]) -> str:
    """'new' (no rows yet), 'partial' (not every arm has its rows) or 'done', from the part files."""
    if not _has_rows(sweep):
        return "new"

    done = complete_arms(sweep, arms)  # readable part files holding every episode once
    return "done" if all(a.name in done for a in arms) else "partial"


def _write_manifest(sweep: Sweep, arms: list[Arm]) -> None:

    command = "python " + shlex.join(sys.argv) if sys.argv and sys.argv[0] else None
    manifest = {"settings": sweep.record(), "arms": [a.name for a in arms], "command": command}
    atomic_write_text(_manifest_path(sweep), json.dumps(manifest, indent=2, default=str) + "\n")


def _fit(tuner, progress) -> tuple[list, bool]:
    """Run a Tuner to its end: its results and whether Ctrl-C cut it short (then no results)."""
    try:
        return list(tuner.fit()), False
    except KeyboardInterrupt:
        return [], True
    finally:
        progress.close()


def _arm_name(trial_or_result) -> str:
    """The arm of a Tune trial or result (both carry the arm's dict in their config)."""
    return Arm.from_params(trial_or_result.config["arm"]).name


def run_sweep(sweep: Sweep, arms: list[Arm], prog: str) -> int:
    """Run the sweep; return the process exit status."""
    started = time.perf_counter()
    check_local_gpu_request(sweep)
    if sweep.outputs.published:  # a damaged or foreign study is refused before Ray starts
        published_rows(sweep.outputs.published)
    try:
        # Every path is absolute by now, and the results root is the working directory from here on:
        # under `ray job submit --working-dir` Ray may delete the job's working directory under the
        # driver, and MLflow looks the working directory up whenever it opens its SQLite store.
        with SweepLock(sweep.sweep_dir, sweep.name), held_working_dir(sweep.outputs.out):
            check_sweep_state(sweep, arms)
            return _run_locked(sweep, arms, prog, started)
    except GctttError:
        raise
    except Exception as exc:  # a full or read-only disk: one line, whoever noticed it first
        failure = write_failure(exc, sweep.sweep_dir, RERUN)
        if failure is None:  # a failure that lost its cause on the way (Tune's error files): the disk now
            probed = probe_write(sweep.sweep_dir) if sweep.sweep_dir.is_dir() else None
            failure = write_failure(probed, sweep.sweep_dir, RERUN) if probed else None
        if failure is None:
            raise
        raise failure from None


def _connect(sweep: Sweep) -> None:
    """Connect to `sweep.resources.ray_address`, or for 'local' to the cluster of the Ray job this
    driver runs as (`ray job submit` sets $RAY_ADDRESS), else start a new Ray of this machine. Never
    Ray's own default (None), which joins whatever `ray start` cluster happens to run on the machine.
    A cluster that cannot be reached is one line naming the address and the way out, not Ray's
    retries ending in a traceback."""
    import ray

    address = sweep.resources.ray_address
    if address == "local":
        address = os.environ.get("RAY_ADDRESS") or "local"
    try:
        ray.init(
            address=address,
            log_to_driver=True,
            logging_level=logging.INFO if sweep.outputs.verbose else logging.WARNING,
        )
    except (ConnectionError, ray.exceptions.AuthenticationError) as exc:
        auth = any(isinstance(e, ray.exceptions.AuthenticationError) for e in (exc, exc.__cause__))
        hint = (
            "the cluster wants a token: set RAY_AUTH_MODE=token (the token file is ~/.ray/auth_token)"
            if auth
            else "start it (ray start --head) or pass --ray-address local for a Ray of this machine"
        )
        raise UsageError(f"no Ray cluster answers at {address}: {hint}") from exc


@dataclasses.dataclass
class Prepared:
    """What the trials share, made once per run of the driver."""

    sweep: Sweep
    """The sweep with the cluster's resources resolved."""
    provenance: Any
    """The dataset file's `gcttt.data.provenance.DatasetProvenance`."""
    checkpoints: dict[str, str]
    """Checkpoint file per (seed, width, step) slot (`sweeps.prepare.checkpoint_slot`)."""
    worker_spec: Any
    workers: Any
    """The episode workers (`workers.pool.EpisodePool`)."""


def _run_locked(sweep: Sweep, arms: list[Arm], prog: str, started: float) -> int:
    """Prepare, plan, play, summarise (the module's docstring)."""
    prepared = _prepare(sweep, arms, prog)
    sweep = prepared.sweep
    parent = _open_parent_run(sweep, arms, prepared)
    status = "FAILED"
    try:
        progress = _progress(sweep, arms, prog)
        to_play = _plan(sweep, arms, progress, prog)
        fit_started = time.perf_counter()
        grid, interrupted = _play(_trainable(sweep, prepared, parent), sweep, to_play, progress)
        status, incomplete = _summarise(sweep, arms, parent, grid, interrupted, time.perf_counter() - fit_started)
        if incomplete:
            raise SweepIncomplete(incomplete)
        uri = sweep.outputs.mlflow_uri
        link = mlflow_view.runs_link(tracking.experiment_id(uri, sweep.outputs.experiment), sweep.name)
        print(
            f"{prog}: done in {elapsed(started)}; rows in {sweep.episodes_dir}; compare runs with: "
            f"mlflow ui --backend-store-uri {uri}, then open {link}",
            file=sys.stderr,
        )
        return 0
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        prepared.workers.shutdown()
        _end_parent(sweep, parent, status)


def _prepare(sweep: Sweep, arms: list[Arm], prog: str) -> Prepared:
    """The dataset (generated if absent, validated before Ray starts), Ray, the resources, the
    checkpoints (pre-trained where missing), the dataset in Ray's object store, the workers."""
    # Ray and the workers are imported here, not at the top: every refusal of a sweep's flags comes
    # before, without the seconds that importing Ray takes.
    import ray

    from sweeps.resources import resolve_resources
    from workers.episode_worker import share_dataset
    from workers.pool import EpisodePool, WorkerSpec

    train, provenance = prepare_dataset(sweep)
    if sweep.outputs.published:  # before anything is pre-trained or played
        check_study_dataset(sweep.outputs.published, sweep.what.dataset, provenance.fingerprint, sweep.outputs.data_dir)
    record_sweep_state(sweep.sweep_dir, [a.name for a in arms], None)  # this run's word comes at its end
    _quiet_console(sweep.outputs.verbose)
    if not ray.is_initialized():
        _connect(sweep)
    sweep = resolve_resources(sweep)
    print(
        f"{prog}: sweep {sweep.name}: {len(arms)} trials ({arms_summary(arms)}); {sweep.resources.workers} episode "
        f"workers x {sweep.resources.cpus_per_worker:g} CPU; results in {sweep.sweep_dir}",
        file=sys.stderr,
    )
    checkpoints = prepare_checkpoints(sweep, [(a.seed, a.width, a.checkpoint_step) for a in arms], provenance)
    if sweep.outputs.published:
        check_published_checkpoints(sweep, checkpoints)
    shared = share_dataset(train, provenance)
    spec = WorkerSpec(
        shared,
        sweep.resources.cpus_per_worker,
        sweep.resources.gpus_per_worker,
        sweep.distance_cache_dir,
        compile=sweep.resources.compile,
    )
    return Prepared(sweep, provenance, checkpoints, spec, EpisodePool(spec, sweep.resources.workers))


def _open_parent_run(sweep: Sweep, arms: list[Arm], prepared: Prepared) -> str:
    """The sweep's MLflow parent run (found again by its tags on --resume), its tags and params;
    the sweep's manifest once the run can be recorded. A store that refuses shuts the workers down."""
    tags = {
        "gcttt.sweep_id": sweep.name,
        "gcttt.role": "sweep",
        "gcttt.sweep_kind": sweep.kind,
        "gcttt.dataset": sweep.what.dataset,
        "gcttt.backbone": sweep.what.backbone,
        "gcttt.preset": sweep.what.preset,
    }
    try:
        parent = tracking.start_or_resume_run(sweep.outputs.mlflow_uri, sweep.outputs.experiment, sweep.name, tags)
    except Exception as exc:
        prepared.workers.shutdown()
        tracking.raise_if_locked(sweep.outputs.mlflow_uri, exc)
        raise
    if not sweep.outputs.resume:
        _write_manifest(sweep, arms)  # only once the sweep can record its runs
    provenance = prepared.provenance
    tracking.set_tags(
        sweep.outputs.mlflow_uri,
        parent,
        {
            "gcttt.git_sha": git_sha(),
            "gcttt.dataset_source": provenance.source,  # the trials' label; the recipe below
            "gcttt.dataset_recipe": provenance.label(),
            "gcttt.dataset_fingerprint": provenance.fingerprint,
        },
    )
    tracking.log_params(sweep.outputs.mlflow_uri, parent, mlflow_view.sweep_params(sweep, arms))
    return parent


def _progress(sweep: Sweep, arms: list[Arm], prog: str):
    from sweeps.progress import SweepProgress

    return SweepProgress(
        sweep.name,
        len(arms),
        sum(_arm_episodes(sweep, a) for a in arms),
        show_bar=not sweep.outputs.verbose,
        trial_cpus=sweep.resources.trial_cpus,
        prog=prog,
    )


def _trainable(sweep: Sweep, prepared: Prepared, parent: str):
    """`sweeps.trial.run_trial` with what every trial shares bound, and the CPUs of its process."""
    from ray import tune

    bound = tune.with_parameters(
        run_trial,
        sweep=sweep,
        checkpoints=prepared.checkpoints,
        parent_run_id=parent,
        worker_spec=prepared.worker_spec,
        actors=prepared.workers.actors,
    )
    return tune.with_resources(bound, {"cpu": sweep.resources.trial_cpus})


def _summarise(
    sweep: Sweep, arms: list[Arm], parent: str, grid: list, interrupted: bool, fit_seconds: float
) -> tuple[str, str | None]:
    """The part files read once more: the table (results.md and the parent run), the sweep's state
    for `gcttt results publish`, and the runs of unfinished arms closed. Returns the parent run's
    status and, for a sweep that did not finish, the line that says so."""
    finished = complete_arms(sweep, arms)  # the part files: the one record of what was played
    errors = [r for r in grid if r.error is not None]
    unfinished = [a for a in arms if a.name not in finished]
    rows = read_sweep_rows(sweep.episodes_dir)
    if len(rows):
        rows = rows[rows["trial_id"].isin(finished)]  # a damaged or partial arm's rows are no result
    summary = summary_frame(rows) if len(rows) else None
    table = markdown_table(summary) if summary is not None else "(no episodes finished)"
    trial_seconds = [r.metrics["trial_seconds"] for r in grid if r.metrics and "trial_seconds" in r.metrics]
    sweep_metrics = {"trials_finished": float(len(finished)), "fit_seconds": fit_seconds}
    if trial_seconds and len(trial_seconds) == len(arms) and not unfinished:
        # Tune's own share: the fit's wall time not spent inside trial functions.
        busy = sum(trial_seconds) / sweep.resources.max_concurrent_trials
        sweep_metrics["tune_overhead_share"] = max(0.0, 1.0 - busy / fit_seconds)
    _write_outputs(sweep, parent, table, summary, sweep_metrics)
    record_sweep_state(sweep.sweep_dir, [a.name for a in arms], finished)  # what publish trusts
    print(f"\n{table}\n", flush=True)
    if not unfinished:
        return "FINISHED", None
    interrupted = interrupted or not errors
    status = "KILLED" if interrupted else "FAILED"
    _close_unfinished_runs(sweep, unfinished, status)
    for error in (r.error for r in errors):  # a trial that could not write: the disk, not the trial
        cause = getattr(error, "cause", None)  # what the trial raised (Ray's RayTaskError keeps it)
        failure = cause if isinstance(cause, UsageError) else write_failure(error, sweep.sweep_dir, RERUN)
        if failure is not None:
            return status, f"{len(finished)} of {len(arms)} trials finished; {failure}"
    names = ", ".join(a.name for a in unfinished[:4]) + (", ..." if len(unfinished) > 4 else "")
    why = "interrupted" if interrupted else f"{len(errors)} failed"
    return status, (
        f"{len(finished)} of {len(arms)} trials finished ({why}; unfinished: {names}); "
        "rerun the same command with --resume to finish it"
    )


def _end_parent(sweep: Sweep, parent: str, status: str) -> None:
    """Mark the parent run. A status other than FINISHED means the sweep is already failing (a full
    disk, say): MLflow failing too (its SQLite store on the same disk) must not hide why, so its
    error is one note and the sweep's own error goes on."""
    try:
        tracking.end_run(sweep.outputs.mlflow_uri, parent, status)
    except Exception as exc:
        if status == "FINISHED":
            raise
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        why = next((line for line in lines if "OperationalError" in line), lines[0])  # SQLAlchemy's own first
        print(f"note: the MLflow parent run could not be marked {status} ({why[:200]})", file=sys.stderr)


def check_published_checkpoints(sweep: Sweep, checkpoints: dict[str, str]) -> None:
    """Every checkpoint of a sweep that continues a study must have the weights that played its rows."""
    rows = published_rows(sweep.outputs.published)
    study = Path(sweep.outputs.published).name
    for path in sorted(set(checkpoints.values())):
        payload = read_checkpoint(path)
        config = payload["agent"]["config"]
        identity = {
            "dataset": sweep.what.dataset,
            "backbone": payload["agent"]["backbone"],
            "preset": sweep.what.preset,
            "width": config["width"],
            "depth": config["depth"],
            "pretrain_seed": payload["pretrain_config"]["seed"],
            "checkpoint_step": payload["step"],
        }
        check_checkpoint(rows, identity, weights_fingerprint(payload["agent"]["nets"]), path, study)


def _quiet_console(verbose: int) -> None:
    """Without -v: Tune's classic reporter, which at verbosity 0 prints nothing (its newer one
    prints an experiment banner at every level), and MLflow's store set-up lines off."""
    if not verbose:
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is first imported
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # in case it already was
    # Tune's experiment state is written and never read (the part files are the record): a failure
    # to save it is no news, and on a full disk it is a traceback at every save.
    for name in ("ray.tune.execution.experiment_state", "ray.train._internal.syncer"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _plan(sweep: Sweep, arms: list[Arm], progress, prog: str) -> list[Arm]:
    """The arms still to play: those whose part files do not hold each of their episodes once.
    Damaged part files are set aside first (each named, with what happens to its arm); the arms
    that are done count in the progress bar from their rows."""
    played_before = {a.name for a in arms if (sweep.episodes_dir / a.name).is_dir()}
    for message in set_aside_damaged(sweep, arms, played_before):
        print(f"{prog}: {message}", file=sys.stderr)
    done = complete_arms(sweep, arms)
    if done:
        rows = read_sweep_rows(sweep.episodes_dir)
        for _, arm_rows in rows[rows["trial_id"].isin(done)].groupby("trial_id"):
            progress.add(summarize_rows(arm_rows))
    return [a for a in arms if a.name not in done]


def _play(trainable, sweep: Sweep, arms: list[Arm], progress) -> tuple[list, bool]:
    """One Tune trial per arm in a new Tune experiment (an earlier run's scheduling state is of no
    use: the part files say what is done): the trials' results and whether Ctrl-C cut it short."""
    if not arms:
        progress.close()
        return [], False
    shutil.rmtree(_tune_dir(sweep), ignore_errors=True)
    return _fit(_new_tuner(trainable, sweep, arms, "tune", progress), progress)


def _new_tuner(trainable, sweep: Sweep, arms: list[Arm], name: str, progress):
    from ray import tune

    return tune.Tuner(
        trainable,
        param_space={"arm": tune.grid_search([a.params() for a in arms])},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=sweep.resources.max_concurrent_trials,
            trial_name_creator=_arm_name,
            trial_dirname_creator=_arm_name,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(sweep.sweep_dir),
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=_tune_verbosity(sweep.outputs.verbose),
            callbacks=[progress],
        ),
    )


def _tune_verbosity(verbose: int) -> int:
    """Tune's own console: nothing by default (the sweep's bar instead), its status table with -v."""
    return min(verbose, 3)


def _arm_episodes(sweep: Sweep, arm: Arm) -> int:

    return expected_episodes(sweep, arm)


def _close_unfinished_runs(sweep: Sweep, arms: list[Arm], status: str) -> None:
    """Child runs of arms that did not finish end KILLED or FAILED: those whose trial was killed
    mid-way, and those whose trial closed its run but was stopped before it reported to Tune (an
    interrupt between the two): the sweep does not count their rows, so their runs must not say
    FINISHED either; --resume plays them again and finds the same run."""
    for arm in arms:
        tags = {"gcttt.sweep_id": sweep.name, "gcttt.arm": arm.name}
        run_id = tracking.find_run(sweep.outputs.mlflow_uri, sweep.outputs.experiment, tags)
        if run_id is not None and tracking.run_status(sweep.outputs.mlflow_uri, run_id) in ("RUNNING", "FINISHED"):
            tracking.end_run(sweep.outputs.mlflow_uri, run_id, status)


def _write_outputs(sweep, parent: str, table: str, summary, metrics: dict[str, float]) -> None:

    path = atomic_write_text(sweep.sweep_dir / "results.md", table + "\n")
    tracking.log_artifact(sweep.outputs.mlflow_uri, parent, path)
    if summary is not None:
        csv = atomic_write_text(sweep.sweep_dir / "results.csv", summary.to_csv(index=False))
        tracking.log_artifact(sweep.outputs.mlflow_uri, parent, csv)
    outcome, tags = mlflow_view.sweep_outcome(summary)
    if tags:
        tracking.set_tags(sweep.outputs.mlflow_uri, parent, tags)
    tracking.log_metrics(sweep.outputs.mlflow_uri, parent, mlflow_view.trial_metrics({**outcome, **metrics}))
