"""A :class:`~mathflow.export.program.Program` as an ONNX model (opset 17), and a way to run one.

Each program node becomes the ONNX node of the same name, attributes unchanged, except where opset 17
takes an attribute as an input: ``Clip`` min/max become scalar initializers, ``Reshape`` shape and
``ReduceSum`` axes int64 initializers. The ``onnx`` and ``onnxruntime`` packages are optional and are
imported only when used.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mathflow.errors import MathflowError
from mathflow.export.program import Program
from mathflow.export.runtime import INPUT_NAME

OPSET = 17
IR_VERSION = 8  # the IR version that introduced opset 17: readable by every onnxruntime that runs opset 17

_INT_ATTRS = frozenset({"axis", "keepdims"})
_INTS_ATTRS = frozenset({"axes", "perm", "strides", "pads", "kernel_shape"})
_FLOAT_ATTRS = frozenset({"alpha"})


def _require(module: str, *submodules: str) -> Any:
    """Import the optional ``module`` (onnx or onnxruntime) and its ``submodules``, or explain how to install it."""
    try:
        for sub in submodules:
            importlib.import_module(f"{module}.{sub}")
        return importlib.import_module(module)
    except ImportError as exc:
        what = "ONNX export needs the onnx package" if module == "onnx" else f"running ONNX needs {module}"
        raise MathflowError(what, suggestion="pip install 'mathflow[onnx]'") from exc


def _typed_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values as the Python types ONNX expects (alpha a float, axis an int, lists of ints)."""
    typed: dict[str, Any] = {}
    for key, value in attrs.items():
        if key in _FLOAT_ATTRS:
            typed[key] = float(value)
        elif key in _INT_ATTRS:
            typed[key] = int(value)
        elif key in _INTS_ATTRS:
            typed[key] = [int(v) for v in value]
        else:
            typed[key] = value
    return typed


class _Graph:
    """The nodes and initializers of the ONNX graph being built."""

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx = onnx
        self.dtype = dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def initializer(self, name: str, array: np.ndarray) -> str:
        """Add ``array`` as the initializer ``name``; returns the name."""
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, attrs: Mapping[str, Any]) -> None:
        """Add the ONNX node ``op`` (named after its output)."""
        made = self.onnx.helper.make_node(op, inputs, [output], name=output, **_typed_attrs(attrs))
        self.nodes.append(made)


def _same(graph: _Graph, node: Mapping[str, Any]) -> None:
    """The node as the ONNX op of the same name with the same attributes."""
    graph.node(node["op"], list(node["inputs"]), node["output"], node.get("attrs") or {})


def _clip(graph: _Graph, node: Mapping[str, Any]) -> None:
    """Clip(x, min, max) with the bounds as scalar initializers ("" for an absent one)."""
    attrs = node.get("attrs") or {}
    bounds = []
    for key in ("min", "max"):
        value = attrs.get(key)
        name = "" if value is None else graph.initializer(f"{node['output']}/{key}", np.array(value, graph.dtype))
        bounds.append(name)
    while bounds and not bounds[-1]:
        bounds.pop()
    graph.node("Clip", [*node["inputs"], *bounds], node["output"], {})


def _reshape(graph: _Graph, node: Mapping[str, Any]) -> None:
    """Reshape(x, shape) with the target shape as an int64 initializer."""
    shape = np.array([int(d) for d in node["attrs"]["shape"]], dtype=np.int64)
    graph.node("Reshape", [*node["inputs"], graph.initializer(f"{node['output']}/shape", shape)], node["output"], {})


def _reduce_sum(graph: _Graph, node: Mapping[str, Any]) -> None:
    """ReduceSum(x, axes) with the axes as an int64 initializer (absent: reduce every axis)."""
    attrs = dict(node.get("attrs") or {})
    axes = attrs.pop("axes", None)
    inputs = list(node["inputs"])
    if axes is not None:
        inputs.append(graph.initializer(f"{node['output']}/axes", np.array([int(a) for a in axes], dtype=np.int64)))
    graph.node("ReduceSum", inputs, node["output"], attrs)


_ONE_TO_ONE = (
    "Identity Relu Sigmoid Tanh Exp Log Abs Neg Sqrt Softplus Erf LeakyRelu Elu Softmax LogSoftmax "
    "Add Sub Mul Div MatMul Max Min Pow Flatten Concat Transpose ReduceMean "
    "Conv MaxPool AveragePool GlobalAveragePool"
).split()

CONVERTERS: dict[str, Callable[[_Graph, Mapping[str, Any]], None]] = {
    **{op: _same for op in _ONE_TO_ONE},
    "Clip": _clip,
    "Reshape": _reshape,
    "ReduceSum": _reduce_sum,
}
"""Program op → the function adding its ONNX node(s); every op of the runtime needs an entry."""


def _convert_nodes(graph: _Graph, program: Program) -> str:
    """Add every program node to ``graph``; returns the graph output name."""
    for index, node in enumerate(program.nodes):
        convert = CONVERTERS.get(node["op"])
        if convert is None:
            raise MathflowError(f"node {index}: the op {node['op']!r} has no ONNX conversion")
        convert(graph, node)
    if any(node["output"] == program.output for node in program.nodes):
        return program.output
    output = f"{program.output}/output"  # the input or a constant: ONNX wants a node to produce it
    graph.node("Identity", [program.output], output, {})
    return output


def to_onnx(program: Program, *, name: str = "mathflow") -> Any:
    """``program`` as a checked ``onnx.ModelProto`` (opset 17) with input "input" of shape ["N", *input_shape]."""
    onnx = _require("onnx", "checker", "helper", "numpy_helper", "shape_inference")

    dtype = np.dtype(program.dtype)
    graph = _Graph(onnx, dtype)
    for key, array in sorted(program.constants.items()):
        graph.initializer(key, array)
    output = _convert_nodes(graph, program)
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    inputs = [onnx.helper.make_tensor_value_info(INPUT_NAME, elem, ["N", *program.input_shape])]
    outputs = [onnx.helper.make_tensor_value_info(output, elem, None)]
    made = onnx.helper.make_graph(graph.nodes, name, inputs, outputs, initializer=graph.initializers)
    model = onnx.helper.make_model(
        made, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="mathflow", ir_version=IR_VERSION
    )
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)  # fills the output shape
    onnx.checker.check_model(model, full_check=True)
    return model


def save_onnx(program: Program, path: str | os.PathLike[str]) -> str:
    """Write ``to_onnx(program)`` to ``path``; returns the path."""
    model = to_onnx(program)
    with open(path, "wb") as handle:
        handle.write(model.SerializeToString())
    return os.fspath(path)


def run_onnx(model_or_path: Any, x: np.ndarray) -> np.ndarray:
    """The ONNX model (a ModelProto or a file path) applied to the batch ``x`` by onnxruntime on the CPU."""
    ort = _require("onnxruntime")
    if isinstance(model_or_path, (str, os.PathLike)):
        source: Any = os.fspath(model_or_path)
    else:
        source = model_or_path.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    dtype = np.float64 if session.get_inputs()[0].type == "tensor(double)" else np.float32
    return session.run(None, {session.get_inputs()[0].name: np.asarray(x, dtype=dtype)})[0]
