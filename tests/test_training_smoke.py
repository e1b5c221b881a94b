"""End-to-end learning with plain gradient descent (p.data -= lr · p.grad.data)."""

from __future__ import annotations

import numpy as np

import mathflow as mf
import mathflow.nn as nn


def _sgd_step(model: nn.Layer, lr: float) -> None:
    for p in model.parameters():
        p.data -= lr * p.grad.data
    model.zero_grad()


def test_dense_relu_net_learns_xor():
    mf.get_backend().reseed(0)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.float32)
    model = nn.Sequential(nn.Dense(8, activation="relu"), nn.Dense(1, activation="sigmoid"))
    loss_fn = nn.BinaryCrossEntropy()
    first = None
    for _ in range(1500):
        loss = loss_fn(model(x), y)
        first = loss.item() if first is None else first
        loss.backward()
        _sgd_step(model, lr=0.5)
    probs = model(x).numpy().ravel()
    np.testing.assert_array_equal(probs > 0.5, y > 0.5)
    assert loss.item() < 0.05 < first
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_small_cnn_overfits_a_tiny_batch():
    mf.get_backend().reseed(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
    labels = np.arange(8) % 3
    model = nn.Sequential(
        nn.Conv2D(4, 3, padding="same", activation="relu"),
        nn.MaxPool2D(2),
        nn.Conv2D(8, 3, activation="relu"),
        nn.Flatten(),
        nn.Dense(16, activation="relu"),
        nn.Dense(3),
    )
    loss_fn = nn.CrossEntropy()
    reg = nn.L2(1e-5)
    for _ in range(150):
        loss = loss_fn(model(x), labels) + reg(model)
        loss.backward()
        _sgd_step(model, lr=0.1)
    predictions = model(x).numpy().argmax(axis=1)
    assert (predictions == labels).mean() == 1.0
    assert loss.item() < 0.1


def test_batchnorm_dropout_net_trains_and_evaluates():
    mf.get_backend().reseed(2)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Dense(16), nn.BatchNorm(), nn.ReLU(), nn.Dropout(0.1), nn.Dense(2))
    loss_fn = nn.CrossEntropy()
    for _ in range(200):
        loss = loss_fn(model(x), y)
        loss.backward()
        _sgd_step(model, lr=0.2)
    model.eval()
    accuracy = (model(x).numpy().argmax(axis=1) == y).mean()
    assert accuracy > 0.95
