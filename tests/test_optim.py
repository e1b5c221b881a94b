"""Optimizers: hand-computed trajectories of the spec's rules, PyTorch parity, checkpoints, dtypes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mathflow as mf
from mathflow.errors import MathflowError, ShapeError
from mathflow.nn import Parameter
from mathflow.optim import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    GradientDescent,
    Momentum,
    Nesterov,
    RMSProp,
    clip_grad_norm,
    clip_grad_value,
    global_grad_norm,
)

ALL_NAMES = ["gd", "sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"]


# ---------------------------------------------------------------------- helpers
def quadratic_steps(opt, params, coeffs, steps):
    """Run ``steps`` updates on f(w) = Σ cᵢ wᵢ² (∇f = 2 c ⊙ w) with gradients set directly."""
    history = []
    for _ in range(steps):
        for p, c in zip(params, coeffs):
            p.grad = mf.Tensor(2.0 * c * p.data)
        opt.step()
        history.append([p.data.copy() for p in params])
    return history


def scalar_run(name, x0, steps, **kwargs):
    """Minimise f(x) = x² from x0 with optimizer ``name``; the trajectory as Python floats."""
    x = Parameter(np.array([x0], dtype=np.float64))
    opt = OPTIMIZERS.create(name, params=[x], **kwargs)
    out = []
    for _ in range(steps):
        loss = (x * x).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        out.append(float(x.data[0]))
    return out


# ---------------------------------------------------------------------- the spec's example
def test_gradient_descent_spec_example_one_step():
    # x_new = 4 − 0.1 × 2 × 4 = 3.2
    assert scalar_run("gd", 4.0, 1, lr=0.1) == pytest.approx([3.2], rel=1e-15)


def test_gradient_descent_converges_to_zero():
    xs = scalar_run("gd", 4.0, 200, lr=0.1)
    # each step multiplies x by 1 − 2η = 0.8
    assert xs[:3] == pytest.approx([3.2, 2.56, 2.048], rel=1e-14)
    assert all(abs(b) < abs(a) for a, b in zip(xs, xs[1:]))
    assert abs(xs[-1]) < 1e-15


# ---------------------------------------------------------------------- hand-computed trajectories
def test_momentum_hand_trajectory():
    # v ← 0.9v + 0.1·2x; x ← x − v, from x = 4:
    # v₁ = 0.8,  x₁ = 3.2
    # v₂ = 0.72 + 0.64 = 1.36,  x₂ = 1.84
    # v₃ = 1.224 + 0.368 = 1.592, x₃ = 0.248
    assert scalar_run("momentum", 4.0, 3, lr=0.1) == pytest.approx([3.2, 1.84, 0.248], rel=1e-12)


def test_nesterov_hand_trajectory():
    # v ← 0.9v + 0.1·2x; x ← x − (0.9v + 0.1·2x), from x = 4:
    # g₀ = 8:    v₁ = 0.8,  x₁ = 4 − (0.72 + 0.8) = 2.48
    # g₁ = 4.96: v₂ = 0.72 + 0.496 = 1.216,  x₂ = 2.48 − (1.0944 + 0.496) = 0.8896
    # g₂ = 1.7792: v₃ = 1.0944 + 0.17792 = 1.27232,  x₃ = 0.8896 − (1.145088 + 0.17792) = −0.433408
    assert scalar_run("nesterov", 4.0, 3, lr=0.1) == pytest.approx([2.48, 0.8896, -0.433408], rel=1e-12)


def test_gd_weight_decay_hand_trajectory():
    # g = 2x + 0.5x = 2.5x, x ← x − 0.1·2.5x = 0.75x
    assert scalar_run("gd", 4.0, 3, lr=0.1, weight_decay=0.5) == pytest.approx([3.0, 2.25, 1.6875], rel=1e-14)


def _adam_reference(x, steps, lr, b1=0.9, b2=0.999, eps=1e-8, bias_correction=True, wd=0.0, decoupled=False):
    """The spec's Adam on f(x) = x², written out in Python floats."""
    m = v = 0.0
    out = []
    for t in range(1, steps + 1):
        g = 2.0 * x
        if decoupled:
            x = x - lr * wd * x
        else:
            g = g + wd * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if bias_correction:
            x = x - lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
        else:
            x = x - lr * m / (math.sqrt(v) + eps)
        out.append(x)
    return out


