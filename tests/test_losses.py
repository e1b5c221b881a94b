"""Loss functions of ``mathflow.functional``: the spec's formulas on tiny hand-computed examples,
first and second derivatives against finite differences, values and gradients against
PyTorch (float64, rtol 1e-6), numerical stability, dtypes and error messages.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F


def _u(shape, low=-2.0, high=2.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def _labels(n, c, seed=0):
    return np.random.default_rng(seed).integers(0, c, n)


def _prob_rows(n, c, seed=0):
    p = np.random.default_rng(seed).uniform(0.1, 1.0, (n, c))
    return p / p.sum(axis=1, keepdims=True)


def _signs(n, seed=0):
    return np.random.default_rng(seed).choice([-1.0, 1.0], n)


def _hinge_scores_binary():
    """Scores whose margins 1 − y·s stay at least 0.2 away from the kink at 0."""
    y = _signs(6, seed=3)
    margin = np.array([0.6, -0.4, 1.3, -0.9, 0.3, -1.5])
    return (1.0 - margin) * y, y


def _hinge_scores_multiclass():
    """(N, C) scores with every 1 − s_y + s_j at least 0.15 away from 0."""
    rng = np.random.default_rng(5)
    y = np.array([0, 2, 1, 3])
    s = rng.uniform(-1.0, 1.0, (4, 4))
    for _ in range(100):
        m = 1.0 - s[np.arange(4), y][:, None] + s
        close = np.abs(m) < 0.15
        close[np.arange(4), y] = False
        if not close.any():
            return s, y
        s = s + close * 0.4
    raise AssertionError("could not separate the margins")


_P, _T = _u((3, 4)), _u((3, 4), seed=1)
_PROB = _u((3, 4), 0.05, 0.95, seed=2)
_BIN = np.random.default_rng(3).integers(0, 2, (3, 4)).astype(float)
_SOFT_BIN = _u((3, 4), 0.0, 1.0, seed=4)
_LOGITS = _u((4, 5), seed=6)
_HB_S, _HB_Y = _hinge_scores_binary()
_HM_S, _HM_Y = _hinge_scores_multiclass()
_ABS_D = _u((3, 4), 0.1, 2.0, seed=8) * np.random.default_rng(9).choice([-1.0, 1.0], (3, 4))


def _huber_pair(delta):
    """Differences whose |d| stay at least 0.05 away from 0 and from delta."""
    d = _ABS_D.copy()
    d = np.where(np.abs(np.abs(d) - delta) < 0.05, d * 1.2, d)
    return _T + d, _T


# name -> (loss as a function of the differentiable inputs, inputs)
LOSSES: dict[str, tuple[Callable, tuple[np.ndarray, ...]]] = {
    "mse": (F.mse, (_P, _T)),
    "mse_sum": (lambda p, t: F.mse(p, t, reduction="sum"), (_P, _T)),
    "mae": (F.mae, (_T + _ABS_D, _T)),
    "huber": (F.huber, _huber_pair(1.0)),
    "huber_delta_half": (lambda p, t: F.huber(p, t, delta=0.5, reduction="sum"), _huber_pair(0.5)),
    "bce": (F.binary_cross_entropy, (_PROB, _BIN)),
    "bce_soft_targets_sum": (lambda p, y: F.binary_cross_entropy(p, y, reduction="sum"), (_PROB, _SOFT_BIN)),
    "bce_with_logits": (F.binary_cross_entropy_with_logits, (_P, _BIN)),
    "bce_with_logits_soft_sum": (
        lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="sum"),
        (_P, _SOFT_BIN),
    ),
    "cross_entropy_indices": (lambda z: F.cross_entropy(z, _labels(4, 5)), (_LOGITS,)),
    "cross_entropy_indices_smoothing_sum": (
        lambda z: F.cross_entropy(z, _labels(4, 5), label_smoothing=0.2, reduction="sum"),
        (_LOGITS,),
    ),
    "cross_entropy_probs": (F.cross_entropy, (_LOGITS, _prob_rows(4, 5))),
    "cross_entropy_probs_smoothing": (
        lambda z, q: F.cross_entropy(z, q, label_smoothing=0.1),
        (_LOGITS, _prob_rows(4, 5)),
    ),
    "hinge_binary": (lambda s: F.hinge(s, _HB_Y), (_HB_S,)),
    "hinge_binary_column": (lambda s: F.hinge(s, _HB_Y.reshape(-1, 1), reduction="sum"), (_HB_S.reshape(-1, 1),)),
    "hinge_multiclass": (lambda s: F.hinge(s, _HM_Y), (_HM_S,)),
}


# ------------------------------------------------------------------------- the spec's formulas
def test_mse_is_the_mean_of_squared_differences():
    assert F.mse(mf.tensor([1.0, 2.0, 3.0]), [1.0, 1.0, 1.0]).item() == pytest.approx(5.0 / 3.0)
    assert F.mse(mf.tensor([1.0, 2.0, 3.0]), [1.0, 1.0, 1.0], reduction="sum").item() == pytest.approx(5.0)


def test_mae_and_huber_by_hand():
    pred, target = mf.tensor([0.0, 0.5, 3.0]), mf.tensor([0.0, 0.0, 0.0])
    assert F.mae(pred, target).item() == pytest.approx(3.5 / 3.0)
    # |d| ≤ 1: ½d² → 0, 0.125; |d| = 3 > 1: 1·(3 − ½) = 2.5
    assert F.huber(pred, target).item() == pytest.approx((0.0 + 0.125 + 2.5) / 3.0)


def test_binary_cross_entropy_by_hand():
    loss = F.binary_cross_entropy(mf.tensor([0.9, 0.2]), mf.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2.0, rel=1e-6)


def test_binary_cross_entropy_with_logits_equals_bce_of_sigmoid():
    z, y = _P, _SOFT_BIN
    p = 1.0 / (1.0 + np.exp(-z))
    expected = -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    assert F.binary_cross_entropy_with_logits(mf.tensor(z), y).item() == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_by_hand():
    assert F.cross_entropy(mf.tensor([[0.0, 0.0]]), [0]).item() == pytest.approx(math.log(2.0))
    z = np.array([[2.0, 1.0, 0.1]])
    expected = -(2.0 - math.log(np.exp(z).sum()))
    assert F.cross_entropy(mf.tensor(z), np.array([0])).item() == pytest.approx(expected, rel=1e-12)
    # one-hot rows give the same loss as the class indices
    assert F.cross_entropy(mf.tensor(z), np.array([[1.0, 0.0, 0.0]])).item() == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_accepts_a_single_unbatched_sample():
    z = np.array([2.0, 1.0, 0.1])
    batched = F.cross_entropy(mf.tensor(z[None]), [1]).item()
    assert F.cross_entropy(mf.tensor(z), 1).item() == pytest.approx(batched, rel=1e-12)
    assert F.cross_entropy(mf.tensor(z), np.array([0.0, 1.0, 0.0])).item() == pytest.approx(batched, rel=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    z = mf.tensor(_LOGITS, requires_grad=True)
    labels = _labels(4, 5)
    F.cross_entropy(z, labels).backward()
    p = np.exp(_LOGITS) / np.exp(_LOGITS).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad.numpy(), (p - np.eye(5)[labels]) / 4.0, rtol=1e-12, atol=1e-15)


def test_hinge_by_hand():
    # binary: max(0, 1 − 2) = 0, max(0, 1 − 0.5) = 0.5, max(0, 1 + 1) = 2
    assert F.hinge(mf.tensor([2.0, 0.5, -1.0]), [1.0, 1.0, 1.0]).item() == pytest.approx(2.5 / 3.0)
    assert F.hinge(mf.tensor([2.0, 0.5, -1.0]), [-1.0, 1.0, -1.0], reduction="sum").item() == pytest.approx(3.5)
    # multiclass, y = 0: j=1 → max(0, 1 − 1 + 2) = 2, j=2 → max(0, 1 − 1 + 0) = 0; divided by C = 3
    assert F.hinge(mf.tensor([[1.0, 2.0, 0.0]]), [0]).item() == pytest.approx(2.0 / 3.0)


def test_targets_may_be_tensors_arrays_or_lists():
    pred = mf.tensor([0.2, 0.7])
    values = {F.mse(pred, t).item() for t in ([0.0, 1.0], np.array([0.0, 1.0]), mf.tensor([0.0, 1.0]))}
    assert len(values) == 1
    logits = mf.tensor([[1.0, 2.0], [0.5, 0.1]])
    losses = {round(F.cross_entropy(logits, t).item(), 6) for t in ([1, 0], np.array([1, 0]), mf.tensor([1, 0]))}
    assert len(losses) == 1


# ------------------------------------------------------------------------- derivatives
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_first_derivative_matches_finite_differences(name):
    f, xs = LOSSES[name]
    assert mf.gradcheck(f, *xs)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_second_derivative_matches_finite_differences(name):
    f, xs = LOSSES[name]
    assert mf.gradgradcheck(f, *xs)


def _grads(f, xs, create_graph):
    ts = [mf.tensor(x, requires_grad=True) for x in xs]
    return [g.numpy() for g in mf.autograd(f(*ts), ts, create_graph=create_graph)]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_fast_raw_backward_agrees_with_the_differentiable_backward(name):
    f, xs = LOSSES[name]
    for a, b in zip(_grads(f, xs, False), _grads(f, xs, True)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_float32_in_gives_float32_values_and_gradients(name):
    f, xs = LOSSES[name]
    ts = [mf.tensor(x.astype(np.float32), requires_grad=True) for x in xs]
    out = f(*ts)
    assert out.dtype == np.float32 and out.shape == ()
    out.backward()
    assert all(t.grad.dtype == np.float32 for t in ts)
    ts = [mf.tensor(x.astype(np.float32), requires_grad=True) for x in xs]
    assert all(g.dtype == np.float32 for g in mf.autograd(f(*ts), ts, create_graph=True))


def test_float64_targets_do_not_upcast_a_float32_prediction():
    pred = mf.tensor(np.float32([0.3, 0.6]), requires_grad=True)
    for loss in (F.mse, F.mae, F.huber, F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        out = loss(pred, mf.tensor(np.array([0.0, 1.0])))
        assert out.dtype == np.float32


# ------------------------------------------------------------------------- stability
def test_cross_entropy_is_finite_for_extreme_logits():
    z = mf.tensor(np.array([[1000.0, 0.0, -1000.0], [-1000.0, 0.0, 1000.0]]), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        loss = F.cross_entropy(z, [0, 0])
        loss.backward()
    assert loss.item() == pytest.approx(1000.0)  # (0 + 2000) / 2
    np.testing.assert_allclose(z.grad.numpy(), [[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5]], atol=1e-300)


def test_bce_with_logits_is_finite_for_huge_logits():
    z = mf.tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0]), requires_grad=True)
    y = mf.tensor(np.array([1.0, 0.0, 0.0, 1.0]))
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        loss = F.binary_cross_entropy_with_logits(z, y)
        loss.backward()
    assert loss.item() == pytest.approx(500.0)  # (0 + 0 + 1000 + 1000) / 4
    np.testing.assert_allclose(z.grad.numpy(), [0.0, 0.0, 0.25, -0.25])


def test_bce_clamps_the_log_at_minus_100_for_saturated_probabilities():
    p = mf.tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    y = mf.tensor(np.array([0.0, 1.0, 1.0, 0.0]))
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        loss = F.binary_cross_entropy(p, y)
        loss.backward()
    assert loss.item() == pytest.approx(50.0)  # (0 + 0 + 100 + 100) / 4
    assert np.isfinite(p.grad.numpy()).all()


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call",
    [
        lambda: F.mse(mf.tensor([1.0]), [1.0], reduction="none"),
        lambda: F.mae(mf.tensor([1.0]), [1.0], reduction="avg"),
        lambda: F.huber(mf.tensor([1.0]), [1.0], reduction="max"),
        lambda: F.binary_cross_entropy(mf.tensor([0.5]), [1.0], reduction="mean "),
        lambda: F.binary_cross_entropy_with_logits(mf.tensor([0.5]), [1.0], reduction=""),
        lambda: F.cross_entropy(mf.tensor([[0.5, 0.1]]), [1], reduction="Mean"),
        lambda: F.hinge(mf.tensor([0.5]), [1.0], reduction="total"),
    ],
)
def test_unknown_reduction_is_rejected(call):
    with pytest.raises(mf.MathflowError, match="reduction"):
        call()


@pytest.mark.parametrize("loss", [F.mse, F.mae, F.huber, F.binary_cross_entropy, F.binary_cross_entropy_with_logits])
def test_shape_mismatch_names_both_shapes(loss):
    with pytest.raises(mf.ShapeError, match=r"\(4, 1\).*\(4,\)"):
        loss(mf.tensor(np.full((4, 1), 0.5)), np.zeros(4))


def test_cross_entropy_rejects_out_of_range_and_non_integer_classes():
    logits = mf.tensor(np.zeros((3, 4)))
    with pytest.raises(mf.MathflowError, match="class index 7"):
        F.cross_entropy(logits, [0, 7, 1])
    with pytest.raises(mf.MathflowError, match="class index -1"):
        F.cross_entropy(logits, [0, -1, 1])
    with pytest.raises(mf.MathflowError, match="integers"):
        F.cross_entropy(logits, np.array([0.5, 1.0, 2.0]))
    with pytest.raises(mf.ShapeError, match=r"\(3, 4\).*\(2,\)"):
        F.cross_entropy(logits, [0, 1])
    with pytest.raises(mf.MathflowError, match="label_smoothing"):
        F.cross_entropy(logits, [0, 1, 2], label_smoothing=1.5)


def test_hinge_rejects_zero_one_labels_with_a_suggestion():
    with pytest.raises(mf.MathflowError, match=r"-1 or \+1.*2\*y - 1"):
        F.hinge(mf.tensor([0.5, -0.5]), [0.0, 1.0])
    with pytest.raises(mf.MathflowError, match="class index 3"):
        F.hinge(mf.tensor(np.zeros((2, 3))), [0, 3])
    with pytest.raises(mf.ShapeError, match=r"\(2, 3\).*\(3,\)"):
        F.hinge(mf.tensor(np.zeros((2, 3))), [0, 1, 2])


def test_bce_rejects_values_outside_zero_one():
    with pytest.raises(mf.DomainError, match=r"\[0, 1\]"):
        F.binary_cross_entropy(mf.tensor([1.5, 0.5]), [1.0, 0.0])


def test_huber_rejects_a_non_positive_delta():
    with pytest.raises(mf.MathflowError, match="delta"):
        F.huber(mf.tensor([1.0]), [0.0], delta=0.0)


# ------------------------------------------------------------------------- PyTorch
def _torch_losses(torch):
    tf = torch.nn.functional

    def hinge_binary(s, y, reduction="mean"):
        loss = torch.clamp(1.0 - y * s, min=0.0)
        return loss.mean() if reduction == "mean" else loss.sum()

    return {
        "mse": lambda p, t: tf.mse_loss(p, t),
        "mse_sum": lambda p, t: tf.mse_loss(p, t, reduction="sum"),
        "mae": lambda p, t: tf.l1_loss(p, t),
        "huber": lambda p, t: tf.huber_loss(p, t),
        "huber_delta_half": lambda p, t: tf.huber_loss(p, t, delta=0.5, reduction="sum"),
        "bce": lambda p, y: tf.binary_cross_entropy(p, y),
        "bce_soft_targets_sum": lambda p, y: tf.binary_cross_entropy(p, y, reduction="sum"),
        "bce_with_logits": lambda z, y: tf.binary_cross_entropy_with_logits(z, y),
        "bce_with_logits_soft_sum": lambda z, y: tf.binary_cross_entropy_with_logits(z, y, reduction="sum"),
        "cross_entropy_indices": lambda z: tf.cross_entropy(z, torch.tensor(_labels(4, 5))),
        "cross_entropy_indices_smoothing_sum": lambda z: tf.cross_entropy(
            z, torch.tensor(_labels(4, 5)), label_smoothing=0.2, reduction="sum"
        ),
        "cross_entropy_probs": lambda z, q: tf.cross_entropy(z, q),
        "cross_entropy_probs_smoothing": lambda z, q: tf.cross_entropy(z, q, label_smoothing=0.1),
        "hinge_binary": lambda s: hinge_binary(s, torch.tensor(_HB_Y)),
        "hinge_binary_column": lambda s: hinge_binary(s, torch.tensor(_HB_Y.reshape(-1, 1)), "sum"),
        "hinge_multiclass": lambda s: tf.multi_margin_loss(s, torch.tensor(_HM_Y)),
    }


# PyTorch does not differentiate binary_cross_entropy with respect to its target
_TARGET_GRAD_UNSUPPORTED = {"bce", "bce_soft_targets_sum"}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_values_and_gradients_match_pytorch(name):
    torch = pytest.importorskip("torch")
    f, xs = LOSSES[name]
    tf = _torch_losses(torch)[name]
    ts = [mf.tensor(x, requires_grad=True) for x in xs]
    out = f(*ts)
    out.backward()
    skip_target = name in _TARGET_GRAD_UNSUPPORTED
    tt = [torch.tensor(x, requires_grad=not (skip_target and i == 1)) for i, x in enumerate(xs)]
    ref = tf(*tt)
    ref.backward()
    assert out.item() == pytest.approx(ref.item(), rel=1e-6, abs=1e-12)
    for i, (t, r) in enumerate(zip(ts, tt)):
        if skip_target and i == 1:
            continue
        np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=1e-6, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize(
    "name", ["mse", "bce", "bce_with_logits", "cross_entropy_indices_smoothing_sum", "cross_entropy_probs"]
)
def test_second_derivatives_match_pytorch(name):
    """The Hessian-vector product ∇⟨v, ∇L(x)⟩ for the first input against torch.autograd."""
    torch = pytest.importorskip("torch")
    f, xs = LOSSES[name]
    tf = _torch_losses(torch)[name]
    v = _u(xs[0].shape, seed=12)
    x = mf.tensor(xs[0], requires_grad=True)
    rest = [mf.tensor(a) for a in xs[1:]]
    (g,) = mf.autograd(f(x, *rest), x, create_graph=True)
    F.sum(g * mf.tensor(v)).backward()
    xt = torch.tensor(xs[0], requires_grad=True)
    (gt,) = torch.autograd.grad(tf(xt, *[torch.tensor(a) for a in xs[1:]]), xt, create_graph=True)
    (gt * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_losses_run_on_the_gpu_and_match_the_cpu():
    mf.set_backend("gpu", dtype="float32")
    for name in sorted(LOSSES):
        f, xs = LOSSES[name]
        ts = [mf.tensor(x.astype(np.float32), requires_grad=True) for x in xs]
        out = f(*ts)
        assert type(out.data).__module__.startswith("cupy")
        out.backward()
        with mf.using("cpu", dtype="float32"):
            cs = [mf.tensor(x.astype(np.float32), requires_grad=True) for x in xs]
            ref = f(*cs)
            ref.backward()
        assert out.item() == pytest.approx(ref.item(), rel=1e-4, abs=1e-5)
        for t, c in zip(ts, cs):
            np.testing.assert_allclose(t.grad.numpy(), c.grad.numpy(), rtol=1e-4, atol=1e-5)
