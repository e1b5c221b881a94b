"""JSON Schema for component entries: the three written forms of every component.

Pydantic describes a component family as a ``oneOf`` over ``{type: name, ...params}``
objects. Editors should also accept the two other forms, so :class:`ComponentSchema` wraps
that into ``anyOf`` of

* the bare names (components whose parameters all have defaults),
* ``{name: {params}}`` (one property per component, exactly one present),
* the ``{type: name, ...}`` form pydantic produced.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


@dataclass(frozen=True)
class ComponentSchema:
    family: str
    members: list[Any]
    #: Graph nodes: ``inputs`` sits beside the ``{name: {params}}`` key, and there is no bare form.
    node: bool = False

    def __hash__(self) -> int:
        return hash(self.family)

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        flat = handler(core_schema)
        bare: list[str] = []
        nested: dict[str, Any] = {}
        for ref in flat.get("oneOf", []):
            member = handler.resolve_ref_schema(ref)
            kind = member["properties"]["type"]
            names = [kind["const"]] if "const" in kind else list(kind["enum"])
            params = copy.deepcopy(member)
            params["properties"].pop("type")
            inputs = params["properties"].pop("inputs", None) if self.node else None
            params["required"] = [r for r in params.get("required", []) if r not in ("type", "inputs")]
            params.pop("title", None)
            if not params["required"]:
                params.pop("required")
                bare.extend(names)
                params = {"anyOf": [params, {"type": "null"}]}
            for name in names:
                nested[name] = params
        forms: list[Any] = []
        if bare and not self.node:
            forms.append({"type": "string", "enum": bare, "title": f"{self.family} name"})
        size = 2 if self.node else 1
        nested_form: dict[str, Any] = {
            "type": "object",
            "title": f"{{{self.family}: {{parameters}}}}",
            "properties": nested,
            "additionalProperties": False,
            "minProperties": size,
            "maxProperties": size,
        }
        if self.node:
            nested_form["properties"]["inputs"] = inputs
            nested_form["required"] = ["inputs"]
        forms.append(nested_form)
        flat = dict(flat)
        flat["title"] = f"{{type: {self.family}, parameters}}"
        forms.append(flat)
        return {"anyOf": forms, "description": f"a {self.family}: a name, {{name: {{params}}}} or {{type: name, ...}}"}


def schema_file(schema: dict[str, Any], name: str) -> str:
    """The text of ``schemas/<name>``: ``schema`` with its dialect, id and a generated-file mark."""
    import json

    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://mathflow.dev/schemas/{name}",
        "$comment": "generated from mathflow's component registries by `mathflow schema`; do not edit",
        **schema,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
