"""A trained model for prediction: its export, mathflow's own reference prediction, files in and out.

    description, constants = export_model(model, pipeline, output="argmax", threshold=0.0)
    run.log_model(constants, description, input_example=x[:5])

The export is one program of primitive ops (:mod:`mathflow.export`): the pipeline's feature
transforms, then every layer's own ``export``. :func:`predict_with_model` gives what the logged
pyfunc gives, computed by mathflow itself (the reference the tests compare the pyfunc against);
:func:`open_run_model`, :func:`read_input` and the writers serve ``mathflow predict``::

    model = open_run_model(run_id)
    labels = model.predict(read_input("x.csv", model.column_names))   # class labels (or values)
    probabilities = model.predict(x, proba=True)                      # (n, classes)

A model trained on a CSV file takes rows in that file's own form (its columns by name, categorical
ones as text, the target column optional): the logged model encodes them itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from mathflow.errors import MathflowError


def export_model(
    model: Any,
    pipeline: Any = None,
    *,
    output: str = "identity",
    threshold: float | None = None,
    classes: list[Any] | None = None,
    expects: str | None = None,
    columns: list[dict[str, Any]] | None = None,
    target: str | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(description, constants)`` of a built model (after ``pipeline``'s fitted feature transforms).

    A classifier (``output="argmax"``) also records what its output is, ``expects``: ``"logits"`` or
    ``"probabilities"`` (the loss's ``expects``; by default read off the decision threshold, 0 on
    logits), so that ``--proba`` knows whether a softmax/sigmoid is still to be applied.

    ``columns`` (with ``target``) is the raw encoding of a CSV data set (its ``metadata``): the
    model then takes rows in the file's own form and encodes them itself (see
    :mod:`mathflow.export.runtime`); it is left out when it does not fit the program's input."""
    from mathflow.export.model import describe, export_program
    from mathflow.export.runtime import encoded_names

    program = export_program(model, pipeline)
    description = describe(program, output=output, threshold=threshold, classes=classes)
    if output == "argmax":
        description["expects"] = expects or _expects_from_threshold(threshold)
    if columns and len(encoded_names(columns)) == math.prod(program.input_shape):
        description["columns"] = [dict(c) for c in columns]
        if target:
            description["target"] = str(target)
    return description, dict(program.constants)


def _expects_from_threshold(threshold: float | None) -> str:
    """What a classifier outputs, judged by its one-unit decision threshold: 0 on logits, 0.5 on probabilities."""
    return "probabilities" if threshold is not None and float(threshold) == 0.5 else "logits"


def class_labels(names: Any) -> list[Any] | None:
    """The labels a classifier should return for a data set's ``class_names``: None when the names
    are just the indices ("0", "1", ...), integers when every name is one, else the names."""
    if not names:
        return None
    texts = [str(n) for n in names]
    if texts == [str(i) for i in range(len(texts))]:
        return None
    if all(_is_int_text(t) for t in texts):
        return [int(t) for t in texts]
    return texts


def _is_int_text(text: str) -> bool:
    """Whether ``text`` is an integer written canonically ("3", "-1"; not "03" or "1.0")."""
    try:
        return str(int(text)) == text
    except ValueError:
        return False


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


INPUT_SUFFIXES = (".npy", ".npz", ".csv")
OUTPUT_FORMATS = ("csv", "npy", "json")
NPZ_KEYS = ("x", "X", "features", "inputs")
"""The array an ``.npz`` of several arrays is read from (the first key present)."""


def read_input(path: str | os.PathLike[str], columns: Sequence[str] = ()) -> np.ndarray | dict[str, list[str]]:
    """Inputs from a ``.npy``, an ``.npz`` (its only array, or the one named ``x``) or a numeric
    ``.csv`` (one sample a row, an optional header row); any int or float dtype.

    For a model that takes raw ``columns`` (one trained on a CSV file), a ``.csv`` with a header row
    is read as a table: column name → the texts of its cells, which the model encodes itself."""
    file = os.fspath(path)
    if not os.path.isfile(file):
        raise MathflowError(f"input file not found: {file}")
    suffix = os.path.splitext(file)[1].lower()
    if suffix not in INPUT_SUFFIXES:
        raise MathflowError(f"input file {file} must end in {', '.join(INPUT_SUFFIXES)}")
    if suffix == ".csv":
        return _read_csv(file, bool(columns))
    try:
        loaded = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise MathflowError(f"cannot read {file}: {_first_line(exc)}") from None
    x = _npz_array(file, loaded) if suffix == ".npz" else loaded
    return _numeric(file, x)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _npz_array(file: str, archive: Any) -> np.ndarray:
    """The inputs in an ``.npz``: its only array, else the first of :data:`NPZ_KEYS` it holds."""
    with archive:
        names = list(archive.files)
        if len(names) == 1:
            return archive[names[0]]
        for key in NPZ_KEYS:
            if key in names:
                return archive[key]
    raise MathflowError(
        f"{file} holds the arrays {', '.join(names) or '(none)'}; which are the inputs?",
        suggestion="save the inputs alone, or under the key 'x'",
    )


