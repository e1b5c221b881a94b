"""A mathflow model's inference program, run on NumPy alone.

This file is logged to MLflow as a "model from code": MLflow copies it next to two artifacts and runs
it when the model is loaded. At module level it imports only NumPy and the standard library (never
mathflow); the MLflow model class at the bottom is defined only when the file runs as a model file.

Artifacts:

* ``weights.npz``: constant name → array (no pickled objects);
* ``model.json``: ``{"format": "mathflow-numpy/2", "program": {...}, "output": mode, "threshold"?,
  "classes"?, "expects"?, "dtype"}``, where ``program`` is a ``mathflow-program/1`` description:
  ``{"format", "input": "input", "input_shape": [...], "nodes": [...], "output": name, "dtype", "constants": [...]}``.

Every node is ``{"op": str, "inputs": [names], "output": name, "attrs": {...}}``; a name is the program
input, a constant or the output of an earlier node. The ops follow ONNX opset 17 (NCHW layout, batch
axis 0, NumPy broadcasting for binary ops, attributes named as in ONNX); :data:`OPS` lists them.

``"output"`` post-processes the program's result: ``identity`` (default), ``softmax``, ``sigmoid``,
``argmax`` (class indices, or the matching entries of ``"classes"`` when that list is given; with one
output column, the class is 1 above ``"threshold"``, default 0) or ``proba`` (class probabilities:
the result as it is when ``"expects"`` is ``probabilities``, else its softmax, or its sigmoid for one
column; one column p gives the two columns [1 − p, p]).

A model trained on a CSV file also records the file's raw feature columns, ``"columns"``: a list of
``{"name", "kind": "number" | "onehot" | "ordinal", "categories"?}`` in training order, and its
``"target"`` column. Such a model takes rows in the file's own form (a DataFrame, a mapping of
columns, a list of records, or rows of the raw columns in order; the target column may be present
and is ignored) and encodes them as the training data was (one 0/1 column per category, or the
category's index), before the program; numeric arrays as wide as the program input are taken as
already encoded.

``predict`` takes the MLflow params :data:`PARAMS`: ``proba`` (class probabilities, a DataFrame
whose columns are the classes) and ``allow_nonfinite`` (NaN/±inf inputs reach the model instead
of being refused with their row and column).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

PROGRAM_FORMAT = "mathflow-program/1"
MODEL_FORMAT = "mathflow-numpy/2"
WEIGHTS_FILE = "weights.npz"
MODEL_FILE = "model.json"
INPUT_NAME = "input"

PARAMS: dict[str, bool] = {"proba": False, "allow_nonfinite": False}
"""The params the model's ``predict`` takes (MLflow params), with their defaults."""

OpFn = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]

OPS: dict[str, OpFn] = {}
"""Op name → ``fn(inputs, attrs) -> array``."""
OP_ATTRS: dict[str, frozenset[str]] = {}
"""Op name → the attributes it accepts."""
OP_REQUIRED_ATTRS: dict[str, frozenset[str]] = {}
"""Op name → the attributes it cannot do without."""
OP_ARITY: dict[str, tuple[int, int | None]] = {}
"""Op name → (fewest, most) inputs; None = any number."""


class ProgramError(ValueError):
    """The program, its constants or its input do not fit together (raised at load or run time)."""


def _op(
    name: str, inputs: int | tuple[int, int | None] = 1, attrs: Iterable[str] = (), required: Iterable[str] = ()
) -> Callable[[OpFn], OpFn]:
    """Register ``fn`` as the op ``name`` taking ``inputs`` arguments and the attributes ``attrs``."""

    def register(fn: OpFn) -> OpFn:
        OPS[name] = fn
        OP_ATTRS[name] = frozenset(attrs) | frozenset(required)
        OP_REQUIRED_ATTRS[name] = frozenset(required)
        OP_ARITY[name] = (inputs, inputs) if isinstance(inputs, int) else inputs
        return fn

    return register


def _scalar(x: np.ndarray, value: Any) -> Any:
    """``value`` as a scalar of x's dtype (so that it never promotes x)."""
    return x.dtype.type(value)


def _axis(axis: Any, ndim: int) -> int:
    """A possibly negative axis as an index in [0, ndim)."""
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for {ndim} dimensions")
    return axis % ndim


def _axes(attrs: Mapping[str, Any], ndim: int) -> tuple[int, ...]:
    """attrs["axes"] normalised; all axes when absent."""
    axes = attrs.get("axes")
    if axes is None:
        return tuple(range(ndim))
    return tuple(sorted({_axis(a, ndim) for a in axes}))


def _pair(value: Any, default: int, what: str) -> tuple[int, int]:
    """A two-entry ints list (``strides``, ``kernel_shape``) as a tuple; ``default`` for both when absent."""
    if value is None:
        return default, default
    values = [int(v) for v in value]
    if len(values) != 2 or min(values) < 1:
        raise ValueError(f"{what} must be two positive ints, got {list(value)}")
    return values[0], values[1]


def _pads(value: Any) -> tuple[int, int, int, int]:
    """ONNX 2-D ``pads`` = [top, left, bottom, right], zeros when absent."""
    if value is None:
        return 0, 0, 0, 0
    values = [int(v) for v in value]
    if len(values) != 4 or min(values) < 0:
        raise ValueError(f"pads must be four non-negative ints [top, left, bottom, right], got {list(value)}")
    return values[0], values[1], values[2], values[3]


