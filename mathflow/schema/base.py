"""Shared building blocks of the pipeline spec: strict models, YAML booleans, components.

A *component* (layer, loss, optimizer, ...) is written in one of three forms, all normalised
to ``{"type": name, **params}`` before validation:

* a bare name: ``relu``;
* a one-key mapping: ``{dense: {units: 10}}`` (``{flatten: null}`` works too);
* a flat mapping with ``type``: ``{type: dense, units: 10}``.

Every family is a discriminated union of its component models on ``type``; pydantic reports
an unknown name as ``union_tag_invalid`` with the known names, which the error layer turns
into "unknown layer 'desne' (did you mean 'dense'?)".
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Union

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from mathflow.component import Component, Flag, SpecModel, yaml_bool
from mathflow.config.errors import describe
from mathflow.schema.jsonschema import ComponentSchema

FORMS = "a name, {name: {params}} or {type: name, params}"


def split_component(value: Any, family: str) -> Any:
    """Normalise the three written forms to ``{"type": name, **params}``; leave anything else for pydantic."""
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict):
        if "type" in value:
            return value
        if len(value) == 1:
            ((name, params),) = value.items()
            if params is None:
                params = {}
            if not isinstance(params, dict):
                raise PydanticCustomError(
                    "component_params",
                    "the parameters of {family} '{name}' must be a mapping, got {got}",
                    {"family": family, "name": name, "got": _kind(params)},
                )
            return {"type": name, **params}
        if not value:
            raise PydanticCustomError("component_form", "empty mapping: name a {family}", {"family": family})
        raise PydanticCustomError(
            "component_form",
            "a {family} is {forms}; got keys {keys}",
            {"family": family, "forms": FORMS, "keys": ", ".join(map(str, value))},
        )
    raise PydanticCustomError(
        "component_form",
        "a {family} is {forms}; got {got}",
        {"family": family, "forms": FORMS, "got": _kind(value)},
    )


def _kind(value: Any) -> str:
    return describe(value)


def component_union(family: str, members: list[type[Component]]) -> Any:
    """The annotated type of one ``family`` entry: normaliser + discriminated union + 3-form schema."""
    for member in members:
        member.family = family
    union = Union[tuple(members)]  # type: ignore[valid-type]  # noqa: UP007
    return Annotated[
        union,
        Field(discriminator="type"),
        BeforeValidator(lambda v: split_component(v, family)),
        ComponentSchema(family, members),
    ]


__all__ = ["Component", "Flag", "SpecModel", "component_union", "split_component", "tags", "yaml_bool"]


def catalog(members: list[type[Component]]) -> dict[str, type[Component]]:
    """name → component model (the main name of each; see :func:`tags` for aliases)."""
    return {m.component_name(): m for m in members}


def tags(members: Any) -> frozenset[str]:
    """Every name (aliases included) the members of a family answer to."""
    models = members.values() if isinstance(members, dict) else members
    return frozenset(t for m in models for t in typing.get_args(m.model_fields["type"].annotation))
