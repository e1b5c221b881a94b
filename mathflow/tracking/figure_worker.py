"""A run's figures drawn by a helper process, so that importing matplotlib and rendering overlap
the main process's own work (importing MLflow, training, logging the model) on a second core.

    with FigureWorker.start() as worker:         # at the start of a run: the helper imports matplotlib
        ...
        worker.submit(folder, {"learning_curves.png": ("learning_curves", {"history": records})})
        ...                                      # other work while it draws
        paths = worker.collect()                 # {"learning_curves.png": Path | None}

Each figure is the one :mod:`mathflow.tracking.figures` draws in-process (:data:`FIGURES` names its function),
saved as MLflow's ``log_figure`` saves it (``savefig`` with the defaults). A figure the helper
could not draw comes back as None, and the caller draws it itself: the helper saves time, never a
result. In a process that has imported neither MLflow nor matplotlib yet (a fresh ``mathflow run``)
it is a new interpreter, in its own session so that a terminal's Ctrl-C reaches the run alone; in
a command run by the daemon (whose host passes ``fork_allowed`` down to :meth:`FigureWorker.start`)
it is a fork of the run's process, ready at once. Anywhere else (a long-lived process, a Ray worker,
whose threads Python may not even see) the figures are drawn in-process. The helper ends when its input
closes, also when the run's process dies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

#: Figure kinds: the function of :mod:`mathflow.tracking.figures` that draws each (keyword arguments
#: from the request).
FIGURES = {"learning_curves": "learning_curves_figure", "confusion": "confusion_figure"}
_TIMEOUT = 120.0


def draw(kind: str, arguments: dict[str, Any]) -> Any:
    """The matplotlib figure of ``kind`` (see :data:`FIGURES`)."""
    import numpy as np

    from mathflow.tracking import figures

    if kind == "confusion":
        arguments = {**arguments, "matrix": np.asarray(arguments["matrix"])}
    return getattr(figures, FIGURES[kind])(**arguments)


class FigureWorker:
    """The helper process (``None`` when it was not started or has failed)."""

    def __init__(self, process: subprocess.Popen[str] | ForkedHelper | None):
        self.process = process
        self._files: dict[str, Path] = {}

    @classmethod
    def start(cls, fork_allowed: bool = False) -> FigureWorker:
        """Start the helper (see the module docstring for which kind, or none), unless the start fails.
        ``fork_allowed``: this process may fork it (the daemon's child that runs a command, a fork of a
        process without threads); forking is not safe in a process with threads of its own."""
        if "mlflow" in sys.modules or "matplotlib.figure" in sys.modules:
            warm = fork_allowed and "matplotlib.figure" in sys.modules and threading.active_count() == 1
            return cls(ForkedHelper.start() if warm else None)
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


class ForkedHelper:
    """The helper as a fork of this process, with the part of :class:`subprocess.Popen`'s interface
    that :class:`FigureWorker` uses (``stdin``, ``stdout``, ``poll``, ``kill``, ``wait``, ``communicate``)."""

    def __init__(self, pid: int, stdin: TextIO, stdout: TextIO) -> None:
        self.pid = pid
        self.stdin: TextIO | None = stdin
        self.stdout: TextIO | None = stdout
        self.returncode: int | None = None

    @classmethod
    def start(cls) -> ForkedHelper | None:
        try:
            request_read, request_write = os.pipe()
            reply_read, reply_write = os.pipe()
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:  # the helper: matplotlib is imported and warm already
            try:
                os.close(request_write)
                os.close(reply_read)
                _ignore_stop_signals()
                with open(request_read) as requests, open(reply_write, "w") as replies:
                    serve(requests, replies, warm_up=False)
            finally:
                os._exit(0)
        os.close(request_read)
        os.close(reply_write)
        return cls(pid, open(request_write, "w"), open(reply_read))  # noqa: SIM115 - closed by communicate

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def communicate(self, timeout: float) -> tuple[str, None]:
        """Close the helper's input, read its reply (``subprocess.TimeoutExpired`` after ``timeout``), reap it."""
        import selectors

        assert self.stdin is not None and self.stdout is not None
        self.stdin.close()
        with selectors.DefaultSelector() as selector:
            selector.register(self.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise subprocess.TimeoutExpired("figure helper", timeout)
        out = self.stdout.read()
        self.wait()
        return out, None


def _ignore_stop_signals() -> None:
    """The run decides when to stop; the helper ends when its input does."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def serve(requests: TextIO, replies: TextIO, warm_up: bool = True) -> None:
    """The helper's work: set up matplotlib (``warm_up``), read one request line (a JSON list of
    ``{"file", "kind", "arguments"}``), draw and save each figure, and reply with the JSON list of files drawn."""
    import io

    if warm_up:
        # While the run is busy: import matplotlib and draw one small figure to memory, so that the fonts,
        # the text layout and the PNG writer are loaded before the real figures are asked for.
        history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.5}, {"epoch": 2, "train_loss": 0.5, "val_loss": 0.7}]
        draw("learning_curves", {"history": history}).savefig(io.BytesIO(), format="png")
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
    """The helper process: stop signals ignored, then :func:`serve` on standard input and output, then
    an exit without the interpreter's teardown (the run waits for this process to end)."""
    _ignore_stop_signals()
    serve(sys.stdin, sys.stdout)
    os._exit(0)


if __name__ == "__main__":
    _main()
