"""Math pipelines: ``kind: optimize`` and ``kind: analyze`` YAML files run on the engine.

    from mathflow.mathpipe import is_math_pipeline, validate_math, run_math

    if is_math_pipeline("pipelines/math/lagrange_xy.yaml"):
        print(validate_math("pipelines/math/lagrange_xy.yaml", []))
        result = run_math("pipelines/math/lagrange_xy.yaml", [], tracking_uri=None)

``run_math`` prints a readable summary unless ``quiet``; :func:`format_result` gives that text.
``python -m mathflow.mathpipe FILE [--json] [--validate] [--set KEY=VALUE ...]`` runs one from the shell.
"""

from __future__ import annotations

from mathflow.mathpipe.runner import format_result, is_math_pipeline, run_math, validate_math

__all__ = ["format_result", "is_math_pipeline", "run_math", "validate_math"]
