"""A compiled pipeline's model, loss, regularizers and a batch of its training data, in float64."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from mathflow.analysis.objective import ModelObjective
from mathflow.errors import MathflowError


@contextmanager
def float64_backend(seed: int | None) -> Iterator[Any]:
    """A seeded float64 CPU backend made current for the block (the previous one restored)."""
    from mathflow.backend import Backend, using

    with using(Backend("cpu", "float64", seed)) as backend:
        yield backend


def sample_rows(n_rows: int, batch: int | None, seed: int | None) -> np.ndarray:
    """Indices of ``batch`` rows drawn without replacement (seeded), or every row when ``batch``
    is None or not smaller than ``n_rows``."""
    if batch is not None and batch < 1:
        raise MathflowError(f"--batch must be a positive integer, got {batch}")
    if batch is None or batch >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=batch, replace=False))


def pipeline_objective(compiled: Any, data: Any, rows: np.ndarray, *, training: bool) -> ModelObjective:
    """The objective of ``compiled``'s model (built on the current backend) on the given rows of
    the training split."""
    train = data.splits["train"]
    model = compiled.build_model()
    loss = compiled.build_loss()
    regularizers = compiled.build_regularizers()
    return ModelObjective(model, loss, regularizers, train.x[rows], train.y[rows], training=training)
