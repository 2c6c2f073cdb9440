"""One sweep per results folder at a time: an exclusive lock on ``SWEEP/.lock``.

The lock is an `fcntl.flock` on an open file: the operating system drops it when the holding
process ends in any way (exit, crash, SIGKILL), so a stale lock never blocks a later run. The
file also records who holds it, for the refusal message.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from gcttt.errors import UsageError
from gcttt.files.fileio import take_lock


class SweepLock:
    """Held for the whole life of a sweep's driver."""

    def __init__(self, directory: str | os.PathLike, name: str):
        self.path = Path(directory) / ".lock"
        self.name = name
        self.fd: int | None = None

    def acquire(self) -> SweepLock:
        fd, holder = take_lock(self.path)
        if fd is None:
            since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0))) if holder else "?"
            raise UsageError(
                f"sweep {self.name} is already running (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
                f"since {since}); wait for it to finish, or use --name to start another sweep"
            )
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> SweepLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
