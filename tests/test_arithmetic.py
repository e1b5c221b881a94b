"""Element-wise arithmetic and matrix products: values, first and second derivatives, errors.

Derivatives are compared with central finite differences in float64 (``mf.gradcheck``) and the
gradient of the gradient likewise (``mf.gradgradcheck``). Inputs stay away from kinks
(|x| at 0, ties of max/min, clip bounds) and outside-of-domain points.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F


def _u(shape, low=-1.0, high=1.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def _away_from_zero(shape, seed=0):
    """Values with |x| in [0.3, 1.5] and random sign."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def _separated_pair(shape, seed=0):
    """Two arrays whose element-wise difference is at least 0.2 in size (no ties for max/min)."""
    a = _u(shape, seed=seed)
    return a, a + _away_from_zero(shape, seed + 1) * 0.5


_PA, _PB = _separated_pair((2, 3), seed=4)

# name -> (function of the inputs, inputs, expected value from numpy)
CASES: dict[str, tuple[Callable, tuple[np.ndarray, ...], Callable]] = {
    "add": (F.add, (_u((2, 3)), _u((2, 3), seed=1)), np.add),
    "add_broadcast": (F.add, (_u((2, 3)), _u((3,), seed=1)), np.add),
    "add_broadcast_both": (F.add, (_u((2, 1)), _u((1, 3), seed=1)), np.add),
    "sub": (F.sub, (_u((2, 3)), _u((2, 1), seed=1)), np.subtract),
    "mul": (F.mul, (_u((2, 3)), _u((2, 3), seed=1)), np.multiply),
    "mul_broadcast_scalar": (F.mul, (_u((2, 3)), np.array(0.7)), np.multiply),
    "div": (F.div, (_u((2, 3)), _u((3,), 0.5, 2.0, seed=1)), np.divide),
    "pow_scalar": (lambda x: F.pow(x, 3), (_u((2, 3)),), lambda x: x**3),
    "pow_scalar_fractional": (lambda x: F.pow(x, 1.5), (_u((2, 3), 0.3, 2.0),), lambda x: x**1.5),
    "pow_scalar_negative": (lambda x: F.pow(x, -2), (_u((2, 3), 0.5, 2.0),), lambda x: x**-2.0),
    "pow_tensor": (F.pow, (_u((2, 3), 0.5, 2.0), _u((2, 3), -1.5, 2.0, seed=1)), np.power),
    "pow_tensor_broadcast": (F.pow, (_u((2, 3), 0.5, 2.0), _u((3,), -1.0, 2.0, seed=1)), np.power),
    "neg": (F.neg, (_u((2, 3)),), np.negative),
    "exp": (F.exp, (_u((2, 3)),), np.exp),
    "log": (F.log, (_u((2, 3), 0.2, 3.0),), np.log),
    "log1p": (F.log1p, (_u((2, 3), -0.5, 2.0),), np.log1p),
    "sqrt": (F.sqrt, (_u((2, 3), 0.2, 3.0),), np.sqrt),
    "abs": (F.abs, (_away_from_zero((2, 3)),), np.abs),
    "sin": (F.sin, (_u((2, 3), -3.0, 3.0),), np.sin),
    "cos": (F.cos, (_u((2, 3), -3.0, 3.0),), np.cos),
    "tan": (F.tan, (_u((2, 3), -1.2, 1.2),), np.tan),
    "square": (F.square, (_u((2, 3)),), np.square),
    "where": (
        lambda a, b: F.where(np.array([[True, False, True], [False, False, True]]), a, b),
        (_u((2, 3)), _u((2, 3), seed=1)),
        lambda a, b: np.where(np.array([[True, False, True], [False, False, True]]), a, b),
    ),
    "where_broadcast": (
        lambda a, b: F.where(np.array([[True, False, True], [False, False, True]]), a, b),
        (_u((1, 3)), _u((2, 1), seed=1)),
        lambda a, b: np.where(np.array([[True, False, True], [False, False, True]]), a, b),
    ),
    "maximum": (F.maximum, (_PA, _PB), np.maximum),
    "minimum": (F.minimum, (_PA, _PB), np.minimum),
    "maximum_scalar": (lambda x: F.maximum(x, 0.0), (_away_from_zero((2, 3)),), lambda x: np.maximum(x, 0.0)),
    "clip": (
        lambda x: F.clip(x, -0.5, 0.5),
        (np.array([[-1.0, -0.3, 0.1], [0.45, 0.8, -0.6]]),),
        lambda x: np.clip(x, -0.5, 0.5),
    ),
    "clip_low_only": (lambda x: F.clip(x, low=0.0), (_away_from_zero((2, 3)),), lambda x: np.clip(x, 0.0, None)),
    "composite": (
        lambda x, y: F.exp(F.sin(x) * y) / (1.0 + F.square(y)) - F.log(F.abs(x) + 1.0) * 2.0,
        (_away_from_zero((2, 3)), _u((2, 3), seed=1)),
        lambda x, y: np.exp(np.sin(x) * y) / (1.0 + y**2) - np.log(np.abs(x) + 1.0) * 2.0,
    ),
    # products
    "matmul_1d_1d": (F.matmul, (_u((4,)), _u((4,), seed=1)), np.matmul),
    "matmul_2d_1d": (F.matmul, (_u((3, 4)), _u((4,), seed=1)), np.matmul),
    "matmul_1d_2d": (F.matmul, (_u((3,)), _u((3, 4), seed=1)), np.matmul),
    "matmul_2d_2d": (F.matmul, (_u((2, 3)), _u((3, 4), seed=1)), np.matmul),
    "matmul_batched": (F.matmul, (_u((2, 2, 3)), _u((2, 3, 2), seed=1)), np.matmul),
    "matmul_broadcast_batch": (F.matmul, (_u((2, 1, 2, 3)), _u((3, 3, 2), seed=1)), np.matmul),
    "matmul_batched_with_matrix": (F.matmul, (_u((2, 2, 3)), _u((3, 2), seed=1)), np.matmul),
    "matmul_batched_with_vector": (F.matmul, (_u((2, 2, 3)), _u((3,), seed=1)), np.matmul),
    "dot_vectors": (F.dot, (_u((5,)), _u((5,), seed=1)), np.dot),
    "dot_matrices": (F.dot, (_u((2, 3)), _u((3, 2), seed=1)), np.dot),
    "outer": (F.outer, (_u((3,)), _u((4,), seed=1)), np.outer),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_numpy(name):
    f, xs, reference = CASES[name]
    out = f(*[mf.tensor(x) for x in xs])
    expected = reference(*xs)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    f, xs, _ = CASES[name]
    assert mf.gradcheck(f, *xs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(name):
    f, xs, _ = CASES[name]
    assert mf.gradgradcheck(f, *xs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_have_input_shapes(name):
    f, xs, _ = CASES[name]
    ts = [mf.tensor(x, requires_grad=True) for x in xs]
    F.sum(f(*ts)).backward()
    for t in ts:
        assert t.grad is not None and t.grad.shape == t.shape


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_and_recorded_backward_agree(name):
    """The raw-array backward (no graph) and the recorded backward give the same gradient."""
    f, xs, _ = CASES[name]
    weights = _u(np.shape(CASES[name][2](*xs)), seed=9)
    fast = [mf.tensor(x, requires_grad=True) for x in xs]
    F.sum(f(*fast) * weights).backward()
    recorded = [mf.tensor(x, requires_grad=True) for x in xs]
    F.sum(f(*recorded) * weights).backward(create_graph=True)
    for a, b in zip(fast, recorded):
        assert not a.grad.requires_grad
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- specific derivatives
def test_abs_derivative_is_sign():
    x = mf.tensor(np.array([-2.0, 3.0]), requires_grad=True)
    F.abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 1.0])


def test_maximum_tie_sends_gradient_to_first_operand():
    a = mf.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = mf.tensor(np.array([1.0, 3.0]), requires_grad=True)
    F.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 1.0])


