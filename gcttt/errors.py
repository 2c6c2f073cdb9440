"""Errors that reach the user as one line.

Every entry point catches `GctttError`, prints its message (which names the problem and the fix)
and exits non-zero, instead of showing a traceback from deep inside a dependency.
"""


class GctttError(Exception):
    """Base class of errors with a one-line, user-facing message."""

    exit_code = 2


class UsageError(GctttError):
    """Bad input from the user: an unknown name, an invalid knob, a missing file."""


class DatasetError(GctttError):
    """A dataset file that is missing, unreadable or inconsistent."""


class CheckpointError(GctttError):
    """A checkpoint that is unreadable or does not fit the env or backbone asked for."""
