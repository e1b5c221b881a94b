"""Reading sweeps and runs back for the console: ``runs --sweep PARENT`` and ``compare RUN_A RUN_B``."""

from __future__ import annotations

import json
import math
from typing import Any

from mathflow.errors import MathflowError
from mathflow.sweep.trial import BEST_TAG, PARAMS_TAG, POINT_TAG, SEED_TAG


def parent_run(parent_run_id: str, tracking_uri: str | None = None) -> tuple[Any, str]:
    """The sweep's parent run and its experiment's name; raises unless the run is a sweep."""
    from mathflow.sweep.runner import RUN_KIND_TAG
    from mathflow.tracking.store import client, resolve_tracking_uri, run_of

    uri = resolve_tracking_uri(tracking_uri)
    mlf = client(uri)
    parent = run_of(mlf, parent_run_id, uri)
    if parent.data.tags.get(RUN_KIND_TAG) != "sweep":
        raise MathflowError(f"run {parent_run_id} is not a sweep (it has no trials)")
    return parent, mlf.get_experiment(parent.info.experiment_id).name


def ranked_trials(parent_run_id: str, tracking_uri: str | None = None) -> tuple[Any, list[Any]]:
    """The sweep's parent run and its trial runs, best first by the sweep's metric and goal."""
    from mathflow.sweep.record import child_runs
    from mathflow.sweep.runner import GOAL_TAG, METRIC_TAG
    from mathflow.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    parent, _ = parent_run(parent_run_id, uri)
    metric = parent.data.tags.get(METRIC_TAG) or None
    maximize = parent.data.tags.get(GOAL_TAG) == "maximize"
    trials = child_runs(uri, parent.info.experiment_id, parent_run_id)

    def rank(run: Any) -> tuple[int, float]:
        value = run.data.metrics.get(metric) if metric else None
        if value is None or not math.isfinite(value):
            return 1, 0.0
        return 0, -value if maximize else value

    return parent, sorted(trials, key=rank)


def trials_table(parent: Any, trials: list[Any]) -> str:
    """The ranked trials as text: rank, point, seed, status, metric, parameters, run id."""
    from mathflow.sweep.runner import METRIC_TAG

    metric = parent.data.tags.get(METRIC_TAG) or "test_loss"
    lines = [f"sweep {parent.info.run_id} ({parent.info.status}), {len(trials)} trial run(s), ranked by {metric}"]
    header = ("#", "point", "seed", "status", metric, "parameters", "run id")
    rows = []
    for i, run in enumerate(trials, 1):
        tags = run.data.tags
        status = "PRUNED" if tags.get("mathflow.sweep.pruned") else run.info.status
        value = run.data.metrics.get(metric)
        params = json.loads(tags.get(PARAMS_TAG, "{}"))
        shown = " ".join(f"{k}={json.dumps(v)}" for k, v in params.items())
        best = " *" if tags.get(BEST_TAG) == "true" else ""
        rows.append(
            (
                str(i),
                tags.get(POINT_TAG, ""),
                tags.get(SEED_TAG, ""),
                status,
                "" if value is None else f"{value:.4f}",
                shown,
                run.info.run_id + best,
            )
        )
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if any(r[-1].endswith("*") for r in rows):
        lines.append("* the best point")
    return "\n".join(lines)


def compare_runs(run_a: str, run_b: str, tracking_uri: str | None = None, show_all: bool = False) -> str:
    """The two runs' parameters (the resolved pipelines, flattened) and final metrics side by side:
    only what differs, unless ``show_all``."""
    from mathflow.tracking.store import client, resolve_tracking_uri, run_of

    uri = resolve_tracking_uri(tracking_uri)
    mlf = client(uri)
    a, b = run_of(mlf, run_a, uri), run_of(mlf, run_b, uri)
    lines = [f"{'':<40} {run_a[:12]:<24} {run_b[:12]:<24}"]
    sections = (("parameters", a.data.params, b.data.params), ("metrics", a.data.metrics, b.data.metrics))
    for title, left, right in sections:
        keys = sorted(set(left) | set(right))
        shown = [k for k in keys if show_all or left.get(k) != right.get(k)]
        lines.append(f"{title} ({len(shown)} of {len(keys)} {'shown' if show_all else 'differ'}):")
        for key in shown:
            old, new = left.get(key), right.get(key)
            lines.append(f"  {key:<38} {_text(old):<24} {_text(new):<24}{_delta(old, new)}")
    lines.append(f"status: {a.info.status} / {b.info.status}")
    return "\n".join(lines)


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)[:24]


def _delta(left: Any, right: Any) -> str:
    if isinstance(left, float) and isinstance(right, float) and math.isfinite(left) and math.isfinite(right):
        return f" ({right - left:+.4g})"
    return ""
