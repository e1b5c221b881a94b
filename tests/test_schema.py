"""The pipeline spec: component forms, strict types, ranges, located errors, registry mirror, round trip."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mathflow.config import ConfigError, dump, load, load_config
from mathflow.schema import PipelineSpec, catalogs, schema_text, spec_from_data, validate_spec
from mathflow.schema.base import tags

ROOT = Path(__file__).resolve().parents[1]

EXAMPLE = """\
version: 1
name: digits-cnn
seed: 42
data:
  source: digits
  split: {train: 0.7, val: 0.15, test: 0.15}
  transforms:
    - minmax
    - reshape: {shape: [1, 8, 8]}
model:
  layers:
    - conv2d: {filters: 16, kernel: 3, padding: same}
    - relu
    - maxpool2d: {size: 2}
    - flatten
    - dense: {units: 64}
    - relu
    - dropout: {rate: 0.3}
    - dense: {units: 10}
loss: cross_entropy
regularizers:
  - l2: {lambda: 1.0e-4}
optimizer:
  adam: {lr: 1.0e-3}
train:
  epochs: 30
  batch_size: 64
  device: auto
metrics: [accuracy]
tracking:
  experiment: digits
"""

BASE = {
    "version": 1,
    "name": "t",
    "data": {"source": "iris"},
    "model": {"layers": [{"dense": {"units": 3}}]},
    "loss": "cross_entropy",
    "optimizer": "adam",
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(name: str, text: str) -> str:
    Path(name).write_text(textwrap.dedent(text), encoding="utf-8")
    return name


def spec_of(text: str, name: str = "p.yaml") -> PipelineSpec:
    return validate_spec(load_config(write(name, text)))


def errors_of(text: str, name: str = "p.yaml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        spec_of(text, name)
    return str(info.value).splitlines()


def with_(**changes) -> dict:
    data = json.loads(json.dumps(BASE))
    data.update(changes)
    return data


# ------------------------------------------------------------------------------------------ the example
class TestExample:
    def test_example_validates_with_values_and_defaults(self, workdir):
        spec = spec_of(EXAMPLE)
        assert spec.name == "digits-cnn" and spec.seed == 42
        assert spec.data.source.type == "digits"
        assert spec.data.split.fractions() == {"train": 0.7, "val": 0.15, "test": 0.15}
        assert [t.type for t in spec.data.transforms] == ["minmax", "reshape"]
        assert spec.data.transforms[1].shape == [1, 8, 8]
        layers = spec.model.layers
        assert [layer.type for layer in layers] == [
            "conv2d",
            "relu",
            "maxpool2d",
            "flatten",
            "dense",
            "relu",
            "dropout",
            "dense",
        ]
        assert layers[0].filters == 16 and layers[0].kernel == 3 and layers[0].padding == "same"
        assert layers[0].stride == 1  # default filled in
        assert layers[6].rate == 0.3
        assert spec.loss.type == "cross_entropy" and spec.loss.label_smoothing == 0.0
        assert spec.regularizers[0].type == "l2" and spec.regularizers[0].lam == 1e-4
        assert spec.optimizer.type == "adam" and spec.optimizer.lr == 1e-3 and spec.optimizer.beta2 == 0.999
        assert spec.train.epochs == 30 and spec.train.batch_size == 64 and spec.train.device == "auto"
        assert spec.train.shuffle is True and spec.train.early_stopping is None
        assert [m.label() for m in spec.metrics] == ["accuracy"]
        assert spec.tracking.experiment == "digits"

    def test_sections_have_defaults(self):
        spec = spec_from_data(BASE)
        assert spec.train.epochs == 10 and spec.train.device == "auto"
        assert spec.data.split.fractions() == {"train": 0.7, "val": 0.15, "test": 0.15}
        assert spec.regularizers == [] and spec.schedule is None and spec.metrics == []
        assert spec.tracking.experiment == "default"


# ------------------------------------------------------------------------------------------ component forms
FORMS = [
    ("model.layers.0", "relu", {"relu": None}, {"type": "relu"}),
    ("model.layers.0", {"dense": {"units": 3}}, {"dense": {"units": 3}}, {"type": "dense", "units": 3}),
    ("loss", "mse", {"mse": {}}, {"type": "mse"}),
    ("loss", {"huber": {"delta": 2.0}}, {"huber": {"delta": 2.0}}, {"type": "huber", "delta": 2.0}),
    ("optimizer", "sgd", {"sgd": None}, {"type": "sgd"}),
    ("optimizer", {"adam": {"lr": 0.1}}, {"adam": {"lr": 0.1}}, {"type": "adam", "lr": 0.1}),
    ("regularizers.0", "l1", {"l1": {}}, {"type": "l1"}),
    ("regularizers.0", {"l2": {"lambda": 0.5}}, {"l2": {"lambda": 0.5}}, {"type": "l2", "lambda": 0.5}),
    ("schedule", "constant", {"constant": None}, {"type": "constant"}),
    ("schedule", {"cosine": {"t_max": 5}}, {"cosine": {"t_max": 5}}, {"type": "cosine", "t_max": 5}),
    ("data.transforms.0", "standardize", {"standardize": {}}, {"type": "standardize"}),
    (
        "data.transforms.0",
        {"pca": {"n_components": 2}},
        {"pca": {"n_components": 2}},
        {"type": "pca", "n_components": 2},
    ),
    ("data.source", "moons", {"moons": None}, {"type": "moons"}),
    ("data.source", {"blobs": {"centers": 3}}, {"blobs": {"centers": 3}}, {"type": "blobs", "centers": 3}),
]


def _place(path: str, value) -> dict:
    data = with_(regularizers=[None], data={"source": "iris", "transforms": [None]})
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    node[int(last) if last.isdigit() else last] = value
    if path != "regularizers.0":
        data["regularizers"] = []
    if path != "data.transforms.0":
        data["data"]["transforms"] = []
    return data


@pytest.mark.parametrize(("path", "a", "b", "c"), FORMS, ids=[f"{p}:{json.dumps(a)}" for p, a, _, _ in FORMS])
def test_three_forms_give_the_same_spec(path, a, b, c):
    specs = [spec_from_data(_place(path, form)) for form in (a, b, c)]
    assert specs[0] == specs[1] == specs[2]


def test_bare_name_form_fails_when_a_parameter_is_required():
    with pytest.raises(ConfigError, match="dense needs 'units'"):
        spec_from_data(with_(model={"layers": ["dense"]}))


def test_aliases_are_accepted():
    spec = spec_from_data(with_(data={"source": "iris", "transforms": ["standard", "onehot"]}, loss="mse"))
    assert [t.type for t in spec.data.transforms] == ["standard", "onehot"]


# ------------------------------------------------------------------------------------------ strict types
class TestTypes:
    @pytest.mark.parametrize(
        ("snippet", "message"),
        [
            ("train: {epochs: '3'}", "'epochs' must be an integer, got a string '3'"),
            ("train: {epochs: 3.0}", "'epochs' must be an integer, got a float 3.0 (write 3)"),
            ("train: {epochs: true}", "'epochs' must be an integer, got a boolean true"),
            ("train: {batch_size: on}", "'batch_size' must be an integer, got a string 'on'"),
            ("optimizer: {sgd: {lr: '0.1'}}", "'lr' must be a number, got a string '0.1'"),
            ("tracking: {experiment: 5}", "'experiment' must be a string, got an integer 5"),
            ("train: {early_stopping: 3}", "'early_stopping' must be a mapping, got an integer 3"),
        ],
    )
    def test_no_coercion(self, workdir, snippet, message):
        text = "\n".join(f"{k}: {json.dumps(v)}" for k, v in BASE.items() if k not in snippet.split(":")[0]) + "\n"
        errors = errors_of(text + snippet + "\n")
        assert any(message in e for e in errors), errors

    @pytest.mark.parametrize(
        ("word", "value"),
        [("on", True), ("off", False), ("yes", True), ("no", False), ("true", True), ("False", False)],
    )
    def test_yaml_11_booleans_only_where_a_field_is_boolean(self, workdir, word, value):
        base = "\n".join(f"{k}: {json.dumps(v)}" for k, v in BASE.items()) + "\n"
        spec = spec_of(base + f"train: {{shuffle: {word}, early_stopping: {{restore_best: {word}}}}}\n")
        assert spec.train.shuffle is value and spec.train.early_stopping.restore_best is value

    def test_an_int_is_a_float(self):
        assert spec_from_data(with_(optimizer={"sgd": {"lr": 1}})).optimizer.lr == 1.0

    def test_kernel_takes_an_int_or_a_pair(self):
        layers = [{"conv2d": {"filters": 2, "kernel": [3, 1]}}, {"maxpool2d": {"size": 2, "stride": [1, 2]}}]
        spec = spec_from_data(with_(model={"layers": layers}))
        assert spec.model.layers[0].kernel == [3, 1] and spec.model.layers[1].stride == [1, 2]


# ------------------------------------------------------------------------------------------ ranges
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"optimizer": {"sgd": {"lr": 0}}}, "'lr' must be > 0"),
        ({"optimizer": {"adam": {"beta1": 1.0}}}, "'beta1' must be < 1"),
        ({"optimizer": {"adam": {"beta2": -0.1}}}, "'beta2' must be ≥ 0"),
        ({"optimizer": {"sgd": {"momentum": 1}}}, "'momentum' must be < 1"),
        ({"model": {"layers": [{"dropout": {"rate": 1.0}}, {"dense": {"units": 3}}]}}, "'rate' must be < 1"),
        ({"model": {"layers": [{"dropout": {"rate": -0.1}}, {"dense": {"units": 3}}]}}, "'rate' must be ≥ 0"),
        ({"model": {"layers": [{"dense": {"units": -3}}]}}, "'units' must be > 0"),
        ({"model": {"layers": [{"conv2d": {"filters": 2, "kernel": 0}}]}}, "'kernel' must be a positive integer"),
        ({"regularizers": [{"l2": {"lambda": -1}}]}, "'lambda' must be ≥ 0"),
        ({"data": {"source": "iris", "split": {"train": 0.5, "test": 0.4}}}, "must add up to 1"),
        ({"data": {"source": "iris", "split": {"train": 1.2}}}, "'train' must be ≤ 1"),
        ({"data": {"source": {"moons": {"n": 1}}}}, "'n' must be ≥ 2"),
        ({"loss": {"cross_entropy": {"label_smoothing": 1}}}, "'label_smoothing' must be < 1"),
        ({"train": {"clip_norm": 0}}, "'clip_norm' must be > 0"),
        (
            {"data": {"source": "iris", "transforms": [{"pca": {"n_components": 1.5}}]}},
            "fraction of variance in (0, 1]",
        ),
        ({"seed": -1}, "'seed' must be ≥ 0"),
    ],
)
def test_value_ranges(changes, message):
    with pytest.raises(ConfigError) as info:
        spec_from_data(with_(**changes))
    assert message in str(info.value)


# ------------------------------------------------------------------------------------------ located errors
class TestLocatedErrors:
    def test_unknown_key_points_at_the_key_with_a_suggestion(self, workdir):
        errors = errors_of(EXAMPLE.replace("dense: {units: 64}", "dense: {untis: 64}"))
        assert errors == ["p.yaml:16:15: dense has no parameter 'untis' (did you mean 'units'?)"]

    def test_value_errors_point_at_the_value(self, workdir):
        errors = errors_of(EXAMPLE.replace("epochs: 30", "epochs: -30"))
        assert errors == ["p.yaml:26:11: 'epochs' must be > 0, got -30"]

    def test_type_form_errors_point_into_the_flat_mapping(self, workdir):
        text = EXAMPLE.replace("    - dense: {units: 64}\n", "    - type: dense\n      units: x\n")
        assert errors_of(text) == ["p.yaml:17:14: 'units' must be an integer, got a string 'x'"]

    def test_unknown_component_with_suggestion(self, workdir):
        errors = errors_of(EXAMPLE.replace("loss: cross_entropy", "loss: cross_entropi"))
        assert errors == ["p.yaml:20:7: unknown loss 'cross_entropi' (did you mean 'cross_entropy'?)"]

    def test_all_errors_of_a_file_at_once_in_line_order(self, workdir):
        text = (
            EXAMPLE.replace("seed: 42", "seed: forty")
            .replace("kernel: 3", "kernal: 3")
            .replace("rate: 0.3", "rate: 3")
            .replace("device: auto", "device: tpu")
        )
        errors = errors_of(text)
        assert [e.split(": ")[0] for e in errors] == ["p.yaml:3:7", "p.yaml:12:29", "p.yaml:18:23", "p.yaml:28:11"]

    def test_override_errors_name_the_override(self, workdir):
        write("p.yaml", EXAMPLE)
        with pytest.raises(ConfigError) as info:
            validate_spec(load_config("p.yaml", ["train.epochs=0"]))
        assert str(info.value) == "--set train.epochs=0: 'epochs' must be > 0, got 0"

    def test_errors_inside_extends_bases_point_at_the_base(self, workdir):
        write("base.yaml", "train:\n  epochs: 0\n")
        errors = errors_of("extends: base.yaml\n" + EXAMPLE.replace("train:\n  epochs: 30\n", "train:\n"), "child.yaml")
        assert errors == ["base.yaml:2:11: 'epochs' must be > 0, got 0"]


# ------------------------------------------------------------------------------------------ registries
REGISTRY_MODULES = {
    "layers": ("mathflow.nn", "LAYERS"),
    "losses": ("mathflow.nn", "LOSSES"),
    "regularizers": ("mathflow.nn", "REGULARIZERS"),
    "optimizers": ("mathflow.optim", "OPTIMIZERS"),
    "schedules": ("mathflow.optim", "SCHEDULES"),
    "datasets": ("mathflow.data", "DATASETS"),
    "transforms": ("mathflow.data", "TRANSFORMS"),
}
#: implementation-only parameters (not in the DSL) and DSL spellings of implementation names.
IMPL_ONLY = {"adam": {"betas"}, "adamw": {"betas"}}
NOT_IN_DSL = {"sequential"}
SPELLING = {"lambda": "lam"}


def _registry(family: str):
    import importlib

    module, attr = REGISTRY_MODULES[family]
    return getattr(importlib.import_module(module), attr)


def _impl_defaults(family: str, cls) -> dict:
    sig = inspect.signature(cls.__init__)
    return {
        k: ("required" if p.default is inspect.Parameter.empty else p.default)
        for k, p in sig.parameters.items()
        if k not in ("self", "params") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


@pytest.mark.parametrize("family", sorted(REGISTRY_MODULES))
def test_config_defaults_match_the_implementation(family):
    """A component's config model and its constructor sit in one module; their defaults agree."""
    registry = _registry(family)
    assert tags(catalogs()[family]) == set(registry.names()) - NOT_IN_DSL
    for name, model in catalogs()[family].items():
        impl = _impl_defaults(family, registry.get(name))
        for key in IMPL_ONLY.get(name, ()):
            impl.pop(key)
        spec = {}
        for key, info in model.params().items():
            default = (
                "required" if info.is_required() else (info.default_factory() if info.default_factory else info.default)
            )
            spec[SPELLING.get(key, key)] = default
        assert set(spec) == set(impl), name
        for key, value in impl.items():
            assert spec[key] == value, f"{name}.{key}: spec default {spec[key]!r}, implementation {value!r}"