def _numeric(file: str, x: np.ndarray) -> np.ndarray:
    """``x`` when it holds numbers (bool, int or float), else a one-line error."""
    if x.dtype.kind not in "biuf":
        raise MathflowError(f"{file} holds {x.dtype} values; the model takes numbers (int or float)")
    if x.ndim == 0:
        raise MathflowError(f"{file} holds a single number; the model takes one sample per row")
    return x


def _read_csv(file: str, table: bool = False) -> np.ndarray | dict[str, list[str]]:
    """The numeric rows of a CSV file (float64); a first row that is not numeric is a header. With
    ``table``, a file with a header row is read as column name → cell texts instead."""
    import csv

    with open(file, encoding="utf-8-sig", newline="") as handle:
        rows = [(number, row) for number, row in enumerate(csv.reader(handle), 1) if any(c.strip() for c in row)]
    if rows and not _all_numbers(rows[0][1]):
        if table:
            return _csv_table(file, rows)
        rows = rows[1:]
    if not rows:
        raise MathflowError(f"{file} holds no data rows")
    width = len(rows[0][1])
    values = []
    for number, row in rows:
        if len(row) != width:
            raise MathflowError(f"{file} line {number}: {_count(len(row))}, the first data row has {width}")
        values.append([_cell(file, number, cell, table) for cell in row])
    return np.asarray(values, dtype=np.float64)


def _csv_table(file: str, rows: list[tuple[int, list[str]]]) -> dict[str, list[str]]:
    """Column name → stripped cell texts of the rows after the header row ``rows[0]``."""
    header = [name.strip() for name in rows[0][1]]
    body = rows[1:]
    if not body:
        raise MathflowError(f"{file} holds no data rows after its header row")
    for number, row in body:
        if len(row) != len(header):
            raise MathflowError(f"{file} line {number}: {_count(len(row))}, the header row names {len(header)} columns")
    return {name: [row[j].strip() for _, row in body] for j, name in enumerate(header)}


