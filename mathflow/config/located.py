"""Errors found after validation (building an optimizer, a schedule) located at the pipeline entry
that caused them, and worded with the component name the user wrote.

    with located_at(document, ("optimizer",), registry_name="sgd"):
        optimizer = OPTIMIZERS.get("sgd")(params, **options)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from mathflow.config.loader import Document
from mathflow.errors import MathflowError


def written_name(document: Document, path: Iterable[str | int]) -> str | None:
    """The component name as written at ``path``: the single key of ``{name: {...}}``, the ``type`` of
    ``{type: name, ...}`` or a bare ``name``; None when the entry has none of these forms."""
    value = document.get(tuple(path))
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("type"), str):
            return str(value["type"])
        if len(value) == 1:
            return str(next(iter(value)))
    return None


def entry_path(document: Document, path: Iterable[str | int]) -> tuple[Any, ...]:
    """``path`` extended by the written component name when the entry is ``{name: {...}}`` (so the
    location is the name's own line), else ``path``."""
    path = tuple(path)
    value = document.get(path)
    if isinstance(value, dict) and len(value) == 1 and "type" not in value:
        return (*path, next(iter(value)))
    return path


@contextlib.contextmanager
def located_at(document: Document, path: Iterable[str | int], registry_name: str | None = None) -> Iterator[None]:
    """Give a :class:`MathflowError` raised in the block that has no location the location of the
    pipeline entry at ``path``; a message that starts with ``registry_name:`` starts with the name the
    user wrote instead (``gd`` stays ``gd``, ``sgd`` stays ``sgd``)."""
    path = tuple(path)
    try:
        yield
    except MathflowError as exc:
        if exc.location is None:
            exc.location = str(document.locate(entry_path(document, path)))
            written = written_name(document, path)
            named = registry_name and exc.message[len(registry_name) : len(registry_name) + 1] in (":", " ")
            if named and written and written != registry_name and exc.message.startswith(str(registry_name)):
                exc.message = written + exc.message[len(str(registry_name)) :]
            exc.args = (exc.format(),)
        raise
