"""A run's figures drawn by a helper process, so that importing matplotlib and rendering overlap
the main process's own work (importing MLflow, training, logging the model) on a second core.

    with FigureWorker.start() as worker:         # at the start of a run: the helper imports matplotlib
        ...
        worker.submit(folder, {"learning_curves.png": ("learning_curves", {"history": records})})
        ...                                      # other work while it draws
        paths = worker.collect()                 # {"learning_curves.png": Path | None}

Each figure is the one :mod:`mathflow.run` draws in-process (:data:`FIGURES` names its function),
saved as MLflow's ``log_figure`` saves it (``savefig`` with the defaults). A figure the helper
could not draw comes back as None, and the caller draws it itself: the helper saves time, never a
result. It is started only in a process that has imported neither MLflow nor matplotlib yet (a
fresh ``mathflow run``; a long-lived process draws faster in-process), in its own session so that
a terminal's Ctrl-C reaches the run alone, and it ends when its input closes, also when the run's
process dies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

#: Figure kinds: the function of :mod:`mathflow.run` that draws each (keyword arguments from the request).
FIGURES = {"learning_curves": "learning_curves_figure", "confusion": "confusion_figure"}
_TIMEOUT = 120.0


def draw(kind: str, arguments: dict[str, Any]) -> Any:
    """The matplotlib figure of ``kind`` (see :data:`FIGURES`)."""
    import numpy as np

    import mathflow.run as run_module

    if kind == "confusion":
        arguments = {**arguments, "matrix": np.asarray(arguments["matrix"])}
    return getattr(run_module, FIGURES[kind])(**arguments)


class FigureWorker:
    """The helper process (``None`` when it was not started or has failed)."""

    def __init__(self, process: subprocess.Popen[str] | None):
        self.process = process
        self._files: dict[str, Path] = {}

    @classmethod
    def start(cls) -> FigureWorker:
        """Start the helper, unless MLflow or matplotlib is already imported here (a long-lived process:
        then nothing is left to overlap, the figures are drawn faster in-process) or the start fails."""
        if "mlflow" in sys.modules or "matplotlib.figure" in sys.modules:
            return cls(None)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "mathflow.tracking.figure_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
        except OSError:
            return cls(None)
        return cls(process)

    def submit(self, folder: str | Path, figures: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """Ask for ``{file name: (kind, arguments)}``, drawn into ``folder``; returns at once."""
        self._files = {name: Path(folder) / name for name in figures}
        if self.process is None or self.process.stdin is None:
            return
        request = [
            {"file": str(self._files[name]), "kind": kind, "arguments": arguments}
            for name, (kind, arguments) in figures.items()
        ]
        try:
            self.process.stdin.write(json.dumps(request, default=float) + "\n")
            self.process.stdin.flush()  # left open: communicate() in collect() closes it
        except (OSError, ValueError, TypeError):
            self.close()

    def collect(self) -> dict[str, Path | None]:
        """Wait for the helper: each submitted file's path, or None where it was not drawn."""
        done: set[str] = set()
        if self.process is not None and self.process.stdout is not None:
            try:
                out, _ = self.process.communicate(timeout=_TIMEOUT)
                done = set(json.loads(out.strip().splitlines()[-1])) if out.strip() else set()
            except (subprocess.TimeoutExpired, OSError, ValueError):
                pass
            self.close()
        return {name: path if str(path) in done and path.is_file() else None for name, path in self._files.items()}

    def close(self) -> None:
        """End the helper (at once if it is still running)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()

    def __enter__(self) -> FigureWorker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def serve(requests: TextIO, replies: TextIO) -> None:
    """The helper's work: set up matplotlib, read one request line (a JSON list of ``{"file",
    "kind", "arguments"}``), draw and save each figure, and reply with the JSON list of files drawn."""
    import io

    # While the run is busy: import matplotlib and draw one small figure to memory, so that the fonts,
    # the text layout and the PNG writer are loaded before the real figures are asked for.
    warm_up = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.5}, {"epoch": 2, "train_loss": 0.5, "val_loss": 0.7}]
    draw("learning_curves", {"history": warm_up}).savefig(io.BytesIO(), format="png")
    line = requests.readline()
    if not line.strip():
        return
    drawn = []
    for item in json.loads(line):
        try:
            draw(item["kind"], item["arguments"]).savefig(item["file"])
            drawn.append(item["file"])
        except Exception:  # noqa: BLE001 - the run draws what is missing itself
            continue
    replies.write(json.dumps(drawn) + "\n")
    replies.flush()


def _main() -> None:
    """The helper process: stop signals ignored (the run decides; the helper ends when its input
    does), then :func:`serve` on standard input and output, then an exit without the interpreter's
    teardown (the run waits for this process to end)."""
    import os
    import signal

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    serve(sys.stdin, sys.stdout)
    os._exit(0)


if __name__ == "__main__":
    _main()
