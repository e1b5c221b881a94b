"""Callbacks: code that runs around each epoch of :meth:`Trainer.fit`.

A callback is any object with some of these methods (all optional), or a plain function
``fn(epoch, logs)`` that is used as ``on_epoch_end``:

- ``on_train_begin(trainer)``: before the first epoch; ``trainer.model``, ``trainer.history``,
  ``trainer.log_keys`` and ``trainer.stop(reason)`` are available;
- ``on_epoch_begin(epoch)``;
- ``on_epoch_end(epoch, logs)``: after each epoch (numbered from 1) with its logs;
- ``on_train_end(history)``: after the last epoch of a run that ended normally (not on an
  error or an interrupt).

Calling ``trainer.stop(reason)`` ends training after the current epoch.

A callback with state that must survive a resumed run has ``state_dict()`` (plain values and NumPy
arrays, string keys) and ``load_state_dict(state)``: training checkpoints save that state and a
resumed run loads it back after ``on_train_begin`` (see :mod:`mathflow.train.checkpoint`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from mathflow.errors import MathflowError
from mathflow.train.best import BestTracker
from mathflow.train.history import History, resolve_mode

if TYPE_CHECKING:
    from mathflow.train.trainer import Trainer


@runtime_checkable
class StopCheck(Protocol):
    """A stop flag the trainer checks before every step: ``check()`` raises (the exception that ends
    ``fit``) once a stop was requested, e.g. by a signal handler that must not do more than set it."""

    def check(self) -> None: ...


class Callback:
    """Base class with no-op hooks; subclasses override what they need."""

    trainer: Trainer | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def on_epoch_begin(self, epoch: int) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        pass

    def on_train_end(self, history: History) -> None:
        pass


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(
        self,
        on_epoch_end: Callable[[int, dict[str, float]], Any] | None = None,
        on_epoch_begin: Callable[[int], Any] | None = None,
        on_train_begin: Callable[[Any], Any] | None = None,
        on_train_end: Callable[[History], Any] | None = None,
    ):
        self._hooks = {
            "on_epoch_end": on_epoch_end,
            "on_epoch_begin": on_epoch_begin,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
        }

    def on_train_begin(self, trainer: Trainer) -> None:
        super().on_train_begin(trainer)
        self._call("on_train_begin", trainer)

    def on_epoch_begin(self, epoch: int) -> None:
        self._call("on_epoch_begin", epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_train_end(self, history: History) -> None:
        self._call("on_train_end", history)

    def _call(self, hook: str, *args: Any) -> None:
        fn = self._hooks[hook]
        if fn is not None:
            fn(*args)


def as_callback(obj: Any) -> Any:
    """``obj`` itself when it has a hook method, a :class:`LambdaCallback` for a plain function."""
    hooks = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end")
    if any(callable(getattr(obj, h, None)) for h in hooks):
        return obj
    if callable(obj):
        return LambdaCallback(on_epoch_end=obj)
    raise MathflowError(
        f"a callback needs on_epoch_end(epoch, logs) or a similar hook, got {type(obj).__name__}",
        suggestion="subclass mathflow.train.Callback or pass a function fn(epoch, logs)",
    )


class CallbackList:
    """Calls one hook on every callback, in order; missing hooks are skipped."""

    def __init__(self, callbacks: Iterable[Any] = ()):
        self.callbacks = [as_callback(c) for c in callbacks]

    def call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(*args)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)


def check_monitor(owner: str, key: str, trainer: Trainer) -> str:
    """``key`` when the trainer's epoch logs hold it; else an error naming ``owner`` and the keys there are."""
    keys = trainer.log_keys
    if key not in keys:
        hint = "pass validation data to fit" if key.startswith("val_") and not trainer.has_validation else None
        raise MathflowError(
            f"{owner} monitors {key!r}, but the epoch logs hold only {', '.join(sorted(keys))}",
            suggestion=hint or "monitor one of those keys",
        )
    return key


class _KeepsBest(Callback):
    """A callback that follows the best epoch with a :class:`~mathflow.train.best.BestTracker`
    (``tracker``) and, with ``restore_best``, loads its weights back at the end of training
    (``history.restored_epoch`` then says which epoch they came from)."""

    tracker: BestTracker
    restore_best: bool

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the best monitored value so far (None before one)."""
        return self.tracker.best_epoch

    @best_epoch.setter
    def best_epoch(self, epoch: int | None) -> None:
        """Set the tracker's best epoch."""
        self.tracker.best_epoch = epoch

    @property
    def best_state(self) -> dict[str, np.ndarray] | None:
        """The model's ``state_dict`` at :attr:`best_epoch`, when it was kept."""
        return self.tracker.best_state

    @best_state.setter
    def best_state(self, state: dict[str, np.ndarray] | None) -> None:
        """Set the tracker's best weights."""
        self.tracker.best_state = state

    def on_train_end(self, history: History) -> None:
        if self.restore_best and self.trainer is not None and self.tracker.restore(self.trainer.model):
            history.restored_epoch = self.best_epoch


