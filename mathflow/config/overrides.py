"""Command-line overrides: ``--set train.epochs=3``.

``KEY`` is a dotted path (``model.layers.0.dense.units`` or ``model.layers[0].dense.units``);
integer segments index lists, other segments name mapping keys, which are created when
missing. ``VALUE`` is read with the same YAML rules as the files (``3`` is an int, ``1e-2`` a
float, ``[1, 2]`` a list, ``on`` a string). Each override is located at ``--set KEY=VALUE``,
both in error messages and in the source map of the keys it sets.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from mathflow.config.errors import ConfigError, IssueList, Location, plural
from mathflow.config.loader import Document, KeyPath, drop_subtree, parse_value
from mathflow.errors import describe

_INDEX = re.compile(r"\[(-?\d+)\]")
_INT = re.compile(r"-?\d+")
_NULL_SPELLINGS = ("", "~", "null", "Null", "NULL")


class _Bad(Exception):
    pass


def override_location(text: str) -> Location:
    """The pseudo-location that errors about, and keys set by, one override report."""
    return Location(f"--set {text}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``KEY=VALUE`` into key segments and the parsed value; raises ConfigError."""
    where = override_location(text)
    issues = IssueList()
    if "=" not in text:
        issues.add(where, "expected KEY=VALUE")
        issues.raise_if_any()
    key, _, raw = text.partition("=")
    key = _INDEX.sub(r".\1", key.strip())
    if not key:
        issues.add(where, "empty key before '='")
        issues.raise_if_any()
    segments = [part.strip() for part in key.split(".")]
    if any(not part for part in segments):
        issues.add(where, f"empty segment in key '{key}'")
        issues.raise_if_any()
    try:
        value = parse_value(raw, str(where))
    except ConfigError as exc:
        issues.add(where, f"cannot read the value: {exc.issues[0].message}")
        issues.raise_if_any()
    if value is None and raw.strip() not in _NULL_SPELLINGS:
        value = raw.strip()  # only a comment, e.g. "name=#3": keep the text
    return segments, value


def _set(data: dict[str, Any], segments: list[str], value: Any) -> tuple[KeyPath, list[KeyPath]]:
    """Set ``value`` at ``segments``; returns its key path and the paths of mappings created."""
    node: Any = data
    path: KeyPath = ()
    created: list[KeyPath] = []
    for depth, part in enumerate(segments):
        last = depth == len(segments) - 1
        shown = ".".join(segments[:depth]) or "the top level"
        if isinstance(node, dict):
            key: str | int = part
            if last:
                node[key] = value
            elif node.get(key) is None:
                node[key] = {}
                created.append((*path, key))
        elif isinstance(node, list):
            if not _INT.fullmatch(part):
                raise _Bad(f"'{shown}' is a list; expected an index, got '{part}'")
            index = int(part)
            if not -len(node) <= index < len(node):
                raise _Bad(f"index {index} is out of range: '{shown}' has {plural(len(node), 'item')}")
            key = index % len(node)
            if last:
                node[key] = value
            elif node[key] is None:
                node[key] = {}
                created.append((*path, key))
        else:
            raise _Bad(f"'{shown}' is {describe(node)}, not a mapping or a list; cannot set '{part}' in it")
        path = (*path, key)
        if not last:
            node = node[key]
    return path, created


def apply_overrides(document: Document, overrides: Iterable[str]) -> Document:
    """A copy of ``document`` with each ``KEY=VALUE`` override applied in order.

    Every malformed override is reported (one ConfigError listing all of them); the keys that
    overrides set locate to ``--set KEY=VALUE``.
    """
    data = copy.deepcopy(document.data)
    keys = dict(document.key_locations)
    values = dict(document.value_locations)
    issues = IssueList()
    for text in overrides:
        where = override_location(text)
        try:
            segments, value = parse_override(text)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        try:
            path, created = _set(data, segments, value)
        except _Bad as exc:
            issues.add(where, str(exc))
            continue
        for table in (keys, values):
            drop_subtree(table, path)
            for made in created:
                drop_subtree(table, made)
                table[made] = where
            table[path] = where
    issues.raise_if_any()
    return replace(document, data=data, key_locations=keys, value_locations=values)