def test_adam_first_step_moves_by_lr():
    # with bias correction m̂₁ = g, v̂₁ = g², so x₁ = 4 − 0.1 · 8/(8 + 1e-8)
    assert scalar_run("adam", 4.0, 1, lr=0.1)[0] == pytest.approx(4.0 - 0.1 * 8.0 / (8.0 + 1e-8), rel=1e-15)


def test_adam_hand_trajectory_with_bias_correction():
    got = scalar_run("adam", 4.0, 4, lr=0.1)
    assert got == pytest.approx(_adam_reference(4.0, 4, 0.1), rel=1e-12)


def test_adam_without_bias_correction_is_the_spec_formula():
    # step 1: m = 0.8, v = 0.064, x = 4 − 0.1 · 0.8/(√0.064 + 1e-8)
    got = scalar_run("adam", 4.0, 4, lr=0.1, bias_correction=False)
    assert got[0] == pytest.approx(4.0 - 0.1 * 0.8 / (math.sqrt(0.064) + 1e-8), rel=1e-14)
    assert got == pytest.approx(_adam_reference(4.0, 4, 0.1, bias_correction=False), rel=1e-12)
    assert got != pytest.approx(_adam_reference(4.0, 4, 0.1, bias_correction=True), rel=1e-3)


def test_adam_weight_decay_and_adamw_hand_trajectories():
    coupled = scalar_run("adam", 4.0, 4, lr=0.1, weight_decay=0.3)
    assert coupled == pytest.approx(_adam_reference(4.0, 4, 0.1, wd=0.3), rel=1e-12)
    decoupled = scalar_run("adamw", 4.0, 4, lr=0.1, weight_decay=0.3)
    assert decoupled == pytest.approx(_adam_reference(4.0, 4, 0.1, wd=0.3, decoupled=True), rel=1e-12)


def test_rmsprop_hand_trajectory():
    rho, eps, lr = 0.9, 1e-8, 0.01
    x, s, expected = 4.0, 0.0, []
    for _ in range(4):
        g = 2.0 * x
        s = rho * s + (1 - rho) * g * g
        x = x - lr * g / (math.sqrt(s) + eps)
        expected.append(x)
    # first step by hand: s = 0.1·64 = 6.4, x = 4 − 0.01 · 8/√6.4
    assert expected[0] == pytest.approx(4.0 - 0.08 / math.sqrt(6.4))
    assert scalar_run("rmsprop", 4.0, 4, lr=lr, rho=rho) == pytest.approx(expected, rel=1e-12)


def test_adagrad_hand_trajectory():
    # s₁ = 64, x₁ = 4 − 0.5 · 8/8 = 3.5
    # g₁ = 7: s₂ = 113, x₂ = 3.5 − 0.5 · 7/√113
    x1 = 3.5
    x2 = x1 - 0.5 * 7.0 / math.sqrt(113.0)
    g2 = 2 * x2
    x3 = x2 - 0.5 * g2 / math.sqrt(113.0 + g2 * g2)
    assert scalar_run("adagrad", 4.0, 3, lr=0.5, eps=1e-10) == pytest.approx([x1, x2, x3], rel=1e-9)


def test_two_coordinate_quadratic_each_coordinate_independent():
    # f(w) = w₀² + 3w₁²: GD with η = 0.1 scales w₀ by 0.8 and w₁ by 0.4 each step
    w = Parameter(np.array([1.0, 1.0]))
    opt = GradientDescent([w], lr=0.1)
    history = quadratic_steps(opt, [w], [np.array([1.0, 3.0])], 3)
    np.testing.assert_allclose(history[-1][0], [0.512, 0.064], rtol=1e-14)


# ---------------------------------------------------------------------- momentum vs PyTorch's form
def test_momentum_with_changing_lr_differs_from_torch_form_by_gamma_g0_delta_eta():
    """Spec: v₂ = γη₀g₀ + η₁g₁.  PyTorch: η₁(γg₀ + g₁).  x₂ differs by γg₀(η₀ − η₁)."""
    x = Parameter(np.array([4.0]))
    opt = Momentum([x], lr=0.1, momentum=0.9)
    lrs = [0.1, 0.05]
    xs = [4.0]
    for lr in lrs:
        opt.lr = lr
        x.grad = mf.Tensor(2.0 * x.data)
        opt.step()
        xs.append(float(x.data[0]))
    g0 = 8.0
    x1 = 4.0 - 0.1 * g0
    g1 = 2 * x1
    spec_x2 = x1 - (0.9 * 0.1 * g0 + 0.05 * g1)
    torch_form_x2 = x1 - 0.05 * (0.9 * g0 + g1)
    assert xs[2] == pytest.approx(spec_x2, rel=1e-14)
    assert xs[2] - torch_form_x2 == pytest.approx(-0.9 * g0 * (0.1 - 0.05), rel=1e-12)


