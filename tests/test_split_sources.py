"""Pipelines with one data source per split (``data.source: {train: ..., test: ...}``): validation,
located errors, ``show``, and ``mathflow run`` reading the test metrics from the test file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mathflow.config import ConfigError
from mathflow.pipeline import load_pipeline

PIPELINE = """\
version: 1
name: split-files
seed: 0
data:
  source:
    train: {csv: {path: train.csv, target: label}}
    test: {csv: {path: test.csv, target: label}}
  transforms: [standardize]
model:
  layers:
    - dense: {units: 2}
loss: cross_entropy
optimizer: {adam: {lr: 0.1}}
train: {epochs: 20, batch_size: 16}
metrics: [accuracy]
"""


def _write_csv(path: Path, x: np.ndarray, labels: list[str]) -> None:
    rows = [f"{a:.4f},{b:.4f},{label}" for (a, b), label in zip(x, labels)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """40 well separated training rows; 10 test rows of which the first 5 carry the wrong label."""
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = np.stack([np.where(y == 1, 5.0, -5.0) + rng.normal(0, 0.3, 40), rng.normal(0, 1, 40)], axis=1)
    _write_csv(tmp_path / "train.csv", x, ["yes" if v else "no" for v in y])
    yt = np.arange(10) % 2
    xt = np.stack([np.where(yt == 1, 5.0, -5.0), np.zeros(10)], axis=1)
    wrong = [bool(v) != (i < 5) for i, v in enumerate(yt)]
    _write_csv(tmp_path / "test.csv", xt, ["yes" if v else "no" for v in wrong])
    (tmp_path / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    return tmp_path


def mathflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def errors(folder: Path, text: str) -> list[tuple[int, int, str]]:
    (folder / "bad.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_pipeline(str(folder / "bad.yaml"))
    return [(i.location.line, i.location.col, str(i)) for i in info.value.issues]


def test_per_split_sources_validate_and_prepare(folder: Path) -> None:
    spec, compiled = load_pipeline(str(folder / "p.yaml"))
    assert spec.data.per_split
    assert spec.data.split_names() == ["train", "test"]
    assert compiled.data.num_classes == 2
    assert compiled.data.sample_shape == (2,)
    data = compiled.prepare_data()
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 40, "test": 10}
    assert data.splits["test"].class_names == ["no", "yes"]


def test_show_writes_each_split_and_no_fractions(folder: Path) -> None:
    done = mathflow("show", "p.yaml", cwd=folder)
    assert done.returncode == 0, done.stderr
    shown = yaml.safe_load(done.stdout)["data"]
    assert shown["source"]["train"]["csv"]["path"] == "train.csv"
    assert shown["source"]["test"]["csv"]["path"] == "test.csv"
    assert "split" not in shown


def test_run_evaluates_on_the_test_file_and_the_logged_pipeline_reruns(folder: Path, tmp_path_factory) -> None:
    from mlflow.tracking import MlflowClient

    done = mathflow("run", "p.yaml", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # the model separates the classes; half of the test file's labels are wrong on purpose
    assert summary["metrics"]["train_accuracy"] == 1.0
    assert summary["metrics"]["test_accuracy"] == 0.5
    assert summary["steps"] == 20 * 3  # all 40 training rows (batches of 16): nothing was split off

    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    run = client.get_run(summary["run_id"])
    assert run.data.params["data.source.test.csv.path"] == str(folder / "test.csv")
    contexts = {tag.value for i in run.inputs.dataset_inputs for tag in i.tags if tag.key == "mlflow.data.context"}
    assert contexts == {"training", "testing"}

    logged = Path(client.download_artifacts(summary["run_id"], "pipeline.yaml", str(tmp_path_factory.mktemp("dl"))))
    source = yaml.safe_load(logged.read_text(encoding="utf-8"))["data"]["source"]
    assert source["train"]["csv"]["path"] == str(folder / "train.csv")
    assert source["test"]["csv"]["path"] == str(folder / "test.csv")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    again = mathflow("run", str(logged), "--json", cwd=elsewhere)
    assert again.returncode == 0, again.stderr
    repeat = json.loads(again.stdout.strip().splitlines()[-1])
    assert repeat["metrics"]["test_accuracy"] == 0.5
    assert repeat["config_hash"] == summary["config_hash"]


def test_split_fractions_with_per_split_sources_are_an_error_at_split(folder: Path) -> None:
    text = PIPELINE.replace("  transforms:", "  split: {train: 0.8, test: 0.2}\n  transforms:")
    found = errors(folder, text)
    assert [(line, col) for line, col, _ in found] == [(8, 10)]
    assert "leave out 'split'" in found[0][2]


def test_missing_train_source(folder: Path) -> None:
    found = errors(folder, PIPELINE.replace("    train: {csv: {path: train.csv, target: label}}\n", ""))
    assert len(found) == 1
    assert found[0][:2] == (5, 3)
    assert "missing required key 'train'" in found[0][2]


def test_unknown_split_name_suggests_the_right_one(folder: Path) -> None:
    found = errors(folder, PIPELINE.replace("    test:", "    tset:"))
    assert found[0][:2] == (7, 5)
    assert "unknown key 'tset'" in found[0][2]
    assert "did you mean 'test'" in found[0][2]


def test_missing_file_in_the_test_entry_is_located(folder: Path) -> None:
    found = errors(folder, PIPELINE.replace("path: test.csv", "path: nope.csv"))
    assert len(found) == 1
    line, col, message = found[0]
    assert (line, col) == (7, 24)
    assert message.startswith(f"{folder / 'bad.yaml'}:7:24: data file 'nope.csv' not found")


def test_early_stopping_on_val_needs_a_val_source(folder: Path) -> None:
    text = PIPELINE.replace("batch_size: 16}", "batch_size: 16, early_stopping: {monitor: val_loss}}")
    found = errors(folder, text)
    assert any("data.source has no 'val' entry" in m for _, _, m in found)


def test_a_val_source_feeds_validation(folder: Path) -> None:
    text = PIPELINE.replace("    test:", "    val: {csv: {path: test.csv, target: label}}\n    test:")
    (folder / "v.yaml").write_text(text, encoding="utf-8")
    spec, compiled = load_pipeline(str(folder / "v.yaml"))
    assert spec.data.split_names() == ["train", "val", "test"]
    assert {k: len(v) for k, v in compiled.prepare_data().splits.items()} == {"train": 40, "val": 10, "test": 10}
