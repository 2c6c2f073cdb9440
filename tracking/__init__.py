"""MLflow wiring: tracking URIs, the sweep's parent run, trial child runs, and a metrics sink.

MLflow 3 refuses the old ``./mlruns`` file store, so gcttt always uses a SQLite database given
by an absolute path (``sqlite:////abs/path/mlflow.db``); `sqlite_uri` builds one. Compare runs
with ``mlflow ui --backend-store-uri sqlite:////abs/path/mlflow.db``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gcttt.errors import UsageError

PARENT_TAG = "mlflow.parentRunId"


def sqlite_uri(path: str | os.PathLike) -> str:
    """SQLite tracking URI for a database file, made absolute."""
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def check_tracking_uri(uri: str | None, must_exist: bool = False) -> str:
    """Refuse relative SQLite paths, MLflow's retired file store, and SQLite paths that cannot be
    written; with `must_exist` (readers), a database that is not there (MLflow would silently create
    an empty one). Names the fix in the message."""
    if not uri:
        raise UsageError(
            "no MLflow tracking URI: pass --mlflow-uri (or set $MLFLOW_TRACKING_URI), e.g. sqlite:////abs/mlflow.db"
        )
    if uri.startswith("sqlite:///"):
        if not uri.startswith("sqlite:////"):
            raise UsageError(f"MLflow URI {uri!r} is relative; use an absolute path: sqlite:////abs/path/mlflow.db")
        db = Path(uri.removeprefix("sqlite:///"))
        if must_exist:
            if not db.is_file():
                raise UsageError(f"MLflow database {db} does not exist; pass the mlflow.db the sweep wrote")
        elif db.exists() and not db.is_file():
            raise UsageError(f"MLflow database {db} is a directory; give a file path ending in mlflow.db")
        else:
            from gcttt.fileio import check_writable_dir

            check_writable_dir(db.parent, "MLflow database folder")
        return uri
    if uri.startswith("file:") or uri.startswith("./") or uri.startswith("/") or "://" not in uri:
        raise UsageError(
            f"MLflow URI {uri!r}: MLflow 3 no longer accepts file stores; use sqlite:////abs/path/mlflow.db"
        )
    return uri


LOCK_WAIT_S = 5.0
"""How long the up-front store check waits for another process's lock on a SQLite store."""


def _locked_message(db: Path, waited_s: float) -> str:
    return (
        f"MLflow store {db} is locked by another process (waited {waited_s:g} s); let that process finish "
        "(an open `sqlite3` shell, another sweep or `mlflow ui` writing), or use another store: "
        "--mlflow-uri sqlite:////abs/path/other.db"
    )


def check_sqlite_free(uri: str, timeout_s: float = LOCK_WAIT_S) -> None:
    """For a SQLite store, take its write lock and let it go at once, waiting at most `timeout_s`
    for another process's lock; refuse in one line if it stays locked. A missing file passes."""
    if not uri.startswith("sqlite:///"):
        return
    import sqlite3

    db = Path(uri.removeprefix("sqlite:///"))
    if not db.is_file():
        return
    try:
        connection = sqlite3.connect(db, timeout=timeout_s)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
        finally:
            connection.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise UsageError(_locked_message(db, timeout_s)) from None
        raise UsageError(f"MLflow store {db} cannot be opened ({exc}); give another --mlflow-uri") from None


def raise_if_locked(uri: str, exc: BaseException) -> None:
    """A 'database is locked' error (a lock taken after the up-front check) as one line."""
    if uri.startswith("sqlite:///") and "database is locked" in str(exc):
        raise UsageError(_locked_message(Path(uri.removeprefix("sqlite:///")), 30)) from None


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """For an MLflow server (http/https), answer within `timeout_s` or refuse before any work."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    url = uri.rstrip("/") + "/health"
    try:
        urllib.request.urlopen(url, timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return  # the server answered (an old server may not know /health)
    except Exception as exc:  # connection refused, DNS, timeout
        reason = getattr(exc, "reason", exc)
        raise UsageError(
            f"MLflow server {uri} did not answer within {timeout_s:g} s ({reason}); start it, fix --mlflow-uri, "
            "or use a local store: --mlflow-uri sqlite:////abs/path/mlflow.db"
        ) from None


def _client(uri: str):
    import mlflow
    from mlflow.tracking import MlflowClient

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
