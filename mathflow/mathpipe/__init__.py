"""Math pipelines: ``kind: optimize`` and ``kind: analyze`` YAML files run on the engine.

    from mathflow.mathpipe import is_math_pipeline, validate_math, run_math

    if is_math_pipeline("pipelines/math/lagrange_xy.yaml"):
        print(validate_math("pipelines/math/lagrange_xy.yaml", []))
        result = run_math("pipelines/math/lagrange_xy.yaml", [], tracking_uri=None)

``run_math`` prints a readable summary unless ``quiet``; :func:`format_result` gives that text.
``python -m mathflow.mathpipe FILE [--json] [--validate] [--set KEY=VALUE ...]`` runs one from the shell.
"""

from __future__ import annotations

from typing import Any

from mathflow.config.kind import is_math_pipeline

__all__ = ["format_result", "is_math_pipeline", "run_math", "validate_math"]


def __getattr__(name: str) -> Any:
    """The runner's functions, imported on first use: asking whether a file is a math pipeline
    (:mod:`mathflow.config.kind`) must not load the math schema and engine."""
    if name in ("format_result", "run_math", "validate_math"):
        from mathflow.mathpipe import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
