"""Constrained value types of component parameters and spec fields (strict: no "2" for 2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

#: The learning task of a data set.
Task = Literal["classification", "regression"]

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
#: Any finite float: ``.inf``, ``-.inf`` and ``.nan`` are refused (as in every float type here).
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: 0 ≤ x < 1 (dropout rate, momentum-like coefficients β).
UnitInterval = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
#: 0 ≤ x ≤ 1.
ClosedUnit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_pair(value: Any, minimum: int) -> Any:
    bound = "positive" if minimum == 1 else "non-negative"
    if _is_int(value) and value >= minimum:
        return value
    if isinstance(value, list) and len(value) == 2 and all(_is_int(v) and v >= minimum for v in value):
        return list(value)
    raise PydanticCustomError(
        "int_or_pair",
        "must be a {bound} integer or a pair [h, w] of them, got {got}",
        {"bound": bound, "got": repr(value)},
    )


def _pair_schema(minimum: int) -> dict[str, Any]:
    item = {"type": "integer", "minimum": minimum}
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 2, "maxItems": 2}]}


#: A positive integer or a pair [h, w] of positive integers (kernel, pool sizes).
IntOrPair = Annotated[Any, PlainValidator(lambda v: _int_or_pair(v, 1)), WithJsonSchema(_pair_schema(1))]


def _padding(value: Any) -> Any:
    if value in ("valid", "same"):
        return value
    try:
        return _int_or_pair(value, 0)
    except PydanticCustomError:
        raise PydanticCustomError(
            "padding",
            "must be 'valid', 'same', a non-negative integer or a pair of them, got {got}",
            {"got": repr(value)},
        ) from None


Padding = Annotated[
    Any,
    PlainValidator(_padding),
    WithJsonSchema({"anyOf": [{"type": "string", "enum": ["valid", "same"]}, *_pair_schema(0)["anyOf"]]}),
]


def _shape(value: Any) -> Any:
    ok = isinstance(value, list) and value and all(_is_int(v) and (v > 0 or v == -1) for v in value)
    if not ok or value.count(-1) > 1:
        raise PydanticCustomError(
            "shape",
            "must be a non-empty list of positive integers (one entry may be -1), got {got}",
            {"got": repr(value)},
        )
    return list(value)


#: A per-sample shape, e.g. [1, 8, 8]; one entry may be -1 (inferred).
ShapeList = Annotated[
    Any,
    PlainValidator(_shape),
    WithJsonSchema(
        {"type": "array", "minItems": 1, "items": {"type": "integer", "anyOf": [{"minimum": 1}, {"const": -1}]}}
    ),
]
