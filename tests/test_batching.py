"""Mini-batches: coverage, the partial last batch, seeded shuffling."""

from __future__ import annotations

import numpy as np
import pytest

from mathflow.data import batches, num_batches
from mathflow.errors import MathflowError

X = np.arange(23 * 2, dtype=np.float32).reshape(23, 2)
Y = np.arange(23, dtype=np.int64)


@pytest.mark.parametrize(("n", "b", "full", "dropped"), [(23, 5, 5, 4), (20, 5, 4, 4), (3, 10, 1, 0), (0, 4, 0, 0)])
def test_num_batches(n, b, full, dropped):
    assert num_batches(n, b) == full and num_batches(n, b, drop_last=True) == dropped
    assert len(list(batches(np.zeros((n, 1)), None, b))) == full


def test_in_order_batches_keep_the_last_partial_batch():
    out = list(batches(X, Y, 5))
    assert [len(yb) for _, yb in out] == [5, 5, 5, 5, 3]
    assert np.array_equal(np.concatenate([yb for _, yb in out]), Y)
    assert all(np.array_equal(xb[:, 0] // 2, yb) for xb, yb in out)


def test_shuffled_batches_cover_every_sample_once_and_stay_paired():
    out = list(batches(X, Y, 4, shuffle=True, rng=0))
    ys = np.concatenate([yb for _, yb in out])
    assert sorted(ys.tolist()) == Y.tolist() and not np.array_equal(ys, Y)
    assert all(np.array_equal(xb[:, 0] // 2, yb) for xb, yb in out)


def test_shuffling_is_seeded():
    def order(rng):
        return np.concatenate([yb for _, yb in batches(X, Y, 4, shuffle=True, rng=rng)])

    assert np.array_equal(order(7), order(7))
    assert np.array_equal(order(np.random.default_rng(7)), order(7))
    assert not np.array_equal(order(7), order(8))
    # one generator across epochs gives a new order each epoch, reproducibly
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    e1, e2 = order(g1), order(g1)
    assert not np.array_equal(e1, e2)
    assert np.array_equal(e1, order(g2)) and np.array_equal(e2, order(g2))


def test_drop_last_and_missing_targets():
    out = list(batches(X, None, 5, drop_last=True))
    assert len(out) == 4 and all(yb is None and len(xb) == 5 for xb, yb in out)


def test_batching_errors():
    with pytest.raises(MathflowError, match="batch_size must be a positive integer"):
        list(batches(X, Y, 0))
    with pytest.raises(MathflowError, match="batch_size must be a positive integer"):
        num_batches(10, 2.5)
    with pytest.raises(MathflowError, match="x has 23 samples but y has 22"):
        list(batches(X, Y[:-1], 4))
    with pytest.raises(MathflowError, match="rng must be a numpy Generator"):
        list(batches(X, Y, 4, shuffle=True, rng="seed"))