# ---------------------------------------------------------------------- PyTorch parity
def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((16, 5))
    Y = rng.standard_normal((16, 3))
    W0 = rng.standard_normal((5, 3))
    b0 = rng.standard_normal(3)
    return X, Y, W0, b0


def _grads(X, Y, W, b):
    """∇ of ½‖XW + b − Y‖²/N."""
    R = (X @ W + b - Y) / X.shape[0]
    return X.T @ R, R.sum(axis=0)


def _run_mathflow(name, kwargs, steps=20, lrs=None, seed=0):
    X, Y, W0, b0 = _problem(seed)
    W, b = Parameter(W0.copy()), Parameter(b0.copy())
    opt = OPTIMIZERS.create(name, params=[W, b], **kwargs)
    for k in range(steps):
        if lrs is not None:
            opt.lr = lrs[k]
        gW, gb = _grads(X, Y, W.data, b.data)
        W.grad, b.grad = mf.Tensor(gW), mf.Tensor(gb)
        opt.step()
    return W.data, b.data


def _run_torch(make, steps=20, lrs=None, seed=0):
    torch = pytest.importorskip("torch")
    X, Y, W0, b0 = _problem(seed)
    W = torch.tensor(W0.copy(), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b0.copy(), dtype=torch.float64, requires_grad=True)
    opt = make(torch, [W, b])
    for k in range(steps):
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs[k]
        gW, gb = _grads(X, Y, W.detach().numpy(), b.detach().numpy())
        W.grad, b.grad = torch.from_numpy(gW), torch.from_numpy(gb)
        opt.step()
    return W.detach().numpy(), b.detach().numpy()


TORCH_CASES = [
    ("gd", {"lr": 0.1}, lambda t, p: t.optim.SGD(p, lr=0.1)),
    ("sgd", {"lr": 0.1, "weight_decay": 0.05}, lambda t, p: t.optim.SGD(p, lr=0.1, weight_decay=0.05)),
    ("momentum", {"lr": 0.05}, lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9)),
    (
        "momentum",
        {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1},
        lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.5, weight_decay=0.1),
    ),
    ("nesterov", {"lr": 0.05}, lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    (
        "sgd",
        {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.02},
        lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.02),
    ),
    ("adam", {"lr": 0.05}, lambda t, p: t.optim.Adam(p, lr=0.05)),
    (
        "adam",
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.1},
        lambda t, p: t.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    ("adamw", {"lr": 0.05}, lambda t, p: t.optim.AdamW(p, lr=0.05)),
    ("adamw", {"lr": 0.05, "weight_decay": 0.3}, lambda t, p: t.optim.AdamW(p, lr=0.05, weight_decay=0.3)),
    ("rmsprop", {"lr": 0.01}, lambda t, p: t.optim.RMSprop(p, lr=0.01)),
    (
        "rmsprop",
        {"lr": 0.01, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.1},
        lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1),
    ),
    ("adagrad", {"lr": 0.1}, lambda t, p: t.optim.Adagrad(p, lr=0.1)),
    (
        "adagrad",
        {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5},
        lambda t, p: t.optim.Adagrad(p, lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5),
    ),
]


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs,make", TORCH_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CASES)])
def test_matches_torch_for_20_steps(name, kwargs, make):
    W, b = _run_mathflow(name, kwargs)
    W_ref, b_ref = _run_torch(make)
    X, Y, W0, _ = _problem()
    assert not np.allclose(W, W0)  # the parameters did move
    np.testing.assert_allclose(W, W_ref, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(b, b_ref, rtol=1e-6, atol=1e-12)


@pytest.mark.torch
def test_adam_matches_torch_with_changing_lr():
    lrs = [0.05 * 0.9**k for k in range(20)]
    W, b = _run_mathflow("adam", {"lr": 0.05}, lrs=lrs)
    W_ref, b_ref = _run_torch(lambda t, p: t.optim.Adam(p, lr=0.05), lrs=lrs)
    np.testing.assert_allclose(W, W_ref, rtol=1e-6)
    np.testing.assert_allclose(b, b_ref, rtol=1e-6)


@pytest.mark.torch
def test_momentum_equals_torch_for_constant_lr_but_not_for_changing_lr():
    make = lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9)  # noqa: E731
    W, _ = _run_mathflow("momentum", {"lr": 0.05})
    W_ref, _ = _run_torch(make)
    np.testing.assert_allclose(W, W_ref, rtol=1e-6)

    lrs = [0.05 * 0.8**k for k in range(20)]
    W, _ = _run_mathflow("momentum", {"lr": 0.05}, lrs=lrs)
    W_ref, _ = _run_torch(make, lrs=lrs)
    assert not np.allclose(W, W_ref, rtol=1e-3)

    # the spec's form, run by hand on the same problem, is what mathflow follows
    X, Y, W0, b0 = _problem()
    Wh, bh = W0.copy(), b0.copy()
    vW, vb = np.zeros_like(Wh), np.zeros_like(bh)
    for lr in lrs:
        gW, gb = _grads(X, Y, Wh, bh)
        vW = 0.9 * vW + lr * gW
        vb = 0.9 * vb + lr * gb
        Wh, bh = Wh - vW, bh - vb
    np.testing.assert_allclose(W, Wh, rtol=1e-10)


