"""Which files are math pipelines: a top-level ``kind`` of ``optimize`` or ``analyze``.

Light on purpose (no schema, no engine): ``mathflow run`` and ``validate`` ask this of every file.
"""

from __future__ import annotations

import os

from mathflow.config.loader import load

KINDS = ("optimize", "analyze")


def read_kind(path: str | os.PathLike[str]) -> str | None:
    """The top-level ``kind`` of a pipeline file, or None when it has none or cannot be read."""
    try:
        document = load(path)
    except Exception:  # noqa: BLE001 - a file we cannot read is simply not a math pipeline
        return None
    kind = document.data.get("kind")
    return kind if isinstance(kind, str) else None


def is_math_pipeline(path: str | os.PathLike[str]) -> bool:
    """True when the file's top-level ``kind`` is ``optimize`` or ``analyze``."""
    return read_kind(path) in KINDS
