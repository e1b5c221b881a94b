"""Shape operations and reductions: values, first and second derivatives, axis handling, errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F


def _u(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, shape)


def _distinct(shape, seed=0):
    """A random permutation of well-separated values, so max/min have no ties."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(np.linspace(-1.0, 1.0, n)).reshape(shape)


X = _u((2, 3, 4))
D = _distinct((2, 3, 4))

CASES: dict[str, tuple[Callable, tuple[np.ndarray, ...], Callable]] = {
    # shape
    "reshape": (lambda x: F.reshape(x, (4, 6)), (X,), lambda x: x.reshape(4, 6)),
    "reshape_infer": (lambda x: F.reshape(x, (-1, 2)), (X,), lambda x: x.reshape(-1, 2)),
    "reshape_int": (lambda x: F.reshape(x, 24), (X,), lambda x: x.reshape(24)),
    "transpose_default": (F.transpose, (X,), np.transpose),
    "transpose_axes": (lambda x: F.transpose(x, (1, 2, 0)), (X,), lambda x: x.transpose(1, 2, 0)),
    "transpose_negative_axes": (lambda x: F.transpose(x, (-1, 0, 1)), (X,), lambda x: x.transpose(2, 0, 1)),
    "swapaxes": (lambda x: F.swapaxes(x, 0, 2), (X,), lambda x: np.swapaxes(x, 0, 2)),
    "swapaxes_last_two": (lambda x: F.swapaxes(x, -1, -2), (X,), lambda x: np.swapaxes(x, -1, -2)),
    "broadcast_to": (lambda x: F.broadcast_to(x, (2, 3, 4)), (_u((3, 1)),), lambda x: np.broadcast_to(x, (2, 3, 4))),
    "broadcast_scalar": (lambda x: F.broadcast_to(x, (2, 2)), (np.array(0.3),), lambda x: np.broadcast_to(x, (2, 2))),
    "sum_to": (lambda x: F.sum_to(x, (3, 1)), (X,), lambda x: x.sum(axis=(0, 2)).reshape(3, 1)),
    "sum_to_leading": (lambda x: F.sum_to(x, (4,)), (X,), lambda x: x.sum(axis=(0, 1))),
    "getitem_slice": (lambda x: x[:, 1:, ::2], (X,), lambda x: x[:, 1:, ::2]),
    "getitem_int": (lambda x: x[1, -1], (X,), lambda x: x[1, -1]),
    "getitem_ellipsis": (lambda x: x[..., 2], (X,), lambda x: x[..., 2]),
    "getitem_newaxis": (lambda x: x[:, None, 0], (X,), lambda x: x[:, None, 0]),
    "getitem_repeats": (lambda x: x[np.array([1, 1, 0])], (X,), lambda x: x[np.array([1, 1, 0])]),
    "getitem_pairs": (
        lambda x: x[np.array([0, 1, 0]), np.array([2, 2, 2])],
        (X,),
        lambda x: x[np.array([0, 1, 0]), np.array([2, 2, 2])],
    ),
    "getitem_mask": (lambda x: x[X > 0], (X,), lambda x: x[X > 0]),
    "concat": (
        lambda a, b: F.concat([a, b], axis=1),
        (X, _u((2, 2, 4), seed=1)),
        lambda a, b: np.concatenate([a, b], 1),
    ),
    "concat_negative_axis": (
        lambda a, b: F.concat([a, b, a], axis=-1),
        (X, _u((2, 3, 1), seed=1)),
        lambda a, b: np.concatenate([a, b, a], -1),
    ),
    "stack": (lambda a, b: F.stack([a, b]), (X, _u((2, 3, 4), seed=1)), lambda a, b: np.stack([a, b])),
    "stack_last": (
        lambda a, b: F.stack([a, b], axis=-1),
        (X, _u((2, 3, 4), seed=1)),
        lambda a, b: np.stack([a, b], -1),
    ),
    "flatten": (F.flatten, (X,), lambda x: x.reshape(2, -1)),
    "flatten_all": (lambda x: F.flatten(x, 0), (X,), lambda x: x.reshape(-1)),
    "astype_float32_roundtrip": (
        lambda x: F.astype(F.astype(x, np.float32), np.float64),
        (np.array([0.5, -1.25, 2.0]),),  # exactly representable in float32
        lambda x: x,
    ),
    # reductions
    "sum_all": (F.sum, (X,), np.sum),
    "sum_axis0": (lambda x: F.sum(x, 0), (X,), lambda x: x.sum(0)),
    "sum_axis_negative": (lambda x: F.sum(x, -1), (X,), lambda x: x.sum(-1)),
    "sum_axes_keepdims": (lambda x: F.sum(x, (0, 2), keepdims=True), (X,), lambda x: x.sum((0, 2), keepdims=True)),
    "mean_all": (F.mean, (X,), np.mean),
    "mean_axis1": (lambda x: F.mean(x, 1), (X,), lambda x: x.mean(1)),
    "mean_axes_keepdims": (lambda x: F.mean(x, (1, 2), keepdims=True), (X,), lambda x: x.mean((1, 2), keepdims=True)),
    "max_all": (F.max, (D,), np.max),
    "max_axis": (lambda x: F.max(x, 1), (D,), lambda x: x.max(1)),
    "max_keepdims": (lambda x: F.max(x, -1, keepdims=True), (D,), lambda x: x.max(-1, keepdims=True)),
    "max_axes": (lambda x: F.max(x, (0, 2)), (D,), lambda x: x.max((0, 2))),
    "min_all": (F.min, (D,), np.min),
    "min_axis": (lambda x: F.min(x, 2), (D,), lambda x: x.min(2)),
    "min_keepdims": (lambda x: F.min(x, 0, keepdims=True), (D,), lambda x: x.min(0, keepdims=True)),
    # compositions, so that second derivatives are not trivially zero
    "sum_of_squares_axis": (lambda x: F.sum(x * x, 1), (X,), lambda x: (x * x).sum(1)),
    "max_of_cube": (lambda x: F.max(x**3, 0), (D,), lambda x: (x**3).max(0)),
    "getitem_repeats_cubed": (lambda x: x[np.array([1, 1, 0])] ** 3, (X,), lambda x: x[np.array([1, 1, 0])] ** 3),
    "concat_product": (
        lambda a, b: F.concat([a * b, b], axis=0),
        (_u((2, 3)), _u((2, 3), seed=1)),
        lambda a, b: np.concatenate([a * b, b], 0),
    ),
    "mean_exp": (lambda x: F.mean(F.exp(x), (0, 1)), (X,), lambda x: np.exp(x).mean((0, 1))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_numpy(name):
    f, xs, reference = CASES[name]
    out = f(*[mf.tensor(x) for x in xs])
    expected = reference(*xs)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


# a float32 detour rounds x ± 1e-6 away; a wider step still differentiates the identity exactly
GRADCHECK_OPTIONS = {"astype_float32_roundtrip": {"eps": 1e-2}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    f, xs, _ = CASES[name]
    assert mf.gradcheck(f, *xs, **GRADCHECK_OPTIONS.get(name, {}))


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(name):
    f, xs, _ = CASES[name]
    assert mf.gradgradcheck(f, *xs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_and_recorded_backward_agree(name):
    f, xs, reference = CASES[name]
    weights = _u(np.shape(reference(*xs)), seed=7)
    fast = [mf.tensor(x, requires_grad=True) for x in xs]
    F.sum(f(*fast) * weights).backward()
    recorded = [mf.tensor(x, requires_grad=True) for x in xs]
    F.sum(f(*recorded) * weights).backward(create_graph=True)
    for a, b in zip(fast, recorded):
        assert a.grad.shape == a.shape
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- specific behaviour
def test_max_shares_gradient_among_ties():
    x = mf.tensor(np.array([1.0, 3.0, 3.0, 2.0]), requires_grad=True)
    F.max(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])


def test_min_gradient_goes_to_the_argmin_per_row():
    x = mf.tensor(np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]]), requires_grad=True)
    F.min(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])


