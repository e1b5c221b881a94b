"""The worked examples of the mathematical specification, computed with mathflow.

Linear-algebra objects and operations, derivatives, partial derivatives, gradients, the chain
rule, Hessians, convexity, gradient descent and Taylor series, each with the numbers the
specification gives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F

SAMPLES = np.random.default_rng(582).uniform(-5.0, 5.0, 25)


# --------------------------------------------------------------------------- objects
def test_scalar():
    x = mf.tensor(5.0)
    assert x.ndim == 0 and x.shape == () and x.item() == 5.0


def test_vector():
    v = mf.tensor([1, 3, 5])
    assert v.shape == (3,)
    np.testing.assert_array_equal(v.numpy(), [1, 3, 5])


def test_matrix():
    a = mf.tensor([[1, 2], [3, 4]])
    assert a.shape == (2, 2)
    assert a[1, 0].item() == 3  # a₂₁: second row, first column


def test_tensor_of_rank_three():
    t = mf.tensor(np.arange(8.0).reshape(2, 2, 2))
    assert t.shape == (2, 2, 2) and t.ndim == 3 and t.size == 8
    assert t[1, 0, 1].item() == 5.0
    # a rank-3 tensor is also differentiable like any other
    t.requires_grad_()
    (t * t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), 2 * np.arange(8.0).reshape(2, 2, 2))


# --------------------------------------------------------------------------- vector and matrix operations
def test_vector_addition():
    out = mf.tensor([1, 2]) + mf.tensor([3, 4])
    np.testing.assert_array_equal(out.numpy(), [4, 6])


def test_matrix_addition():
    out = mf.tensor([[1, 2], [3, 4]]) + mf.tensor([[5, 6], [7, 8]])
    np.testing.assert_array_equal(out.numpy(), [[6, 8], [10, 12]])


def test_scalar_multiplication():
    a = mf.tensor([[1, 2], [3, 4]])
    expected = [[3, 6], [9, 12]]
    np.testing.assert_array_equal((3 * a).numpy(), expected)
    np.testing.assert_array_equal((a * 3).numpy(), expected)
    np.testing.assert_array_equal(F.mul(3.0, a).numpy(), expected)


def test_matrix_vector_multiplication():
    a = mf.tensor([[1, 2], [3, 4]])
    v = mf.tensor([5, 6])
    np.testing.assert_array_equal((a @ v).numpy(), [17, 39])
    np.testing.assert_array_equal(F.matmul(a, v).numpy(), [17, 39])


def test_dot_product():
    assert F.dot(mf.tensor([1, 2]), mf.tensor([3, 4])).item() == 11
    assert (mf.tensor([1, 2]) @ mf.tensor([3, 4])).item() == 11


def test_outer_product():
    np.testing.assert_array_equal(F.outer(mf.tensor([1, 2]), mf.tensor([3, 4])).numpy(), [[3, 4], [6, 8]])


def test_transpose():
    a = mf.tensor([[1, 2], [3, 4]])
    np.testing.assert_array_equal(a.T.numpy(), [[1, 3], [2, 4]])
    np.testing.assert_array_equal(F.transpose(a).numpy(), [[1, 3], [2, 4]])


def test_matrix_vector_product_gradients():
    """∂(Av)/∂v = A and ∂(uᵀAv)/∂A = u vᵀ for the example matrix."""
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    v = np.array([5.0, 6.0])
    np.testing.assert_allclose(mf.jacobian(lambda t: mf.tensor(a) @ t)(v).numpy(), a)
    u = np.array([1.0, -1.0])
    g = mf.grad(lambda m: mf.tensor(u) @ (m @ mf.tensor(v)))(a)
    np.testing.assert_allclose(g.numpy(), np.outer(u, v))


# --------------------------------------------------------------------------- derivatives and gradients
@pytest.mark.parametrize("x", [-3.0, 0.0, 0.5, 2.0, 7.25])
def test_derivative_of_x_squared_is_2x(x):
    assert mf.grad(lambda t: t**2)(np.array(x)).item() == pytest.approx(2 * x)
    t = mf.tensor(np.array(x), requires_grad=True)
    (t * t).backward()
    assert t.grad.item() == pytest.approx(2 * x)


def test_derivative_of_x_squared_matches_the_limit_definition():
    x, h = 1.7, 1e-7
    limit = ((x + h) ** 2 - x**2) / h
    assert mf.grad(lambda t: t**2)(np.array(x)).item() == pytest.approx(limit, rel=1e-6)


@pytest.mark.parametrize("x, y", [(1.0, 2.0), (-1.5, 0.5), (3.0, -2.0)])
def test_partial_derivatives(x, y):
    """f(x, y) = x²y + 3y²: ∂f/∂x = 2xy, ∂f/∂y = x² + 6y."""
    f = lambda a, b: a**2 * b + 3 * b**2  # noqa: E731
    dx, dy = mf.grad(f, argnums=(0, 1))(np.array(x), np.array(y))
    assert dx.item() == pytest.approx(2 * x * y)
    assert dy.item() == pytest.approx(x**2 + 6 * y)


@pytest.mark.parametrize("point", [(1.0, 2.0), (-3.0, 0.5), (0.0, 0.0)])
def test_gradient_of_sum_of_squares(point):
    """∇(x² + y²) = (2x, 2y)."""
    g = mf.grad(lambda v: (v**2).sum())(np.array(point))
    assert g.shape == (2,)
    np.testing.assert_allclose(g.numpy(), 2 * np.array(point))


@pytest.mark.parametrize("x", [-1.3, 0.0, 0.4, 1.0, 2.5])
def test_chain_rule(x):
    """d/dx sin(x²) = cos(x²)·2x."""
    d = mf.grad(lambda t: F.sin(t**2))(np.array(x)).item()
    assert d == pytest.approx(2 * x * math.cos(x**2), abs=1e-12)


def test_chain_rule_step_by_step():
    """dz/dx = dz/dy · dy/dx with y = x², z = sin y."""
    x = mf.tensor(np.array(0.8), requires_grad=True)
    y = x**2
    z = F.sin(y)
    (dz_dy,) = mf.autograd(z, [y], retain_graph=True)
    (dy_dx,) = mf.autograd(y, [x], retain_graph=True)
    assert dz_dy.item() == pytest.approx(math.cos(0.64))
    assert dy_dx.item() == pytest.approx(1.6)
    z.backward()
    assert x.grad.item() == pytest.approx(dz_dy.item() * dy_dx.item())


@pytest.mark.parametrize("point", [(1.0, 2.0), (-0.5, 3.0), (0.0, -1.0)])
def test_hessian_of_sum_of_cubes(point):
    """f(x, y) = x³ + y³: H = [[6x, 0], [0, 6y]]."""
    h = mf.hessian(lambda v: v[0] ** 3 + v[1] ** 3)(np.array(point))
    x, y = point
    np.testing.assert_allclose(h.numpy(), [[6 * x, 0.0], [0.0, 6 * y]])


# --------------------------------------------------------------------------- convexity and optimization
def square(x):
    return x**2


@pytest.mark.parametrize("lam", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_x_squared_is_convex(lam):
    """f(λa + (1−λ)b) ≤ λf(a) + (1−λ)f(b) on sampled pairs."""
    a = mf.tensor(SAMPLES)
    b = mf.tensor(SAMPLES[::-1].copy())
    left = square(a * lam + b * (1 - lam)).numpy()
    right = (square(a) * lam + square(b) * (1 - lam)).numpy()
    assert np.all(left <= right + 1e-12)


def test_first_order_condition_for_convexity():
    """f(y) ≥ f(x) + f′(x)(y − x), and the gap is exactly (y − x)² for x²."""
    for x in SAMPLES[:10]:
        slope = mf.grad(square)(np.array(x)).item()
        for y in SAMPLES[10:]:
            tangent = x**2 + slope * (y - x)
            assert y**2 >= tangent - 1e-12
            assert y**2 - tangent == pytest.approx((y - x) ** 2, abs=1e-9)


def test_one_gradient_descent_step():
    """x ← x − η∇f(x) with f = x², x = 4, η = 0.1 gives 3.2."""
    x = mf.tensor(np.array(4.0), requires_grad=True)
    square(x).backward()
    with mf.no_grad():
        x_new = x - 0.1 * x.grad
    assert x_new.item() == pytest.approx(3.2)
    assert 4 - 0.1 * 2 * 4 == pytest.approx(x_new.item())


def test_gradient_descent_converges_to_the_minimum():
    x = mf.tensor(np.array(4.0), requires_grad=True)
    values = []
    for _ in range(100):
        x.zero_grad()
        loss = square(x)
        values.append(loss.item())
        loss.backward()
        with mf.no_grad():
            x = (x - 0.1 * x.grad).detach().requires_grad_()
    assert abs(x.item()) < 1e-8  # x_k = 4 · 0.8ᵏ
    assert x.item() == pytest.approx(4 * 0.8**100)
    assert all(later < earlier for earlier, later in zip(values, values[1:]))


# --------------------------------------------------------------------------- Taylor series
def test_taylor_coefficients_of_exp_at_zero():
    """eˣ ≈ 1 + x + x²/2! + x³/3! + …: coefficients 1/k!."""
    p = mf.taylor(F.exp, 0.0, 5)
    derivatives = [float(d) for d in p.coefficients()]
    coefficients = [d / math.factorial(k) for k, d in enumerate(derivatives)]
    np.testing.assert_allclose(coefficients, [1 / math.factorial(k) for k in range(6)], rtol=1e-12)
    assert str(mf.taylor(F.exp, 0.0, 3)) == "1 + x + 0.5*x**2 + 0.166667*x**3"


def test_taylor_polynomial_of_exp_approximates_e_to_the_half():
    p = mf.taylor(F.exp, 0.0, 6)
    value = p(0.5).item()
    partial_sum = sum(0.5**k / math.factorial(k) for k in range(7))
    assert value == pytest.approx(partial_sum, rel=1e-12)
    assert abs(value - math.exp(0.5)) < 0.5**7 / math.factorial(7) * math.exp(0.5)  # Lagrange remainder
    assert mf.taylor(F.exp, 0.0, 10)(0.5).item() == pytest.approx(math.exp(0.5), rel=1e-10)


def test_taylor_first_terms_match_the_general_formula():
    """f(a) + f′(a)(x − a) + f″(a)/2! (x − a)² for f = sin around a = 1."""
    a, x = 1.0, 1.3
    p = mf.taylor(F.sin, a, 2)
    expected = math.sin(a) + math.cos(a) * (x - a) - math.sin(a) / 2 * (x - a) ** 2
    assert p(x).item() == pytest.approx(expected, rel=1e-12)
