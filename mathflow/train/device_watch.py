"""The first non-finite loss of an epoch, watched on the device: no host read inside a step.

On a GPU, reading a value back (``float(loss)``, ``.item()``) waits for every queued kernel, so a
step that reads its loss cannot overlap the next one. When the trainer does not synchronise every
step (``Trainer(sync_every_step=False)``, the default on a GPU), it adds each step's losses to
float64 scalars on the device and gives each step's objective to :class:`NonFiniteWatch`, which
keeps, on the device, the first step whose objective was NaN or infinite and its value:

    step₁ ← step  if step₁ = 0 and not isfinite(objective)  else step₁

Both are read back once, when the epoch ends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mathflow.backend import array_module


class NonFiniteWatch:
    """The first (step, objective) of an epoch with a NaN or infinite objective, kept on the device."""

    def __init__(self, like: Any) -> None:
        self.xp = array_module(like)
        self.step = self.xp.zeros((), dtype=np.int64)
        self.value = self.xp.zeros((), dtype=np.float64)

    def see(self, objective: Any, step: int) -> None:
        """Note ``objective`` (a 0-d device array) of step ``step`` (counted from 1)."""
        xp = self.xp
        first_bad = xp.logical_and(self.step == 0, xp.logical_not(xp.isfinite(objective)))
        self.step = xp.where(first_bad, np.int64(step), self.step)
        self.value = xp.where(first_bad, objective.astype(np.float64), self.value)

    def first(self) -> tuple[int, float] | None:
        """(step, value) of the first non-finite objective, or None: the one read back to the host."""
        step = int(self.step)
        return None if step == 0 else (step, float(self.value))
