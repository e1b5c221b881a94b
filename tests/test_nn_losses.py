"""Loss objects: values and gradients against PyTorch and by hand, target handling, shape rules."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
import mathflow.nn as nn
from mathflow.errors import MathflowError, ShapeError


@pytest.fixture
def f64():
    with mf.using("cpu", dtype="float64", seed=0) as backend:
        yield backend


def _value_and_grad(loss, pred: np.ndarray, target):
    p = mf.tensor(pred, requires_grad=True)
    out = loss(p, target)
    out.backward()
    return out.item(), p.grad.numpy()


def _torch_value_and_grad(torch, fn, pred: np.ndarray, target):
    p = torch.tensor(pred, requires_grad=True)
    out = fn(p, target)
    out.backward()
    return out.item(), p.grad.numpy()


# ============================================================================ against PyTorch
@pytest.mark.torch
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_regression_losses_match_torch(f64, rng, reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    pred, target = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) * 2
    cases = [
        (nn.MSE(reduction), lambda p, t: F.mse_loss(p, t, reduction=reduction)),
        (nn.MAE(reduction), lambda p, t: F.l1_loss(p, t, reduction=reduction)),
        (nn.Huber(0.7, reduction), lambda p, t: F.huber_loss(p, t, delta=0.7, reduction=reduction)),
    ]
    for ours, theirs in cases:
        v, g = _value_and_grad(ours, pred, target)
        tv, tg = _torch_value_and_grad(torch, theirs, pred, torch.tensor(target))
        assert v == pytest.approx(tv, rel=1e-6)
        np.testing.assert_allclose(g, tg, rtol=1e-6)


@pytest.mark.torch
def test_binary_cross_entropy_matches_torch(f64, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z = rng.standard_normal((8, 1)) * 2
    y = rng.integers(0, 2, size=8).astype(np.float64)  # (N,) targets for (N, 1) outputs
    p = 1.0 / (1.0 + np.exp(-z))
    ty = torch.tensor(y.reshape(8, 1))
    v, g = _value_and_grad(nn.BinaryCrossEntropy(), p, y)
    tv, tg = _torch_value_and_grad(torch, F.binary_cross_entropy, p, ty)
    assert v == pytest.approx(tv, rel=1e-6)
    np.testing.assert_allclose(g, tg, rtol=1e-6)
    v, g = _value_and_grad(nn.BinaryCrossEntropy(from_logits=True), z, y)
    tv, tg = _torch_value_and_grad(torch, F.binary_cross_entropy_with_logits, z, ty)
    assert v == pytest.approx(tv, rel=1e-6)
    np.testing.assert_allclose(g, tg, rtol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_matches_torch(f64, rng, smoothing):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    logits = rng.standard_normal((7, 4)) * 3
    labels = rng.integers(0, 4, size=7)
    ours = nn.CrossEntropy(label_smoothing=smoothing)
    v, g = _value_and_grad(ours, logits, labels)
    tv, tg = _torch_value_and_grad(
        torch, lambda p, t: F.cross_entropy(p, t, label_smoothing=smoothing), logits, torch.tensor(labels)
    )
    assert v == pytest.approx(tv, rel=1e-6)
    np.testing.assert_allclose(g, tg, rtol=1e-6, atol=1e-12)
    # float labels holding whole numbers and one-hot targets give the same loss
    assert ours(mf.tensor(logits), labels.astype(np.float64)).item() == pytest.approx(tv, rel=1e-6)
    one_hot = np.eye(4)[labels]
    assert ours(mf.tensor(logits), one_hot).item() == pytest.approx(tv, rel=1e-6)


@pytest.mark.torch
def test_hinge_matches_torch(f64, rng):
    torch = pytest.importorskip("torch")
    scores = rng.standard_normal((6, 1))
    y = np.where(rng.random(6) < 0.5, -1.0, 1.0)
    v, g = _value_and_grad(nn.Hinge(), scores, y)
    expected = np.maximum(0.0, 1.0 - y * scores[:, 0]).mean()
    assert v == pytest.approx(expected, rel=1e-12)
    class_scores = rng.standard_normal((5, 3))
    labels = rng.integers(0, 3, size=5)
    v, g = _value_and_grad(nn.Hinge(), class_scores, labels)
    tv, tg = _torch_value_and_grad(torch, torch.nn.MultiMarginLoss(), class_scores, torch.tensor(labels))
    assert v == pytest.approx(tv, rel=1e-6)
    np.testing.assert_allclose(g, tg, rtol=1e-6)


# ============================================================================ by hand
def test_mse_by_hand_and_spec_example():
    assert nn.MSE()(mf.tensor([[1.0], [2.0], [4.0]]), [1.0, 3.0, 2.0]).item() == pytest.approx((0 + 1 + 4) / 3)
    assert nn.MSE(reduction="sum")(mf.tensor([1.0, 2.0]), [0.0, 0.0]).item() == pytest.approx(5.0)
    assert nn.MAE()(mf.tensor([1.0, -2.0]), [0.0, 0.0]).item() == pytest.approx(1.5)


def test_column_targets_are_reshaped_not_broadcast():
    pred = mf.tensor(np.array([[0.0], [1.0], [2.0]], dtype=np.float32))
    loss = nn.MSE()(pred, np.array([0.0, 1.0, 2.0]))
    assert loss.item() == 0.0  # broadcasting (3, 1) against (3,) would give a non-zero loss
    with pytest.raises(ShapeError, match="do not match"):
        nn.MSE()(pred, np.zeros(4))


def test_float64_targets_do_not_leak_into_float32(rng):
    pred = mf.tensor(rng.random((4, 1)).astype(np.float32), requires_grad=True)
    for loss, target in [
        (nn.MSE(), rng.random(4)),
        (nn.BinaryCrossEntropy(), rng.integers(0, 2, 4).astype(np.float64)),
        (nn.Huber(), rng.random((4, 1))),
    ]:
        out = loss(pred, target)
        assert out.dtype == np.float32
        out.backward()
        assert pred.grad.dtype == np.float32
    logits = mf.tensor(rng.random((4, 3)).astype(np.float32))
    assert nn.CrossEntropy()(logits, np.array([0, 2, 1, 1])).dtype == np.float32
    assert nn.CrossEntropy()(logits, np.eye(3)[[0, 2, 1, 1]]).dtype == np.float32


# ============================================================================ shape rules for a compiler
def test_binary_losses_need_one_output_unit():
    nn.BinaryCrossEntropy().check_output((1,))
    nn.BinaryCrossEntropy().check_output((1,), target_shape=())
    nn.BinaryCrossEntropy(from_logits=True).check_output((5,), target_shape=(5,))  # multi-label
    with pytest.raises(ShapeError, match="one output unit per sample, got \\(10,\\)") as info:
        nn.BinaryCrossEntropy().check_output((10,))
    assert "cross_entropy" in str(info.value) and "sigmoid" in str(info.value)
    with pytest.raises(ShapeError, match="one output unit"):
        nn.BinaryCrossEntropy(from_logits=True).check_output((2,), target_shape=())
    nn.Hinge().check_output((1,), target_shape=())
    nn.Hinge().check_output((4,), target_shape=())
    with pytest.raises(ShapeError, match="integer labels"):
        nn.Hinge().check_output((4,), target_shape=(4,))


def test_cross_entropy_needs_class_logits():
    nn.CrossEntropy().check_output((10,))
    nn.CrossEntropy().check_output((10,), target_shape=())
    nn.CrossEntropy().check_output((10,), target_shape=(10,))
    with pytest.raises(ShapeError, match="C ≥ 2") as info:
        nn.CrossEntropy().check_output((1,))
    assert "binary_cross_entropy" in str(info.value)
    with pytest.raises(ShapeError, match="one logit per class"):
        nn.CrossEntropy().check_output((4, 4))
    with pytest.raises(ShapeError, match="integer label"):
        nn.CrossEntropy().check_output((10,), target_shape=(3,))


def test_regression_losses_need_matching_targets():
    nn.MSE().check_output((3,), target_shape=(3,))
    nn.MSE().check_output((1,), target_shape=())
    with pytest.raises(ShapeError, match="do not match"):
        nn.MAE().check_output((3,), target_shape=(2,))


def test_expected_outputs():
    assert nn.BinaryCrossEntropy().expects == "probabilities"
    assert nn.BinaryCrossEntropy(from_logits=True).expects == "logits"
    assert nn.CrossEntropy().expects == "logits"
    assert nn.MSE().expects == "values"


# ============================================================================ registry, config, errors
def test_registry_and_config_round_trip():
    assert set(nn.LOSSES.names()) >= {"mse", "mae", "huber", "binary_cross_entropy", "cross_entropy", "hinge"}
    for loss in [nn.MSE("sum"), nn.MAE(), nn.Huber(2.0), nn.BinaryCrossEntropy(True), nn.CrossEntropy(0.1), nn.Hinge()]:
        config = loss.get_config()
        clone = nn.LOSSES.get(loss.registry_name).from_config(config)
        assert clone.get_config() == config
    assert nn.Huber(2.0).get_config() == {"delta": 2.0, "reduction": "mean"}
    assert isinstance(nn.get_loss({"name": "cross_entropy", "label_smoothing": 0.1}), nn.CrossEntropy)
    assert isinstance(nn.get_loss("mse"), nn.MSE)


def test_bad_arguments():
    with pytest.raises(MathflowError, match="mse: reduction is not one of mean, sum, got 'avg'"):
        nn.MSE("avg")
    with pytest.raises(MathflowError, match="huber: delta must be > 0"):
        nn.Huber(0.0)
    with pytest.raises(MathflowError, match="label_smoothing"):
        nn.CrossEntropy(1.5)
    with pytest.raises(MathflowError, match="did you mean 'huber'"):
        nn.get_loss("hubr")
    with pytest.raises(MathflowError, match="whole numbers"):
        nn.CrossEntropy()(mf.tensor(np.zeros((2, 3))), np.array([0.5, 1.0]))
    with pytest.raises(ShapeError, match="need labels of shape"):
        nn.CrossEntropy()(mf.tensor(np.zeros((2, 3))), np.array([0]))
