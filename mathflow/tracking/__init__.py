"""MLflow tracking for mathflow runs: the only package that talks to MLflow.

MLflow is imported lazily, inside functions: ``import mathflow.tracking`` stays fast and works
without touching MLflow. The logged model is the NumPy interpreter :mod:`mathflow.export.runtime`.
"""

from __future__ import annotations

from mathflow.tracking.flatten import flatten, flatten_params
from mathflow.tracking.run import TrackedRun, Tracker, error_reason, git_info, new_figure, standard_tags
from mathflow.tracking.store import (
    DEAD_AFTER,
    HEARTBEAT_TAG,
    RunRow,
    artifact_root,
    default_artifact_root,
    default_tracking_uri,
    ensure_store,
    get_or_create_experiment,
    list_runs,
    mark_dead,
    resolve_tracking_uri,
    store_lock,
    ui_command,
)

__all__ = [
    "DEAD_AFTER",
    "HEARTBEAT_TAG",
    "RunRow",
    "TrackedRun",
    "Tracker",
    "artifact_root",
    "default_artifact_root",
    "default_tracking_uri",
    "ensure_store",
    "error_reason",
    "flatten",
    "flatten_params",
    "get_or_create_experiment",
    "git_info",
    "list_runs",
    "mark_dead",
    "new_figure",
    "resolve_tracking_uri",
    "standard_tags",
    "store_lock",
    "ui_command",
]
