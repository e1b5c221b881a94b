"""MLflow tracking adapter: a real SQLite store in a temporary folder, read back with MlflowClient."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import mathflow.functional as F
from mathflow import nn
from mathflow.errors import MathflowError
from mathflow.export import runtime
from mathflow.export.model import describe, export_program
from mathflow.predictor import export_model
from mathflow.tracking import (
    Tracker,
    artifact_root,
    default_artifact_root,
    default_tracking_uri,
    flatten,
    flatten_params,
    get_or_create_experiment,
    git_info,
    list_runs,
    new_figure,
    resolve_tracking_uri,
    ui_command,
)
from mathflow.tracking.flatten import PARAM_VALUE_LIMIT, clean_key, to_text, truncate
from mathflow.tracking.run import error_reason, load_model, using_tracking_uri

pytest.importorskip("mlflow")

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for the module (creating a SQLite store costs about a second)."""
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def uri(store_dir: Path) -> str:
    return default_tracking_uri(store_dir)


@pytest.fixture
def tracker(uri: str, monkeypatch: pytest.MonkeyPatch) -> Tracker:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Tracker(uri)


@pytest.fixture
def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _mlp(rng: np.random.Generator) -> nn.Sequential:
    """A built MLP on 4 features (dense relu → dropout → dense → softmax) with random weights and
    biases, in evaluation mode."""
    model = nn.Sequential(nn.Dense(8, activation="relu"), nn.Dropout(0.5), nn.Dense(3), nn.Softmax())
    model.build((4,))
    model.load_state_dict({k: rng.normal(size=v.shape).astype(np.float32) for k, v in model.state_dict().items()})
    model.eval()
    return model