def test_mean_gradient_is_one_over_n():
    x = mf.tensor(np.ones((4, 5)), requires_grad=True)
    F.mean(x, axis=0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((4, 5), 0.25))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_reduction_shapes(op, axis, keepdims):
    x = _distinct((3, 4), seed=2)
    out = getattr(F, op)(mf.tensor(x), axis, keepdims)
    expected = getattr(np, op)(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_reshape_returns_same_tensor_when_shape_unchanged():
    x = mf.tensor(np.ones((2, 3)))
    assert F.reshape(x, (2, 3)) is x


def test_stack_and_concat_split_gradients_back():
    a = mf.tensor(np.ones(2), requires_grad=True)
    b = mf.tensor(np.ones(3), requires_grad=True)
    (F.concat([a, b]) * mf.tensor(np.arange(5.0))).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [2, 3, 4])


def test_astype_gradient_returns_to_the_input_dtype():
    x = mf.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = F.astype(x, np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_sum_to_is_the_adjoint_of_broadcast_to():
    x = _u((3, 1), seed=3)
    y = _u((2, 3, 4), seed=4)
    lhs = np.sum(F.broadcast_to(mf.tensor(x), (2, 3, 4)).numpy() * y)
    rhs = np.sum(x * F.sum_to(mf.tensor(y), (3, 1)).numpy())
    assert lhs == pytest.approx(rhs, rel=1e-12)


# --------------------------------------------------------------------------- errors
def test_reshape_to_wrong_size_names_shapes():
    with pytest.raises(mf.ShapeError) as info:
        F.reshape(mf.tensor(np.ones((2, 3))), (4, 2))
    message = str(info.value)
    assert "reshape" in message and "(2, 3)" in message and "(4, 2)" in message


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis", [2, -3, (0, 5)])
def test_reduction_bad_axis(op, axis):
    with pytest.raises(mf.ShapeError, match="axis"):
        getattr(F, op)(mf.tensor(np.ones((2, 3))), axis)


def test_transpose_bad_axes():
    with pytest.raises(mf.ShapeError, match="transpose"):
        F.transpose(mf.tensor(np.ones((2, 3))), (0, 5))
    with pytest.raises(mf.ShapeError, match="transpose"):
        F.transpose(mf.tensor(np.ones((2, 3))), (0, 0))


def test_swapaxes_bad_axis():
    with pytest.raises(mf.ShapeError, match="swapaxes"):
        F.swapaxes(mf.tensor(np.ones((2, 3))), 0, 2)


def test_broadcast_to_incompatible_shape():
    with pytest.raises(mf.ShapeError, match=r"\(2, 3\).*\(4, 3\)"):
        F.broadcast_to(mf.tensor(np.ones((2, 3))), (4, 3))


def test_concat_mismatched_shapes():
    with pytest.raises(mf.ShapeError, match="concat"):
        F.concat([mf.tensor(np.ones((2, 3))), mf.tensor(np.ones((2, 4)))], axis=0)


def test_stack_needs_equal_shapes():
    with pytest.raises(mf.ShapeError, match="stack"):
        F.stack([mf.tensor(np.ones(2)), mf.tensor(np.ones(3))])


def test_empty_concat_and_stack():
    with pytest.raises(mf.ShapeError):
        F.concat([])
    with pytest.raises(mf.ShapeError):
        F.stack([])


def test_max_of_empty_tensor():
    with pytest.raises(mf.ShapeError, match="empty"):
        F.max(mf.tensor(np.ones((0, 3))))
