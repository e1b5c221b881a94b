"""The local executor: worker processes that stay alive across trials.

Each worker is a spawned process that imports mathflow and MLflow once, then runs trials one after
another, so imports and the tracking store are paid once per worker, not once per trial. The sweep
and a worker talk over a pipe:

    sweep → worker   TrialJob | None (exit)       worker → sweep   ("report", key, epoch, value)
    sweep → worker   bool (prune?)                worker → sweep   ("done", key, TrialOutcome)

A worker that dies mid-trial (killed, out of memory) is noticed by its process sentinel; its trial
comes back as ``lost`` and a fresh worker takes its place. Workers ignore stop signals between trials;
during one, ``run_pipeline`` ends the trial's run KILLED on SIGINT/SIGTERM/SIGHUP.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from mathflow.sweep.trial import TrialJob, TrialOutcome, run_trial
from mathflow.tracking.signals import STOP_SIGNALS


def _ignore_stop_signals() -> None:
    for name in STOP_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _worker_main(conn: Connection) -> None:
    """A worker's life: take a job, run it, send its outcome; stop at ``None`` or when the sweep goes."""
    _ignore_stop_signals()
    from mathflow.startup import warm_up_worker

    warm_up_worker()  # paid once per worker: mathflow, NumPy, MLflow's pyfunc, matplotlib

    def ask_prune(key: str) -> Any:
        def ask(epoch: int, value: float) -> bool:
            conn.send(("report", key, epoch, value))
            return bool(conn.recv())

        return ask

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        from mathflow.tracking.signals import RunInterrupted

        try:
            outcome = run_trial(job, ask_prune(job.key))
        except RunInterrupted as exc:  # the run is KILLED already; say so and stop
            outcome = TrialOutcome(job.key, "KILLED", getattr(exc, "run_id", None), error=exc.reason())
        conn.send(("done", job.key, outcome))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    job: TrialJob | None = None


class LocalExecutor:
    """Runs trials on ``size`` worker processes of this machine."""

    name = "local"
    ship_text = False

    def __init__(self, size: int):
        self.size = max(1, int(size))
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.waiting: deque[TrialJob] = deque()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        for _ in range(self.size):
            self.workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker_main, args=(child,), daemon=True, name="mathflow-trial")
        process.start()
        child.close()
        return _Worker(process, parent)

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.workers = []

    # -- work -------------------------------------------------------------------------------------
    @property
    def free_slots(self) -> int:
        return sum(1 for w in self.workers if w.job is None) - len(self.waiting)

    @property
    def busy(self) -> bool:
        return bool(self.waiting) or any(w.job is not None for w in self.workers)

    def submit(self, job: TrialJob) -> None:
        self.waiting.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        for worker in self.workers:
            if worker.job is None and self.waiting:
                worker.job = self.waiting.popleft()
                worker.conn.send(worker.job)

    def poll(self, timeout: float) -> list[tuple[Any, ...]]:
        """Events since the last call: ``("report", job, epoch, value)``, ``("done", job, outcome)`` or
        ``("lost", job, reason)``; waits up to ``timeout`` seconds for the first."""
        busy = [w for w in self.workers if w.job is not None]
        if not busy:
            return []
        ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
        events: list[tuple[Any, ...]] = []
        for worker in busy:
            if worker.conn in ready:
                try:
                    events.append(self._event(worker, worker.conn.recv()))
                    continue
                except (EOFError, OSError):
                    pass  # the pipe closed: the worker is gone
            elif worker.process.is_alive():
                continue
            worker.process.join(timeout=5)
            events.append(("lost", worker.job, _death(worker.process)))
            self._replace(worker)
        self._dispatch()
        return events

    def _event(self, worker: _Worker, message: tuple[Any, ...]) -> tuple[Any, ...]:
        kind, _key = message[0], message[1]
        job = worker.job
        if kind == "report":
            return ("report", job, message[2], message[3], worker)
        worker.job = None
        return ("done", job, message[2])

    def reply(self, event: tuple[Any, ...], prune: bool) -> None:
        """Answer a ``report`` event: stop that trial (``prune``) or let it go on."""
        try:
            event[4].conn.send(bool(prune))
        except (OSError, ValueError):
            pass

    def _replace(self, worker: _Worker) -> None:
        worker.conn.close()
        index = self.workers.index(worker)
        self.workers[index] = self._spawn()

    def interrupt(self, signum: int) -> None:
        """Stop the running trials: each worker's run ends KILLED; queued trials are dropped."""
        self.waiting.clear()
        for worker in self.workers:
            if worker.job is not None and worker.process.is_alive():
                try:
                    os.kill(worker.process.pid, signum)
                except ProcessLookupError:
                    pass

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]


def _death(process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"the worker process was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"the worker process was killed by signal {-code}"
    return f"the worker process exited with code {code}"
