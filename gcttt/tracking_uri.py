"""Tracking-URI checks, without importing MLflow: refuse a bad --mlflow-uri before any work.

MLflow 3 refuses the old ``./mlruns`` file store, so gcttt always uses a SQLite database given
by an absolute path (``sqlite:////abs/path/mlflow.db``); `sqlite_uri` builds one. Shared by the
sweeps, the analysis scripts and the MLflow plugin (`tracking`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from gcttt.errors import UsageError


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
            from gcttt.files.fileio import check_writable_dir

            check_writable_dir(db.parent, "MLflow database folder")
        return uri
    if uri.startswith("file:") or uri.startswith("./") or uri.startswith("/") or "://" not in uri:
        raise UsageError(
            f"MLflow URI {uri!r}: MLflow 3 no longer accepts file stores; use sqlite:////abs/path/mlflow.db"
        )
    return uri


@contextlib.contextmanager
def held_working_dir(folder: str | os.PathLike) -> Iterator[Path]:
    """Run the block in `folder` (an existing, absolute folder the caller owns), then go back to
    the previous working directory where it still exists.

    MLflow looks up the working directory each time it opens a local store or creates an
    experiment (for its default artifact root, ``./mlruns``), even when every path it is given is
    absolute. Under ``ray job submit --working-dir`` the driver starts in Ray's copy of that
    folder, and Ray may delete that copy under the running driver (a second node on the same
    machine unpacks the package into the same place), after which ``os.getcwd()`` fails. Once
    every path of a run is absolute, holding a folder of its own makes the run independent of
    where it was started."""
    folder = Path(folder)
    if not folder.is_absolute():
        raise ValueError(f"held_working_dir needs an absolute folder, got {folder}")
    try:
        before: str | None = os.getcwd()
    except FileNotFoundError:  # already gone: nowhere to go back to
        before = None
    os.chdir(folder)
    try:
        yield folder
    finally:
        if before is not None:
            with contextlib.suppress(OSError):
                os.chdir(before)


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