def test_clip_gradient_is_zero_outside_the_bounds():
    x = mf.tensor(np.array([-2.0, 0.0, 2.0]), requires_grad=True)
    F.clip(x, -1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


def test_where_condition_from_tensor():
    x = mf.tensor(np.array([-1.0, 2.0]), requires_grad=True)
    F.where(x > 0, x, x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 1.0])


def test_pow_tensor_exponent_gradient_is_a_to_the_b_log_a():
    a = mf.tensor(np.array(2.0), requires_grad=True)
    b = mf.tensor(np.array(3.0), requires_grad=True)
    (a**b).backward()
    assert a.grad.item() == pytest.approx(12.0)
    assert b.grad.item() == pytest.approx(8.0 * np.log(2.0))


def test_sign_is_constant():
    x = mf.tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
    s = F.sign(x)
    np.testing.assert_array_equal(s.numpy(), [-1, 0, 1])
    assert not s.requires_grad


def test_dot_of_vectors_is_scalar():
    assert F.dot(mf.tensor([1.0, 2.0]), mf.tensor([3.0, 4.0])).shape == ()


# --------------------------------------------------------------------------- errors
def test_matmul_inner_dimension_message_names_both_shapes():
    with pytest.raises(mf.ShapeError) as info:
        mf.tensor(np.ones((3, 4))) @ mf.tensor(np.ones((5, 2)))
    message = str(info.value)
    assert "(3, 4)" in message and "(5, 2)" in message and "matmul" in message