# ---------------------------------------------------------------------- in place, dtypes, grads
@pytest.mark.parametrize("name", ALL_NAMES)
def test_float32_parameters_stay_float32_and_are_updated_in_place(name):
    rng = np.random.default_rng(1)
    p = Parameter(rng.standard_normal((4, 3)).astype(np.float32))
    q = Parameter(rng.standard_normal(3).astype(np.float32))
    data_p, data_q = p.data, q.data
    opt = OPTIMIZERS.create(name, params=[p, q], lr=0.01)
    for step in range(3):
        # float32 gradients, and once a float64 one: the update must still stay float32
        gdtype = np.float64 if step == 1 else np.float32
        p.grad = mf.Tensor(rng.standard_normal((4, 3)).astype(gdtype))
        q.grad = mf.Tensor(rng.standard_normal(3).astype(np.float32))
        opt.step()
    assert p.data is data_p and q.data is data_q
    assert p.data.dtype == np.float32 and q.data.dtype == np.float32
    for entry in opt.state_dict()["state"]:
        assert all(arr.dtype == np.float32 for arr in entry.values())


@pytest.mark.parametrize("name", ALL_NAMES)
def test_gradient_arrays_are_never_written(name):
    rng = np.random.default_rng(2)
    p = Parameter(rng.standard_normal((3, 3)))
    opt = OPTIMIZERS.create(name, params=[p], lr=0.1, **({"weight_decay": 0.1} if name != "momentum" else {}))
    g = rng.standard_normal((3, 3))
    g_copy = g.copy()
    for _ in range(3):
        p.grad = mf.Tensor(g)
        opt.step()
    np.testing.assert_array_equal(g, g_copy)


def test_read_only_broadcast_gradient_is_accepted():
    p = Parameter(np.zeros((2, 3)))
    opt = Adam([p], lr=0.1)
    p.grad = mf.Tensor(np.broadcast_to(np.array([1.0, -1.0, 2.0]), (2, 3)))
    opt.step()
    np.testing.assert_allclose(p.data, np.broadcast_to([-0.1, 0.1, -0.1], (2, 3)), rtol=1e-7)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_parameters_without_gradient_are_skipped(name):
    p = Parameter(np.ones(3))
    q = Parameter(np.ones(2))
    opt = OPTIMIZERS.create(name, params=[p, q], lr=0.1)
    p.grad = mf.Tensor(np.ones(3))
    opt.step()
    assert not np.allclose(p.data, 1.0)
    np.testing.assert_array_equal(q.data, np.ones(2))
    assert opt.steps == [1, 0]


def test_zero_grad_clears_gradients():
    p = Parameter(np.ones(3))
    opt = SGD([p], lr=0.1)
    (p * p).sum().backward()
    assert p.grad is not None
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # nothing to do
    np.testing.assert_array_equal(p.data, np.ones(3))


