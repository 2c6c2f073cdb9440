"""Atomic file writes: the one helper every writer of results, datasets and checkpoints uses.

A file appears under its final name only once it is complete: it is written to a temporary
file in the same directory, flushed and fsynced, given ordinary permissions (mkstemp creates
0600, which others on a shared cluster could not read), renamed over the final name, and the
directory entry is fsynced. An interrupted write leaves no file under the final name and
removes its temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"
"""Suffix of in-flight temporary files (readers skip them)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename durable (the directory entry), where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", suffix: str = TEMP_SUFFIX) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on a clean exit it replaces `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def torch_save_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """`torch.save` through `atomic_write`."""
    import torch

    with atomic_write(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def check_writable_dir(path: str | os.PathLike, flag: str) -> Path:
    """Refuse, before any work, a directory that cannot be created or written (e.g. a path under a
    regular file); returns it resolved. Nothing is created."""
    from gcttt.errors import UsageError

    path = Path(path).expanduser().resolve()
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        where = "is a file" if probe == path else f"lies under the file {probe}"
        raise UsageError(f"{flag} {path} {where}; give a directory path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {probe} is not writable; give a directory you can write to")
    return path


def take_lock(path: str | os.PathLike) -> tuple[int | None, dict]:
    """Try an exclusive `fcntl.flock` on `path` (created): (its descriptor, {}) with this process
    recorded in the file, or (None, what the file says of the holder) when another one holds it.
    The operating system drops the lock when the holder ends in any way (SIGKILL included), so a
    stale lock file never blocks a later run; closing the descriptor releases it."""
    import fcntl
    import json
    import socket
    import time

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            holder = {}
        os.close(fd)
        return None, holder
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode(), 0)
    return fd, {}


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, refusal: str) -> Iterator[Path]:
    """Hold `take_lock(path)` for the block, or raise `UsageError` at once with `refusal` and the
    holder's pid."""
    from gcttt.errors import UsageError

    fd, holder = take_lock(path)
    if fd is None:
        raise UsageError(f"{refusal} (pid {holder.get('pid', '?')} on {holder.get('host', '?')})")
    try:
        yield Path(path)
    finally:
        os.close(fd)  # closing the descriptor releases the lock
