"""The record of a training run: one dict of logs per epoch, and which epoch was best.

Epochs are numbered from 1. Each epoch's logs hold ``epoch``, ``lr``, ``train_loss`` (the
objective: data loss plus the regularization penalty), ``train_penalty`` (when regularizers are
used), ``train_<metric>``, and with validation data ``val_loss`` and ``val_<metric>``.

"Best" is judged by a :class:`Monitor`: a log key (``val_loss``, ``val_accuracy``, ...), a
direction (``min`` or ``max``; ``auto`` asks the metric registry) and a ``min_delta`` that an
improvement must exceed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mathflow.errors import MathflowError

#: Log keys that are losses (lower is better) whatever their prefix.
_LOSS_KEYS = ("loss", "penalty")


def split_key(key: str) -> tuple[str, str]:
    """``("val", "accuracy")`` for ``"val_accuracy"``; an unprefixed key gets the prefix ``""``."""
    for prefix in ("train_", "val_"):
        if key.startswith(prefix):
            return prefix[:-1], key[len(prefix) :]
    return "", key


def resolve_mode(key: str, mode: str = "auto", higher_is_better: Callable[[str], bool] | None = None) -> str:
    """``"min"`` or ``"max"`` for the log ``key``.

    ``mode="auto"`` picks ``min`` for losses and asks ``higher_is_better(metric_name)`` (by
    default the metric registry) for metrics.
    """
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise MathflowError(f"monitor {key!r}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    _, name = split_key(key)
    if name in _LOSS_KEYS:
        return "min"
    if name == "lr":
        raise MathflowError("the learning rate cannot be monitored", suggestion="monitor val_loss or a metric")
    if higher_is_better is None:
        from mathflow.metrics import higher_is_better as registry_direction

        higher_is_better = registry_direction
    return "max" if higher_is_better(name) else "min"


class Monitor:
    """Tracks the best value of one log key: ``update(value)`` says whether it improved."""

    def __init__(self, key: str = "val_loss", mode: str = "min", min_delta: float = 0.0):
        if mode not in ("min", "max"):
            raise MathflowError(f"monitor {key!r}: mode must be 'min' or 'max' here, got {mode!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise MathflowError(f"monitor {key!r}: min_delta must be a number >= 0, got {min_delta!r}")
        self.key = key
        self.mode = mode
        self.min_delta = float(min_delta)
        self.best: float | None = None

    def is_better(self, value: float, reference: float | None) -> bool:
        """Whether ``value`` beats ``reference`` by more than ``min_delta`` (anything beats None)."""
        if not math.isfinite(value):
            return False
        if reference is None:
            return True
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def update(self, value: float) -> bool:
        """Record ``value``; True when it is a new best."""
        if self.is_better(value, self.best):
            self.best = float(value)
            return True
        return False

    def reset(self) -> None:
        self.best = None

    def __repr__(self) -> str:
        return f"Monitor(key={self.key!r}, mode={self.mode!r}, min_delta={self.min_delta})"


@dataclass
class History:
    """Per-epoch logs of a run and its best epoch (by ``monitor`` in direction ``mode``).

    ``history["val_loss"]`` is the list of that value over the epochs, ``history[-1]`` the last
    epoch's logs. ``stopped_epoch``/``stop_reason`` say why training ended early (early
    stopping, a callback, divergence, an interrupt); ``restored_epoch`` is the epoch whose
    weights were put back into the model at the end, if any.
    """

    monitor: str = "val_loss"
    mode: str = "min"
    min_delta: float = 0.0
    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    stopped_epoch: int | None = None
    stop_reason: str | None = None
    restored_epoch: int | None = None

    def append(self, logs: dict[str, float]) -> bool:
        """Add one epoch's logs; True when this epoch is the new best."""
        entry = dict(logs)
        entry.setdefault("epoch", len(self.epochs) + 1)
        self.epochs.append(entry)
        value = entry.get(self.monitor)
        if value is None:
            return False
        tracker = Monitor(self.monitor, self.mode, self.min_delta)
        if tracker.is_better(float(value), self.best_value):
            self.best_value = float(value)
            self.best_epoch = int(entry["epoch"])
            return True
        return False

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.epochs)

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self.epochs)

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self.epochs[key]
        if not any(key in e for e in self.epochs):
            known = ", ".join(self.keys()) or "none yet"
            raise MathflowError(f"history has no {key!r} (keys: {known})")
        return [e.get(key, math.nan) for e in self.epochs]

    def keys(self) -> list[str]:
        """Every log key seen, in first-seen order."""
        seen: dict[str, None] = {}
        for e in self.epochs:
            seen.update(dict.fromkeys(e))
        return list(seen)

    @property
    def last(self) -> dict[str, float] | None:
        """The logs of the last epoch (None before the first)."""
        return self.epochs[-1] if self.epochs else None

    @property
    def best(self) -> dict[str, float] | None:
        """The logs of the best epoch (None when no epoch had the monitored value)."""
        if self.best_epoch is None:
            return None
        return next(e for e in self.epochs if e["epoch"] == self.best_epoch)

    @property
    def restored_best(self) -> bool:
        """Whether the best epoch's weights were restored into the model at the end."""
        return self.restored_epoch is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON-ready)."""
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "epochs": [dict(e) for e in self.epochs],
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "stopped_epoch": self.stopped_epoch,
            "stop_reason": self.stop_reason,
            "restored_epoch": self.restored_epoch,
        }

    def load_dict(self, data: dict[str, Any]) -> None:
        """Take over the epochs and best epoch of a :meth:`to_dict` record (a resumed run: how it
        stopped is not taken over); the monitor must be the same."""
        if data.get("monitor") != self.monitor or data.get("mode") != self.mode:
            saved = f"{data.get('monitor')!r} ({data.get('mode')})"
            raise MathflowError(f"the history monitors {saved}, this run {self.monitor!r} ({self.mode})")
        self.epochs = [dict(e) for e in data.get("epochs", [])]
        self.best_epoch = data.get("best_epoch")
        self.best_value = data.get("best_value")
        self.stopped_epoch = self.stop_reason = self.restored_epoch = None


__all__ = ["History", "Monitor", "resolve_mode", "split_key"]
