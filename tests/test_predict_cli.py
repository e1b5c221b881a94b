"""``mathflow predict``: input files of any numeric dtype, class labels and probabilities, output
formats, one-line errors and a reader that stops early. Runs are trained in-process on a store in a
temporary folder; the command itself runs in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def mathflow(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess (no MLFLOW_TRACKING_URI from the outside)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "mathflow.cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, input=stdin)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("predict")


@pytest.fixture(scope="module")
def uri(folder: Path) -> str:
    return f"sqlite:///{(folder / 'mlflow.db').as_posix()}"


def _train(name: str, uri: str) -> str:
    from mathflow.run import run_pipeline

    return run_pipeline(ROOT / "pipelines" / f"{name}.yaml", ["train.epochs=2"], tracking_uri=uri, quiet=True).run_id


@pytest.fixture(scope="module")
def runs(uri: str) -> dict[str, str]:
    """Run ids of short iris (3 named classes, logits), logistic (one sigmoid unit) and regression runs."""
    return {name: _train(name, uri) for name in ("iris", "logistic", "regression")}


@pytest.fixture(scope="module")
def iris_x() -> np.ndarray:
    from sklearn.datasets import load_iris

    return load_iris().data[::10]  # float64, 15 samples


def _predict(folder: Path, uri: str, run_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    return mathflow("predict", run_id, "--tracking-uri", uri, *args, cwd=folder)


def _reference(uri: str, run_id: str, x: np.ndarray, output: str) -> np.ndarray:
    """The logged model's program run by the NumPy runtime with the output mode ``output``."""
    from mathflow.export import runtime
    from mathflow.predictor import open_run_model

    model = open_run_model(run_id, uri)
    return runtime.predict_array({**model.description, "output": output}, model.constants, x.astype(np.float32))


def test_any_numeric_dtype_gives_the_class_names(folder: Path, uri: str, runs: dict, iris_x: np.ndarray) -> None:
    """float64 (the default of NumPy), float32, int and .npz/.csv inputs all predict; labels are the data's names."""
    expected = _reference(uri, runs["iris"], iris_x, "argmax")
    assert set(expected) <= {"setosa", "versicolor", "virginica"}
    files = {"f64.npy": iris_x, "f32.npy": iris_x.astype(np.float32)}
    for name, array in files.items():
        np.save(folder / name, array)
    np.savez(folder / "several.npz", x=iris_x, y=np.zeros(len(iris_x)))
    header = "sepal length,sepal width,petal length,petal width\n"
    (folder / "rows.csv").write_text(header + "\n".join(",".join(map(str, row)) for row in iris_x) + "\n")
    for name in (*files, "several.npz", "rows.csv"):
        done = _predict(folder, uri, runs["iris"], "--input", str(folder / name))
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == expected.tolist(), name

    whole = np.rint(iris_x).astype(np.int64)
    np.save(folder / "int.npy", whole)
    done = _predict(folder, uri, runs["iris"], "--input", str(folder / "int.npy"), "--output", str(folder / "o.npy"))
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(folder / "o.npy"), _reference(uri, runs["iris"], whole, "argmax"))


def test_proba_is_the_softmax_of_the_logits(folder: Path, uri: str, runs: dict, iris_x: np.ndarray) -> None:
    np.save(folder / "iris.npy", iris_x)
    done = _predict(folder, uri, runs["iris"], "--input", str(folder / "iris.npy"), "--proba")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "setosa,versicolor,virginica"
    proba = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    logits = _reference(uri, runs["iris"], iris_x, "identity")
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, softmax, rtol=1e-6, atol=1e-7)
    names = np.array(lines[0].split(","))
    np.testing.assert_array_equal(names[proba.argmax(axis=1)], _reference(uri, runs["iris"], iris_x, "argmax"))