def _mlp_reference(model: nn.Sequential, x: np.ndarray) -> np.ndarray:
    """The forward pass of :func:`_mlp` written out in float64 NumPy from the layer weights."""
    w = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    h = np.maximum(np.asarray(x, dtype=np.float64) @ w["0.weight"] + w["0.bias"], 0)
    z = h @ w["2.weight"] + w["2.bias"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------------------
# import hygiene, flattening, URIs
# --------------------------------------------------------------------------------------------------
def test_import_does_not_load_mlflow() -> None:
    code = "import sys, mathflow.tracking; print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"


def test_flatten_nested_dicts_and_lists() -> None:
    cfg = {
        "model": {"layers": [{"dense": {"units": 64, "activation": "relu"}}, {"dropout": 0.5}]},
        "optimizer": {"name": "adam", "betas": (0.9, 0.999)},
        "empty": {},
        "none": [],
    }
    flat = flatten(cfg)
    assert flat == {
        "model.layers.0.dense.units": 64,
        "model.layers.0.dense.activation": "relu",
        "model.layers.1.dropout": 0.5,
        "optimizer.name": "adam",
        "optimizer.betas.0": 0.9,
        "optimizer.betas.1": 0.999,
        "empty": {},
        "none": [],
    }
    assert flatten({"a": 1}, prefix="cfg") == {"cfg.a": 1}


def test_param_values_as_text_and_truncated() -> None:
    assert to_text(True) == "true" and to_text(None) == "null" and to_text(0.1) == "0.1"
    assert to_text(np.float32(2.5)) == "2.5" and to_text(np.int64(3)) == "3" and to_text([]) == "[]"
    long = "x" * 10_000
    cut = truncate(long, PARAM_VALUE_LIMIT)
    assert len(cut) <= PARAM_VALUE_LIMIT and cut.startswith("x" * 5000)
    assert cut.endswith(f"...[truncated {10_000 - cut.index('...')} chars]")
    assert truncate("short", 10) == "short"
    assert clean_key("a b/c:d.e-f_g!?") == "a b/c:d.e-f_g__"
    assert flatten_params({"a": {"b": False}, "c": long})["a.b"] == "false"
    assert len(flatten_params({"c": long})["c"]) <= PARAM_VALUE_LIMIT


def test_default_and_resolved_tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    expected = f"sqlite:///{tmp_path.resolve().as_posix()}/runs/mlflow.db"
    assert default_tracking_uri(tmp_path) == expected
    assert default_artifact_root(tmp_path) == f"{tmp_path.resolve().as_posix()}/runs/artifacts"
    assert resolve_tracking_uri(None, cwd=tmp_path) == expected
    assert artifact_root(expected) == default_artifact_root(tmp_path)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking_uri(None, cwd=tmp_path) == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("https://mlflow.example.org", cwd=tmp_path) == "https://mlflow.example.org"
    assert artifact_root("http://127.0.0.1:5000") is None
    # relative SQLite paths and bare paths become absolute SQLite URIs
    assert resolve_tracking_uri("sqlite:///other/x.db", cwd=tmp_path) == f"sqlite:///{tmp_path.as_posix()}/other/x.db"
    assert resolve_tracking_uri("store.db", cwd=tmp_path) == f"sqlite:///{tmp_path.as_posix()}/store.db"
    assert resolve_tracking_uri("somewhere", cwd=tmp_path) == f"sqlite:///{tmp_path.as_posix()}/somewhere/mlflow.db"


def test_ui_command_uses_flags_mlflow_ui_accepts(tmp_path: Path) -> None:
    from mlflow.cli import cli

    uri = default_tracking_uri(tmp_path)
    argv = ui_command(uri, 5123)
    assert argv[:4] == [sys.executable, "-m", "mlflow", "ui"]
    options = dict(zip(argv[4::2], argv[5::2]))
    assert options == {
        "--backend-store-uri": uri,
        "--default-artifact-root": default_artifact_root(tmp_path),
        "--host": "127.0.0.1",
        "--port": "5123",
        "--workers": "1",
    }
    import click

    ui = cli.get_command(click.Context(cli), "ui")
    accepted = {opt for p in ui.params for opt in p.opts}
    assert set(options) <= accepted
    with pytest.raises(MathflowError, match="already a tracking server"):
        ui_command("http://127.0.0.1:5000", 5000)
    with pytest.raises(MathflowError, match="port"):
        ui_command(uri, 0)


# --------------------------------------------------------------------------------------------------
# experiments and runs
# --------------------------------------------------------------------------------------------------
def test_experiment_get_or_create_with_absolute_artifact_location(uri: str, store_dir: Path, client) -> None:
    first = get_or_create_experiment(uri, "exp-location")
    assert get_or_create_experiment(uri, "exp-location") == first
    location = client.get_experiment(first).artifact_location
    assert location == f"{store_dir.resolve().as_posix()}/runs/artifacts/exp-location"
    odd = get_or_create_experiment(uri, "my experiment/1")
    odd_location = client.get_experiment(odd).artifact_location
    assert Path(odd_location).parent == store_dir.resolve() / "runs" / "artifacts"
    assert " " not in Path(odd_location).name and "/" not in Path(odd_location).name
    client.delete_experiment(odd)
    assert get_or_create_experiment(uri, "my experiment/1") == odd
    assert client.get_experiment(odd).lifecycle_stage == "active"


def test_params_metrics_tags_and_finished_status(tracker: Tracker, client) -> None:
    config = {"model": {"layers": [{"dense": {"units": 16}}, {"dense": {"units": 3}}]}, "lr": 0.01, "note": "y" * 7000}
    with tracker.start("exp-basic", run_name="mlp", tags={"team": "math", "seed": 7}, config_sha256="c0ffee") as run:
        flat = run.log_params(config)
        run.log_params({"lr": 0.01})  # the same value again: accepted
        with pytest.raises(MathflowError, match="already logged"):
            run.log_params({"lr": 0.02})
        for step in range(3):
            run.log_metrics({"loss": 1.0 / (step + 1), "val": {"accuracy": np.float32(0.5 + step / 10)}}, step=step)
        run.set_tags({"phase": "done"})
    data = client.get_run(run.run_id)
    assert data.info.status == "FINISHED" and data.info.run_name == "mlp"
    params = data.data.params
    assert params["model.layers.0.dense.units"] == "16" and params["model.layers.1.dense.units"] == "3"
    assert params["lr"] == "0.01" and params == flat
    assert len(params["note"]) <= PARAM_VALUE_LIMIT and "truncated" in params["note"]
    history = client.get_metric_history(run.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    assert [m.step for m in client.get_metric_history(run.run_id, "val.accuracy")] == [0, 1, 2]
    tags = data.data.tags
    assert tags["team"] == "math" and tags["seed"] == "7" and tags["phase"] == "done"
    assert tags["mathflow.version"] == __import__("mathflow").__version__
    assert tags["mathflow.numpy_version"] == np.__version__
    assert tags["mathflow.config_sha256"] == "c0ffee" and tags["mathflow.device"] == "cpu"
    assert "mathflow.error" not in tags
    assert ("mathflow.cupy_version" in tags) == ("cupy" in sys.modules)
    with pytest.raises(MathflowError, match="already ended"):
        run.log_metrics({"late": 1.0})


def test_exception_marks_run_failed_with_reason(tracker: Tracker, client) -> None:
    with pytest.raises(ValueError, match="diverged"):
        with tracker.start("exp-status", run_name="boom") as run:
            run.log_metrics({"loss": 3.0}, step=0)
            raise ValueError("loss diverged at step 12\nsecond line of detail")
    data = client.get_run(run.run_id)
    assert data.info.status == "FAILED"
    assert data.data.tags["mathflow.error"] == "ValueError: loss diverged at step 12"
    assert data.data.metrics["loss"] == 3.0  # logged before the failure, still there
    assert run.status == "FAILED"


def test_keyboard_interrupt_marks_run_killed(tracker: Tracker, client) -> None:
    with pytest.raises(KeyboardInterrupt):
        with tracker.start("exp-status", run_name="ctrl-c") as run:
            run.log_params({"epochs": 10})
            raise KeyboardInterrupt
    data = client.get_run(run.run_id)
    assert data.info.status == "KILLED" and data.data.params == {"epochs": "10"}


def test_error_reason_is_one_line() -> None:
    assert error_reason(RuntimeError("a\nb")) == "RuntimeError: a"
    assert error_reason(KeyError()) == "KeyError"
    assert len(error_reason(ValueError("z" * 5000))) <= 1000


def test_tracking_uri_is_restored_after_the_run(tracker: Tracker) -> None:
    import mlflow

    before = mlflow.get_tracking_uri()
    with tracker.start("exp-status") as run:
        assert mlflow.get_tracking_uri() == tracker.tracking_uri
        assert mlflow.active_run().info.run_id == run.run_id
    assert mlflow.get_tracking_uri() == before
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert mlflow.active_run() is None


def test_artifacts_text_dict_file_folder_figure(tracker: Tracker, tmp_path: Path) -> None:
    import mlflow.artifacts

    (tmp_path / "report.md").write_text("# report\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.txt").write_text("a")
    with tracker.start("exp-artifacts") as run:
        run.log_text("lr: 0.1\n", "config/resolved.yaml")
        run.log_dict({"confusion": np.eye(2, dtype=np.int64), "acc": np.float32(0.5)}, "metrics/summary.json")
        run.log_artifact(tmp_path / "report.md")
        run.log_artifact(tmp_path / "folder", "extra")
        fig = new_figure(figsize=(2, 2))
        fig.add_subplot().plot([0, 1], [1, 0])
        run.log_figure(fig, "plots/loss.png")
        with pytest.raises(MathflowError, match="no file or folder"):
            run.log_artifact(tmp_path / "missing.txt")
        listed = run.list_artifacts()
        artifact_uri = run.artifact_uri
    assert listed == ["config/resolved.yaml", "extra/a.txt", "metrics/summary.json", "plots/loss.png", "report.md"]
    summary = json.loads(mlflow.artifacts.load_text(f"{artifact_uri}/metrics/summary.json"))
    assert summary == {"confusion": [[1, 0], [0, 1]], "acc": 0.5}
    png = Path(mlflow.artifacts.download_artifacts(f"{artifact_uri}/plots/loss.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_log_input_visible_on_run_inputs(tracker: Tracker, client, rng: np.random.Generator) -> None:
    x = rng.normal(size=(20, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=20)
    with tracker.start("exp-inputs") as run:
        run.log_input("iris", digest="d1g3st", source="sklearn:iris", features=x, targets=y, profile={"classes": 3})
        run.log_input("holdout", digest="abc123", source="https://example.org/holdout.csv", context="evaluation")
    inputs = client.get_run(run.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in inputs}
    assert set(by_name) == {"iris", "holdout"}
    iris = by_name["iris"]
    assert iris.dataset.digest == "d1g3st"
    assert "sklearn:iris" in iris.dataset.source
    assert json.loads(iris.dataset.profile)["features_shape"] == [20, 4]
    assert "float32" in iris.dataset.schema
    tags = {t.key: t.value for t in iris.tags}
    assert tags["mlflow.data.context"] == "training" and tags["classes"] == "3"
    holdout = by_name["holdout"]
    assert holdout.dataset.digest == "abc123" and "example.org/holdout.csv" in holdout.dataset.source
    assert {t.key: t.value for t in holdout.tags}["mlflow.data.context"] == "evaluation"


def test_list_runs_newest_first(uri: str, tracker: Tracker, tmp_path: Path) -> None:
    names = []
    for i in range(2):
        with tracker.start("exp-list", run_name=f"r{i}") as run:
            run.log_metrics({"val_accuracy": 0.5 + i / 10, "loss": 1.0 - i / 10})
        names.append(run.run_id)
        time.sleep(0.01)
    rows = list_runs(uri, "exp-list")
    assert [r.run_id for r in rows] == names[::-1]
    assert rows[0].experiment == "exp-list" and rows[0].status == "FINISHED" and rows[0].run_name == "r1"
    assert rows[0].metrics == {"val_accuracy": 0.6, "loss": pytest.approx(0.9)}
    assert list(rows[0].key_metrics(1)) == ["val_accuracy"]
    assert rows[0].start_time is not None and rows[0].duration_s is not None and rows[0].duration_s >= 0
    assert len(list_runs(uri, "exp-list", max_results=1)) == 1
    assert {r.experiment for r in list_runs(uri, max_results=100)} >= {"exp-list"}
    with pytest.raises(MathflowError, match="no experiment named 'nope'"):
        list_runs(uri, "nope")
    missing = default_tracking_uri(tmp_path)
    assert list_runs(missing) == [] and not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------------------------------
# git tags
# --------------------------------------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@e"
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "pipelines").mkdir(parents=True)
    (repo / "pipelines" / "x.yaml").write_text("model: mlp\n")
    try:
        _git(repo, "init", "-q")
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", "init")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    return repo


def test_git_tags_inside_a_repository(git_repo: Path, tracker: Tracker, client) -> None:
    pipeline = git_repo / "pipelines" / "x.yaml"
    head = _git(git_repo, "rev-parse", "HEAD").strip()
    assert git_info(pipeline) == {"commit": head, "dirty": "false", "root": str(git_repo.resolve())}
    with tracker.start("exp-git", pipeline_path=pipeline) as run:
        pass
    tags = client.get_run(run.run_id).data.tags
    assert tags["mathflow.git.commit"] == head and tags["mathflow.git.dirty"] == "false"
    assert tags["mlflow.source.git.commit"] == head
    assert tags["mathflow.pipeline"] == pipeline.resolve().as_posix()

    (git_repo / "untracked.txt").write_text("ignored for dirtiness\n")
    assert git_info(pipeline)["dirty"] == "false"
    pipeline.write_text("model: cnn\n")
    assert git_info(pipeline)["dirty"] == "true"
    fresh = git_repo / "pipelines" / "new.yaml"
    fresh.write_text("model: new\n")
    _git(git_repo, "checkout", "-q", "--", "pipelines/x.yaml")
    assert git_info(fresh)["dirty"] == "true"  # the pipeline itself is not committed


def test_git_tags_absent_outside_a_repository(tmp_path: Path, tracker: Tracker, client) -> None:
    pipeline = tmp_path / "loose" / "x.yaml"
    pipeline.parent.mkdir()
    pipeline.write_text("model: mlp\n")
    if _inside_git(tmp_path):
        pytest.skip("the temporary folder lies inside a git repository")
    assert git_info(pipeline) == {}
    with tracker.start("exp-git", pipeline_path=pipeline) as run:
        pass
    tags = client.get_run(run.run_id).data.tags
    assert not any(k.startswith("mathflow.git.") for k in tags)
    assert tags["mathflow.pipeline"] == pipeline.resolve().as_posix()


def _inside_git(path: Path) -> bool:
    done = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=path, capture_output=True, text=True)
    return done.returncode == 0


# --------------------------------------------------------------------------------------------------
# concurrency
# --------------------------------------------------------------------------------------------------
_WORKER = textwrap.dedent(
    """
    import sys, time
    from mathflow.tracking import Tracker
    start_at = float(sys.argv[2])
    while time.time() < start_at:
        time.sleep(0.005)
    with Tracker(sys.argv[1]).start("shared", run_name=sys.argv[3]) as run:
        run.log_metrics({"x": 1.0})
    print(run.run_id)
    """
)


def test_two_processes_create_a_fresh_store_at_once(tmp_path: Path) -> None:
    uri = default_tracking_uri(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    start_at = time.time() + 2.5  # both interpreters have imported mathflow by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, uri, repr(start_at), f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for i in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
    run_ids = {out.strip().splitlines()[-1] for out, _ in results}
    rows = list_runs(uri, "shared")
    assert {r.run_id for r in rows} == run_ids and len(run_ids) == 2
    assert all(r.status == "FINISHED" for r in rows)
    assert (tmp_path / "runs" / ".mlflow.lock").exists()


# --------------------------------------------------------------------------------------------------
# the NumPy pyfunc model
# --------------------------------------------------------------------------------------------------
def _run_exported(model: nn.Layer, x: np.ndarray) -> np.ndarray:
    """``model``'s exported program run by the NumPy runtime on the batch ``x``."""
    program = export_program(model)
    return runtime.run_program(program.to_data(), program.constants, x)


def test_pyfunc_model_predicts_like_a_direct_numpy_forward(
    tracker: Tracker, uri: str, rng: np.random.Generator
) -> None:
    import pandas as pd

    from mathflow.data import Pipeline, dataset_from_arrays

    model = _mlp(rng)
    x_raw = rng.normal(loc=3.0, scale=2.0, size=(30, 4)).astype(np.float32)
    pipeline = Pipeline(["standardize"]).fit(dataset_from_arrays(x_raw, rng.integers(0, 3, size=30)))
    description, constants = export_model(model, pipeline)
    assert description["output"] == "identity" and description["program"]["input_shape"] == [4]
    with tracker.start("exp-model") as run:
        model_uri = run.log_model(constants, description, input_example=x_raw)
    assert model_uri == f"runs:/{run.run_id}/model"
    loaded = load_model(model_uri, uri)
    # the artifacts hold the exported program and its constants unchanged
    logged = loaded.unwrap_python_model()
    assert logged.description["program"] == description["program"]
    assert sorted(logged.constants) == sorted(constants)
    for name, value in constants.items():
        np.testing.assert_array_equal(logged.constants[name], value, err_msg=name)

    x_new = rng.normal(loc=3.0, scale=2.0, size=(7, 4)).astype(np.float32)
    got = loaded.predict(x_new)
    train = x_raw.astype(np.float64)
    expected = _mlp_reference(model, (x_new - train.mean(axis=0)) / train.std(axis=0))
    assert got.shape == (7, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(loaded.predict(pd.DataFrame(x_new)), expected, rtol=1e-5, atol=1e-6)


def test_log_model_rejects_a_description_that_does_not_fit(tracker: Tracker, rng: np.random.Generator) -> None:
    description, constants = export_model(_mlp(rng))
    x = np.zeros((2, 4), np.float32)
    # a node that reads a constant the weights do not hold
    broken = json.loads(json.dumps(description))
    matmul = next(node for node in broken["program"]["nodes"] if node["op"] == "MatMul")
    matmul["inputs"][1] = "missing"
    # a constant the program lists, left out of the weights
    dropped = sorted(constants)[0]
    fewer = {k: v for k, v in constants.items() if k != dropped}
    with tracker.start("exp-model") as run:
        with pytest.raises(MathflowError, match="does not run on the input example: .*'missing'"):
            run.log_model(constants, broken, input_example=x)
        with pytest.raises(MathflowError, match=f"does not run on the input example: .*{dropped}"):
            run.log_model(fewer, description, input_example=x)
        with pytest.raises(MathflowError, match=r"does not run on the input example: .*\(2, 5\)"):
            run.log_model(constants, description, input_example=np.zeros((2, 5), np.float32))
        assert run.model_uri is None


def test_exported_conv_pooling_and_activations_match_the_engine(rng: np.random.Generator) -> None:
    """Single layers exported and run by the NumPy runtime against mathflow's functional ops."""
    x = rng.normal(size=(2, 3, 9, 8)).astype(np.float32)
    w = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    for stride, padding in [(1, 0), (2, 1), (2, (1, 2))]:
        model = nn.Sequential(nn.Conv2D(4, (3, 2), stride=stride, padding=padding))
        model.build((3, 9, 8))
        model.load_state_dict({"0.weight": w, "0.bias": b})
        engine = F.conv2d(x, w, b, stride=stride, padding=padding).numpy()
        np.testing.assert_allclose(_run_exported(model, x), engine, rtol=1e-5, atol=1e-5)
    for size, stride in [(2, None), (3, 2), ((2, 3), (1, 2))]:
        for layer, engine_pool in [(nn.MaxPool2D, F.max_pool2d), (nn.AvgPool2D, F.avg_pool2d)]:
            model = nn.Sequential(layer(size, stride))
            model.build((3, 9, 8))
            engine = engine_pool(x, size, stride=stride).numpy()
            np.testing.assert_allclose(_run_exported(model, x), engine, rtol=1e-6, atol=1e-6)
    z = rng.normal(scale=3.0, size=(5, 6)).astype(np.float32)
    cases = [
        (nn.ReLU(), F.relu(z)),
        (nn.Sigmoid(), F.sigmoid(z)),
        (nn.Tanh(), F.tanh(z)),
        (nn.Softmax(), F.softmax(z)),
        (nn.GELU(), F.gelu(z)),
        (nn.ELU(0.7), F.elu(z, 0.7)),
        (nn.Softplus(), F.softplus(z)),
        (nn.LeakyReLU(0.2), F.leaky_relu(z, 0.2)),
    ]
    for layer, expected in cases:
        model = nn.Sequential(layer)
        model.build((6,))
        np.testing.assert_allclose(
            _run_exported(model, z), expected.numpy(), rtol=1e-5, atol=1e-6, err_msg=layer.registry_name
        )


def _small_cnn(rng: np.random.Generator) -> nn.Sequential:
    """conv → batchnorm → relu → maxpool → flatten → dense on (1, 6, 6) images, trained for three SGD
    steps (so γ, β and the running statistics move away from their initial values), then switched to
    evaluation mode."""
    from mathflow.optim import SGD

    model = nn.Sequential(
        nn.Conv2D(2, 3, padding=1), nn.BatchNorm(), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(4)
    )
    model.build((1, 6, 6))
    # batch norm cancels the conv bias in training (it gets no gradient): start it away from zero
    model.load_state_dict({**model.state_dict(), "0.bias": rng.normal(size=2).astype(np.float32)})
    optimizer, loss_fn = SGD(model.parameters(), lr=0.1), nn.CrossEntropy()
    for _ in range(3):
        x = rng.normal(loc=0.5, scale=2.0, size=(16, 1, 6, 6)).astype(np.float32)
        loss = loss_fn(model(x), rng.integers(0, 4, size=16))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model


def _small_cnn_reference(model: nn.Sequential, x: np.ndarray) -> np.ndarray:
    """The logits of :func:`_small_cnn` for flat rows ``x`` (n, 36), written out by hand in float64."""
    w = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    n = len(x)
    img = np.pad(np.asarray(x, np.float64).reshape(n, 1, 6, 6), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((n, 2, 6, 6))
    for f in range(2):
        for i in range(6):
            for j in range(6):
                conv[:, f, i, j] = (img[:, 0, i : i + 3, j : j + 3] * w["0.weight"][f, 0]).sum(axis=(1, 2))
        conv[:, f] += w["0.bias"][f]

    def per_channel(name: str) -> np.ndarray:
        return w[name][None, :, None, None]

    eps = model[1].eps
    bn = (conv - per_channel("1.running_mean")) / np.sqrt(per_channel("1.running_var") + eps)
    bn = bn * per_channel("1.gamma") + per_channel("1.beta")
    pooled = np.maximum(bn, 0).reshape(n, 2, 3, 2, 3, 2).max(axis=(3, 5))
    return pooled.reshape(n, -1) @ w["5.weight"] + w["5.bias"]


def test_exported_small_cnn_matches_the_engine_and_a_hand_forward(rng: np.random.Generator) -> None:
    model = _small_cnn(rng)
    state = model.state_dict()
    assert not np.allclose(state["1.running_mean"], 0.0) and not np.allclose(state["1.running_var"], 1.0)
    assert not np.allclose(state["1.gamma"], 1.0) and not np.allclose(state["1.beta"], 0.0)

    x = rng.normal(size=(3, 36)).astype(np.float32)  # flat rows, as a JSON request sends them
    images = x.reshape(3, 1, 6, 6)
    engine = model(images).numpy()
    program = export_program(model)
    assert program.input_shape == [1, 6, 6]
    got = runtime.run_program(program.to_data(), program.constants, images)
    assert got.dtype == np.float32 and got.shape == (3, 4)
    np.testing.assert_allclose(got, engine, rtol=1e-5, atol=1e-5)
    logits = _small_cnn_reference(model, x)
    np.testing.assert_allclose(got, logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(engine, logits, rtol=1e-4, atol=1e-4)

    classes = ["a", "b", "c", "d"]
    raw = runtime.predict_array(describe(program), program.constants, x)  # flat rows → (1, 6, 6) samples
    np.testing.assert_allclose(raw, got, rtol=1e-6, atol=1e-6)
    labels = runtime.predict_array(describe(program, output="argmax", classes=classes), program.constants, x)
    assert list(labels) == [classes[k] for k in logits.argmax(axis=1)]
    indices = runtime.predict_array(describe(program, output="argmax"), program.constants, x)
    assert indices.tolist() == logits.argmax(axis=1).tolist()


def test_exported_binary_outputs_and_program_errors() -> None:
    from mathflow.predictor import output_mode

    x = np.array([[2.0, 1.0], [1.0, 2.0], [0.2, 0.0]], np.float32)  # logits 1, -1, 0.2

    def one_unit(activation: str | None) -> nn.Sequential:
        model = nn.Sequential(nn.Dense(1, activation=activation))
        model.build((2,))
        model.load_state_dict({"0.weight": np.array([[1.0], [-1.0]], np.float32), "0.bias": np.zeros(1, np.float32)})
        return model

    def predict(model: nn.Sequential, model_input: object = x, **how: object) -> np.ndarray:
        description, constants = export_model(model, **how)
        return runtime.predict_array(description, constants, model_input)

    logits, probabilities = one_unit(None), one_unit("sigmoid")
    mode, threshold = output_mode("classification", nn.BinaryCrossEntropy(from_logits=True))
    assert (mode, threshold) == ("argmax", 0.0)
    assert predict(logits, output=mode, threshold=threshold).tolist() == [1, 0, 1]
    assert predict(logits, x.tolist(), output=mode, threshold=threshold).tolist() == [1, 0, 1]
    assert predict(logits, output=mode, threshold=threshold, classes=["no", "yes"]).tolist() == ["yes", "no", "yes"]
    mode, threshold = output_mode("classification", nn.BinaryCrossEntropy())
    assert (mode, threshold) == ("argmax", 0.5)
    assert predict(probabilities, output=mode, threshold=threshold).tolist() == [1, 0, 1]
    assert predict(probabilities, output="argmax", threshold=0.6).tolist() == [1, 0, 0]
    sigma = 1 / (1 + np.exp([-1.0, 1.0, -0.2]))
    np.testing.assert_allclose(predict(logits, output="sigmoid")[:, 0], sigma, rtol=1e-6)
    np.testing.assert_allclose(predict(probabilities)[:, 0], sigma, rtol=1e-6)

    description, constants = export_model(logits, output="argmax")
    unknown_op = json.loads(json.dumps(description))
    unknown_op["program"]["nodes"][0]["op"] = "Lstm"
    with pytest.raises(runtime.ProgramError, match="node 0: unknown op 'Lstm'"):
        runtime.predict_array(unknown_op, constants, x)
    with pytest.raises(runtime.ProgramError, match="unknown output mode 'swoosh'"):
        runtime.predict_array({**description, "output": "swoosh"}, constants, x)
    with pytest.raises(runtime.ProgramError, match=r"the input has shape \(3, 3\)"):
        runtime.predict_array(description, constants, np.zeros((3, 3), np.float32))


def test_exported_transforms_match_the_data_pipeline(rng: np.random.Generator) -> None:
    from mathflow.data import Pipeline, dataset_from_arrays

    x = rng.normal(size=(40, 16)).astype(np.float32) * np.arange(1, 17, dtype=np.float32)
    y = rng.integers(0, 3, size=40)
    cases = [
        (["standardize", {"pca": {"n_components": 4}}], nn.Identity(), (4,)),
        ([{"minmax": {"clip": True}}, {"reshape": {"shape": [1, 4, 4]}}, "flatten", "one_hot"], nn.Flatten(), (16,)),
    ]
    for transforms, model, out_shape in cases:
        pipeline = Pipeline(transforms).fit(dataset_from_arrays(x, y))
        assert pipeline.output_shape() == out_shape
        program = export_program(model, pipeline)
        assert program.input_shape == [16]
        new = rng.normal(size=(5, 16)).astype(np.float32) * 20  # far outside the training range: clip matters
        got = runtime.run_program(program.to_data(), program.constants, new)
        assert got.shape == (5, *out_shape)
        np.testing.assert_allclose(got, pipeline.transform_x(new), rtol=1e-5, atol=1e-5, err_msg=str(transforms))


def test_pyfunc_loads_with_numpy_alone(tracker: Tracker, uri: str, rng: np.random.Generator, tmp_path: Path) -> None:
    """The logged model loads and predicts in a process where mathflow cannot be imported."""
    import mlflow.artifacts

    model = _mlp(rng)
    description, constants = export_model(model)
    x = rng.normal(size=(4, 4)).astype(np.float32)
    with tracker.start("exp-model") as run:
        run.log_model(constants, description, input_example=x)
        model_uri = run.model_info.model_uri
    with using_tracking_uri(uri):
        local = mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path / "model"))
    np.save(tmp_path / "x.npy", x)
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["mathflow"] = None  # any import of mathflow now fails
        import numpy as np, mlflow.pyfunc
        model = mlflow.pyfunc.load_model({local!r})
        np.save({str(tmp_path / "p.npy")!r}, np.asarray(model.predict(np.load({str(tmp_path / "x.npy")!r}))))
        print("mathflow" in sys.modules and sys.modules["mathflow"] is not None)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120, env=_env_without_uri()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), _mlp_reference(model, x), rtol=1e-5, atol=1e-6)


def _env_without_uri() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


@pytest.mark.slow
def test_mlflow_models_predict_cli(tracker: Tracker, uri: str, rng: np.random.Generator, tmp_path: Path) -> None:
    model = _mlp(rng)
    description, constants = export_model(model)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    with tracker.start("exp-model") as run:
        run.log_model(constants, description, input_example=x)
    (tmp_path / "in.json").write_text(json.dumps({"inputs": x.tolist()}))
    env = {**_env_without_uri(), "MLFLOW_TRACKING_URI": uri}
    cmd = [sys.executable, "-m", "mlflow", "models", "predict", "-m", f"runs:/{run.run_id}/model"]
    cmd += ["-i", str(tmp_path / "in.json"), "-t", "json", "-o", str(tmp_path / "out.json"), "--env-manager", "local"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    predictions = np.asarray(json.loads((tmp_path / "out.json").read_text())["predictions"])
    np.testing.assert_allclose(predictions, _mlp_reference(model, x), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# seconds: the store template, batched epoch metrics, the requirement check, the figure helper
# --------------------------------------------------------------------------------------------------
def test_a_new_store_is_a_copy_of_the_cached_empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow.store.db.utils import _get_latest_schema_revision
    from mlflow.tracking import MlflowClient

    from mathflow.tracking.store import client as store_client

    monkeypatch.setenv("MATHFLOW_CACHE_DIR", str(tmp_path / "cache"))
    template = tmp_path / "cache" / f"mlflow-store-{mlflow.__version__}.db"
    first, second = default_tracking_uri(tmp_path / "a"), default_tracking_uri(tmp_path / "b")
    store_client(first)
    assert template.is_file()
    template_bytes = template.read_bytes()
    store_client(second)  # copied from the template
    assert template.read_bytes() == template_bytes  # the template is never written to
    for where, uri in (("a", first), ("b", second)):
        with sqlite3.connect(tmp_path / where / "runs" / "mlflow.db") as con:
            assert con.execute("select version_num from alembic_version").fetchall() == [
                (_get_latest_schema_revision(),)
            ]
        mlf = MlflowClient(tracking_uri=uri)
        assert [e.name for e in mlf.search_experiments()] == ["Default"]
        assert str(tmp_path / where) not in str(template_bytes)
    with sqlite3.connect(template) as con:
        assert con.execute("select count(*) from experiments").fetchone() == (0,)
    exp = get_or_create_experiment(second, "copied")
    assert MlflowClient(tracking_uri=second).get_experiment(exp).artifact_location == (
        f"{(tmp_path / 'b' / 'runs' / 'artifacts').as_posix()}/copied"
    )


def test_a_store_is_created_by_mlflow_when_the_cache_is_unusable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from mathflow.tracking.store import client as store_client

    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("MATHFLOW_CACHE_DIR", str(blocked / "cache"))
    uri = default_tracking_uri(tmp_path / "store")
    store_client(uri)
    assert [e.name for e in MlflowClient(tracking_uri=uri).search_experiments()] == ["Default"]


def test_metric_steps_in_one_write_keep_their_steps_and_times(tracker: Tracker, client) -> None:
    with tracker.start("exp-steps") as run:
        run.log_metric_steps([(1, {"loss": 0.5}, 1000.0), (2, {"loss": 0.25, "val": {"acc": 0.75}}, 1001.5)])
    loss = client.get_metric_history(run.run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in loss] == [(1, 0.5, 1000000), (2, 0.25, 1001500)]
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "val.acc")] == [(2, 0.75)]


def test_epoch_metrics_are_written_first_at_once_then_together(tracker: Tracker, client) -> None:
    from mathflow.run import _MetricLogger

    with tracker.start("exp-epochs") as run:
        logger = _MetricLogger(run, model=None, sparsity=False)
        logger.on_epoch_end(1, {"epoch": 1, "train_loss": 1.0})
        assert [m.step for m in client.get_metric_history(run.run_id, "train_loss")] == [1]
        logger.on_epoch_end(2, {"epoch": 2, "train_loss": 0.5})
        logger.on_epoch_end(3, {"epoch": 3, "train_loss": 0.25})
        assert [e[0] for e in logger.pending] == [2, 3]  # within METRIC_WRITE_SECONDS of the first write
        logger.flush()
        assert logger.pending == [] and logger.seconds > 0
    history = client.get_metric_history(run.run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5), (3, 0.25)]


def test_the_requirement_check_is_cheap_for_satisfied_pins_and_mlflows_own_otherwise() -> None:
    import mlflow.utils.requirements_utils as requirements_utils

    from mathflow.tracking.run import _pinned_to_running

    original = requirements_utils._check_requirement_satisfied
    with _pinned_to_running():
        check = requirements_utils._check_requirement_satisfied
        assert check is not original
        assert check(f"numpy=={np.__version__}") is None
        assert check(f"mlflow=={__import__('mlflow').__version__}") is None
        mismatch = check("numpy==0.0.1")  # not satisfied: MLflow's own check reports it
        assert (
            mismatch is not None and mismatch.package_name == "numpy" and mismatch.installed_version == np.__version__
        )
    assert requirements_utils._check_requirement_satisfied is original


def test_figures_not_drawn_by_a_helper_are_drawn_by_the_run(tmp_path: Path) -> None:
    from mathflow.tracking.figure_worker import FigureWorker, draw

    worker = FigureWorker(None)  # no helper: nothing drawn there
    worker.submit(tmp_path, {"learning_curves.png": ("learning_curves", {"history": []})})
    assert worker.collect() == {"learning_curves.png": None}
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.5}, {"epoch": 2, "train_loss": 0.5, "val_loss": 0.75}]
    assert len(draw("learning_curves", {"history": history}).axes) == 1
    confusion = draw("confusion", {"matrix": [[3, 1], [0, 4]], "class_names": ["a", "b"]})
    assert [t.get_text() for t in confusion.axes[0].texts] == ["3", "1", "0", "4"]
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:  # MLflow is imported and another thread runs here: no fork, the figures are drawn in-process
        assert FigureWorker.start().process is None
    finally:
        release.set()
        other.join()


