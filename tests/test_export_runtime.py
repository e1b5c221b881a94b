"""The export program: builder, NumPy runtime, ONNX conversion, and the MLflow model artifacts."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from mathflow.errors import MathflowError
from mathflow.export import Program, ProgramBuilder, runtime
from mathflow.export.onnx import CONVERTERS, run_onnx, save_onnx, to_onnx
from mathflow.export.runtime import OPS, ProgramError

RTOL, ATOL = 1e-5, 1e-6


# --------------------------------------------------------------------------------------------------
# one or more programs per op
# --------------------------------------------------------------------------------------------------
Build = Callable[[ProgramBuilder, np.random.Generator], str]


@dataclass
class Case:
    """A program exercising ``op``: ``build`` adds its nodes to a builder over samples of ``shape``."""

    op: str
    shape: tuple[int, ...]
    build: Build
    low: float = -3.0
    high: float = 3.0
    attrs: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        details = ",".join(f"{k}={v}" for k, v in self.attrs.items())
        return f"{self.op}[{details}]" if details else self.op

    def program(self, rng: np.random.Generator, dtype: str = "float32") -> Program:
        builder = ProgramBuilder(self.shape, dtype=dtype)
        return builder.finish(self.build(builder, rng))

    def sample(self, rng: np.random.Generator, batch: int = 4, dtype: str = "float32") -> np.ndarray:
        return rng.uniform(self.low, self.high, size=(batch, *self.shape)).astype(dtype)


def unary(op: str, dims: tuple[int, ...] = (16, 32), low: float = -3.0, high: float = 3.0, **attrs) -> Case:
    """op(input) with ``attrs``, on samples of shape ``dims``."""
    return Case(op, dims, lambda b, rng: b.op(op, b.input, **attrs), low, high, attrs)


def binary(op: str, other_shape: tuple[int, ...], low: float = 0.5, high: float = 2.0, swap: bool = False) -> Case:
    """op(input, c) (or op(c, input)) with a constant c of ``other_shape`` in [low, high], broadcast."""

    def build(b: ProgramBuilder, rng: np.random.Generator) -> str:
        c = b.constant("c", rng.uniform(low, high, size=other_shape))
        return b.op(op, c, b.input) if swap else b.op(op, b.input, c)

    return Case(op, (8, 16), build, attrs={"other": other_shape, "swap": swap})


def matmul_case() -> Case:
    def build(b: ProgramBuilder, rng: np.random.Generator) -> str:
        w = b.constant("weight", rng.normal(0.0, 1.0 / math.sqrt(64), size=(64, 32)))
        return b.op("MatMul", b.input, w)

    return Case("MatMul", (64,), build)


def pow_case() -> Case:
    def build(b: ProgramBuilder, rng: np.random.Generator) -> str:
        return b.op("Pow", b.input, b.constant("exponent", rng.uniform(-2.0, 2.5, size=(12,))))

    return Case("Pow", (5, 12), build, low=0.1, high=3.0)


def concat_case() -> Case:
    def build(b: ProgramBuilder, rng: np.random.Generator) -> str:
        return b.op("Concat", b.input, b.op("Abs", b.input), b.input, axis=1)

    return Case("Concat", (3, 5), build)


def conv_case(bias: bool, **attrs) -> Case:
    def build(b: ProgramBuilder, rng: np.random.Generator) -> str:
        w = b.constant("weight", rng.normal(0.0, 1.0 / math.sqrt(27), size=(8, 3, 3, 3)))
        inputs = [b.input, w] + ([b.constant("bias", rng.normal(size=8))] if bias else [])
        return b.op("Conv", *inputs, **attrs)

    return Case("Conv", (3, 12, 11), build, attrs={"bias": bias, **attrs})


CASES = [
    unary("Identity"),
    unary("Relu"),
    unary("Sigmoid", low=-12.0, high=12.0),
    unary("Tanh"),
    unary("Exp"),
    unary("Log", low=0.01, high=10.0),
    unary("Abs"),
    unary("Neg"),
    unary("Sqrt", low=0.0, high=10.0),
    unary("Softplus", low=-10.0, high=10.0),
    unary("Erf"),
    unary("LeakyRelu"),
    unary("LeakyRelu", alpha=0.2),
    unary("Elu"),
    unary("Elu", alpha=0.5),
    unary("Softmax", dims=(10,)),
    unary("Softmax", dims=(3, 7), axis=1),
    unary("LogSoftmax", dims=(10,)),
    unary("LogSoftmax", dims=(3, 7), axis=-2),
    unary("Clip", min=-0.5, max=0.75),
    unary("Clip", max=0.25),
    unary("Clip", min=-1.0),
    binary("Add", (16,)),
    binary("Sub", (8, 1), swap=True),
    binary("Mul", (1, 16)),
    binary("Div", (16,)),
    binary("Div", (8, 16), swap=True),
    matmul_case(),
    binary("Max", (16,), low=-1.0, high=1.0),
    binary("Min", (8, 1), low=-1.0, high=1.0),
    pow_case(),
    unary("Reshape", dims=(4, 6), shape=[0, -1, 3]),
    unary("Reshape", dims=(2, 3, 4), shape=[-1, 12]),
    unary("Flatten", dims=(3, 4, 5)),
    unary("Flatten", dims=(3, 4, 5), axis=2),
    concat_case(),
    unary("Transpose", dims=(3, 4, 5), perm=[0, 2, 3, 1]),
    unary("Transpose", dims=(3, 4)),
    unary("ReduceMean", dims=(3, 6, 5), axes=[2, 3]),
    unary("ReduceMean", dims=(3, 6, 5), axes=[1], keepdims=0),
    unary("ReduceMean", dims=(3, 6)),
    unary("ReduceSum", dims=(3, 6, 5), axes=[-1], keepdims=0),
    unary("ReduceSum", dims=(3, 6, 5), axes=[1, 2]),
    unary("ReduceSum", dims=(3, 6)),
    conv_case(bias=True, strides=[2, 2], pads=[1, 0, 2, 1]),
    conv_case(bias=False),
    conv_case(bias=True, strides=[1, 2], pads=[1, 1, 1, 1]),
    unary("MaxPool", dims=(4, 13, 12), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    unary("MaxPool", dims=(4, 12, 12), kernel_shape=[2, 2], strides=[2, 2]),
    unary("MaxPool", dims=(4, 9, 9), kernel_shape=[3, 2], pads=[0, 1, 2, 0]),
    unary("AveragePool", dims=(4, 12, 11), kernel_shape=[2, 3], strides=[2, 1]),
    unary("AveragePool", dims=(4, 12, 12), kernel_shape=[3, 3], strides=[3, 3]),
    unary("GlobalAveragePool", dims=(5, 7, 6)),
]
CASE_IDS = [case.id for case in CASES]


def test_every_op_has_a_case() -> None:
    assert sorted({case.op for case in CASES}) == sorted(OPS)


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_has_an_onnx_conversion(op: str) -> None:
    assert op in CONVERTERS, f"runtime op {op} has no entry in mathflow.export.onnx.CONVERTERS"


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_is_an_onnx_op_of_opset_17(op: str) -> None:
    defs = pytest.importorskip("onnx.defs")
    assert defs.get_schema(op, 17, "").domain == ""


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_runtime_keeps_float32(case: Case, rng: np.random.Generator) -> None:
    y = case.program(rng).run(case.sample(rng))
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_runtime_matches_onnxruntime(case: Case, rng: np.random.Generator) -> None:
    pytest.importorskip("onnxruntime")
    program = case.program(rng)
    x = case.sample(rng)
    expected = run_onnx(to_onnx(program), x)
    got = program.run(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_onnx_model_has_a_dynamic_batch(rng: np.random.Generator) -> None:
    pytest.importorskip("onnxruntime")
    case = conv_case(bias=True, strides=[2, 2], pads=[1, 1, 1, 1])
    program = case.program(rng)
    model = to_onnx(program)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3, 12, 11]
    assert model.opset_import[0].version == 17
    for batch in (1, 5):
        x = case.sample(rng, batch=batch)
        np.testing.assert_allclose(program.run(x), run_onnx(model, x), rtol=RTOL, atol=ATOL)


def test_save_onnx_and_run_from_the_file(tmp_path: Path, rng: np.random.Generator) -> None:
    pytest.importorskip("onnxruntime")
    program = matmul_case().program(rng)
    path = save_onnx(program, tmp_path / "model.onnx")
    x = rng.normal(size=(3, 64)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(path, x), program.run(x), rtol=RTOL, atol=ATOL)


def test_onnx_output_may_be_the_input_or_a_constant(rng: np.random.Generator) -> None:
    pytest.importorskip("onnxruntime")
    builder = ProgramBuilder([4])
    program = builder.finish(builder.input)
    x = rng.normal(size=(2, 4)).astype(np.float32)
    np.testing.assert_array_equal(run_onnx(to_onnx(program), x), x)


def test_to_onnx_without_onnx_says_how_to_install(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes "import onnx" raise ImportError
    with pytest.raises(MathflowError, match=r"ONNX export needs the onnx package.*mathflow\[onnx\]"):
        to_onnx(unary("Relu").program(rng))


# --------------------------------------------------------------------------------------------------
# float64 direct-loop references for convolution and pooling
# --------------------------------------------------------------------------------------------------
def _padded(x: np.ndarray, pads: list[int], fill: float) -> np.ndarray:
    top, left, bottom, right = pads
    n, c, h, w = x.shape
    out = np.full((n, c, h + top + bottom, w + left + right), fill)
    out[:, :, top : top + h, left : left + w] = x
    return out


def conv_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides: list[int], pads: list[int]):
    """y[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v], by loops."""
    xp = _padded(x, pads, 0.0)
    (n, c, h, wd), (f, _, kh, kw), (sh, sw) = xp.shape, w.shape, strides
    out = np.zeros((n, f, (h - kh) // sh + 1, (wd - kw) // sw + 1))
    for idx in np.ndindex(*out.shape):
        batch, filt, i, j = idx
        total = 0.0 if b is None else b[filt]
        for ch, u, v in np.ndindex(c, kh, kw):
            total += w[filt, ch, u, v] * xp[batch, ch, i * sh + u, j * sw + v]
        out[idx] = total
    return out


def pool_reference(x: np.ndarray, kernel: list[int], strides: list[int], pads: list[int], reduce: Callable):
    """y[n, c, i, j] = reduce over the window at (i·s_h, j·s_w) of x padded with −∞, by loops."""
    xp = _padded(x, pads, -np.inf)
    (n, c, h, w), (kh, kw), (sh, sw) = xp.shape, kernel, strides
    out = np.zeros((n, c, (h - kh) // sh + 1, (w - kw) // sw + 1))
    for idx in np.ndindex(*out.shape):
        batch, ch, i, j = idx
        out[idx] = reduce(xp[batch, ch, i * sh : i * sh + kh, j * sw : j * sw + kw])
    return out


CONV_POOL_CASES = [case for case in CASES if case.op in ("Conv", "MaxPool", "AveragePool")]


def _reference(case: Case, program: Program, x: np.ndarray) -> np.ndarray:
    node = program.nodes[-1]
    attrs = node["attrs"]
    strides, pads = attrs.get("strides", [1, 1]), attrs.get("pads", [0, 0, 0, 0])
    if case.op == "Conv":
        weights = [program.constants[name] for name in node["inputs"][1:]]
        return conv_reference(x, weights[0], weights[1] if len(weights) > 1 else None, strides, pads)
    reduce = np.max if case.op == "MaxPool" else np.mean
    return pool_reference(x, attrs["kernel_shape"], strides, pads, reduce)


@pytest.mark.parametrize("case", CONV_POOL_CASES, ids=[case.id for case in CONV_POOL_CASES])
def test_conv_and_pooling_match_direct_loops_in_float64(case: Case, rng: np.random.Generator) -> None:
    program = case.program(rng, dtype="float64")
    x = case.sample(rng, batch=2, dtype="float64")
    got = program.run(x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _reference(case, program, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_POOL_CASES, ids=[case.id for case in CONV_POOL_CASES])
def test_conv_and_pooling_in_float32_stay_close_to_float64_loops(case: Case, rng: np.random.Generator) -> None:
    program64 = case.program(np.random.default_rng(7), dtype="float64")
    program32 = case.program(np.random.default_rng(7))
    x = case.sample(rng, batch=2, dtype="float64")
    got = program32.run(x.astype(np.float32))
    np.testing.assert_allclose(got, _reference(case, program64, x), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# numerics of single ops
# --------------------------------------------------------------------------------------------------
def test_erf_matches_math_erf_in_float64() -> None:
    x = np.concatenate([np.linspace(-7.0, 7.0, 20001), [0.0, 1e-300, -1e-8, 2.5, -2.5, 30.0, -np.inf, np.inf]])
    got = OPS["Erf"]([x], {})
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-15)


def test_sigmoid_and_softplus_do_not_overflow() -> None:
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        sig = OPS["Sigmoid"]([x], {})
        soft = OPS["Softplus"]([x], {})
    np.testing.assert_allclose(sig, [0.0, 1.9287498e-22, 0.5, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(soft, [0.0, 1.9287498e-22, math.log(2.0), 50.0, 1000.0], rtol=1e-6)
    assert sig.dtype == soft.dtype == np.float32


def test_softmax_of_large_logits_is_finite() -> None:
    x = np.array([[1000.0, 1001.0, 999.0]], dtype=np.float32)
    y = OPS["Softmax"]([x], {"axis": -1})
    np.testing.assert_allclose(y.sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(OPS["LogSoftmax"]([x], {}), np.log(y), rtol=1e-5)


# --------------------------------------------------------------------------------------------------
# builder
# --------------------------------------------------------------------------------------------------
def test_builder_names_follow_scopes(rng: np.random.Generator) -> None:
    b = ProgramBuilder([4])
    assert b.input == "input"
    with b.scope("dense_1"):
        w = b.constant("weight", rng.normal(size=(4, 3)))
        w2 = b.constant("weight", rng.normal(size=(4, 3)))
        h = b.op("MatMul", b.input, w)
        with b.scope("act"):
            a = b.op("Relu", h)
            c = b.constant("slope", 0.5)
        h2 = b.op("MatMul", b.input, w2)
    top = b.op("Add", a, h2)
    assert (w, w2, h, a, c, h2, top) == (
        "dense_1.weight",
        "dense_1.weight_2",
        "dense_1/matmul_1",
        "dense_1.act/relu_1",
        "dense_1.act.slope",
        "dense_1/matmul_2",
        "add_1",
    )
    program = b.finish(top)
    assert [n["output"] for n in program.nodes] == [h, a, h2, top]
    assert program.constants[w].dtype == np.float32
    assert program.constants[c].shape == ()


def test_builder_keeps_integer_constants() -> None:
    b = ProgramBuilder([2])
    name = b.constant("index", np.array([1, 0]))
    assert b.finish(b.input).constants[name].dtype.kind == "i"


def test_builder_rejects_an_unknown_op() -> None:
    b = ProgramBuilder([3])
    with pytest.raises(MathflowError, match=r"unknown op 'Gelu'.*use one of .*Relu"):
        b.op("Gelu", b.input)


def test_builder_rejects_an_unknown_input_name() -> None:
    b = ProgramBuilder([3])
    with pytest.raises(MathflowError, match=r"Add: unknown input 'dense_1/matmul_1'"):
        b.op("Add", b.input, "dense_1/matmul_1")


def test_builder_rejects_unknown_attrs_missing_attrs_and_wrong_arity() -> None:
    b = ProgramBuilder([3, 4, 4])
    with pytest.raises(MathflowError, match=r"LeakyRelu: unknown attribute\(s\) \['slope'\].*accepted: alpha"):
        b.op("LeakyRelu", b.input, slope=0.1)
    with pytest.raises(MathflowError, match=r"MaxPool: missing attribute\(s\) \['kernel_shape'\]"):
        b.op("MaxPool", b.input, strides=[2, 2])
    with pytest.raises(MathflowError, match=r"Add: takes 2 input\(s\), got 1"):
        b.op("Add", b.input)


def test_builder_rejects_an_output_that_is_never_computed() -> None:
    b = ProgramBuilder([3])
    with pytest.raises(MathflowError, match="never computed"):
        b.finish("relu_7")


# --------------------------------------------------------------------------------------------------
# checking at load
# --------------------------------------------------------------------------------------------------
def _data(*nodes: dict, output: str | None = None) -> dict:
    last = nodes[-1]["output"] if nodes else "input"
    return {"format": "mathflow-program/1", "input": "input", "input_shape": [3], "nodes": list(nodes),
            "output": output or last, "dtype": "float32"}  # fmt: skip


def test_load_rejects_an_unknown_attr_naming_node_and_op() -> None:
    data = _data(
        {"op": "Relu", "inputs": ["input"], "output": "a", "attrs": {}},
        {"op": "Softmax", "inputs": ["a"], "output": "b", "attrs": {"dim": 1}},
    )
    with pytest.raises(ProgramError, match=r"node 1 \(Softmax\): unknown attribute\(s\) \['dim'\] \(accepted: axis\)"):
        runtime.check_program(data, {})
    with pytest.raises(ProgramError, match=r"node 1 \(Softmax\)"):
        runtime.run_program(data, {}, np.zeros((1, 3), np.float32))


def test_load_rejects_an_unknown_op_and_unresolved_names() -> None:
    with pytest.raises(ProgramError, match=r"node 0: unknown op 'Gelu'"):
        runtime.check_program(_data({"op": "Gelu", "inputs": ["input"], "output": "a"}), {})
    with pytest.raises(ProgramError, match=r"node 0 \(Add\): input 'bias' is not the program input, a constant"):
        runtime.check_program(_data({"op": "Add", "inputs": ["input", "bias"], "output": "a"}), {})
    with pytest.raises(ProgramError, match=r"node 1 \(Neg\): output 'a' is already defined"):
        nodes = [{"op": "Neg", "inputs": ["input"], "output": "a"}] * 2
        runtime.check_program(_data(*nodes), {})
    with pytest.raises(ProgramError, match="program output 'z' is never computed"):
        runtime.check_program(_data({"op": "Neg", "inputs": ["input"], "output": "a"}, output="z"), {})
    with pytest.raises(ProgramError, match=r"constants \['w'\] are not in the weights"):
        runtime.check_program({**_data(), "constants": ["w"]}, {})


def test_a_failing_node_is_named_with_its_input_shapes() -> None:
    data = _data({"op": "MatMul", "inputs": ["input", "w"], "output": "y"})
    with pytest.raises(ProgramError, match=r"node 0 \(MatMul\) -> 'y' on input shapes \(2, 3\), \(4, 2\)"):
        runtime.run_program(data, {"w": np.ones((4, 2), np.float32)}, np.ones((2, 3), np.float32))


def test_run_rejects_an_input_of_the_wrong_shape() -> None:
    with pytest.raises(ProgramError, match=r"input has shape \(2, 4\), the program expects \(batch, 3\)"):
        runtime.run_program(_data(), {}, np.ones((2, 4), np.float32))


# --------------------------------------------------------------------------------------------------
# round trips and the model artifacts
# --------------------------------------------------------------------------------------------------
def _classifier(rng: np.random.Generator, classes: int) -> Program:
    b = ProgramBuilder([2, 3])
    with b.scope("dense_1"):
        h = b.op("Flatten", b.input)
        h = b.op("MatMul", h, b.constant("weight", rng.normal(size=(6, 5))))
        h = b.op("Add", h, b.constant("bias", rng.normal(size=5)))
        h = b.op("Relu", h)
    with b.scope("dense_2"):
        h = b.op("MatMul", h, b.constant("weight", rng.normal(size=(5, classes))))
    return b.finish(h)


def test_program_round_trips_through_json(rng: np.random.Generator) -> None:
    program = _classifier(rng, 3)
    data = json.loads(json.dumps(program.to_data()))
    assert data["format"] == "mathflow-program/1"
    assert data["constants"] == ["dense_1.bias", "dense_1.weight", "dense_2.weight"]
    assert "weight" not in json.dumps(data["nodes"][0])
    again = Program.from_data(data, program.constants)
    assert again.to_data() == program.to_data()
    x = rng.normal(size=(4, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(again.run(x), program.run(x))


def test_from_data_rejects_a_bad_program_with_a_mathflow_error(rng: np.random.Generator) -> None:
    data = _classifier(rng, 3).to_data()
    with pytest.raises(MathflowError, match=r"invalid program: the constants \['dense_2.weight'\] are not in"):
        Program.from_data(data, {"dense_1.weight": np.ones((6, 5)), "dense_1.bias": np.ones(5)})


def test_artifacts_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    program = _classifier(rng, 3)
    description = {"program": program.to_data(), "output": "softmax"}
    paths = runtime.write_artifacts(tmp_path, program.constants, description)
    assert sorted(Path(p).name for p in paths.values()) == ["model.json", "weights.npz"]
    stored = json.loads(Path(paths["model"]).read_text())
    assert stored["format"] == "mathflow-numpy/2" and stored["dtype"] == "float32"
    loaded, constants = runtime.load_artifacts(paths)
    assert loaded["program"] == program.to_data()
    for name, array in program.constants.items():
        np.testing.assert_array_equal(constants[name], array)
        assert constants[name].dtype == np.float32
    x = rng.normal(size=(5, 6)).astype(np.float32)  # flat rows are fitted to the (2, 3) samples
    probabilities = runtime.predict_array(loaded, constants, x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    logits = program.run(x.reshape(5, 2, 3))
    np.testing.assert_allclose(probabilities, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), rtol=1e-5)


def test_load_artifacts_rejects_the_old_format(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"format": "mathflow-numpy/1", "layers": []}))
    runtime.save_weights(tmp_path / "weights.npz", {})
    with pytest.raises(ProgramError, match="unsupported model format 'mathflow-numpy/1'"):
        runtime.load_artifacts({"model": str(tmp_path / "model.json"), "weights": str(tmp_path / "weights.npz")})


def test_predict_array_argmax_and_classes(rng: np.random.Generator) -> None:
    program = _classifier(rng, 3)
    x = rng.normal(size=(6, 2, 3)).astype(np.float32)
    logits = program.run(x)
    data = program.to_data()
    labels = runtime.predict_array({"program": data, "output": "argmax"}, program.constants, x)
    np.testing.assert_array_equal(labels, logits.argmax(axis=1))
    assert labels.dtype == np.int64
    spec = {"program": data, "output": "argmax", "classes": ["a", "b", "c"]}
    named = runtime.predict_array(spec, program.constants, x)
    np.testing.assert_array_equal(named, np.array(["a", "b", "c"])[logits.argmax(axis=1)])


def test_predict_array_threshold_for_one_column(rng: np.random.Generator) -> None:
    program = _classifier(rng, 1)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    logits = program.run(x.reshape(40, 2, 3))[:, 0]
    data = program.to_data()
    default = runtime.predict_array({"program": data, "output": "argmax"}, program.constants, x)
    np.testing.assert_array_equal(default, (logits > 0.0).astype(np.int64))
    threshold = float(np.median(logits))
    spec = {"program": data, "output": "argmax", "threshold": threshold, "classes": ["no", "yes"]}
    np.testing.assert_array_equal(
        runtime.predict_array(spec, program.constants, x), np.where(logits > threshold, "yes", "no")
    )


def test_predict_array_accepts_lists_dicts_and_one_sample(rng: np.random.Generator) -> None:
    program = _classifier(rng, 3)
    data = {"program": program.to_data(), "output": "identity"}
    x = rng.normal(size=(2, 3)).astype(np.float32)
    expected = program.run(x[None])
    np.testing.assert_allclose(runtime.predict_array(data, program.constants, x.tolist()), expected, rtol=1e-6)
    np.testing.assert_allclose(runtime.predict_array(data, program.constants, {"x": x[None]}), expected, rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# the module as MLflow sees it
# --------------------------------------------------------------------------------------------------
def test_importing_the_runtime_does_not_import_mlflow_or_mathflow_internals() -> None:
    code = (
        "import sys, mathflow.export.runtime as r\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
        "assert not hasattr(r, 'MathflowNumpyModel')\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_runtime_source_imports_only_numpy_and_the_standard_library() -> None:
    source = Path(runtime.__file__).read_text()
    module_level = source.split('if __name__ != "mathflow.export.runtime":')[0]
    imports = [line for line in module_level.splitlines() if line.startswith(("import ", "from "))]
    roots = {line.split()[1].split(".")[0] for line in imports}
    assert roots <= {"__future__", "json", "math", "os", "collections", "typing", "numpy"}, roots


@pytest.mark.slow
def test_the_runtime_file_serves_as_an_mlflow_model_from_code(tmp_path: Path, rng: np.random.Generator) -> None:
    mlflow = pytest.importorskip("mlflow")
    program = _classifier(rng, 3)
    description = {"program": program.to_data(), "output": "argmax", "classes": ["a", "b", "c"]}
    (tmp_path / "files").mkdir()
    artifacts = runtime.write_artifacts(tmp_path / "files", program.constants, description)
    x = rng.normal(size=(4, 2, 3)).astype(np.float32)
    mlflow.pyfunc.save_model(str(tmp_path / "model"), python_model=runtime.__file__, artifacts=artifacts)
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    expected = np.array(["a", "b", "c"])[program.run(x).argmax(axis=1)]
    np.testing.assert_array_equal(np.asarray(loaded.predict(x)), expected)
