"""``${section.key}`` references inside string values.

* A value that is exactly one reference takes the referenced value with its type:
  ``units: ${model.hidden}`` gives the integer, ``${model.layers.0}`` a copy of the mapping.
* References embedded in text are formatted into it: ``name: run-${train.epochs}`` →
  ``"run-10"`` (booleans as ``true``/``false``, None as ``null``); a mapping or list cannot
  be embedded.
* Path segments are separated by dots; a segment indexing a list is an integer
  (``${model.layers.0.units}`` or ``${model.layers[0].units}``).
* A referenced value that itself holds references is resolved first; reference cycles
  are reported. ``$${`` writes a literal ``${``.

Each problem is reported at the position of the string value that holds the reference.

Expansion is bounded: at most :data:`MAX_REFERENCES` references are followed, the strings built from
references hold at most :data:`MAX_RESULT_CHARS` characters in all, and whole-value references copy at
most :data:`MAX_COPIED_VALUES` values in all (``b: [${a}, ${a}]``, ``c: [${b}, ${b}]``, ... doubles
at each level). Past a bound the error names the value being resolved and nothing else.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any

from mathflow.config.errors import IssueList, LimitExceeded, plural, suggest
from mathflow.config.loader import Document, KeyPath
from mathflow.errors import describe

_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}")

MAX_REFERENCES = 2_000
"""At most this many ``${...}`` references are followed for one pipeline."""
MAX_RESULT_CHARS = 1_000_000
"""Strings with embedded references may hold at most this many characters in all."""
MAX_COPIED_VALUES = 5_000
"""Whole-value references may copy at most this many values (scalars, lists, mappings) in all."""
_INDEX = re.compile(r"\[(-?\d+)\]")


class _Failed(Exception):
    """A reference could not be resolved; the issue has already been recorded."""


class _Limit(Exception):
    """An expansion bound was passed; ``reported`` once the issue is recorded at the innermost value."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.reported = False


def _size(value: Any, budget: int) -> int:
    """How many values ``value`` holds (itself included), counting no further than ``budget + 1``."""
    count = 0
    pending = [value]
    while pending and count <= budget:
        item = pending.pop()
        count += 1
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count


class _Unresolved(Exception):
    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion


