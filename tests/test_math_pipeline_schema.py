"""Validating math pipelines: the two kinds, located errors, overrides, summary, schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from mathflow.config import ConfigError
from mathflow.mathpipe import is_math_pipeline, validate_math
from mathflow.mathpipe.problem import load_problem
from mathflow.schema.math_pipeline import math_schema_text

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "pipelines" / "math"


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def errors(path: str, overrides=()) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_problem(path, overrides)
    return [str(issue) for issue in info.value.issues]


# ------------------------------------------------------------------------------------------ kinds
def test_is_math_pipeline(tmp_path):
    assert is_math_pipeline(MATH / "lagrange_xy.yaml")
    assert is_math_pipeline(MATH / "pca_digits.yaml")
    assert not is_math_pipeline(ROOT / "pipelines" / "mlp.yaml")
    assert not is_math_pipeline(tmp_path / "missing.yaml")
    assert not is_math_pipeline(write(tmp_path, "kind: [unclosed"))


def test_every_example_validates():
    files = sorted(MATH.glob("*.yaml"))
    assert len(files) >= 15
    for path in files:
        text = validate_math(path, [])
        assert "valid" in text


def test_summary_describes_the_problem():
    text = validate_math(MATH / "lagrange_xy.yaml", [])
    assert "maximize x * y" in text
    assert "subject to x + y = 10" in text
    assert "lagrange" in text
    text = validate_math(MATH / "gradient_descent.yaml", ["method={adam: {lr: 0.5}}"])
    assert "optimizer adam(" in text and "lr=0.5" in text


def test_defaults_and_method_forms(tmp_path):
    base = "kind: optimize\nvariables: {x: 1.0}\nminimize: x**2\n"
    spec = load_problem(write(tmp_path, base)).spec
    assert spec.method_name == "gd" and spec.steps == 100 and spec.tracking.experiment == "math"
    spec = load_problem(write(tmp_path, base + "subject_to: [x = 2]\n")).spec
    assert spec.method_name == "lagrange"
    for method, name in (
        ("gd", "gd"),
        ("{adam: {lr: 0.1}}", "adam"),
        ("{type: momentum, lr: 0.2}", "momentum"),
        ("newton", "newton"),
    ):
        spec = load_problem(write(tmp_path, base + f"method: {method}\n")).spec
        assert spec.method_name == name


def test_overrides_apply(tmp_path):
    problem = load_problem(MATH / "gradient_descent.yaml", ["steps=5", "variables.x=2.0"])
    assert problem.spec.steps == 5 and problem.spec.variables == {"x": 2.0}


# ------------------------------------------------------------------------------------------ located errors
def test_objective_that_is_not_scalar(tmp_path):
    path = write(tmp_path, "kind: optimize\nvariables: {w: [1.0, 2.0]}\nminimize: w * 2\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:3:11: the objective 'w * 2' must be a scalar")


def test_constraint_without_equals(tmp_path):
    path = write(tmp_path, "kind: optimize\nvariables: {x: 1.0, y: 1.0}\nmaximize: x * y\nsubject_to:\n  - x + y 10\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:5:5: constraint 'x + y 10' has no '='")


def test_variable_used_but_not_declared(tmp_path):
    path = write(tmp_path, "kind: optimize\nvariables: {x: 1.0, y: 1.0}\nmaximize: x * yy + z\n")
    issues = errors(path)
    assert issues[0].startswith(f"{path}:3:15: unknown name 'yy'") and "did you mean 'y'" in issues[0]
    assert issues[1].startswith(f"{path}:3:20: unknown name 'z'")


def test_quoted_constraint_columns_count_the_quote(tmp_path):
    path = write(tmp_path, 'kind: optimize\nvariables: {x: 1.0}\nminimize: x\nsubject_to: ["x = q"]\n')
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:4:19: unknown name 'q'")


def test_unknown_function_and_syntax_error(tmp_path):
    path = write(tmp_path, "kind: analyze\nfunction: x**2 + siin(x)\nat: {x: 1.0}\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:2:18: unknown function 'siin'") and "did you mean 'sin'" in issue
    path = write(tmp_path, "kind: analyze\nfunction: 'x * * 2'\nat: {x: 1.0}\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:2:16: syntax error")


def test_every_mistake_is_reported_at_once(tmp_path):
    text = (
        "kind: optimize\n"
        "variables: {x: 1.0, sum: 2.0}\n"
        "maximize: x +\n"
        "subject_to:\n"
        "  - x < 3\n"
        "method: {adma: {lr: 0.1}}\n"
        "steps: 0\n"
    )
    path = write(tmp_path, text)
    issues = errors(path)
    lines = [issue.split(": ", 1)[0].removeprefix(path + ":") for issue in issues]
    assert lines == ["2:21", "3:11", "5:7", "6:10", "7:8"]
    assert "'sum' is a function or constant" in issues[0]
    assert "unknown method 'adma'" in issues[3] and "did you mean 'adam'" in issues[3]


def test_kind_typo_and_missing_objective(tmp_path):
    path = write(tmp_path, "kind: optimise\n")
    (issue,) = errors(path)
    assert issue == f"{path}:1:7: unknown kind 'optimise' (did you mean 'optimize'?)"
    path = write(tmp_path, "kind: optimize\nvariables: {x: 1.0}\n")
    (issue,) = errors(path)
    assert "needs 'minimize: <expression>' or 'maximize: <expression>'" in issue


def test_both_goals_and_constraints_with_an_optimizer(tmp_path):
    path = write(tmp_path, "kind: optimize\nvariables: {x: 1.0}\nminimize: x\nmaximize: x\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:4:1: give either 'minimize' or 'maximize'")
    path = write(tmp_path, "kind: optimize\nvariables: {x: 1.0}\nminimize: x**2\nsubject_to: [x = 1]\nmethod: adam\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:5:9: constraints are solved with 'method: lagrange'")


def test_bad_values(tmp_path):
    path = write(tmp_path, "kind: optimize\nvariables: {x: [[1.0, 2.0], [3.0]]}\nminimize: sum(x)\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:2:16:") and "rectangular" in issue
    path = write(tmp_path, "kind: analyze\nmatrix: [1, 2]\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:2:9:") and "matrix" in issue


def test_analyze_cross_checks(tmp_path):
    path = write(tmp_path, "kind: analyze\nfunction: x**2\nmatrix: [[1, 2], [3, 4]]\n")
    assert any("not both 'function' and 'matrix'" in i for i in errors(path))
    path = write(tmp_path, "kind: analyze\nfunction: x**2\n")
    (issue,) = errors(path)
    assert "needs 'at'" in issue
    path = write(tmp_path, "kind: analyze\nfunction: x**2\nat: {x: 1.0}\ntaylor: {order: 2, around: {y: 0.0}}\n")
    issues = errors(path)
    assert issues == [
        f"{path}:4:20: 'around' misses the variable 'x'",
        f"{path}:4:29: 'y' is not a variable of 'at'",
    ]
    path = write(tmp_path, "kind: analyze\nmatrix: [[1, 2], [3, 4]]\npca: {components: 2}\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:3:1: 'pca' belongs with 'data'")
    path = write(tmp_path, "kind: analyze\nfunction: x + inv(v)\nat: {x: 1.0, v: [1.0, 2.0]}\n")
    (issue,) = errors(path)
    assert issue.startswith(f"{path}:2:15: inv()")


def test_errors_from_overrides_name_the_override(tmp_path):
    issues = errors(str(MATH / "gradient_descent.yaml"), ["steps=0"])
    assert "'steps' must be > 0" in issues[0]


# ------------------------------------------------------------------------------------------ schema
def test_checked_in_math_schema_is_in_sync():
    assert (ROOT / "schemas" / "math.schema.json").read_text(encoding="utf-8") == math_schema_text()


def test_examples_point_at_the_schema():
    for path in MATH.glob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../../schemas/math.schema.json", path.name
