"""Stopping a run on SIGINT, SIGTERM or SIGHUP without racing the MLflow store.

    with stop_on_signals() as flag:          # handlers installed (main thread only), restored after
        with flag.interruptible():           # no store access in here: a signal raises at once
            problem = load(...)
        with tracker.start(...) as run:      # store access: a signal is only recorded ...
            run.log_params(...)
            flag.check()                     # ... and raised here, at a safe point

The handler never touches the store: it records the first signal in a :class:`StopFlag`, and raises
:class:`RunInterrupted` itself only inside :meth:`StopFlag.interruptible` stretches (loading,
compiling, solving, evaluating), where the main thread holds no store connection. Everywhere else
the main thread raises it at the next check (the trainer checks before every step). Leaving the
run's ``with`` block on :class:`RunInterrupted` ends the run KILLED; the command exits
``128 + signal`` (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
"""The signals that end a run KILLED (those this platform has)."""


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15, ``"signal 42"`` for a number without a name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class RunInterrupted(KeyboardInterrupt):
    """A stop signal ended the run. A ``KeyboardInterrupt``, so code that cleans up on Ctrl-C does so here.

    ``run_id`` is set once the run it stopped has been marked KILLED.
    """

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.run_id: str | None = None
        super().__init__(f"interrupted by {signal_name(self.signum)}")

    @property
    def name(self) -> str:
        return signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: ``128 + signum``."""
        return 128 + self.signum

    def reason(self) -> str:
        """The one-line reason recorded in the run's ``mathflow.error`` tag."""
        kind = "KeyboardInterrupt" if self.name == "SIGINT" else "Terminated"
        return f"{kind}: interrupted by {self.name}"


class StopFlag:
    """The first stop signal received, and where the main thread may be interrupted at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._immediate = 0

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def check(self) -> None:
        """Raise :class:`RunInterrupted` when a stop signal has arrived (a safe point)."""
        if self.signum is not None:
            raise RunInterrupted(self.signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A stretch with no store access: a signal arriving inside it raises at once."""
        self.check()
        self._immediate += 1
        try:
            yield
        finally:
            self._immediate -= 1

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: record the first signal; raise only inside an interruptible stretch."""
        if self.signum is not None:
            return  # already stopping: a second Ctrl-C must not cut the KILLED bookkeeping short
        self.signum = signum
        if self._immediate > 0:
            raise RunInterrupted(signum)


def _stop_signal_numbers() -> list[int]:
    return [int(getattr(signal, name)) for name in STOP_SIGNALS if hasattr(signal, name)]


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """Route SIGINT, SIGTERM and SIGHUP to a fresh :class:`StopFlag` for the block (main thread only;
    elsewhere the flag is never set). The previous handlers come back afterwards."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous: dict[int, Any] = {}
    try:
        for signum in _stop_signal_numbers():
            previous[signum] = signal.signal(signum, flag.handle)
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


__all__ = ["STOP_SIGNALS", "RunInterrupted", "StopFlag", "signal_name", "stop_on_signals"]
