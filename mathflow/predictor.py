"""A built mathflow model as plain data: the layer list of the NumPy pyfunc plus its weights.

    spec, weights = export_model(model, output="argmax", threshold=0.0)
    run.log_model(weights, spec, pipeline.state(), input_example=x[:5])

The description follows ``mathflow.tracking.pyfunc_model``: one entry per layer, weights named as in
``model.state_dict()`` (``"dense_1.weight"``). A non-sequential model (``GraphModel``) exports every
node with its ``name`` and ``inputs``, and merge nodes as ``add`` / ``concat``.

:func:`predict_with_model` gives what the logged pyfunc gives, computed by mathflow itself (the
reference the tests compare the pyfunc against); :func:`load_run_model` and :func:`read_input` serve
``mathflow predict``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from mathflow.errors import MathflowError

#: Layer types exported as they are (the pyfunc knows them by the same name, no options).
_PLAIN = frozenset({"flatten", "global_avgpool2d", "sigmoid", "tanh", "relu", "gelu", "softplus", "identity"})


def _activation(value: Any) -> Any:
    """A layer's ``activation`` option as the pyfunc reads it (a name, a mapping or None)."""
    if value is None or isinstance(value, (str, Mapping)):
        return dict(value) if isinstance(value, Mapping) else value
    return getattr(value, "registry_name", str(value))


def layer_entry(layer: Any, prefix: str) -> dict[str, Any]:
    """The pyfunc entry of one layer whose parameters are keyed ``<prefix><param>``."""
    kind = str(getattr(layer, "registry_name", type(layer).__name__)).lower()
    params = set(getattr(layer, "_param_names", [])) | set(getattr(layer, "_buffer_names", []))

    def key(name: str) -> str | None:
        return prefix + name if name in params else None

    if kind == "dense":
        return {
            "type": "dense",
            "weight": key("weight"),
            "bias": key("bias"),
            "activation": _activation(layer.activation),
        }
    if kind == "conv2d":
        return {
            "type": "conv2d",
            "weight": key("weight"),
            "bias": key("bias"),
            "stride": int(layer.stride),
            "padding": [int(p) for p in layer._pad],
            "activation": _activation(layer.activation),
        }
    if kind in ("maxpool2d", "avgpool2d"):
        return {"type": kind, "size": list(layer._size), "stride": list(layer._stride)}
    if kind == "reshape":
        return {"type": "reshape", "shape": [int(d) for d in layer.get_config()["shape"]]}
    if kind == "dropout":
        return {"type": "dropout"}
    if kind == "batchnorm":
        return {
            "type": "batchnorm",
            "mean": key("running_mean"),
            "var": key("running_var"),
            "gamma": key("gamma"),
            "beta": key("beta"),
            "eps": float(layer.eps),
        }
    if kind == "leaky_relu":
        return {"type": "leaky_relu", "negative_slope": float(layer.negative_slope)}
    if kind == "elu":
        return {"type": "elu", "alpha": float(getattr(layer, "alpha", 1.0))}
    if kind == "softmax":
        return {"type": "softmax", "axis": int(getattr(layer, "axis", -1))}
    if kind == "add":
        return {"type": "add"}
    if kind == "concat":
        return {"type": "concat", "axis": int(layer.axis)}
    if kind in _PLAIN:
        return {"type": kind}
    raise MathflowError(f"export: layer type {kind!r} cannot be exported to the NumPy model yet")


