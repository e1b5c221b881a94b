"""Mini-batches: ``for xb, yb in batches(x, y, 32, shuffle=True, rng=rng)``.

Shuffling draws one permutation per pass from ``rng`` (a ``numpy.random.Generator`` or a seed),
so a seeded generator gives the same batches every run. The last, partial batch is yielded too
unless ``drop_last``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mathflow.errors import MathflowError


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise MathflowError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches :func:`batches` yields for ``n`` samples: ⌈n/b⌉ (⌊n/b⌋ with ``drop_last``)."""
    b = _check_batch_size(batch_size)
    return n // b if drop_last else -(-n // b)


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """``rng`` itself, or a generator seeded with it (``None``: unseeded)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise MathflowError(f"rng must be a numpy Generator or an integer seed, got {rng!r}")


def batches(
    x: np.ndarray,
    y: np.ndarray | None = None,
    batch_size: int = 32,
    shuffle: bool = False,
    rng: np.random.Generator | int | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield ``(x[idx], y[idx])`` for consecutive blocks of ``batch_size`` indices (``y=None`` yields ``None``).

    Without ``shuffle`` the batches are views in the original order; with it, the order is a
    permutation drawn from ``rng``.
    """
    b = _check_batch_size(batch_size)
    n = len(x)
    if y is not None and len(y) != n:
        raise MathflowError(f"batches: x has {n} samples but y has {len(y)}")
    order = as_generator(rng).permutation(n) if shuffle else None
    stop = (n // b) * b if drop_last else n
    for start in range(0, stop, b):
        end = min(start + b, n)
        if order is None:
            yield x[start:end], (None if y is None else y[start:end])
        else:
            idx = order[start:end]
            yield x[idx], (None if y is None else y[idx])
