"""``mathflow run`` end to end: the CLI in a subprocess on a store in a temporary folder, read back
with ``MlflowClient`` (params, metric histories, tags, artifacts, the pyfunc model), ``predict`` and
``rerun`` (determinism on CPU)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CNN = ROOT / "pipelines" / "cnn.yaml"
EPOCHS = 2


def mathflow(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def cnn_run(store: Path) -> dict:
    """One short CNN run on the default store of ``store`` (``runs/mlflow.db`` in the working folder)."""
    done = mathflow("run", str(CNN), "--set", f"train.epochs={EPOCHS}", "--json", cwd=store)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["stdout"] = done.stdout
    return summary


@pytest.fixture(scope="module")
def client(store: Path, cnn_run: dict):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{(store / 'runs' / 'mlflow.db').as_posix()}")


def test_json_line_and_default_store(store: Path, cnn_run: dict) -> None:
    for key in ("run_id", "experiment", "config_hash", "epochs", "steps", "train_seconds", "metrics"):
        assert key in cnn_run
    assert cnn_run["experiment"] == "digits"
    assert cnn_run["epochs"] == EPOCHS
    assert cnn_run["steps"] == EPOCHS * int(np.ceil(1258 / 64))  # 1258 training digits, batches of 64
    assert cnn_run["train_seconds"] > 0
    metrics = cnn_run["metrics"]
    for key in ("train_loss", "val_loss", "val_accuracy", "test_accuracy", "test_loss"):
        assert np.isfinite(metrics[key])
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert (store / "runs" / "mlflow.db").is_file()
    assert cnn_run["tracking_uri"] == f"sqlite:///{(store / 'runs' / 'mlflow.db').resolve().as_posix()}"
    # progress lines come before the JSON line (plain lines: stdout is not a terminal)
    assert "epoch 1/2" in cnn_run["stdout"]


def test_params_are_the_resolved_pipeline(client, cnn_run: dict) -> None:
    run = client.get_run(cnn_run["run_id"])
    params = run.data.params
    assert params["name"] == "digits-cnn"
    assert params["train.epochs"] == str(EPOCHS)
    assert params["train.batch_size"] == "64"
    assert params["seed"] == "0"
    assert any(k.startswith("model.layers.0.") and "filters" in k for k in params)
    assert any(k.startswith("optimizer.adam") for k in params)


def test_metric_histories_per_epoch(client, cnn_run: dict) -> None:
    rid = cnn_run["run_id"]
    for key in ("train_loss", "val_loss", "val_accuracy", "train_accuracy", "lr"):
        history = client.get_metric_history(rid, key)
        assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), key
    loss = {m.step: m.value for m in client.get_metric_history(rid, "train_loss")}
    assert loss[EPOCHS] == pytest.approx(cnn_run["metrics"]["train_loss"])
    test_acc = client.get_metric_history(rid, "test_accuracy")
    assert len(test_acc) == 1 and test_acc[0].value == pytest.approx(cnn_run["metrics"]["test_accuracy"])


def test_tags(client, cnn_run: dict) -> None:
    import numpy

    import mathflow

    run = client.get_run(cnn_run["run_id"])
    tags = run.data.tags
    assert tags["mathflow.config_sha256"] == cnn_run["config_hash"]
    assert len(cnn_run["config_hash"]) == 64
    assert tags["mathflow.version"] == mathflow.__version__
    assert tags["mathflow.numpy_version"] == numpy.__version__
    assert tags["mathflow.device"] == "cpu"
    assert tags["mlflow.runName"] == "digits-cnn"
    assert run.info.status == "FINISHED"
    git_dir = ROOT / ".git"
    if git_dir.exists():
        assert len(tags["mathflow.git.commit"]) == 40
        assert tags["mathflow.git.dirty"] in ("true", "false")


def test_dataset_input_logged(client, cnn_run: dict) -> None:
    run = client.get_run(cnn_run["run_id"])
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "digits"


def test_artifacts(client, cnn_run: dict, tmp_path: Path) -> None:
    from mathflow.config import load_config

    rid = cnn_run["run_id"]
    names = {a.path for a in client.list_artifacts(rid)}
    for expected in (
        "pipeline.yaml",
        "weights.npz",
        "transforms.npz",
        "model_table.txt",
        "learning_curves.png",
        "confusion_matrix.png",
    ):
        assert expected in names, expected
    local = Path(client.download_artifacts(rid, "weights.npz", str(tmp_path)))
    with np.load(local) as weights:
        assert weights["conv2d_1.weight"].shape == (16, 1, 3, 3)
        assert "dense_2.bias" in weights.files
    png = Path(client.download_artifacts(rid, "confusion_matrix.png", str(tmp_path)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = Path(client.download_artifacts(rid, "model_table.txt", str(tmp_path))).read_text()
    assert "conv2d_1" in table and "total parameters" in table
    pipeline = Path(client.download_artifacts(rid, "pipeline.yaml", str(tmp_path)))
    assert load_config(pipeline).data["train"]["epochs"] == EPOCHS


def test_config_hash_is_sha256_of_resolved_pipeline(cnn_run: dict) -> None:
    from mathflow.pipeline import load_pipeline
    from mathflow.run import config_hash, resolved_pipeline

    spec, compiled = load_pipeline(CNN, [f"train.epochs={EPOCHS}"])
    resolved = resolved_pipeline(spec, compiled.base_dir)
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"))
    assert cnn_run["config_hash"] == config_hash(resolved) == hashlib.sha256(text.encode()).hexdigest()


def test_logged_model_is_a_numpy_pyfunc(client, cnn_run: dict, store: Path, tmp_path: Path) -> None:
    """``runs:/<id>/model`` holds an MLmodel with the python_function flavour, needing numpy and mlflow only."""
    import yaml

    from mathflow.tracking.run import using_tracking_uri

    uri = f"sqlite:///{(store / 'runs' / 'mlflow.db').as_posix()}"
    import mlflow.artifacts

    with using_tracking_uri(uri):
        local = Path(mlflow.artifacts.download_artifacts(f"runs:/{cnn_run['run_id']}/model", dst_path=str(tmp_path)))
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    assert "python_function" in mlmodel["flavors"]
    requirements = (local / "requirements.txt").read_text().split()
    assert {r.split("==")[0] for r in requirements} == {"numpy", "mlflow"}
    assert client.get_run(cnn_run["run_id"]).data.tags["mathflow.model_uri"] == f"runs:/{cnn_run['run_id']}/model"


def test_pyfunc_predictions_equal_mathflow_predict(
    client, cnn_run: dict, store: Path, tmp_path: Path, assert_logged_export
) -> None:
    """The logged NumPy pyfunc, ``mathflow predict`` and mathflow's own model agree on the test split."""
    import mathflow as mf
    from mathflow.data import Pipeline
    from mathflow.export import runtime
    from mathflow.pipeline import load_pipeline
    from mathflow.predictor import export_model, output_mode, predict_with_model
    from mathflow.tracking.run import load_model

    rid = cnn_run["run_id"]
    uri = f"sqlite:///{(store / 'runs' / 'mlflow.db').as_posix()}"
    spec, compiled = load_pipeline(CNN, [f"train.epochs={EPOCHS}"])
    mf.set_backend(mf.Backend("cpu", seed=spec.seed))
    raw = compiled.prepare_data().raw["test"]
    x = raw.x[:40].astype(np.float32)

    model = compiled.build_model()
    with np.load(client.download_artifacts(rid, "weights.npz", str(tmp_path))) as archive:
        model.load_state_dict({k: archive[k] for k in archive.files})
    transforms = Pipeline.load(client.download_artifacts(rid, "transforms.npz", str(tmp_path)))
    mode, threshold = output_mode("classification", compiled.build_loss())
    description, constants = export_model(model, transforms, output=mode, threshold=threshold)
    reference = predict_with_model(model, transforms, x, description)
    np.testing.assert_array_equal(runtime.predict_array(description, constants, x), reference)

    pyfunc = load_model(f"runs:/{rid}/model", uri)
    assert_logged_export(pyfunc, description, constants)  # the export of the logged weights and transforms
    got = np.asarray(pyfunc.predict(x))
    np.testing.assert_array_equal(got, reference)
    # the trained model is better than chance on these digits
    assert (got == raw.y[:40]).mean() > 0.3

    inputs = tmp_path / "x.npy"
    np.save(inputs, x)
    out = tmp_path / "pred.npy"
    done = mathflow("predict", rid, "--input", str(inputs), "--output", str(out), cwd=store)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(out), reference)

    csv = tmp_path / "x.csv"
    np.savetxt(csv, x.reshape(len(x), -1), delimiter=",")
    done = mathflow("predict", rid, "--input", str(csv), cwd=store)
    assert done.returncode == 0, done.stderr
    printed = np.array([int(line) for line in done.stdout.split()])
    np.testing.assert_array_equal(printed, reference)


