"""Training without a host read inside a step (``Trainer(sync_every_step=False)``, the GPU default):
the same numbers as reading every loss back, the same divergence report, and no read inside a step.
Run here on NumPy, where both modes exist too; ``tests/test_gpu.py`` runs the device."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mathflow.nn as nn
import mathflow.optim as optim
from mathflow.autodiff.tensor import Tensor
from mathflow.data import load_dataset
from mathflow.optim.clip import clip_grad_norm
from mathflow.train import DivergenceError, RichProgress, Trainer
from mathflow.train.device_watch import NonFiniteWatch


def _fit(sync: bool, progress: object = "quiet"):
    ds = load_dataset({"moons": {"n": 150}}, seed=0)
    model = nn.Sequential(nn.Dense(16, activation="tanh"), nn.Dropout(0.2), nn.Dense(2))
    trainer = Trainer(
        model,
        nn.CrossEntropy(),
        lambda p: optim.Adam(p, lr=0.05),
        regularizers=[nn.L2(1e-3)],
        metrics=("accuracy", "f1"),
        clip_norm=0.5,
        seed=3,
        progress=progress,
        sync_every_step=sync,
    )
    history = trainer.fit(ds, ds, epochs=4, batch_size=16)
    return trainer, history


def test_both_modes_give_the_same_numbers_bit_for_bit():
    synced, every = _fit(True)
    deferred, once = _fit(False)
    assert [dict(row) for row in once] == [dict(row) for row in every]
    for a, b in zip(synced.model.parameters(), deferred.model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_no_loss_is_read_back_inside_a_step(monkeypatch):
    reads = []
    original = Tensor.item
    monkeypatch.setattr(Tensor, "item", lambda self: reads.append(1) or original(self))
    _fit(False)
    assert reads == []
    _fit(True)
    assert reads  # the synchronising mode does read them: the probe works


def test_the_default_follows_the_device():
    model = nn.Sequential(nn.Dense(2))
    assert Trainer(model, "mse", lambda p: optim.SGD(p, lr=0.1), backend="cpu").sync_every_step is True
    assert Trainer(model, "mse", lambda p: optim.SGD(p, lr=0.1), sync_every_step=False).sync_every_step is False


def _diverge(sync: bool) -> DivergenceError:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)) * 10
    from mathflow.data import Dataset

    ds = Dataset(x.astype(np.float32), (x @ np.ones(4)).astype(np.float32), task="regression")
    model = nn.Sequential(nn.Dense(32, activation="relu"), nn.Dense(1))
    trainer = Trainer(
        model, "mse", lambda p: optim.SGD(p, lr=1e6), metrics=(), progress="quiet", seed=0, sync_every_step=sync
    )
    with pytest.raises(DivergenceError) as info:
        trainer.fit(ds, epochs=20, batch_size=8)
    assert trainer.history.stop_reason == "diverged" and len(trainer.history) == info.value.epoch - 1
    return info.value


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings of the steps after the first inf
def test_divergence_names_the_same_epoch_step_and_value():
    every, once = _diverge(True), _diverge(False)
    assert (once.epoch, once.step, str(once)) == (every.epoch, every.step, str(every))


def test_the_watch_keeps_the_first_non_finite_step():
    watch = NonFiniteWatch(np.zeros(()))
    for step, value in enumerate([1.0, 2.0, np.inf, np.nan, 3.0], start=1):
        watch.see(np.asarray(value, np.float32), step)
    assert watch.first() == (3, np.inf)
    calm = NonFiniteWatch(np.zeros(()))
    calm.see(np.asarray(0.5), 1)
    assert calm.first() is None


@pytest.mark.parametrize("limit", [1e-3, 1e3])  # clipped, and left alone
def test_clipping_on_the_device_equals_clipping_on_the_host(limit):
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(shape).astype(np.float32) for shape in ((5, 3), (3,), (7,))]
    results = []
    for sync in (True, False):
        params = [Tensor._wrap(np.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.requires_grad = True
            p.grad = Tensor._wrap(g.copy())
        norm = clip_grad_norm(params, limit, sync=sync)
        results.append((float(norm), [p.grad.data for p in params]))
    (host_norm, host_grads), (device_norm, device_grads) = results
    assert host_norm == device_norm
    for a, b in zip(host_grads, device_grads):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_the_progress_bar_moves_without_step_losses():
    buffer = io.StringIO()
    _fit(False, progress=RichProgress(file=buffer))
    text = buffer.getvalue()
    assert "epoch 4/4" in text and "train_loss" in text
