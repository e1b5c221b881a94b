"""What a sweep leaves on its parent run, and how a stopped sweep is taken up again.

Logged on the parent: ``sweep/results.csv`` (one row per trial run: point, seed, parameters, status,
metrics, seconds, run id), ``sweep/points.csv`` (mean ± std of every final metric over a point's
seeds), the best point (metrics ``best_<metric>`` and ``best_<metric>_std``, tags
``mathflow.sweep.best_run_id`` and ``best.<path>``; its runs get the tag ``mathflow.sweep.best``),
counts of trials by status, and the plots ``metric_vs_<parameter>.png``, ``parallel_coordinates.png``
and ``learning_curves.png``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from typing import Any

from mathflow.sweep.trial import BEST_TAG, PARAMS_TAG, PARENT_TAG, POINT_TAG, SEED_TAG, TrialOutcome


def result_rows(points: list[Any]) -> list[dict[str, Any]]:
    """One row per trial run, in point and seed order."""
    rows = []
    for point in points:
        for seed in point.seeds:
            outcome = point.outcomes.get(seed)
            if outcome is None:
                continue
            rows.append(
                {
                    "point": point.number,
                    "seed": seed,
                    "status": outcome.status,
                    "run_id": outcome.run_id or "",
                    "params": dict(point.params),
                    "metrics": dict(outcome.metrics),
                    "train_seconds": outcome.train_seconds,
                    "wall_seconds": outcome.wall_seconds,
                    "error": outcome.error or "",
                }
            )
    return rows


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def _flat_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    params = sorted({k for r in rows for k in r["params"]})
    metrics = sorted({k for r in rows for k in r["metrics"]})
    flat = []
    for row in rows:
        item = {k: v for k, v in row.items() if k not in ("params", "metrics")}
        item.update({p: _cell(row["params"].get(p)) for p in params})
        item.update({m: row["metrics"].get(m, "") for m in metrics})
        flat.append(item)
    columns = ["point", "seed", "status", *params, *metrics, "train_seconds", "wall_seconds", "run_id", "error"]
    return flat, columns


def _cell(value: Any) -> Any:
    return value if isinstance(value, (int, float, str)) else json.dumps(value)


def point_rows(points: list[Any]) -> list[dict[str, Any]]:
    """One row per point: its values, its runs' status counts, and mean/std of each final metric."""
    out = []
    for point in points:
        finished = [o for o in point.outcomes.values() if o.status == "FINISHED"]
        row: dict[str, Any] = {"point": point.number, "runs": len(point.outcomes), "finished": len(finished)}
        row.update({k: _cell(v) for k, v in point.params.items()})
        for name in sorted({k for o in finished for k in o.metrics}):
            values = [o.metrics[name] for o in finished if name in o.metrics and math.isfinite(o.metrics[name])]
            if values:
                row[f"{name}_mean"] = statistics.fmean(values)
                row[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(row)
    return out


def best_point(points: list[Any], metric: str | None, goal: str) -> Any:
    """The point with the best mean metric over its finished seeds (None when none finished)."""
    scored = [(p.summary(metric)[0], p) for p in points if metric is not None and p.state(metric) == "COMPLETE"]
    scored = [(v, p) for v, p in scored if v is not None]
    if not scored:
        return None
    pick = max if goal == "maximize" else min
    return pick(scored, key=lambda item: item[0])[1]


def log_results(sweep: Any, parent: Any, seconds: float) -> Any:
    """Log the sweep's record on ``parent`` and return its :class:`~mathflow.sweep.runner.SweepResult`."""
    from mathflow.sweep.runner import SweepResult
    from mathflow.tracking.store import client

    plan = sweep.plan
    metric = plan.section.metric
    points = [sweep.points[k] for k in sorted(sweep.points)]
    rows = result_rows(points)
    flat, columns = _flat_rows(rows)
    parent.log_text(_table(flat, columns), "sweep/results.csv")
    summary_rows = point_rows(points)
    first = ["point", "runs", "finished"]
    summary_columns = first + sorted({k for r in summary_rows for k in r} - set(first))
    parent.log_text(_table(summary_rows, summary_columns), "sweep/points.csv")
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("FINISHED", "FAILED", "PRUNED", "KILLED")}
    parent.log_metrics({f"trials_{s.lower()}": float(n) for s, n in counts.items()})
    best = best_point(points, metric, plan.goal)
    best_info = None
    if best is not None:
        mean, std = best.summary(metric)
        runs = [o.run_id for o in best.outcomes.values() if o.run_id and o.status == "FINISHED"]
        best_info = {"point": best.number, "params": best.params, "value": mean, "std": std, "run_id": runs[0]}
        parent.log_metrics({f"best_{metric}": mean, f"best_{metric}_std": std})
        parent.set_tags(  # tags, not params: a resumed sweep may find another best
            {
                "mathflow.sweep.best_run_id": runs[0],
                "mathflow.sweep.best_point": str(best.number),
                **{f"best.{path}": json.dumps(value) for path, value in best.params.items()},
            }
        )
        mlf = client(parent.tracking_uri)
        for run_id in runs:
            mlf.set_tag(run_id, BEST_TAG, "true")
    elif metric is None:
        for row in summary_rows:
            parent.log_metrics({k: float(v) for k, v in row.items() if k.endswith(("_mean", "_std"))})
    _log_plots(parent, rows, points, metric, plan.section.parameters)
    return SweepResult(
        parent_run_id=parent.run_id,
        experiment=plan.experiment,
        tracking_uri=parent.tracking_uri,
        status="RUNNING",
        metric=metric,
        goal=plan.goal,
        points=points,
        rows=rows,
        best=best_info,
        seconds=seconds,
    )