_FORKED_HELPER = """
import json, sys
import matplotlib.figure
from mathflow.tracking.figure_worker import FigureWorker, ForkedHelper
assert FigureWorker.start().process is None  # not allowed: drawn in-process
worker = FigureWorker.start(fork_allowed=True)  # as the daemon's child
assert isinstance(worker.process, ForkedHelper), worker.process
history = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}]
worker.submit(sys.argv[1], {"curves.png": ("learning_curves", {"history": history}), "bad.png": ("confusion", {})})
print(json.dumps({name: str(path) if path else None for name, path in worker.collect().items()}))
"""


def test_a_process_with_matplotlib_forks_its_figure_helper_where_allowed(tmp_path: Path) -> None:
    """As a command run by the daemon does (allowed there, single-threaded, matplotlib imported); a
    process that was not told it may fork (a Ray worker has threads Python does not see) does not."""
    done = subprocess.run(
        [sys.executable, "-c", _FORKED_HELPER, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"curves.png": str(tmp_path / "curves.png"), "bad.png": None}
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_figure_helper_draws_what_it_is_asked_for_and_replies_with_the_files(tmp_path: Path) -> None:
    history = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}]
    request = [
        {"file": str(tmp_path / "curves.png"), "kind": "learning_curves", "arguments": {"history": history}},
        {
            "file": str(tmp_path / "cm.png"),
            "kind": "confusion",
            "arguments": {"matrix": [[2, 0], [1, 3]], "class_names": None},
        },
        {"file": str(tmp_path / "bad.png"), "kind": "confusion", "arguments": {"matrix": "not a matrix"}},
    ]
    helper = subprocess.run(  # the real helper process, as a run starts it
        [sys.executable, "-m", "mathflow.tracking.figure_worker"],
        input=json.dumps(request) + "\n", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert helper.returncode == 0, helper.stderr
    assert json.loads(helper.stdout) == [str(tmp_path / "curves.png"), str(tmp_path / "cm.png")]
    for name in ("curves.png", "cm.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "bad.png").exists()
