"""The pieces of ``mathflow predict`` without a store: reading inputs, class labels, probabilities,
output formats."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from mathflow.errors import MathflowError
from mathflow.export import runtime
from mathflow.predictor import (
    RunModel,
    class_labels,
    json_text,
    output_format,
    read_input,
    write_csv,
    write_output,
)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8])
def test_read_npy_of_any_numeric_dtype(tmp_path: Path, dtype: type) -> None:
    x = (np.arange(12).reshape(3, 4) % 7).astype(dtype)
    np.save(tmp_path / "x.npy", x)
    got = read_input(tmp_path / "x.npy")
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, x)


def test_read_npz_single_array_or_x(tmp_path: Path) -> None:
    np.savez(tmp_path / "one.npz", data=np.ones((2, 3)))
    np.savez(tmp_path / "two.npz", x=np.zeros((2, 3)), y=np.ones(2))
    np.savez(tmp_path / "odd.npz", a=np.zeros(2), b=np.ones(2))
    assert read_input(tmp_path / "one.npz").sum() == 6
    assert read_input(tmp_path / "two.npz").sum() == 0
    with pytest.raises(MathflowError, match="holds the arrays a, b"):
        read_input(tmp_path / "odd.npz")


def test_read_csv_with_and_without_header(tmp_path: Path) -> None:
    (tmp_path / "plain.csv").write_text("1,2\n3,4.5\n\n")
    (tmp_path / "named.csv").write_text('"width","height"\n1,2\n3,4.5\n')
    for name in ("plain.csv", "named.csv"):
        np.testing.assert_array_equal(read_input(tmp_path / name), [[1, 2], [3, 4.5]])
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(MathflowError, match="line 2: 1 value, the first data row has 2"):
        read_input(tmp_path / "ragged.csv")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(MathflowError, match="no data rows"):
        read_input(tmp_path / "empty.csv")


def test_read_input_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(MathflowError, match="not found"):
        read_input(tmp_path / "absent.npy")
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(MathflowError, match=r"\.npy, \.npz, \.csv"):
        read_input(tmp_path / "x.txt")
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(MathflowError, match="takes numbers"):
        read_input(tmp_path / "s.npy")


def test_class_labels() -> None:
    assert class_labels(None) is None
    assert class_labels(["0", "1", "2"]) is None  # the indices are the labels
    assert class_labels(["1", "2", "3"]) == [1, 2, 3]
    assert class_labels(["-1", "1"]) == [-1, 1]
    assert class_labels(["01", "2"]) == ["01", "2"]
    assert class_labels(["setosa", "virginica"]) == ["setosa", "virginica"]


def test_output_format() -> None:
    assert output_format(None, None) == "csv"
    assert output_format("json", None) == "json"
    assert output_format(None, "p.NPY") == "npy"
    assert output_format("csv", "p.txt") == "csv"
    with pytest.raises(MathflowError, match="needs a file"):
        output_format("npy", None)
    with pytest.raises(MathflowError, match="cannot tell"):
        output_format(None, "p.txt")


def test_probabilities_respect_what_the_model_outputs() -> None:
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    soft = runtime.postprocess({"output": "proba", "expects": "logits"}, logits)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(soft[1], [1 / 3] * 3, rtol=1e-6)
    given = np.array([[0.2, 0.8]], dtype=np.float32)
    np.testing.assert_array_equal(runtime.postprocess({"output": "proba", "expects": "probabilities"}, given), given)
    one = np.array([[0.0], [0.25]], dtype=np.float32)
    sigma = 1 / (1 + np.exp(-0.25))
    np.testing.assert_allclose(
        runtime.postprocess({"output": "proba"}, one), [[0.5, 0.5], [1 - sigma, sigma]], rtol=1e-6
    )
    np.testing.assert_allclose(
        runtime.postprocess({"output": "proba", "expects": "probabilities"}, one), [[1.0, 0.0], [0.75, 0.25]]
    )


def test_writers() -> None:
    stream = io.StringIO()
    write_csv(stream, np.array(["a,b", "c"]))
    assert stream.getvalue() == '"a,b"\nc\n'
    stream = io.StringIO()
    write_csv(stream, np.array([[0.1, 0.9]], dtype=np.float32), columns=["no", "yes"])
    assert stream.getvalue() == "no,yes\n0.1,0.89999998\n"
    assert json.loads(json_text(np.array([[0.1, 0.9]], dtype=np.float32), ["no", "yes"])) == {
        "columns": ["no", "yes"],
        "predictions": [[0.1, 0.9]],
    }
    assert json.loads(json_text(np.array([1, 2]))) == {"predictions": [1, 2]}


def test_write_output_by_suffix(tmp_path: Path) -> None:
    labels = np.array(["x", "y"])
    write_output(tmp_path / "p.npy", labels)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), labels)
    write_output(tmp_path / "p.json", labels)
    assert json.loads((tmp_path / "p.json").read_text()) == {"predictions": ["x", "y"]}
    write_output(tmp_path / "p.csv", labels)
    assert (tmp_path / "p.csv").read_text() == "x\ny\n"


def _model(shape: tuple[int, ...]) -> RunModel:
    return RunModel("r1", None, {"output": "argmax"}, {}, shape, np.dtype(np.float32))


def test_fit_input_reshapes_casts_and_names_the_expected_width() -> None:
    images = _model((1, 2, 2))
    got = images.fit_input(np.arange(8).reshape(2, 4))  # flat int rows → float32 images
    assert got.shape == (2, 1, 2, 2) and got.dtype == np.float32
    assert images.fit_input(np.arange(4.0)).shape == (1, 1, 2, 2)  # one unbatched sample
    assert _model((1,)).fit_input(np.arange(5.0)).shape == (5, 1)  # one feature: a column of samples
    with pytest.raises(MathflowError) as caught:
        _model((4,)).fit_input(np.zeros((3, 5)), "x.csv")
    message = caught.value.format()
    assert "\n" not in message
    assert "x.csv has 5 values per sample (shape (3, 5))" in message
    assert "takes 4 values per sample (per-sample shape (4,))" in message


def test_proba_of_a_description_without_expects_reads_the_threshold() -> None:
    p = np.array([[0.25]], dtype=np.float32)
    old_sigmoid_model = {"output": "proba", "threshold": 0.5}
    np.testing.assert_allclose(runtime.postprocess(old_sigmoid_model, p), [[0.75, 0.25]])
    old_logit_model = {"output": "proba", "threshold": 0.0}
    np.testing.assert_allclose(runtime.postprocess(old_logit_model, p)[0, 1], 1 / (1 + np.exp(-0.25)), rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# raw rows of a CSV file, encoded by the model itself; non-finite values; params
# --------------------------------------------------------------------------------------------------
def _csv_description(tmp_path: Path, categorical: str = "onehot") -> tuple[dict, np.ndarray, list[list[str]]]:
    """A description that takes the raw columns of a CSV file (an identity program over the encoded
    features), the matrix read_csv encoded from that file, and the file's rows."""
    from predict_helpers import fruit_rows, write_csv

    from mathflow.data.files import read_csv
    from mathflow.export.program import ProgramBuilder

    rows = fruit_rows(12, seed=1)
    data = read_csv(write_csv(tmp_path / "f.csv", rows), target="kind", categorical=categorical)
    builder = ProgramBuilder([data.x.shape[1]])
    program = builder.finish(builder.op("Identity", builder.input))
    description = {"program": program.to_data(), "output": "identity", **data.metadata}
    return description, data.x, rows


