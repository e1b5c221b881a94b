"""docs/reference.md is generated from the schema and the registries: the committed file is current,
it names every section key and every component, and its graph example is a pipeline that runs
(``pipelines/residual.yaml``, run end to end by tests/test_pipelines_run.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mathflow.schema.reference import GRAPH_EXAMPLE, reference_markdown, write_reference

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"


@pytest.fixture(scope="module")
def text() -> str:
    return reference_markdown()


def test_committed_reference_is_current(text):
    assert REFERENCE.read_text(encoding="utf-8") == text, "regenerate it: mathflow docs --out docs/reference.md"


def test_write_reference_writes_the_same_text(tmp_path, text):
    path = write_reference(tmp_path / "sub" / "reference.md")
    assert path.read_text(encoding="utf-8") == text


def test_every_section_key_is_documented(text):
    from mathflow.schema.data import DataSection
    from mathflow.schema.model import ModelSection
    from mathflow.schema.pipeline import PipelineSpec
    from mathflow.schema.train import EarlyStopping, TrainSection

    for model, heading in [
        (PipelineSpec, "### top level"),
        (DataSection, "### `data`"),
        (ModelSection, "### `model`"),
        (TrainSection, "### `train`"),
        (EarlyStopping, "### `train.early_stopping`"),
    ]:
        section = text.split(heading + "\n", 1)[1].split("\n### ", 1)[0]
        keys = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
        assert keys == [info.alias or name for name, info in model.model_fields.items()], heading


def test_every_component_and_alias_is_documented(text):
    from mathflow.registry import config_names
    from mathflow.schema.pipeline_io import registries

    for family, registry in registries().items():
        table = text.split(f"### {family}\n", 1)[1].split("\n### ", 1)[0]
        models = registry.config_models()  # what a pipeline can name (containers have no config model)
        names = [n for m in models for n in config_names(m)] if models else registry.names()
        assert names
        for name in names:
            assert f"`{name}`" in table, (family, name)


def test_parameters_and_their_defaults_are_documented(text):
    dense = next(line for line in text.splitlines() if line.startswith("| `dense` |"))
    assert "`units`: int = required (output features)" in dense
    assert "`activation`: activation name = `null`" in dense
    top_k = next(line for line in text.splitlines() if line.startswith("| `top_k_accuracy` |"))
    assert "`top_k`" in top_k and "`k`: int = `5`" in top_k and "top_<k>_accuracy" in top_k
    assert "| `{top_k_accuracy: {k: 2}}` | `top_2_accuracy` |" in text
    assert "| `f1` | `f1_macro` |" in text and "| `{f1: {average: micro}}` | `f1_micro` |" in text
    assert "confusion_matrix` | `confusion_matrix` |" not in text  # not logged per epoch


def test_schedules_are_documented_as_counting_epochs(text):
    schedule = next(line for line in text.splitlines() if line.startswith("| `schedule` |"))
    assert "count epochs, not batches" in schedule
    for line in text.split("### schedules\n", 1)[1].split("\n### ", 1)[0].splitlines()[2:]:
        if "steps" in line and "`" in line:
            assert "a step is an epoch" in line or line.startswith(("| `constant`", "| `exponential`")), line


def test_graph_example_is_the_pipeline_file_and_it_compiles(text):
    from mathflow.pipeline import load_pipeline

    section = text.split("## Graph models (`model.nodes`)\n", 1)[1].split("\n## ", 1)[0]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert example in GRAPH_EXAMPLE.read_text(encoding="utf-8")
    assert "nodes:" in example and "inputs: [stem, fc2]" in example and "`add`, `concat`" in section
    spec, compiled = load_pipeline(GRAPH_EXAMPLE)
    assert spec.model.is_graph and compiled.graph.output_shape == (10,)


def test_readme_links_the_reference_and_the_first_hour():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/reference.md)" in readme and "(docs/first-hour.md)" in readme


@pytest.mark.slow
def test_a_pipeline_schedule_counts_epochs_as_documented(tmp_path):
    """step_size: 1 halves the rate once per epoch (6 batches an epoch here), not once per batch."""
    from mathflow.run import run_pipeline

    store = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    overrides = ["train.epochs=3", "train.early_stopping=null", "schedule={step: {step_size: 1, gamma: 0.5}}"]
    result = run_pipeline(ROOT / "pipelines" / "iris.yaml", overrides, tracking_uri=store, quiet=True, device="cpu")
    assert result.steps == 3 * 6
    assert [row["lr"] for row in result.history] == pytest.approx([0.05, 0.025, 0.0125])