@pytest.mark.parametrize(
    ("field", "registry"),
    [("activation", "ACTIVATIONS"), ("kernel_init", "INITIALIZERS")],
)
def test_name_fields_list_the_registry(field, registry):
    """Name fields are validated against, and documented from, the registry itself."""
    import mathflow.nn as nn

    schema = json.loads(schema_text())
    dense = schema["$defs"]["DenseConfig"]["properties"][field]
    enum = next(s["enum"] for s in dense["anyOf"] if "enum" in s)
    assert enum == getattr(nn, registry).names()


def test_metric_names_list_the_registry():
    from mathflow.metrics import METRICS

    schema = json.loads(schema_text())
    names = schema["properties"]["metrics"]["items"]["anyOf"][0]["enum"]
    assert sorted(names) == METRICS.names()


def test_schema_modules_import_no_heavy_modules():
    """schema/ describes sections: it reads component models from the registries but computes
    nothing itself (no numpy, cupy, mlflow or torch imported directly)."""
    allowed = ("mathflow.", "pydantic", "pydantic_core")
    paths = sorted((ROOT / "mathflow" / "schema").glob("*.py"))
    assert paths
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "mathflow" or top.startswith("pydantic"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"
                else:
                    assert top not in ("numpy", "cupy", "mlflow", "torch"), f"{path.name} imports {name}"


# ------------------------------------------------------------------------------------------ schema
def test_checked_in_schema_is_in_sync():
    assert (ROOT / "schemas" / "pipeline.schema.json").read_text(encoding="utf-8") == schema_text()


def test_schema_describes_the_three_component_forms():
    schema = json.loads(schema_text())
    loss = schema["properties"]["loss"]
    forms = loss["anyOf"]
    assert forms[0]["enum"] and "mse" in forms[0]["enum"]
    assert "huber" in forms[1]["properties"] and forms[1]["maxProperties"] == 1
    assert forms[2]["discriminator"]["propertyName"] == "type"
    dense = schema["$defs"]["DenseConfig"]
    assert dense["required"] == ["units"] and dense["additionalProperties"] is False


# ------------------------------------------------------------------------------------------ round trip
def _maybe_form(name: str, params: dict, draw) -> object:
    choice = draw(st.sampled_from(["bare", "nested", "flat"] if not params else ["nested", "flat"]))
    if choice == "bare":
        return name
    if choice == "nested":
        return {name: dict(params) or draw(st.sampled_from([None, {}]))}
    return {"type": name, **params}


floats01 = st.floats(0.0, 0.95, allow_nan=False)
positive = st.floats(1e-6, 10.0, allow_nan=False)
words = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).map(lambda s: "w" + s)


