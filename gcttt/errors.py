"""Errors that reach the user as one line.

Every entry point runs its body through `run_main`, which catches `GctttError`, prints its message
(which names the problem and the fix) and exits non-zero, instead of showing a traceback from deep
inside a dependency.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class GctttError(Exception):
    """Base class of errors with a one-line, user-facing message."""

    exit_code = 2


class UsageError(GctttError):
    """Bad input from the user: an unknown name, an invalid knob, a missing file."""


class DatasetError(GctttError):
    """A dataset file that is missing, unreadable or inconsistent."""


class CheckpointError(GctttError):
    """A checkpoint that is unreadable or does not fit the env or backbone asked for."""


def run_main(prog: str, body: Callable[[], int | None]) -> int:
    """Run an entry point's body: its exit status, or one line `PROG: error: ...` and the error's
    exit status; `PROG: interrupted` and 130 on Ctrl-C."""
    try:
        return int(body() or 0)
    except GctttError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
