"""The Hessian of a model's training loss: Lanczos (full reorthogonalisation) on Hessian-vector
products against a dense Hessian made by central differences of backprop gradients, against
PyTorch, and ``mathflow analyze RUN_ID --hessian`` on a run in a temporary store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mathflow as mf
from mathflow import nn
from mathflow.analysis import ModelObjective
from mathflow.analysis.hessian import (
    DOUBLE_BACKPROP,
    FINITE_DIFFERENCE,
    SADDLE_RATIO,
    HessianVectorProduct,
    Spectrum,
    hessian_spectrum,
)
from mathflow.analysis.lanczos import lanczos
from mathflow.errors import MathflowError

ROOT = Path(__file__).resolve().parents[1]
LAM = 1e-2


def _mlp_objective(seed: int = 3) -> ModelObjective:
    """A 4-6-3 tanh MLP with cross-entropy + L2 on 20 random samples, float64 (51 parameters)."""
    mf.set_backend(mf.Backend("cpu", "float64", seed))
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Dense(6, activation="tanh"), nn.Dense(3))
    model.build((4,))
    x = rng.standard_normal((20, 4))
    y = rng.integers(0, 3, 20)
    return ModelObjective(model, nn.CrossEntropy(), [nn.L2(LAM)], x, y, training=False)


def _dense_hessian_fd(objective: ModelObjective, step: float = 1e-5) -> np.ndarray:
    """∇²L by central differences of the backprop gradient, column by column (symmetrised)."""
    w = objective.flat()
    n = w.size
    columns = []
    for j in range(n):
        e = np.zeros(n)
        e[j] = step
        objective.set_flat(w + e)
        plus = objective.gradient()
        objective.set_flat(w - e)
        minus = objective.gradient()
        columns.append((plus - minus) / (2 * step))
    objective.set_flat(w)
    h = np.stack(columns, axis=1)
    return 0.5 * (h + h.T)


@pytest.fixture(scope="module")
def mlp() -> tuple[ModelObjective, np.ndarray]:
    objective = _mlp_objective()
    dense = _dense_hessian_fd(objective)
    yield objective, dense
    mf.set_backend(mf.Backend("cpu", "float32"))


# ----------------------------------------------------------------------------------------- Lanczos
def test_lanczos_full_run_is_exact_and_partial_run_bounds_hold() -> None:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    eigen = np.concatenate([[50.0, 20.0, 10.0, -30.0], rng.uniform(-1, 1, 56)])
    a = (q * eigen) @ q.T
    full = lanczos(lambda v: a @ v, 60, 60)
    np.testing.assert_allclose(np.sort(full.values), np.sort(eigen), atol=1e-10)
    part = lanczos(lambda v: a @ v, 60, 25)
    assert part.steps == 25
    top, residuals = part.largest(3)
    np.testing.assert_allclose(top, [50.0, 20.0, 10.0], rtol=1e-8)
    for theta, r in zip(part.values, part.residuals):  # every Ritz value is within its bound of an eigenvalue
        assert np.min(np.abs(eigen - theta)) <= r * (1 + 1e-6) + 1e-9
    assert part.values.min() == pytest.approx(-30.0, rel=1e-8)


def test_lanczos_stops_when_the_krylov_space_closes() -> None:
    a = np.diag([3.0, 3.0, 3.0, 1.0, 1.0])  # two distinct eigenvalues: the space closes after 2 steps
    result = lanczos(lambda v: a @ v, 5, 5)
    assert result.steps == 2
    np.testing.assert_allclose(np.sort(result.values), [1.0, 3.0], atol=1e-12)


# ----------------------------------------------------------------------------------------- HVPs
def test_hvp_by_double_backprop_matches_the_finite_difference_hessian(mlp) -> None:
    objective, dense = mlp
    hvp = HessianVectorProduct(objective)
    assert hvp.method == DOUBLE_BACKPROP
    n = objective.size
    columns = np.stack([hvp(e) for e in np.eye(n)], axis=1)
    scale = np.abs(dense).max()
    np.testing.assert_allclose(columns, dense, atol=1e-6 * scale)
    np.testing.assert_allclose(columns, columns.T, atol=1e-12 * scale)  # an exact Hessian is symmetric


def test_hvp_fallback_by_central_difference_agrees(mlp) -> None:
    objective, dense = mlp
    v = np.random.default_rng(1).standard_normal(objective.size)
    before = objective.flat()
    fd = HessianVectorProduct(objective, "finite-difference")
    assert fd.method == FINITE_DIFFERENCE
    np.testing.assert_allclose(fd(v), dense @ v, atol=1e-6 * np.linalg.norm(dense @ v))
    np.testing.assert_array_equal(objective.flat(), before)  # the weights are put back


def test_lanczos_eigenvalues_match_the_dense_hessian(mlp) -> None:
    objective, dense = mlp
    exact = np.sort(np.linalg.eigvalsh(dense))[::-1]
    spectrum = hessian_spectrum(objective, 5)  # 40 steps of 51: a partial run
    assert spectrum.lanczos_steps == 40
    np.testing.assert_allclose(spectrum.top, exact[:5], rtol=1e-6, atol=1e-6 * exact[0])
    assert spectrum.smallest == pytest.approx(exact[-1], abs=1e-5 * exact[0])
    assert spectrum.grad_norm == pytest.approx(np.linalg.norm(objective.gradient()))
    fd = hessian_spectrum(objective, 5, method="finite-difference")
    np.testing.assert_allclose(fd.top, exact[:5], rtol=1e-5, atol=1e-5 * exact[0])


def test_saddle_verdict_is_relative_to_the_largest_eigenvalue() -> None:
    def spectrum(smallest: float, residual: float = 0.0, top: float = 10.0) -> Spectrum:
        return Spectrum([top], [0.0], smallest, residual, 0.0, 0.0, 3, 3, DOUBLE_BACKPROP, 3)

    for scale in (1e-12, 1.0, 1e12):  # the same shape at any scale gives the same verdict
        assert spectrum(-0.5 * scale, top=10 * scale).saddle
        assert not spectrum(-0.1 * SADDLE_RATIO * 10 * scale, top=10 * scale).saddle
    assert not spectrum(-0.5, residual=1.0).saddle  # the sign is not sure within the residual
    assert "saddle" in spectrum(-0.5).verdict()
    assert "minimum" in spectrum(0.5).verdict()


# ----------------------------------------------------------------------------------------- PyTorch
@pytest.mark.torch
def test_eigenvalues_match_pytorch(mlp) -> None:
    torch = pytest.importorskip("torch")
    objective, _ = mlp
    w1, b1, w2, b2 = (torch.tensor(p.numpy(), dtype=torch.float64) for p in objective.params)
    shapes = [t.shape for t in (w1, b1, w2, b2)]
    x = torch.tensor(objective.x.numpy(), dtype=torch.float64)
    y = torch.tensor(np.asarray(objective.y), dtype=torch.long)

    def loss(flat):
        parts, offset = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            parts.append(flat[offset : offset + size].reshape(shape))
            offset += size
        a, b, c, d = parts
        logits = torch.tanh(x @ a + b) @ c + d
        return torch.nn.functional.cross_entropy(logits, y) + LAM * ((a * a).sum() + (c * c).sum())

    flat = torch.cat([t.reshape(-1) for t in (w1, b1, w2, b2)])
    dense = torch.autograd.functional.hessian(loss, flat).numpy()
    exact = np.sort(np.linalg.eigvalsh(dense))[::-1]
    spectrum = hessian_spectrum(objective, 5)
    np.testing.assert_allclose(spectrum.top, exact[:5], rtol=1e-8, atol=1e-9 * exact[0])
    assert loss(flat).item() == pytest.approx(spectrum.loss, rel=1e-12)


# ----------------------------------------------------------------------------------------- a logged run
def test_hessian_option_is_parsed_strictly() -> None:
    from mathflow.analysis.run_hessian import HessianRequest, parse_hessian

    assert parse_hessian("top=5") == HessianRequest(5, None)
    assert parse_hessian(" top = 3 , steps=60") == HessianRequest(3, 60)
    for bad in ("5", "top=0", "top=2,top=3", "top=x", "k=5"):
        with pytest.raises(MathflowError):
            parse_hessian(bad)


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A short iris run in a temporary store: (folder, tracking uri, run id)."""
    from mathflow.run import run_pipeline

    folder = tmp_path_factory.mktemp("hessian")
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    run_id = run_pipeline(ROOT / "pipelines" / "iris.yaml", ["train.epochs=3"], tracking_uri=uri, quiet=True).run_id
    mf.set_backend(mf.Backend("cpu", "float32"))
    return folder, uri, run_id


