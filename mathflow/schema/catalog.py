"""Readable descriptions of the component families, for ``mathflow list`` and the docs."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticUndefined

from mathflow.component import Component

REQUIRED = "required"


_JSON_TYPES = {
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "string": "str",
    "array": "list",
    "object": "mapping",
}


def _type_label(schema: dict[str, Any]) -> str:
    """A short type for a JSON-schema property: ``int``, ``'valid' | 'same' | int``, ``list``..."""
    if "enum" in schema:
        values = schema["enum"]
        return " | ".join(repr(v) for v in values) if len(values) <= 4 else f"name ({len(values)} choices)"
    if "const" in schema:
        return repr(schema["const"])
    if "anyOf" in schema:
        parts = [_type_label(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return " | ".join(dict.fromkeys(parts))
    if "$ref" in schema or "oneOf" in schema:
        return "component"
    return _JSON_TYPES.get(schema.get("type", ""), "any")


def describe_component(model: type[Component]) -> dict[str, Any]:
    """name, one-line description, and ``params``: (name, type, default or ``'required'``)."""
    params = []
    properties = model.model_json_schema(by_alias=True).get("properties", {})
    for key, info in model.params().items():
        if info.default is PydanticUndefined and info.default_factory is None:
            default: Any = REQUIRED
        elif info.default_factory is not None:
            default = info.default_factory()  # type: ignore[call-arg]
        else:
            default = info.default
        params.append({"name": key, "type": _type_label(properties.get(key, {})), "default": default})
    from mathflow.registry import config_names

    doc = (model.__doc__ or "").strip().splitlines()
    return {
        "name": model.component_name(),
        "aliases": list(config_names(model)[1:]),
        "description": doc[0] if doc else "",
        "params": params,
    }


def format_default(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_family(catalog: dict[str, type[Component]]) -> list[dict[str, Any]]:
    return [describe_component(model) for _, model in sorted(catalog.items())]
