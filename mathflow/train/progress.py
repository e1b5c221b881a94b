"""What the trainer shows while it runs.

- :class:`RichProgress`: a progress bar per epoch with the running loss, then the epoch's
  metrics (used when standard output is a terminal);
- :class:`PlainProgress`: one line per epoch (used when output goes to a file or a pipe);
- :class:`QuietProgress`: nothing.

:func:`make_progress` turns the trainer's ``progress`` argument into one of them: ``None`` or
``"auto"`` picks rich or plain by whether ``sys.stdout`` is a TTY; ``"rich"``, ``"plain"``,
``"quiet"`` (also ``False``) choose directly; a :class:`ProgressReporter` is used as it is.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from mathflow.errors import MathflowError


def format_logs(logs: dict[str, float], skip: tuple[str, ...] = ("epoch",)) -> str:
    """``"train_loss 0.1234 · val_loss 0.2345 · lr 0.01"``: the logs in a short, readable form."""
    parts = []
    for key, value in logs.items():
        if key in skip:
            continue
        parts.append(f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}")
    return " · ".join(parts)


class ProgressReporter:
    """Interface (and the quiet implementation): the trainer calls these in order.

    ``start(epochs, steps_per_epoch)``, then for each epoch ``epoch_start(epoch)``,
    ``step(step, loss)`` after every batch (``loss`` is that batch's objective, None when the
    trainer does not read losses back every step) and
    ``epoch_end(epoch, logs)``; ``close()`` at the end, also after an error.
    """

    def start(self, epochs: int, steps_per_epoch: int) -> None:
        pass

    def epoch_start(self, epoch: int) -> None:
        pass

    def step(self, step: int, loss: float | None) -> None:
        pass

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class QuietProgress(ProgressReporter):
    """Shows nothing."""


class PlainProgress(ProgressReporter):
    """One line per epoch: ``epoch 3/10  train_loss 0.1234 · ... (0.21 s)``.

    Writes to ``file``, or to ``sys.stdout`` as it is at the time of writing.
    """

    def __init__(self, file: TextIO | None = None):
        self.file = file
        self.epochs = 0
        self._t0 = 0.0

    def start(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs = epochs

    def epoch_start(self, epoch: int) -> None:
        self._t0 = time.perf_counter()

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        seconds = time.perf_counter() - self._t0
        width = len(str(self.epochs))
        out = self.file or sys.stdout
        print(f"epoch {epoch:>{width}}/{self.epochs}  {format_logs(logs)} ({seconds:.2f} s)", file=out, flush=True)


class RichProgress(ProgressReporter):
    """A rich progress bar per epoch (steps done, elapsed time, running mean loss); when the
    epoch ends the bar gives way to a line with the epoch's logs."""

    def __init__(self, file: TextIO | None = None):
        self.file = file
        self.epochs = 0
        self.steps = 0
        self._progress: Any = None
        self._task: Any = None
        self._loss_sum = 0.0
        self._count = 0

    def start(self, epochs: int, steps_per_epoch: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.epochs, self.steps = epochs, steps_per_epoch
        console = Console(file=self.file or sys.stdout)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
        self._progress.start()

    def epoch_start(self, epoch: int) -> None:
        width = len(str(self.epochs))
        self._loss_sum, self._count = 0.0, 0
        self._task = self._progress.add_task(f"epoch {epoch:>{width}}/{self.epochs}", total=self.steps, info="")

    def step(self, step: int, loss: float | None) -> None:
        if loss is None:  # not read back this step: the bar moves, the loss shows at the epoch's end
            self._progress.update(self._task, advance=1)
            return
        self._loss_sum += loss
        self._count += 1
        self._progress.update(self._task, advance=1, info=f"loss {self._loss_sum / self._count:.4f}")

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self._progress.remove_task(self._task)
        width = len(str(self.epochs))
        line = f"epoch {epoch:>{width}}/{self.epochs}  {format_logs(logs)}"
        self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def make_progress(spec: Any = None) -> ProgressReporter:
    """A reporter from the trainer's ``progress`` argument (see the module docstring)."""
    if isinstance(spec, ProgressReporter):
        return spec
    if spec is None or spec is True or spec == "auto":
        stream = sys.stdout
        is_tty = bool(getattr(stream, "isatty", None) and stream.isatty())
        return RichProgress() if is_tty else PlainProgress()
    if spec is False or spec in ("quiet", "none", "off"):
        return QuietProgress()
    if spec == "plain":
        return PlainProgress()
    if spec == "rich":
        return RichProgress()
    raise MathflowError(
        f"progress must be 'auto', 'rich', 'plain' or 'quiet', got {spec!r}",
        suggestion="use 'quiet' to print nothing",
    )


__all__ = [
    "PlainProgress",
    "ProgressReporter",
    "QuietProgress",
    "RichProgress",
    "format_logs",
    "make_progress",
]
