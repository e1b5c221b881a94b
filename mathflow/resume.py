"""``mathflow resume RUN_ID``: continue a KILLED or FAILED run from its last checkpoint.

A run logs its latest checkpoint (:mod:`mathflow.train.checkpoint`) as the artifacts
``checkpoint/state.npz`` and ``checkpoint/state.json``, after every ``train.checkpoint_every``-th
epoch and when a signal stops it (then between two steps of the epoch in progress). Resuming runs the
pipeline the old run logged (``pipeline.yaml``) in a new run of the same experiment, tagged
``mathflow.resumed_from`` (the old run's id) and ``mathflow.resumed_at`` (where the checkpoint was
taken); the new run first logs the restored epochs' metrics, so its learning curves are whole. On CPU
the resumed run ends with exactly the weights and metrics the uninterrupted run ends with.

    from mathflow.resume import resume

    result = resume("4f0c...", tracking_uri="sqlite:///runs/mlflow.db", quiet=True)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, TextIO

from mathflow.errors import MathflowError
from mathflow.train.checkpoint import ARRAYS_FILE, ARTIFACT_DIR, META_FILE, Checkpoint

RESUMED_FROM_TAG = "mathflow.resumed_from"
RESUMED_AT_TAG = "mathflow.resumed_at"
RESUMED_EPOCH_TAG = "mathflow.resumed_epoch"

#: Run statuses a resume continues.
RESUMABLE = ("KILLED", "FAILED")


# --------------------------------------------------------------------------------------------------
# reading: mathflow resume
# --------------------------------------------------------------------------------------------------
def _check_resumable(run: Any, mlf: Any) -> None:
    """A clear error unless ``run`` is a KILLED or FAILED training run with a checkpoint."""
    run_id, status = run.info.run_id, run.info.status
    if status == "FINISHED":
        raise MathflowError(
            f"run {run_id} FINISHED: there is nothing to resume",
            suggestion=f"mathflow rerun {run_id} trains it again from the start",
        )
    if status == "RUNNING":
        raise MathflowError(
            f"run {run_id} is still RUNNING",
            suggestion="stop it first (Ctrl-C or kill); if its process is gone, "
            "mathflow runs --mark-dead ends it FAILED",
        )
    if status not in RESUMABLE:
        raise MathflowError(f"run {run_id} is {status}: only KILLED or FAILED runs can be resumed")
    top = {info.path for info in mlf.list_artifacts(run_id)}
    if "pipeline.yaml" not in top:
        raise MathflowError(f"run {run_id} is not a training run (it has no pipeline.yaml): it cannot be resumed")
    names = {Path(info.path).name for info in mlf.list_artifacts(run_id, ARTIFACT_DIR)}
    if not {ARRAYS_FILE, META_FILE} <= names:
        raise MathflowError(
            f"run {run_id} has no checkpoint to resume from: it stopped before writing one "
            "(train.checkpoint_every: 0 turns them off)",
            suggestion=f"mathflow rerun {run_id} trains it again from the start",
        )


def resume(
    run_id: str,
    *,
    tracking_uri: str | None = None,
    quiet: bool = False,
    progress: Any = None,
    console: TextIO | None = None,
    figures_may_fork: bool = False,
) -> Any:
    """Continue the KILLED or FAILED run ``run_id`` from its last checkpoint in a new run of the same
    store and experiment; returns the new run's :class:`~mathflow.run.RunResult`. With a ``console``, a
    line saying where it resumes is written to it first, then the run's header."""
    from mathflow.run import run_pipeline
    from mathflow.tracking import resolve_tracking_uri
    from mathflow.tracking.store import client, run_of

    uri = resolve_tracking_uri(tracking_uri)
    mlf = client(uri)
    old = run_of(mlf, run_id, uri)
    _check_resumable(old, mlf)
    experiment = mlf.get_experiment(old.info.experiment_id).name
    with tempfile.TemporaryDirectory(prefix="mathflow-resume-") as tmp:
        pipeline = mlf.download_artifacts(run_id, "pipeline.yaml", tmp)
        folder = mlf.download_artifacts(run_id, ARTIFACT_DIR, tmp)
        checkpoint = Checkpoint.load(folder)
        if console is not None:
            console.write(f"resuming {old.info.status} run {run_id} from its checkpoint at {checkpoint.where()}\n")
            console.flush()
        tags = {
            RESUMED_FROM_TAG: run_id,
            RESUMED_AT_TAG: checkpoint.where(),
            RESUMED_EPOCH_TAG: checkpoint.epoch,
        }
        return run_pipeline(
            pipeline,
            tracking_uri=uri,
            experiment=experiment,
            quiet=quiet,
            progress=progress,
            extra_tags=tags,
            console=console,
            resume_from=checkpoint,
            figures_may_fork=figures_may_fork,
        )


__all__ = [
    "RESUMED_AT_TAG",
    "RESUMED_FROM_TAG",
    "resume",
]
