"""The ``metrics`` section: names of evaluation metrics (mirrors :data:`mathflow.metrics.METRICS`)."""

from __future__ import annotations

from typing import Literal

#: metric name → the task it applies to ("classification" or "regression").
METRIC_TASKS: dict[str, str] = {
    "accuracy": "classification",
    "acc": "classification",
    "top_k_accuracy": "classification",
    "top_k": "classification",
    "confusion_matrix": "classification",
    "precision": "classification",
    "recall": "classification",
    "f1": "classification",
    "mse": "regression",
    "mean_squared_error": "regression",
    "mae": "regression",
    "mean_absolute_error": "regression",
    "r2": "regression",
}

MetricName = Literal[
    "accuracy",
    "acc",
    "top_k_accuracy",
    "top_k",
    "confusion_matrix",
    "precision",
    "recall",
    "f1",
    "mse",
    "mean_squared_error",
    "mae",
    "mean_absolute_error",
    "r2",
]
