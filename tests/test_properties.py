"""Property tests: random shapes, broadcastable pairs, axes and batch dimensions.

For every drawn case the gradients have the inputs' shapes and agree with finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mathflow as mf
import mathflow.functional as F

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

BINARY = {
    "add": (F.add, lambda a, b: a + b),
    "sub": (F.sub, lambda a, b: a - b),
    "mul": (F.mul, lambda a, b: a * b),
    "div": (F.div, lambda a, b: a / b),
}


def _values(shape, seed, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def _denominator(shape, seed):
    """Values with |x| in [0.5, 2] (away from the pole of division)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


seeds = st.integers(0, 2**31 - 1)


@SETTINGS
@given(
    op=st.sampled_from(sorted(BINARY)),
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    seed=seeds,
)
def test_broadcast_binary_ops(op, shapes, seed):
    fn, reference = BINARY[op]
    shape_a, shape_b = shapes.input_shapes
    a = _values(shape_a, seed)
    b = _denominator(shape_b, seed + 1) if op == "div" else _values(shape_b, seed + 1)
    ta, tb = mf.tensor(a, requires_grad=True), mf.tensor(b, requires_grad=True)
    out = fn(ta, tb)
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.numpy(), reference(a, b), rtol=1e-12)
    F.sum(out * _values(shapes.result_shape, seed + 2)).backward()
    assert ta.grad.shape == shape_a and tb.grad.shape == shape_b
    assert mf.gradcheck(fn, a, b)


@SETTINGS
@given(
    op=st.sampled_from(sorted(BINARY)),
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    seed=seeds,
)
def test_broadcast_binary_ops_stay_float32(op, shapes, seed):
    fn, _ = BINARY[op]
    shape_a, shape_b = shapes.input_shapes
    a = mf.tensor(_denominator(shape_a, seed).astype(np.float32), requires_grad=True)
    b = mf.tensor(_denominator(shape_b, seed + 1).astype(np.float32), requires_grad=True)
    out = fn(a, b)
    F.sum(out).backward()
    assert out.dtype == a.grad.dtype == b.grad.dtype == np.float32


def _shape_and_axis(min_dims=1):
    return hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=4).flatmap(
        lambda shape: st.tuples(
            st.just(shape),
            st.one_of(
                st.none(),
                st.integers(-len(shape), len(shape) - 1),
                st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True).map(tuple),
            ),
            st.booleans(),
        )
    )


@SETTINGS
@given(case=_shape_and_axis(), op=st.sampled_from(["sum", "mean"]), seed=seeds)
def test_sum_and_mean_random_axes(case, op, seed):
    shape, axis, keepdims = case
    x = _values(shape, seed)
    fn = lambda t: getattr(F, op)(t, axis, keepdims)  # noqa: E731
    out = fn(mf.tensor(x))
    expected = getattr(np, op)(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    t = mf.tensor(x, requires_grad=True)
    F.sum(fn(t)).backward()
    assert t.grad.shape == shape
    assert mf.gradcheck(fn, x)


@SETTINGS
@given(case=_shape_and_axis(), op=st.sampled_from(["max", "min"]), seed=seeds)
def test_max_and_min_random_axes(case, op, seed):
    shape, axis, keepdims = case
    size = int(np.prod(shape))
    x = np.random.default_rng(seed).permutation(np.linspace(-2.0, 2.0, size)).reshape(shape)  # no ties
    fn = lambda t: getattr(F, op)(t, axis, keepdims)  # noqa: E731
    out = fn(mf.tensor(x))
    expected = getattr(np, op)(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_array_equal(out.numpy(), expected)
    t = mf.tensor(x, requires_grad=True)
    F.sum(fn(t)).backward()
    assert t.grad.shape == shape
    # each reduced slice sends exactly one unit of gradient to its extremum
    assert t.grad.numpy().sum() == pytest.approx(np.size(expected))
    assert mf.gradcheck(fn, x)


@SETTINGS
@given(
    batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
    m=st.integers(1, 3),
    k=st.integers(1, 3),
    n=st.integers(1, 3),
    seed=seeds,
)
def test_matmul_batch_dimensions(batch, m, k, n, seed):
    batch_a, batch_b = batch.input_shapes
    a = _values(batch_a + (m, k), seed)
    b = _values(batch_b + (k, n), seed + 1)
    ta, tb = mf.tensor(a, requires_grad=True), mf.tensor(b, requires_grad=True)
    out = ta @ tb
    assert out.shape == batch.result_shape + (m, n)
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-12, atol=1e-12)
    F.sum(out * _values(out.shape, seed + 2)).backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    assert mf.gradcheck(F.matmul, a, b)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds)
def test_reshape_and_transpose_roundtrip_gradients(shape, seed):
    x = _values(shape, seed)
    perm = tuple(np.random.default_rng(seed).permutation(len(shape)))
    fn = lambda t: F.reshape(F.transpose(t, perm), (-1,)) ** 2  # noqa: E731
    np.testing.assert_allclose(fn(mf.tensor(x)).numpy(), (x.transpose(perm).reshape(-1)) ** 2, rtol=1e-12)
    t = mf.tensor(x, requires_grad=True)
    F.sum(fn(t)).backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * x, rtol=1e-12)


@SETTINGS
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
    seed=seeds,
    data=st.data(),
)
def test_integer_indexing_accumulates_like_bincount(shape, seed, data):
    x = _values(shape, seed)
    index = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=8)))
    t = mf.tensor(x, requires_grad=True)
    F.sum(t[index]).backward()
    counts = np.bincount(index, minlength=shape[0]).astype(float)
    np.testing.assert_array_equal(
        t.grad.numpy(), np.broadcast_to(counts.reshape((-1,) + (1,) * (len(shape) - 1)), shape)
    )


@SETTINGS
@given(x=st.floats(-3.0, 3.0), y=st.floats(0.2, 3.0))
def test_elementary_functions_pointwise(x, y):
    f = lambda a, b: F.sin(a) * F.log(b) + F.exp(a * 0.5) / b + F.sqrt(b) * a**2  # noqa: E731
    assert mf.gradcheck(f, np.array(x), np.array(y))
    assert mf.gradgradcheck(f, np.array(x), np.array(y))