# --------------------------------------------------------------------------------------------- plots
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _axis(values: list[Any]) -> tuple[list[float], list[str] | None]:
    """Numbers for a parameter's values: themselves, or the index of each distinct (text) value."""
    numbers = [_numeric(v) for v in values]
    if all(n is not None for n in numbers):
        return [float(n) for n in numbers], None  # type: ignore[arg-type]
    labels = sorted({json.dumps(v, sort_keys=True) for v in values})
    return [float(labels.index(json.dumps(v, sort_keys=True))) for v in values], labels


def _log_plots(parent: Any, rows: list[dict[str, Any]], points: list[Any], metric: str | None, parameters: Any) -> None:
    from mathflow.tracking import new_figure

    scored = [r for r in rows if metric is not None and r["status"] == "FINISHED" and metric in r["metrics"]]
    if scored and metric is not None:
        for name, parameter in parameters.items():
            xs, labels = _axis([r["params"][name] for r in scored])
            fig = new_figure(figsize=(5, 3.5))
            ax = fig.add_subplot(1, 1, 1)
            ax.scatter(xs, [r["metrics"][metric] for r in scored], alpha=0.8)
            if getattr(parameter, "log", False):
                ax.set_xscale("log")
            if labels is not None:
                ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
            ax.set_xlabel(name)
            ax.set_ylabel(metric)
            ax.grid(True, alpha=0.3)
            fig.tight_layout()
            parent.log_figure(fig, f"sweep/metric_vs_{_safe(name)}.png")
        if parameters:
            parent.log_figure(_parallel_coordinates(scored, list(parameters), metric), "sweep/parallel_coordinates.png")
    curves = _learning_curves(parent, rows, metric)
    if curves is not None:
        parent.log_figure(curves, "sweep/learning_curves.png")


