"""Initialisers: variance formulas, bounds, seeding, dtypes and the activation-based default."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mathflow as mf
import mathflow.nn as nn
from mathflow.errors import MathflowError
from mathflow.nn import init

FAN_IN, FAN_OUT = 300, 200
SHAPE = (FAN_IN, FAN_OUT)  # 60 000 draws: the sample variance is within ~1.5 % of the truth

VARIANCE = {
    "glorot_normal": 2.0 / (FAN_IN + FAN_OUT),
    "glorot_uniform": 2.0 / (FAN_IN + FAN_OUT),
    "he_normal": 2.0 / FAN_IN,
    "he_uniform": 2.0 / FAN_IN,
    "lecun_normal": 1.0 / FAN_IN,
    "lecun_uniform": 1.0 / FAN_IN,
}
UNIFORM_LIMIT = {
    "glorot_uniform": math.sqrt(6.0 / (FAN_IN + FAN_OUT)),
    "he_uniform": math.sqrt(6.0 / FAN_IN),
    "lecun_uniform": math.sqrt(3.0 / FAN_IN),
}


@pytest.mark.parametrize("name", sorted(VARIANCE))
def test_variance_matches_formula(name):
    w = nn.INITIALIZERS.get(name)(SHAPE, FAN_IN, FAN_OUT, np.random.default_rng(0), np.float64)
    assert w.shape == SHAPE
    assert abs(w.mean()) < 0.01 * math.sqrt(VARIANCE[name]) * 10
    assert w.var() == pytest.approx(VARIANCE[name], rel=0.03)


@pytest.mark.parametrize("name", sorted(UNIFORM_LIMIT))
def test_uniform_bounds(name):
    w = nn.INITIALIZERS.get(name)(SHAPE, FAN_IN, FAN_OUT, np.random.default_rng(1), np.float64)
    limit = UNIFORM_LIMIT[name]
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit  # the whole interval is used


def test_normal_and_uniform_take_their_scale():
    rng = np.random.default_rng(2)
    w = init.normal(SHAPE, FAN_IN, FAN_OUT, rng, np.float64, std=0.2)
    assert w.std() == pytest.approx(0.2, rel=0.03)
    u = init.uniform(SHAPE, FAN_IN, FAN_OUT, rng, np.float64, limit=0.3)
    assert np.abs(u).max() <= 0.3
    assert u.var() == pytest.approx(0.3**2 / 3.0, rel=0.03)


def test_constants():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(init.zeros((2, 3), 2, 3, rng, np.float32), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.ones((4,), 1, 1, rng, np.float32), np.ones(4))


@pytest.mark.parametrize("name", sorted(set(nn.INITIALIZERS.names())))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(name, dtype):
    w = nn.INITIALIZERS.get(name)((3, 4), 3, 4, np.random.default_rng(0), dtype)
    assert w.dtype == dtype


def test_same_seed_same_weights_different_seed_different_weights():
    a = init.he_normal((5, 5), 5, 5, np.random.default_rng(42), np.float32)
    b = init.he_normal((5, 5), 5, 5, np.random.default_rng(42), np.float32)
    c = init.he_normal((5, 5), 5, 5, np.random.default_rng(43), np.float32)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_layers_draw_from_the_seeded_backend():
    weights = []
    for seed in (5, 5, 6):
        mf.get_backend().reseed(seed)
        layer = nn.Dense(8)
        layer.build((4,))
        weights.append(layer.weight.numpy())
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.array_equal(weights[0], weights[2])


@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        ("relu", "he_uniform"),
        ("leaky_relu", "he_uniform"),
        ("elu", "he_uniform"),
        ("gelu", "he_uniform"),
        ("sigmoid", "glorot_uniform"),
        ("tanh", "glorot_uniform"),
        ("softmax", "glorot_uniform"),
        (None, "glorot_uniform"),
    ],
)
def test_default_initializer_follows_the_activation(activation, expected):
    assert init.default_initializer(activation) == expected


def test_dense_default_init_has_the_right_variance():
    mf.get_backend().reseed(0)
    relu = nn.Dense(200, activation="relu")
    relu.build((300,))
    assert relu.weight.numpy().var() == pytest.approx(2.0 / 300, rel=0.05)
    plain = nn.Dense(200)
    plain.build((300,))
    assert plain.weight.numpy().var() == pytest.approx(2.0 / 500, rel=0.05)
    np.testing.assert_array_equal(plain.bias.numpy(), np.zeros(200))


def test_conv_fans_use_the_receptive_field():
    mf.get_backend().reseed(0)
    conv = nn.Conv2D(64, 3, kernel_init="he_normal")
    conv.build((32, 8, 8))
    assert conv.weight.numpy().var() == pytest.approx(2.0 / (32 * 9), rel=0.05)


def test_layer_accepts_initializer_mapping_and_callable():
    mf.get_backend().reseed(0)
    layer = nn.Dense(50, kernel_init={"name": "normal", "std": 0.5}, bias_init="ones")
    layer.build((400,))
    assert layer.weight.numpy().std() == pytest.approx(0.5, rel=0.05)
    np.testing.assert_array_equal(layer.bias.numpy(), np.ones(50))

    def constant(shape, fan_in, fan_out, rng, dtype):
        return np.full(shape, 0.25, dtype=dtype)

    layer = nn.Dense(2, kernel_init=constant)
    layer.build((3,))
    np.testing.assert_array_equal(layer.weight.numpy(), np.full((3, 2), 0.25))


def test_unknown_or_malformed_initializers():
    with pytest.raises(MathflowError, match="did you mean 'glorot_uniform'"):
        init.resolve("glorot_unifrom")
    with pytest.raises(MathflowError, match="needs a 'name' key"):
        init.resolve({"std": 1.0})
    with pytest.raises(MathflowError, match="bad arguments"):
        init.resolve({"name": "normal", "sigma": 1.0})
    with pytest.raises(MathflowError, match="std must be non-negative"):
        init.normal((2,), 1, 1, np.random.default_rng(0), np.float32, std=-1.0)


def test_every_initializer_documents_its_formula():
    for name, fn in nn.INITIALIZERS.items():
        assert fn.__doc__ and ("w" in fn.__doc__), name