@pytest.mark.parametrize("categorical", ["onehot", "ordinal"])
def test_the_model_encodes_raw_rows_as_read_csv_did(tmp_path: Path, categorical: str) -> None:
    """The runtime's encoding of the file's rows, by name or by position, equals read_csv's x; the
    target column may be there; decode_columns gives the rows back."""
    from predict_helpers import COLUMNS, TARGET

    description, x, rows = _csv_description(tmp_path, categorical)
    assert description["target"] == TARGET and runtime.column_names(description) == COLUMNS
    kinds = [c["kind"] for c in description["columns"]]
    assert kinds == ["number", categorical, "number", categorical]
    table = {name: [row[j] for row in rows] for j, name in enumerate([*COLUMNS, TARGET])}
    records = [dict(zip([*COLUMNS, TARGET], row)) for row in rows]
    positional = np.array([row[:4] for row in rows], dtype=object)
    for given in (table, records, positional):
        got = runtime.predict_array(description, {}, given)
        np.testing.assert_allclose(got, x, rtol=1e-6, err_msg=type(given).__name__)
    decoded = runtime.decode_columns(description, x)
    assert decoded["color"] == table["color"] and decoded["shape"] == table["shape"]
    np.testing.assert_allclose(decoded["size"], [float(v) for v in table["size"]], rtol=1e-6)
    np.testing.assert_allclose(runtime.predict_array(description, {}, x), x)  # encoded rows pass as they are


