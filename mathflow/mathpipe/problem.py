"""A math pipeline file → validated spec + parsed expressions, every mistake at ``file:line:col``.

    problem = load_problem("pipelines/math/lagrange_xy.yaml", overrides=["steps=20"])
    problem.spec          # OptimizeSpec / AnalyzeSpec
    problem.objective     # Expression (optimize) / problem.function (analyze)

Pydantic errors are translated by the pipeline DSL's :class:`~mathflow.schema.errors.Translator`;
expression errors point into the expression (the column of the value plus the offset of the
offending token, when the expression sits on one line).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mathflow.config import ConfigError, Document, Issue, IssueList, Location, load_config
from mathflow.config.errors import suggest
from mathflow.config.kind import KINDS
from mathflow.mathpipe.expr import ExprError, Expression, parse, split_relation
from mathflow.schema.errors import Translator
from mathflow.schema.math_pipeline import METHOD_TAGS, AnalyzeSpec, MathSpec, OptimizeSpec
from mathflow.schema.pipeline_io import families

_ADAPTER: TypeAdapter[Any] = TypeAdapter(MathSpec)
_MATH_FAMILIES = {**families(), METHOD_TAGS: "method"}


@dataclass
class Constraint:
    """``lhs = rhs``, ``lhs <= rhs`` or ``lhs >= rhs`` as g = rhs − lhs (so that L = f + Σ λᵢ gᵢ).

    ``lhs <= rhs`` holds when g ≥ 0 and ``lhs >= rhs`` when g ≤ 0.
    """

    text: str
    lhs: Expression
    rhs: Expression
    relation: str = "="

    @property
    def inequality(self) -> bool:
        return self.relation != "="

    def evaluate(self, env: Any) -> Any:
        return self.rhs.evaluate(env) - self.lhs.evaluate(env)


@dataclass
class MathProblem:
    """A loaded math pipeline: document, spec and parsed expressions."""

    document: Document
    spec: OptimizeSpec | AnalyzeSpec
    objective: Expression | None = None
    constraints: list[Constraint] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.document.path

    @property
    def kind(self) -> str:
        return self.spec.kind


# ----------------------------------------------------------------------------------------- locations
def expression_location(document: Document, path: tuple[Any, ...], offset: int) -> Location:
    """Where character ``offset`` of the string value at ``path`` sits in the source file."""
    where = document.locate_value(path)
    value = document.get(path)
    text = document.sources.get(where.file)
    if not isinstance(value, str) or text is None or where.line is None or where.col is None or "\n" in value:
        return where
    lines = text.splitlines()
    if where.line > len(lines):
        return where
    rest = lines[where.line - 1][where.col - 1 :]
    if rest.startswith(value):
        return Location(where.file, where.line, where.col + offset)
    if rest[:1] in ("'", '"') and rest[1:].startswith(value):
        return Location(where.file, where.line, where.col + 1 + offset)
    return where


def expression_issue(document: Document, path: tuple[Any, ...], error: ExprError, shift: int = 0) -> Issue:
    return Issue(expression_location(document, path, error.offset + shift), error.message, error.guess, error.hint)


# ----------------------------------------------------------------------------------------- loading
def validate_document(document: Document) -> OptimizeSpec | AnalyzeSpec:
    """Pydantic validation of a loaded math pipeline; errors are located ConfigErrors."""
    data = document.data
    kind = data.get("kind")
    if kind not in KINDS:
        where = document.locate_value(("kind",)) if "kind" in data else document.locate(())
        guess = suggest(str(kind), KINDS) if isinstance(kind, str) else None
        message = "missing 'kind' (optimize or analyze)" if "kind" not in data else f"unknown kind {kind!r}"
        raise ConfigError([Issue(where, message, guess, None if guess else "known: optimize, analyze")])
    model = OptimizeSpec if kind == "optimize" else AnalyzeSpec
    try:
        return _ADAPTER.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        # Drop the union's tag segment ('optimize'/'analyze') so locations match the YAML.
        issues = Translator(model, document, _MATH_FAMILIES).issues(_strip_tag(exc, kind))
        raise ConfigError(issues) from None


class _Stripped:
    def __init__(self, errors: list[dict[str, Any]]):
        self._errors = errors

    def errors(self, include_url: bool = False) -> list[dict[str, Any]]:
        return self._errors


def _strip_tag(exc: ValidationError, kind: str) -> Any:
    errors = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if loc[:1] == (kind,):
            loc = loc[1:]
        errors.append({**err, "loc": loc})
    return _Stripped(errors)


def _parse_into(
    document: Document, path: tuple[Any, ...], text: str, issues: IssueList, base: int = 0
) -> Expression | None:
    try:
        return parse(text, base=base)
    except ExprError as exc:
        issues.extend(expression_issue(document, path, error) for error in exc.all)
        return None


def _constraint(
    document: Document, path: tuple[Any, ...], text: str, declared: Any, issues: IssueList
) -> Constraint | None:
    try:
        relation, (left, left_at), (right, right_at) = split_relation(text)
    except ExprError as exc:
        issues.issues.append(expression_issue(document, path, exc))
        return None
    lhs = _parse_into(document, path, left, issues, base=left_at)
    rhs = _parse_into(document, path, right, issues, base=right_at)
    _names(document, path, lhs, declared, issues)
    _names(document, path, rhs, declared, issues)
    if lhs is None or rhs is None:
        return None
    return Constraint(text.strip(), lhs, rhs, relation)


def _raw_expression_checks(document: Document, issues: IssueList) -> None:
    """Syntax and names of the expressions of a file that failed validation, so all is reported at once."""
    data = document.data
    declared = data.get("variables") if data.get("kind") == "optimize" else data.get("at")
    names = declared if isinstance(declared, dict) else None
    for key in ("minimize", "maximize", "function"):
        text = data.get(key)
        if isinstance(text, str) and text.strip():
            expr = _parse_into(document, (key,), text, issues)
            if names is not None:
                _names(document, (key,), expr, names, issues)
    constraints = data.get("subject_to")
    if isinstance(constraints, list):
        for index, text in enumerate(constraints):
            if isinstance(text, str):
                _constraint(document, ("subject_to", index), text, names if names is not None else _Anything(), issues)


class _Anything(dict):  # type: ignore[type-arg]
    """A stand-in for undeclared variables: every name counts as declared."""

    def __contains__(self, key: object) -> bool:
        return True


def _names(
    document: Document, path: tuple[Any, ...], expr: Expression | None, declared: Any, issues: IssueList
) -> None:
    if expr is None:
        return
    for error in expr.check_names(declared):
        issues.issues.append(expression_issue(document, path, error))


def _check_optimize(
    document: Document, spec: OptimizeSpec, issues: IssueList
) -> tuple[Expression | None, list[Constraint]]:
    objective: Expression | None = None
    if spec.minimize is not None and spec.maximize is not None:
        issues.issues.append(document.issue(("maximize",), "give either 'minimize' or 'maximize', not both"))
    elif spec.objective == "":
        issues.issues.append(
            document.issue((), "an optimize pipeline needs 'minimize: <expression>' or 'maximize: <expression>'")
        )
    else:
        key = spec.goal
        objective = _parse_into(document, (key,), spec.objective, issues)
        _names(document, (key,), objective, spec.variables, issues)

    constraints: list[Constraint] = []
    for index, text in enumerate(spec.subject_to):
        constraint = _constraint(document, ("subject_to", index), text, spec.variables, issues)
        if constraint is not None:
            constraints.append(constraint)
    if spec.method is not None and spec.optimizer is not None:
        issues.issues.append(
            document.issue(
                ("optimizer",),
                "give either 'method' or 'optimizer' (they are the same setting), not both",
                hint="keep one, e.g. 'optimizer: {adam: {lr: 0.1}}'",
            )
        )
    elif spec.subject_to and spec.solver is not None and spec.method_name not in ("lagrange", "newton"):
        issues.issues.append(
            document.issue(
                (spec.method_key,),
                f"constraints are solved with 'method: lagrange', not the optimizer '{spec.method_name}'",
                at_value=True,
            )
        )
    return objective, constraints


def _check_analyze(document: Document, spec: AnalyzeSpec, issues: IssueList) -> Expression | None:
    given = [k for k in ("function", "matrix", "vector", "data") if getattr(spec, k) is not None]
    if not given:
        issues.issues.append(
            document.issue((), "an analyze pipeline needs one of 'function', 'matrix', 'vector' or 'data'")
        )
        return None
    for extra in given[1:]:
        issues.issues.append(
            document.issue(
                (extra,), f"give one of function / matrix / vector / data, not both '{given[0]}' and '{extra}'"
            )
        )
    for key, owner in (("at", "function"), ("taylor", "function"), ("pca", "data")):
        if getattr(spec, key) is not None and getattr(spec, owner) is None:
            issues.issues.append(document.issue((key,), f"'{key}' belongs with '{owner}'"))
    if spec.function is None:
        return None
    function = _parse_into(document, ("function",), spec.function, issues)
    if spec.at is None:
        if function is not None and function.names:
            issues.issues.append(
                document.issue(
                    ("function",), "a function needs 'at': the point where it is analysed, e.g. at: {x: 1.0}"
                )
            )
        return function
    _names(document, ("function",), function, spec.at, issues)
    around = spec.taylor.around if spec.taylor is not None else None
    if around is not None:
        from mathflow.schema.math_pipeline import _shape_of

        for name in around:
            if name not in spec.at:
                issues.issues.append(
                    document.issue(
                        ("taylor", "around", name), f"'{name}' is not a variable of 'at'", suggest(name, list(spec.at))
                    )
                )
            elif _shape_of(around[name]) != _shape_of(spec.at[name]):
                issues.issues.append(
                    document.issue(
                        ("taylor", "around", name), f"'{name}' must have the same shape as in 'at'", at_value=True
                    )
                )
        for name in spec.at:
            if name not in around:
                issues.issues.append(document.issue(("taylor", "around"), f"'around' misses the variable '{name}'"))
    return function


def _check_values(problem: MathProblem, issues: IssueList) -> None:
    """Evaluate the expressions once at the starting point: shapes and scalar-ness."""
    from mathflow.mathpipe.variables import VariableSet, tensors

    spec = problem.spec
    document = problem.document
    values = spec.variables if isinstance(spec, OptimizeSpec) else spec.at
    if values is None:
        values = {}
    env = tensors(VariableSet(values).arrays)
    if isinstance(spec, OptimizeSpec):
        checks: list[tuple[tuple[Any, ...], Any, str]] = []
        if problem.objective is not None:
            checks.append(((spec.goal,), problem.objective, "objective"))
        for index, constraint in enumerate(problem.constraints):
            checks.append((("subject_to", index), constraint, "constraint"))
    else:
        checks = [(("function",), problem.objective, "function")] if problem.objective is not None else []
    import numpy as np

    for path, expr, role in checks:
        try:
            with np.errstate(all="ignore"):  # a value outside the domain is reported when run
                value = expr.evaluate(env)
        except ExprError as exc:
            issues.issues.append(expression_issue(document, path, exc))
            continue
        shape = tuple(getattr(value, "shape", ()))
        size = 1
        for n in shape:
            size *= n
        if role != "constraint" and size != 1:
            issues.issues.append(
                document.issue(
                    path,
                    f"the {role} '{expr.text}' must be a scalar, but it has shape {shape}",
                    hint="reduce it, e.g. sum(...) or norm(...)",
                    at_value=True,
                )
            )
        elif role == "constraint" and size == 0:
            issues.issues.append(document.issue(path, f"the constraint '{expr.text}' is empty", at_value=True))


def load_problem(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> MathProblem:
    """Load, validate and check a math pipeline; every mistake is raised at once as a ConfigError."""
    document = load_config(path, list(overrides))
    issues = IssueList()
    try:
        spec = validate_document(document)
    except ConfigError as exc:
        issues.extend(exc.issues)
        if document.data.get("kind") in KINDS:
            _raw_expression_checks(document, issues)
        raise ConfigError(_unique(issues.issues)) from None
    if isinstance(spec, OptimizeSpec):
        objective, constraints = _check_optimize(document, spec, issues)
        problem = MathProblem(document, spec, objective, constraints)
    else:
        problem = MathProblem(document, spec, _check_analyze(document, spec, issues))
    if not issues:
        _check_values(problem, issues)
    issues.raise_if_any()
    return problem


def _unique(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[Any, str]] = set()
    out = []
    for issue in issues:
        key = (issue.location, issue.message)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out
