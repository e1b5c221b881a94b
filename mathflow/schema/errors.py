"""Pydantic validation errors → located, readable :class:`~mathflow.config.Issue` objects.

A pydantic error ``loc`` is a path through the *normalised* data, where a component's tag
(``dense``) appears as a segment. :func:`yaml_path` walks the loc alongside the data as
written and keeps only the segments that exist there, so ``{dense: {units: x}}`` and
``{type: dense, units: x}`` both point at the ``units`` the user typed.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel, Tag, ValidationError

from mathflow.config.errors import Issue, suggest
from mathflow.config.loader import Document, KeyPath
from mathflow.errors import describe

Loc = tuple[str | int, ...]

_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", "≥"),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "≤"),
}
_KINDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "finite_number": "a finite number",
}


def yaml_path(data: Any, loc: Loc) -> tuple[KeyPath, bool]:
    """The part of ``loc`` present in ``data`` (component tags skipped); True if its last segment was found.

    In a graph node written ``{dense: {...}, inputs: [...]}`` the normalised loc puts ``inputs``
    under the tag, while the YAML has it beside the tag: a key missing under a tag is looked up
    one level higher.
    """
    path: list[str | int] = []
    nodes: list[Any] = [data]
    found_last = True
    for seg in loc:
        node = nodes[-1]
        if isinstance(node, dict) and seg in node:
            nodes.append(node[seg])
            path.append(seg)
            found_last = True
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            nodes.append(node[seg])
            path.append(seg)
            found_last = True
        elif len(nodes) > 1 and isinstance(nodes[-2], dict) and seg in nodes[-2] and seg != path[-1]:
            nodes[-1] = nodes[-2][seg]
            path[-1] = seg
            found_last = True
        else:
            found_last = False
    return tuple(path), found_last


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The spec model that validated the object at ``loc`` (component tags select union members)."""
    tp: Any = root
    i = 0
    while True:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            by_tag = {m.tag: a for a in args for m in getattr(a, "__metadata__", ()) if isinstance(m, Tag)}
            if i < len(loc) and loc[i] in by_tag:  # a member picked by a callable discriminator
                tp, i = by_tag[loc[i]], i + 1
                continue
            models = [_unwrap(a) for a in args]
            tagged = [m for m in models if _is_model(m) and "type" in m.model_fields]
            if tagged and i < len(loc):
                match = [m for m in tagged if loc[i] in typing.get_args(m.model_fields["type"].annotation)]
                if not match:
                    return None
                tp, i = match[0], i + 1
                continue
            if len(args) == 1:
                tp = args[0]
                continue
            return None
        if i == len(loc):
            return tp if _is_model(tp) else None
        seg = loc[i]
        if _is_model(tp):
            fields = {(f.alias or n): f for n, f in tp.model_fields.items()}
            fields.update(tp.model_fields)
            if seg not in fields:
                return None
            tp, i = fields[seg].annotation, i + 1
        elif origin is list:
            tp, i = typing.get_args(tp)[0], i + 1
        elif origin is dict:
            tp, i = typing.get_args(tp)[1], i + 1
        else:
            return None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    return [(f.alias or n) for n, f in model.model_fields.items() if n != "type"]


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value).replace("True", "true").replace("False", "false")
    if value is None:
        text = "null"
    return text if len(text) <= 40 else text[:37] + "..."


_INTERNAL = re.compile(r"^(int|float|str|bool|list|dict|none|constrained-.*|function-.*|.*\[.*\].*)$")


def _label(loc: Loc) -> str:
    """``units``, ``shape[0]``: the field part of a loc (union-member tags such as 'int' skipped)."""
    parts: list[str] = []
    for seg in reversed(loc):
        if isinstance(seg, str) and _INTERNAL.match(seg):
            continue
        if isinstance(seg, int):
            parts.insert(0, f"[{seg}]")
            continue
        parts.insert(0, seg)
        break
    return "".join(parts) or "value"


def _component(root: type[BaseModel], loc: Loc) -> str | None:
    """The component name of the model holding the last segment of ``loc``, if it is a component."""
    model = model_at(root, loc[:-1]) if loc else None
    if model is not None and "type" in model.model_fields:
        return model.model_fields["type"].default
    return None


