"""The graph compiler: static shapes and parameter counts, structure checks, data metadata, models."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mathflow as mf
from mathflow.compiler import compile_pipeline, to_dot, to_mermaid
from mathflow.compiler.model import GraphModel
from mathflow.config import ConfigError, load_config
from mathflow.pipeline import load_pipeline
from mathflow.schema import validate_spec

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def compile_text(text: str, name: str = "p.yaml"):
    Path(name).write_text(textwrap.dedent(text), encoding="utf-8")
    document = load_config(name)
    return compile_pipeline(validate_spec(document), document)


def errors(text: str, name: str = "p.yaml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        compile_text(text, name)
    return str(info.value).splitlines()


HEAD = """\
version: 1
name: t
loss: cross_entropy
optimizer: adam
"""


# ------------------------------------------------------------------------------------------ shapes
def test_cnn_shapes_and_parameter_counts():
    _, compiled = load_pipeline(ROOT / "pipelines" / "cnn.yaml")
    graph = compiled.graph
    assert graph.input_shape == (1, 8, 8)
    rows = [(n.name, n.type, n.output_shape, n.params, n.line) for n in graph]
    assert rows == [
        ("conv2d_1", "conv2d", (16, 8, 8), 16 * 1 * 3 * 3 + 16, 14),
        ("relu_1", "relu", (16, 8, 8), 0, 15),
        ("maxpool2d_1", "maxpool2d", (16, 4, 4), 0, 16),
        ("flatten_1", "flatten", (256,), 0, 17),
        ("dense_1", "dense", (64,), 256 * 64 + 64, 18),
        ("relu_2", "relu", (64,), 0, 19),
        ("dropout_1", "dropout", (64,), 0, 20),
        ("dense_2", "dense", (10,), 64 * 10 + 10, 21),
    ]
    assert graph.total_params == 160 + 16448 + 650
    assert graph.output_shape == (10,)
    assert graph.rows()[0]["output_shape"] == "(N, 1, 8, 8)"


def test_strided_valid_convolution_and_pooling_shapes(workdir):
    compiled = compile_text(
        HEAD
        + """
data:
  source: {synthetic: {sample_shape: [3, 17, 12], num_classes: 4}}
model:
  layers:
    - conv2d: {filters: 5, kernel: [3, 2], stride: 2}
    - avgpool2d: {size: 2, stride: 1}
    - batchnorm
    - global_avgpool2d
    - dense: {units: 4}
"""
    )
    shapes = [n.output_shape for n in compiled.graph]
    # conv: ((17 - 3) // 2 + 1, (12 - 2) // 2 + 1) = (8, 6); pool 2 stride 1: (7, 5)
    assert shapes == [(5, 8, 6), (5, 7, 5), (5, 7, 5), (5,), (4,)]
    assert [n.params for n in compiled.graph] == [5 * 3 * 3 * 2 + 5, 0, 10, 0, 24]


@pytest.mark.parametrize("path", PIPELINES, ids=[p.name for p in PIPELINES])
def test_inferred_shapes_match_a_real_forward_pass(path):
    """Every example pipeline: build the model, run a batch, compare with the static shapes."""
    _, compiled = load_pipeline(path)
    model = compiled.build_model()
    assert sum(p.data.size for p in model.parameters()) == compiled.graph.total_params
    x = np.random.default_rng(0).standard_normal((5, *compiled.graph.input_shape)).astype(np.float32)
    model.eval()
    y = model(mf.tensor(x))
    assert y.shape == (5, *compiled.graph.output_shape)
    assert y.dtype == np.float32


def test_shape_error_is_reported_at_the_layer_line_with_the_shapes(workdir):
    text = HEAD + "data:\n  source: digits\n  transforms: [{reshape: {shape: [1, 8, 8]}}]\nmodel:\n  layers:\n"
    text += "    - conv2d: {filters: 16, kernel: 4}\n    - dense: {units: 10}\n"
    assert errors(text) == ["p.yaml:11:7: dense needs 1-D features per sample, got (16, 5, 5): add flatten before it"]


def test_errors_do_not_cascade_past_the_failing_layer(workdir):
    text = HEAD + "data: {source: iris}\nmodel:\n  layers:\n    - conv2d: {filters: 2, kernel: 3}\n"
    text += "    - maxpool2d: {size: 2}\n    - dense: {units: 3}\n"
    found = errors(text)
    assert len(found) == 1 and found[0].startswith("p.yaml:8:7: conv2d needs (channels, height, width)")


# ------------------------------------------------------------------------------------------ graphs
GRAPH = """\
data: {source: iris}
model:
  nodes:
    a: {dense: {units: 8, activation: tanh}, inputs: [input]}
    b: {dense: {units: 4}, inputs: [input]}
    cat: {concat: null, inputs: [a, b]}
    skip: {dense: {units: 12}, inputs: [input]}
    sum: {add: null, inputs: [cat, skip]}
    out: {type: dense, units: 3, inputs: [sum]}
  output: out
