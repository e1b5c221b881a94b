"""Sweeps: many runs of one pipeline (a search over its values, several seeds), locally or on Ray.

    from mathflow.sweep import make_plan, run_sweep

    result = run_sweep(make_plan("pipelines/sweeps/iris_lr.yaml"))

See :mod:`mathflow.sweep.runner` for the record a sweep leaves in MLflow.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "make_plan": "mathflow.sweep.plan",
    "describe_plan": "mathflow.sweep.plan",
    "SweepPlan": "mathflow.sweep.plan",
    "run_sweep": "mathflow.sweep.runner",
    "SweepResult": "mathflow.sweep.runner",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mathflow.sweep' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
