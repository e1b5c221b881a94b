"""The Tensor API and the reverse-mode engine: dtypes, operators, indexing, graph lifetime."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F
from mathflow.autodiff.function import Function


def f64(data, requires_grad: bool = True) -> mf.Tensor:
    return mf.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


# --------------------------------------------------------------------------- construction and dtypes
class TestConstruction:
    def test_python_list_becomes_float32(self):
        t = mf.tensor([[1, 2], [3, 4]])
        assert t.dtype == np.float32
        assert t.shape == (2, 2)

    def test_python_float_list_becomes_float32(self):
        assert mf.tensor([0.1, 0.2]).dtype == np.float32

    def test_python_scalar_becomes_0d_float32(self):
        t = mf.tensor(3.5)
        assert t.shape == ()
        assert t.dtype == np.float32
        assert t.item() == 3.5

    def test_numpy_float64_keeps_float64(self):
        t = mf.tensor(np.array([1.0, 2.0]))
        assert t.dtype == np.float64

    def test_numpy_float32_keeps_float32(self):
        assert mf.tensor(np.ones(3, dtype=np.float32)).dtype == np.float32

    def test_numpy_int_keeps_int(self):
        assert mf.tensor(np.array([1, 2])).dtype.kind == "i"

    @pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
    def test_dtype_argument_is_honoured(self, dtype):
        assert mf.tensor([1, 2, 3], dtype=dtype).dtype == dtype
        assert mf.tensor(np.arange(3.0), dtype=dtype).dtype == dtype

    def test_default_dtype_float64_policy(self):
        mf.set_default_dtype("float64")
        assert mf.tensor([1.0, 2.0]).dtype == np.float64

    def test_integer_tensor_cannot_require_grad(self):
        with pytest.raises(mf.GradError, match="floating-point"):
            mf.tensor(np.array([1, 2]), requires_grad=True)

    def test_zeros_and_ones(self):
        z = mf.zeros((2, 3))
        o = mf.ones(4, requires_grad=True)
        assert z.shape == (2, 3) and z.dtype == np.float32 and not z.numpy().any()
        assert o.shape == (4,) and o.requires_grad and (o.numpy() == 1).all()


class TestAccessors:
    def test_data_is_the_backend_array(self):
        t = mf.tensor([1.0, 2.0])
        assert isinstance(t.data, np.ndarray)
        np.testing.assert_array_equal(t.data, [1.0, 2.0])

    def test_numpy_returns_ndarray(self):
        out = mf.tensor([[1.0, 2.0]]).numpy()
        assert isinstance(out, np.ndarray)
        np.testing.assert_array_equal(out, [[1.0, 2.0]])

    def test_item_of_one_element(self):
        value = mf.tensor([[7.0]]).item()
        assert isinstance(value, float) and value == 7.0

    def test_item_of_many_elements_fails(self):
        with pytest.raises(ValueError):
            mf.tensor([1.0, 2.0]).item()

    def test_shape_ndim_size_len(self):
        t = mf.tensor(np.zeros((2, 3, 4)))
        assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
        assert t.ndim == 3 and t.size == 24 and len(t) == 2

    def test_grad_starts_as_none(self):
        assert mf.tensor([1.0], requires_grad=True).grad is None

    def test_repr_mentions_values_and_dtype(self):
        text = repr(mf.tensor([1.0, 2.0], requires_grad=True))
        assert "1." in text and "float32" in text and "requires_grad=True" in text

    def test_detach_cuts_the_graph(self):
        x = mf.tensor([1.0, 2.0], requires_grad=True)
        d = (x * 2).detach()
        assert not d.requires_grad and d.is_leaf
        np.testing.assert_array_equal(d.numpy(), [2.0, 4.0])


# --------------------------------------------------------------------------- operators
class TestOperators:
    def setup_method(self):
        self.a_np = np.array([[1.0, -2.0], [3.0, 4.0]], dtype=np.float32)
        self.b_np = np.array([[0.5, 2.0], [-1.0, 3.0]], dtype=np.float32)
        self.a = mf.tensor(self.a_np)
        self.b = mf.tensor(self.b_np)

    @pytest.mark.parametrize(
        "op",
        [
            lambda a, b: a + b,
            lambda a, b: a - b,
            lambda a, b: a * b,
            lambda a, b: a / b,
            lambda a, b: a @ b,
            lambda a, b: -a,
            lambda a, b: abs(a),
            lambda a, b: +a,
        ],
        ids=["add", "sub", "mul", "div", "matmul", "neg", "abs", "pos"],
    )
    def test_binary_and_unary_operators_match_numpy(self, op):
        out = op(self.a, self.b)
        assert isinstance(out, mf.Tensor)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), op(self.a_np, self.b_np), rtol=1e-6)

    def test_pow_scalar_and_tensor_exponent(self):
        pos = mf.tensor([[1.0, 2.0], [3.0, 4.0]])
        np.testing.assert_allclose((pos**2).numpy(), [[1, 4], [9, 16]])
        np.testing.assert_allclose((pos**0.5).numpy(), np.sqrt([[1, 2], [3, 4]]), rtol=1e-6)
        np.testing.assert_allclose((pos**pos).numpy(), [[1, 4], [27, 256]], rtol=1e-6)

    @pytest.mark.parametrize(
        "op, expected",
        [
            (lambda t: 2.0 + t, [3.0, 4.0]),
            (lambda t: 2.0 - t, [1.0, 0.0]),
            (lambda t: 2.0 * t, [2.0, 4.0]),
            (lambda t: 2.0 / t, [2.0, 1.0]),
            (lambda t: 2.0**t, [2.0, 4.0]),
            (lambda t: 3 - t, [2.0, 1.0]),
        ],
        ids=["radd", "rsub", "rmul", "rtruediv", "rpow", "int-rsub"],
    )
    def test_reflected_operators_with_scalars(self, op, expected):
        out = op(mf.tensor([1.0, 2.0]))
        assert isinstance(out, mf.Tensor)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), expected)

    @pytest.mark.parametrize(
        "op",
        [
            lambda n, t: n + t,
            lambda n, t: n - t,
            lambda n, t: n * t,
            lambda n, t: n / t,
            lambda n, t: n @ t,
        ],
        ids=["radd", "rsub", "rmul", "rtruediv", "rmatmul"],
    )
    def test_reflected_operators_with_numpy_arrays_give_tensors(self, op):
        n = np.array([[2.0, 3.0], [4.0, 5.0]], dtype=np.float32)
        t_np = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
        out = op(n, mf.tensor(t_np))
        assert isinstance(out, mf.Tensor), "numpy must defer to the Tensor's reflected operator"
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), op(n, t_np), rtol=1e-6)

    def test_numpy_float64_scalar_does_not_upcast(self):
        out = np.float64(2.0) * mf.tensor([1.0, 2.0])
        assert out.dtype == np.float32

    def test_reflected_operators_differentiate(self):
        x = mf.tensor([1.0, 2.0], requires_grad=True)
        (1.0 - 3.0 * x + 2.0 / x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), -3.0 - 2.0 / np.array([1.0, 4.0]), rtol=1e-6)

    def test_transpose_property(self):
        m = mf.tensor(np.arange(6.0).reshape(2, 3))
        assert m.T.shape == (3, 2)
        np.testing.assert_array_equal(m.T.numpy(), np.arange(6.0).reshape(2, 3).T)

    def test_transpose_gradient(self):
        m = f64(np.arange(6.0).reshape(2, 3))
        w = np.arange(6.0).reshape(3, 2)
        (m.T * w).sum().backward()
        np.testing.assert_array_equal(m.grad.numpy(), w.T)

    def test_methods_mirror_functional(self):
        x = mf.tensor(np.arange(1.0, 7.0).reshape(2, 3))
        np.testing.assert_allclose(x.sum(axis=0).numpy(), [5, 7, 9])
        np.testing.assert_allclose(x.mean().numpy(), 3.5)
        np.testing.assert_allclose(x.max(axis=1).numpy(), [3, 6])
        np.testing.assert_allclose(x.min().numpy(), 1)
        assert x.reshape(3, 2).shape == (3, 2)
        assert x.reshape((6,)).shape == (6,)
        assert x.transpose(1, 0).shape == (3, 2)
        assert x.flatten().shape == (6,)
        np.testing.assert_allclose(x.exp().log().numpy(), x.numpy(), rtol=1e-6)
        np.testing.assert_allclose(x.sqrt().numpy(), np.sqrt(x.numpy()), rtol=1e-6)
        assert x.astype(np.float64).dtype == np.float64


# --------------------------------------------------------------------------- indexing
class TestIndexing:
    def test_basic_slicing_values_and_gradient(self):
        x = f64(np.arange(12.0).reshape(3, 4))
        y = x[1:, ::2]
        np.testing.assert_array_equal(y.numpy(), np.arange(12.0).reshape(3, 4)[1:, ::2])
        y.sum().backward()
        expected = np.zeros((3, 4))
        expected[1:, ::2] = 1
        np.testing.assert_array_equal(x.grad.numpy(), expected)

    def test_integer_and_negative_index(self):
        x = f64([[1.0, 2.0], [3.0, 4.0]])
        (x[-1, 0] * 5).backward()
        np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [5, 0]])

    def test_ellipsis_and_newaxis(self):
        x = f64(np.ones((2, 3)))
        assert x[..., None].shape == (2, 3, 1)
        x[..., 1].sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [0, 1, 0]])

    def test_integer_array_with_repeats_accumulates(self):
        x = f64([10.0, 20.0, 30.0])
        y = x[np.array([0, 2, 0, 0])]
        np.testing.assert_array_equal(y.numpy(), [10, 30, 10, 10])
        (y * mf.tensor(np.array([1.0, 2.0, 3.0, 4.0]))).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [1 + 3 + 4, 0, 2])

    def test_list_index_with_repeats_accumulates(self):
        x = f64([1.0, 2.0, 3.0])
        x[[1, 1, 1]].sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [0, 3, 0])

    def test_2d_fancy_index_pairs(self):
        x = f64(np.arange(9.0).reshape(3, 3))
        y = x[np.array([0, 1, 0]), np.array([2, 2, 2])]
        np.testing.assert_array_equal(y.numpy(), [2, 5, 2])
        y.sum().backward()
        expected = np.zeros((3, 3))
        expected[0, 2] = 2
        expected[1, 2] = 1
        np.testing.assert_array_equal(x.grad.numpy(), expected)

    def test_boolean_mask_numpy(self):
        x = f64([1.0, -2.0, 3.0, -4.0])
        mask = np.array([True, False, True, False])
        y = x[mask]
        np.testing.assert_array_equal(y.numpy(), [1.0, 3.0])
        (y * y).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 6.0, 0.0])

    def test_boolean_mask_from_comparison_tensor(self):
        x = f64([1.0, -2.0, 3.0])
        x[x > 0].sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])

    def test_index_out_of_range_is_shape_error(self):
        with pytest.raises(mf.ShapeError, match=r"\(3,\)"):
            mf.tensor([1.0, 2.0, 3.0])[5]

    def test_indexing_second_derivative(self):
        assert mf.gradgradcheck(lambda x: x[np.array([0, 0, 2])] ** 3, np.array([0.5, 1.5, -0.7]))


# --------------------------------------------------------------------------- comparisons
class TestComparisons:
    @pytest.mark.parametrize(
        "op, expected",
        [
            (lambda t: t < 2.0, [True, False, False]),
            (lambda t: t <= 2.0, [True, True, False]),
            (lambda t: t > 2.0, [False, False, True]),
            (lambda t: t >= 2.0, [False, True, True]),
        ],
        ids=["lt", "le", "gt", "ge"],
    )
    def test_comparisons_are_boolean_and_not_differentiable(self, op, expected):
        x = mf.tensor([1.0, 2.0, 3.0], requires_grad=True)
        out = op(x)
        assert isinstance(out, mf.Tensor)
        assert out.dtype == np.bool_
        assert not out.requires_grad and out.is_leaf
        np.testing.assert_array_equal(out.numpy(), expected)

    def test_comparison_between_tensors(self):
        a = mf.tensor([1.0, 5.0])
        b = mf.tensor([2.0, 2.0])
        np.testing.assert_array_equal((a < b).numpy(), [True, False])

    def test_backward_through_comparison_is_refused(self):
        x = mf.tensor([1.0], requires_grad=True)
        with pytest.raises(mf.GradError):
            (x > 0).backward()


# --------------------------------------------------------------------------- engine
class TestEngine:
    def test_broadcast_gradients_reduce_to_input_shapes(self):
        a = f64(np.ones((3, 1)))
        b = f64(np.ones((1, 4)))
        c = f64(np.ones(4))
        s = f64(2.0)
        (a * b + c * s).sum().backward()
        assert a.grad.shape == (3, 1) and b.grad.shape == (1, 4) and c.grad.shape == (4,) and s.grad.shape == ()
        np.testing.assert_array_equal(a.grad.numpy(), np.full((3, 1), 4.0))
        np.testing.assert_array_equal(b.grad.numpy(), np.full((1, 4), 3.0))
        np.testing.assert_array_equal(c.grad.numpy(), np.full(4, 3 * 2.0))  # c·s is repeated over 3 rows
        np.testing.assert_array_equal(s.grad.numpy(), 12.0)

    def test_tensor_used_twice_accumulates(self):
        x = f64(3.0)
        (x * x + x).backward()
        assert x.grad.item() == pytest.approx(7.0)

    def test_diamond_graph(self):
        x = f64(2.0)
        a = x * 3.0
        b = F.exp(a)
        c = F.sin(a)
        (b + c).backward()
        assert x.grad.item() == pytest.approx(3 * np.exp(6.0) + 3 * np.cos(6.0))

    def test_grad_accumulates_across_backward_calls(self):
        x = f64([1.0, 2.0])
        (x * x).sum().backward()
        (x * 3.0).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3])

    def test_zero_grad(self):
        x = f64([1.0])
        (x * 2).sum().backward()
        x.zero_grad()
        assert x.grad is None

    def test_graph_is_freed_after_backward(self):
        x = f64([1.0, 2.0])
        y = F.exp(x).sum()
        y.backward()
        with pytest.raises(mf.GradError, match="retain_graph"):
            y.backward()

    def test_retain_graph_allows_second_backward(self):
        x = f64([1.0, 2.0])
        y = F.exp(x).sum()
        y.backward(retain_graph=True)
        y.backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]))

    def test_create_graph_gives_differentiable_grads(self):
        x = f64([0.5, 1.5])
        (x**3).sum().backward(create_graph=True)
        g = x.grad
        assert g.requires_grad
        np.testing.assert_allclose(g.numpy(), 3 * np.array([0.5, 1.5]) ** 2)
        x.grad = None
        g.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([0.5, 1.5]))

    def test_create_graph_through_output_dependent_backward(self):
        # exp's backward uses its own output, so the recorded gradient refers to the forward graph
        x = f64([0.1, 0.7])
        F.exp(x).sum().backward(create_graph=True)
        g = x.grad
        x.grad = None
        g.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.exp([0.1, 0.7]))

    def test_without_create_graph_grads_are_constants(self):
        x = f64([1.0])
        (x**3).sum().backward()
        assert not x.grad.requires_grad

    def test_no_grad_records_nothing(self):
        x = f64([1.0, 2.0])
        with mf.no_grad():
            y = (x * 2).sum()
            assert not mf.is_grad_enabled()
        assert mf.is_grad_enabled()
        assert not y.requires_grad and y.is_leaf
        with pytest.raises(mf.GradError):
            y.backward()

    def test_enable_grad_inside_no_grad(self):
        x = f64([1.0])
        with mf.no_grad(), mf.enable_grad():
            y = x * 2
        assert y.requires_grad

    def test_constants_do_not_record(self):
        y = mf.tensor([1.0]) * 2
        assert not y.requires_grad and y.is_leaf

    def test_non_scalar_backward_needs_gradient(self):
        x = f64([1.0, 2.0])
        with pytest.raises(mf.GradError, match=r"\(2,\)"):
            (x * 2).backward()

    def test_non_scalar_backward_with_gradient(self):
        x = f64([1.0, 2.0])
        (x * x).backward(np.array([1.0, 10.0]))
        np.testing.assert_allclose(x.grad.numpy(), [2.0, 40.0])

    def test_gradient_of_wrong_shape_is_refused(self):
        x = f64([1.0, 2.0])
        with pytest.raises(mf.GradError, match="shape"):
            (x * x).backward(np.ones(3))

    def test_autograd_returns_grads_without_touching_grad(self):
        x = f64([1.0, 2.0])
        w = f64([3.0, 4.0])
        gx, gw = mf.autograd((x * w).sum(), [x, w])
        np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
        np.testing.assert_array_equal(gw.numpy(), [1.0, 2.0])
        assert x.grad is None and w.grad is None

    def test_autograd_single_input_and_create_graph(self):
        x = f64(2.0)
        (g,) = mf.autograd(x**3, x, create_graph=True)
        assert g.item() == pytest.approx(12.0)
        (h,) = mf.autograd(g, x)
        assert h.item() == pytest.approx(12.0)

    def test_autograd_with_respect_to_intermediate(self):
        x = f64(2.0)
        y = x * 3.0
        z = y * y
        (gy,) = mf.autograd(z, [y])
        assert gy.item() == pytest.approx(12.0)

    def test_autograd_unused_input(self):
        x = f64(2.0)
        unused = f64(1.0)
        with pytest.raises(mf.GradError):
            mf.autograd(x * 2, [x, mf.tensor(1.0)])
        gx, gu = mf.autograd(x * 2, [x, unused], allow_unused=True)
        assert gx.item() == 2.0 and gu is None

    def test_deep_chain_does_not_recurse(self):
        x = f64(1.0)
        y = x
        for _ in range(3000):
            y = y * 1.0
        y.backward()
        assert x.grad.item() == 1.0

    def test_second_order_pass_keeps_intermediate_outputs_alive(self):
        # the recorded gradient of aᵇ contains a fresh aᵇ⁻¹ node whose output only the graph holds;
        # a non-retaining pass over that graph must still reach it
        a = f64([1.5, 2.0])
        b = f64([0.5, 3.0])
        (a**b).sum().backward(create_graph=True)
        ga, gb = a.grad, b.grad
        second = mf.autograd(ga.sum() + gb.sum(), [a, b])
        a_np, b_np = a.numpy(), b.numpy()
        d2_aa = b_np * (b_np - 1) * a_np ** (b_np - 2)
        d2_ab = a_np ** (b_np - 1) * (1 + b_np * np.log(a_np))
        d2_bb = a_np**b_np * np.log(a_np) ** 2
        np.testing.assert_allclose(second[0].numpy(), d2_aa + d2_ab, rtol=1e-10)
        np.testing.assert_allclose(second[1].numpy(), d2_ab + d2_bb, rtol=1e-10)

    def test_multi_output_function_with_a_dropped_output(self):
        class SplitPowers(Function):
            """(y₀, y₁) = (x², x³); ∂L/∂x = 2x ∂L/∂y₀ + 3 y₀ ∂L/∂y₁ (uses output 0)."""

            def forward(self, x):
                return x**2, x**3

            def backward(self, g0, g1):
                (x,) = self.inputs
                return g0 * x * 2.0 + g1 * self.output(0) * 3.0

        x = f64([1.0, 2.0])
        cube = SplitPowers()(x)[1]  # output 0 is dropped at once
        cube.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])
        square = SplitPowers()(x)[0]  # output 1 is dropped: its gradient is zero
        x.grad = None
        square.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
        assert mf.gradgradcheck(lambda t: SplitPowers()(t)[1], np.array([0.4, -1.3]))

    def test_custom_function_with_raw_backward(self):
        class Cube(Function):
            """y = x³; ∂L/∂x = 3x² ∂L/∂y."""

            has_raw_backward = True

            def forward(self, x):
                return x**3

            def backward(self, gy):
                (x,) = self.inputs
                return gy * x * x * 3.0

            def backward_raw(self, gy):
                return gy * self.inputs[0].data ** 2 * 3.0

        x = f64([1.0, 2.0])
        Cube()(x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])
        assert mf.gradgradcheck(lambda t: Cube()(t), np.array([0.3, -1.2]))


# --------------------------------------------------------------------------- float32 stays float32
FLOAT32_CASES = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b + 3.0),
    "pow_scalar": lambda a, b: (a + 3.0) ** 1.5,
    "pow_tensor": lambda a, b: (a + 3.0) ** b,
    "neg": lambda a, b: -a,
    "exp": lambda a, b: F.exp(a),
    "log": lambda a, b: F.log(a + 3.0),
    "log1p": lambda a, b: F.log1p(a + 1.5),
    "sqrt": lambda a, b: F.sqrt(a + 3.0),
    "abs": lambda a, b: F.abs(a),
    "sin": lambda a, b: F.sin(a),
    "cos": lambda a, b: F.cos(a),
    "tan": lambda a, b: F.tan(a * 0.3),
    "where": lambda a, b: F.where(a > 0, a, b),
    "maximum": lambda a, b: F.maximum(a, b),
    "minimum": lambda a, b: F.minimum(a, 0.5),
    "clip": lambda a, b: F.clip(a, -0.5, 0.5),
    "square": lambda a, b: F.square(a),
    "sum": lambda a, b: F.sum(a * b, axis=1),
    "mean": lambda a, b: F.mean(a, axis=0, keepdims=True),
    "max": lambda a, b: F.max(a, axis=1),
    "min": lambda a, b: F.min(a),
    "reshape": lambda a, b: F.reshape(a, (3, 2)) * 2.0,
    "transpose": lambda a, b: F.transpose(a) * 2.0,
    "swapaxes": lambda a, b: F.swapaxes(a, 0, 1) * 2.0,
    "broadcast_to": lambda a, b: F.broadcast_to(a[0], (4, 3)),
    "sum_to": lambda a, b: F.sum_to(a, (1, 3)),
    "getitem": lambda a, b: a[np.array([0, 0, 1]), 1:],
    "concat": lambda a, b: F.concat([a, b], axis=1),
    "stack": lambda a, b: F.stack([a, b]),
    "flatten": lambda a, b: F.flatten(a, 0) * 2.0,
    "matmul": lambda a, b: a @ F.transpose(b),
    "dot": lambda a, b: F.dot(a[0], b[1]),
    "outer": lambda a, b: F.outer(a[0], b[1]),
    "scalar_mix": lambda a, b: 2.5 * a - 1 / (b * b + 1.0) + 0.1,
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_graph_never_produces_float64(name):
    op = FLOAT32_CASES[name]
    rng = np.random.default_rng(1)
    a = mf.tensor(rng.uniform(-1, 1, (2, 3)).astype(np.float32), requires_grad=True)
    b = mf.tensor(rng.uniform(-1, 1, (2, 3)).astype(np.float32), requires_grad=True)
    out = op(a, b)
    assert out.dtype == np.float32, f"{name} forward produced {out.dtype}"
    loss = (out * out).sum()
    assert loss.dtype == np.float32
    loss.backward(create_graph=True)
    for t in (a, b):
        if t.grad is not None:
            assert t.grad.dtype == np.float32, f"{name} gradient is {t.grad.dtype}"
    # second order stays float32 as well
    grads = [t.grad for t in (a, b) if t.grad is not None and t.grad.requires_grad]
    if grads:
        second = mf.autograd(sum(g.sum() for g in grads), [a, b], allow_unused=True)
        for g in second:
            assert g is None or g.dtype == np.float32, f"{name} second derivative is {g.dtype}"