# --------------------------------------------------------------------------------------------------
# unary ops
# --------------------------------------------------------------------------------------------------
@_op("Identity")
def identity(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = x."""
    return inputs[0]


@_op("Relu")
def relu(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = max(x, 0)."""
    x = inputs[0]
    return np.maximum(x, _scalar(x, 0))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1/(1 + e^(−x)) without overflow: with e = e^(−|x|), σ = 1/(1+e) for x ≥ 0, e/(1+e) otherwise."""
    e = np.exp(-np.abs(x))
    one = _scalar(x, 1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


@_op("Sigmoid")
def sigmoid(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = 1/(1 + e^(−x)), evaluated as e^(−|x|)-based halves so that it never overflows."""
    return _sigmoid(inputs[0])


@_op("Tanh")
def tanh(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = (e^x − e^(−x)) / (e^x + e^(−x))."""
    return np.tanh(inputs[0])


@_op("Exp")
def exp(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = e^x."""
    return np.exp(inputs[0])


@_op("Log")
def log(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = ln x (NaN for x < 0, −∞ at 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(inputs[0])


@_op("Abs")
def absolute(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = |x|."""
    return np.abs(inputs[0])


@_op("Neg")
def negative(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = −x."""
    return np.negative(inputs[0])


@_op("Sqrt")
def sqrt(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = √x (NaN for x < 0)."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(inputs[0])


@_op("Softplus")
def softplus(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = ln(1 + e^x), computed as logaddexp(0, x) so that it neither overflows nor loses small values."""
    x = inputs[0]
    return np.logaddexp(_scalar(x, 0), x)


_ERF_SPLIT = 2.5
_ERF_TERMS = 40
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf_series(a: np.ndarray) -> np.ndarray:
    """erf(a) = 2/√π · e^(−a²) · Σ_n (2a²)^n a / (1·3·…·(2n+1)) (all terms positive: no cancellation)."""
    term = a.copy()
    total = a.copy()
    two_a2 = 2.0 * a * a
    for n in range(1, _ERF_TERMS):
        term = term * two_a2 / (2 * n + 1)
        total += term
    return _TWO_OVER_SQRT_PI * np.exp(-a * a) * total


def _erfc_continued_fraction(a: np.ndarray) -> np.ndarray:
    """erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + (2/2)/(a + (3/2)/(a + …)))) for a > 0, evaluated backwards."""
    t = a.copy()
    for k in range(_ERF_TERMS, 0, -1):
        t = a + (k / 2.0) / t
    return np.exp(-a * a) / (math.sqrt(math.pi) * t)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf(x) in float64 (about 1e-15 absolute error): the series below |x| = 2.5, 1 − erfc above."""
    x64 = np.asarray(x, dtype=np.float64)
    a = np.abs(x64)
    near = _erf_series(np.minimum(a, _ERF_SPLIT))
    with np.errstate(over="ignore", under="ignore"):
        far = 1.0 - _erfc_continued_fraction(np.maximum(a, _ERF_SPLIT))
    return np.sign(x64) * np.where(a < _ERF_SPLIT, near, far)


@_op("Erf")
def erf(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = erf(x) = 2/√π ∫₀ˣ e^(−t²) dt."""
    x = inputs[0]
    return _erf(x).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------------------------------
# unary ops with attributes
# --------------------------------------------------------------------------------------------------
@_op("LeakyRelu", attrs=("alpha",))
def leaky_relu(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = x for x ≥ 0, alpha · x otherwise (alpha defaults to 0.01)."""
    x = inputs[0]
    return np.where(x >= 0, x, x * _scalar(x, attrs.get("alpha", 0.01)))


@_op("Elu", attrs=("alpha",))
def elu(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = x for x > 0, alpha · (e^x − 1) otherwise (alpha defaults to 1)."""
    x = inputs[0]
    negative_part = np.expm1(np.minimum(x, _scalar(x, 0))) * _scalar(x, attrs.get("alpha", 1.0))
    return np.where(x > 0, x, negative_part)


@_op("Softmax", attrs=("axis",))
def softmax(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y_i = e^(x_i − max x) / Σ_j e^(x_j − max x) along ``axis`` (default −1)."""
    x = inputs[0]
    axis = _axis(attrs.get("axis", -1), x.ndim)
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


@_op("LogSoftmax", attrs=("axis",))
def log_softmax(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y_i = x_i − max x − ln Σ_j e^(x_j − max x) along ``axis`` (default −1)."""
    x = inputs[0]
    axis = _axis(attrs.get("axis", -1), x.ndim)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@_op("Clip", attrs=("min", "max"))
def clip(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = min(max(x, min), max); an absent bound does not clip (ONNX passes the bounds as inputs)."""
    y = inputs[0]
    if attrs.get("min") is not None:
        y = np.maximum(y, _scalar(y, attrs["min"]))
    if attrs.get("max") is not None:
        y = np.minimum(y, _scalar(y, attrs["max"]))
    return y


# --------------------------------------------------------------------------------------------------
# binary ops (NumPy = ONNX multidirectional broadcasting)
# --------------------------------------------------------------------------------------------------
@_op("Add", inputs=2)
def add(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = a + b."""
    return np.add(inputs[0], inputs[1])


@_op("Sub", inputs=2)
def subtract(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = a − b."""
    return np.subtract(inputs[0], inputs[1])


@_op("Mul", inputs=2)
def multiply(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = a · b."""
    return np.multiply(inputs[0], inputs[1])


@_op("Div", inputs=2)
def divide(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = a / b (±∞ or NaN where b = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(inputs[0], inputs[1])


@_op("MatMul", inputs=2)
def matmul(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y[..., i, k] = Σ_j a[..., i, j] · b[..., j, k] (numpy.matmul: 1-D operands and batch broadcasting)."""
    return np.matmul(inputs[0], inputs[1])


@_op("Max", inputs=2)
def maximum(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = max(a, b) elementwise."""
    return np.maximum(inputs[0], inputs[1])


@_op("Min", inputs=2)
def minimum(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = min(a, b) elementwise."""
    return np.minimum(inputs[0], inputs[1])


@_op("Pow", inputs=2)
def power(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = a^b (NaN for a negative a and a non-integer b)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.power(inputs[0], inputs[1])


# --------------------------------------------------------------------------------------------------
# shape ops
# --------------------------------------------------------------------------------------------------
@_op("Reshape", attrs=("shape",), required=("shape",))
def reshape(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = x viewed as ``shape`` (batch axis included): an entry 0 copies x's dim there, one entry may be −1."""
    x = inputs[0]
    shape = [int(d) for d in attrs["shape"]]
    if shape.count(-1) > 1 or min(shape, default=0) < -1:
        raise ValueError(f"Reshape shape {shape} may hold one -1 and no other negative entry")
    target = [x.shape[i] if d == 0 and i < x.ndim else d for i, d in enumerate(shape)]
    return x.reshape(target)


@_op("Flatten", attrs=("axis",))
def flatten(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = x as a matrix (∏ x.shape[:axis], ∏ x.shape[axis:]), axis defaulting to 1."""
    x = inputs[0]
    axis = int(attrs.get("axis", 1))
    if not -x.ndim <= axis <= x.ndim:
        raise ValueError(f"Flatten axis {axis} is out of range for {x.ndim} dimensions")
    axis = axis + x.ndim if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@_op("Concat", inputs=(1, None), attrs=("axis",), required=("axis",))
def concat(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = the inputs joined along ``axis``."""
    return np.concatenate(inputs, axis=_axis(attrs["axis"], inputs[0].ndim))


@_op("Transpose", attrs=("perm",))
def transpose(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y[i_perm[0], …, i_perm[r−1]] = x[i_0, …, i_(r−1)]: axis k of y is axis perm[k] of x (default: reversed)."""
    perm = attrs.get("perm")
    return np.transpose(inputs[0], None if perm is None else [int(p) for p in perm])


@_op("ReduceMean", attrs=("axes", "keepdims"))
def reduce_mean(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = (1/n) Σ x over ``axes`` (all when absent), kept as size-1 axes unless keepdims = 0."""
    x = inputs[0]
    return np.mean(x, axis=_axes(attrs, x.ndim), keepdims=bool(attrs.get("keepdims", 1)))


@_op("ReduceSum", attrs=("axes", "keepdims"))
def reduce_sum(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y = Σ x over ``axes`` (all when absent), kept as size-1 axes unless keepdims = 0."""
    x = inputs[0]
    return np.sum(x, axis=_axes(attrs, x.ndim), keepdims=bool(attrs.get("keepdims", 1)))


# --------------------------------------------------------------------------------------------------
# convolution and pooling (NCHW)
# --------------------------------------------------------------------------------------------------
def _windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) → (N, C, H', W', kh, kw) views of every window, H' = ⌊(H − kh)/s⌋ + 1."""
    if x.ndim != 4:
        raise ValueError(f"a 2-D convolution or pooling needs (N, C, H, W) input, got shape {x.shape}")
    if kernel[0] > x.shape[2] or kernel[1] > x.shape[3]:
        raise ValueError(f"window {kernel[0]}×{kernel[1]} is larger than the (padded) input {x.shape[2:]}")
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, :: strides[0], :: strides[1]]


def _pad(x: np.ndarray, pads: tuple[int, int, int, int], fill: float) -> np.ndarray:
    """x with ``pads`` = [top, left, bottom, right] rows/columns of ``fill`` around height and width."""
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)


def _check_conv_operands(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> None:
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"input {x.shape} and weight {w.shape} do not fit (N, C, H, W) and (F, C, kh, kw)")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"bias of shape {b.shape} does not fit {w.shape[0]} filters")


@_op("Conv", inputs=(2, 3), attrs=("strides", "pads"))
def conv(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y[n, f, i, j] = B[f] + Σ_{c,u,v} W[f, c, u, v] · x_pad[n, c, i·s_h + u, j·s_w + v] (zero padding)."""
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    _check_conv_operands(x, w, b)
    x = _pad(x, _pads(attrs.get("pads")), 0.0)
    columns = _windows(x, (w.shape[2], w.shape[3]), _pair(attrs.get("strides"), 1, "Conv strides"))
    y = np.tensordot(columns, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(y)


@_op("MaxPool", attrs=("kernel_shape", "strides", "pads"), required=("kernel_shape",))
def max_pool(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y[n, c, i, j] = max_{u,v} x_pad[n, c, i·s_h + u, j·s_w + v] (padding never wins: −∞; strides default 1)."""
    x = _pad(inputs[0], _pads(attrs.get("pads")), -np.inf)
    kernel = _pair(attrs["kernel_shape"], 1, "MaxPool kernel_shape")
    return np.ascontiguousarray(_windows(x, kernel, _pair(attrs.get("strides"), 1, "MaxPool strides")).max(axis=(4, 5)))


@_op("AveragePool", attrs=("kernel_shape", "strides"), required=("kernel_shape",))
def average_pool(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y[n, c, i, j] = (1/(kh·kw)) Σ_{u,v} x[n, c, i·s_h + u, j·s_w + v] (no padding; strides default 1)."""
    kernel = _pair(attrs["kernel_shape"], 1, "AveragePool kernel_shape")
    windows = _windows(inputs[0], kernel, _pair(attrs.get("strides"), 1, "AveragePool strides"))
    return np.ascontiguousarray(windows.mean(axis=(4, 5)))


@_op("GlobalAveragePool")
def global_average_pool(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """y[n, c, 1, 1] = mean of x[n, c] over every spatial axis."""
    x = inputs[0]
    if x.ndim < 3:
        raise ValueError(f"GlobalAveragePool needs (N, C, spatial...) input, got shape {x.shape}")
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)


# --------------------------------------------------------------------------------------------------
# checking and running a program
# --------------------------------------------------------------------------------------------------
def _node_label(index: int, node: Any) -> str:
    op = node.get("op") if isinstance(node, Mapping) else None
    return f"node {index} ({op})" if op else f"node {index}"


def _check_node_op(index: int, node: Any) -> None:
    """The node is a mapping naming a known op with known attributes and a fitting number of inputs."""
    if not isinstance(node, Mapping):
        raise ProgramError(f"node {index} must be a mapping, got {node!r}")
    op = node.get("op")
    if op not in OPS:
        raise ProgramError(f"node {index}: unknown op {op!r} (known ops: {', '.join(sorted(OPS))})")
    attrs = node.get("attrs") or {}
    if not isinstance(attrs, Mapping):
        raise ProgramError(f"{_node_label(index, node)}: attrs must be a mapping, got {attrs!r}")
    unknown = sorted(set(attrs) - OP_ATTRS[op])
    if unknown:
        accepted = ", ".join(sorted(OP_ATTRS[op])) or "none"
        raise ProgramError(f"{_node_label(index, node)}: unknown attribute(s) {unknown} (accepted: {accepted})")
    missing = sorted(OP_REQUIRED_ATTRS[op] - set(attrs))
    if missing:
        raise ProgramError(f"{_node_label(index, node)}: missing attribute(s) {missing}")
    check_arity(op, len(node.get("inputs") or []), _node_label(index, node))


def check_arity(op: str, count: int, label: str) -> None:
    """Raise ProgramError when ``op`` cannot take ``count`` inputs."""
    low, high = OP_ARITY[op]
    if count < low or (high is not None and count > high):
        wanted = f"{low}" if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
        raise ProgramError(f"{label}: takes {wanted} input(s), got {count}")


def _check_node_names(index: int, node: Mapping[str, Any], known: set[str]) -> str:
    """The node's inputs are all known and its output is new; returns the output name."""
    for name in node.get("inputs") or []:
        if name not in known:
            raise ProgramError(
                f"{_node_label(index, node)}: input {name!r} is not the program input, a constant "
                "or the output of an earlier node"
            )
    output = node.get("output")
    if not isinstance(output, str) or not output:
        raise ProgramError(f"{_node_label(index, node)}: output must be a non-empty name, got {output!r}")
    if output in known:
        raise ProgramError(f"{_node_label(index, node)}: output {output!r} is already defined")
    return output


def _check_header(data: Any) -> None:
    if not isinstance(data, Mapping):
        raise ProgramError(f"a program must be a mapping, got {type(data).__name__}")
    fmt = data.get("format", PROGRAM_FORMAT)
    if fmt != PROGRAM_FORMAT:
        raise ProgramError(f"unsupported program format {fmt!r} (this runtime reads {PROGRAM_FORMAT!r})")
    if data.get("input", INPUT_NAME) != INPUT_NAME:
        raise ProgramError(f"the program input must be named {INPUT_NAME!r}, got {data.get('input')!r}")
    if not isinstance(data.get("nodes"), list):
        raise ProgramError("a program needs a 'nodes' list")
    shape = data.get("input_shape")
    if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ProgramError(f"input_shape must be a list of positive ints, got {shape!r}")


def check_program(data: Mapping[str, Any], constants: Mapping[str, np.ndarray]) -> None:
    """Raise ProgramError unless every op and attribute is known and every name resolves, in order."""
    _check_header(data)
    listed = data.get("constants")
    if listed is not None:
        absent = sorted(set(listed) - set(constants))
        if absent:
            raise ProgramError(f"the constants {absent} are not in the weights")
    if INPUT_NAME in constants:
        raise ProgramError(f"a constant may not be named {INPUT_NAME!r}")
    known = {INPUT_NAME, *constants}
    for index, node in enumerate(data["nodes"]):
        _check_node_op(index, node)
        known.add(_check_node_names(index, node, known))
    if data.get("output") not in known:
        raise ProgramError(f"the program output {data.get('output')!r} is never computed")


def _run_node(index: int, node: Mapping[str, Any], values: Mapping[str, np.ndarray]) -> np.ndarray:
    """One node applied to its inputs; a failure names the node and the input shapes."""
    args = [values[name] for name in node.get("inputs") or []]
    try:
        return OPS[node["op"]](args, dict(node.get("attrs") or {}))
    except (ValueError, TypeError, IndexError) as exc:
        shapes = ", ".join(str(a.shape) for a in args)
        raise ProgramError(f"{_node_label(index, node)} -> {node['output']!r} on input shapes {shapes}: {exc}") from exc


def _check_input(x: np.ndarray, shape: Sequence[int]) -> None:
    if tuple(x.shape[1:]) != tuple(shape) or x.ndim != len(shape) + 1:
        raise ProgramError(f"the input has shape {x.shape}, the program expects (batch, {', '.join(map(str, shape))})")


def run_program(data: Mapping[str, Any], constants: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The program applied to the batch x (cast to the program dtype); every float result keeps that dtype."""
    check_program(data, constants)
    dtype = np.dtype(data.get("dtype", "float32"))
    x = np.asarray(x).astype(dtype, copy=False)
    _check_input(x, data["input_shape"])
    values: dict[str, np.ndarray] = {**constants, INPUT_NAME: x}
    for index, node in enumerate(data["nodes"]):
        out = np.asarray(_run_node(index, node, values))
        values[node["output"]] = out.astype(dtype, copy=False) if out.dtype.kind == "f" else out
    return values[data["output"]]


# --------------------------------------------------------------------------------------------------
# model input and output
# --------------------------------------------------------------------------------------------------
def _fit_sample_shape(x: np.ndarray, shape: Sequence[int] | None) -> np.ndarray:
    """Rows of ``x`` reshaped to the per-sample ``shape`` when they hold the same number of values
    (a flat table from a JSON request for an image model); a single unbatched sample gets a batch axis."""
    if not shape:
        return x
    shape = tuple(int(d) for d in shape)
    if x.shape[1:] == shape:
        return x
    if x.shape == shape:
        return x[None]
    size = math.prod(shape)
    if x.ndim >= 1 and math.prod(x.shape[1:]) == size:
        return x.reshape((x.shape[0], *shape))
    return x


def as_input_array(model_input: Any, dtype: Any = np.float32) -> np.ndarray:
    """``model_input`` (array, nested lists, pandas DataFrame or a one-entry dict of those) as an array."""
    if isinstance(model_input, Mapping):
        if len(model_input) != 1:
            raise ProgramError(f"expected one input tensor, got the keys {sorted(model_input)}")
        model_input = next(iter(model_input.values()))
    if hasattr(model_input, "to_numpy"):  # pandas DataFrame / Series
        model_input = model_input.to_numpy()
    x = np.asarray(model_input)
    if x.dtype == object:
        x = np.stack([np.asarray(v) for v in x.ravel()]).reshape(*x.shape, -1) if x.size else x.astype(dtype)
    x = x.astype(dtype, copy=False)
    return x[None] if x.ndim == 1 else x


def _softmax_last(y: np.ndarray) -> np.ndarray:
    """softmax(y)_i = e^(y_i − max y) / Σ_j e^(y_j − max y) over the last axis."""
    return softmax([y], {"axis": -1})


def _labels(description: Mapping[str, Any], y: np.ndarray) -> np.ndarray:
    """argmax over the last axis; with one output column, 1 where y > description["threshold"] (default 0)."""
    if y.ndim > 1 and y.shape[-1] > 1:
        idx = y.argmax(axis=-1)
    else:
        threshold = float(description.get("threshold") or 0.0)
        idx = (y.reshape(len(y), -1)[:, 0] > threshold).astype(np.int64)
    classes = description.get("classes")
    return np.asarray(classes)[idx] if classes else idx.astype(np.int64)


def _expects(description: Mapping[str, Any]) -> str:
    """``description["expects"]``; for a description without it, judged by the decision threshold
    (0.5 cuts probabilities, 0 cuts logits)."""
    expects = description.get("expects")
    if expects:
        return str(expects)
    return "probabilities" if description.get("threshold") == 0.5 else "logits"


def probabilities(description: Mapping[str, Any], y: np.ndarray) -> np.ndarray:
    """Class probabilities (batch, classes) from the program result: the result itself when the model
    already outputs probabilities (``description["expects"] == "probabilities"``), else a softmax over
    the classes, or a sigmoid for one column. One column p becomes the two columns [1 − p, p]."""
    scores = y.reshape(len(y), -1)
    ready = _expects(description) == "probabilities"
    if scores.shape[1] == 1:
        p = scores if ready else _sigmoid(scores)
        return np.concatenate([1 - p, p], axis=1)
    return scores if ready else _softmax_last(scores)


def postprocess(description: Mapping[str, Any], y: np.ndarray) -> np.ndarray:
    """``description["output"]`` applied to the program result: identity, softmax, sigmoid, argmax
    (→ classes) or proba (→ class probabilities, see :func:`probabilities`)."""
    mode = str(description.get("output") or "identity").lower()
    if mode == "proba":
        return probabilities(description, y)
    if mode in ("identity", "raw", "logits", "values"):
        return y
    if mode in ("softmax", "probabilities"):
        return _softmax_last(y)
    if mode == "sigmoid":
        return _sigmoid(y)
    if mode in ("argmax", "labels", "classes"):
        return _labels(description, y)
    raise ProgramError(f"unknown output mode {mode!r} (use identity, softmax, sigmoid, argmax or proba)")


def is_classifier(description: Mapping[str, Any]) -> bool:
    """Whether the model returns class labels (so that it can give class probabilities)."""
    return str(description.get("output") or "identity").lower() in ("argmax", "labels", "classes", "proba")


def class_columns(description: Mapping[str, Any], count: int) -> list[str]:
    """Names of ``count`` probability columns: the classes, else their indices."""
    classes = description.get("classes") or []
    return [str(c) for c in classes] if len(classes) == count else [str(i) for i in range(count)]


def model_input_array(description: Mapping[str, Any], model_input: Any, allow_nonfinite: bool = False) -> np.ndarray:
    """The program's input batch for ``model_input``: raw columns encoded (a model with ``"columns"``),
    arrays cast to the program dtype and fitted to its per-sample shape; NaN/±inf refused with their
    row and column unless ``allow_nonfinite``."""
    program = description["program"]
    dtype = np.dtype(program.get("dtype", "float32"))
    if description.get("columns"):
        x = _columns_input(description, model_input, allow_nonfinite)
        names = encoded_names(description["columns"])
    else:
        x = _fit_sample_shape(as_input_array(model_input, dtype), program.get("input_shape"))
        names = None
    if not allow_nonfinite:
        _refuse_nonfinite_array(x, names)
    return x.astype(dtype, copy=False)


def predict_array(
    description: Mapping[str, Any],
    constants: Mapping[str, np.ndarray],
    model_input: Any,
    params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """model_input_array → run_program → postprocess: what the logged model's predict returns
    (class probabilities (batch, classes) with the param ``proba``)."""
    options = read_params(params)
    x = model_input_array(description, model_input, options["allow_nonfinite"])
    y = run_program(description["program"], constants, x)
    if options["proba"]:
        if not is_classifier(description):
            raise ProgramError("proba needs a classifier; this model outputs values (leave proba out)")
        return probabilities(description, y)
    return postprocess(description, y)


# --------------------------------------------------------------------------------------------------
# params, raw columns and non-finite values
# --------------------------------------------------------------------------------------------------
NONFINITE_HINT = (
    "the model takes finite numbers (let NaN/inf through with --allow-nonfinite, or the param allow_nonfinite=true)"
)


def read_params(params: Mapping[str, Any] | None) -> dict[str, bool]:
    """:data:`PARAMS` with the given values (true/false, or that text) in place of the defaults."""
    options = dict(PARAMS)
    for key, value in (params or {}).items():
        if key not in options:
            raise ProgramError(f"unknown param {key!r} (known: {', '.join(PARAMS)})")
        text = str(value).strip().lower() if isinstance(value, str) else None
        if isinstance(value, (bool, np.bool_)):
            options[key] = bool(value)
        elif text in ("true", "false"):
            options[key] = text == "true"
        else:
            raise ProgramError(f"param {key!r} must be true or false, got {value!r}")
    return options


def column_names(description: Mapping[str, Any]) -> list[str]:
    """The raw feature columns a model trained on a CSV file takes, in training order ([] for others)."""
    return [str(c["name"]) for c in description.get("columns") or []]


def encoded_names(columns: Sequence[Mapping[str, Any]]) -> list[str]:
    """The program's input features: a number or ordinal column as itself, a one-hot column as
    ``name=category`` for each of its categories."""
    names: list[str] = []
    for column in columns:
        if column["kind"] == "onehot":
            names += [f"{column['name']}={c}" for c in column["categories"]]
        else:
            names.append(str(column["name"]))
    return names


def _columns_input(description: Mapping[str, Any], model_input: Any, allow_nonfinite: bool) -> np.ndarray:
    """The encoded batch of a model with raw ``"columns"``: a table by column name, rows of the raw
    columns in order, or numeric rows already as wide as the encoding."""
    columns = description["columns"]
    names = column_names(description)
    table = _as_table(model_input, names)
    if table is not None:
        return encode_columns(description, table, allow_nonfinite)
    if isinstance(model_input, Mapping):
        model_input = next(iter(model_input.values()))
    x = np.asarray(model_input.to_numpy() if hasattr(model_input, "to_numpy") else model_input)
    x = x[None] if x.ndim == 1 else x
    width = len(encoded_names(columns))
    if x.ndim == 2 and x.dtype.kind in "biuf" and x.shape[1] == width:
        return x.astype(np.float64)
    if x.ndim == 2 and x.shape[1] == len(names):
        return encode_columns(description, {n: x[:, j] for j, n in enumerate(names)}, allow_nonfinite)
    got = f"rows of {x.shape[1]} values" if x.ndim == 2 else f"an array of shape {x.shape}"
    also = f", or {width} encoded features" if width != len(names) else ""
    raise ProgramError(
        f"the input has {got}; the model takes {len(names)} columns ({', '.join(names)}): a table with "
        f"those names or rows in that order{also}"
    )


def _as_table(model_input: Any, names: Sequence[str]) -> dict[str, Any] | None:
    """The input's columns by name when it is a table (a DataFrame with named columns, a mapping of
    columns, a list of records); None for an array."""
    if hasattr(model_input, "columns") and hasattr(model_input, "to_numpy"):  # pandas DataFrame
        labels = list(model_input.columns)
        if labels and all(isinstance(c, str) for c in labels):
            return {c: model_input[c].to_numpy() for c in labels}
        return None
    if isinstance(model_input, Mapping):
        if len(model_input) == 1 and not set(model_input) & set(names):
            return None  # one named tensor
        return {str(k): v for k, v in model_input.items()}
    if isinstance(model_input, (list, tuple)) and model_input and all(isinstance(r, Mapping) for r in model_input):
        keys = dict.fromkeys(k for record in model_input for k in record)
        return {str(k): [record.get(k) for record in model_input] for k in keys}
    return None


def encode_columns(
    description: Mapping[str, Any], table: Mapping[str, Any], allow_nonfinite: bool = False
) -> np.ndarray:
    """The raw columns of ``table`` encoded as the training data was, (n, encoded width) float64:
    a number column as it is, a one-hot column as one 0/1 column per category, an ordinal column as
    the category's index. Other columns (the target among them) are ignored."""
    columns = description["columns"]
    names = column_names(description)
    missing = [n for n in names if n not in table]
    if missing:
        target = description.get("target")
        also = f" (the target {target!r} may be there too; it is ignored)" if target else ""
        given = ", ".join(map(str, list(table)[:20])) or "none"
        raise ProgramError(
            f"the input has no column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; the model "
            f"takes the columns {', '.join(names)}{also}; the input's columns: {given}"
        )
    cells = {n: _cells(n, table[n]) for n in names}
    lengths = {n: len(v) for n, v in cells.items()}
    if len(set(lengths.values())) > 1:
        raise ProgramError(f"the input's columns differ in length: {lengths}")
    return np.concatenate([_encode_column(c, cells[c["name"]], allow_nonfinite) for c in columns], axis=1)


def decode_columns(description: Mapping[str, Any], x: np.ndarray) -> dict[str, list[Any]]:
    """Encoded rows back in the raw columns' form (numbers, category texts): the inverse of
    :func:`encode_columns`, used for the logged input example."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    table: dict[str, list[Any]] = {}
    start = 0
    for column in description["columns"]:
        kind, categories = column["kind"], column.get("categories") or []
        width = len(categories) if kind == "onehot" else 1
        block = x[:, start : start + width]
        start += width
        if kind == "number":
            table[column["name"]] = block[:, 0].tolist()
        else:
            codes = block.argmax(axis=1) if kind == "onehot" else np.clip(np.rint(block[:, 0]), 0, len(categories) - 1)
            table[column["name"]] = [str(categories[int(i)]) for i in codes]
    return table


def _cells(name: str, values: Any) -> np.ndarray:
    """A column's values as a 1-D object array (one value is one row)."""
    values = values.to_numpy() if hasattr(values, "to_numpy") else values
    cells = np.asarray(values, dtype=object)
    if cells.ndim == 0:
        cells = cells.reshape(1)
    if cells.ndim != 1:
        raise ProgramError(f"column {name!r} must hold one value per row, got shape {cells.shape}")
    return cells


def _encode_column(column: Mapping[str, Any], cells: np.ndarray, allow_nonfinite: bool) -> np.ndarray:
    """One raw column as its encoded block (n, width)."""
    name, kind = str(column["name"]), column["kind"]
    if kind == "number":
        values = _numbers(name, cells)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size and not allow_nonfinite:
            raise ProgramError(f"column {name!r} row {bad[0] + 1} holds {values[bad[0]]}; {NONFINITE_HINT}")
        return values[:, None]
    categories = [str(c) for c in column.get("categories") or []]
    codes = _codes(name, categories, cells)
    if kind == "ordinal":
        return codes.astype(np.float64)[:, None]
    if kind == "onehot":
        return np.eye(len(categories), dtype=np.float64)[codes]
    raise ProgramError(f"column {name!r}: unknown encoding {kind!r} (number, onehot or ordinal)")


def _numbers(name: str, cells: np.ndarray) -> np.ndarray:
    """The cells of a number column as float64; an empty or non-numeric cell is reported with its row."""
    for row, cell in enumerate(cells, 1):
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            raise ProgramError(f"column {name!r} row {row} is empty; the model takes a number there")
    try:
        return cells.astype(np.float64)
    except (TypeError, ValueError):
        pass
    for row, cell in enumerate(cells, 1):
        try:
            float(cell)
        except (TypeError, ValueError):
            raise ProgramError(f"column {name!r} row {row}: {cell!r} is not a number") from None
    raise ProgramError(f"column {name!r} does not hold numbers")


def _category_text(cell: Any) -> str | None:
    """A categorical cell as the text the training file held (a whole float as an integer); None if empty."""
    if isinstance(cell, np.generic):
        cell = cell.item()
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return None
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    text = str(cell).strip()
    return text or None


def _codes(name: str, categories: list[str], cells: np.ndarray) -> np.ndarray:
    """Each cell's index among ``categories``; an empty cell or an unseen category is reported with its row."""
    index = {c: i for i, c in enumerate(categories)}
    codes = np.empty(len(cells), dtype=np.int64)
    for row, cell in enumerate(cells):
        text = _category_text(cell)
        if text is None:
            raise ProgramError(f"column {name!r} row {row + 1} is empty; the model takes one of {categories}")
        if text not in index:
            raise ProgramError(
                f"column {name!r} row {row + 1}: unseen category {text!r}; the model knows {', '.join(categories)}"
            )
        codes[row] = index[text]
    return codes


def _refuse_nonfinite_array(x: np.ndarray, names: Sequence[str] | None = None) -> None:
    """Raise, naming the row and column of the first one, when the float batch ``x`` holds NaN or ±inf."""
    if x.dtype.kind != "f" or x.size == 0:
        return
    flat = x.reshape(len(x), -1)
    bad = np.argwhere(~np.isfinite(flat))
    if not len(bad):
        return
    row, col = (int(i) for i in bad[0])
    if x.ndim == 2:
        where = f"column {col + 1}" + (f" ({names[col]})" if names and len(names) == flat.shape[1] else "")
    else:
        where = f"position {tuple(int(i) for i in np.unravel_index(col, x.shape[1:]))}"
    raise ProgramError(f"the input holds {flat[row, col]} at row {row + 1}, {where}; {NONFINITE_HINT}")


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------
def save_weights(path: str | os.PathLike[str], weights: Mapping[str, Any]) -> None:
    """``weights`` (name → array) as an uncompressed ``.npz`` (no pickled objects)."""
    with open(path, "wb") as handle:
        np.savez(handle, **{str(k): np.asarray(v) for k, v in weights.items()})


def load_weights(path: str | os.PathLike[str], dtype: Any = None) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz``; float arrays cast to ``dtype`` when given (integer arrays stay as stored)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    if dtype is None:
        return arrays
    return {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in arrays.items()}


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"the model description holds a value JSON cannot store: {value!r}")


def write_artifacts(
    directory: str | os.PathLike[str], constants: Mapping[str, Any], description: Mapping[str, Any]
) -> dict[str, str]:
    """Write ``weights.npz`` and ``model.json`` into ``directory``; returns the pyfunc ``artifacts`` mapping."""
    program = description.get("program")
    if not isinstance(program, Mapping):
        raise ProgramError("the model description needs a 'program' (Program.to_data())")
    arrays = {str(k): np.asarray(v) for k, v in constants.items()}
    check_program(program, arrays)
    dtype = str(program.get("dtype", "float32"))
    full = {"output": "identity", **dict(description), "format": MODEL_FORMAT, "dtype": dtype}
    directory = os.fspath(directory)
    paths = {"weights": os.path.join(directory, WEIGHTS_FILE), "model": os.path.join(directory, MODEL_FILE)}
    save_weights(paths["weights"], arrays)
    with open(paths["model"], "w", encoding="utf-8") as handle:
        json.dump(full, handle, indent=2, sort_keys=True, default=_json_default)
    return paths


def load_artifacts(artifacts: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(description, constants) read back from the files :func:`write_artifacts` wrote, checked."""
    with open(artifacts["model"], encoding="utf-8") as handle:
        description = json.load(handle)
    fmt = description.get("format")
    if fmt != MODEL_FORMAT:
        raise ProgramError(f"unsupported model format {fmt!r} (this runtime reads {MODEL_FORMAT!r})")
    program = description.get("program")
    if not isinstance(program, Mapping):
        raise ProgramError("the model description has no 'program'")
    constants = load_weights(artifacts["weights"], np.dtype(program.get("dtype", "float32")))
    check_program(program, constants)
    return description, constants


# --------------------------------------------------------------------------------------------------
# the MLflow pyfunc, defined only when MLflow runs this file as a model file
# --------------------------------------------------------------------------------------------------
if __name__ != "mathflow.export.runtime":
    import mlflow.pyfunc
    from mlflow.models import set_model

    class MathflowNumpyModel(mlflow.pyfunc.PythonModel):
        """``predict(x)`` = postprocess(run_program(x)) in NumPy, from ``weights.npz`` / ``model.json``;
        ``predict(x, params={"proba": True})`` a DataFrame of class probabilities, one column per class."""

        def __init__(self) -> None:
            self.description: dict[str, Any] | None = None
            self.constants: dict[str, np.ndarray] | None = None

        def load_context(self, context: Any) -> None:
            self.description, self.constants = load_artifacts(context.artifacts)

        def predict(self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None) -> Any:
            # The np.ndarray hint tells MLflow to take the input schema from the input example.
            if self.description is None or self.constants is None:
                raise ProgramError("the model was used before its artifacts were loaded")
            result = predict_array(self.description, self.constants, model_input, params)
            if not read_params(params)["proba"]:
                return result
            import pandas

            return pandas.DataFrame(result, columns=class_columns(self.description, result.shape[1]))

    set_model(MathflowNumpyModel())
