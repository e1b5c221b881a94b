"""Layers: outputs and gradients against PyTorch, gradcheck through parameters, shape rules,
state round trips, training/eval behaviour, configs and construction errors."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
import mathflow.nn as nn
from mathflow.errors import MathflowError, ShapeError


@pytest.fixture
def f64():
    """A float64, seeded backend for comparisons with PyTorch and finite differences."""
    with mf.using("cpu", dtype="float64", seed=7) as backend:
        yield backend


def _run(layer, x: np.ndarray, gy: np.ndarray | None = None):
    """Forward, then backward of ⟨gy, y⟩; returns (y, dL/dx, {param name: grad})."""
    xt = mf.tensor(x, requires_grad=True)
    y = layer(xt)
    gy = np.ones(y.shape) if gy is None else gy
    (y * mf.tensor(gy)).sum().backward()
    grads = {name: p.grad.numpy() for name, p in layer.named_parameters()}
    return y.numpy(), xt.grad.numpy(), grads


def _torch_run(torch, module, x: np.ndarray, gy: np.ndarray | None = None):
    xt = torch.tensor(x, requires_grad=True)
    y = module(xt)
    gy = np.ones(tuple(y.shape)) if gy is None else gy
    (y * torch.tensor(gy)).sum().backward()
    return y.detach().numpy(), xt.grad.numpy()


def _close(a, b, rtol=1e-6, atol=1e-9):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ============================================================================ PyTorch parity
@pytest.mark.torch
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_matches_torch(f64, rng, activation, use_bias):
    torch = pytest.importorskip("torch")
    layer = nn.Dense(4, activation=activation, use_bias=use_bias)
    layer.build((3,))
    if use_bias:
        layer.bias.data[...] = rng.standard_normal(4)
    x = rng.standard_normal((5, 3))
    gy = rng.standard_normal((5, 4))
    y, gx, grads = _run(layer, x, gy)

    lin = torch.nn.Linear(3, 4, bias=use_bias).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(layer.weight.numpy().T))
        if use_bias:
            lin.bias.copy_(torch.tensor(layer.bias.numpy()))
    act = {None: torch.nn.Identity(), "relu": torch.nn.ReLU(), "sigmoid": torch.nn.Sigmoid(), "tanh": torch.nn.Tanh()}
    ty, tgx = _torch_run(torch, torch.nn.Sequential(lin, act[activation]), x, gy)
    _close(y, ty)
    _close(gx, tgx)
    _close(grads["weight"], lin.weight.grad.numpy().T)
    if use_bias:
        _close(grads["bias"], lin.bias.grad.numpy())
    else:
        assert list(grads) == ["weight"]
    assert y.dtype == np.float64


@pytest.mark.torch
def test_dense_relu_uses_fused_kernel_and_matches_unfused(f64, rng):
    fused = nn.Dense(6, activation="relu")
    plain = nn.Sequential(nn.Dense(6), nn.ReLU())
    x = rng.standard_normal((7, 4))
    fused(x)
    plain(x)
    plain.load_state_dict({"0." + k: v for k, v in fused.state_dict().items()})
    gy = rng.standard_normal((7, 6))
    y1, gx1, g1 = _run(fused, x, gy)
    y2, gx2, g2 = _run(plain, x, gy)
    _close(y1, y2)
    _close(gx1, gx2)
    _close(g1["weight"], g2["0.weight"])
    _close(g1["bias"], g2["0.bias"])
    out = fused(mf.tensor(x, requires_grad=True))
    assert type(out._ctx).__name__ == "LinearReLU"


@pytest.mark.torch
@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "torch_padding"),
    [
        (3, 1, "valid", 0),
        (3, 1, "same", 1),
        (5, 1, "same", 2),
        (3, 2, 1, 1),
        (2, 2, "valid", 0),
        ((3, 1), 1, "same", (1, 0)),
    ],
)
def test_conv2d_matches_torch(f64, rng, kernel, stride, padding, torch_padding):
    torch = pytest.importorskip("torch")
    layer = nn.Conv2D(4, kernel, stride=stride, padding=padding)
    x = rng.standard_normal((2, 3, 7, 6))
    layer.build((3, 7, 6))
    layer.bias.data[...] = rng.standard_normal(4)
    y, gx, grads = _run(layer, x, None)
    gy = rng.standard_normal(y.shape)
    layer.zero_grad()
    y, gx, grads = _run(layer, x, gy)

    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    conv = torch.nn.Conv2d(3, 4, (kh, kw), stride=stride, padding=torch_padding).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(layer.weight.numpy()))
        conv.bias.copy_(torch.tensor(layer.bias.numpy()))
    ty, tgx = _torch_run(torch, conv, x, gy)
    _close(y, ty)
    _close(gx, tgx)
    _close(grads["weight"], conv.weight.grad.numpy())
    _close(grads["bias"], conv.bias.grad.numpy())
    assert layer.output_shape((3, 7, 6)) == y.shape[1:]
    if padding == "same":
        assert y.shape[2:] == x.shape[2:]


@pytest.mark.torch
def test_conv2d_with_activation_matches_torch(f64, rng):
    torch = pytest.importorskip("torch")
    layer = nn.Conv2D(2, 3, padding="same", activation="tanh", use_bias=False)
    x = rng.standard_normal((2, 1, 5, 5))
    y, gx, grads = _run(layer, x)
    conv = torch.nn.Conv2d(1, 2, 3, padding=1, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(layer.weight.numpy()))
    ty, tgx = _torch_run(torch, torch.nn.Sequential(conv, torch.nn.Tanh()), x)
    _close(y, ty)
    _close(gx, tgx)
    _close(grads["weight"], conv.weight.grad.numpy())
    assert list(grads) == ["weight"]


@pytest.mark.torch
@pytest.mark.parametrize(("size", "stride"), [(2, None), (3, 1), (3, 2), ((2, 3), None)])
def test_pooling_matches_torch(f64, rng, size, stride):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 7, 8))
    gy_shape = None
    for ours, theirs in [
        (nn.MaxPool2D(size, stride), torch.nn.MaxPool2d(size, stride)),
        (nn.AvgPool2D(size, stride), torch.nn.AvgPool2d(size, stride)),
    ]:
        y, gx, _ = _run(ours, x)
        gy_shape = y.shape
        gy = rng.standard_normal(gy_shape)
        y, gx, _ = _run(ours, x, gy)
        ty, tgx = _torch_run(torch, theirs, x, gy)
        _close(y, ty)
        _close(gx, tgx)
        assert ours.output_shape((3, 7, 8)) == y.shape[1:]


@pytest.mark.torch
def test_global_avgpool_matches_torch(f64, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 4, 5))
    gy = rng.standard_normal((2, 3))
    y, gx, _ = _run(nn.GlobalAvgPool2D(), x, gy)
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    ty, tgx = _torch_run(torch, module, x, gy)
    _close(y, ty)
    _close(gx, tgx)


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 4, 4), (4, 3, 5)])
def test_batchnorm_train_and_eval_match_torch(f64, rng, shape):
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm(momentum=0.2, eps=1e-4)
    ours.build(shape[1:])
    c = shape[1]
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    ours.gamma.data[...] = gamma
    ours.beta.data[...] = beta
    torch_cls = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    theirs = torch_cls(c, momentum=0.2, eps=1e-4).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(gamma))
        theirs.bias.copy_(torch.tensor(beta))

    for _step in range(3):  # several training steps move the running statistics
        x = rng.standard_normal(shape) * 2.0 + 0.5
        gy = rng.standard_normal(shape)
        ours.zero_grad()
        theirs.zero_grad()
        y, gx, grads = _run(ours, x, gy)
        ty, tgx = _torch_run(torch, theirs, x, gy)
        _close(y, ty)
        _close(gx, tgx)
        _close(grads["gamma"], theirs.weight.grad.numpy())
        _close(grads["beta"], theirs.bias.grad.numpy())
        _close(ours.running_mean, theirs.running_mean.numpy())
        _close(ours.running_var, theirs.running_var.numpy())

    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    gy = rng.standard_normal(shape)
    ours.zero_grad()
    theirs.zero_grad()
    before = ours.running_mean.copy()
    y, gx, grads = _run(ours, x, gy)
    ty, tgx = _torch_run(torch, theirs, x, gy)
    _close(y, ty)
    _close(gx, tgx)
    _close(grads["gamma"], theirs.weight.grad.numpy())
    _close(grads["beta"], theirs.bias.grad.numpy())
    np.testing.assert_array_equal(ours.running_mean, before)  # eval does not update


@pytest.mark.torch
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: nn.ReLU(), lambda t: t.nn.ReLU()),
        (lambda: nn.LeakyReLU(0.2), lambda t: t.nn.LeakyReLU(0.2)),
        (lambda: nn.Sigmoid(), lambda t: t.nn.Sigmoid()),
        (lambda: nn.Tanh(), lambda t: t.nn.Tanh()),
        (lambda: nn.GELU(), lambda t: t.nn.GELU(approximate="tanh")),
        (lambda: nn.ELU(0.7), lambda t: t.nn.ELU(0.7)),
        (lambda: nn.Softplus(), lambda t: t.nn.Softplus()),
        (lambda: nn.Identity(), lambda t: t.nn.Identity()),
        (lambda: nn.Softmax(), lambda t: t.nn.Softmax(dim=-1)),
        (lambda: nn.Softmax(axis=0), lambda t: t.nn.Softmax(dim=1)),
        (lambda: nn.Flatten(), lambda t: t.nn.Flatten()),
        (lambda: nn.Reshape([4, -1]), lambda t: t.nn.Unflatten(1, (4, 3))),
    ],
)
def test_parameter_free_layers_match_torch(f64, rng, ours, theirs):
    torch = pytest.importorskip("torch")
    layer = ours()
    x = rng.standard_normal((3, 4, 3)) if not isinstance(layer, nn.Reshape) else rng.standard_normal((3, 12))
    y, _, _ = _run(layer, x)
    gy = rng.standard_normal(y.shape)
    y, gx, _ = _run(layer, x, gy)
    ty, tgx = _torch_run(torch, theirs(torch), x, gy)
    _close(y, ty)
    _close(gx, tgx)
    assert layer.output_shape(x.shape[1:]) == y.shape[1:]


@pytest.mark.torch
def test_dropout_eval_matches_torch_identity(f64, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 5))
    layer = nn.Dropout(0.5).eval()
    module = torch.nn.Dropout(0.5).eval()
    y, gx, _ = _run(layer, x)
    ty, tgx = _torch_run(torch, module, x)
    _close(y, ty)
    _close(gx, tgx)


# ============================================================================ gradcheck
def _gradcheck_layer(layer, x: np.ndarray) -> None:
    """Finite differences through the input and every parameter of ``layer``."""
    with mf.using("cpu", dtype="float64", seed=3):
        layer(x)  # build in float64
        names = [n for n, _ in layer.named_parameters()]
        values = [p.data.copy() for _, p in layer.named_parameters()]

        def f(xt, *params):
            return layer.functional_call(dict(zip(names, params)), xt)

        assert mf.gradcheck(f, x, *values)


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: nn.Dense(3), (4, 5)),
        (lambda: nn.Dense(3, activation="relu"), (4, 5)),
        (lambda: nn.Dense(2, activation="tanh", use_bias=False), (3, 4)),
        (lambda: nn.Conv2D(2, 3, padding="same"), (2, 2, 4, 4)),
        (lambda: nn.Conv2D(2, 2, stride=2, activation="sigmoid"), (1, 2, 5, 5)),
        (lambda: nn.BatchNorm(), (5, 3)),
        (lambda: nn.BatchNorm(), (3, 2, 2, 3)),
        (
            lambda: nn.Sequential(nn.Conv2D(2, 3), nn.AvgPool2D(2), nn.Flatten(), nn.Dense(2, activation="elu")),
            (2, 1, 6, 6),
        ),
        (lambda: nn.Sequential(nn.Dense(4, activation="gelu"), nn.Dense(3), nn.Softmax()), (3, 2)),
    ],
)
def test_gradcheck_through_parameters(rng, make, shape):
    _gradcheck_layer(make(), rng.standard_normal(shape))


def test_gradcheck_batchnorm_eval_mode(rng):
    layer = nn.BatchNorm()
    with mf.using("cpu", dtype="float64", seed=3):
        layer(rng.standard_normal((4, 3)) * 3.0 + 1.0)  # move the running statistics
        layer.eval()
        values = [p.data.copy() for _, p in layer.named_parameters()]

        def f(xt, g, b):
            return layer.functional_call({"gamma": g, "beta": b}, xt)

        assert mf.gradcheck(f, rng.standard_normal((4, 3)), *values)


def test_gradcheck_merge_layers(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    assert mf.gradcheck(lambda u, v: nn.Concat()([u, v]), a, b)
    assert mf.gradcheck(lambda u, v: nn.Add()([u, v]), a, rng.standard_normal((2, 3)))


# ============================================================================ shape rules
LAYER_CASES = [
    (lambda: nn.Dense(7), (5,)),
    (lambda: nn.Conv2D(4, 3), (2, 9, 8)),
    (lambda: nn.Conv2D(4, 3, padding="same"), (2, 9, 8)),
    (lambda: nn.Conv2D(4, 3, stride=2, padding=1), (2, 9, 8)),
    (lambda: nn.Conv2D(4, (2, 3), padding=(1, 0)), (2, 9, 8)),
    (lambda: nn.MaxPool2D(2), (2, 9, 8)),
    (lambda: nn.MaxPool2D(3, stride=2), (2, 9, 8)),
    (lambda: nn.AvgPool2D(2, stride=1), (2, 9, 8)),
    (lambda: nn.GlobalAvgPool2D(), (2, 9, 8)),
    (lambda: nn.Flatten(), (2, 9, 8)),
    (lambda: nn.Reshape([9, -1]), (2, 9, 8)),
    (lambda: nn.Dropout(0.3), (2, 9, 8)),
    (lambda: nn.BatchNorm(), (6,)),
    (lambda: nn.BatchNorm(), (2, 9, 8)),
    (lambda: nn.ReLU(), (3, 4)),
    (lambda: nn.LeakyReLU(), (3, 4)),
    (lambda: nn.Sigmoid(), (3, 4)),
    (lambda: nn.Tanh(), (3, 4)),
    (lambda: nn.Softmax(axis=0), (3, 4)),
    (lambda: nn.GELU(), (3, 4)),
    (lambda: nn.ELU(), (3, 4)),
    (lambda: nn.Softplus(), (3, 4)),
    (lambda: nn.Identity(), (3, 4)),
    (lambda: nn.Sequential(nn.Conv2D(3, 3), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(5)), (1, 10, 10)),
]


@pytest.mark.parametrize(("make", "shape"), LAYER_CASES)
def test_output_shape_equals_real_shape(rng, make, shape):
    layer = make()
    predicted = layer.output_shape(shape)
    y = layer(rng.standard_normal((3,) + shape).astype(np.float32))
    assert y.shape == (3,) + tuple(predicted)
    assert y.dtype == np.float32
    assert layer.parameter_count(shape) == sum(p.size for p in layer.parameters())


def test_merge_output_shapes(rng):
    shapes = [(3, 4, 4), (5, 4, 4)]
    y = nn.Concat(axis=0)([rng.standard_normal((2,) + s) for s in shapes])
    assert nn.Concat(axis=0).output_shape(shapes) == y.shape[1:] == (8, 4, 4)
    y = nn.Add()([np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3))])
    assert nn.Add().output_shape([(3,), (3,), (3,)]) == y.shape[1:]
    np.testing.assert_array_equal(y.numpy(), np.full((2, 3), 3.0))
    with pytest.raises(ShapeError, match="equal shape"):
        nn.Add().output_shape([(3,), (4,)])
    with pytest.raises(ShapeError, match="differ outside"):
        nn.Concat().output_shape([(3, 2), (4, 3)])
    with pytest.raises(ShapeError, match="list of input shapes"):
        nn.Concat().output_shape((3, 2))


def test_parameter_count_without_building():
    model = nn.Sequential(nn.Conv2D(8, 3), nn.Flatten(), nn.Dense(10))
    assert model.parameter_count((1, 5, 5)) == 8 * 9 + 8 + (8 * 9 + 1) * 10
    assert not model.built and model.parameters() == []
    assert nn.BatchNorm().parameter_count((4, 3, 3)) == 8
    assert "total" in model.summary((1, 5, 5))


# ============================================================================ shape errors and bad arguments
def test_dense_rejects_images_with_a_hint():
    with pytest.raises(ShapeError, match=r"dense needs 1-D features per sample, got \(16, 5, 5\): add flatten"):
        nn.Dense(3).output_shape((16, 5, 5))


def test_conv_kernel_larger_than_input():
    with pytest.raises(ShapeError, match="conv2d kernel 5 is larger than the padded input 3×3"):
        nn.Conv2D(2, 5).output_shape((1, 3, 3))
    with pytest.raises(ShapeError, match="larger than the padded input"):
        nn.Conv2D(2, 5)(np.zeros((1, 1, 3, 3), dtype=np.float32))


def test_conv_needs_images():
    with pytest.raises(ShapeError, match="add reshape"):
        nn.Conv2D(2, 3).output_shape((784,))


def test_sequential_error_names_the_layer():
    model = nn.Sequential(nn.Conv2D(2, 3), nn.Dense(4))
    with pytest.raises(ShapeError, match=r"layer 1 \(dense\).*add flatten"):
        model(np.zeros((1, 1, 6, 6), dtype=np.float32))


def test_built_layer_rejects_a_different_input_size():
    layer = nn.Dense(2)
    layer(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ShapeError, match="built for 3 input features, got 4"):
        layer(np.zeros((1, 4), dtype=np.float32))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: nn.Dense(-3), "units must be a positive integer"),
        (lambda: nn.Dense(0), "units must be a positive integer"),
        (lambda: nn.Dense(2.5), "units must be a positive integer"),
        (lambda: nn.Dense(3, activation="rleu"), "did you mean 'relu'"),
        (lambda: nn.Conv2D(4, 3, activation="sigmoud"), "did you mean 'sigmoid'"),
        (lambda: nn.Dense(3, kernel_init="he_normall"), "did you mean 'he_normal'"),
        (lambda: nn.Conv2D(0, 3), "filters must be a positive integer"),
        (lambda: nn.Conv2D(2, 3, stride=2, padding="same"), "'same' needs stride 1"),
        (lambda: nn.Conv2D(2, 2, padding="same"), "odd kernel"),
        (lambda: nn.Conv2D(2, 3, padding="full"), "padding must be"),
        (lambda: nn.MaxPool2D(0), "size must be a positive integer"),
        (lambda: nn.Dropout(1.0), "rate must satisfy 0 <= rate < 1"),
        (lambda: nn.Dropout(-0.1), "rate must satisfy"),
        (lambda: nn.BatchNorm(momentum=2.0), "momentum"),
        (lambda: nn.BatchNorm(eps=0), "eps must be > 0"),
        (
            lambda: nn.Reshape([2, -1, -1]),
            r"shape must be a non-empty list of positive integers \(one entry may be -1\)",
        ),
        (lambda: nn.Sequential(nn.Dense(2, name="a"), nn.Dense(2, name="a")), "two layers are keyed 'a'"),
        (lambda: nn.Sequential(nn.Add()), "cannot be chained"),
    ],
)
def test_bad_construction_arguments(make, message):
    with pytest.raises(MathflowError, match=message):
        make()


def test_reshape_size_mismatch():
    with pytest.raises(ShapeError, match="has 12 values but"):
        nn.Reshape([5, 2]).output_shape((3, 4))


def test_batchnorm_needs_more_than_one_value_in_training():
    layer = nn.BatchNorm()
    with pytest.raises(ShapeError, match="more than one value per channel"):
        layer(np.zeros((1, 3), dtype=np.float32))


# ============================================================================ parameters and state
def test_named_parameters_and_roles():
    model = nn.Sequential(nn.Dense(4, activation="relu"), nn.BatchNorm(), nn.Dense(2, name="head"))
    model(np.zeros((2, 3), dtype=np.float32))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.gamma", "1.beta", "head.weight", "head.bias"]
    roles = {n: p.role for n, p in model.named_parameters()}
    assert roles["0.weight"] == "weight" and roles["0.bias"] == "bias" and roles["1.gamma"] == "norm"
    assert model[0].weight.shape == (3, 4) and model["head"].weight.shape == (4, 2)
    assert set(model.state_dict()) == set(names) | {"1.running_mean", "1.running_var"}
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())


def _cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2D(3, 3, padding="same", activation="relu"),
        nn.BatchNorm(),
        nn.MaxPool2D(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Dense(4, activation="tanh"),
        nn.Dense(2),
    )


def test_state_dict_round_trip_is_exact(rng):
    x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
    model = _cnn()
    model(x)  # training step: moves BatchNorm running statistics
    model.eval()
    state = model.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert not np.allclose(state["1.running_mean"], 0.0)

    clone = nn.Sequential.from_config(model.get_config())
    clone.build((2, 6, 6))
    clone.load_state_dict(state)
    clone.eval()
    np.testing.assert_array_equal(model(x).numpy(), clone(x).numpy())
    for key, value in clone.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
        assert value.dtype == state[key].dtype

    state["5.weight"][0, 0] += 1.0  # the state dict holds copies, not views
    assert model[5].weight.data[0, 0] != state["5.weight"][0, 0]


def test_load_state_dict_errors(rng):
    model = nn.Sequential(nn.Dense(3), nn.Dense(2))
    model.build((4,))
    state = model.state_dict()
    with pytest.raises(MathflowError, match=r"missing keys \['1.bias'\]"):
        model.load_state_dict({k: v for k, v in state.items() if k != "1.bias"})
    with pytest.raises(MathflowError, match="unexpected keys"):
        model.load_state_dict({**state, "2.weight": np.zeros(3)})
    with pytest.raises(MathflowError, match=r"'0.weight' has shape \(5, 3\)"):
        model.load_state_dict({**state, "0.weight": np.zeros((5, 3))})
    partial = {"0.weight": np.ones((4, 3), dtype=np.float32)}
    model.load_state_dict(partial, strict=False)
    np.testing.assert_array_equal(model[0].weight.numpy(), np.ones((4, 3)))
    with pytest.raises(MathflowError, match="not built"):
        nn.Sequential(nn.Dense(3)).load_state_dict(state)


def test_seeded_models_are_reproducible(rng):
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    outputs = []
    for _ in range(2):
        mf.get_backend().reseed(123)
        model = _cnn().eval()
        outputs.append(model(x).numpy())
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_get_config_round_trips_for_every_layer():
    layers = [make() for make, _ in LAYER_CASES] + [nn.Add(), nn.Concat(axis=0)]
    layers.append(
        nn.Dense(
            3,
            activation={"name": "leaky_relu", "negative_slope": 0.3},
            kernel_init={"name": "normal", "std": 0.1},
            name="d",
        )
    )
    for layer in layers:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        assert type(clone) is type(layer)
        entry = nn.layer_to_config(layer)
        assert nn.LAYERS.get(entry["type"]) is type(layer)
        assert nn.layer_from_config(entry).get_config() == config


def test_registries_hold_every_layer():
    expected = {
        "dense", "conv2d", "maxpool2d", "avgpool2d", "global_avgpool2d", "flatten", "reshape", "dropout",
        "batchnorm", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "softplus", "identity",
        "add", "concat", "sequential",
    }  # fmt: skip
    assert expected <= set(nn.LAYERS.names())
    assert {"relu", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "softplus", "identity"} <= set(
        nn.ACTIVATIONS.names()
    )
    for name in expected:
        assert nn.LAYERS.get(name).registry_name == name


# ============================================================================ training vs evaluation
def test_dropout_is_identity_in_eval_mode(rng):
    x = rng.standard_normal((8, 10)).astype(np.float32)
    layer = nn.Dropout(0.7)
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x)
    assert not layer.training
    layer.train()
    assert not np.array_equal(layer(x).numpy(), x)


def test_dropout_keeps_the_expectation_in_training():
    mf.get_backend().reseed(0)
    layer = nn.Dropout(0.4)
    y = layer(np.ones((200, 500), dtype=np.float32)).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.6) < 0.01
    np.testing.assert_allclose(y[kept], 1.0 / 0.6, rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.02
    assert y.dtype == np.float32


def test_train_and_eval_are_recursive():
    model = nn.Sequential(nn.Dense(2), nn.Sequential(nn.Dropout(0.5), nn.BatchNorm()))
    model.eval()
    assert not any(layer.training for layer in [model, model[0], model[1], model[1][0], model[1][1]])
    model.train()
    assert all(layer.training for layer in [model, model[0], model[1], model[1][0], model[1][1]])
    model.build((3,))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.1.gamma", "1.1.beta"]


def test_dropout_in_training_changes_gradients_by_the_mask():
    mf.get_backend().reseed(1)
    x = mf.tensor(np.ones((4, 6), dtype=np.float32), requires_grad=True)
    y = nn.Dropout(0.5)(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


def test_layers_keep_float32(rng):
    model = nn.Sequential(nn.Dense(4, activation="gelu"), nn.BatchNorm(), nn.Dense(3), nn.Softmax())
    x = mf.tensor(rng.standard_normal((5, 2)).astype(np.float32))
    y = model(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    assert model[1].running_var.dtype == np.float32


# ============================================================================ GPU
@pytest.mark.gpu
def test_cnn_on_gpu_matches_cpu_and_trains(rng):
    x = rng.standard_normal((4, 2, 8, 8)).astype(np.float32)
    labels = np.array([0, 1, 0, 1])
    model = _cnn()
    model(x)
    model.eval()
    state = model.state_dict()
    expected = model(x).numpy()
    with mf.using("gpu", seed=0) as backend:
        gpu_model = nn.Sequential.from_config(model.get_config())
        gpu_model.build((2, 8, 8))
        assert type(gpu_model[0].weight.data).__module__.startswith("cupy")
        gpu_model.load_state_dict(state)
        gpu_model.eval()
        np.testing.assert_allclose(gpu_model(x).numpy(), expected, rtol=1e-4, atol=1e-5)
        gpu_model.train()
        loss = nn.CrossEntropy()(gpu_model(x), labels) + nn.L2(1e-3)(gpu_model)
        loss.backward()
        for name, p in gpu_model.named_parameters():
            assert type(p.grad.data).__module__.startswith("cupy"), name
            assert np.isfinite(p.grad.numpy()).all(), name
        for key, value in gpu_model.state_dict().items():
            assert isinstance(value, np.ndarray), key
        assert backend.device == "gpu"
