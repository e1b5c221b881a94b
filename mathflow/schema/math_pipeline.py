"""The two math pipeline kinds as pydantic models: ``kind: optimize`` and ``kind: analyze``.

No arrays here: values stay plain numbers and nested lists; expressions stay text (their
syntax and names are checked in :mod:`mathflow.mathpipe.checks`, where positions are known).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from mathflow.component import Component, Flag, SpecModel, split_component
from mathflow.component_schema import ComponentSchema
from mathflow.config.kind import KINDS
from mathflow.constraints import NonNegativeFloat, PositiveInt
from mathflow.optim.optimizer import OPTIMIZERS
from mathflow.schema.base import tags
from mathflow.schema.data import SourceEntry
from mathflow.schema.tracking import TrackingSection

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Words of the expression language that cannot name a variable (kept in step with expr.RESERVED by a test).
RESERVED_NAMES = frozenset(
    "sum mean det trace inv transpose norm dot outer exp log sqrt abs sin cos tan tanh sigmoid relu min max "
    "pi e inf".split()
)


# ----------------------------------------------------------------------------------------- values
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """The shape of a number or a rectangular nested list of numbers; None when it is neither."""
    if _is_number(value):
        return ()
    if isinstance(value, list) and value:
        shapes = {_shape_of(item) for item in value}
        if len(shapes) == 1:
            (inner,) = shapes
            if inner is not None:
                return (len(value), *inner)
    return None


def _non_finite(value: Any, index: tuple[int, ...] = ()) -> tuple[tuple[int, ...], float] | None:
    """The index and value of the first NaN or infinity in a number or nested list, None when all are finite."""
    if _is_number(value):
        return None if math.isfinite(value) else (index, value)
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _non_finite(item, (*index, i))
            if found is not None:
                return found
    return None


def _require_finite(value: Any) -> Any:
    """``value`` when every number in it is finite; else a located error naming the entry."""
    found = _non_finite(value)
    if found is not None:
        index, bad = found
        entry = f"entry {list(index)} is" if index else "it is"
        raise PydanticCustomError(
            "finite_entries",
            "must hold finite numbers only, but {entry} {got}",
            {"entry": entry, "got": {math.inf: ".inf", -math.inf: "-.inf"}.get(bad, ".nan")},
        )
    return value


def _array_value(value: Any) -> Any:
    if _shape_of(value) is None:
        raise PydanticCustomError(
            "array_value",
            "must be a number, a list of numbers or a rectangular nested list of numbers, got {got}",
            {"got": repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."},
        )
    return _require_finite(value)


_NUMBER_SCHEMA: dict[str, Any] = {"type": "number"}
#: A scalar, vector, matrix or higher-rank value written as nested lists.
ArrayValue = Annotated[
    Any,
    PlainValidator(_array_value),
    WithJsonSchema(
        {
            "anyOf": [
                _NUMBER_SCHEMA,
                {"type": "array", "minItems": 1, "items": {"anyOf": [_NUMBER_SCHEMA, {"type": "array"}]}},
            ]
        }
    ),
]


def _variable_name(name: str) -> str:
    if not _NAME.match(name):
        raise PydanticCustomError(
            "variable_name",
            "variable name '{name}' must start with a letter or '_' and hold only letters, digits and '_'",
            {"name": name},
        )
    if name in RESERVED_NAMES:
        raise PydanticCustomError(
            "variable_name",
            "'{name}' is a function or constant of the expression language; choose another variable name",
            {"name": name},
        )
    return name


VariableName = Annotated[str, AfterValidator(_variable_name), Field(pattern=_NAME.pattern)]

#: name → starting value (optimize) or evaluation point (analyze).
Variables = Annotated[dict[VariableName, ArrayValue], Field(min_length=1)]

Expr = Annotated[str, Field(min_length=1, description="a math expression, e.g. 'x**2 + sum(w**2)'")]


def _matrix(value: Any) -> Any:
    shape = _shape_of(value)
    if shape is None or len(shape) != 2:
        raise PydanticCustomError(
            "matrix_value",
            "must be a matrix written as a list of equal-length rows of numbers, got {got}",
            {"got": repr(value)},
        )
    return _require_finite(value)


def _vector(value: Any) -> Any:
    shape = _shape_of(value)
    if shape is None or len(shape) != 1:
        raise PydanticCustomError(
            "vector_value", "must be a non-empty list of numbers, got {got}", {"got": repr(value)}
        )
    return _require_finite(value)


Matrix = Annotated[
    Any,
    PlainValidator(_matrix),
    WithJsonSchema(
        {"type": "array", "minItems": 1, "items": {"type": "array", "minItems": 1, "items": _NUMBER_SCHEMA}}
    ),
]
Vector = Annotated[
    Any, PlainValidator(_vector), WithJsonSchema({"type": "array", "minItems": 1, "items": _NUMBER_SCHEMA})
]


# ----------------------------------------------------------------------------------------- optimize
class Lagrange(Component):
    """Newton's method on the stationarity system of the Lagrangian (``newton`` without constraints).

    L(x, λ) = f(x) + Σᵢ λᵢ gᵢ(x) with gᵢ = rhsᵢ − lhsᵢ for a constraint ``lhs = rhs`` (also
    ``lhs <= rhs`` / ``lhs >= rhs``); Newton solves ∇ₓL = 0, g = 0 using the exact Hessian of L
    in (x, λ), globalised by a shifted Hessian and Armijo backtracking. With inequalities the KKT
    conditions are solved by an augmented Lagrangian (see :mod:`mathflow.mathpipe.kkt`).
    """

    type: Literal["lagrange", "newton"] = "lagrange"


METHOD_MODELS: list[type[Component]] = [Lagrange, *OPTIMIZERS.config_models()]
MethodEntry = Annotated[
    Union[tuple(METHOD_MODELS)],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
    BeforeValidator(lambda v: split_component(v, "method")),
    ComponentSchema("method", METHOD_MODELS),
]
METHOD_TAGS = tags(METHOD_MODELS)


class OptimizeSpec(SpecModel):
    """Minimise or maximise an expression of the variables, optionally under (in)equality constraints."""

    model_config = SpecModel.model_config | {"title": "mathflow optimize pipeline"}

    kind: Literal["optimize"]
    name: str | None = None
    description: str | None = None
    variables: Variables
    minimize: Expr | None = None
    maximize: Expr | None = None
    subject_to: list[Expr] = Field(
        default_factory=list,
        description="constraints 'lhs = rhs', 'lhs <= rhs' or 'lhs >= rhs' (each may be a vector: one per entry)",
    )
    method: MethodEntry | None = Field(
        None,
        description=(
            "lagrange / newton, or an optimizer such as gd, {adam: {lr: 0.1}} "
            "(default: gd, or lagrange with constraints)"
        ),
    )
    optimizer: MethodEntry | None = Field(
        None,
        description="the same as 'method' (the word ML pipelines use); give one of 'method' and 'optimizer'",
    )
    steps: PositiveInt = 100
    tolerance: NonNegativeFloat = Field(
        1e-8,
        description="relative stopping test: stop when |grad f| <= tolerance * |grad f at the start| "
        "(Newton / Lagrange: the relative residual, see the optimize kind's docs)",
    )
    tracking: TrackingSection = Field(default_factory=lambda: TrackingSection(experiment="math"))

    @property
    def goal(self) -> str:
        return "maximize" if self.maximize is not None else "minimize"

    @property
    def objective(self) -> str:
        return self.maximize if self.maximize is not None else (self.minimize or "")

    @property
    def solver(self) -> Any:
        """The method entry, given as ``method:`` or as its synonym ``optimizer:`` (None: the default)."""
        return self.method if self.method is not None else self.optimizer

    @property
    def method_key(self) -> str:
        """The key the method was written under: ``method`` or ``optimizer``."""
        return "optimizer" if self.method is None and self.optimizer is not None else "method"

    @property
    def method_name(self) -> str:
        if self.solver is None:
            return "lagrange" if self.subject_to else "gd"
        return self.solver.type  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------- analyze
class TaylorSpec(SpecModel):
    """The Taylor polynomial of ``function`` of the given order around a point (default: ``at``)."""

    order: int = Field(2, ge=0, le=6)
    around: Variables | None = None


class PcaSpec(SpecModel):
    """Principal components of a data set's inputs."""

    components: PositiveInt = 2
    standardize: Flag = False