class Translator:
    """Turns the errors of one ValidationError into issues located in ``document``."""

    def __init__(self, root: type[BaseModel], document: Document, families: dict[frozenset[str], str]) -> None:
        self.root = root
        self.document = document
        self.families = families

    def issues(self, exc: ValidationError) -> list[Issue]:
        out: list[Issue] = []
        seen: set[tuple[Any, ...]] = set()
        errors = exc.errors(include_url=False)
        # A misspelt key also makes the key it meant "missing": report the misspelling only.
        meant = set()
        for err in errors:
            if err["type"] == "extra_forbidden" and isinstance(err["loc"][-1], str):
                model = model_at(self.root, tuple(err["loc"][:-1]))
                guess = suggest(err["loc"][-1], allowed_keys(model)) if model else None
                if guess:
                    meant.add((*err["loc"][:-1], guess))
        errors = [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in meant)]
        for err in errors:
            issue = self.issue(err)
            key = (issue.location, issue.message)
            if key not in seen:
                seen.add(key)
                out.append(issue)
        return out

    def issue(self, err: dict[str, Any]) -> Issue:
        loc: Loc = tuple(err["loc"])
        kind: str = err["type"]
        ctx: dict[str, Any] = err.get("ctx") or {}
        value = err.get("input")
        doc = self.document
        path, complete = yaml_path(doc.data, loc)
        field = _label(loc)

        if kind == "missing":
            owner = _component(self.root, loc)
            message = f"{owner} needs '{field}'" if owner else f"missing required key '{field}'"
            return doc.issue(path, message)
        if kind == "extra_forbidden":
            model = model_at(self.root, loc[:-1])
            keys = allowed_keys(model) if model else []
            owner = model.model_fields["type"].default if model and "type" in model.model_fields else None
            message = f"{owner} has no parameter '{field}'" if owner else f"unknown key '{field}'"
            hint = None
            guess = suggest(str(loc[-1]), keys)
            if not guess and keys:
                hint = f"known: {', '.join(keys)}"
            return doc.issue(path, message, guess, hint)
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            return self._unknown_component(loc, path, ctx)
        if kind in _BOUNDS:
            key, sign = _BOUNDS[kind]
            message = f"'{field}' must be {sign} {ctx.get(key)}, got {_short(value)}"
        elif kind in _KINDS:
            message = f"'{field}' must be {_KINDS[kind]}, got {describe(value)} {_short(value)}"
            if kind == "int_type" and isinstance(value, float) and value.is_integer():
                message += f" (write {int(value)})"
        elif kind == "literal_error":
            options = re.findall(r"'([^']*)'|(\d+)", str(ctx.get("expected", "")))
            names = [a or b for a, b in options]
            guess = suggest(value, names) if isinstance(value, str) else None
            if len(names) <= 6:
                message = f"'{field}' must be {ctx.get('expected')}, got {describe(value)} {_short(value)}"
            else:
                message = f"'{field}': unknown value {_short(value)}"
                if not guess:
                    return doc.issue(path, message, hint=f"known: {', '.join(names)}", at_value=complete)
            return doc.issue(path, message, guess, at_value=complete)
        elif kind == "string_too_short":
            message = f"'{field}' must not be empty"
        elif kind == "too_short":
            least = ctx.get("min_length", 1)
            message = f"'{field}' must not be empty" if least == 1 else f"'{field}' needs at least {least} items"
        elif kind == "too_long":
            message = f"'{field}' has more than {ctx.get('max_length')} items"
        elif kind == "value_error":
            message = err["msg"].removeprefix("Value error, ")
            if len(loc) and not complete:
                return doc.issue(path, message)
        elif kind in ("component_form", "component_params"):
            message = err["msg"]
        else:
            message = err["msg"]
            if message.startswith("must "):
                message = f"'{field}' {message}"
        return doc.issue(path, message, at_value=complete)

    def _unknown_component(self, loc: Loc, path: KeyPath, ctx: dict[str, Any]) -> Issue:
        doc = self.document
        tags = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        family = self.families.get(frozenset(tags), "component")
        raw = doc.get(path)
        tag = ctx.get("tag")
        if tag is None:
            return doc.issue(path, f"{family} needs a 'type'")
        if isinstance(raw, dict) and "type" in raw:
            where = doc.locate_value((*path, "type"))
        elif isinstance(raw, dict) and tag in raw:
            where = doc.locate((*path, tag))
        else:
            where = doc.locate_value(path)
        guess = suggest(str(tag), tags)
        hint = None if guess else f"known: {', '.join(tags)}"
        return Issue(where, f"unknown {family} '{tag}'", guess, hint)
