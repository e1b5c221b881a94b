"""Reading pipeline YAML: plain data, a source map, and errors at ``file:line:col``.

    from mathflow.config import load_config, ConfigError

    doc = load_config("pipelines/mnist.yaml", overrides=["train.epochs=3"])
    doc.data                                  # plain dicts, lists and scalars
    doc.locate(("model", "layers", 0))        # Location('pipelines/mnist.yaml', 7, 7)

Processing order: :func:`load` (the file and its ``extends`` bases) → :func:`apply_overrides`
(``--set KEY=VALUE``) → :func:`interpolate` (``${section.key}``). :func:`load_config` runs all
three. Every mistake is collected and raised as one :class:`ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from mathflow.config.errors import ConfigError, Issue, IssueList, Location, suggest
from mathflow.config.interpolate import interpolate
from mathflow.config.loader import Document, KeyPath, YamlDumper, YamlLoader, dump, load, parse_value
from mathflow.config.overrides import apply_overrides, parse_override


def load_config(
    path: str | os.PathLike[str],
    overrides: Iterable[str] = (),
    *,
    resolve: bool = True,
) -> Document:
    """Load ``path`` with its ``extends`` bases, apply ``overrides``, then resolve references."""
    document = load(path)
    overrides = list(overrides)
    if overrides:
        document = apply_overrides(document, overrides)
    if resolve:
        document = interpolate(document)
    return document


__all__ = [
    "ConfigError",
    "Document",
    "Issue",
    "IssueList",
    "KeyPath",
    "Location",
    "YamlDumper",
    "YamlLoader",
    "apply_overrides",
    "dump",
    "interpolate",
    "load",
    "load_config",
    "parse_override",
    "parse_value",
    "suggest",
]
