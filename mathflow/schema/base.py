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
from typing import Any

from mathflow.component import Component, Flag, SpecModel, component_union, split_component, yaml_bool

__all__ = ["Component", "Flag", "SpecModel", "component_union", "split_component", "tags", "yaml_bool"]


def catalog(members: list[type[Component]]) -> dict[str, type[Component]]:
    """name → component model (the main name of each; see :func:`tags` for aliases)."""
    return {m.component_name(): m for m in members}


def tags(members: Any) -> frozenset[str]:
    """Every name (aliases included) the members of a family answer to."""
    models = members.values() if isinstance(members, dict) else members
    return frozenset(t for m in models for t in typing.get_args(m.model_fields["type"].annotation))
