"""Activations, softmax family, dropout and fused affine maps of ``mathflow.functional``.

Values follow the textbook definitions; first and second derivatives are checked against
central finite differences in float64 (inputs kept away from kinks) and, where PyTorch is
installed, against ``torch.nn.functional`` (float64, rtol 1e-6).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F


def _u(shape, low=-2.0, high=2.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def _away_from_zero(shape, seed=0):
    """Values with |x| in [0.2, 2] and random sign: no ReLU-type kink within reach of ε."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def _fixed_dropout(x):
    return F.dropout(x, 0.4, rng=np.random.default_rng(7))


_X = _away_from_zero((3, 4))
_W = _u((4, 5), -1.0, 1.0, seed=1)
_B = _u((5,), -0.5, 0.5, seed=2)


def _linear_relu_inputs():
    """x, W, b with every pre-activation at least 0.1 away from 0."""
    x, w, b = _X.copy(), _W.copy(), _B.copy()
    z = x @ w + b
    b = b + np.where(np.abs(z).min(axis=0) < 0.1, 0.3, 0.0)
    assert np.abs(x @ w + b).min() > 0.05
    return x, w, b


# name -> (function, inputs)
OPS: dict[str, tuple[Callable, tuple[np.ndarray, ...]]] = {
    "relu": (F.relu, (_X,)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), (_X,)),
    "sigmoid": (F.sigmoid, (_u((3, 4)),)),
    "tanh": (F.tanh, (_u((3, 4)),)),
    "gelu": (F.gelu, (_u((3, 4), -3.0, 3.0),)),
    "elu": (lambda x: F.elu(x, 0.7), (_X,)),
    "softplus": (F.softplus, (_u((3, 4), -3.0, 3.0),)),
    "softmax": (F.softmax, (_u((3, 4)),)),
    "softmax_axis0": (lambda x: F.softmax(x, axis=0), (_u((3, 4)),)),
    "log_softmax": (F.log_softmax, (_u((3, 4)),)),
    "log_softmax_axis0": (lambda x: F.log_softmax(x, axis=0), (_u((3, 4)),)),
    "logsumexp": (F.logsumexp, (_u((3, 4)),)),
    "logsumexp_keepdims_axis0": (lambda x: F.logsumexp(x, axis=0, keepdims=True), (_u((3, 4)),)),
    "logsumexp_all": (lambda x: F.logsumexp(x, axis=None), (_u((3, 4)),)),
    "dropout": (_fixed_dropout, (_u((3, 4)),)),
    "linear": (F.linear, (_X, _W, _B)),
    "linear_no_bias": (F.linear, (_X, _W)),
    "linear_batched_3d": (F.linear, (_u((2, 3, 4)), _W, _B)),
    "linear_relu": (F.linear_relu, _linear_relu_inputs()),
}


# ------------------------------------------------------------------------- definitions
def test_relu_is_max_of_zero_and_x():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(F.relu(mf.tensor(x)).numpy(), np.array([0.0, 0.0, 0.0, 0.5, 3.0], np.float32))


def test_sigmoid_of_zero_is_one_half():
    assert F.sigmoid(mf.tensor(0.0)).item() == 0.5
    x = _u(7)
    np.testing.assert_allclose(F.sigmoid(mf.tensor(x)).numpy(), 1.0 / (1.0 + np.exp(-x)), rtol=1e-12)


def test_tanh_matches_its_exponential_definition():
    x = _u(9, -3.0, 3.0)
    expected = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))
    np.testing.assert_allclose(F.tanh(mf.tensor(x)).numpy(), expected, rtol=1e-12)


def test_leaky_relu_elu_softplus_definitions():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    np.testing.assert_allclose(F.leaky_relu(mf.tensor(x), 0.2).numpy(), [-0.4, -0.1, 0.5, 2.0], rtol=1e-12)
    np.testing.assert_allclose(F.leaky_relu(mf.tensor(x)).numpy(), np.where(x > 0, x, 0.01 * x), rtol=1e-12)
    np.testing.assert_allclose(F.elu(mf.tensor(x), 1.5).numpy(), np.where(x > 0, x, 1.5 * (np.exp(x) - 1)), rtol=1e-12)
    np.testing.assert_allclose(F.softplus(mf.tensor(x)).numpy(), np.log(1.0 + np.exp(x)), rtol=1e-12)


