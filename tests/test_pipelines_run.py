"""Every example pipeline in ``pipelines/`` runs end to end with a short epoch override, and its
logged NumPy model and ONNX model predict what mathflow's own model predicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{(tmp_path_factory.mktemp('pipelines') / 'mlflow.db').as_posix()}"


def test_every_pipeline_is_covered() -> None:
    names = {p.stem for p in PIPELINES}
    assert {"cnn", "mlp", "logistic", "svm", "regression", "iris", "pca_mlp", "residual", "lasso"} <= names


@pytest.mark.parametrize("path", PIPELINES, ids=[p.stem for p in PIPELINES])
def test_pipeline_runs_briefly(path: Path, store: str, tmp_path: Path, assert_logged_export) -> None:
    import mathflow as mf
    from mathflow.data import Pipeline
    from mathflow.export import runtime
    from mathflow.pipeline import load_pipeline
    from mathflow.predictor import class_labels, export_model, output_mode, predict_with_model
    from mathflow.run import run_pipeline
    from mathflow.tracking.run import load_model
    from mathflow.tracking.store import client

    result = run_pipeline(path, ["train.epochs=2"], tracking_uri=store, quiet=True, device="cpu")
    assert result.status == "FINISHED"
    assert result.epochs <= 2 and result.steps > 0
    assert all(np.isfinite(v) for v in result.metrics.values())
    assert any(k.startswith("test_") for k in result.metrics)
    mlf = client(store)
    run = mlf.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mathflow.config_sha256"] == result.config_hash

    # the logged pyfunc against mathflow's own forward pass on raw test inputs
    spec, compiled = load_pipeline(path, ["train.epochs=2"])
    mf.set_backend(mf.Backend("cpu", seed=spec.seed))
    data = compiled.prepare_data()
    raw = data.raw.get("test", data.raw["train"])
    x = np.asarray(raw.x[:16], dtype=np.float32)
    model = compiled.build_model()
    with np.load(mlf.download_artifacts(result.run_id, "weights.npz", str(tmp_path))) as archive:
        model.load_state_dict({k: archive[k] for k in archive.files})
    transforms = Pipeline.load(mlf.download_artifacts(result.run_id, "transforms.npz", str(tmp_path)))
    mode, threshold = output_mode(data.train.task, compiled.build_loss())
    classes = class_labels(data.train.class_names) if mode == "argmax" else None
    description, constants = export_model(model, transforms, output=mode, threshold=threshold, classes=classes)
    expected = predict_with_model(model, transforms, x, description)
    exported = runtime.predict_array(description, constants, x)
    pyfunc = load_model(f"runs:/{result.run_id}/model", store)
    assert_logged_export(pyfunc, description, constants)  # the export of the logged weights and transforms
    got = np.asarray(pyfunc.predict(x))
    if mode == "argmax":
        np.testing.assert_array_equal(exported, expected)
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(exported, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)

    # the logged ONNX model (transforms included) against mathflow's forward pass, before post-processing
    from mathflow.autodiff.mode import no_grad
    from mathflow.export.onnx import run_onnx

    pytest.importorskip("onnxruntime")
    onnx_file = mlf.download_artifacts(result.run_id, "model.onnx", str(tmp_path))
    model.eval()
    with no_grad():
        forward = model(transforms.transform_x(x).astype(np.float32)).numpy()
    np.testing.assert_allclose(run_onnx(onnx_file, x), forward, rtol=1e-5, atol=1e-5)


def test_lasso_logs_sparsity(store: str) -> None:
    from mathflow.run import run_pipeline
    from mathflow.tracking.store import client

    result = run_pipeline(ROOT / "pipelines" / "lasso.yaml", ["train.epochs=3"], tracking_uri=store, quiet=True)
    history = client(store).get_metric_history(result.run_id, "weight_sparsity")
    assert {m.step for m in history} >= {1, 2, 3}
    assert all(0.0 <= m.value <= 1.0 for m in history)
    last = max(history, key=lambda m: m.step)
    assert result.metrics["weight_sparsity"] == pytest.approx(last.value)


def test_full_lasso_zeroes_weights(store: str) -> None:
    """With the file's own epochs the L1 penalty drives several weights below 1e-3."""
    from mathflow.run import run_pipeline

    result = run_pipeline(ROOT / "pipelines" / "lasso.yaml", tracking_uri=store, quiet=True)
    assert result.metrics["weight_sparsity"] >= 0.2
