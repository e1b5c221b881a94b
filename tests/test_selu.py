"""SELU: values, derivatives, LeCun initialisation, the self-normalising property."""

import numpy as np
import pytest

import mathflow as mf
from mathflow.nn import LAYERS, Dense, Sequential

LAMBDA, ALPHA = 1.0507009873554805, 1.6732632423543772


def test_values():
    x = np.array([[-2.0, -0.1, 0.0, 0.1, 2.0]])
    expected = np.where(x > 0, LAMBDA * x, LAMBDA * ALPHA * np.expm1(x))
    np.testing.assert_allclose(LAYERS.get("selu")()(x).numpy(), expected, rtol=1e-12)


def test_gradients_against_finite_differences():
    selu = LAYERS.get("selu")()
    x = np.random.default_rng(0).normal(size=(4, 3))
    assert mf.gradcheck(selu, x)
    assert mf.gradgradcheck(selu, x)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).normal(size=(5, 4))
    np.testing.assert_allclose(
        LAYERS.get("selu")()(x).numpy(), torch.nn.functional.selu(torch.tensor(x)).numpy(), rtol=1e-12
    )


def test_lecun_normal_by_default_and_self_normalising():
    assert mf.nn.init.default_initializer("selu") == "lecun_normal"
    with mf.backend.using("cpu", dtype="float64", seed=0):
        model = Sequential(*[Dense(256, activation="selu") for _ in range(8)])
        x = np.random.default_rng(2).normal(size=(2000, 256))
        y = model(x).numpy()
    assert abs(y.mean()) < 0.1 and abs(y.std() - 1.0) < 0.1