def _has_reference(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _dotted(parts: list[str | int] | tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in parts)


def _split(ref: str) -> list[str]:
    text = _INDEX.sub(r".\1", ref.strip())
    parts = text.split(".")
    if not text or any(not p.strip() for p in parts):
        raise _Unresolved(f"malformed reference '${{{ref}}}'", None)
    return [p.strip() for p in parts]


def _format(value: Any, ref: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        raise _Unresolved(f"cannot embed '${{{ref}}}' ({describe(value)}) in text; make the reference the whole value")
    return str(value)


class _Resolver:
    def __init__(self, document: Document, issues: IssueList) -> None:
        self.document = document
        self.raw = document.data
        self.issues = issues
        self.done: dict[KeyPath, Any] = {}
        self.failed: set[KeyPath] = set()
        self.active: list[KeyPath] = []
        self.references = 0
        self.copied = 0
        self.chars = 0

    def _spend_text(self, count: int) -> None:
        """Count ``count`` characters of text built from references against :data:`MAX_RESULT_CHARS`."""
        self.chars += count
        if self.chars > MAX_RESULT_CHARS:
            raise _Limit(f"references expand text beyond {MAX_RESULT_CHARS:,} characters")

    # A string leaf of the raw data, identified by its path -----------------------------------
    def leaf(self, path: KeyPath, text: str) -> Any:
        if path in self.done:
            return self.done[path]
        if path in self.failed:
            raise _Failed
        if path in self.active:
            loop = self.active[self.active.index(path) :]
            self.failed.update(loop)
            chain = " -> ".join([_dotted(p) for p in loop] + [_dotted(path)])
            self.issues.add(self.document.locate_value(loop[0]), f"reference cycle: {chain}")
            raise _Failed
        self.active.append(path)
        try:
            value = self.render(text)
        except _Unresolved as exc:
            self.failed.add(path)
            self.issues.add(self.document.locate_value(path), exc.message, exc.suggestion)
            raise _Failed from None
        except _Limit as exc:
            if not exc.reported:
                exc.reported = True
                self.issues = IssueList()
                self.issues.add(self.document.locate_value(path), exc.message)
            raise
        except _Failed:
            self.failed.add(path)
            raise
        finally:
            self.active.pop()
        self.done[path] = value
        return value

    def render(self, text: str) -> Any:
        pieces: list[str] = []
        last = 0
        for match in _TOKEN.finditer(text):
            literal = text[last : match.start()]
            if "${" in literal:
                raise _Unresolved(f"unclosed '${{' in '{text}'")
            pieces.append(literal)
            last = match.end()
            if match.group(1) is None:  # "$${" escape
                pieces.append("${")
                continue
            ref = match.group(1)
            if match.start() == 0 and match.end() == len(text):
                return self.lookup(ref)
            pieces.append(_format(self.lookup(ref), ref))
            self._spend_text(len(pieces[-2]) + len(pieces[-1]))
        tail = text[last:]
        if "${" in tail:
            raise _Unresolved(f"unclosed '${{' in '{text}'")
        pieces.append(tail)
        return "".join(pieces)

    # Following a reference ---------------------------------------------------------------------
    def lookup(self, ref: str) -> Any:
        self.references += 1
        if self.references > MAX_REFERENCES:
            raise _Limit(f"more than {MAX_REFERENCES:,} references to follow")
        parts = _split(ref)
        node: Any = self.raw
        raw_path: KeyPath = ()
        is_raw = True  # still walking the original data (not a resolved copy)
        walked: list[str | int] = []
        for part in parts:
            if is_raw and _has_reference(node):
                node = self.leaf(raw_path, node)
                is_raw = False
            if isinstance(node, dict):
                if part not in node:
                    self._missing(ref, walked, part, list(node))
                key: str | int = part
            elif isinstance(node, list):
                try:
                    index = int(part)
                except ValueError:
                    raise _Unresolved(
                        f"unknown reference '${{{ref}}}': '{_dotted(walked)}' is a list; "
                        f"expected an index, got '{part}'"
                    ) from None
                if not -len(node) <= index < len(node):
                    raise _Unresolved(
                        f"unknown reference '${{{ref}}}': index {index} is out of range, "
                        f"'{_dotted(walked)}' has {plural(len(node), 'item')}"
                    )
                key = index % len(node)
            else:
                raise _Unresolved(
                    f"unknown reference '${{{ref}}}': '{_dotted(walked)}' is {describe(node)}, it has no '{part}'"
                )
            node = node[key]
            raw_path = (*raw_path, key)
            walked.append(part)
        if is_raw:
            node = self.deep(raw_path, node)
        if isinstance(node, (dict, list)):
            left = MAX_COPIED_VALUES - self.copied
            self.copied += _size(node, left)
            if self.copied > MAX_COPIED_VALUES:
                raise _Limit(f"references copy more than {MAX_COPIED_VALUES:,} values")
        return copy.deepcopy(node)

    def _missing(self, ref: str, walked: list[str | int], part: str, keys: list[str]) -> None:
        close = suggest(part, keys)
        fixed = _dotted([*walked, close]) if close else None
        where = f"in '{_dotted(walked)}'" if walked else "at the top level"
        raise _Unresolved(f"unknown reference '${{{ref}}}': no key '{part}' {where}", fixed)

    def deep(self, path: KeyPath, value: Any) -> Any:
        """``value`` (found at ``path`` of the raw data) with every reference inside resolved."""
        if _has_reference(value):
            return self.leaf(path, value)
        if isinstance(value, dict):
            return {k: self.deep((*path, k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep((*path, i), v) for i, v in enumerate(value)]
        return value

    def resolve_all(self, value: Any, path: KeyPath = ()) -> Any:
        """Like :meth:`deep`, but a failed leaf keeps its text so that every problem is found."""
        if _has_reference(value):
            try:
                return self.leaf(path, value)
            except _Failed:
                return value
        if isinstance(value, dict):
            return {k: self.resolve_all(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve_all(v, (*path, i)) for i, v in enumerate(value)]
        return value


def interpolate(document: Document) -> Document:
    """A copy of ``document`` with every ``${...}`` reference resolved.

    Raises :class:`~mathflow.config.errors.ConfigError` listing every unknown reference and
    cycle, each at the position of the value that holds it.
    """
    issues = IssueList()
    resolver = _Resolver(document, issues)
    try:
        data = resolver.resolve_all(document.data)
    except _Limit:
        first = resolver.issues.issues[0]
        raise LimitExceeded(first.location, first.message) from None
    issues.raise_if_any()
    return replace(
        document,
        data=data,
        key_locations=dict(document.key_locations),
        value_locations=dict(document.value_locations),
    )
