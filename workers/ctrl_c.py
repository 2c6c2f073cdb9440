"""Ctrl-C that a wait inside Ray cannot lose.

While a driver blocks in `ray.wait`, Ray polls for signals itself: it runs Python's SIGINT handler,
catches the KeyboardInterrupt that handler raises, and passes it on as a status of the wait.
`CtrlC` notes the press before Python's handler raises, so a polling loop that calls `check()`
after every short wait stops on the next round whatever became of the exception.

Written after a sweep polling `ray.wait(..., timeout=1.0)` while it pre-trained got SIGINT in the
test suite and kept pre-training for minutes. `CtrlC` installs its handler even where SIGINT is
ignored (Tune's fit does too): a process started in the background from a script (`cmd &` without
job control, e.g. a `.ci/run` started so) inherits SIGINT ignored, and `kill -INT` must still stop
the sweep (docs/faults.md case 13).

    with CtrlC() as ctrl_c:
        while pending:
            ready, pending = ray.wait(pending, timeout=1.0)
            ctrl_c.check()
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class CtrlC:
    """A SIGINT handler, while the block runs, that records the press and then does what the handler
    it replaced does (by default: raise KeyboardInterrupt). Off the main thread, where Python allows
    no signal handler, it records nothing and `check` never raises."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.pressed = True
        if callable(self._previous):
            self._previous(signum, frame)
        elif self._previous != signal.SIG_IGN:  # SIG_DFL, or a handler Python did not install
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed inside the block, even if the exception its
        handler raised was swallowed on the way."""
        if self.pressed:
            raise KeyboardInterrupt
