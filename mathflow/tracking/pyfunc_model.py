"""A trained mathflow model as an MLflow pyfunc that needs NumPy alone.

The model is logged "from code": MLflow copies this file next to three artifacts and, when the
model is loaded, runs the file, which imports only NumPy and MLflow (never mathflow):

* ``weights.npz``: parameter name → array;
* ``model.json``: the forward pass as plain data, ``{"layers": [...], "output": ..., "dtype": ...}``;
* ``transforms.npz`` (optional): the fitted input transforms, as ``mathflow.data.Pipeline.save``
  writes them (a ``__meta__`` JSON string plus arrays named ``<index>/<array>``).

Layers (NCHW for images; a dense weight is (in_features, units), a conv2d weight (filters, C, kh, kw)):

* ``{"type": "dense", "weight": k, "bias": k, "activation": a}``: y = act(x W + b);
* ``{"type": "conv2d", "weight": k, "bias": k, "stride": s, "padding": [p, q], "activation": a}``:
  y[n, f] = act(b[f] + Σ_c W[f, c] ⋆ x[n, c]) (cross-correlation, zero padding);
* ``{"type": "maxpool2d" | "avgpool2d", "size": k, "stride": s}``: max / mean over each window;
* ``{"type": "global_avgpool2d"}``: mean over height and width;
* ``{"type": "batchnorm", "mean": k, "var": k, "gamma": k, "beta": k, "eps": ε}``:
  y = γ (x − μ) / √(σ² + ε) + β per channel (axis 1);
* ``{"type": "layernorm", "gamma": k, "beta": k, "eps": ε, "axes": n}``: normalise over the last n axes;
* ``{"type": "flatten"}``, ``{"type": "reshape", "shape": [...]}`` (per sample, one entry may be -1);
* ``{"type": "dropout"}`` and ``{"type": "identity"}``: y = x at inference;
* an activation, as ``{"type": "relu"}`` or ``{"type": "activation", "activation": "relu"}``:
  relu, leaky_relu (``negative_slope``), sigmoid, tanh, softmax / log_softmax (``axis``), gelu (tanh
  approximation, or ``"approximate": "none"`` for the erf form), elu (``alpha``), softplus, silu, identity.

``"output"`` post-processes the last layer: ``identity`` (default), ``softmax``, ``sigmoid`` or
``argmax`` (class indices, or the matching entries of ``"classes"`` when that list is given; with one
output column, the class is 1 above ``"threshold"``: 0.5 after a final sigmoid, else 0).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import mlflow.pyfunc
import numpy as np
from mlflow.models import set_model
from numpy.lib.stride_tricks import sliding_window_view

MODEL_FORMAT = "mathflow-numpy/1"
WEIGHTS_FILE = "weights.npz"
MODEL_FILE = "model.json"
TRANSFORMS_FILE = "transforms.npz"

_GELU_C = math.sqrt(2.0 / math.pi)
_TARGET_TRANSFORMS = frozenset({"one_hot", "onehot", "label_encode", "label_encoder"})


class ModelSpecError(ValueError):
    """The model description or its weights do not fit together (raised at load or predict time)."""


# --------------------------------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1/(1 + e^(−x)) without overflow: with e = e^(−|x|), σ = 1/(1+e) for x ≥ 0, e/(1+e) otherwise."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(x)_i = e^(x_i − max x) / Σ_j e^(x_j − max x)."""
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(x)_i = x_i − max x − log Σ_j e^(x_j − max x)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _gelu(x: np.ndarray, approximate: str = "tanh") -> np.ndarray:
    """½x(1 + tanh(√(2/π)(x + 0.044715x³))), or ½x(1 + erf(x/√2)) with ``approximate="none"``."""
    if approximate == "none":
        erf = np.vectorize(math.erf, otypes=[np.float64])
        return (0.5 * x * (1.0 + erf(x.astype(np.float64) / math.sqrt(2.0)))).astype(x.dtype)
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x * x * x)))


