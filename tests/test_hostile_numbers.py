"""Non-finite numbers: no numeric field of the pipeline schema takes ``.inf``, ``-.inf`` or ``.nan``;
the error names the field at its ``file:line:col``."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mathflow.component import Component, SpecModel

PIPELINE = """\
version: 1
name: finite
data:
  source: digits
  split: {train: 0.7, val: 0.15, test: 0.15}
model:
  layers:
    - dense: {units: 10}
loss: cross_entropy
regularizers:
  - l2: {lambda: 1.0e-4}
optimizer:
  adam: {lr: 1.0e-3}
train:
  epochs: 2
"""
NON_FINITE = [".inf", "-.inf", ".nan"]


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("MATHFLOW_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", "validate", path.name],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 1, (done.stdout[-500:], done.stderr[-1000:])
    assert "Traceback" not in done.stderr
    return [line for line in done.stderr.splitlines() if line.strip()]


CASES = {
    # name: (text replaced in PIPELINE, its replacement with {v}, expected "line:col: 'field'")
    "optimizer_lr": ("adam: {lr: 1.0e-3}", "adam: {lr: {v}}", "13:14: 'lr'"),
    "adam_beta": ("adam: {lr: 1.0e-3}", "adam: {lr: 1.0e-3, beta1: {v}}", "13:29: 'beta1'"),
    "clip_norm": ("  epochs: 2\n", "  epochs: 2\n  clip_norm: {v}\n", "16:14: 'clip_norm'"),
    "l2_lambda": ("l2: {lambda: 1.0e-4}", "l2: {lambda: {v}}", "11:18: 'lambda'"),
    "split": ("{train: 0.7,", "{train: {v},", "5:18: 'train'"),
}


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("case", list(CASES))
def test_a_non_finite_value_is_refused_at_its_line(tmp_path: Path, case: str, value: str) -> None:
    old, new, expected = CASES[case]
    assert old in PIPELINE
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.replace(old, new.replace("{v}", value), 1))
    lines = _errors(_validate(path))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"p.yaml:{expected} must be a finite number"), lines[0]


def test_early_stopping_min_delta_refuses_nan(tmp_path: Path) -> None:
    text = PIPELINE.replace("  epochs: 2\n", "  epochs: 2\n  early_stopping: {min_delta: .nan}\n", 1)
    path = tmp_path / "p.yaml"
    path.write_text(text)
    lines = _errors(_validate(path))
    assert any(re.match(r"p\.yaml:\d+:\d+: 'min_delta' must be a finite number", line) for line in lines), lines


def test_math_tolerance_refuses_inf(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("kind: optimize\nvariables: {x: 1.0}\nminimize: x**2\nsteps: 10\ntolerance: .inf\n")
    lines = _errors(_validate(path))
    assert lines == ["m.yaml:5:12: 'tolerance' must be a finite number, got a float inf"], lines


# ------------------------------------------------------------------------- every model, every float
def _all_spec_models() -> list[type[SpecModel]]:
    import mathflow.pipeline  # noqa: F401 - registers every component model
    import mathflow.schema.math_pipeline  # noqa: F401

    seen: list[type[SpecModel]] = []
    pending: list[type[Any]] = [SpecModel]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                pending.append(sub)
    return seen


def _is_number_schema(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "number":
        return True
    return any(_is_number_schema(s) for s in schema.get("anyOf", []))


def test_no_spec_model_lets_non_finite_floats_in() -> None:
    models = _all_spec_models()
    assert len(models) > 50
    for model in models:
        assert model.model_config.get("allow_inf_nan") is False, model.__name__


def _float_params(model: type[Component]) -> list[str]:
    properties = model.model_json_schema(by_alias=True).get("properties", {})
    return [name for name, schema in properties.items() if _is_number_schema(schema)]


def test_every_float_parameter_of_every_component_refuses_inf_and_nan() -> None:
    checked = 0
    for model in _all_spec_models():
        if not issubclass(model, Component) or "type" not in model.model_fields:
            continue
        base = {"type": model.component_name(), **model.example}
        try:
            model.model_validate(base)
        except ValidationError:
            continue  # needs more than its example (checked by the contract tests)
        for name in _float_params(model):
            for bad in (math.inf, -math.inf, math.nan):
                with pytest.raises(ValidationError):
                    model.model_validate({**base, name: bad})
                checked += 1
    assert checked > 30
