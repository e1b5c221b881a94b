"""SiLU (swish): values, derivatives to second order, the pipeline name and its alias."""

import numpy as np
import pytest

import mathflow as mf
from mathflow.nn import LAYERS, Dense


def test_values_and_derivative():
    silu = LAYERS.get("silu")()
    x = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0]])
    sigma = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(silu(x).numpy(), x * sigma, rtol=1e-12)
    grad = mf.grad(lambda v: silu(v).sum())(x)
    np.testing.assert_allclose(grad.numpy(), sigma * (1 + x * (1 - sigma)), rtol=1e-10)


def test_gradients_against_finite_differences():
    silu = LAYERS.get("swish")()
    x = np.random.default_rng(0).normal(size=(4, 3))
    assert mf.gradcheck(silu, x)
    assert mf.gradgradcheck(silu, x)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).normal(size=(5, 4))
    np.testing.assert_allclose(
        LAYERS.get("silu")()(x).numpy(), torch.nn.functional.silu(torch.tensor(x)).numpy(), rtol=1e-12
    )


def test_usable_as_an_activation_with_he_initialisation():
    layer = Dense(3, activation="silu")
    assert layer(np.ones((2, 4), np.float32)).shape == (2, 3)
    assert mf.nn.init.default_initializer("silu") == "he_uniform"