def apply_activation(spec: Any, x: np.ndarray) -> np.ndarray:
    """The activation ``spec`` (a name, or a dict with ``type`` and its options; None = identity) applied to x."""
    if spec is None:
        return x
    if isinstance(spec, str):
        name, opts = spec, {}
    elif isinstance(spec, Mapping):
        opts = dict(spec)
        name = str(opts.pop("type", opts.pop("activation", "")))
    else:
        raise ModelSpecError(f"activation must be a name or a mapping, got {spec!r}")
    name = name.lower()
    if name in ("identity", "linear", "none", ""):
        return x
    if name == "relu":
        return np.maximum(x, 0).astype(x.dtype, copy=False)
    if name == "leaky_relu":
        slope = float(opts.get("negative_slope", opts.get("slope", 0.01)))
        return np.where(x > 0, x, x * slope).astype(x.dtype, copy=False)
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        return _softmax(x, int(opts.get("axis", -1)))
    if name == "log_softmax":
        return _log_softmax(x, int(opts.get("axis", -1)))
    if name == "gelu":
        return _gelu(x, str(opts.get("approximate", "tanh")))
    if name == "elu":
        alpha = float(opts.get("alpha", 1.0))
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)) * alpha).astype(x.dtype, copy=False)
    if name == "softplus":
        return np.logaddexp(0, x).astype(x.dtype, copy=False)
    if name in ("silu", "swish"):
        return x * _sigmoid(x)
    raise ModelSpecError(f"unknown activation {name!r}")


