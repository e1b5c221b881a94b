"""HardSwish: y = x·relu6(x + 3)/6, against PyTorch and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
from mathflow import nn
from mathflow.export.model import export_program

torch = pytest.importorskip("torch")

POINTS = np.array([-5.0, -3.0, -2.999, -1.5, 0.0, 0.7, 2.999, 3.0, 4.2])


def test_forward_and_gradient_match_torch_at_the_kinks_and_between():
    x = mf.tensor(POINTS, requires_grad=True)
    y = nn.HardSwish()(x[:, None] * mf.tensor(np.ones((1, 1))))
    y.sum().backward()
    t = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.hardswish(t)
    expected.sum().backward()
    np.testing.assert_allclose(y.data[:, 0], expected.detach().numpy(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=0, atol=1e-15)


def test_values_by_hand():
    y = nn.HardSwish()(mf.tensor([[-4.0, -3.0, 0.0, 1.0, 3.0, 10.0]]))
    np.testing.assert_allclose(y.data, [[0.0, 0.0, 0.0, 4.0 / 6.0, 3.0, 10.0]])


def test_float64_gradcheck_away_from_the_kinks():
    rng = np.random.default_rng(0)
    x = rng.uniform(-6, 6, size=(5, 7))
    x = x[np.abs(np.abs(x) - 3) > 1e-3].reshape(-1, 1)
    with mf.using("cpu", dtype="float64"):
        assert mf.gradcheck(lambda t: nn.HardSwish()(t), x)
        assert mf.gradgradcheck(lambda t: nn.HardSwish()(t), x)


def test_usable_as_a_dense_activation_and_exported_as_its_forward():
    model = nn.Sequential(nn.Dense(4, activation="hardswish"), nn.HardSwish())
    x = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32) * 4
    y = model(x).data
    program = export_program(model)
    np.testing.assert_allclose(program.run(x), y, rtol=1e-6, atol=1e-6)
    assert {"Max", "Min"} <= {node["op"] for node in program.nodes}


def test_float32_stays_float32():
    y = nn.HardSwish()(np.ones((2, 3), dtype=np.float32))
    assert y.dtype == np.float32