def test_analyze_logs_to_the_run_and_matches_a_dense_hessian(logged_run) -> None:
    from mlflow.tracking import MlflowClient

    from mathflow.analysis.run_hessian import HessianRequest, analyze_hessian

    folder, uri, run_id = logged_run
    analysis = analyze_hessian(run_id, HessianRequest(top=3, steps=131), batch=40, tracking_uri=uri)
    assert analysis.samples == 40 and analysis.train_samples == 90
    assert analysis.spectrum.parameters == 4 * 16 + 16 + 16 * 3 + 3

    # the same weights and rows, rebuilt independently: dense finite-difference Hessian
    from mathflow.analysis.setup import float64_backend, pipeline_objective, sample_rows
    from mathflow.pipeline import load_pipeline

    mlf = MlflowClient(tracking_uri=uri)
    local = mlf.download_artifacts(run_id, "", str(folder / "copy"))
    spec, compiled = load_pipeline(Path(local) / "pipeline.yaml")
    with float64_backend(spec.seed):
        data = compiled.prepare_data()
        objective = pipeline_objective(compiled, data, sample_rows(90, 40, spec.seed), training=False)
        with np.load(Path(local) / "weights.npz") as archive:
            objective.model.load_state_dict({k: archive[k] for k in archive.files})
        dense = _dense_hessian_fd(objective)
        gradient = objective.gradient()
    exact = np.sort(np.linalg.eigvalsh(dense))[::-1]
    np.testing.assert_allclose(analysis.spectrum.top, exact[:3], rtol=1e-6, atol=1e-6 * exact[0])
    assert analysis.spectrum.grad_norm == pytest.approx(np.linalg.norm(gradient), rel=1e-9)

    run = mlf.get_run(run_id)
    assert run.info.status == "FINISHED"
    for i, value in enumerate(analysis.spectrum.top, start=1):
        assert run.data.metrics[f"hessian_eigenvalue_{i}"] == pytest.approx(value)
    assert run.data.metrics["grad_norm"] == pytest.approx(analysis.spectrum.grad_norm)
    saved = json.loads((Path(mlf.download_artifacts(run_id, "analysis/hessian.json", str(folder)))).read_text())
    assert saved["hessian_eigenvalues"] == pytest.approx(analysis.spectrum.top)
    assert saved["hvp_method"] == DOUBLE_BACKPROP and 0 < saved["lanczos_steps"] <= 131