ACTIVATIONS = frozenset(
    {"identity", "linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "elu"}
    | {"softplus", "silu", "swish"}
)


# --------------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------------
def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ModelSpecError(f"{what} must be an int or a pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _param(weights: Mapping[str, np.ndarray], layer: Mapping[str, Any], key: str, index: int) -> np.ndarray | None:
    name = layer.get(key)
    if name is None:
        return None
    if name not in weights:
        raise ModelSpecError(f"layer {index} ({layer.get('type')}): weight {name!r} is not in the weights file")
    return weights[name]


def _windows(x: np.ndarray, size: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) → (N, C, H', W', kh, kw) views of every window, H' = ⌊(H − kh)/s⌋ + 1."""
    if x.ndim != 4:
        raise ModelSpecError(f"a 2-D convolution or pooling needs (N, C, H, W) input, got shape {x.shape}")
    kh, kw = size
    if kh > x.shape[2] or kw > x.shape[3]:
        raise ModelSpecError(f"window {kh}×{kw} is larger than the input {x.shape[2]}×{x.shape[3]}")
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, :: stride[0], :: stride[1]]


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Any = 1, padding: Any = 0) -> np.ndarray:
    """y[n, f, i, j] = b[f] + Σ_{c,u,v} W[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v]."""
    ph, pw = _pair(padding, "conv2d padding")
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ModelSpecError(f"conv2d: input {x.shape} and weight {weight.shape} do not fit (NCHW, (F, C, kh, kw))")
    win = _windows(x, (weight.shape[2], weight.shape[3]), _pair(stride, "conv2d stride"))
    y = np.tensordot(win, weight, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(y)


def pool2d(x: np.ndarray, kind: str, size: Any, stride: Any = None, padding: Any = 0) -> np.ndarray:
    """y[n, c, i, j] = max or mean of x[n, c] over the window at (i·s, j·s) (padding: −∞ for max, 0 for mean)."""
    k = _pair(size, f"{kind} size")
    s = _pair(stride, f"{kind} stride") if stride is not None else k
    ph, pw = _pair(padding, f"{kind} padding")
    if ph or pw:
        fill = -np.inf if kind == "max" else 0.0
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    win = _windows(x, k, s)
    out = win.max(axis=(-2, -1)) if kind == "max" else win.mean(axis=(-2, -1))
    return np.ascontiguousarray(out.astype(x.dtype, copy=False))


def _reshape(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    try:
        return x.reshape((x.shape[0], *[int(d) for d in shape]))
    except ValueError as exc:
        raise ModelSpecError(f"cannot reshape samples of shape {x.shape[1:]} to {list(shape)}") from exc


def apply_layer(
    layer: Mapping[str, Any], weights: Mapping[str, np.ndarray], x: np.ndarray, index: int = 0
) -> np.ndarray:
    """One layer of the forward pass (see the module docstring for the layer types)."""
    kind = str(layer.get("type", "")).lower()
    if kind == "dense":
        w = _param(weights, layer, "weight", index)
        if w is None:
            raise ModelSpecError(f"layer {index} (dense) names no weight")
        if x.ndim != 2 or x.shape[1] != w.shape[0]:
            raise ModelSpecError(f"layer {index} (dense): input {x.shape} does not fit weight {w.shape} (in, units)")
        y = x @ w
        b = _param(weights, layer, "bias", index)
        if b is not None:
            y = y + b
        return apply_activation(layer.get("activation"), y)
    if kind == "conv2d":
        w = _param(weights, layer, "weight", index)
        if w is None:
            raise ModelSpecError(f"layer {index} (conv2d) names no weight")
        y = conv2d(x, w, _param(weights, layer, "bias", index), layer.get("stride", 1), layer.get("padding", 0))
        return apply_activation(layer.get("activation"), y)
    if kind in ("maxpool2d", "avgpool2d", "max_pool2d", "avg_pool2d"):
        size = layer.get("size", layer.get("kernel"))
        if size is None:
            raise ModelSpecError(f"layer {index} ({kind}) needs a size")
        mode = "max" if kind.startswith("max") else "avg"
        return pool2d(x, mode, size, layer.get("stride"), layer.get("padding", 0))
    if kind in ("global_avgpool2d", "global_avg_pool2d"):
        return x.mean(axis=(2, 3))
    if kind == "flatten":
        return x.reshape(x.shape[0], -1)
    if kind == "reshape":
        return _reshape(x, layer["shape"])
    if kind in ("batchnorm", "batch_norm", "batchnorm1d", "batchnorm2d"):
        mean, var = _param(weights, layer, "mean", index), _param(weights, layer, "var", index)
        if mean is None or var is None:
            raise ModelSpecError(f"layer {index} (batchnorm) needs 'mean' and 'var' weights")
        shape = (1, -1) + (1,) * (x.ndim - 2)
        eps = float(layer.get("eps", 1e-5))
        y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
        gamma, beta = _param(weights, layer, "gamma", index), _param(weights, layer, "beta", index)
        if gamma is not None:
            y = y * gamma.reshape(shape)
        if beta is not None:
            y = y + beta.reshape(shape)
        return y.astype(x.dtype, copy=False)
    if kind in ("layernorm", "layer_norm"):
        axes = tuple(range(x.ndim - int(layer.get("axes", 1)), x.ndim))
        mu = x.mean(axis=axes, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
        y = (x - mu) / np.sqrt(var + float(layer.get("eps", 1e-5)))
        gamma, beta = _param(weights, layer, "gamma", index), _param(weights, layer, "beta", index)
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta
        return y.astype(x.dtype, copy=False)
    if kind in ("dropout", "identity", "noise", "gaussian_noise"):
        return x
    if kind == "activation":
        return apply_activation(layer.get("activation"), x)
    if kind in ACTIVATIONS:
        return apply_activation({**layer, "type": kind}, x)
    raise ModelSpecError(f"layer {index}: unknown layer type {layer.get('type')!r}")


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
    size = int(np.prod(shape))
    if x.ndim >= 1 and x.shape and int(np.prod(x.shape[1:])) == size:
        return x.reshape((x.shape[0], *shape))
    return x


def forward(spec: Mapping[str, Any], weights: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The network of ``spec`` applied to the (already transformed) batch ``x``, before ``spec["output"]``."""
    layers = spec.get("layers")
    if not isinstance(layers, (list, tuple)):
        raise ModelSpecError("the model description needs a 'layers' list")
    x = _fit_sample_shape(x, spec.get("input_shape"))
    if any(isinstance(layer, Mapping) and "inputs" in layer for layer in layers):
        return _forward_graph(spec, weights, x)
    for i, layer in enumerate(layers):
        if not isinstance(layer, Mapping):
            raise ModelSpecError(f"layer {i} must be a mapping, got {layer!r}")
        x = apply_layer(layer, weights, x, i)
    return x


def _forward_graph(spec: Mapping[str, Any], weights: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """A DAG of named layers: each entry has ``name`` and ``inputs`` (``"input"`` is the data), merge
    layers ``add`` (y = Σ xᵢ) and ``concat`` (along a per-sample ``axis``) read several inputs;
    the result is the node ``spec["output_node"]`` (default: the last one)."""
    values: dict[str, np.ndarray] = {"input": x}
    last = "input"
    for i, layer in enumerate(spec["layers"]):
        name = str(layer.get("name", i))
        try:
            given = [values[str(s)] for s in layer.get("inputs", [last])]
        except KeyError as exc:
            raise ModelSpecError(f"layer {i} ({name}) reads {exc.args[0]!r} before it is computed") from None
        kind = str(layer.get("type", "")).lower()
        if kind == "add":
            out = given[0]
            for other in given[1:]:
                out = out + other
        elif kind == "concat":
            axis = int(layer.get("axis", -1))
            out = np.concatenate(given, axis=axis if axis < 0 else axis + 1)
        else:
            if len(given) != 1:
                raise ModelSpecError(f"layer {i} ({name}) takes one input, got {len(given)}")
            out = apply_layer(layer, weights, given[0], i)
        values[name] = out
        last = name
    output = str(spec.get("output_node") or last)
    if output not in values:
        raise ModelSpecError(f"the output node {output!r} is not a layer")
    return values[output]


def _final_activation(spec: Mapping[str, Any]) -> str | None:
    """The name of the activation the last layer ends with (None when it has none)."""
    layers = spec.get("layers") or []
    if not layers:
        return None
    last = layers[-1]
    kind = str(last.get("type", "")).lower()
    act = last.get("activation") if kind in ("dense", "conv2d", "activation") else kind
    if isinstance(act, Mapping):
        act = act.get("type")
    return str(act).lower() if act else None


def postprocess(spec: Mapping[str, Any], y: np.ndarray) -> np.ndarray:
    """``spec["output"]`` applied to the network output: identity, softmax, sigmoid or argmax (→ classes)."""
    mode = str(spec.get("output") or "identity").lower()
    if mode in ("identity", "raw", "logits", "values"):
        return y
    if mode in ("softmax", "probabilities"):
        return _softmax(y, -1)
    if mode == "sigmoid":
        return _sigmoid(y)
    if mode in ("argmax", "labels", "classes"):
        if y.ndim > 1 and y.shape[-1] > 1:
            idx = y.argmax(axis=-1)
        else:  # one output column: a logit (threshold 0) or, after a final sigmoid, a probability (0.5)
            threshold = spec.get("threshold")
            if threshold is None:
                threshold = 0.5 if _final_activation(spec) == "sigmoid" else 0.0
            idx = (y.reshape(len(y), -1)[:, 0] > float(threshold)).astype(np.int64)
        classes = spec.get("classes")
        return np.asarray(classes)[idx] if classes else idx.astype(np.int64)
    raise ModelSpecError(f"unknown output mode {mode!r} (use identity, softmax, sigmoid or argmax)")


# --------------------------------------------------------------------------------------------------
# input transforms
# --------------------------------------------------------------------------------------------------
def apply_transform(state: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """One fitted feature transform (``{"type", "params", "arrays", "input_shape"}``) applied to the batch x."""
    kind = str(state.get("type", "")).lower()
    params = dict(state.get("params") or {})
    arrays: Mapping[str, np.ndarray] = state.get("arrays") or {}

    def arr(*names: str) -> np.ndarray:
        for n in names:
            if n in arrays:
                return np.asarray(arrays[n]).astype(x.dtype, copy=False)
        raise ModelSpecError(f"transform {kind!r} lacks the array {names[0]!r}")

    if kind in _TARGET_TRANSFORMS:
        return x
    if kind in ("standardize", "standard"):
        return (x - arr("mean")) / arr("scale", "std")
    if kind == "minmax":
        out = (x - arr("minimum", "min")) / arr("range", "scale")
        return np.clip(out, 0, 1) if params.get("clip") else out
    if kind == "pca":
        flat = x.reshape(len(x), -1)
        return (flat - arr("mean")) @ arr("components").T
    if kind == "reshape":
        return _reshape(x, params.get("shape", state.get("shape", [])))
    if kind == "flatten":
        return x.reshape(len(x), -1)
    raise ModelSpecError(f"unknown input transform {kind!r}")


def apply_transforms(state: Mapping[str, Any] | None, x: np.ndarray) -> np.ndarray:
    """The fitted transform pipeline ``state`` (``{"input_shape", "transforms": [...]}``) applied to x."""
    if not state:
        return x
    x = _fit_sample_shape(x, state.get("input_shape"))
    for t in state.get("transforms", []):
        x = apply_transform(t, x)
    return x


def as_input_array(model_input: Any, dtype: Any = np.float32) -> np.ndarray:
    """``model_input`` (array, nested lists, pandas DataFrame or a one-entry dict of those) as an array."""
    if isinstance(model_input, Mapping):
        if len(model_input) != 1:
            raise ModelSpecError(f"expected one input tensor, got the keys {sorted(model_input)}")
        model_input = next(iter(model_input.values()))
    if hasattr(model_input, "to_numpy"):  # pandas DataFrame / Series
        model_input = model_input.to_numpy()
    x = np.asarray(model_input)
    if x.dtype == object:
        x = np.stack([np.asarray(v) for v in x.ravel()]).reshape(*x.shape, -1) if x.size else x.astype(dtype)
    x = x.astype(dtype, copy=False)
    return x[None] if x.ndim == 1 else x


def predict_array(
    spec: Mapping[str, Any],
    weights: Mapping[str, np.ndarray],
    transforms: Mapping[str, Any] | None,
    model_input: Any,
) -> np.ndarray:
    """transforms → forward → output on NumPy: what the logged model's ``predict`` returns."""
    dtype = np.dtype(spec.get("dtype", "float32"))
    x = as_input_array(model_input, dtype)
    x = apply_transforms(transforms, x).astype(dtype, copy=False)
    return postprocess(spec, forward(spec, weights, x))


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------
def save_weights(path: str | os.PathLike[str], weights: Mapping[str, Any]) -> None:
    """``weights`` (name → array) as an uncompressed ``.npz`` (no pickled objects)."""
    with open(path, "wb") as handle:
        np.savez(handle, **{str(k): np.asarray(v) for k, v in weights.items()})


def load_weights(path: str | os.PathLike[str], dtype: Any = None) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {k: archive[k].astype(dtype) if dtype is not None else archive[k] for k in archive.files}


def normalize_transforms_state(state: Any) -> dict[str, Any] | None:
    """A transform pipeline state as ``{"input_shape": [...], "transforms": [...]}`` (a bare list is accepted)."""
    if state is None:
        return None
    if isinstance(state, (list, tuple)):
        state = {"input_shape": [], "transforms": list(state)}
    if not isinstance(state, Mapping) or not isinstance(state.get("transforms", []), (list, tuple)):
        raise ModelSpecError("transforms state must be {'input_shape': [...], 'transforms': [...]} or a list")
    return {"input_shape": list(state.get("input_shape") or []), "transforms": list(state.get("transforms", []))}


def save_transforms(path: str | os.PathLike[str], state: Any) -> None:
    """The fitted transforms in the ``Pipeline.save`` layout: ``__meta__`` JSON plus ``<i>/<array>`` arrays."""
    norm = normalize_transforms_state(state) or {"input_shape": [], "transforms": []}
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"input_shape": norm["input_shape"], "transforms": []}
    for i, t in enumerate(norm["transforms"]):
        t_arrays = dict(t.get("arrays") or {})
        meta["transforms"].append(
            {
                "type": t.get("type"),
                "params": dict(t.get("params") or {}),
                "input_shape": list(t.get("input_shape") or []),
                "arrays": list(t_arrays),
            }
        )
        for k, v in t_arrays.items():
            arrays[f"{i}/{k}"] = np.asarray(v)
    with open(path, "wb") as handle:
        np.savez(handle, __meta__=np.array(json.dumps(meta)), **arrays)


def load_transforms(path: str | os.PathLike[str]) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["__meta__"]))
        transforms = [
            {**t, "arrays": {k: archive[f"{i}/{k}"] for k in t.get("arrays", [])}}
            for i, t in enumerate(meta.get("transforms", []))
        ]
    return {"input_shape": meta.get("input_shape", []), "transforms": transforms}


def write_artifacts(
    directory: str | os.PathLike[str],
    weights: Mapping[str, Any],
    spec: Mapping[str, Any],
    transforms_state: Any = None,
) -> dict[str, str]:
    """Write the model files into ``directory``; returns the pyfunc ``artifacts`` mapping (name → path)."""
    directory = os.fspath(directory)
    description = {"format": MODEL_FORMAT, "dtype": "float32", "output": "identity", **dict(spec)}
    paths = {"weights": os.path.join(directory, WEIGHTS_FILE), "model": os.path.join(directory, MODEL_FILE)}
    save_weights(paths["weights"], weights)
    with open(paths["model"], "w", encoding="utf-8") as handle:
        json.dump(description, handle, indent=2, sort_keys=True, default=_json_default)
    if transforms_state is not None:
        paths["transforms"] = os.path.join(directory, TRANSFORMS_FILE)
        save_transforms(paths["transforms"], transforms_state)
    return paths


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"the model description holds a value JSON cannot store: {value!r}")