def test_proba_of_a_sigmoid_model_is_not_squashed_twice(folder: Path, uri: str, runs: dict) -> None:
    """The logistic model already ends with a sigmoid (binary_cross_entropy expects probabilities)."""
    from sklearn.datasets import load_breast_cancer

    x = load_breast_cancer().data[::50]
    np.save(folder / "cancer.npy", x)
    out = folder / "cancer.json"
    done = _predict(folder, uri, runs["logistic"], "--input", str(folder / "cancer.npy"), "--proba", "-o", str(out))
    assert done.returncode == 0, done.stderr
    answer = json.loads(out.read_text())
    assert answer["columns"] == ["malignant", "benign"]
    proba = np.array(answer["predictions"])
    p = _reference(uri, runs["logistic"], x, "identity")[:, 0]  # the sigmoid output itself
    np.testing.assert_allclose(proba[:, 1], p, rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    labels = _predict(folder, uri, runs["logistic"], "--input", str(folder / "cancer.npy"), "--format", "json")
    assert json.loads(labels.stdout)["predictions"] == np.where(p > 0.5, "benign", "malignant").tolist()


def test_regression_values_and_proba_refused(folder: Path, uri: str, runs: dict) -> None:
    from sklearn.datasets import load_diabetes

    x = load_diabetes().data[:7]
    np.save(folder / "diabetes.npy", x)
    done = _predict(
        folder, uri, runs["regression"], "--input", str(folder / "diabetes.npy"), "-o", str(folder / "v.csv")
    )
    assert done.returncode == 0, done.stderr
    values = np.loadtxt(folder / "v.csv", delimiter=",", ndmin=2)
    np.testing.assert_allclose(values, _reference(uri, runs["regression"], x, "identity").reshape(7, -1), rtol=1e-6)
    done = _predict(folder, uri, runs["regression"], "--input", str(folder / "diabetes.npy"), "--proba")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "--proba needs a classifier" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "npy"), "the npy format needs a file"),
        (("--format", "xml"), "unknown output format 'xml'"),
        (("--output", "out.txt"), "cannot tell the output format of out.txt"),
    ],
)
def test_output_format_errors(folder: Path, uri: str, runs: dict, args: tuple[str, ...], message: str) -> None:
    np.save(folder / "any.npy", np.zeros((2, 4)))
    done = _predict(folder, uri, runs["iris"], "--input", str(folder / "any.npy"), *args)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_wrong_feature_count_is_one_line(folder: Path, uri: str, runs: dict) -> None:
    (folder / "three.csv").write_text("1,2,3\n4,5,6\n")
    done = _predict(folder, uri, runs["iris"], "--input", str(folder / "three.csv"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "3 values per sample" in done.stderr and "takes 4 values per sample" in done.stderr
    assert "(4,)" in done.stderr and "Traceback" not in done.stderr


def test_text_in_a_csv_is_one_line(folder: Path, uri: str, runs: dict) -> None:
    (folder / "text.csv").write_text("1,2,3,4\n5,six,7,8\n")
    done = _predict(folder, uri, runs["iris"], "--input", str(folder / "text.csv"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "line 2: 'six' is not a number" in done.stderr


def test_piping_into_head_exits_quietly(folder: Path, uri: str, runs: dict) -> None:
    """A reader that closes the pipe early: no BrokenPipeError traceback, exit status 0."""
    np.save(folder / "many.npy", np.tile(np.array([[5.1, 3.5, 1.4, 0.2]]), (200_000, 1)))
    env = {**os.environ}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "mathflow.cli", "predict", runs["iris"], "--tracking-uri", uri]
    command += ["--input", str(folder / "many.npy"), "--proba"]
    producer = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.run(["head", "-n", "2"], stdin=producer.stdout, capture_output=True, text=True, timeout=240)
    producer.stdout.close()
    stderr = producer.stderr.read().decode()
    assert producer.wait(timeout=240) == 0, stderr
    assert stderr == ""
    assert head.stdout.splitlines()[0] == "setosa,versicolor,virginica"
    assert len(head.stdout.splitlines()) == 2


# --------------------------------------------------------------------------------------------------
# a model trained on a CSV file with categorical columns takes that file's own rows
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fruit(folder: Path, uri: str) -> str:
    """The run id of a short training on a CSV file with the categorical columns color and shape."""
    from predict_helpers import train_fruit

    return train_fruit(folder, uri)


def _raw_rows(folder: Path, name: str, rows: list[list[str]]) -> Path:
    """``rows`` (size, color, weight, shape, kind) written with the columns in another order than training."""
    from predict_helpers import write_csv

    header = ["kind", "shape", "weight", "color", "size"]
    return write_csv(folder / name, [row[::-1] for row in rows], header)


def test_the_logged_pyfunc_takes_raw_columns_and_gives_probabilities(folder: Path, uri: str, fruit: str) -> None:
    """The pyfunc loaded in-process: a DataFrame of the training CSV's columns (target included) gives the
    labels; params={"proba": True} a DataFrame of probabilities whose columns are the classes."""
    import pandas as pd
    from predict_helpers import COLUMNS, fruit_rows

    from mathflow.predictor import load_run_model, open_run_model

    rows = fruit_rows(20, seed=7)
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "kind"]).astype({"size": float, "weight": float})
    pyfunc = load_run_model(fruit, uri)
    labels = np.asarray(pyfunc.predict(frame))
    assert set(labels) <= {"big", "small"} and len(labels) == 20
    assert (labels == frame["kind"].to_numpy()).mean() > 0.5  # it learnt something in 3 epochs
    proba = pyfunc.predict(frame, params={"proba": True})
    assert list(proba.columns) == ["big", "small"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(proba.columns.to_numpy()[proba.to_numpy().argmax(axis=1)], labels)

    model = open_run_model(fruit, uri)
    assert model.column_names == COLUMNS
    np.testing.assert_array_equal(model.predict(frame.drop(columns="kind").to_dict(orient="list")), labels)
    np.testing.assert_allclose(model.predict(frame.to_dict(orient="list"), proba=True), proba.to_numpy(), rtol=1e-6)
    from mathflow.errors import MathflowError

    odd = frame.assign(color=["purple", *frame["color"][1:]]).to_dict(orient="list")
    with pytest.raises(MathflowError) as caught:
        model.predict(odd, source="odd.csv")
    assert caught.value.format().count("\n") == 0
    assert "odd.csv: column 'color' row 1: unseen category 'purple'; the model knows blue, green, red" in str(
        caught.value
    )
    with pytest.raises(Exception, match="no column 'shape'; the model takes the columns size, color, weight, shape"):
        pyfunc.predict(frame.drop(columns="shape"))


def test_predict_reads_the_training_csv_form(folder: Path, uri: str, fruit: str) -> None:
    """``mathflow predict`` on a CSV with the training columns (another order, the target among them)."""
    from predict_helpers import fruit_rows

    from mathflow.predictor import open_run_model

    rows = fruit_rows(15, seed=3)
    done = _predict(folder, uri, fruit, "--input", str(_raw_rows(folder, "raw.csv", rows)), "--format", "json")
    assert done.returncode == 0, done.stderr
    table = {name: [row[j] for row in rows] for j, name in enumerate(["size", "color", "weight", "shape"])}
    assert json.loads(done.stdout)["predictions"] == open_run_model(fruit, uri).predict(table).tolist()


def test_nan_in_a_raw_csv_is_refused_with_its_row_and_column_unless_allowed(folder: Path, uri: str, fruit: str) -> None:
    from predict_helpers import fruit_rows

    rows = fruit_rows(4, seed=5)
    rows[2][2] = "nan"  # weight of the third row
    path = str(_raw_rows(folder, "nan.csv", rows))
    done = _predict(folder, uri, fruit, "--input", path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "nan.csv: column 'weight' row 3 holds nan" in done.stderr and "--allow-nonfinite" in done.stderr
    done = _predict(folder, uri, fruit, "--input", path, "--allow-nonfinite", "--proba")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "big,small" and lines[3] == "nan,nan"
    assert all(np.isfinite([float(v) for v in lines[i].split(",")]).all() for i in (1, 2, 4))
