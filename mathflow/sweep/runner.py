"""``mathflow sweep``: ask the search for points, run their trials on an executor, record it all.

    from mathflow.sweep import make_plan, run_sweep

    plan = make_plan("pipelines/sweeps/iris_lr.yaml")
    result = run_sweep(plan, parallel=2)
    result.best.run_id, result.best.value

The sweep is one parent MLflow run (tags: the definition, its hash, the method, the metric); each trial
is a child run made by ``mathflow run``'s code. A trial that fails is FAILED and the sweep goes on; one
whose worker dies is retried once, then FAILED. SIGINT, SIGTERM or SIGHUP stops the sweep: running
trials end KILLED, then the parent (exit ``128 + signal``); ``--resume PARENT`` takes it up again.
At the end the parent logs the ranked results, the mean ± std of each point and the plots.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mathflow.errors import MathflowError
from mathflow.sweep.plan import SweepPlan, describe_plan
from mathflow.sweep.trial import PARENT_TAG, TrialJob, TrialOutcome, find_job_run

RUN_KIND_TAG = "mathflow.run_kind"
DEFINITION_TAG = "mathflow.sweep.definition"
HASH_TAG = "mathflow.sweep.hash"
METHOD_TAG = "mathflow.sweep.method"
METRIC_TAG = "mathflow.sweep.metric"
GOAL_TAG = "mathflow.sweep.goal"
PIPELINE_TAG = "mathflow.sweep.pipeline"
OVERRIDES_TAG = "mathflow.sweep.overrides"
BEST_RUN_TAG = "mathflow.sweep.best_run_id"
SUPERSEDED_TAG = "mathflow.sweep.superseded"
RETRIES = 1
"""Times a trial whose worker died is tried again before it counts as FAILED."""


@dataclass
class Point:
    """One point of the search: its values, its Optuna trial and the outcomes of its seeds."""

    number: int
    params: dict[str, Any]
    trial: Any
    seeds: list[int]
    outcomes: dict[int, TrialOutcome] = field(default_factory=dict)
    pruned: bool = False
    reported: int = 0

    @property
    def complete(self) -> bool:
        return len(self.outcomes) == len(self.seeds)

    def values(self, metric: str | None) -> list[float]:
        return [v for o in self.outcomes.values() if (v := o.value(metric)) is not None and o.status == "FINISHED"]

    def summary(self, metric: str | None) -> tuple[float | None, float | None]:
        """Mean and standard deviation of the metric over the seeds that finished."""
        values = self.values(metric)
        if not values:
            return None, None
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

    def state(self, metric: str | None) -> str:
        if self.pruned or any(o.status == "PRUNED" for o in self.outcomes.values()):
            return "PRUNED"
        return "COMPLETE" if self.values(metric) or metric is None else "FAIL"


@dataclass
class SweepResult:
    """The finished (or stopped) sweep."""

    parent_run_id: str
    experiment: str
    tracking_uri: str
    status: str
    metric: str | None
    goal: str
    points: list[Point]
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    seconds: float

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return {
            "parent_run_id": self.parent_run_id,
            "experiment": self.experiment,
            "tracking_uri": self.tracking_uri,
            "status": self.status,
            "metric": self.metric,
            "goal": self.goal,
            "trials": counts,
            "best": self.best,
            "seconds": round(self.seconds, 3),
        }


def default_parallel() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class _Sweep:
    """The loop of one sweep: keeps the executor busy, answers pruning reports, records outcomes."""

    def __init__(self, plan: SweepPlan, executor: Any, parent: Any, make_job: Callable[..., TrialJob], out: Any):
        from mathflow.sweep.search import Search

        self.plan = plan
        self.executor = executor
        self.parent = parent
        self.make_job = make_job
        self.out = out
        self.search = Search(plan.section, plan.goal)
        self.points: dict[int, Point] = {}
        self.attempts: dict[str, int] = {}
        self.pending: list[TrialJob] = []
        self.finished = 0

    def _new_point(self) -> None:
        trial, params = self.search.ask()
        seeds = [self.plan.base_seed + i for i in range(self.plan.section.seeds)]
        point = Point(max(self.points, default=-1) + 1, params, trial, seeds)
        self.points[point.number] = point
        self.pending.extend(self.make_job(point, seed) for seed in seeds)

    def _fill(self) -> None:
        while self.executor.free_slots > 0:
            if not self.pending:
                if self.search.exhausted():
                    return
                self._new_point()
            self.executor.submit(self.pending.pop(0))

    def run(self, stop: Any) -> None:
        self._fill()
        while self.executor.busy or self.pending:
            if stop.requested:
                return
            for event in self.executor.poll(0.25):
                self._handle(event)
            if stop.requested:
                return
            self.parent.heartbeat()  # refreshed every few seconds at most: a live sweep is never DEAD?
            self._fill()

    def _handle(self, event: tuple[Any, ...]) -> None:
        kind, job = event[0], event[1]
        point = self.points[job.point]
        if kind == "report":
            prune, epoch = point.pruned, int(event[2])
            if not prune and job.seed == point.seeds[0] and epoch > point.reported:  # a retry reports again
                prune = point.pruned = self.search.report(point.trial, epoch, float(event[3]))
                point.reported = epoch
            self.executor.reply(event, prune)
        elif kind == "lost":
            self._lost(job, point, str(event[2]))
        else:
            self._record(point, job, event[2])

    def _lost(self, job: TrialJob, point: Point, reason: str) -> None:
        run = find_job_run(job.tracking_uri, job.experiment, job.key)
        run_id = run.info.run_id if run is not None else None
        if run_id is not None and run.info.status == "RUNNING":
            _end_run(job.tracking_uri, run_id, "FAILED", f"WorkerLost: {reason}")
        tries = self.attempts.get(f"{job.point}/{job.seed}", 0)
        if tries < RETRIES:
            self.attempts[f"{job.point}/{job.seed}"] = tries + 1
            self._say(f"trial {job.point} seed {job.seed}: {reason}; trying it again")
            self.pending.insert(0, self.make_job(point, job.seed, attempt=tries + 1))
            return
        self._record(point, job, TrialOutcome(job.key, "FAILED", run_id, error=f"WorkerLost: {reason}"))

    def _record(self, point: Point, job: TrialJob, outcome: TrialOutcome) -> None:
        point.outcomes[job.seed] = outcome
        self.finished += 1
        value = outcome.value(self.plan.section.metric)
        shown = f" {self.plan.section.metric} {value:.4f}" if value is not None else f" {outcome.error or ''}"
        line = f"[{self.finished}/{self.plan.runs}] trial {point.number} seed {job.seed} {outcome.status}{shown}"
        self._say(line.rstrip())
        if point.complete:
            mean, _ = point.summary(self.plan.section.metric)
            self.search.tell(point.trial, mean, point.state(self.plan.section.metric))

    def _say(self, text: str) -> None:
        if self.out is not None:
            print(text, file=self.out, flush=True)


def _end_run(tracking_uri: str, run_id: str, status: str, reason: str) -> None:
    from mathflow.tracking.run import ERROR_TAG
    from mathflow.tracking.store import client

    mlf = client(tracking_uri)
    mlf.set_tag(run_id, ERROR_TAG, reason)
    mlf.set_terminated(run_id, status)


def _job_factory(plan: SweepPlan, parent: Any, executor_name: str, ship_text: bool) -> Callable[..., TrialJob]:
    """Makes the :class:`TrialJob` of a point and seed (with the resolved pipeline's text for Ray)."""

    def make(point: Point, seed: int, attempt: int = 0) -> TrialJob:
        overrides = plan.trial_overrides(point.params, seed)
        text = _resolved_text(plan.path, overrides) if ship_text else None
        return TrialJob(
            key=uuid.uuid4().hex,
            point=point.number,
            seed=seed,
            params=dict(point.params),
            overrides=[] if ship_text else overrides,
            parent_run_id=parent.run_id,
            tracking_uri=parent.tracking_uri,
            experiment=plan.experiment,
            metric=plan.section.metric,
            prune=plan.section.prune is not None,
            path=None if ship_text else plan.path,
            text=text,
            attempt=attempt,
            tags={"mathflow.sweep.executor": executor_name, "mathflow.sweep.attempt": str(attempt)},
        )

    return make


def _resolved_text(path: str, overrides: list[str]) -> str:
    """The trial's whole pipeline (extends and references resolved, data paths absolute) as YAML."""
    from mathflow.config import dump
    from mathflow.pipeline import load_pipeline
    from mathflow.run import resolved_pipeline

    spec, compiled = load_pipeline(path, overrides)
    return dump(resolved_pipeline(spec, compiled.base_dir))


def _open_parent(plan: SweepPlan, tracking_uri: str | None, resume: str | None) -> Any:
    """Start the sweep's parent run (or reopen the stopped one being resumed)."""
    from mathflow.config import dump
    from mathflow.tracking import Tracker
    from mathflow.tracking.run import TrackedRun
    from mathflow.tracking.store import client

    tracker = Tracker(tracking_uri)
    if resume is not None:
        mlf = client(tracker.tracking_uri)
        run = mlf.get_run(resume)
        exp = mlf.get_experiment(run.info.experiment_id)
        return TrackedRun(tracker.tracking_uri, resume, run.info.experiment_id, exp.name, mlf)
    parent = tracker.start(
        plan.experiment,
        run_name=f"{plan.name}-sweep",
        tags={
            RUN_KIND_TAG: "sweep",
            DEFINITION_TAG: json.dumps(plan.definition(), sort_keys=True),
            HASH_TAG: plan.digest(),
            METHOD_TAG: plan.section.method,
            METRIC_TAG: plan.section.metric or "",
            GOAL_TAG: plan.goal,
            PIPELINE_TAG: os.path.abspath(plan.path),
            OVERRIDES_TAG: json.dumps(plan.overrides),
        },
        pipeline_path=plan.path,
    )
    parent.log_params({"sweep": plan.definition()})
    parent.log_text(dump({"sweep": plan.definition()}), "sweep/sweep.yaml")
    return parent


def run_sweep(
    plan: SweepPlan,
    *,
    tracking_uri: str | None = None,
    executor: str = "local",
    parallel: int | None = None,
    address: str | None = None,
    resources: dict[str, float] | None = None,
    resume: str | None = None,
    out: Any = None,
) -> SweepResult:
    """Run the sweep ``plan`` to its end (or a stop signal) and record it; see the module docstring."""
    from mathflow.sweep.record import resume_state
    from mathflow.tracking.signals import stop_on_signals

    started = time.perf_counter()
    size = parallel or plan.section.parallel or default_parallel()
    runner = _make_executor(executor, size, address, resources, tracking_uri)
    runner.start()  # the workers import and warm up while this process opens the store
    try:
        with stop_on_signals() as stop:
            parent = _open_parent(plan, tracking_uri, resume)
            with parent:
                if out is not None:
                    print(describe_plan(plan), file=out)
                    where = f"{parent.tracking_uri} ({runner.name}, {size} at a time)"
                    print(f"parent run {parent.run_id} in {where}", file=out)
                make_job = _job_factory(plan, parent, runner.name, runner.ship_text)
                sweep = _Sweep(plan, runner, parent, make_job, out)
                if resume is not None:
                    resume_state(sweep, parent)
                try:
                    sweep.run(stop)
                    if stop.requested:
                        runner.interrupt(stop.signum)
                        _drain(sweep)
                finally:
                    runner.close()
                    _end_stragglers(parent)
                return _finish(sweep, parent, stop, time.perf_counter() - started)
    finally:
        runner.close()


def _finish(sweep: _Sweep, parent: Any, stop: Any, seconds: float) -> SweepResult:
    """Log the sweep's record; raise the stop signal's exception (parent KILLED) or an error when no
    trial finished (parent FAILED)."""
    from mathflow.sweep.record import log_results

    result = log_results(sweep, parent, seconds)
    if stop.requested:
        parent.set_tags({"mathflow.sweep.stopped": "true"})
        result.status = "KILLED"
        stop.check()
    if not any(row["status"] == "FINISHED" for row in result.rows):
        raise MathflowError(f"no trial of the sweep finished ({len(result.rows)} runs); see its child runs")
    result.status = "FINISHED"
    return result


def _end_stragglers(parent: Any) -> None:
    """No trial run outlives its sweep as RUNNING (a worker stopped before it could end its run)."""
    from mathflow.sweep.record import child_runs

    for run in child_runs(parent.tracking_uri, parent.experiment_id, parent.run_id):
        if run.info.status == "RUNNING":
            _end_run(parent.tracking_uri, run.info.run_id, "KILLED", "the sweep stopped before this trial ended")


def _drain(sweep: _Sweep, grace: float = 60.0) -> None:
    """After a stop: collect the outcomes of the interrupted trials (their runs end KILLED)."""
    deadline = time.monotonic() + grace
    while sweep.executor.busy and time.monotonic() < deadline:
        for event in sweep.executor.poll(0.25):
            if event[0] == "report":
                sweep.executor.reply(event, True)
            elif event[0] == "done":
                sweep._record(sweep.points[event[1].point], event[1], event[2])
            else:
                point = sweep.points[event[1].point]
                sweep._record(point, event[1], TrialOutcome(event[1].key, "KILLED", error=str(event[2])))


def stopped_sweep(parent_run_id: str, tracking_uri: str | None) -> tuple[str, list[str], dict[str, Any], str]:
    """What ``--resume PARENT`` needs from the stopped sweep: its pipeline file, overrides, definition and
    experiment (read from the parent run's tags)."""
    from mathflow.sweep.report import parent_run

    parent, experiment = parent_run(parent_run_id, tracking_uri)
    if parent.info.status == "FINISHED":
        raise MathflowError(f"sweep {parent_run_id} has finished; there is nothing to resume")
    tags = parent.data.tags
    path = tags[PIPELINE_TAG]
    if not os.path.exists(path):
        raise MathflowError(f"the sweep's pipeline file {path} is no longer there", suggestion="restore it to resume")
    return path, json.loads(tags.get(OVERRIDES_TAG, "[]")), json.loads(tags[DEFINITION_TAG]), experiment


def _make_executor(
    name: str, size: int, address: str | None, resources: dict[str, float] | None, tracking_uri: str | None
) -> Any:
    if name == "local":
        from mathflow.sweep.local import LocalExecutor

        if address is not None:
            raise MathflowError("--address goes with --executor ray")
        if resources and resources.get("num_gpus"):
            raise MathflowError("--trial-gpus goes with --executor ray")
        return LocalExecutor(size)
    if name == "ray":
        from mathflow.sweep.ray_executor import RayExecutor

        return RayExecutor(size, address, resources or {}, tracking_uri)
    raise MathflowError(f"unknown executor {name!r}", suggestion="use --executor local or --executor ray")


__all__ = ["PARENT_TAG", "SweepResult", "default_parallel", "run_sweep"]
