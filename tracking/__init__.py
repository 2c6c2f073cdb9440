"""MLflow wiring, shared by the sweeps, the analysis scripts and `gcttt pretrain --mlflow-uri`: a
sweep's parent run, trial child runs, params, metrics, artifacts, and the pre-training metrics sink.

Neither the library nor any layer above imports another layer for it: the library finds
`MlflowSink` through the ``gcttt.metrics_sinks`` entry point, and the tracking URIs are checked by
`gcttt.tracking_uri` (no MLflow import).

MLflow 3 refuses the old ``./mlruns`` file store, so gcttt always uses a SQLite database given
by an absolute path (``sqlite:////abs/path/mlflow.db``); `sqlite_uri` builds one. Compare runs
with ``mlflow ui --backend-store-uri sqlite:////abs/path/mlflow.db``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gcttt.tracking_uri import check_reachable, check_sqlite_free, check_tracking_uri, raise_if_locked, sqlite_uri

__all__ = ["check_reachable", "check_sqlite_free", "check_tracking_uri", "raise_if_locked", "sqlite_uri"]

PARENT_TAG = "mlflow.parentRunId"


class _DropReraisedQueryErrors(logging.Filter):
    """MLflow's SQL store logs every failed query with its traceback, then raises the same error
    (an `MlflowException` from it), which reaches gcttt: a trial fails with it and the driver names
    the cause. The log is a second copy: on a full disk, about 130 lines per query."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SQLAlchemy database error")


def _client(uri: str):
    import mlflow
    from mlflow.tracking import MlflowClient

    store_log = logging.getLogger("mlflow.store.db.utils")
    if not any(isinstance(f, _DropReraisedQueryErrors) for f in store_log.filters):
        store_log.addFilter(_DropReraisedQueryErrors())

    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def experiment_id(uri: str, name: str) -> str:
    """Id of experiment `name`, created if needed."""
    client = _client(uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_root(uri))


def artifact_root(uri: str) -> str | None:
    """Artifacts of a SQLite store live beside the database (MLflow's default, ./mlruns, depends on
    the working directory, which `ray job submit` makes a temporary copy); servers choose their own."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return None


def flat_params(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts flattened to 'a.b' keys; values as strings cut to MLflow's limit."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, prefix=f"{name}."))
        else:
            out[name] = str(value)[:6000]
    return out


def find_run(uri: str, experiment: str, tags: dict[str, str]) -> str | None:
    """Id of a run in `experiment` carrying all `tags` (the newest one), or None."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = client.search_runs([exp.experiment_id], filter_string=query, max_results=1, order_by=["start_time DESC"])
    return runs[0].info.run_id if runs else None


def start_or_resume_run(
    uri: str, experiment: str, run_name: str, tags: dict[str, str], parent_id: str | None = None
) -> str:
    """The run with these tags (reused, so a resumed sweep never duplicates runs), else a new one."""
    existing = find_run(uri, experiment, tags)
    client = _client(uri)
    if existing is not None:
        client.update_run(existing, status="RUNNING")
        return existing
    all_tags = dict(tags)
    if parent_id:
        all_tags[PARENT_TAG] = parent_id
    run = client.create_run(experiment_id(uri, experiment), run_name=run_name, tags=all_tags)
    return run.info.run_id


def run_status(uri: str, run_id: str) -> str:
    return _client(uri).get_run(run_id).info.status


def end_run(uri: str, run_id: str, status: str) -> None:
    """Mark a run FINISHED, FAILED or KILLED."""
    _client(uri).set_terminated(run_id, status=status)


def log_params(uri: str, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    client = _client(uri)
    existing = client.get_run(run_id).data.params
    items = [Param(k, v) for k, v in flat_params(params).items() if k not in existing]
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start : start + 100])


def log_metrics(uri: str, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k.replace("@", "_"), float(v), now, step) for k, v in metrics.items()]
    _client(uri).log_batch(run_id, metrics=items)


def log_artifact(
    uri: str, run_id: str, path: str | os.PathLike, artifact_path: str | None = None, name: str | None = None
) -> None:
    """Log a file; with `name`, under that file name, so that logging again (a trial re-run after an
    interruption, on the run it reuses) replaces the artifact instead of adding a second one."""
    if name is None or name == Path(path).name:
        _client(uri).log_artifact(run_id, str(path), artifact_path=artifact_path)
        return
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        renamed = Path(tmp) / name
        shutil.copyfile(path, renamed)
        _client(uri).log_artifact(run_id, str(renamed), artifact_path=artifact_path)


@contextlib.contextmanager
def tracked_run(
    uri: str, experiment: str, run_name: str, tags: dict[str, str], parent_id: str | None = None
) -> Iterator[str]:
    """A run that ends FINISHED on success, KILLED on interrupt and FAILED on error: never left RUNNING."""
    run_id = start_or_resume_run(uri, experiment, run_name, tags, parent_id)
    status = "FAILED"
    try:
        yield run_id
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        end_run(uri, run_id, status)


class MlflowSink:
    """`gcttt.pretrain.MetricsSink` that logs to one MLflow run.

    Registered as the ``mlflow`` entry point of the ``gcttt.metrics_sinks`` group (pyproject.toml),
    which is how `gcttt pretrain --mlflow-uri` finds it without the library importing MLflow.
    """

    @staticmethod
    def check_uri(uri: str) -> None:
        check_tracking_uri(uri)
        check_reachable(uri)
        check_sqlite_free(uri)

    def __init__(self, uri: str, experiment: str, run_name: str):
        self.uri = check_tracking_uri(uri)
        self.run_id = start_or_resume_run(self.uri, experiment, run_name, {"gcttt.pretrain_run": run_name})

    def log_params(self, params: dict[str, Any]) -> None:
        log_params(self.uri, self.run_id, params)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        log_metrics(self.uri, self.run_id, metrics, step)

    def close(self, status: str) -> None:
        end_run(self.uri, self.run_id, status)


def set_tags(uri: str, run_id: str, tags: dict[str, str]) -> None:
    client = _client(uri)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