@st.composite
def layer(draw):
    kind = draw(st.sampled_from(["dense", "dropout", "relu", "tanh", "leaky_relu", "batchnorm", "flatten"]))
    params = {
        "dense": lambda: {
            "units": draw(st.integers(1, 64)),
            **draw(st.sampled_from([{}, {"activation": "relu"}, {"use_bias": False}])),
        },
        "dropout": lambda: {"rate": draw(floats01)},
        "leaky_relu": lambda: {"negative_slope": draw(floats01)},
        "batchnorm": lambda: {"momentum": draw(floats01)},
    }.get(kind, dict)()
    return _maybe_form(kind, params, draw)


def _node(kind: str, params: dict, inputs: list[str], draw) -> dict:
    if draw(st.booleans()):
        return {"type": kind, **params, "inputs": inputs}
    return {kind: dict(params) or None, "inputs": inputs}


@st.composite
def graph_nodes(draw):
    """input → h → (a, b) → merge → out, with random sizes and written forms."""
    units = draw(st.integers(1, 16))
    merge = draw(st.sampled_from(["add", "concat"]))
    return {
        "h": _node("dense", {"units": units}, ["input"], draw),
        "a": _node("relu", {}, ["h"], draw),
        "b": _node("dense", {"units": units, "activation": "tanh"}, ["h"], draw),
        "m": _node(merge, {}, ["a", "b"], draw),
        "out": _node("dense", {"units": draw(st.integers(1, 4))}, ["m"], draw),
    }


