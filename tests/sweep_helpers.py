"""A small iris pipeline for the sweep tests (a sweep section is appended to it)."""

from __future__ import annotations


def tiny_iris(epochs: int = 2, seed: int = 7, experiment: str = "sweeps") -> str:
    """The text of an iris MLP pipeline with ``epochs``, ``seed`` and the ``experiment`` it logs to."""
    return f"""\
version: 1
name: tiny
seed: {seed}
data:
  source: iris
  split: {{train: 0.6, val: 0.2, test: 0.2}}
  transforms: [standardize]
model:
  layers:
    - dense: {{units: 8, activation: tanh}}
    - dense: {{units: 3}}
loss: cross_entropy
optimizer:
  sgd: {{lr: 0.05, momentum: 0.9}}
train: {{epochs: {epochs}, batch_size: 16}}
metrics: [accuracy]
tracking: {{experiment: {experiment}}}
"""