def load_artifacts(artifacts: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any] | None]:
    """(spec, weights, transforms) read back from the files :func:`write_artifacts` wrote."""
    with open(artifacts["model"], encoding="utf-8") as handle:
        spec = json.load(handle)
    fmt = spec.get("format", MODEL_FORMAT)
    if str(fmt).split("/")[0] != MODEL_FORMAT.split("/")[0]:
        raise ModelSpecError(f"unsupported model format {fmt!r}")
    weights = load_weights(artifacts["weights"], np.dtype(spec.get("dtype", "float32")))
    transforms = load_transforms(artifacts["transforms"]) if artifacts.get("transforms") else None
    return spec, weights, transforms


# --------------------------------------------------------------------------------------------------
# the pyfunc
# --------------------------------------------------------------------------------------------------
class MathflowNumpyModel(mlflow.pyfunc.PythonModel):
    """``predict(x)`` = output(forward(transforms(x))) in NumPy, from ``weights.npz`` / ``model.json``."""

    def __init__(
        self,
        spec: Mapping[str, Any] | None = None,
        weights: Mapping[str, np.ndarray] | None = None,
        transforms: Mapping[str, Any] | None = None,
    ):
        self.spec = dict(spec) if spec is not None else None
        self.weights = dict(weights) if weights is not None else None
        self.transforms = normalize_transforms_state(transforms)

    def load_context(self, context: Any) -> None:
        self.spec, self.weights, self.transforms = load_artifacts(context.artifacts)

    def predict(self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None) -> np.ndarray:
        # An np.ndarray hint tells MLflow to take the input schema from the input example.
        if self.spec is None or self.weights is None:
            raise ModelSpecError("the model was used before its artifacts were loaded")
        return predict_array(self.spec, self.weights, self.transforms, model_input)


set_model(MathflowNumpyModel())