@st.composite
def pipeline(draw):
    train_frac = draw(st.sampled_from([0.6, 0.7, 0.8, 1.0]))
    split = {"train": train_frac} if train_frac == 1.0 else {"train": train_frac, "test": 1.0 - train_frac}
    source = draw(st.sampled_from(["iris", "digits", "moons", "blobs"]))
    source_params = {"moons": {"n": draw(st.integers(2, 500)), "noise": draw(floats01)}, "blobs": {"centers": 3}}.get(
        source, {}
    )
    loss_name = draw(st.sampled_from(["mse", "cross_entropy", "huber", "binary_cross_entropy"]))
    loss_params = {
        "huber": {"delta": draw(positive)},
        "binary_cross_entropy": {"from_logits": draw(st.booleans())},
    }.get(loss_name, {})
    opt = draw(st.sampled_from(["sgd", "adam", "rmsprop", "adagrad"]))
    opt_params = {"lr": draw(positive)}
    if opt == "adam":
        opt_params["beta1"] = draw(floats01)
    regs = draw(st.lists(st.sampled_from(["l1", "l2", "elastic_net"]), max_size=2))
    data = {
        "version": 1,
        "name": draw(words),
        "seed": draw(st.integers(0, 2**31)),
        "data": {
            "source": _maybe_form(source, source_params, draw),
            "split": split,
            "transforms": draw(st.lists(st.sampled_from(["standardize", "minmax"]), max_size=2)),
        },
        "model": {"layers": draw(st.lists(layer(), min_size=1, max_size=5))},
        "loss": _maybe_form(loss_name, loss_params, draw),
        "regularizers": [_maybe_form(r, {} if r == "elastic_net" else {"lambda": draw(positive)}, draw) for r in regs],
        "optimizer": _maybe_form(opt, opt_params, draw),
        "train": {
            "epochs": draw(st.integers(1, 100)),
            "batch_size": draw(st.integers(1, 512)),
            "device": draw(st.sampled_from(["cpu", "gpu", "auto"])),
            "shuffle": draw(st.booleans()),
        },
        "metrics": draw(st.lists(st.sampled_from(["accuracy", "mse", "f1"]), max_size=2, unique=True)),
        "tracking": {"experiment": draw(words), "tags": draw(st.dictionaries(words, words, max_size=2))},
    }
    if draw(st.booleans()):
        data["schedule"] = _maybe_form("step", {"step_size": draw(st.integers(1, 10))}, draw)
    elif draw(st.booleans()):
        after = _maybe_form("cosine", {"t_max": draw(st.integers(1, 50))}, draw)
        data["schedule"] = {"warmup": {"warmup_steps": draw(st.integers(0, 5)), "after": after}}
    if draw(st.booleans()):
        data["model"] = {"nodes": draw(graph_nodes())}
        if draw(st.booleans()):
            data["model"]["output"] = list(data["model"]["nodes"])[-1]
    if draw(st.booleans()):
        data["train"]["early_stopping"] = {"patience": draw(st.integers(1, 10))}
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=pipeline())
def test_round_trip_yaml_spec_yaml(tmp_path, data):
    """Any valid pipeline → spec → canonical YAML; the canonical YAML → spec → YAML is unchanged."""
    first = spec_from_data(data)
    text = dump(first.to_data())
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    second = validate_spec(load(path))
    assert second == first
    assert dump(second.to_data()) == text


def test_show_form_of_the_example_round_trips(workdir):
    first = spec_of(EXAMPLE)
    text = dump(first.to_data())
    assert "- relu\n" in text and "lambda: 0.0001" in text
    assert spec_of(text, "again.yaml") == first


# ------------------------------------------------------------------------------------------ config features
def test_vars_feed_references_with_their_types(workdir):
    text = EXAMPLE.replace("seed: 42\n", "seed: 42\nvars:\n  hidden: 48\n").replace(
        "units: 64", "units: '${vars.hidden}'"
    )
    spec = spec_of(text)
    assert spec.model.layers[4].units == 48 and spec.vars == {"hidden": 48}


def test_extends_and_overrides_make_one_spec(workdir):
    write("base.yaml", EXAMPLE)
    write("child.yaml", "extends: base.yaml\nname: child\ntrain:\n  epochs: 5\n")
    spec = validate_spec(load_config("child.yaml", ["optimizer.adam.lr=0.01"]))
    assert spec.name == "child" and spec.train.epochs == 5 and spec.train.batch_size == 64
    assert spec.optimizer.lr == 0.01 and len(spec.model.layers) == 8
