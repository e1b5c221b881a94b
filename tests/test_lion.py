"""Lion (Chen et al. 2023) against the paper's update written out here, and from a pipeline.

``torch.optim`` has no Lion, so the oracle is Algorithm 2 of the paper in plain float64 NumPy:
c = β₁m + (1−β₁)g; W ← W − η(sign(c) + λW); m ← β₂m + (1−β₂)g.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mathflow.errors import MathflowError
from mathflow.nn import Parameter
from mathflow.optim import OPTIMIZERS


def paper_lion(w, grads, lr, beta1, beta2, weight_decay):
    """The paper's Algorithm 2, one step per gradient."""
    w = np.array(w, dtype=np.float64)
    m = np.zeros_like(w)
    for g in grads:
        c = beta1 * m + (1 - beta1) * g
        w = w - lr * (np.sign(c) + weight_decay * w)
        m = beta2 * m + (1 - beta2) * g
    return w


def run_mathflow(w0, grads, **kwargs):
    p = Parameter(np.array(w0, dtype=np.float64))
    opt = OPTIMIZERS.create("lion", params=[p], **kwargs)
    for g in grads:
        p.grad = Parameter(np.array(g, dtype=np.float64))
        opt.step()
    return p.data


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.003, "beta1": 0.5, "beta2": 0.9, "weight_decay": 1.0}],
)
def test_lion_follows_the_papers_update_for_30_steps(kwargs):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) for _ in range(30)]
    settings = {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0, **kwargs}
    np.testing.assert_allclose(run_mathflow(w0, grads, **kwargs), paper_lion(w0, grads, **settings), rtol=0, atol=1e-12)


def test_first_step_moves_every_coordinate_by_lr_and_a_zero_gradient_not_at_all():
    out = run_mathflow([1.0, -2.0, 3.0], [np.array([0.5, -7.0, 0.0])], lr=0.1)
    np.testing.assert_allclose(out, [0.9, -1.9, 3.0])


def test_float32_stays_float32_and_updates_in_place():
    p = Parameter(np.ones(5, dtype=np.float32))
    data = p.data
    opt = OPTIMIZERS.create("lion", params=[p], lr=0.5)
    p.grad = Parameter(np.full(5, 2.0, dtype=np.float32))
    opt.step()
    assert p.data is data and p.data.dtype == np.float32
    np.testing.assert_array_equal(p.data, np.full(5, 0.5, dtype=np.float32))


def test_checkpoint_round_trip_continues_the_same_trajectory():
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=3) for _ in range(6)]
    p = Parameter(np.zeros(3))
    opt = OPTIMIZERS.create("lion", params=[p], lr=0.01, weight_decay=0.1)
    for g in grads[:3]:
        p.grad = Parameter(g)
        opt.step()
    state = opt.state_dict()
    q = Parameter(p.data.copy())
    restored = OPTIMIZERS.create("lion", params=[q], lr=0.01, weight_decay=0.1)
    restored.load_state_dict(state)
    for g in grads[3:]:
        p.grad, q.grad = Parameter(g), Parameter(g)
        opt.step()
        restored.step()
    np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, "lion: lr must be > 0"),
        ({"beta1": 1.0}, "beta1 must satisfy 0 <= beta1 < 1"),
        ({"beta2": -0.1}, "beta2 must satisfy"),
        ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, message):
    with pytest.raises(MathflowError, match=message):
        OPTIMIZERS.create("lion", params=[Parameter(np.ones(2))], **kwargs)


PIPELINE = """\
version: 1
name: iris-lion
seed: 0
data: {source: iris, split: {train: 0.6, val: 0.2, test: 0.2}, transforms: [standardize]}
model:
  layers:
    - dense: {units: 16, activation: tanh}
    - dense: {units: 3}
loss: cross_entropy
optimizer:
  lion: {lr: LR, beta2: 0.99}
train: {epochs: 3, batch_size: 16}
"""


def _validate(tmp_path: Path, lr: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "lion.yaml"
    path.write_text(PIPELINE.replace("LR", lr), encoding="utf-8")
    command = [sys.executable, "-m", "mathflow.cli", "validate", str(path)]
    return subprocess.run(command, capture_output=True, text=True, env={"MATHFLOW_DAEMON": "off", "PATH": ""})


def test_a_pipeline_names_lion_and_a_bad_value_is_located(tmp_path):
    ok = _validate(tmp_path, "0.001")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _validate(tmp_path, "-0.001")
    assert bad.returncode != 0
    assert "lion.yaml:11:14: 'lr' must be > 0.0, got -0.001" in bad.stderr