def export_model(
    model: Any,
    *,
    input_shape: Any = None,
    output: str = "identity",
    threshold: float | None = None,
    classes: list[Any] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(predictor_spec, weights)`` of a built ``Sequential`` or ``GraphModel``."""
    weights = {k: np.asarray(v, dtype=np.float32) for k, v in model.state_dict().items()}
    spec: dict[str, Any] = {"output": output, "dtype": "float32"}
    if input_shape is not None:
        spec["input_shape"] = [int(d) for d in input_shape]
    if threshold is not None:
        spec["threshold"] = float(threshold)
    if classes:
        spec["classes"] = list(classes)
    nodes = getattr(model, "nodes", None)
    if nodes is not None:  # a DAG of named layers
        layers = []
        for name, layer, inputs in nodes:
            entry = layer_entry(layer, f"{name}.")
            layers.append({**entry, "name": name, "inputs": list(inputs)})
        spec["layers"] = layers
        spec["output_node"] = model.output
    else:
        children = model.named_children() if hasattr(model, "named_children") else []
        if not children:
            children = [("", model)]
        spec["layers"] = [layer_entry(layer, f"{key}." if key else "") for key, layer in children]
    return spec, weights


def output_mode(task: str, loss: Any) -> tuple[str, float | None]:
    """How the exported model post-processes its output: class labels for classification
    (``argmax``, with the loss's decision threshold for one output unit), raw values otherwise."""
    if task != "classification":
        return "identity", None
    from mathflow.train import binary_threshold

    return "argmax", binary_threshold(loss)


def predict_with_model(model: Any, pipeline: Any, x: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """mathflow's own prediction for raw inputs ``x``: the fitted transforms, the model in evaluation
    mode, then the output mode of ``spec`` (what the logged pyfunc returns)."""
    from mathflow.autodiff.mode import no_grad
    from mathflow.autodiff.tensor import Tensor
    from mathflow.backend import get_backend, to_numpy
    from mathflow.tracking.pyfunc_model import postprocess

    xt = pipeline.transform_x(np.asarray(x, dtype=np.float32))
    model.eval()
    with no_grad():
        out = to_numpy(model(Tensor._wrap(get_backend().asarray(np.asarray(xt, dtype=np.float32)))).data)
    return postprocess(spec, out)


def read_input(path: str | os.PathLike[str]) -> np.ndarray:
    """Inputs from a ``.npy`` file or a headerless-or-headed numeric ``.csv`` file (one sample a row)."""
    file = os.fspath(path)
    if not os.path.isfile(file):
        raise MathflowError(f"input file not found: {file}")
    if file.endswith(".npy"):
        return np.load(file, allow_pickle=False)
    if file.endswith(".csv"):
        with open(file, encoding="utf-8") as handle:
            first = handle.readline()
        try:
            [float(v) for v in first.strip().split(",") if v.strip()]
            skip = 0
        except ValueError:
            skip = 1
        data = np.loadtxt(file, delimiter=",", skiprows=skip, dtype=np.float32, ndmin=2)
        return data
    raise MathflowError(f"input file {file} must end in .npy or .csv")


def write_output(path: str | os.PathLike[str], predictions: np.ndarray) -> None:
    """Predictions to ``.npy`` or ``.csv`` (by the suffix)."""
    file = os.fspath(path)
    arr = np.asarray(predictions)
    if file.endswith(".npy"):
        np.save(file, arr)
    else:
        np.savetxt(file, arr.reshape(len(arr), -1), delimiter=",", fmt="%.8g")


def load_run_model(run_id: str, tracking_uri: str | None = None) -> Any:
    """The pyfunc model logged by run ``run_id``."""
    from mathflow.tracking.run import load_model
    from mathflow.tracking.store import ensure_store, resolve_tracking_uri, sqlite_path

    uri = resolve_tracking_uri(tracking_uri)
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise MathflowError(f"no run {run_id}: there is no MLflow store at {db}", suggestion="pass --tracking-uri")
    ensure_store(uri)
    try:
        return load_model(f"runs:/{run_id}/model", uri)
    except MathflowError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow raises many types for a missing run/model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MathflowError(f"cannot load the model of run {run_id}: {first}") from None


__all__ = [
    "export_model",
    "layer_entry",
    "load_run_model",
    "output_mode",
    "predict_with_model",
    "read_input",
    "write_output",
]
