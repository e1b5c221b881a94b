"""The checkers themselves: gradcheck and gradgradcheck accept right derivatives and catch wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F
from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor


class ScaledSquare(Function):
    """y = x²; backward returns ``factor``·2x·∂L/∂y (correct only for factor 1)."""

    def __init__(self, factor: float = 1.0):
        self.factor = factor

    def forward(self, x):
        return x * x

    def backward(self, gy):
        (x,) = self.inputs
        return gy * x * (2.0 * self.factor)


class WrongAtOneElement(Function):
    """y = a ⊙ b whose gradient for b is wrong at flat element ``bad`` only."""

    def __init__(self, bad: int):
        self.bad = bad

    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        wrong = np.ones(b.shape)
        wrong.reshape(-1)[self.bad] = 3.0
        return gy * b, gy * a * Tensor._wrap(wrong)


class FrozenBackwardSin(Function):
    """y = sin x with a backward that is right to first order but built from raw arrays,
    so its own derivative is lost (second derivative reads as zero)."""

    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * Tensor._wrap(np.cos(x.data))


def test_correct_derivatives_pass():
    assert mf.gradcheck(lambda x: ScaledSquare()(x), np.array([0.5, -1.0, 2.0])) is True
    assert mf.gradgradcheck(lambda x: ScaledSquare()(x), np.array([0.5, -1.0, 2.0])) is True


def test_wrong_first_derivative_is_caught():
    with pytest.raises(mf.GradcheckError):
        mf.gradcheck(lambda x: ScaledSquare(1.01)(x), np.array([0.5, -1.0, 2.0]))


def test_error_message_names_input_element_and_output():
    a = np.arange(1.0, 7.0).reshape(2, 3)
    b = np.arange(2.0, 8.0).reshape(2, 3)
    with pytest.raises(mf.GradcheckError) as info:
        mf.gradcheck(lambda x, y: WrongAtOneElement(bad=4)(x, y), a, b)
    message = str(info.value)
    assert "input 1" in message
    assert "element (1, 1)" in message  # flat index 4 of a (2, 3) array
    assert "output 4" in message
    assert "autodiff" in message and "finite differences" in message


def test_gradcheck_error_is_assertion_and_mathflow_error():
    with pytest.raises(AssertionError):
        mf.gradcheck(lambda x: ScaledSquare(2.0)(x), np.array([1.0]))
    with pytest.raises(mf.MathflowError):
        mf.gradcheck(lambda x: ScaledSquare(2.0)(x), np.array([1.0]))


def test_wrong_second_derivative_is_caught_only_by_gradgradcheck():
    x = np.array([0.3, 1.2])
    f = lambda t: FrozenBackwardSin()(t)  # noqa: E731
    assert mf.gradcheck(f, x)
    with pytest.raises(mf.GradcheckError):
        mf.gradgradcheck(f, x)
    assert mf.gradgradcheck(F.sin, x)


def test_tolerances_are_honoured():
    f = lambda x: ScaledSquare(1.001)(x)  # noqa: E731  # gradient off by 0.1 %
    x = np.array([1.0, 2.0])
    with pytest.raises(mf.GradcheckError):
        mf.gradcheck(f, x)
    assert mf.gradcheck(f, x, rtol=1e-2)
    assert mf.gradcheck(f, x, atol=1e-2)


def test_step_size_is_honoured():
    # a cubic's central difference has error ε²; a huge step makes it visible
    f = lambda x: x**3  # noqa: E731
    assert mf.gradcheck(f, np.array([1.0]))
    with pytest.raises(mf.GradcheckError):
        mf.gradcheck(f, np.array([1.0]), eps=0.1)


def test_inputs_are_not_modified_and_may_be_tensors_or_float32():
    x = np.array([0.5, 1.5], dtype=np.float32)
    t = mf.tensor(np.array([0.25, -0.75]))
    assert mf.gradcheck(lambda a, b: F.exp(a) * b, x, t)
    np.testing.assert_array_equal(x, np.array([0.5, 1.5], dtype=np.float32))
    np.testing.assert_array_equal(t.numpy(), [0.25, -0.75])
    assert t.grad is None


def test_unused_input_has_zero_jacobian():
    assert mf.gradcheck(lambda a, b: a * 2.0, np.array([1.0]), np.array([3.0]))


def test_constant_function():
    assert mf.gradcheck(lambda a: mf.tensor(np.array([1.0, 2.0])), np.array([1.0]))


def test_scalar_inputs_and_outputs():
    assert mf.gradcheck(lambda a, b: a * F.sin(b), 0.7, np.array(0.2))
    assert mf.gradgradcheck(lambda a, b: a * F.sin(b), 0.7, np.array(0.2))


def test_gradgradcheck_with_several_inputs():
    a = np.array([[0.5, -0.2], [0.1, 0.9]])
    b = np.array([0.3, -0.4])
    assert mf.gradgradcheck(lambda m, v: F.exp(m @ v) * v, a, b)