class EarlyStopping(_KeepsBest):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``mode="auto"`` minimises losses and asks the metric's ``higher_is_better`` otherwise. With
    ``restore_best`` (the default) the weights of the best epoch (a ``state_dict`` copy taken
    when it happened) are loaded back at the end of training, and ``history.restored_epoch``
    says which epoch they came from.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        mode: str = "auto",
        min_delta: float = 0.0,
        restore_best: bool = True,
    ):
        if not isinstance(monitor, str) or not monitor:
            raise MathflowError(f"early_stopping: monitor must be a log key such as 'val_loss', got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise MathflowError(f"early_stopping: patience must be an integer >= 0, got {patience!r}")
        if mode not in ("auto", "min", "max"):
            raise MathflowError(f"early_stopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.tracker = BestTracker(monitor, mode, min_delta)  # validates min_delta
        self.monitor = monitor
        self.patience = int(patience)
        self.mode = mode
        self.min_delta = float(min_delta)
        self.restore_best = bool(restore_best)
        self.wait = 0
        self.stopped_epoch: int | None = None

    @classmethod
    def from_spec(cls, spec: Any) -> EarlyStopping | None:
        """An EarlyStopping from an instance, a dict of its arguments, or None."""
        if spec is None or isinstance(spec, EarlyStopping):
            return spec
        if isinstance(spec, dict):
            try:
                return cls(**spec)
            except TypeError as exc:
                raise MathflowError(f"early_stopping: bad arguments {spec}: {exc}") from None
        raise MathflowError(f"early_stopping must be None, a dict of arguments or EarlyStopping, got {spec!r}")

    def resolved_mode(self, trainer: Trainer) -> str:
        """``"min"`` or ``"max"``: ``mode``, with ``"auto"`` resolved by the trainer's metric directions."""
        return resolve_mode(self.monitor, self.mode, trainer.higher_is_better)

    def on_train_begin(self, trainer: Trainer) -> None:
        super().on_train_begin(trainer)
        self.wait, self.stopped_epoch = 0, None
        self.tracker.reset()
        check_monitor("early_stopping", self.monitor, trainer)
        self.tracker.start(trainer.higher_is_better)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        assert self.trainer is not None
        model = self.trainer.model if self.restore_best else None
        if self.tracker.update(float(logs[self.monitor]), epoch, model):
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop(self.reason())

    def reason(self) -> str:
        """Why training stopped: the monitored value, for how long it did not improve, and its best."""
        best = "none" if self.tracker.best is None else f"{self.tracker.best:.6g} at epoch {self.best_epoch}"
        by = f" by more than {self.min_delta:g}" if self.min_delta > 0 else ""
        epochs = "epoch" if self.wait == 1 else "epochs"
        return f"early stopping: {self.monitor} did not improve{by} for {self.wait} {epochs} (best {best})"

    def metrics(self) -> dict[str, float]:
        """``best_epoch`` (when some epoch was best) and ``stopped_epoch`` (when training stopped early),
        as run metrics."""
        found = {"best_epoch": self.best_epoch, "stopped_epoch": self.stopped_epoch}
        return {key: float(value) for key, value in found.items() if value is not None}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Where early stopping stands (the best value, the epochs waited, the best weights)."""
        return {**self.tracker.state_dict(), "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (after ``on_train_begin``, which resets the state)."""
        self.tracker.load_state_dict(state, "early_stopping")
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = state.get("stopped_epoch")


class ModelCheckpoint(_KeepsBest):
    """Keep the best weights by ``monitor`` in memory (``best_state``) and optionally on disk.

    ``path`` (may contain ``{epoch}``) receives an ``.npz`` of the model's ``state_dict``
    whenever the monitored value improves, or after every epoch with ``save_best_only=False``.
    ``restore_best=True`` loads the best weights back at the end of training.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        monitor: str = "val_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        save_best_only: bool = True,
        restore_best: bool = False,
    ):
        if mode not in ("auto", "min", "max"):
            raise MathflowError(f"checkpoint: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.tracker = BestTracker(monitor, mode, min_delta)  # validates min_delta
        self.path = None if path is None else os.fspath(path)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = float(min_delta)
        self.save_best_only = bool(save_best_only)
        self.restore_best = bool(restore_best)
        self.saved: list[Path] = []

    def on_train_begin(self, trainer: Trainer) -> None:
        super().on_train_begin(trainer)
        check_monitor("checkpoint", self.monitor, trainer)
        self.tracker.start(trainer.higher_is_better)
        self.saved = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        assert self.trainer is not None
        improved = self.tracker.update(float(logs[self.monitor]), epoch, self.trainer.model)
        state = self.best_state if improved else None
        if self.path is not None and (improved or not self.save_best_only):
            self.saved.append(save_state(self.path.format(epoch=epoch), state or self.trainer.model.state_dict()))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The best value so far, its epoch and weights, and the files written."""
        return {**self.tracker.state_dict(), "saved": [str(path) for path in self.saved]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (after ``on_train_begin``, which resets the state)."""
        self.tracker.load_state_dict(state, "checkpoint")
        self.saved = [Path(path) for path in state.get("saved", [])]


def save_state(path: str | os.PathLike[str], state: dict[str, np.ndarray]) -> Path:
    """Write a ``state_dict`` to an ``.npz`` file (parent folders are created)."""
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez(tmp, **state)
    os.replace(tmp, target)
    return target


def load_state(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a ``state_dict`` written by :func:`save_state` (feed it to ``model.load_state_dict``)."""
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except OSError as exc:
        raise MathflowError(f"cannot read checkpoint {os.fspath(path)!r}: {exc}") from None


__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "LambdaCallback",
    "ModelCheckpoint",
    "as_callback",
    "check_monitor",
    "load_state",
    "save_state",
]