def test_matmul_vector_mismatch():
    with pytest.raises(mf.ShapeError, match=r"\(3,\).*\(4,\)"):
        F.matmul(mf.tensor(np.ones(3)), mf.tensor(np.ones(4)))


def test_matmul_batch_dimensions_must_broadcast():
    with pytest.raises(mf.ShapeError, match="batch"):
        F.matmul(mf.tensor(np.ones((2, 3, 4))), mf.tensor(np.ones((3, 4, 5))))


def test_matmul_of_a_scalar_is_refused():
    with pytest.raises(mf.ShapeError, match="1-D"):
        F.matmul(mf.tensor(2.0), mf.tensor(np.ones(3)))


def test_dot_length_mismatch():
    with pytest.raises(mf.ShapeError, match="dot"):
        F.dot(mf.tensor([1.0, 2.0]), mf.tensor([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div, F.pow], ids=["add", "sub", "mul", "div", "pow"])
def test_non_broadcastable_shapes(op):
    with pytest.raises(mf.ShapeError) as info:
        op(mf.tensor(np.ones((2, 3))), mf.tensor(np.ones((4,))))
    assert "(2, 3)" in str(info.value) and "(4,)" in str(info.value)


def test_shape_error_is_a_mathflow_error_and_value_error():
    with pytest.raises(mf.MathflowError):
        mf.tensor(np.ones(2)) + mf.tensor(np.ones(3))
    with pytest.raises(ValueError):
        mf.tensor(np.ones(2)) + mf.tensor(np.ones(3))


@pytest.mark.parametrize(
    "op, value",
    [
        (F.log, -1.0),
        (F.log, 0.0),
        (F.log1p, -2.0),
        (F.sqrt, -1.0),
        (lambda x: F.pow(x, 0.5), -4.0),
        (lambda x: F.div(1.0, x), 0.0),
    ],
    ids=["log-negative", "log-zero", "log1p", "sqrt", "pow-fractional", "div-zero"],
)
def test_domain_errors_only_in_checked_mode(op, value):
    x = mf.tensor(np.array([1.0, value]))
    with mf.checked():
        assert mf.is_checked()
        with pytest.raises(mf.DomainError):
            op(x)
    assert not mf.is_checked()
    with np.errstate(all="ignore"):
        out = op(x)  # unchecked: IEEE semantics (nan or inf), no exception
    assert not np.isfinite(out.numpy()[1])


def test_checked_mode_accepts_valid_values():
    with mf.checked():
        out = F.log(mf.tensor([1.0, np.e]))
    np.testing.assert_allclose(out.numpy(), [0.0, 1.0], rtol=1e-6)


def test_domain_error_message_names_the_op():
    with mf.checked(), pytest.raises(mf.DomainError, match="log"):
        F.log(mf.tensor([-1.0]))