def _parallel_coordinates(rows: list[dict[str, Any]], names: list[str], metric: str) -> Any:
    """Each trial a line across one axis per parameter and one for the metric, scaled to [0, 1]."""
    from matplotlib import colormaps

    from mathflow.tracking import new_figure

    columns = [_axis([r["params"][n] for r in rows])[0] for n in names]
    columns.append([r["metrics"][metric] for r in rows])
    scaled = []
    for column in columns:
        low, high = min(column), max(column)
        scaled.append([0.5 if high == low else (v - low) / (high - low) for v in column])
    fig = new_figure(figsize=(1.8 * len(columns) + 1, 4))
    ax = fig.add_subplot(1, 1, 1)
    cmap = colormaps["viridis"]
    for i in range(len(rows)):
        ax.plot(range(len(columns)), [c[i] for c in scaled], color=cmap(scaled[-1][i]), alpha=0.7)
    ax.set_xticks(range(len(columns)), [*names, metric], rotation=20, fontsize=8)
    ax.set_yticks([0, 1], ["low", "high"])
    ax.set_title(f"{len(rows)} trials, coloured by {metric}")
    fig.tight_layout()
    return fig


def _learning_curves(parent: Any, rows: list[dict[str, Any]], metric: str | None) -> Any:
    """The per-epoch sweep metric (or validation loss) of every trial, read back from the store."""
    from mathflow.tracking import new_figure
    from mathflow.tracking.store import client

    key = metric if metric and metric.startswith(("train_", "val_")) else "val_loss"
    mlf = client(parent.tracking_uri)
    fig = new_figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    drawn = 0
    for row in rows[:200]:
        if not row["run_id"]:
            continue
        history = mlf.get_metric_history(row["run_id"], key)
        if not history:
            continue
        history = sorted(history, key=lambda m: m.step)
        ax.plot([m.step for m in history], [m.value for m in history], alpha=0.6, lw=1)
        drawn += 1
    if not drawn:
        return None
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.set_title(f"{drawn} trials")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------------------------------------- resume
def child_runs(tracking_uri: str, experiment_id: str, parent_run_id: str) -> list[Any]:
    """Every run whose ``mlflow.parentRunId`` is ``parent_run_id``."""
    from mathflow.tracking.store import client

    mlf = client(tracking_uri)
    found, token = [], None
    while True:
        where = f"tags.`{PARENT_TAG}` = '{parent_run_id}'"
        page = mlf.search_runs([experiment_id], filter_string=where, max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def resume_state(sweep: Any, parent: Any) -> None:
    """Load the stopped sweep's finished trials into ``sweep``: points whose every seed ended FINISHED
    or PRUNED count as done; runs of the other points are marked superseded and their points retried."""
    from mathflow.sweep.runner import SUPERSEDED_TAG, Point
    from mathflow.tracking.store import client

    mlf = client(parent.tracking_uri)
    by_point: dict[int, list[Any]] = {}
    for run in child_runs(parent.tracking_uri, parent.experiment_id, parent.run_id):
        if run.data.tags.get(SUPERSEDED_TAG) == "true":
            continue
        by_point.setdefault(int(run.data.tags.get(POINT_TAG, "-1")), []).append(run)
    seeds = [sweep.plan.base_seed + i for i in range(sweep.plan.section.seeds)]
    done, retry = [], []
    for number in sorted(by_point):
        runs = by_point[number]
        params = json.loads(runs[0].data.tags.get(PARAMS_TAG, "{}"))
        outcomes = {}
        for run in runs:
            status = "PRUNED" if run.data.tags.get("mathflow.sweep.pruned") else run.info.status
            if status in ("FINISHED", "PRUNED"):
                seed = int(run.data.tags[SEED_TAG])
                outcomes[seed] = TrialOutcome(
                    run.data.tags.get("mathflow.sweep.job", ""), status, run.info.run_id, dict(run.data.metrics)
                )
        if all(s in outcomes for s in seeds):
            point = Point(number, params, None, seeds, outcomes)
            sweep.points[point.number] = point
            sweep.finished += len(outcomes)
            mean, _ = point.summary(sweep.plan.section.metric)
            done.append((params, mean, point.state(sweep.plan.section.metric)))
        else:
            for run in runs:
                mlf.set_tag(run.info.run_id, SUPERSEDED_TAG, "true")
            retry.append(params)
    sweep.search.resume(done, retry)