def test_gradient_shape_mismatch_raises():
    p = Parameter(np.ones((2, 2)))
    opt = Adam([p])
    p.grad = mf.Tensor(np.ones(4))
    with pytest.raises(ShapeError, match=r"adam: gradient of shape \(4,\) for a parameter of shape \(2, 2\)"):
        opt.step()


def test_lr_attribute_drives_the_step():
    x = Parameter(np.array([4.0]))
    opt = GradientDescent([x], lr=0.1)
    opt.lr = 0.25
    x.grad = mf.Tensor(np.array([8.0]))
    opt.step()
    assert float(x.data[0]) == pytest.approx(2.0)
    assert opt.base_lr == 0.1


def test_training_a_linear_model_through_autodiff_reduces_the_loss():
    rng = np.random.default_rng(3)
    X = mf.tensor(rng.standard_normal((32, 4)))
    true_w = rng.standard_normal((4, 1)).astype(np.float32)
    Y = mf.tensor(X.data @ true_w)
    W = Parameter(np.zeros((4, 1), dtype=np.float32))
    opt = Adam([W], lr=0.1)
    losses = []
    for _ in range(100):
        loss = ((X @ W - Y) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.item()))
    assert losses[-1] < 1e-3 * losses[0]
    assert W.data.dtype == np.float32


# ---------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("name", ALL_NAMES)
def test_state_dict_round_trip_resumes_identically(name):
    X, Y, W0, b0 = _problem(4)

    def run(opt, W, b, n):
        for _ in range(n):
            gW, gb = _grads(X, Y, W.data, b.data)
            W.grad, b.grad = mf.Tensor(gW), mf.Tensor(gb)
            opt.step()

    W, b = Parameter(W0.copy()), Parameter(b0.copy())
    opt = OPTIMIZERS.create(name, params=[W, b], lr=0.05)
    run(opt, W, b, 5)
    opt.lr = 0.03  # as a schedule would
    saved = opt.state_dict()
    W_mid, b_mid = W.data.copy(), b.data.copy()
    run(opt, W, b, 5)

    W2, b2 = Parameter(W_mid), Parameter(b_mid)
    fresh = OPTIMIZERS.create(name, params=[W2, b2], lr=0.05)
    fresh.load_state_dict(saved)
    assert fresh.lr == 0.03 and fresh.base_lr == 0.05
    assert fresh.steps == [5, 5]
    run(fresh, W2, b2, 5)
    np.testing.assert_array_equal(W2.data, W.data)
    np.testing.assert_array_equal(b2.data, b.data)


def test_state_dict_holds_plain_copies():
    p = Parameter(np.ones(3))
    opt = Adam([p], lr=0.1)
    p.grad = mf.Tensor(np.ones(3))
    opt.step()
    state = opt.state_dict()
    m_before = state["state"][0]["m"].copy()
    opt.step()
    np.testing.assert_array_equal(state["state"][0]["m"], m_before)
    assert isinstance(state["state"][0]["m"], np.ndarray)
    assert state["optimizer"] == "adam"
    assert state["hyperparameters"] == {
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "bias_correction": True,
    }


def test_load_state_dict_rejects_mismatches():
    p = Parameter(np.ones(3))
    saved = Adam([p]).state_dict()
    with pytest.raises(MathflowError, match="cannot load the state of a 'adam' optimizer"):
        RMSProp([Parameter(np.ones(3))]).load_state_dict(saved)
    with pytest.raises(ShapeError, match=r"state 'm' of parameter 0 has shape \(3,\), expected \(4,\)"):
        Adam([Parameter(np.ones(4))]).load_state_dict(saved)
    with pytest.raises(MathflowError, match="holds state for 1 parameters, this optimizer has 2"):
        Adam([Parameter(np.ones(3)), Parameter(np.ones(3))]).load_state_dict(saved)
    bad = Adam([p]).state_dict()
    bad["hyperparameters"]["beta1"] = 1.5
    target = Adam([Parameter(np.ones(3))])
    with pytest.raises(MathflowError, match="beta1"):
        target.load_state_dict(bad)
    assert target.beta1 == 0.9


