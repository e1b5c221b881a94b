"""The pipeline commands run as real processes: validate, schema, show, graph, list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mathflow.pipeline import load_pipeline
from mathflow.schema import schema_text

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/pipeline.schema.json"
BROKEN = """\
version: 1
name: broken
data: {source: iris}
model:
  layers:
    - dense: {unit: 3}
    - dropout: {rate: 2}
loss: cross_entropy
optimizer: {adam: {lr: 0}}
"""


def mathflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd or ROOT
    )


# ------------------------------------------------------------------------------------------ validate
def test_validate_prints_the_layer_table_and_total():
    result = mathflow("validate", "pipelines/cnn.yaml")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("conv2d_1", "(N, 16, 8, 8)", "(N, 16, 4, 4)", "(N, 256)", "16,448", "total parameters: 17,258"):
        assert text in out, text
    row = next(line for line in out.splitlines() if "dense_2" in line)
    assert "(N, 10)" in row and "650" in row and "21" in row  # shape, parameters, YAML line


def test_validate_graph_pipeline_shows_inputs():
    result = mathflow("validate", "pipelines/residual.yaml")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if " sum " in line)
    assert "stem, fc2" in row and "add" in row


def test_validate_reports_every_error_located_without_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text(BROKEN)
    result = mathflow("validate", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "bad.yaml:6:15: dense has no parameter 'unit' (did you mean 'units'?)",
        "bad.yaml:7:23: 'rate' must be < 1.0, got 2",
        "bad.yaml:9:24: 'lr' must be > 0.0, got 0",
    ]
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text(BROKEN)
    result = mathflow("validate", "bad.yaml", "--debug", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_validate_shape_error_at_the_layer_line(tmp_path):
    text = (ROOT / "pipelines" / "cnn.yaml").read_text().replace("    - flatten\n", "")
    (tmp_path / "cnn.yaml").write_text(text)
    result = mathflow("validate", "cnn.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "cnn.yaml:17:7: dense needs 1-D features per sample, got (16, 4, 4): add flatten before it"
    )


def test_set_overrides_change_the_table_and_are_blamed_for_errors():
    ok = mathflow("validate", "pipelines/cnn.yaml", "--set", "model.layers.4.dense.units=32")
    assert ok.returncode == 0, ok.stderr
    assert "total parameters: 8,714" in ok.stdout  # 160 + (256·32 + 32) + (32·10 + 10)
    bad = mathflow("validate", "pipelines/cnn.yaml", "--set", "train.epochs=-1")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "--set train.epochs=-1: 'epochs' must be > 0, got -1"


def test_missing_file_is_an_error_not_a_traceback():
    result = mathflow("validate", "pipelines/no_such.yaml")
    assert result.returncode == 1 and result.stderr.strip() == "pipelines/no_such.yaml: no such file"


def test_validate_checks_several_files_and_goes_on_after_a_failing_one(tmp_path):
    (tmp_path / "bad.yaml").write_text(BROKEN)
    (tmp_path / "iris.yaml").write_text((ROOT / "pipelines" / "iris.yaml").read_text())
    (tmp_path / "nan.yaml").write_text("kind: analyze\nname: at-nan\nfunction: x**2\nat: {x: .nan}\n")
    (tmp_path / "square.yaml").write_text("kind: analyze\nname: square\nfunction: x**2\nat: {x: 1.0}\n")
    files = ["bad.yaml", "iris.yaml", "nan.yaml", "missing.yaml", "square.yaml"]
    result = mathflow("validate", *files, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "bad.yaml:6:15: dense has no parameter 'unit' (did you mean 'units'?)",
        "bad.yaml:7:23: 'rate' must be < 1.0, got 2",
        "bad.yaml:9:24: 'lr' must be > 0.0, got 0",
        "nan.yaml:4:9: 'x' must hold finite numbers only, but it is .nan",
        "missing.yaml: no such file",
    ]
    lines = result.stdout.splitlines()
    assert "iris.yaml: OK" in lines and "square.yaml: valid analyze pipeline 'square'" in lines
    assert lines[-1] == "2 of 5 files valid"


def test_validate_applies_set_to_every_file_and_names_the_file_it_fails_for():
    files = ["pipelines/iris.yaml", "pipelines/cnn.yaml"]
    ok = mathflow("validate", *files, "--set", "name=renamed")
    assert ok.returncode == 0, ok.stderr
    assert "renamed: pipelines/iris.yaml" in ok.stdout and "renamed: pipelines/cnn.yaml" in ok.stdout
    assert ok.stdout.splitlines()[-1] == "2 of 2 files valid"
    bad = mathflow("validate", *files, "--set", "train.epochs=-1")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [f"{file}: --set train.epochs=-1: 'epochs' must be > 0, got -1" for file in files]
    assert bad.stdout.splitlines() == ["0 of 2 files valid"]


def test_validate_does_not_import_mlflow():
    code = (
        "import sys\nfrom mathflow.cli import app\n"
        "try:\n    app(['validate', 'pipelines/mlp.yaml'])\nexcept SystemExit as e:\n    assert e.code in (0, None)\n"
        "print('mlflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


# ------------------------------------------------------------------------------------------ schema
def test_schema_command_matches_the_checked_in_file(tmp_path):
    result = mathflow("schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "schemas" / "pipeline.schema.json").read_text(encoding="utf-8") == schema_text()
    written = mathflow("schema", "--output", str(tmp_path / "s.json"))
    assert written.returncode == 0
    assert (tmp_path / "s.json").read_text(encoding="utf-8") == schema_text()


# ------------------------------------------------------------------------------------------ show
@pytest.mark.parametrize("name", ["cnn.yaml", "residual.yaml"])
def test_show_prints_yaml_that_validates_as_it_is(tmp_path, name):
    shown = mathflow("show", f"pipelines/{name}")
    assert shown.returncode == 0, shown.stderr
    assert "stride: 1" in shown.stdout or "nodes:" in shown.stdout  # defaults filled in
    (tmp_path / "shown.yaml").write_text(shown.stdout)
    again = mathflow("show", "shown.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == shown.stdout
    original, _ = load_pipeline(ROOT / "pipelines" / name)
    resolved, _ = load_pipeline(tmp_path / "shown.yaml")
    assert resolved == original


def test_show_applies_overrides():
    result = mathflow("show", "pipelines/mlp.yaml", "--set", "train.epochs=3")
    assert result.returncode == 0 and "  epochs: 3\n" in result.stdout


# ------------------------------------------------------------------------------------------ graph
def test_graph_mermaid_and_dot():
    mermaid = mathflow("graph", "pipelines/residual.yaml", "--format", "mermaid")
    assert mermaid.returncode == 0, mermaid.stderr
    assert mermaid.stdout.startswith("flowchart TD") and "n_stem --> n_sum" in mermaid.stdout
    dot = mathflow("graph", "pipelines/residual.yaml", "--format", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith("digraph model {") and "n_fc2 -> n_sum;" in dot.stdout
    bad = mathflow("graph", "pipelines/residual.yaml", "--format", "png")
    assert bad.returncode == 1 and "unknown graph format 'png'" in bad.stderr


# ------------------------------------------------------------------------------------------ list
def test_list_families_and_components():
    families = mathflow("list")
    assert families.returncode == 0
    for family in (
        "layers",
        "activations",
        "losses",
        "regularizers",
        "optimizers",
        "schedules",
        "datasets",
        "transforms",
    ):
        assert family in families.stdout
    layers = mathflow("list", "layers")
    assert layers.returncode == 0
    assert "conv2d" in layers.stdout and "units: int (required)" in layers.stdout and "padding" in layers.stdout
    optim = mathflow("list", "optimizers")
    assert "beta2: float = 0.999" in optim.stdout
    bad = mathflow("list", "optimizer")
    assert bad.returncode == 1 and "did you mean 'optimizers'?" in bad.stderr


# ------------------------------------------------------------------------------------------ examples
@pytest.mark.parametrize("path", PIPELINES, ids=[p.name for p in PIPELINES])
def test_every_example_pipeline_validates(path):
    assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_LINE
    spec, compiled = load_pipeline(path)
    assert compiled.graph.total_params > 0


def test_the_promised_examples_exist():
    names = {p.name for p in PIPELINES}
    expected = {"cnn", "mlp", "logistic", "svm", "regression", "iris", "pca_mlp", "residual", "lasso"}
    assert {f"{n}.yaml" for n in expected} <= names
