"""Part 3 of issue 14: ``optimizer:`` is the same setting as ``method:`` in optimize pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest

from mathflow.config import ConfigError
from mathflow.mathpipe.optimize import solve
from mathflow.mathpipe.problem import load_problem

MATH = Path(__file__).resolve().parents[1] / "pipelines" / "math"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def errors(path: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_problem(path)
    return [str(issue) for issue in info.value.issues]


def test_optimizer_key_gives_the_same_run_as_method(tmp_path):
    head = "kind: optimize\nvariables: {x: 4.0}\nminimize: x**2\nsteps: 5\n"
    with_method, _ = solve(load_problem(write(tmp_path, head + "method: {gd: {lr: 0.1}}\n")))
    with_optimizer, _ = solve(load_problem(write(tmp_path, head + "optimizer: {gd: {lr: 0.1}}\n")))
    assert with_optimizer == with_method
    assert with_optimizer["method"] == "gd" and with_optimizer["solution"]["x"] == pytest.approx(4 * 0.8**5)


def test_optimizer_key_takes_newton_and_overrides():
    problem = load_problem(MATH / "rosenbrock.yaml", ["method=null", "optimizer=newton"])
    assert problem.spec.method_name == "newton" and problem.spec.method_key == "optimizer"


def test_both_keys_are_a_located_error(tmp_path):
    path = write(tmp_path, "kind: optimize\nvariables: {x: 1.0}\nminimize: x**2\nmethod: gd\noptimizer: adam\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:5:1: give either 'method' or 'optimizer'")


def test_typos_and_constraint_checks_point_at_the_optimizer_key(tmp_path):
    path = write(tmp_path, "kind: optimize\nvariables: {x: 1.0}\nminimize: x**2\noptimizer: {adma: {lr: 0.1}}\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:4:13: unknown method 'adma'") and "did you mean 'adam'" in issue
    path = write(
        tmp_path, "kind: optimize\nvariables: {x: 1.0}\nminimize: x**2\nsubject_to: [x = 1]\noptimizer: adam\n"
    )
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:5:12: constraints are solved with 'method: lagrange'")


def test_the_schema_documents_the_optimizer_key():
    from mathflow.schema.math_pipeline import math_json_schema

    schema = math_json_schema()
    (optimize,) = [d for d in schema["$defs"].values() if d.get("title") == "mathflow optimize pipeline"]
    assert (
        "optimizer" in optimize["properties"]
        and "same as 'method'" in optimize["properties"]["optimizer"]["description"]
    )
