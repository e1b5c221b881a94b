"""Regularizers: λΣ|w|, λΣw² and elastic net by hand, parameter selection, gradients, config."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
import mathflow.nn as nn
from mathflow.errors import MathflowError


@pytest.fixture
def model():
    with mf.using("cpu", dtype="float64", seed=0):
        net = nn.Sequential(nn.Dense(4, name="hidden"), nn.BatchNorm(), nn.Dense(2, name="out"))
        net.build((3,))
        for _, p in net.named_parameters():  # non-trivial values everywhere, biases included
            p.data[...] = np.random.default_rng(1).standard_normal(p.shape)
        yield net


def _weights(net):
    return [net["hidden"].weight.numpy(), net["out"].weight.numpy()]


def _biases(net):
    return [net["hidden"].bias.numpy(), net["out"].bias.numpy()]


def test_l1_is_lambda_sum_abs_of_weights(model):
    expected = 0.3 * sum(np.abs(w).sum() for w in _weights(model))
    assert nn.L1(0.3)(model).item() == pytest.approx(expected, rel=1e-12)


def test_l2_is_lambda_sum_squares_without_a_half(model):
    expected = 0.3 * sum((w**2).sum() for w in _weights(model))
    assert nn.L2(0.3)(model).item() == pytest.approx(expected, rel=1e-12)


def test_elastic_net_is_the_sum_of_both(model):
    expected = sum(0.1 * np.abs(w).sum() + 0.2 * (w**2).sum() for w in _weights(model))
    assert nn.ElasticNet(0.1, 0.2)(model).item() == pytest.approx(expected, rel=1e-12)


def test_biases_and_norm_parameters_are_excluded_by_default(model):
    selected = [name for name, _ in nn.L2(1.0).select(model)]
    assert selected == ["hidden.weight", "out.weight"]
    with_bias = nn.L2(1.0, include_bias=True)
    assert [n for n, _ in with_bias.select(model)] == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    expected = sum((w**2).sum() for w in _weights(model) + _biases(model))
    assert with_bias(model).item() == pytest.approx(expected, rel=1e-12)


def test_restricted_to_named_layers(model):
    reg = nn.L1(2.0, layers=["out"])
    assert [n for n, _ in reg.select(model)] == ["out.weight"]
    assert reg(model).item() == pytest.approx(2.0 * np.abs(model["out"].weight.numpy()).sum())
    with pytest.raises(MathflowError, match=r"no parameters belong to layers \['outt'\]"):
        nn.L1(1.0, layers=["outt"])(model)


def test_gradient_is_added_to_the_weights(model):
    lam = 0.05
    penalty = nn.L2(lam)(model) + nn.L1(lam)(model)
    penalty.backward()
    w = model["hidden"].weight
    np.testing.assert_allclose(w.grad.numpy(), 2 * lam * w.numpy() + lam * np.sign(w.numpy()), rtol=1e-12)
    assert model["hidden"].bias.grad is None
    assert model[1].gamma.grad is None


def test_accepts_parameter_lists_and_dicts(model):
    params = dict(model.named_parameters())
    expected = nn.L2(1.0)(model).item()
    assert nn.L2(1.0)(params).item() == pytest.approx(expected)
    assert nn.L2(1.0)(list(model.named_parameters())).item() == pytest.approx(expected)
    # bare parameters keep their role, so biases are still skipped
    assert nn.L2(1.0)(model.parameters()).item() == pytest.approx(expected)
    with pytest.raises(MathflowError, match="needs named parameters"):
        nn.L2(1.0, layers=["out"])(model.parameters())


def test_empty_selection_gives_a_zero_of_the_backend_dtype():
    penalty = nn.L1(1.0)(nn.Sequential(nn.ReLU()))
    assert penalty.item() == 0.0
    assert penalty.dtype == np.float32


def test_float32_stays_float32():
    net = nn.Dense(3)
    net.build((2,))
    assert nn.ElasticNet()(net).dtype == np.float32


def test_registry_config_and_errors():
    assert set(nn.REGULARIZERS.names()) >= {"l1", "l2", "elastic_net"}
    for reg in [nn.L1(0.1), nn.L2(0.2, include_bias=True), nn.ElasticNet(0.1, 0.3, layers=["a"])]:
        config = reg.get_config()
        assert nn.REGULARIZERS.get(reg.registry_name).from_config(config).get_config() == config
    with pytest.raises(MathflowError, match="l2: lam must be >= 0"):
        nn.L2(-1.0)
    with pytest.raises(MathflowError, match="did you mean 'elastic_net'"):
        nn.REGULARIZERS.get("elastic_nett")
