"""Global switches of the engine: gradient recording and checked (domain-validating) mode."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class _State(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.checked = False


_state = _State()


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backpropagation."""
    return _state.grad_enabled


@contextlib.contextmanager
def set_grad_enabled(enabled: bool) -> Iterator[None]:
    """Turn recording on or off inside a ``with`` block."""
    previous, _state.grad_enabled = _state.grad_enabled, enabled
    try:
        yield
    finally:
        _state.grad_enabled = previous


def no_grad() -> contextlib.AbstractContextManager[None]:
    """``with mf.no_grad():`` runs operations without recording a graph (inference, updates)."""
    return set_grad_enabled(False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """``with mf.enable_grad():`` records operations even inside ``no_grad``."""
    return set_grad_enabled(True)


def is_checked() -> bool:
    """True when operations validate their domains (log of a negative, singular inverse, NaN)."""
    return _state.checked


@contextlib.contextmanager
def checked(enabled: bool = True) -> Iterator[None]:
    """``with mf.checked():`` makes domain errors raise :class:`~mathflow.errors.DomainError`."""
    previous, _state.checked = _state.checked, enabled
    try:
        yield
    finally:
        _state.checked = previous
