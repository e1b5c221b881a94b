"""Function transforms: grad, jacobian, hessian, hvp, derivatives, taylor, and their compositions."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F


def cubic_sum(x):
    return (x**3).sum()


def rosenbrock(v):
    """f(x, y) = (1 − x)² + 100 (y − x²)²."""
    x, y = v[0], v[1]
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def rosenbrock_hessian(x: float, y: float) -> np.ndarray:
    return np.array([[2 - 400 * (y - x * x) + 800 * x * x, -400 * x], [-400 * x, 200.0]])


# --------------------------------------------------------------------------- grad
class TestGrad:
    def test_grad_of_cubic(self):
        g = mf.grad(cubic_sum)(np.array([1.0, -2.0, 0.5]))
        np.testing.assert_allclose(g.numpy(), 3 * np.array([1.0, 4.0, 0.25]))

    def test_argnums_int(self):
        f = lambda a, b: (a * a * b).sum()  # noqa: E731
        a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
        np.testing.assert_allclose(mf.grad(f, argnums=1)(a, b).numpy(), a * a)
        np.testing.assert_allclose(mf.grad(f, argnums=-2)(a, b).numpy(), 2 * a * b)

    def test_argnums_tuple_returns_a_tuple(self):
        f = lambda a, b: (a * a * b).sum()  # noqa: E731
        a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
        ga, gb = mf.grad(f, argnums=(0, 1))(a, b)
        np.testing.assert_allclose(ga.numpy(), 2 * a * b)
        np.testing.assert_allclose(gb.numpy(), a * a)
        single = mf.grad(f, argnums=(1,))(a, b)
        assert isinstance(single, tuple) and len(single) == 1

    def test_grad_accepts_tensors_and_python_numbers(self):
        assert mf.grad(F.sin)(0.0).item() == pytest.approx(1.0)
        t = mf.tensor(np.array(0.3))
        assert mf.grad(F.exp)(t).item() == pytest.approx(np.exp(0.3))
        assert t.grad is None and not t.requires_grad

    def test_grad_keeps_dtype(self):
        assert mf.grad(cubic_sum)(np.array([1.0], dtype=np.float32)).dtype == np.float32
        assert mf.grad(cubic_sum)(np.array([1.0])).dtype == np.float64

    def test_grad_of_constant_function_is_zero(self):
        g = mf.grad(lambda x: mf.tensor(np.array(3.0)))(np.array([1.0, 2.0]))
        np.testing.assert_array_equal(g.numpy(), [0.0, 0.0])

    def test_grad_of_grad(self):
        d2 = mf.grad(mf.grad(lambda x: x**4))
        assert d2(np.array(2.0)).item() == pytest.approx(48.0)
        d3 = mf.grad(mf.grad(mf.grad(lambda x: F.sin(x) * x)))
        x = 0.7
        assert d3(np.array(x)).item() == pytest.approx(-3 * math.sin(x) - x * math.cos(x))

    def test_grad_result_is_differentiable_in_an_outer_graph(self):
        x = mf.tensor(np.array(1.5), requires_grad=True)
        y = mf.grad(lambda t: t**3)(x) * x  # 3x³
        y.backward()
        assert x.grad.item() == pytest.approx(9 * 1.5**2)

    def test_non_scalar_function_is_refused(self):
        with pytest.raises(mf.GradError, match="jacobian"):
            mf.grad(lambda x: x * 2)(np.array([1.0, 2.0]))

    def test_function_must_return_a_tensor(self):
        with pytest.raises(mf.GradError, match="Tensor"):
            mf.grad(lambda x: 3.0)(np.array([1.0]))

    def test_argnums_out_of_range(self):
        with pytest.raises(mf.GradError, match="argnums"):
            mf.grad(cubic_sum, argnums=2)(np.array([1.0]))


# --------------------------------------------------------------------------- jacobian
class TestJacobian:
    def test_shape_is_output_shape_plus_input_shape(self):
        x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        j = mf.jacobian(lambda t: F.sum(t * t, axis=0))(x)
        assert j.shape == (3, 2, 3)
        expected = np.zeros((3, 2, 3))
        for i in range(3):
            expected[i, :, i] = 2 * x[:, i]
        np.testing.assert_allclose(j.numpy(), expected)

    def test_linear_map_jacobian_is_the_matrix(self):
        a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        j = mf.jacobian(lambda x: mf.tensor(a) @ x)(np.array([0.3, -0.2]))
        np.testing.assert_allclose(j.numpy(), a)

    def test_scalar_to_scalar(self):
        j = mf.jacobian(F.sin)(np.array(0.4))
        assert j.shape == ()
        assert j.item() == pytest.approx(math.cos(0.4))

    def test_elementwise_jacobian_is_diagonal(self):
        x = np.array([0.1, 0.2, 0.3])
        np.testing.assert_allclose(mf.jacobian(F.exp)(x).numpy(), np.diag(np.exp(x)))

    def test_argnums(self):
        f = lambda a, b: a * b  # noqa: E731
        a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
        np.testing.assert_allclose(mf.jacobian(f, argnums=1)(a, b).numpy(), np.diag(a))

    def test_against_finite_differences(self):
        f = lambda x: F.concat([F.sin(x) * x[0], F.exp(x[1:]) / (1.0 + x[:1] ** 2)])  # noqa: E731
        x = np.array([0.3, -0.8, 1.1])
        j = mf.jacobian(f)(x).numpy()
        eps = 1e-6
        numeric = np.stack(
            [(f(mf.tensor(x + eps * e)).numpy() - f(mf.tensor(x - eps * e)).numpy()) / (2 * eps) for e in np.eye(3)],
            axis=1,
        )
        np.testing.assert_allclose(j, numeric, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- hessian and hvp
class TestHessian:
    def test_hessian_of_cubic_sum(self):
        x = np.array([1.0, -2.0, 3.0])
        np.testing.assert_allclose(mf.hessian(cubic_sum)(x).numpy(), np.diag(6 * x))

    def test_hessian_of_quadratic_form(self):
        a = np.array([[2.0, 1.0], [0.0, 3.0]])
        h = mf.hessian(lambda x: x @ (mf.tensor(a) @ x))(np.array([0.5, -1.0]))
        np.testing.assert_allclose(h.numpy(), a + a.T)

    def test_hessian_of_rosenbrock(self):
        h = mf.hessian(rosenbrock)(np.array([0.5, 1.5]))
        np.testing.assert_allclose(h.numpy(), rosenbrock_hessian(0.5, 1.5), rtol=1e-12)

    def test_hessian_is_symmetric(self):
        f = lambda x: F.exp(x[0] * x[1]) + F.sin(x[2]) * x[0] ** 2  # noqa: E731
        h = mf.hessian(f)(np.array([0.2, -0.4, 0.9])).numpy()
        np.testing.assert_allclose(h, h.T, rtol=1e-12)

    def test_hessian_of_matrix_input_has_four_axes(self):
        h = mf.hessian(lambda m: (m * m).sum())(np.ones((2, 3)))
        assert h.shape == (2, 3, 2, 3)
        np.testing.assert_allclose(h.numpy().reshape(6, 6), 2 * np.eye(6))

    def test_third_derivative_by_composition(self):
        x = np.array([0.5, -1.5])
        t = mf.jacobian(mf.hessian(cubic_sum))(x).numpy()
        assert t.shape == (2, 2, 2)
        expected = np.zeros((2, 2, 2))
        expected[0, 0, 0] = expected[1, 1, 1] = 6.0
        np.testing.assert_allclose(t, expected)

    def test_third_derivative_mixed(self):
        t = mf.jacobian(mf.hessian(lambda v: v[0] ** 2 * v[1]))(np.array([1.0, 2.0])).numpy()
        expected = np.zeros((2, 2, 2))
        expected[0, 0, 1] = expected[0, 1, 0] = expected[1, 0, 0] = 2.0
        np.testing.assert_allclose(t, expected)


class TestHvp:
    def test_hvp_matches_hessian_times_vector(self):
        x = np.array([0.5, 1.5])
        for v in (np.array([1.0, 0.0]), np.array([0.3, -2.0])):
            hv = mf.hvp(rosenbrock)(x, v)
            np.testing.assert_allclose(hv.numpy(), rosenbrock_hessian(*x) @ v, rtol=1e-12)

    def test_hvp_with_matrix_input(self):
        f = lambda m: F.sum(F.exp(m) * m)  # noqa: E731
        m = np.array([[0.1, -0.2], [0.3, 0.4]])
        v = np.array([[1.0, 2.0], [-1.0, 0.5]])
        hv = mf.hvp(f)(m, v)
        assert hv.shape == (2, 2)
        np.testing.assert_allclose(hv.numpy(), (2 + m) * np.exp(m) * v, rtol=1e-12)

    def test_hvp_argnums(self):
        f = lambda a, b: (a * b * b).sum()  # noqa: E731
        a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
        hv = mf.hvp(f, argnums=1)(a, b, np.array([1.0, 1.0]))
        np.testing.assert_allclose(hv.numpy(), 2 * a)

    def test_hvp_vector_shape_mismatch(self):
        with pytest.raises(mf.GradError, match="hvp"):
            mf.hvp(cubic_sum)(np.array([1.0, 2.0]), np.ones(3))


# --------------------------------------------------------------------------- derivatives and taylor
class TestTaylor:
    def test_derivatives_of_exp_are_all_one_at_zero(self):
        ds = mf.derivatives(F.exp, 0.0, 4)
        assert len(ds) == 5
        for d in ds:
            assert d.item() == pytest.approx(1.0)
            assert not d.requires_grad

    def test_derivatives_shapes_for_vector_point(self):
        ds = mf.derivatives(cubic_sum, np.array([1.0, 2.0]), 3)
        assert [d.shape for d in ds] == [(), (2,), (2, 2), (2, 2, 2)]

    def test_negative_order_is_refused(self):
        with pytest.raises(mf.GradError):
            mf.derivatives(F.exp, 0.0, -1)

    def test_taylor_of_sin_is_callable_polynomial(self):
        p = mf.taylor(F.sin, 0.0, 5)
        assert isinstance(p, mf.TaylorPolynomial) and p.order == 5
        for x in (0.1, 0.5, -0.8):
            expected = x - x**3 / 6 + x**5 / 120
            assert p(x).item() == pytest.approx(expected, rel=1e-12)

    def test_taylor_evaluates_batches(self):
        p = mf.taylor(F.exp, 0.0, 3)
        xs = np.array([0.1, 0.2, -0.3])
        out = p(xs)
        assert out.shape == (3,)
        np.testing.assert_allclose(out.numpy(), 1 + xs + xs**2 / 2 + xs**3 / 6, rtol=1e-12)

    def test_taylor_around_nonzero_center(self):
        p = mf.taylor(F.log, 1.0, 3)
        h = 0.2
        assert p(1.0 + h).item() == pytest.approx(h - h**2 / 2 + h**3 / 3, rel=1e-12)
        assert str(p) == "(x - 1) - 0.5*(x - 1)**2 + 0.333333*(x - 1)**3"

    def test_taylor_string_form(self):
        assert str(mf.taylor(F.exp, 0.0, 3)) == "1 + x + 0.5*x**2 + 0.166667*x**3"
        assert str(mf.taylor(F.sin, 0.0, 5)) == "x - 0.166667*x**3 + 0.00833333*x**5"
        assert mf.taylor(F.exp, 0.0, 2).to_string(names=["t"], digits=3) == "1 + t + 0.5*t**2"
        assert "order=2" in repr(mf.taylor(F.exp, 0.0, 2))

    def test_taylor_of_zero_function(self):
        assert str(mf.taylor(lambda x: x * 0.0, 0.0, 2)) == "0"

    def test_taylor_coefficients(self):
        coefficients = mf.taylor(F.exp, 0.0, 3).coefficients()
        np.testing.assert_allclose([float(c) for c in coefficients], [1.0, 1.0, 1.0, 1.0])

    def test_multivariate_taylor_is_exact_for_a_cubic(self):
        f = lambda v: v[0] ** 3 + v[0] * v[1] ** 2 - 2.0 * v[1]  # noqa: E731
        p = mf.taylor(f, np.array([1.0, 2.0]), 3)
        for point in (np.array([0.5, 1.0]), np.array([-1.0, 3.0])):
            assert p(point).item() == pytest.approx(f(mf.tensor(point)).item(), rel=1e-12)
        batch = np.array([[0.5, 1.0], [-1.0, 3.0], [1.0, 2.0]])
        assert p(batch).shape == (3,)

    def test_multivariate_taylor_string(self):
        text = str(mf.taylor(lambda v: (v**2).sum(), np.array([0.0, 0.0]), 2))
        assert text == "x0**2 + x1**2"

    def test_taylor_approximation_improves_with_order(self):
        errors = [abs(mf.taylor(F.exp, 0.0, n)(0.5).item() - math.exp(0.5)) for n in range(1, 6)]
        assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
