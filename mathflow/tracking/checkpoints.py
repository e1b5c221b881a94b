"""A run's checkpoints in its MLflow record: written after every ``train.checkpoint_every``-th epoch
and when a signal stops the run (the ``checkpoint/`` artifacts that ``mathflow resume`` reads), and
the restored epochs' metrics of a resumed run."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

from mathflow.train.checkpoint import ARTIFACT_DIR, Checkpoint


def log_checkpoint(run: Any, checkpoint: Checkpoint) -> None:
    """Log ``checkpoint`` as the run's ``checkpoint/`` artifacts, replacing the previous one: the
    ``.npz`` first, then the ``.json`` that names its SHA-256 (a torn pair is refused on reading)."""
    with tempfile.TemporaryDirectory(prefix="mathflow-checkpoint-") as tmp:
        npz, meta = checkpoint.save(tmp)
        run.log_artifact(npz, ARTIFACT_DIR)
        run.log_artifact(meta, ARTIFACT_DIR)


def checkpoint_logger(run: Any, timer: Any = None) -> Callable[[Checkpoint], None]:
    """The trainer's ``on_checkpoint`` for ``run``; the seconds it takes are added to ``timer.seconds``
    (the run's metric logger), so they are not counted as training time."""

    def on_checkpoint(checkpoint: Checkpoint) -> None:
        started = time.perf_counter()
        log_checkpoint(run, checkpoint)
        if timer is not None:
            timer.seconds += time.perf_counter() - started

    return on_checkpoint


def log_restored_epochs(run: Any, checkpoint: Checkpoint) -> None:
    """Log the per-epoch metrics of the epochs a resumed run takes over (``step = epoch``)."""
    for logs in checkpoint.state["history"]["epochs"]:
        values = {key: value for key, value in logs.items() if key != "epoch"}
        run.log_metrics(values, step=int(logs["epoch"]))
