"""``mathflow gradcheck PIPELINE``: check the compiled model's backprop on a batch of its data."""

from __future__ import annotations

import os
from collections.abc import Iterable

from mathflow.analysis.gradcheck import DEFAULT_MAX_ENTRIES, DEFAULT_TOLERANCE, GradcheckReport, check_gradients
from mathflow.analysis.setup import float64_backend, pipeline_objective, sample_rows


def gradcheck_pipeline(
    path: str | os.PathLike[str],
    overrides: Iterable[str] = (),
    *,
    batch: int = 16,
    tolerance: float = DEFAULT_TOLERANCE,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> GradcheckReport:
    """Compile ``path``, build its model at the initial weights in float64 and check the gradient of
    loss + regularizers on ``batch`` seeded-random training samples; dropout keeps one fixed mask."""
    from mathflow.errors import MathflowError
    from mathflow.pipeline import load_pipeline

    if not tolerance > 0:
        raise MathflowError(f"--tolerance must be positive, got {tolerance}")
    if max_entries < 1:
        raise MathflowError(f"--max-entries must be a positive integer, got {max_entries}")
    spec, compiled = load_pipeline(path, list(overrides))
    with float64_backend(spec.seed):
        data = compiled.prepare_data()
        rows = sample_rows(len(data.splits["train"]), batch, spec.seed)
        objective = pipeline_objective(compiled, data, rows, training=True)
        return check_gradients(objective, tolerance=tolerance, max_entries=max_entries, seed=spec.seed or 0)
