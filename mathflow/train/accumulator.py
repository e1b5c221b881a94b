"""One step's result and the running sums of an epoch: what :meth:`Trainer.fit` logs as ``train_*``.

:meth:`Trainer.train_step <mathflow.train.Trainer.train_step>` returns a :class:`StepResult`; an
:class:`EpochAccumulator` adds the results of an epoch's steps up:

    loss_total    = Σ_batches  loss · n_b   (``reduction="sum"`` losses: Σ loss, already a sum)
    penalty_total = Σ_batches  penalty · n_b
    seen          = Σ_batches  n_b

and at the end of the epoch yields ``train_loss = (loss_total + penalty_total) / seen``,
``train_penalty = penalty_total / seen`` and the metrics of the predictions collected on the way.

Without a host synchronisation per step (``sync_every_step=False``, the GPU default) the sums stay
float64 scalars on the device, the predictions stay device arrays, and a :class:`NonFiniteWatch`
keeps the first non-finite objective: all of it is read back once, when the epoch ends. The state
of an epoch in progress (its step and sums) is part of a training checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mathflow.backend import array_module, to_numpy
from mathflow.train.device_watch import NonFiniteWatch

#: ``metrics(outputs, targets) -> {"train_<name>": value}``: the metric logs of an epoch's predictions.
MetricsFn = Callable[[list[np.ndarray], list[np.ndarray]], dict[str, float]]


@dataclass(frozen=True)
class StepResult:
    """What one training step computed.

    ``loss`` is the batch's data loss and ``penalty`` the regularizers' sum (0.0 without
    regularizers), both float64 as the trainer keeps them: Python floats when every step
    synchronises, 0-d device arrays otherwise (not read back). ``objective = loss + penalty`` is the
    value that was minimised and checked for divergence; ``size`` is the number of samples in the
    batch and ``outputs`` the model's predictions for it (a backend array, kept for the metrics).
    """

    loss: Any
    penalty: Any
    size: int
    outputs: Any
    objective: Any


def sample_sum(loss: Any, size: int, summed: bool) -> Any:
    """The sum over a batch of ``size`` samples of the per-sample loss, from the batch's ``loss``:
    ``loss`` itself for a ``reduction="sum"`` loss (``summed``), else ``loss · size``."""
    return loss if summed else loss * size


@dataclass
class EpochAccumulator:
    """The running sums of one epoch's steps and the predictions seen (see the module docstring).

    ``order_state`` is the shuffling generator's state before the epoch drew its permutation (None
    without shuffling), so a resumed epoch draws the same order and skips the ``step`` batches done.
    ``keep_outputs`` collects predictions and targets for the metrics; ``sync`` says whether the
    steps read their values back (host floats) or leave them on the device; ``summed`` that the loss
    is already a sum over the batch (``reduction="sum"``).
    """

    epoch: int
    order_state: dict[str, Any] | None
    keep_outputs: bool = False
    sync: bool = True
    summed: bool = False
    step: int = 0
    loss_total: Any = 0.0  # float, or a float64 device scalar between the steps of an epoch on a GPU
    penalty_total: Any = 0.0
    seen: int = 0
    outputs: list[Any] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)
    watch: NonFiniteWatch | None = field(default=None, repr=False)

    def add(self, result: StepResult, targets: Any, step: int) -> None:
        """Add step ``step``'s result (and the batch's ``targets``, for the metrics) to the sums;
        without synchronisation, also show its objective to the device-side divergence watch."""
        if not self.sync:
            self.watch = self.watch or NonFiniteWatch(result.objective)
            self.watch.see(result.objective, step)
        self.loss_total += sample_sum(result.loss, result.size, self.summed)
        self.penalty_total += result.penalty * result.size
        self.seen += result.size
        if self.keep_outputs:
            self.outputs.append(to_numpy(result.outputs) if self.sync else result.outputs)
            self.targets.append(np.asarray(targets))
        self.step = step

    def first_non_finite(self) -> tuple[int, float] | None:
        """(step, objective) of the epoch's first non-finite objective seen by the device-side
        watch (one host read), or None (always None when the steps synchronise: they check it)."""
        return None if self.watch is None else self.watch.first()

    def finish(self) -> None:
        """Read the sums back to the host (Python floats); from here on they are final."""
        self.loss_total, self.penalty_total = float(self.loss_total), float(self.penalty_total)

    def host_outputs(self) -> list[np.ndarray]:
        """The predictions collected, as NumPy arrays (device ones read back in one piece)."""
        outputs = self.outputs
        if outputs and not self.sync:
            return [to_numpy(array_module(outputs[0]).concatenate(outputs))]
        return outputs

    def logs(self, *, penalty: bool, metrics: MetricsFn) -> dict[str, float]:
        """The epoch's training logs: ``epoch``, ``train_loss`` (the objective averaged over the
        samples), ``train_penalty`` (with ``penalty``), then ``metrics(outputs, targets)``."""
        self.finish()
        logs: dict[str, float] = {"epoch": self.epoch}
        logs["train_loss"] = (self.loss_total + self.penalty_total) / self.seen
        if penalty:
            logs["train_penalty"] = self.penalty_total / self.seen
        logs.update(metrics(self.host_outputs(), self.targets))
        return logs

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Plain values and (at most two) arrays: the predictions and targets seen so far."""
        return {
            "epoch": self.epoch,
            "order_state": self.order_state,
            "step": self.step,
            "loss_total": float(self.loss_total),  # a device scalar while steps do not synchronise
            "penalty_total": float(self.penalty_total),
            "seen": self.seen,
            "outputs": np.concatenate([to_numpy(o) for o in self.outputs]) if self.outputs else None,
            "targets": np.concatenate(self.targets) if self.targets else None,
        }

    @classmethod
    def from_state(
        cls, state: dict[str, Any], *, keep_outputs: bool = False, sync: bool = True, summed: bool = False
    ) -> EpochAccumulator:
        """The epoch in progress of a :meth:`state_dict`, going on with these settings."""
        outputs, targets = state.get("outputs"), state.get("targets")
        return cls(
            epoch=int(state["epoch"]),
            order_state=state.get("order_state"),
            keep_outputs=keep_outputs,
            sync=sync,
            summed=summed,
            step=int(state["step"]),
            loss_total=float(state["loss_total"]),
            penalty_total=float(state["penalty_total"]),
            seen=int(state["seen"]),
            outputs=[] if outputs is None else [outputs],
            targets=[] if targets is None else [targets],
        )


__all__ = ["EpochAccumulator", "MetricsFn", "StepResult", "sample_sum"]
