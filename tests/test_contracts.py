"""Contracts every registered component keeps, parametrized over the registries.

A new component is tested here without a line of this file changing: it must build from its
config model (its ``example`` filling the required parameters), keep its declared shape rule,
gradcheck in float64 where it is differentiable, appear in the JSON Schema and in
``mathflow list`` with its parameters, and, for layers and transforms, export to a program that
the NumPy runtime and ONNX Runtime evaluate like the component's own forward pass.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import mathflow as mf
from mathflow.backend import using
from mathflow.data import DATASETS, TRANSFORMS, Pipeline, dataset_from_arrays
from mathflow.export import runtime
from mathflow.export.model import export_program
from mathflow.metrics import METRICS
from mathflow.nn import INITIALIZERS, LAYERS, LOSSES, REGULARIZERS
from mathflow.optim import OPTIMIZERS, SCHEDULES
from mathflow.schema import registries, schema_text


def _ids(registry):
    return [c.registry_name for c in registry.components() if hasattr(c, "config_model")]


def _config(component):
    """The validated config of ``component`` from its example, as constructor keyword arguments."""
    model = component.config_model
    config = model.model_validate({"type": model.component_name(), **model.example})
    return config.model_dump(exclude={"type", "name"}, exclude_none=True)


def _random(shape, rng):
    if isinstance(shape, list):
        return [rng.normal(size=(3, *s)) for s in shape]
    return rng.normal(size=(3, *shape))


# ------------------------------------------------------------------------------ every family
@pytest.fixture(scope="module")
def listings() -> dict[str, str]:
    """``mathflow list FAMILY`` as a user sees it, once per family."""
    out = {}
    for family in registries():
        done = subprocess.run(
            [sys.executable, "-m", "mathflow.cli", "list", family],
            capture_output=True,
            text=True,
            timeout=120,
            env={"COLUMNS": "250", "PATH": ""},
        )
        assert done.returncode == 0, done.stderr
        out[family] = done.stdout
    return out


FAMILY_COMPONENTS = [
    (family, c)
    for family, registry in registries().items()
    for c in registry.components()
    if hasattr(c, "config_model") or not registry.config_models()  # containers are not pipeline entries
]


@pytest.mark.parametrize(
    ("family", "component"), FAMILY_COMPONENTS, ids=[f"{f}-{c.registry_name}" for f, c in FAMILY_COMPONENTS]
)
def test_listed_with_its_parameters(family, component, listings):
    text = listings[family]
    assert component.registry_name in text
    model = getattr(component, "config_model", None)
    for key in model.params() if model is not None else ():
        if key != "name":
            assert key in text, f"mathflow list {family} does not show {component.registry_name}.{key}"


SCHEMA_COMPONENTS = [(f, c) for f, c in FAMILY_COMPONENTS if hasattr(c, "config_model") and f != "activations"]


@pytest.mark.parametrize(
    ("family", "component"), SCHEMA_COMPONENTS, ids=[f"{f}-{c.registry_name}" for f, c in SCHEMA_COMPONENTS]
)
def test_in_the_json_schema(family, component):
    schema = json.loads(schema_text())
    definition = schema["$defs"][component.config_model.__name__]
    assert definition["properties"]["type"].get("const", None) in (component.registry_name, None)
    assert set(component.config_model.params()) <= set(definition["properties"])


# ------------------------------------------------------------------------------ layers
LAYER_IDS = _ids(LAYERS)


@pytest.mark.parametrize("name", LAYER_IDS)
def test_layer_shape_rule_matches_its_forward(name):
    rng = np.random.default_rng(0)
    cls = LAYERS.get(name)
    layer = cls(**_config(cls))
    declared = layer.output_shape(cls.example_input)
    y = layer(_random(cls.example_input, rng))
    assert tuple(y.shape[1:]) == tuple(declared)


@pytest.mark.parametrize("name", LAYER_IDS)
def test_layer_gradcheck(name):
    rng = np.random.default_rng(1)
    cls = LAYERS.get(name)
    with using("cpu", dtype="float64", seed=0):
        layer = cls(**_config(cls))
        x = _random(cls.example_input, rng)
        layer.build(cls.example_input)
        layer.eval()  # deterministic: dropout off, batch norm on running statistics
        params = dict(layer.named_parameters())
        keys = list(params)

        def f(*values):
            xs, ps = values[: len(_as_list(x))], values[len(_as_list(x)) :]
            given = list(xs) if isinstance(x, list) else xs[0]
            return layer.functional_call(dict(zip(keys, ps)), given)

        assert mf.gradcheck(f, *_as_list(x), *[p.data for p in params.values()])


def _as_list(x):
    return x if isinstance(x, list) else [x]


@pytest.mark.parametrize("name", LAYER_IDS)
def test_layer_export_equals_its_forward(name):
    onnx_runtime = pytest.importorskip("onnxruntime")
    from mathflow.export.onnx import run_onnx, to_onnx

    rng = np.random.default_rng(2)
    cls = LAYERS.get(name)
    shapes = cls.example_input
    layer = cls(**_config(cls))
    if isinstance(shapes, list):  # a merge layer: fed by two dense branches of one input
        model, sample = _split_input(layer, shapes), (5,)
    else:
        from mathflow.nn import Sequential

        model, sample = Sequential(layer), tuple(shapes)
    model.build(sample)
    _train_one_step(model, sample, rng)
    model.eval()
    x = rng.normal(size=(5, *sample)).astype(np.float32)
    expected = model(x).numpy()
    program = export_program(model)
    got = runtime.run_program(program.to_data(), program.constants, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert onnx_runtime is not None
    np.testing.assert_allclose(run_onnx(to_onnx(program), x), expected, rtol=1e-5, atol=1e-5)


def _split_input(layer, shapes):
    """A graph that feeds the two halves of a flat input to the merge ``layer`` (via Dense maps)."""
    from mathflow.compiler.model import GraphModel
    from mathflow.nn import Dense

    return GraphModel(
        [("a", Dense(shapes[0][0]), ["input"]), ("b", Dense(shapes[1][0]), ["input"]), ("m", layer, ["a", "b"])], "m"
    )


def _train_one_step(model, sample, rng):
    """A forward and backward pass in training mode, so state such as running statistics moves."""
    params = model.parameters()
    if not params:
        return
    from mathflow.optim import SGD

    model.train()
    out = model(rng.normal(size=(8, *sample)).astype(np.float32))
    (out * out).sum().backward()
    SGD(params, lr=0.01).step()
    model.zero_grad()


# ------------------------------------------------------------------------------ losses
@pytest.mark.parametrize("name", _ids(LOSSES))
def test_loss_builds_and_gradchecks(name):
    cls = LOSSES.get(name)
    loss = cls(**_config(cls))
    rng = np.random.default_rng(3)
    pred, target = loss.example(rng)
    value = loss(pred, target)
    assert value.ndim == 0 and np.isfinite(value.item())
    assert mf.gradcheck(lambda p: loss(p, target), pred)


# ------------------------------------------------------------------------------ regularizers
@pytest.mark.parametrize("name", _ids(REGULARIZERS))
def test_regularizer_builds_and_gradchecks(name):
    cls = REGULARIZERS.get(name)
    reg = cls(**_config(cls))
    rng = np.random.default_rng(4)
    w = rng.normal(size=(3, 4))
    assert np.isfinite(reg([mf.tensor(w)]).item())
    assert mf.gradcheck(lambda v: reg([v]), w)


# ------------------------------------------------------------------------------ optimizers and schedules
@pytest.mark.parametrize("name", _ids(OPTIMIZERS))
def test_optimizer_decreases_a_quadratic(name):
    cls = OPTIMIZERS.get(name)
    w = mf.tensor(np.array([3.0, -2.0]), requires_grad=True)
    opt = cls([w], **_config(cls))
    start = float((w * w).sum().item())
    for _ in range(20):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    assert float((w * w).sum().item()) < start


@pytest.mark.parametrize("name", _ids(SCHEDULES))
def test_schedule_builds_and_gives_finite_rates(name):
    cls = SCHEDULES.get(name)
    schedule = cls(**_config(cls))
    rates = [schedule.lr_at(t, 0.1) for t in range(12)]
    assert all(math.isfinite(r) and r >= 0 for r in rates)


# ------------------------------------------------------------------------------ data
@pytest.mark.parametrize("name", [n for n in _ids(DATASETS) if DATASETS.get(n).kind != "file"])
def test_dataset_builds_from_its_defaults_as_its_shape_rule_says(name):
    source = DATASETS.create(name, **_config(DATASETS.get(name)))
    data = source.load(0)
    assert len(data.x) == len(data.y) > 0
    shape, task, classes, target = source.shape_rule()
    assert (tuple(data.x.shape[1:]), data.task, data.num_classes, tuple(data.y.shape[1:])) == (
        shape,
        task,
        classes,
        target,
    )


@pytest.mark.parametrize("name", _ids(TRANSFORMS))
def test_transform_shape_rule_and_export(name):
    cls = TRANSFORMS.get(name)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=30)
    pipeline = Pipeline([{name: cls.config_model.example or None}]).fit(dataset_from_arrays(x, y))
    transform = pipeline.transforms[0]
    values = y if transform.target else x
    out = transform(values)
    assert tuple(out.shape[1:]) == tuple(transform.output_shape(values.shape[1:]))
    if transform.target:
        return
    from mathflow.nn import Identity

    identity = Identity()
    identity.build(tuple(out.shape[1:]))
    program = export_program(identity, pipeline)
    np.testing.assert_allclose(runtime.run_program(program.to_data(), program.constants, x), out, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ metrics and initialisers
@pytest.mark.parametrize("name", sorted({cls.registry_name for cls in METRICS.components()}))
def test_metric_gives_a_value_on_its_task(name):
    cls = METRICS.get(name)
    metric = cls(**cls.config_model.example)
    rng = np.random.default_rng(6)
    if cls.task == "classification":
        value = metric(rng.integers(0, 3, size=20), rng.normal(size=(20, 3)))
    else:
        value = metric(rng.normal(size=(20, 1)), rng.normal(size=(20, 1)))
    assert np.all(np.isfinite(np.asarray(value)))


@pytest.mark.parametrize("name", sorted({fn.registry_name for fn in INITIALIZERS.components()}))
def test_initializer_draws_the_shape_and_dtype(name):
    w = INITIALIZERS.get(name)((4, 3), 4, 3, np.random.default_rng(0), np.float32)
    assert w.shape == (4, 3) and w.dtype == np.float32 and np.all(np.isfinite(w))
