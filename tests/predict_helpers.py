"""A small CSV data set with categorical columns and a pipeline that trains on it, for the predict
and serve tests: the raw rows a model trained on a CSV file takes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLUMNS = ["size", "color", "weight", "shape"]
TARGET = "kind"
COLORS = ["blue", "green", "red"]
SHAPES = ["round", "square"]

PIPELINE = """\
version: 1
name: fruit
seed: 0
data:
  source: {csv: {path: fruit.csv, target: kind}}
  split: {train: 0.7, test: 0.3}
  transforms: [standardize]
model:
  layers:
    - dense: {units: 8, activation: tanh}
    - dense: {units: 2}
loss: cross_entropy
optimizer:
  sgd: {lr: 0.1, momentum: 0.9}
train: {epochs: 3, batch_size: 16}
metrics: [accuracy]
tracking: {experiment: fruit}
"""


def fruit_rows(n: int = 90, seed: int = 0) -> list[list[str]]:
    """``n`` rows (size, color, weight, shape, kind) whose kind, big or small, follows size, color and shape."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        color, shape = str(rng.choice(COLORS)), str(rng.choice(SHAPES))
        size, weight = rng.normal(5.0, 2.0), rng.normal(10.0, 3.0)
        score = size + {"red": 2.0, "blue": -1.0, "green": 0.0}[color] + (1.5 if shape == "round" else 0.0)
        rows.append([f"{size:.3f}", color, f"{weight:.2f}", shape, "big" if score > 6 else "small"])
    return rows


def write_csv(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    """``rows`` under ``header`` (default: the columns and the target) as a CSV file."""
    lines = [",".join(header or [*COLUMNS, TARGET])] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def train_fruit(folder: Path, uri: str) -> str:
    """The run id of a short training on ``folder/fruit.csv`` (written here), logged to ``uri``."""
    from mathflow.run import run_pipeline

    write_csv(folder / "fruit.csv", fruit_rows())
    (folder / "fruit.yaml").write_text(PIPELINE)
    return run_pipeline(folder / "fruit.yaml", [], tracking_uri=uri, quiet=True).run_id
