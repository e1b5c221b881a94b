"""The best epoch of a run by one log key, with a copy of the weights it had.

:class:`BestTracker` is what :class:`~mathflow.train.EarlyStopping` and
:class:`~mathflow.train.ModelCheckpoint` share: after each epoch ``update(value, epoch, model)``
says whether ``value`` beats the best so far by more than ``min_delta`` (in the direction of
``mode``) and, when it does, records the epoch and a ``state_dict`` copy of the model;
``restore(model)`` loads that copy back at the end of training, and ``state_dict`` /
``load_state_dict`` carry all of it through a training checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mathflow.errors import MathflowError
from mathflow.train.history import Monitor, resolve_mode


class BestTracker:
    """The best value of log key ``monitor``, its epoch and (optionally) the model's weights then.

    ``mode`` is ``"min"``, ``"max"`` or ``"auto"`` (resolved by :meth:`start`: losses are minimised,
    metrics follow their ``higher_is_better``); an improvement must exceed ``min_delta``. A
    non-finite value never improves.
    """

    def __init__(self, monitor: str, mode: str = "auto", min_delta: float = 0.0) -> None:
        if mode not in ("auto", "min", "max"):
            raise MathflowError(f"monitor {monitor!r}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        Monitor(monitor, "min", min_delta)  # validates min_delta
        self.monitor = monitor
        self.requested_mode = mode
        self.mode = mode
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, np.ndarray] | None = None

    @property
    def key(self) -> str:
        """The monitored log key (the name a :class:`~mathflow.train.Monitor` gives it)."""
        return self.monitor

    def start(self, higher_is_better: Callable[[str], bool] | None = None) -> None:
        """Begin a run: resolve an ``"auto"`` mode (``higher_is_better(metric)``, default: the metric
        registry) and forget any previous best."""
        self.mode = resolve_mode(self.monitor, self.requested_mode, higher_is_better)
        self.reset()

    def reset(self) -> None:
        """Forget the best value, its epoch and its weights."""
        self.best = self.best_epoch = self.best_state = None

    def is_better(self, value: float, reference: float | None) -> bool:
        """Whether ``value`` beats ``reference`` by more than ``min_delta`` in the direction of ``mode``
        (a finite value beats None; a non-finite one beats nothing), as a :class:`Monitor` judges."""
        return Monitor(self.monitor, self.mode, self.min_delta).is_better(value, reference)

    def update(self, value: float, epoch: int | None = None, model: Any | None = None) -> bool:
        """Record epoch ``epoch``'s ``value``; when it beats the best so far, remember it, the epoch and
        (with a ``model``) a copy of the model's ``state_dict``. True when it improved."""
        if not self.is_better(value, self.best):
            return False
        self.best, self.best_epoch = float(value), epoch
        if model is not None:
            self.best_state = model.state_dict()
        return True

    def restore(self, model: Any) -> bool:
        """Load the best weights kept into ``model``; False (nothing loaded) when none were kept."""
        if self.best_state is None:
            return False
        model.load_state_dict(self.best_state)
        return True

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The monitored key, the best value, its epoch and the weights kept (plain values, arrays)."""
        return {
            "monitor": self.monitor,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_state": None if self.best_state is None else dict(self.best_state),
        }

    def load_state_dict(self, state: dict[str, Any], owner: str = "monitor") -> None:
        """Take the best value, epoch and weights of a :meth:`state_dict` back; ``owner`` names the
        callback in the error raised when the checkpoint monitored another key."""
        if state.get("monitor") != self.monitor:
            raise MathflowError(f"{owner}: the checkpoint monitors {state.get('monitor')!r}, this run {self.monitor!r}")
        best = state.get("best")
        self.best = None if best is None else float(best)
        self.best_epoch = state.get("best_epoch")
        best_state = state.get("best_state")
        self.best_state = None if best_state is None else {k: np.array(v, copy=True) for k, v in best_state.items()}

    def __repr__(self) -> str:
        return (
            f"BestTracker(monitor={self.monitor!r}, mode={self.mode!r}, min_delta={self.min_delta}, best={self.best})"
        )


__all__ = ["BestTracker"]
