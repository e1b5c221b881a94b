"""Nested configuration → flat MLflow parameters.

``{"model": {"layers": [{"dense": {"units": 64}}]}}`` becomes ``{"model.layers.0.dense.units": 64}``:
mappings contribute their keys, lists and tuples their indices, joined with dots. Values become
strings (JSON spelling for booleans and null, so a parameter reads like the YAML it came from),
cut to MLflow's length limits with a visible marker.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

PARAM_VALUE_LIMIT = 6000
"""MLflow's maximum parameter value length (``mlflow.utils.validation.MAX_PARAM_VAL_LENGTH``)."""

PARAM_KEY_LIMIT = 250
"""MLflow's maximum parameter / metric / tag key length."""

TRUNCATION_MARKER = "...[truncated {n} chars]"

_KEY_FORBIDDEN = re.compile(r"[^A-Za-z0-9_\-. /:]")


def flatten(d: Mapping[str, Any] | list[Any] | tuple[Any, ...], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """``d`` flattened to ``{dotted.key: leaf}``; lists and tuples give index keys (``layers.0.units``).

    An empty mapping or list is kept as a leaf (``{}`` / ``[]``) so that its presence is recorded.
    Leaves are returned unchanged; :func:`flatten_params` also stringifies and truncates them.
    """
    out: dict[str, Any] = {}
    _flatten_into(out, d, prefix, sep)
    return out


def _flatten_into(out: dict[str, Any], node: Any, prefix: str, sep: str) -> None:
    if isinstance(node, Mapping):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in node.items()]
    elif isinstance(node, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(node)]
    else:
        out[prefix] = node
        return
    if not items:
        if prefix:
            out[prefix] = {} if isinstance(node, Mapping) else []
        return
    for key, value in items:
        _flatten_into(out, value, f"{prefix}{sep}{key}" if prefix else key, sep)


def to_text(value: Any) -> str:
    """A parameter value as text: strings unchanged, ``true``/``false``/``null`` for booleans and None,
    shortest round-trip spelling for floats, JSON for empty containers, ``str()`` otherwise."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        value = value.item()  # NumPy scalar → Python scalar
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list, tuple)) and not value:
        return json.dumps(value)
    return str(value)


def truncate(text: str, limit: int = PARAM_VALUE_LIMIT) -> str:
    """``text`` itself when it fits ``limit`` characters, else its head plus ``...[truncated N chars]``."""
    if len(text) <= limit:
        return text
    # The marker's length depends on N; sizing it for N = len(text) can only over-estimate it.
    keep = max(0, limit - len(TRUNCATION_MARKER.format(n=len(text))))
    return text[:keep] + TRUNCATION_MARKER.format(n=len(text) - keep)


def clean_key(key: str, limit: int = PARAM_KEY_LIMIT) -> str:
    """``key`` with characters MLflow rejects replaced by ``_`` and cut to ``limit`` characters."""
    cleaned = _KEY_FORBIDDEN.sub("_", key) or "_"
    return cleaned[:limit]


def flatten_params(d: Mapping[str, Any], prefix: str = "", limit: int = PARAM_VALUE_LIMIT) -> dict[str, str]:
    """``flatten(d)`` with MLflow-safe keys and string values no longer than ``limit``."""
    return {clean_key(k): truncate(to_text(v), limit) for k, v in flatten(d, prefix).items()}
