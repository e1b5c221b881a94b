"""``mathflow gradcheck``: a compiled model's backprop against central finite differences in
float64 — passes on correct models, fails when an op's backward is broken, keeps dropout's mask
fixed, samples large parameters and lets kinks (non-differentiable points) pass only when backprop
gave a one-sided derivative."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mathflow as mf
from mathflow import nn
from mathflow.analysis import ModelObjective
from mathflow.analysis.gradcheck import check_gradients, report_text
from mathflow.errors import MathflowError
from mathflow.functional.nn import Tanh

ROOT = Path(__file__).resolve().parents[1]


def _objective(*layers, x=None, y=None, regularizers=(), training=True, seed=0) -> ModelObjective:
    mf.set_backend(mf.Backend("cpu", "float64", seed))
    rng = np.random.default_rng(seed)
    model = nn.Sequential(*layers)
    model.build((5,))
    x = rng.standard_normal((12, 5)) if x is None else x
    y = rng.integers(0, 3, len(x)) if y is None else y
    return ModelObjective(model, nn.CrossEntropy(), list(regularizers), x, y, training=training)


def _tanh_mlp(**kwargs) -> ModelObjective:
    layers = (nn.Dense(7, activation="tanh"), nn.Dropout(0.5), nn.Dense(3))
    return _objective(*layers, regularizers=[nn.L2(0.05)], **kwargs)


def test_a_correct_model_passes_with_every_entry_checked() -> None:
    objective = _tanh_mlp()
    report = check_gradients(objective)
    assert report.passed
    assert [p.name for p in report.parameters] == objective.names
    for p in report.parameters:
        assert p.checked == p.total and not p.sampled
        assert p.max_rel_error < 1e-7
    assert objective.params[0].dtype == np.float64
    text = report_text(report, "model")
    assert "PASSED" in text and "worst parameter" in text and "training mode, fixed dropout mask" in text


def test_a_broken_backward_fails_and_names_the_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    objective = _tanh_mlp()
    monkeypatch.setattr(Tanh, "backward_raw", lambda self, gy: gy * (1.0 - self.y * self.y) * 1.01)
    report = check_gradients(objective)
    assert not report.passed
    verdict = {p.name: p.passed for p in report.parameters}
    # the tanh sits after the first layer: only its parameters get a wrong gradient
    assert verdict == {"0.weight": False, "0.bias": False, "2.weight": True, "2.bias": True}
    assert report.worst is not None and report.worst.name.startswith("0.")
    assert report.worst.max_rel_error > 1e-3
    assert "FAILED" in report_text(report, "model")


def test_the_regularizer_is_part_of_the_checked_objective(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong penalty gradient fails too: the objective is loss + regularizers."""
    from mathflow.nn.regularizers import L2

    objective = _tanh_mlp()
    no_penalty = ModelObjective(objective.model, objective.loss, [], objective.x.numpy(), objective.y)
    penalty = sum(0.05 * float((p.numpy() ** 2).sum()) for p in objective.params if p.role == "weight")
    assert objective.value() == pytest.approx(no_penalty.value() + penalty, rel=1e-12)

    def detached(self, w):  # the right value, but no gradient flows through the penalty
        return mf.Tensor((w.numpy() ** 2).sum() * self.lam)

    monkeypatch.setattr(L2, "penalty", detached)
    report = check_gradients(objective)
    assert {p.name for p in report.parameters if not p.passed} == {"0.weight", "2.weight"}


def test_dropout_uses_one_fixed_mask() -> None:
    objective = _tanh_mlp()
    values = {objective.value() for _ in range(3)}
    assert len(values) == 1
    evaluation = _tanh_mlp(training=False)
    assert evaluation.value() != objective.value()  # the mask does change the loss
    assert "evaluation mode" in report_text(check_gradients(evaluation), "model")


def test_large_parameters_are_checked_on_a_random_sample() -> None:
    objective = _objective(nn.Dense(40, activation="tanh"), nn.Dense(3))
    report = check_gradients(objective, max_entries=30)
    sizes = {p.name: (p.checked, p.total, p.sampled) for p in report.parameters}
    assert sizes["0.weight"] == (30, 200, True)
    assert sizes["1.bias"] == (3, 3, False)
    assert report.passed
    assert "30/200 (random sample)" in report_text(report, "model")


def test_kinks_pass_only_with_a_one_sided_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    """Zero inputs and a zero bias put ReLU inputs exactly at 0: L has a kink along that bias."""
    from mathflow.functional.nn import LinearReLU

    x = np.zeros((6, 5))
    x[:3] = np.random.default_rng(1).standard_normal((3, 5))
    objective = _objective(nn.Dense(4, activation="relu"), nn.Dense(3), x=x)
    report = check_gradients(objective)
    assert report.passed
    assert sum(p.kinks for p in report.parameters) > 0
    assert "at a kink" in report_text(report, "model")

    original = LinearReLU.backward_raw

    def doubled(self, gy):
        return tuple(None if g is None else 2.0 * g for g in original(self, gy))

    monkeypatch.setattr(LinearReLU, "backward_raw", doubled)
    assert not check_gradients(objective).passed


def test_bad_options_are_one_line_errors() -> None:
    from mathflow.analysis.pipeline_check import gradcheck_pipeline

    with pytest.raises(MathflowError, match="--batch"):
        gradcheck_pipeline(ROOT / "pipelines" / "iris.yaml", batch=0)
    with pytest.raises(MathflowError, match="--tolerance"):
        gradcheck_pipeline(ROOT / "pipelines" / "iris.yaml", tolerance=0.0)


@pytest.mark.slow
def test_cli_gradcheck_on_iris(tmp_path: Path) -> None:
    """The one subprocess of this file: ``mathflow gradcheck pipelines/iris.yaml`` passes, exit 0."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "mathflow.cli", "gradcheck", str(ROOT / "pipelines" / "iris.yaml"), "--batch", "8"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("dense_1.weight", "dense_1.bias", "dense_2.weight", "dense_2.bias"):
        assert name in done.stdout
    assert "64/64 (all)" in done.stdout and "batch of 8 samples" in done.stdout
    assert "worst parameter:" in done.stdout and done.stdout.rstrip().endswith("PASSED")