class DataSpec(SpecModel):
    """A data set from the registry of :mod:`mathflow.data` (``digits``, ``iris``, a csv file, ...)."""

    source: SourceEntry


class AnalyzeSpec(SpecModel):
    """Derivatives, curvature and Taylor polynomial of a function; or a matrix / vector; or PCA of data."""

    model_config = SpecModel.model_config | {"title": "mathflow analyze pipeline"}

    kind: Literal["analyze"]
    name: str | None = None
    description: str | None = None
    function: Expr | None = None
    at: Variables | None = None
    taylor: TaylorSpec | None = None
    matrix: Matrix | None = None
    vector: Vector | None = None
    data: DataSpec | None = None
    pca: PcaSpec | None = None
    tracking: TrackingSection = Field(default_factory=lambda: TrackingSection(experiment="math"))

    @property
    def subject(self) -> str:
        """What is analysed: ``function``, ``matrix``, ``vector`` or ``data``."""
        for key in ("function", "matrix", "vector", "data"):
            if getattr(self, key) is not None:
                return key
        return "function"


MathSpec = Annotated[Union[OptimizeSpec, AnalyzeSpec], Field(discriminator="kind")]  # noqa: UP007

__all__ = [
    "KINDS",
    "METHOD_MODELS",
    "METHOD_TAGS",
    "RESERVED_NAMES",
    "AnalyzeSpec",
    "ArrayValue",
    "DataSpec",
    "Lagrange",
    "MathSpec",
    "OptimizeSpec",
    "PcaSpec",
    "TaylorSpec",
    "math_json_schema",
    "math_schema_text",
]


def math_json_schema() -> dict[str, Any]:
    """The JSON Schema of a math pipeline file (``schemas/math.schema.json``)."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(MathSpec).json_schema(by_alias=True)
    schema["title"] = "mathflow math pipeline (kind: optimize | analyze)"
    return schema


def math_schema_text() -> str:
    """The schema as the text of ``schemas/math.schema.json``."""
    from mathflow.component_schema import schema_file

    return schema_file(math_json_schema(), "math.schema.json")
