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
from typing import Annotated, Any, ClassVar, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from mathflow.config.errors import describe
from mathflow.schema.jsonschema import ComponentSchema

YAML_TRUE = ("true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y")
YAML_FALSE = ("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N")


def yaml_bool(value: Any) -> Any:
    """``on``/``off``/``yes``/``no`` (left as strings by the loader) become booleans here."""
    if isinstance(value, str):
        if value in YAML_TRUE:
            return True
        if value in YAML_FALSE:
            return False
    return value


#: A boolean field: true/false, or the YAML 1.1 spellings on/off/yes/no/y/n.
Flag = Annotated[bool, BeforeValidator(yaml_bool)]


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, no type coercion ("2" is not 2), and no
    float field takes ``.inf``, ``-.inf`` or ``.nan``."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True, allow_inf_nan=False)


class Component(SpecModel):
    """Base of a component model; subclasses declare ``type: Literal["name"]`` and their parameters."""

    #: The family the component belongs to ("layer", "loss", ...), for messages.
    family: ClassVar[str] = "component"
    #: Values for the required parameters: a valid entry for docs and the contract tests.
    example: ClassVar[dict[str, Any]] = {}

    @classmethod
    def component_name(cls) -> str:
        return cls.model_fields["type"].default

    @classmethod
    def params(cls) -> dict[str, Any]:
        """Parameter name (as written in YAML) → field info, ``type`` left out."""
        return {(f.alias or n): f for n, f in cls.model_fields.items() if n != "type"}

    def to_data(self) -> Any:
        """The YAML form: a bare name when there is no parameter, else ``{name: {params}}``."""
        params = self.model_dump(by_alias=True, exclude={"type"}, exclude_none=True, mode="json")
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, Component):  # nested components in their written form too
                params[info.alias or name] = value.to_data()
        if not params:
            return self.type  # type: ignore[attr-defined]
        return {self.type: params}  # type: ignore[attr-defined]


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


def catalog(members: list[type[Component]]) -> dict[str, type[Component]]:
    """name → component model (the main name of each; see :func:`tags` for aliases)."""
    return {m.component_name(): m for m in members}


def tags(members: Any) -> frozenset[str]:
    """Every name (aliases included) the members of a family answer to."""
    models = members.values() if isinstance(members, dict) else members
    return frozenset(t for m in models for t in typing.get_args(m.model_fields["type"].annotation))