def test_gelu_tanh_approximation_definition():
    x = _u(8, -3.0, 3.0)
    expected = 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(F.gelu(mf.tensor(x)).numpy(), expected, rtol=1e-12)


def test_softmax_is_normalised_exponential_and_sums_to_one():
    x = _u((4, 6))
    y = F.softmax(mf.tensor(x)).numpy()
    np.testing.assert_allclose(y.sum(axis=-1), np.ones(4), rtol=1e-12)
    np.testing.assert_allclose(y, np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True), rtol=1e-12)
    y0 = F.softmax(mf.tensor(x), axis=0).numpy()
    np.testing.assert_allclose(y0.sum(axis=0), np.ones(6), rtol=1e-12)


def test_log_softmax_and_logsumexp_definitions():
    x = _u((3, 5))
    lse = np.log(np.exp(x).sum(axis=-1))
    np.testing.assert_allclose(F.logsumexp(mf.tensor(x)).numpy(), lse, rtol=1e-12)
    np.testing.assert_allclose(F.logsumexp(mf.tensor(x), keepdims=True).numpy(), lse[:, None], rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(mf.tensor(x)).numpy(), x - lse[:, None], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("op", [F.softmax, F.log_softmax, F.logsumexp])
def test_softmax_family_rejects_an_axis_out_of_range(op):
    with pytest.raises(mf.ShapeError, match="axis 2"):
        op(mf.tensor(np.ones((2, 3))), axis=2)


# ------------------------------------------------------------------------- derivatives
@pytest.mark.parametrize("name", sorted(OPS))
def test_first_derivative_matches_finite_differences(name):
    f, xs = OPS[name]
    assert mf.gradcheck(f, *xs)


@pytest.mark.parametrize("name", sorted(OPS))
def test_second_derivative_matches_finite_differences(name):
    f, xs = OPS[name]
    assert mf.gradgradcheck(f, *xs)


def _grads(f, xs, weights, create_graph):
    ts = [mf.tensor(x, requires_grad=True) for x in xs]
    out = f(*ts)
    gs = mf.autograd(F.sum(out * mf.tensor(weights)), ts, create_graph=create_graph)
    return [g.numpy() for g in gs]


@pytest.mark.parametrize("name", sorted(OPS))
def test_fast_raw_backward_agrees_with_the_differentiable_backward(name):
    f, xs = OPS[name]
    shape = f(*[mf.tensor(x) for x in xs]).shape
    weights = _u(shape, seed=5)
    fast = _grads(f, xs, weights, create_graph=False)
    recorded = _grads(f, xs, weights, create_graph=True)
    for a, b in zip(fast, recorded):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_second_order_backward_survives_freed_intermediate_outputs():
    """create_graph without retain_graph: backward formulas must not rely on freed outputs."""
    x = mf.tensor(_u(4), requires_grad=True)
    out = F.sum(F.sigmoid(x) * F.tanh(x) * F.softmax(x) * F.log_softmax(x) * F.logsumexp(x))
    (g,) = mf.autograd(out, x, create_graph=True, retain_graph=False)
    xt = mf.tensor(_u(4), requires_grad=True)
    expected = F.sum(F.sigmoid(xt) * F.tanh(xt) * F.softmax(xt) * F.log_softmax(xt) * F.logsumexp(xt))
    expected.backward()
    np.testing.assert_allclose(g.numpy(), xt.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------------------- float32
@pytest.mark.parametrize("name", sorted(OPS))
def test_float32_in_gives_float32_values_and_gradients(name):
    f, xs = OPS[name]
    ts = [mf.tensor(x.astype(np.float32), requires_grad=True) for x in xs]
    out = f(*ts)
    assert out.dtype == np.float32
    F.sum(out).backward()
    assert all(t.grad.dtype == np.float32 for t in ts)
    ts = [mf.tensor(x.astype(np.float32), requires_grad=True) for x in xs]
    gs = mf.autograd(F.sum(f(*ts)), ts, create_graph=True)
    assert all(g.dtype == np.float32 for g in gs)


# ------------------------------------------------------------------------- stability
def test_softmax_and_log_softmax_are_finite_for_extreme_logits():
    x = mf.tensor(np.array([[1000.0, 0.0, -1000.0]]), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        y = F.softmax(x)
        ly = F.log_softmax(x)
        F.sum(y * mf.tensor([[1.0, 2.0, 3.0]]) + ly).backward()
    np.testing.assert_allclose(y.numpy(), [[1.0, 0.0, 0.0]], atol=1e-300)
    np.testing.assert_allclose(ly.numpy(), [[0.0, -1000.0, -2000.0]])
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(F.logsumexp(mf.tensor([1000.0, 1000.0])).item(), 1000.0 + np.log(2.0), rtol=1e-7)


def test_sigmoid_softplus_of_huge_inputs_are_finite_without_warnings():
    x = mf.tensor(np.array([-1000.0, 1000.0]), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        y = F.sigmoid(x)
        s = F.softplus(x)
        e = F.elu(x)
        F.sum(y + s + e).backward()
    np.testing.assert_array_equal(y.numpy(), [0.0, 1.0])
    np.testing.assert_allclose(s.numpy(), [0.0, 1000.0], atol=1e-300)
    assert np.isfinite(x.grad.numpy()).all()


def test_logsumexp_of_a_row_of_minus_infinity_is_minus_infinity():
    y = F.logsumexp(mf.tensor(np.array([[-np.inf, -np.inf], [0.0, 0.0]])))
    assert y.numpy()[0] == -np.inf
    np.testing.assert_allclose(y.numpy()[1], np.log(2.0))


# ------------------------------------------------------------------------- dropout
def test_dropout_is_the_identity_in_eval_mode_and_for_p_zero():
    x = mf.tensor(_u((5, 5)), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_dropout_rejects_probabilities_outside_zero_one(p):
    with pytest.raises(mf.MathflowError, match="dropout"):
        F.dropout(mf.tensor(np.ones(3)), p)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_zeroes_a_fraction_p_and_preserves_the_mean(p):
    x = mf.tensor(np.ones(200_000, dtype=np.float32))
    y = F.dropout(x, p, rng=np.random.default_rng(3)).numpy()
    assert abs((y == 0).mean() - p) < 0.01
    assert abs(y.mean() - 1.0) < 0.02
    np.testing.assert_allclose(np.unique(y), [0.0, 1.0 / (1.0 - p)], rtol=1e-6)


def test_dropout_backward_reuses_the_forward_mask():
    x = mf.tensor(np.ones((50, 40)), requires_grad=True)
    y = F.dropout(x, 0.3, rng=np.random.default_rng(11))
    F.sum(y).backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    assert 0 < (y.numpy() == 0).sum() < y.size


def test_dropout_uses_the_seeded_backend_generator_by_default():
    x = mf.tensor(np.ones(100))
    mf.set_backend(mf.Backend("cpu", seed=123))
    first = F.dropout(x, 0.5).numpy()
    second = F.dropout(x, 0.5).numpy()
    mf.set_backend(mf.Backend("cpu", seed=123))
    again = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)


# ------------------------------------------------------------------------- linear
def test_linear_equals_x_w_plus_b():
    x, w, b = _X, _W, _B
    np.testing.assert_allclose(F.linear(mf.tensor(x), mf.tensor(w), mf.tensor(b)).numpy(), x @ w + b, rtol=1e-12)
    np.testing.assert_allclose(F.linear(mf.tensor(x), mf.tensor(w)).numpy(), x @ w, rtol=1e-12)
    np.testing.assert_allclose(F.linear(mf.tensor(x[0]), mf.tensor(w), mf.tensor(b)).numpy(), x[0] @ w + b)
    relu_ref = np.maximum(x @ w + b, 0.0)
    np.testing.assert_allclose(F.linear_relu(mf.tensor(x), mf.tensor(w), mf.tensor(b)).numpy(), relu_ref, rtol=1e-12)


def test_linear_gradients_have_the_closed_forms():
    x, w, b = (mf.tensor(a, requires_grad=True) for a in (_X, _W, _B))
    g = _u((3, 5), seed=9)
    F.linear(x, w, b).backward(g)
    np.testing.assert_allclose(x.grad.numpy(), g @ _W.T, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), _X.T @ g, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), g.sum(axis=0), rtol=1e-12)


def test_linear_is_one_node():
    x, w, b = (mf.tensor(a, requires_grad=True) for a in (_X, _W, _B))
    y = F.linear(x, w, b)
    assert y._ctx.inputs == (x, w, b)
    z = F.linear_relu(x, w, b)
    assert z._ctx.inputs == (x, w, b)


def test_linear_rejects_mismatched_shapes():
    with pytest.raises(mf.ShapeError, match=r"\(3, 4\).*\(5, 2\)"):
        F.linear(mf.tensor(np.ones((3, 4))), mf.tensor(np.ones((5, 2))))
    with pytest.raises(mf.ShapeError, match=r"bias \(3,\)"):
        F.linear(mf.tensor(np.ones((3, 4))), mf.tensor(np.ones((4, 2))), mf.tensor(np.ones(3)))


# ------------------------------------------------------------------------- PyTorch
def _torch_ops(torch):
    tf = torch.nn.functional
    return {
        "relu": tf.relu,
        "leaky_relu": lambda x: tf.leaky_relu(x, 0.1),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "gelu": lambda x: tf.gelu(x, approximate="tanh"),
        "elu": lambda x: tf.elu(x, 0.7),
        "softplus": tf.softplus,
        "softmax": lambda x: tf.softmax(x, dim=-1),
        "softmax_axis0": lambda x: tf.softmax(x, dim=0),
        "log_softmax": lambda x: tf.log_softmax(x, dim=-1),
        "log_softmax_axis0": lambda x: tf.log_softmax(x, dim=0),
        "logsumexp": lambda x: torch.logsumexp(x, dim=-1),
        "logsumexp_keepdims_axis0": lambda x: torch.logsumexp(x, dim=0, keepdim=True),
        "logsumexp_all": lambda x: torch.logsumexp(x, dim=(0, 1)),
        "linear": lambda x, w, b: tf.linear(x, w.T, b),
        "linear_no_bias": lambda x, w: tf.linear(x, w.T),
        "linear_batched_3d": lambda x, w, b: tf.linear(x, w.T, b),
        "linear_relu": lambda x, w, b: tf.relu(tf.linear(x, w.T, b)),
    }


TORCH_NAMES = sorted(set(OPS) - {"dropout"})


@pytest.mark.torch
@pytest.mark.parametrize("name", TORCH_NAMES)
def test_values_and_gradients_match_pytorch(name):
    torch = pytest.importorskip("torch")
    f, xs = OPS[name]
    tf = _torch_ops(torch)[name]
    ts = [mf.tensor(x, requires_grad=True) for x in xs]
    out = f(*ts)
    weights = _u(out.shape, seed=3)
    F.sum(out * mf.tensor(weights)).backward()
    tt = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    tout = tf(*tt)
    (tout * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-6, atol=1e-12)
    for t, ref in zip(ts, tt):
        np.testing.assert_allclose(t.grad.numpy(), ref.grad.numpy(), rtol=1e-6, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "gelu", "elu", "softplus", "softmax", "log_softmax", "logsumexp"])
def test_second_derivatives_match_pytorch(name):
    """The gradient of ⟨v, ∇⟨w, f(x)⟩⟩ (a Hessian-vector product) against torch.autograd."""
    torch = pytest.importorskip("torch")
    f, (x0,) = OPS[name]
    tf = _torch_ops(torch)[name]
    w = _u(f(mf.tensor(x0)).shape, seed=3)
    v = _u(x0.shape, seed=4)
    x = mf.tensor(x0, requires_grad=True)
    (g,) = mf.autograd(F.sum(f(x) * mf.tensor(w)), x, create_graph=True)
    F.sum(g * mf.tensor(v)).backward()
    xt = torch.tensor(x0, requires_grad=True)
    (gt,) = torch.autograd.grad((tf(xt) * torch.tensor(w)).sum(), xt, create_graph=True)
    (gt * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(g.numpy(), gt.detach().numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_ops_run_on_the_gpu_and_match_the_cpu():
    mf.set_backend("gpu", dtype="float32")
    for name in sorted(OPS):
        f, xs = OPS[name]
        if name == "dropout":
            continue
        ts = [mf.tensor(x.astype(np.float32), requires_grad=True) for x in xs]
        out = f(*ts)
        assert type(out.data).__module__.startswith("cupy")
        F.sum(out).backward()
        with mf.using("cpu", dtype="float32"):
            cs = [mf.tensor(x.astype(np.float32), requires_grad=True) for x in xs]
            ref = f(*cs)
            F.sum(ref).backward()
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)
        for t, c in zip(ts, cs):
            np.testing.assert_allclose(t.grad.numpy(), c.grad.numpy(), rtol=1e-4, atol=1e-5)
    y = F.dropout(mf.tensor(np.ones(10_000, np.float32)), 0.5)
    assert type(y.data).__module__.startswith("cupy")
    assert abs(float((y.numpy() == 0).mean()) - 0.5) < 0.05