def test_rerun_of_the_logged_pipeline_matches(client, cnn_run: dict, store: Path) -> None:
    """``mathflow rerun`` runs the downloaded pipeline.yaml as it is; on CPU every metric is identical."""
    done = mathflow("rerun", cnn_run["run_id"], "--quiet", "--json", cwd=store)
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["matches"] is True and answer["differences"] == {}
    assert "metrics match" in done.stdout
    again = client.get_run(answer["run_id"])
    first = client.get_run(cnn_run["run_id"])
    assert again.data.tags["mathflow.config_sha256"] == cnn_run["config_hash"]
    assert again.data.tags["mathflow.rerun_of"] == cnn_run["run_id"]
    for key, value in first.data.metrics.items():
        if key != "train_seconds":
            assert again.data.metrics[key] == value, key


@pytest.mark.slow
def test_two_direct_runs_are_identical(store: Path, cnn_run: dict) -> None:
    """Determinism: the same pipeline and seed give identical metrics in a separate process."""
    done = mathflow("run", str(CNN), "--set", f"train.epochs={EPOCHS}", "--json", "--quiet", cwd=store)
    assert done.returncode == 0, done.stderr
    second = json.loads(done.stdout.strip().splitlines()[-1])
    assert second["run_id"] != cnn_run["run_id"]
    assert second["config_hash"] == cnn_run["config_hash"]
    for key, value in cnn_run["metrics"].items():
        if key != "train_seconds":
            assert second["metrics"][key] == value, key


def test_device_gpu_without_a_gpu_is_a_clear_error(store: Path) -> None:
    import mathflow as mf

    if mf.gpu_available():
        pytest.skip("a GPU is present")
    done = mathflow("run", str(CNN), "--set", "train.epochs=1", "--device", "gpu", cwd=store)
    assert done.returncode == 1
    assert "gpu" in done.stderr.lower()
    assert "Traceback" not in done.stderr