def test_analyze_of_a_missing_run_is_one_error(logged_run) -> None:
    from mathflow.analysis.run_hessian import analyze_hessian

    _, uri, _ = logged_run
    with pytest.raises(MathflowError, match="no run"):
        analyze_hessian("0" * 32, tracking_uri=uri)


@pytest.mark.slow
def test_cli_analyze_prints_and_logs(logged_run) -> None:
    """The one subprocess of this file: ``mathflow analyze RUN_ID --hessian top=2``."""
    folder, uri, run_id = logged_run
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "mathflow.cli", "analyze", run_id, "--hessian", "top=2", "--tracking-uri", uri]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "λ1" in done.stdout and "λ2" in done.stdout and "grad_norm" in done.stdout
    assert "double backprop" in done.stdout and "Lanczos" in done.stdout
    assert f"to run {run_id}" in done.stdout
    assert "Traceback" not in done.stderr


def test_auto_falls_back_to_central_differences_and_says_so(mlp, monkeypatch: pytest.MonkeyPatch) -> None:
    """An op whose backward cannot be differentiated again: the products come from gradients."""
    from mathflow.functional.nn import Tanh

    objective, dense = mlp

    def no_second_order(self, gy):
        raise NotImplementedError("tanh has no differentiable backward")

    monkeypatch.setattr(Tanh, "backward", no_second_order)
    spectrum = hessian_spectrum(objective, 3)
    assert spectrum.hvp_method == FINITE_DIFFERENCE
    assert any("double backprop unavailable" in note for note in spectrum.notes)
    exact = np.sort(np.linalg.eigvalsh(dense))[::-1]
    np.testing.assert_allclose(spectrum.top, exact[:3], rtol=1e-5, atol=1e-5 * exact[0])