# ---------------------------------------------------------------------- registry and errors
def test_registry_names_and_classes():
    assert set(ALL_NAMES) <= set(OPTIMIZERS.names())
    assert OPTIMIZERS.get("gd") is GradientDescent and OPTIMIZERS.get("sgd") is SGD
    assert OPTIMIZERS.get("momentum") is Momentum and OPTIMIZERS.get("nesterov") is Nesterov
    assert OPTIMIZERS.get("adam") is Adam and OPTIMIZERS.get("adamw") is AdamW
    assert OPTIMIZERS.get("rmsprop") is RMSProp and OPTIMIZERS.get("adagrad") is Adagrad
    with pytest.raises(MathflowError, match="did you mean 'adam'"):
        OPTIMIZERS.get("adma")


def test_defaults_follow_the_spec():
    p = Parameter(np.ones(2))
    adam = Adam([p])
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps, adam.bias_correction) == (1e-3, 0.9, 0.999, 1e-8, True)
    assert Momentum([p]).momentum == 0.9
    assert Nesterov([p]).nesterov is True
    assert AdamW([p]).weight_decay == 0.01
    assert Adam([p], betas=(0.5, 0.6)).beta2 == 0.6


BAD_HYPERPARAMETERS = [
    ("sgd", {"lr": 0.0}, "sgd|gd: lr must be > 0"),
    ("gd", {"lr": -0.1}, "lr must be > 0"),
    ("gd", {"lr": float("nan")}, "lr must be > 0"),
    ("gd", {"lr": "fast"}, "lr must be a number"),
    ("momentum", {"momentum": 1.0}, "momentum must satisfy 0 <= momentum < 1"),
    ("momentum", {"momentum": -0.1}, "momentum must satisfy"),
    ("sgd", {"nesterov": True}, "nesterov needs momentum > 0"),
    ("gd", {"weight_decay": -1.0}, "weight_decay must be >= 0"),
    ("adam", {"beta1": 1.0}, "beta1 must satisfy 0 <= beta1 < 1"),
    ("adam", {"beta2": -0.5}, "beta2 must satisfy"),
    ("adam", {"eps": 0.0}, "eps must be > 0"),
    ("adam", {"betas": (0.9,)}, "betas must be a pair"),
    ("adamw", {"weight_decay": -0.01}, "weight_decay must be >= 0"),
    ("rmsprop", {"rho": 1.2}, "rho must satisfy"),
    ("rmsprop", {"eps": -1e-8}, "eps must be > 0"),
    ("adagrad", {"eps": 0}, "eps must be > 0"),
    ("adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value must be >= 0"),
]


@pytest.mark.parametrize("name,kwargs,message", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_raise_clear_errors(name, kwargs, message):
    with pytest.raises(MathflowError, match=message):
        OPTIMIZERS.create(name, params=[Parameter(np.ones(2))], **kwargs)


def test_bad_parameter_lists_raise_clear_errors():
    p = Parameter(np.ones(2))
    with pytest.raises(MathflowError, match="empty parameter list"):
        Adam([])
    with pytest.raises(MathflowError, match="parameter 1 is a ndarray, not a Tensor"):
        Adam([p, np.ones(2)])
    with pytest.raises(MathflowError, match="does not require a gradient"):
        Adam([mf.tensor([1.0, 2.0])])
    with pytest.raises(MathflowError, match="appears twice"):
        Adam([p, p])
    with pytest.raises(MathflowError, match="must be an iterable of tensors"):
        Adam(3)


def test_accepts_a_single_tensor_or_an_object_with_parameters():
    p = Parameter(np.ones(2))

    class Model:
        def parameters(self):
            return [p]

    assert Adam(p).params == [p]
    assert Adam(Model()).params == [p]


# ---------------------------------------------------------------------- clipping
def _grad_params(rng, scale=1.0):
    shapes = [(3, 4), (4,), (2, 2)]
    params = [Parameter(rng.standard_normal(s)) for s in shapes]
    for p in params:
        p.grad = mf.Tensor(scale * rng.standard_normal(p.shape))
    return params


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_old_norm():
    rng = np.random.default_rng(5)
    params = _grad_params(rng, scale=3.0)
    old_arrays = [p.grad.data for p in params]
    old_copies = [a.copy() for a in old_arrays]
    expected_norm = math.sqrt(sum(float((a**2).sum()) for a in old_copies))
    norm = clip_grad_norm(params, 1.0)
    assert norm == pytest.approx(expected_norm, rel=1e-12)
    assert global_grad_norm(params) == pytest.approx(1.0 / (1.0 + 1e-6 / expected_norm), rel=1e-9)
    for p, old, copy in zip(params, old_arrays, old_copies):
        assert p.grad.data is not old
        np.testing.assert_array_equal(old, copy)  # the old arrays are untouched
        np.testing.assert_allclose(p.grad.data, copy * 1.0 / (expected_norm + 1e-6), rtol=1e-12)


def test_clip_grad_norm_leaves_small_gradients_alone():
    rng = np.random.default_rng(6)
    params = _grad_params(rng, scale=0.01)
    before = [p.grad.data.copy() for p in params]
    clip_grad_norm(params, 10.0)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad.data, b)