def _count(n: int, noun: str = "value") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _all_numbers(row: list[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _cell(file: str, number: int, cell: str, table: bool = False) -> float:
    try:
        return float(cell)
    except ValueError:
        hint = "give the file a header row naming the model's columns" if table else "the model takes numbers"
        raise MathflowError(f"{file} line {number}: {cell.strip()!r} is not a number", suggestion=hint) from None


def output_format(fmt: str | None, path: str | None) -> str:
    """The output format: ``fmt`` when given, else the suffix of ``path``, else csv (stdout)."""
    if fmt:
        if fmt not in OUTPUT_FORMATS:
            raise MathflowError(f"unknown output format {fmt!r}", suggestion=f"use one of: {', '.join(OUTPUT_FORMATS)}")
        chosen = fmt
    elif path:
        chosen = os.path.splitext(path)[1].lower().lstrip(".")
        if chosen not in OUTPUT_FORMATS:
            raise MathflowError(
                f"cannot tell the output format of {path}",
                suggestion=f"end it in .csv, .npy or .json, or pass --format {'|'.join(OUTPUT_FORMATS)}",
            )
    else:
        chosen = "csv"
    if chosen == "npy" and not path:
        raise MathflowError("the npy format needs a file", suggestion="pass --output predictions.npy")
    return chosen


def _cell_text(value: Any) -> str:
    return f"{value:.8g}" if isinstance(value, (float, np.floating)) else str(value)


def write_csv(stream: TextIO, predictions: np.ndarray, columns: Sequence[str] | None = None) -> None:
    """One row per sample (a header row of ``columns`` when given); floats with 8 significant digits."""
    import csv

    writer = csv.writer(stream, lineterminator="\n")
    if columns:
        writer.writerow([str(c) for c in columns])
    arr = np.asarray(predictions)
    for row in arr.reshape(len(arr), -1):
        writer.writerow([_cell_text(v) for v in row])


def json_text(predictions: np.ndarray, columns: Sequence[str] | None = None) -> str:
    """``{"predictions": [...]}`` (the MLflow scoring server's shape), with ``"columns"`` for probabilities."""
    import json

    data: dict[str, Any] = {"predictions": _json_ready(np.asarray(predictions))}
    if columns:
        data = {"columns": [str(c) for c in columns], **data}
    return json.dumps(data) + "\n"


def _json_ready(arr: np.ndarray) -> Any:
    """``arr`` as nested lists; float32 values as their shortest decimal (0.1, not 0.10000000149011612)."""
    if arr.dtype != np.float32:
        return arr.tolist()
    shortest = np.asarray([float(str(v)) for v in arr.ravel()], dtype=object)
    return shortest.reshape(arr.shape).tolist()


def write_output(
    path: str | os.PathLike[str], predictions: np.ndarray, fmt: str | None = None, columns: Sequence[str] | None = None
) -> None:
    """Predictions to a file in ``fmt`` (default: by the suffix; csv when the suffix says nothing)."""
    file = os.fspath(path)
    chosen = fmt or {".npy": "npy", ".json": "json"}.get(os.path.splitext(file)[1].lower(), "csv")
    arr = np.asarray(predictions)
    if chosen == "npy":
        with open(file, "wb") as handle:
            np.save(handle, arr, allow_pickle=False)
        return
    with open(file, "w", encoding="utf-8", newline="") as handle:
        if chosen == "json":
            handle.write(json_text(arr, columns))
        else:
            write_csv(handle, arr, columns)


def load_run_model(run_id: str, tracking_uri: str | None = None) -> Any:
    """The pyfunc model logged by run ``run_id``."""
    from mathflow.tracking.run import load_model
    from mathflow.tracking.store import client, resolve_tracking_uri, run_of, sqlite_path

    uri = resolve_tracking_uri(tracking_uri)
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise MathflowError(f"no run {run_id}: there is no MLflow store at {db}", suggestion="pass --tracking-uri")
    run = run_of(client(uri), run_id, uri)
    try:
        return load_model(f"runs:/{run_id}/model", uri)
    except MathflowError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow raises many types for a missing model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MathflowError(
            f"cannot load the model of run {run_id} ({run.info.status}): {first}",
            suggestion=None if run.info.status == "FINISHED" else "a run that did not finish may have logged no model",
        ) from None


@dataclass
class RunModel:
    """The model logged by a run, ready for raw inputs: ``predict(x)`` gives what the logged pyfunc
    gives (class labels for a classifier), ``predict(x, proba=True)`` the class probabilities."""

    run_id: str
    pyfunc: Any
    description: dict[str, Any]
    constants: dict[str, np.ndarray]
    sample_shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def is_classifier(self) -> bool:
        return self.description.get("output") == "argmax"

    @property
    def column_names(self) -> list[str]:
        """The raw columns the model takes by name (a model trained on a CSV file), else []."""
        from mathflow.export.runtime import column_names

        return column_names(self.description)

    def class_columns(self, count: int) -> list[str]:
        """Names of the ``count`` probability columns: the classes, else their indices."""
        from mathflow.export.runtime import class_columns

        return class_columns(self.description, count)

    def fit_input(self, x: Any, source: str = "the input") -> Any:
        """``x`` as a batch of the per-sample shape and dtype the model takes (flat rows of the
        right size are reshaped, one unbatched sample gets a batch axis); else a one-line error.
        A model with raw columns takes a table (column → values) as it is."""
        if self.column_names:
            return x if isinstance(x, Mapping) else np.asarray(x)
        x = np.asarray(x)
        shape, size = self.sample_shape, math.prod(self.sample_shape)
        if x.ndim == 1 and size != 1:  # one sample (a model of one feature takes a column of samples)
            x = x[None]
        if x.ndim == 0 or math.prod(x.shape[1:]) != size:
            raise MathflowError(self._shape_problem(x, source), suggestion=self._shape_hint())
        return x.reshape((len(x), *shape)).astype(self.dtype, copy=False)

    def _shape_problem(self, x: np.ndarray, source: str) -> str:
        got = math.prod(x.shape[1:]) if x.ndim > 0 else 1
        want = math.prod(self.sample_shape)
        return (
            f"{source} has {_count(got)} per sample (shape {tuple(x.shape)}); the model of run {self.run_id} "
            f"takes {_count(want)} per sample (per-sample shape {self.sample_shape})"
        )

    def _shape_hint(self) -> str:
        if len(self.sample_shape) == 1:
            return f"give {self.sample_shape[0]} feature columns per row, in the order of the training data"
        return f"give arrays of shape (n, {', '.join(map(str, self.sample_shape))}) or flat rows of that size"

    def predict(
        self, x: Any, proba: bool = False, source: str = "the input", allow_nonfinite: bool = False
    ) -> np.ndarray:
        """Predictions for the raw inputs ``x``: the logged pyfunc's (labels or values), or class
        probabilities. The input is checked first (shape, columns, categories, NaN/±inf unless
        ``allow_nonfinite``), so that a bad one is a one-line error naming ``source``."""
        from mathflow.export import runtime

        batch = self.fit_input(x, source)
        if proba and not self.is_classifier:
            raise MathflowError(
                f"--proba needs a classifier; the model of run {self.run_id} outputs values",
                suggestion="leave out --proba",
            )
        try:
            runtime.model_input_array(self.description, batch, allow_nonfinite)
        except runtime.ProgramError as exc:
            raise MathflowError(f"{source}: {exc}") from None
        if proba:
            options = {"proba": True, "allow_nonfinite": allow_nonfinite}
            return runtime.predict_array(self.description, self.constants, batch, options)
        return np.asarray(self.pyfunc.predict(batch, params=self._params(allow_nonfinite=allow_nonfinite)))

    def _params(self, **values: bool) -> dict[str, bool] | None:
        """The MLflow params among ``values`` that differ from their defaults and that the logged
        model declares (a model logged before it took params gets none)."""
        try:
            schema = self.pyfunc.metadata.get_params_schema()
        except Exception:  # noqa: BLE001 - an old MLmodel has no params schema
            schema = None
        declared = {spec.name for spec in schema.params} if schema is not None else set()
        from mathflow.export.runtime import PARAMS

        chosen = {k: v for k, v in values.items() if k in declared and v != PARAMS[k]}
        return chosen or None


def open_run_model(run_id: str, tracking_uri: str | None = None) -> RunModel:
    """The model logged by run ``run_id`` with its description and the input it takes (the
    input schema when MLflow recorded one, else the program's input shape and dtype)."""
    pyfunc = load_run_model(run_id, tracking_uri)
    logged = pyfunc.unwrap_python_model()
    description = dict(logged.description)
    program = description["program"]
    shape = tuple(int(d) for d in program["input_shape"])
    dtype = np.dtype(program.get("dtype", "float32"))
    schema = _tensor_schema(pyfunc)
    if schema is not None:
        shape, dtype = schema
    return RunModel(run_id, pyfunc, description, dict(logged.constants), shape, dtype)


def _tensor_schema(pyfunc: Any) -> tuple[tuple[int, ...], np.dtype] | None:
    """(per-sample shape, dtype) of the model's tensor input schema; None without one."""
    try:
        schema = pyfunc.metadata.get_input_schema()
    except Exception:  # noqa: BLE001 - an old or odd MLmodel simply has no usable schema
        return None
    if schema is None or not schema.is_tensor_spec() or len(schema.inputs) != 1:
        return None
    spec = schema.inputs[0]
    shape = tuple(int(d) for d in spec.shape[1:])
    if not shape or min(shape) < 1:
        return None
    return shape, np.dtype(spec.type)


def serve_command(
    run_id: str, tracking_uri: str | None = None, port: int = 5000, host: str = "127.0.0.1"
) -> tuple[list[str], dict[str, str], str]:
    """``(argv, env, body)`` of MLflow's scoring server (``mlflow models serve``, local environment,
    one worker) for the model of run ``run_id``, with the store's tracking URI in the environment,
    and the shape of a request body for it (see :func:`request_body`).

    The model is loaded here first, so a missing run or model is a one-line error, not a server
    that dies while starting."""
    import sys

    from mathflow.tracking.store import resolve_tracking_uri

    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise MathflowError(f"serve port must be an integer in 1..65535, got {port!r}")
    uri = resolve_tracking_uri(tracking_uri)
    description = load_run_model(run_id, uri).unwrap_python_model().description
    argv = [sys.executable, "-m", "mlflow", "models", "serve", "--model-uri", f"runs:/{run_id}/model"]
    argv += ["--env-manager", "local", "--host", host, "--port", str(port), "--workers", "1"]
    return argv, {**os.environ, "MLFLOW_TRACKING_URI": uri}, request_body(description)


def request_body(description: Mapping[str, Any]) -> str:
    """The shape of a scoring request for the model: raw rows by column name for a model trained on a
    CSV file, else arrays (``...`` stands for the values)."""
    import json

    from mathflow.export.runtime import column_names

    names = column_names(description)
    if names:
        return '{"dataframe_split": {"columns": ' + json.dumps(names) + ', "data": [[...], [...]]}}'
    return '{"inputs": [[...], [...]]}'


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
    "OUTPUT_FORMATS",
    "RunModel",
    "class_labels",
    "json_text",
    "load_run_model",
    "open_run_model",
    "output_format",
    "output_mode",
    "predict_with_model",
    "read_input",
    "request_body",
    "serve_command",
    "write_csv",
    "write_output",
]
