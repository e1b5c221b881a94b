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
