"""One trial: a ``mathflow run`` of the pipeline with the point's values and seed, as a child run.

A trial runs :func:`mathflow.run.run_pipeline`, the code path of ``mathflow run``, so its MLflow run
is complete (``mathflow rerun`` works on it) and carries ``mlflow.parentRunId`` (the MLflow UI nests
it under the sweep) and ``mathflow.sweep.*`` tags. Its outcome is plain data, sent back to the sweep.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PARENT_TAG = "mlflow.parentRunId"
JOB_TAG = "mathflow.sweep.job"
POINT_TAG = "mathflow.sweep.point"
SEED_TAG = "mathflow.sweep.seed"
PARAMS_TAG = "mathflow.sweep.params"
PRUNED_TAG = "mathflow.sweep.pruned"
BEST_TAG = "mathflow.sweep.best"


@dataclass
class TrialJob:
    """What a worker needs to run one trial (picklable; sent to local workers and Ray tasks)."""

    key: str
    point: int
    seed: int
    params: dict[str, Any]
    overrides: list[str]
    parent_run_id: str
    tracking_uri: str
    experiment: str
    metric: str | None
    prune: bool
    path: str | None = None
    text: str | None = None
    attempt: int = 0
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class TrialOutcome:
    """What one trial produced: FINISHED, FAILED, KILLED or PRUNED, with its final metrics."""

    key: str
    status: str
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    error: str | None = None

    def value(self, metric: str | None) -> float | None:
        if metric is None:
            return None
        value = self.metrics.get(metric)
        return value if value is not None and math.isfinite(value) else None


class PruneCallback:
    """Trainer callback: after each epoch, ask the sweep whether to go on; stop the trial if not."""

    def __init__(self, metric: str, ask: Callable[[int, float], bool]):
        self.metric = metric
        self.ask = ask
        self.trainer: Any = None
        self.pruned_at: int | None = None

    def on_train_begin(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.metric)
        if value is None or self.pruned_at is not None:
            return
        if self.ask(epoch, float(value)):
            self.pruned_at = epoch
            self.trainer.stop(f"pruned by the sweep after epoch {epoch} ({self.metric} {value:.4g})")


def _trial_tags(job: TrialJob) -> dict[str, str]:
    import json

    return {
        PARENT_TAG: job.parent_run_id,
        JOB_TAG: job.key,
        POINT_TAG: str(job.point),
        SEED_TAG: str(job.seed),
        PARAMS_TAG: json.dumps(job.params, sort_keys=True, default=str),
        **job.tags,
    }


def run_trial(job: TrialJob, ask_prune: Callable[[int, float], bool] | None = None) -> TrialOutcome:
    """Run ``job`` to its end (the run is FINISHED, FAILED or KILLED in the store) and say how it went.
    A stop signal (:class:`~mathflow.tracking.signals.RunInterrupted`) propagates after the outcome is
    known, so the worker can report it before it goes."""
    from mathflow.run import run_pipeline
    from mathflow.tracking.signals import RunInterrupted

    started = time.perf_counter()
    callbacks = []
    pruner = None
    if job.prune and job.metric and ask_prune is not None:
        pruner = PruneCallback(job.metric, ask_prune)
        callbacks.append(pruner)
    with _pipeline_file(job) as path:
        try:
            result = run_pipeline(
                path,
                job.overrides,
                tracking_uri=job.tracking_uri,
                experiment=job.experiment,
                quiet=True,
                extra_tags=_trial_tags(job),
                callbacks=callbacks,
            )
        except RunInterrupted as exc:
            return TrialOutcome(job.key, "KILLED", getattr(exc, "run_id", None), error=exc.reason())
        except Exception as exc:  # a failed trial is recorded; the sweep goes on
            return TrialOutcome(
                job.key, "FAILED", _run_of(job), error=_one_line(exc), wall_seconds=time.perf_counter() - started
            )
    status = "FINISHED"
    if pruner is not None and pruner.pruned_at is not None:
        status = "PRUNED"
        _tag_run(job.tracking_uri, result.run_id, PRUNED_TAG, str(pruner.pruned_at))
    return TrialOutcome(
        job.key,
        status,
        result.run_id,
        {k: float(v) for k, v in result.metrics.items()},
        train_seconds=result.train_seconds,
        wall_seconds=time.perf_counter() - started,
    )


def _one_line(exc: BaseException) -> str:
    text = exc.format() if hasattr(exc, "format") else str(exc)
    return f"{type(exc).__name__}: {text}".splitlines()[0][:500]


class _pipeline_file:  # noqa: N801 - used as a context manager like a function
    """The job's pipeline path, or its text written to a temporary file (Ray workers)."""

    def __init__(self, job: TrialJob):
        self.job = job
        self.folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> str:
        if self.job.text is None:
            return str(self.job.path)
        self.folder = tempfile.TemporaryDirectory(prefix="mathflow-trial-")
        path = os.path.join(self.folder.name, "pipeline.yaml")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.job.text)
        return path

    def __exit__(self, *exc: object) -> None:
        if self.folder is not None:
            self.folder.cleanup()


def find_job_run(tracking_uri: str, experiment: str, key: str) -> Any:
    """The MLflow run of the trial job ``key`` (None when it never started)."""
    from mathflow.tracking.store import client

    mlf = client(tracking_uri)
    exp = mlf.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = mlf.search_runs([exp.experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{key}'", max_results=1)
    return runs[0] if runs else None


def _run_of(job: TrialJob) -> str | None:
    run = find_job_run(job.tracking_uri, job.experiment, job.key)
    return run.info.run_id if run is not None else None


def _tag_run(tracking_uri: str, run_id: str, key: str, value: str) -> None:
    from mathflow.tracking.store import client

    client(tracking_uri).set_tag(run_id, key, value)