"""


def test_graph_shapes_order_and_edges(workdir):
    compiled = compile_text(HEAD + GRAPH)
    graph = compiled.graph
    assert not graph.sequential
    assert list(graph.nodes) == ["a", "b", "cat", "skip", "sum", "out"]
    assert graph["cat"].output_shape == (12,) and graph["sum"].output_shape == (12,)
    assert graph["out"].params == 12 * 3 + 3
    assert ("input", "skip") in graph.edges() and ("cat", "sum") in graph.edges()
    assert graph["cat"].line == 10


def test_graph_nodes_are_ordered_topologically_whatever_the_written_order(workdir):
    text = HEAD + textwrap.dedent(
        """\
        data: {source: iris}
        model:
          nodes:
            out: {dense: {units: 3}, inputs: [mid]}
            mid: {relu: null, inputs: [first]}
            first: {dense: {units: 5}, inputs: [input]}
          output: out
        """
    )
    assert list(compile_text(text).graph.nodes) == ["first", "mid", "out"]


def test_output_defaults_to_the_last_node(workdir):
    text = HEAD + "data: {source: iris}\nmodel:\n  nodes:\n    h: {dense: {units: 3}, inputs: [input]}\n"
    assert compile_text(text).graph.output == "h"


def test_graph_model_forward_matches_the_formula(workdir):
    compiled = compile_text(HEAD + GRAPH)
    model = compiled.build_model()
    assert isinstance(model, GraphModel)
    params = dict(model.named_parameters())
    assert set(params) == {f"{n}.{p}" for n in ("a", "b", "skip", "out") for p in ("weight", "bias")}
    x = np.random.default_rng(1).standard_normal((4, 4)).astype(np.float32)
    w = {k: v.data for k, v in params.items()}
    a = np.tanh(x @ w["a.weight"] + w["a.bias"])
    b = x @ w["b.weight"] + w["b.bias"]
    s = np.concatenate([a, b], axis=1) + x @ w["skip.weight"] + w["skip.bias"]
    expected = s @ w["out.weight"] + w["out.bias"]
    np.testing.assert_allclose(model(mf.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_graph_model_backpropagates_to_every_parameter(workdir):
    compiled = compile_text(HEAD + GRAPH)
    model = compiled.build_model()
    loss_fn = compiled.build_loss()
    x = np.random.default_rng(2).standard_normal((6, 4)).astype(np.float32)
    loss = loss_fn(model(mf.tensor(x)), np.array([0, 1, 2, 0, 1, 2]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.any(p.grad.numpy() != 0), name


def test_graph_model_gradcheck_in_float64(workdir):
    compiled = compile_text(HEAD + GRAPH)
    with mf.using("cpu", "float64"):
        model = compiled.build_model()
        x = mf.tensor(np.random.default_rng(3).standard_normal((3, 4)), requires_grad=True)
        mf.gradcheck(lambda t: model(t).sum(), x)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ("    a: {dense: {units: 3}, inputs: [b]}\n    b: {dense: {units: 3}, inputs: [a]}\n", "cycle: "),
        ("    a: {dense: {units: 3}, inputs: [nowhere]}\n", "reads 'nowhere', which is not a node"),
        ("    a: {dense: {units: 3}, inputs: [input, input]}\n", "dense takes one input, got 2"),
        ("    a: {add: null, inputs: [input]}\n", "add needs at least 2 inputs"),
        ("    a.b: {dense: {units: 3}, inputs: [input]}\n", "must be letters, digits"),
    ],
)
def test_structure_errors(workdir, nodes, message):
    text = HEAD + "data: {source: iris}\nmodel:\n  nodes:\n" + nodes
    assert any(message in e for e in errors(text)), errors(text)


def test_cycle_is_reported_once_at_the_closing_input(workdir):
    text = HEAD + "data: {source: iris}\nmodel:\n  nodes:\n"
    text += "    a: {dense: {units: 3}, inputs: [c]}\n    b: {dense: {units: 3}, inputs: [a]}\n"
    text += "    c: {dense: {units: 3}, inputs: [b]}\n  output: c\n"
    assert errors(text) == ["p.yaml:9:37: cycle: a -> b -> c -> a (a node cannot depend on its own output)"]


# ------------------------------------------------------------------------------------------ data metadata
@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer", "diabetes"])
def test_shape_rule_matches_the_real_data(name):
    from mathflow.data import DATASETS, load_dataset

    shape, task, classes, target = DATASETS.get(name)().shape_rule()
    ds = load_dataset(name)
    assert tuple(ds.x.shape[1:]) == shape and ds.task == task and ds.num_classes == classes
    assert tuple(ds.y.shape[1:]) == target


@pytest.mark.parametrize(
    ("source", "shape", "classes"),
    [
        ("moons", (2,), 2),
        ("{blobs: {centers: 5, features: 7}}", (7,), 5),
        ("{spirals: {classes: 4}}", (2,), 4),
        ("{synthetic: {sample_shape: [3, 4, 5], num_classes: 6}}", (3, 4, 5), 6),
    ],
)
def test_generated_sources_without_loading(workdir, source, shape, classes):
    from mathflow.data import load_dataset

    text = HEAD + f"data:\n  source: {source}\nmodel:\n  layers: [flatten, {{dense: {{units: {classes}}}}}]\n"
    compiled = compile_text(text)
    info = compiled.data
    assert info.sample_shape == shape and info.num_classes == classes
    real = load_dataset(compiled.spec.data.source.model_dump(), 0)
    assert tuple(real.x.shape[1:]) == shape and real.num_classes == classes


def test_fraction_pca_needs_the_data_and_gets_it(workdir):
    text = HEAD + "data:\n  source: iris\n  transforms: [standardize, {pca: {n_components: 0.9}}]\n"
    text += "model:\n  layers: [{dense: {units: 3}}]\n"
    info = compile_text(text).data
    assert info.sample_shape is not None and 1 <= info.sample_shape[0] < 4


def test_one_hot_targets_allow_mse_on_classes(workdir):
    text = "version: 1\nname: t\nloss: mse\noptimizer: sgd\ndata:\n  source: iris\n  transforms: [one_hot]\n"
    text += "model:\n  layers: [{dense: {units: 3}}]\n"
    assert compile_text(text).data.target_shape == (3,)


def test_csv_file_relative_to_the_pipeline(workdir):
    Path("sub").mkdir()
    Path("sub/data.csv").write_text(
        "a,b,c,label\n" + "".join(f"{i},{i * 2},{i % 3},{'xy'[i % 2]}\n" for i in range(20))
    )
    text = HEAD + "data:\n  source: {csv: {path: data.csv, target: label}}\nmodel:\n  layers: [{dense: {units: 2}}]\n"
    info = compile_text(text, "sub/p.yaml").data
    assert info.sample_shape == (3,) and info.num_classes == 2 and info.task == "classification"


def test_missing_file_points_at_the_path_value(workdir):
    text = HEAD + "data:\n  source:\n    npy: {x: x.npy, y: y.npy}\nmodel:\n  layers: [{dense: {units: 2}}]\n"
    np.save("x.npy", np.zeros((3, 2), np.float32))
    found = errors(text)
    assert found == [
        "p.yaml:7:24: data file 'y.npy' not found (looked for y.npy) (paths are relative to the pipeline file)"
    ]


# ------------------------------------------------------------------------------------------ cross-section checks
@pytest.mark.parametrize(
    ("source", "units", "loss", "message"),
    [
        ("iris", 4, "cross_entropy", "cross_entropy needs one output unit per class: iris (3 classes)"),
        ("iris", 3, "binary_cross_entropy", "binary_cross_entropy is for 2 classes"),
        ("breast_cancer", 2, "binary_cross_entropy", "binary_cross_entropy needs one output unit"),
        ("iris", 3, "mse", "mse is a regression loss"),
        ("diabetes", 1, "cross_entropy", "cross_entropy needs class labels"),
        ("diabetes", 2, "huber", "huber compares the model output (N, 2) with targets (N, 1)"),
        ("iris", 1, "hinge", "hinge needs one score"),
    ],
)
def test_loss_must_fit_data_and_output(workdir, source, units, loss, message):
    text = f"version: 1\nname: t\noptimizer: sgd\nloss: {loss}\ndata: {{source: {source}}}\n"
    text += f"model:\n  layers: [{{dense: {{units: {units}}}}}]\n"
    found = errors(text)
    assert len(found) == 1 and found[0].startswith("p.yaml:4:1: ") and message in found[0], found


@pytest.mark.parametrize(
    ("source", "units", "loss"),
    [
        ("breast_cancer", 1, "{binary_cross_entropy: {from_logits: true}}"),
        ("iris", 3, "hinge"),
        ("moons", 1, "hinge"),
        ("diabetes", 1, "mae"),
    ],
)
def test_matching_losses_pass(workdir, source, units, loss):
    text = f"version: 1\nname: t\noptimizer: sgd\nloss: {loss}\ndata: {{source: {source}}}\n"
    text += f"model:\n  layers: [{{dense: {{units: {units}}}}}]\n"
    compile_text(text)


@pytest.mark.parametrize(
    ("layers", "loss", "message"),
    [
        ("[{dense: {units: 3}}, softmax]", "cross_entropy", "cross_entropy takes raw scores (logits)"),
        (
            "[{dense: {units: 3, activation: softmax}}, dropout]",
            "cross_entropy",
            "the model ends with softmax (line 7)",
        ),
        ("[{dense: {units: 1}}]", "binary_cross_entropy", "the model has no final sigmoid"),
        ("[{dense: {units: 1}}, relu]", "binary_cross_entropy", "the model ends with relu"),
        ("[{dense: {units: 1}}, sigmoid]", "{binary_cross_entropy: {from_logits: true}}", "takes raw scores"),
    ],
)
def test_final_activation_must_suit_the_loss(workdir, layers, loss, message):
    source = "iris" if "binary" not in loss else "breast_cancer"
    text = (
        f"version: 1\nname: t\noptimizer: sgd\nloss: {loss}\ndata: {{source: {source}}}\nmodel:\n  layers: {layers}\n"
    )
    found = errors(text)
    assert len(found) == 1 and found[0].startswith("p.yaml:4:1: ") and message in found[0], found


def test_sigmoid_with_probability_loss_passes(workdir):
    text = "version: 1\nname: t\noptimizer: sgd\nloss: binary_cross_entropy\ndata: {source: breast_cancer}\n"
    compile_text(text + "model:\n  layers: [{dense: {units: 1, activation: sigmoid}}]\n")


def test_metric_task_and_training_checks(workdir):
    text = "version: 1\nname: t\noptimizer: sgd\nloss: mse\ndata: {source: diabetes, split: {train: 0.8, test: 0.2}}\n"
    text += "model:\n  layers: [{dense: {units: 1}}]\nmetrics: [r2, f1]\n"
    text += "train: {device: cpu, early_stopping: {monitor: val_loss}}\n"
    assert errors(text) == [
        "p.yaml:8:15: metric 'f1' is for classification, but diabetes is a regression task",
        "p.yaml:9:48: early_stopping monitors 'val_loss' but data.split has no 'val' part",
    ]


def test_cuda_graph_is_not_an_option_until_it_runs_on_a_device(workdir):
    text = "version: 1\nname: t\noptimizer: sgd\nloss: mse\ndata: {source: diabetes}\n"
    text += "model:\n  layers: [{dense: {units: 1}}]\ntrain: {device: gpu, cuda_graph: true}\n"
    (message,) = errors(text)
    assert message.startswith("p.yaml:8:22: unknown key 'cuda_graph'")


# ------------------------------------------------------------------------------------------ building
def test_components_are_built_with_the_spec_values():
    spec, compiled = load_pipeline(ROOT / "pipelines" / "cnn.yaml")
    model = compiled.build_model()
    assert [k for k, _ in model.named_children()][:2] == ["conv2d_1", "relu_1"]
    loss = compiled.build_loss()
    assert type(loss).__name__ == "CrossEntropy"
    (reg,) = compiled.build_regularizers()
    assert type(reg).__name__ == "L2" and reg.lam == pytest.approx(1e-4)
    opt = compiled.build_optimizer(model.parameters())
    assert type(opt).__name__ == "Adam" and opt.lr == pytest.approx(3e-3)  # pipelines/cnn.yaml: lr 3.0e-3
    assert type(compiled.build_schedule()).__name__ == "ConstantSchedule"


def test_schedule_with_nested_after(workdir):
    text = HEAD + "data: {source: iris}\nmodel:\n  layers: [{dense: {units: 3}}]\n"
    text += "schedule:\n  warmup: {warmup_steps: 2, after: {cosine: {t_max: 10}}}\n"
    sched = compile_text(text).build_schedule()
    assert sched.lr_at(0, 1.0) == pytest.approx(0.5) and sched.lr_at(2, 1.0) == pytest.approx(1.0)
    assert sched.lr_at(12, 1.0) == pytest.approx(0.0)


def test_a_small_training_run_reduces_the_loss():
    spec, compiled = load_pipeline(ROOT / "pipelines" / "iris.yaml")
    data = compiled.prepare_data()
    assert set(data.splits) == {"train", "val", "test"}
    assert data.train.x.shape[1:] == compiled.graph.input_shape
    model = compiled.build_model()
    loss_fn, opt = compiled.build_loss(), compiled.build_optimizer(model.parameters())
    x, y = mf.tensor(data.train.x), data.train.y
    first = None
    for _ in range(30):
        loss = loss_fn(model(x), y)
        first = first if first is not None else float(loss.numpy())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.numpy()) < 0.5 * first


# ------------------------------------------------------------------------------------------ rendering
def test_mermaid_and_dot(workdir):
    graph = compile_text(HEAD + GRAPH).graph
    mermaid = to_mermaid(graph)
    assert mermaid.startswith("flowchart TD\n")
    assert 'n_cat["cat: concat (N, 12)"]' in mermaid and "n_cat --> n_sum" in mermaid
    dot = to_dot(graph)
    assert dot.startswith("digraph model {") and "n_input -> n_skip;" in dot and dot.rstrip().endswith("}")
    assert dot.count("->") == len(graph.edges()) == 8


def test_parameter_count_formula_for_dense_chain(workdir):
    text = HEAD + "data: {source: digits}\nmodel:\n  layers:\n"
    sizes = [64, 32, 16, 10]
    text += "".join(f"    - dense: {{units: {u}}}\n" for u in sizes[1:])
    total = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    assert (
        compile_text(text).graph.total_params
        == total
        == sum(math.prod(s) for s in [(64, 32), (32,), (32, 16), (16,), (16, 10), (10,)])
    )


# ------------------------------------------------------------------------------------------ on a GPU
@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cnn.yaml", "residual.yaml"])
def test_compiled_model_on_the_gpu_matches_the_cpu(name):
    """The same parameters give the same outputs and gradients on CuPy as on NumPy."""
    _, compiled = load_pipeline(ROOT / "pipelines" / name)
    x = np.random.default_rng(4).standard_normal((8, *compiled.graph.input_shape)).astype(np.float32)
    labels = np.arange(8) % 10
    cpu = compiled.build_model()
    cpu.eval()
    loss_cpu = compiled.build_loss()(cpu(mf.tensor(x)), labels)
    loss_cpu.backward()
    state = cpu.state_dict()
    with mf.using("gpu", seed=0):
        gpu = compiled.build_model()
        gpu.load_state_dict(state)
        gpu.eval()
        y = gpu(mf.tensor(x))
        assert type(y.data).__module__.startswith("cupy") and y.dtype == np.float32
        assert y.shape == (8, *compiled.graph.output_shape)
        loss_gpu = compiled.build_loss()(y, labels)
        loss_gpu.backward()
        grads = {k: p.grad.numpy() for k, p in gpu.named_parameters()}
    assert loss_gpu.item() == pytest.approx(loss_cpu.item(), rel=1e-4)
    for k, p in cpu.named_parameters():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-3, atol=1e-5)
