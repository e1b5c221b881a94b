"""Mish: values, derivatives to second order, torch, stability for large inputs."""

import numpy as np
import pytest

import mathflow as mf
from mathflow.nn import LAYERS


def test_values_and_stability():
    x = np.array([[-50.0, -1.0, 0.0, 1.0, 50.0]])
    expected = x * np.tanh(np.logaddexp(0, x))
    y = LAYERS.get("mish")()(x).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
    assert np.all(np.isfinite(y))


def test_gradients_against_finite_differences():
    mish = LAYERS.get("mish")()
    x = np.random.default_rng(0).normal(size=(4, 3))
    assert mf.gradcheck(mish, x)
    assert mf.gradgradcheck(mish, x)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).normal(scale=3.0, size=(5, 4))
    np.testing.assert_allclose(
        LAYERS.get("mish")()(x).numpy(), torch.nn.functional.mish(torch.tensor(x)).numpy(), rtol=1e-12
    )