def test_clip_grad_value_clamps_entries():
    p = Parameter(np.zeros(4))
    g = np.array([-3.0, -0.5, 0.2, 7.0])
    p.grad = mf.Tensor(g)
    clip_grad_value([p], 1.0)
    np.testing.assert_array_equal(p.grad.data, [-1.0, -0.5, 0.2, 1.0])
    np.testing.assert_array_equal(g, [-3.0, -0.5, 0.2, 7.0])


def test_clipping_keeps_float32_and_skips_missing_grads():
    p = Parameter(np.ones(3, dtype=np.float32))
    q = Parameter(np.ones(2, dtype=np.float32))
    p.grad = mf.Tensor(np.full(3, 10.0, dtype=np.float32))
    clip_grad_norm([p, q], 1.0)
    assert p.grad.data.dtype == np.float32 and q.grad is None
    clip_grad_value([p, q], 0.1)
    assert p.grad.data.dtype == np.float32 and q.grad is None


def test_clipping_rejects_bad_limits():
    p = Parameter(np.ones(2))
    with pytest.raises(MathflowError, match="clip_grad_norm: max_norm must be > 0"):
        clip_grad_norm([p], 0.0)
    with pytest.raises(MathflowError, match="clip_grad_value: clip_value must be > 0"):
        clip_grad_value([p], -1.0)


@pytest.mark.torch
@pytest.mark.parametrize("max_norm", [0.5, 2.0, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    params = _grad_params(rng)
    tparams = [torch.tensor(p.data, requires_grad=True) for p in params]
    for p, t in zip(params, tparams):
        t.grad = torch.tensor(p.grad.data.copy())
    norm = clip_grad_norm(params, max_norm)
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, max_norm)
    assert norm == pytest.approx(float(tnorm), rel=1e-12)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-10)


@pytest.mark.torch
def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    params = _grad_params(rng, scale=2.0)
    tparams = [torch.tensor(p.data, requires_grad=True) for p in params]
    for p, t in zip(params, tparams):
        t.grad = torch.tensor(p.grad.data.copy())
    clip_grad_value(params, 0.7)
    torch.nn.utils.clip_grad_value_(tparams, 0.7)
    for p, t in zip(params, tparams):
        np.testing.assert_array_equal(p.grad.data, t.grad.numpy())


# ---------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("name", ALL_NAMES)
def test_gpu_matches_cpu(name):
    if not mf.gpu_available():
        pytest.skip("needs CuPy and a CUDA device")
    import cupy

    rng = np.random.default_rng(9)
    for dtype in (np.float64, np.float32):
        w0 = rng.standard_normal((5, 4)).astype(dtype)
        grads = [rng.standard_normal((5, 4)).astype(dtype) for _ in range(4)]
        cpu = Parameter(w0.copy())
        gpu = Parameter(cupy.asarray(w0))
        kwargs = {"lr": 0.05}
        if name in ("adam", "adamw"):
            kwargs["weight_decay"] = 0.1
        opt_cpu = OPTIMIZERS.create(name, params=[cpu], **kwargs)
        opt_gpu = OPTIMIZERS.create(name, params=[gpu], **kwargs)
        for g in grads:
            cpu.grad = mf.Tensor(g)
            gpu.grad = mf.Tensor(cupy.asarray(g))
            opt_cpu.step()
            opt_gpu.step()
        assert gpu.data.dtype == dtype
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(cupy.asnumpy(gpu.data), cpu.data, rtol=rtol, atol=rtol)
        state = opt_gpu.state_dict()
        assert all(isinstance(a, np.ndarray) for entry in state["state"] for a in entry.values())
