"""GroupNorm against torch.nn.GroupNorm, finite differences and its shape rule."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
from mathflow import nn
from mathflow.errors import MathflowError, ShapeError
from mathflow.export.model import export_program

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(("shape", "groups"), [((3, 6, 4, 5), 3), ((2, 4, 7), 2), ((5, 6), 6), ((2, 4, 3, 3), 1)])
def test_forward_and_gradients_match_torch(shape, groups):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape) * 3 + 1
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    g = rng.normal(size=shape)

    with mf.using("cpu", dtype="float64"):
        layer = nn.GroupNorm(groups, eps=1e-5)
        layer.build(shape[1:])
        layer.load_state_dict({"gamma": gamma, "beta": beta})
        xt = mf.tensor(x, requires_grad=True)
        y = layer(xt)
        (y * mf.tensor(g)).sum().backward()

    ref = torch.nn.GroupNorm(groups, shape[1], eps=1e-5).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(gamma))
        ref.bias.copy_(torch.tensor(beta))
    xr = torch.tensor(x, requires_grad=True)
    yr = ref(xr)
    (yr * torch.tensor(g)).sum().backward()

    np.testing.assert_allclose(y.data, yr.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xt.grad.data, xr.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(layer.gamma.grad.data, ref.weight.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(layer.beta.grad.data, ref.bias.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_float64_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(1)
    with mf.using("cpu", dtype="float64"):
        layer = nn.GroupNorm(2)
        x = rng.normal(size=(2, 4, 3))
        layer(mf.tensor(x))
        gamma, beta = rng.normal(size=4), rng.normal(size=4)

        def f(v, g, b):
            return layer.functional_call({"gamma": g, "beta": b}, v)

        assert mf.gradcheck(f, x, gamma, beta)
        assert mf.gradgradcheck(lambda v: layer(v), x)


def test_one_group_is_layer_norm_over_the_whole_sample():
    x = np.random.default_rng(2).normal(size=(3, 4, 2, 2))
    with mf.using("cpu", dtype="float64"):
        grouped = nn.GroupNorm(1)(mf.tensor(x)).data
        layer = nn.LayerNorm(axes=3)(mf.tensor(x)).data
    np.testing.assert_allclose(grouped, layer, rtol=1e-12, atol=1e-12)


def test_shape_rule_refuses_groups_that_do_not_divide_the_channels():
    with pytest.raises(ShapeError, match="6 channels do not split into 4 groups"):
        nn.GroupNorm(4).output_shape((6, 5, 5))
    assert nn.GroupNorm(3).output_shape((6, 5, 5)) == (6, 5, 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"groups": 0}, "groups must be a positive integer"), ({"groups": 2, "eps": 0.0}, "eps must be > 0")],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(MathflowError, match=message):
        nn.GroupNorm(**kwargs)


def test_exported_program_is_its_forward_for_any_batch_size():
    model = nn.Sequential(nn.Conv2D(4, 3, padding="same"), nn.GroupNorm(2))
    model(np.zeros((1, 2, 5, 5), dtype=np.float32))
    program = export_program(model)
    x = np.random.default_rng(3).normal(size=(7, 2, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(program.run(x), model.eval()(x).data, rtol=1e-5, atol=1e-5)
