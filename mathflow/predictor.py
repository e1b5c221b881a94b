"""A trained model for prediction: its export, mathflow's own reference prediction, files in and out.

    description, constants = export_model(model, pipeline, output="argmax", threshold=0.0)
    run.log_model(constants, description, input_example=x[:5])

The export is one program of primitive ops (:mod:`mathflow.export`): the pipeline's feature
transforms, then every layer's own ``export``. :func:`predict_with_model` gives what the logged
pyfunc gives, computed by mathflow itself (the reference the tests compare the pyfunc against);
:func:`load_run_model` and :func:`read_input` serve ``mathflow predict``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from mathflow.errors import MathflowError


def export_model(
    model: Any,
    pipeline: Any = None,
    *,
    output: str = "identity",
    threshold: float | None = None,
    classes: list[Any] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(description, constants)`` of a built model (after ``pipeline``'s fitted feature transforms)."""
    from mathflow.export.model import describe, export_program

    program = export_program(model, pipeline)
    return describe(program, output=output, threshold=threshold, classes=classes), dict(program.constants)


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
    from mathflow.export.runtime import postprocess

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


EXPORT_FORMATS = ("onnx",)


def export_run(run_id: str, output: str | os.PathLike[str], fmt: str = "onnx", tracking_uri: str | None = None) -> str:
    """Write the model logged by run ``run_id`` to ``output`` in ``fmt`` (``onnx``: checked by the
    onnx checker); returns the path written."""
    if fmt not in EXPORT_FORMATS:
        raise MathflowError(f"unknown export format {fmt!r}", suggestion=f"use one of: {', '.join(EXPORT_FORMATS)}")
    from mathflow.export.onnx import save_onnx
    from mathflow.export.program import Program

    logged = load_run_model(run_id, tracking_uri).unwrap_python_model()
    program = Program.from_data(logged.description["program"], logged.constants)
    return save_onnx(program, output)


__all__ = [
    "EXPORT_FORMATS",
    "export_model",
    "export_run",
    "load_run_model",
    "output_mode",
    "predict_with_model",
    "read_input",
    "write_output",
]