def test_raw_row_errors_name_the_column_the_row_and_what_is_expected(tmp_path: Path) -> None:
    description, x, rows = _csv_description(tmp_path)
    table = {name: [row[j] for row in rows] for j, name in enumerate(["size", "color", "weight", "shape"])}

    def refused(model_input: object, params: dict | None = None) -> str:
        with pytest.raises(runtime.ProgramError) as caught:
            runtime.predict_array(description, {}, model_input, params)
        return str(caught.value)

    missing = refused({k: v for k, v in table.items() if k != "color"})
    assert "no column 'color'" in missing and "takes the columns size, color, weight, shape" in missing
    assert "the target 'kind' may be there too" in missing
    width = refused(np.zeros((2, 3)))
    assert "rows of 3 values" in width and "takes 4 columns (size, color, weight, shape)" in width
    assert f"or {x.shape[1]} encoded features" in width
    assert refused({**table, "color": [*table["color"][:2], "purple", *table["color"][3:]]}) == (
        "column 'color' row 3: unseen category 'purple'; the model knows blue, green, red"
    )
    assert refused({**table, "size": ["1.5", "", *table["size"][2:]]}) == (
        "column 'size' row 2 is empty; the model takes a number there"
    )
    assert "column 'weight' row 1: 'heavy' is not a number" in refused(
        {**table, "weight": ["heavy", *table["weight"][1:]]}
    )
    nan = {**table, "weight": [*table["weight"][:4], "nan", *table["weight"][5:]]}
    assert refused(nan).startswith("column 'weight' row 5 holds nan; the model takes finite numbers")
    assert "--allow-nonfinite" in refused(nan)
    let_through = runtime.predict_array(description, {}, nan, {"allow_nonfinite": True})
    assert np.isnan(let_through[4, 4]) and np.isfinite(np.delete(let_through, 4, axis=0)).all()
    encoded = x.copy()
    encoded[1, 2] = np.inf
    assert "the input holds inf at row 2, column 3 (color=green)" in refused(encoded)


def test_arrays_with_nan_or_inf_are_refused_unless_allowed() -> None:
    from mathflow.export.program import ProgramBuilder

    builder = ProgramBuilder([3])
    description = {"program": builder.finish(builder.op("Identity", builder.input)).to_data()}
    x = np.ones((4, 3))
    x[2, 1] = -np.inf
    with pytest.raises(runtime.ProgramError, match=r"the input holds -inf at row 3, column 2; the model takes finite"):
        runtime.predict_array(description, {}, x)
    assert np.isneginf(runtime.predict_array(description, {}, x, {"allow_nonfinite": "true"})[2, 1])
    with pytest.raises(runtime.ProgramError, match="param 'proba' must be true or false"):
        runtime.predict_array(description, {}, x, {"proba": "maybe"})
    with pytest.raises(runtime.ProgramError, match="proba needs a classifier"):
        runtime.predict_array(description, {}, np.ones((1, 3)), {"proba": True})


def test_read_input_gives_a_table_for_a_model_of_columns(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("size,color\n1.5, red\n2,blue\n")
    assert read_input(tmp_path / "raw.csv", ["size", "color"]) == {"size": ["1.5", "2"], "color": ["red", "blue"]}
    (tmp_path / "bare.csv").write_text("1.5,2\n3,4\n")  # no header: numbers, by position
    np.testing.assert_array_equal(read_input(tmp_path / "bare.csv", ["size", "color"]), [[1.5, 2], [3, 4]])
    (tmp_path / "ragged.csv").write_text("size,color\n1.5\n")
    with pytest.raises(MathflowError, match="line 2: 1 value, the header row names 2 columns"):
        read_input(tmp_path / "ragged.csv", ["size", "color"])
