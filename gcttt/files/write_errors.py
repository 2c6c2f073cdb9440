"""A full, read-only or forbidden disk while writing results: one line naming the folder and the way out.

Writers of results (the store's publish, a sweep's driver) let an `OSError` from a write reach
their caller; `write_failure` turns the ones a user fixes outside gcttt (no space, quota, a
read-only file system, no permission) into a `UsageError` that names the folder and what to do
next, instead of the traceback of whichever library wrote last. SQLite reports a full disk in
words of its own ("database or disk is full"), which MLflow passes on inside its own exception;
those count too.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from gcttt.errors import UsageError

WRITE_ERRNOS = {
    errno.ENOSPC: "no space left",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
"""errno -> how the message names it."""

SQLITE_WORDS = {"database or disk is full": "no space left", "attempt to write a readonly database": "read-only"}
"""What SQLite (and so MLflow's SQLite store) says instead of an errno."""


def _chain(exc: BaseException):
    """`exc` and the exceptions it was raised from or during, outermost first, each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        todo += [getattr(current, "cause", None)]  # Ray's RayTaskError keeps the worker's exception here


def write_failure(exc: BaseException, folder: str | os.PathLike, then: str) -> UsageError | None:
    """The one-line error for a write that failed on a full, read-only or forbidden disk (None for
    any other failure). `folder`: named when the error carries no file name; `then`: the step that
    follows freeing space, e.g. 'rerun with --resume'."""
    for inner in _chain(exc):
        if isinstance(inner, OSError) and inner.errno in WRITE_ERRNOS:
            where = Path(inner.filename).parent if inner.filename else Path(folder)
            what = WRITE_ERRNOS[inner.errno]
            return UsageError(f"cannot write in {where} ({what}): free space (or make it writable), then {then}")
    text = " ".join(str(e) for e in _chain(exc))
    for words, what in SQLITE_WORDS.items():
        if words in text:
            return UsageError(
                f"cannot write in {folder} ({what}: {words}): free space (or make it writable), then {then}"
            )
    # An OSError that crossed a process boundary (a Ray task, a Tune trial) arrives as text only.
    found = re.search(r"\[Errno (\d+)\][^'\n]*: '([^']+)'", text) or re.search(r"\[Errno (\d+)\]()", text)
    if found and int(found.group(1)) in WRITE_ERRNOS:
        where = Path(found.group(2)).parent if found.group(2) else Path(folder)
        what = WRITE_ERRNOS[int(found.group(1))]
        return UsageError(f"cannot write in {where} ({what}): free space (or make it writable), then {then}")
    return None


PROBE_BYTES = 64 * 1024


def probe_write(folder: str | os.PathLike) -> OSError | None:
    """Try to write `PROBE_BYTES` in `folder` (removed again): the error a write gets there now, or
    None. For a failure that arrives without its cause: Tune, for one, reads back the error files of
    its trials, and on a full disk those are truncated, so what reaches the driver is an unpickling
    error, not the ENOSPC behind it."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder) as f:
            f.write(b"\0" * PROBE_BYTES)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(Path(folder) / "(a new file)")
        return exc
    return None
