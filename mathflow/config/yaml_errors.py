"""YAML syntax errors in plain words: what is wrong where, and how to fix it.

PyYAML reports a syntax error in its parser's terms ("mapping values are not allowed here",
"expected <block end>, but found '<block mapping start>'"). :func:`explain` reads the error's
marks and the text around them and says what the writer most likely did:

* a line indented more than the key above it, or to a column no key above it starts in;
* a tab character (YAML indents with spaces only);
* a quote, ``[`` or ``{`` that is never closed, or closed by the wrong bracket;
* a missing ``:`` (or a missing space after it), or a value holding ``: `` unquoted;
* a list item in the middle of a mapping, text after a closing quote, an unknown escape.

Each explanation is an :class:`~mathflow.config.errors.Issue` located where the fix is (the
line to re-indent, the opening quote or bracket, the key without a colon), with a hint. Errors
no rule recognises keep PyYAML's words, with a hint that they are a YAML syntax error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mathflow.config.errors import Issue, Location

NEST_HINT = "YAML uses indentation to nest"


@dataclass(frozen=True)
class _Error:
    """The parts of a PyYAML error the rules read."""

    file: str
    lines: list[str]
    problem: str
    context: str
    problem_mark: Any
    context_mark: Any

    def at(self, mark: Any, column: int | None = None) -> Location:
        """``mark`` as a location (1-based), at ``column`` (0-based) of its line when given."""
        return Location(self.file, mark.line + 1, (mark.column if column is None else column) + 1)

    def line(self, mark: Any) -> str:
        return self.lines[mark.line] if mark is not None and 0 <= mark.line < len(self.lines) else ""

    def line_above(self, mark: Any) -> tuple[int, str] | None:
        """(index, text) of the closest line above ``mark`` that holds more than a comment."""
        for index in range(mark.line - 1, -1, -1):
            stripped = self.lines[index].strip()
            if stripped and not stripped.startswith("#"):
                return index, self.lines[index]
        return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _key_of(line: str) -> str | None:
    """The key of a ``key: value`` line (after any ``- ``), or None."""
    match = re.match(r"\s*(?:-\s+)*([^\s:#][^:#]*?):(?:\s|$)", line)
    return match.group(1).strip() if match else None


def _has_value(line: str) -> bool:
    """Whether a ``key: value`` line holds a value on the line itself (not a key opening a block)."""
    match = re.match(r"\s*(?:-\s+)*[^\s:#][^:#]*?:\s+(.*)$", line)
    if not match:
        return not line.rstrip().endswith(":")
    value = match.group(1).split(" #")[0].strip()
    return bool(value) and value not in ("|", ">", "|-", ">-", "|+", ">+")


# ------------------------------------------------------------------------------------ the rules
def _tab(e: _Error) -> Issue | None:
    if "'\\t'" not in e.problem:
        return None
    mark = e.problem_mark
    text = e.line(mark)
    leading = text[: len(text) - len(text.lstrip(" \t"))]
    if "\t" in leading:
        return Issue(
            e.at(mark, leading.index("\t")),
            "a tab character in the indentation",
            hint="YAML indents with spaces only: replace the tab with spaces",
        )
    return Issue(
        e.at(mark),
        "a tab character where YAML expects spaces",
        hint="YAML separates with spaces only: replace the tab with a space",
    )


def _quote(e: _Error) -> Issue | None:
    if "quoted scalar" not in e.context:
        return None
    opened = e.context_mark
    quote = e.line(opened)[opened.column : opened.column + 1] or '"'
    if "end of stream" in e.problem or "document separator" in e.problem:
        return Issue(
            e.at(opened),
            f"the quote {quote} opened here is never closed",
            hint=f"end the text with a matching {quote}",
        )
    escape = re.search(r"unknown escape character '(.+?)'", e.problem)
    if escape:
        return Issue(
            e.at(e.problem_mark, e.problem_mark.column - 1),
            f"unknown escape '\\{escape.group(1)}' in a double-quoted string",
            hint="write \\\\ for a backslash, or use single quotes, which keep backslashes as written",
        )
    return None


_FLOW = re.compile(r"expected ',' or '([\]}])', but got '(.+)'")


def _bracket(e: _Error) -> Issue | None:
    match = _FLOW.search(e.problem)
    if match is None or e.context_mark is None:
        return None
    close, got = match.groups()
    opened = e.context_mark
    bracket, kind = ("[", "list") if close == "]" else ("{", "mapping")
    other = "}" if close == "]" else "]"
    if got == other:
        return Issue(
            e.at(e.problem_mark),
            f"the {kind} opened by '{bracket}' at line {opened.line + 1} is closed by '{other}'",
            hint=f"close a list with ']' and a mapping with '}}'; this one needs '{close}'",
        )
    if got == "<stream end>" or e.problem_mark.line != opened.line:
        return Issue(
            e.at(opened),
            f"the '{bracket}' opened here is never closed",
            hint=f"end the {kind} with '{close}'; it may go on over several lines, but must be closed",
        )
    return Issue(
        e.at(e.problem_mark),
        f"a ',' is missing between two items of the {kind} opened at column {opened.column + 1}",
        hint="separate the items with ', '",
    )


def _missing_colon(e: _Error) -> Issue | None:
    if "could not find expected ':'" not in e.problem or e.context_mark is None:
        return None
    start = e.context_mark
    text = e.line(start).strip()
    glued = re.match(r"([^\s:]+):(\S.*)$", text)
    if glued:
        key, value = glued.groups()
        return Issue(
            e.at(start),
            f"'{text}' has no space after its ':'",
            hint=f"write '{key}: {value}'; a key's ':' must be followed by a space",
        )
    return Issue(
        e.at(start),
        f"'{text}' is not 'key: value': the ':' after the key is missing",
        hint="write 'key: value', or '- item' for a list item",
    )


def _colon_in_value(e: _Error) -> Issue | None:
    if "mapping values are not allowed" not in e.problem:
        return None
    mark = e.problem_mark
    text = e.line(mark)
    above = e.line_above(mark)
    here = _indent(text)
    if above is not None and here > _indent(above[1]) and _has_value(above[1]):
        index, line = above
        key = _key_of(line)
        where = f"'{key}' on line {index + 1}" if key else f"line {index + 1}"
        return Issue(
            e.at(mark, here),
            f"the line is indented more than the key above it, {where}, which already has a value",
            hint=f"{NEST_HINT}: start the line in column {_indent(line) + 1} to make it a sibling, "
            "or put it under a key that ends with ':'",
        )
    key = _key_of(text)
    if key is not None and text.index(":") < mark.column:
        return Issue(
            e.at(mark),
            f"the value of '{key}' holds ': ', which YAML reads as another key",
            hint=f'put the value in quotes: {key}: "{text.split(":", 1)[1].strip()}"',
        )
    return None


def _block_end(e: _Error) -> Issue | None:
    found = re.search(r"expected <block end>, but found '(.+)'", e.problem)
    if found is None:
        return None
    token = found.group(1)
    mark = e.problem_mark
    text = e.line(mark)
    if token in ("<block mapping start>", "<block sequence start>"):
        above = e.line_above(mark)
        columns = sorted({e.context_mark.column + 1} | ({_indent(above[1]) + 1} if above else set()))
        return Issue(
            e.at(mark, _indent(text)),
            f"the line starts in column {_indent(text) + 1}, which lines up with no key or list item above it",
            hint=f"{NEST_HINT}: the keys of a mapping, and the items of a list, start in one column, "
            f"here column {' or '.join(map(str, columns))}",
        )
    if token == "-":
        return Issue(
            e.at(mark),
            "a list item ('- ') in the middle of a mapping",
            hint="a list goes under a key of its own that ends with ':', its items indented below it",
        )
    if token in ("]", "}"):
        opener = "[" if token == "]" else "{"
        return Issue(e.at(mark), f"a '{token}' with no '{opener}' open", hint=f"remove it, or add the '{opener}'")
    before = text[: mark.column].rstrip()
    if token == "<scalar>" and before[-1:] in ("'", '"'):
        return Issue(
            e.at(mark),
            "text after the closing quote of a value",
            hint="put the whole value inside the quotes",
        )
    return None


def _document_start(e: _Error) -> Issue | None:
    if "expected '<document start>'" not in e.problem:
        return None
    return Issue(
        e.at(e.problem_mark, _indent(e.line(e.problem_mark))),
        "the line is indented less than the first line of the file",
        hint=f"{NEST_HINT}: top-level keys start in column 1",
    )


def _alias(e: _Error) -> Issue | None:
    found = re.search(r"found undefined alias '(.+)'", e.problem)
    if found is None:
        return None
    name = found.group(1)
    return Issue(
        e.at(e.problem_mark),
        f"'*{name}' refers to no anchor: no '&{name}' is defined above it",
        hint=f"define it first as 'key: &{name} value', or quote a value that starts with '*'",
    )


_RULES: tuple[Callable[[_Error], Issue | None], ...] = (
    _tab,
    _quote,
    _bracket,
    _missing_colon,
    _colon_in_value,
    _block_end,
    _document_start,
    _alias,
)


def explain(exc: Any, file: str, text: str) -> Issue:
    """A PyYAML ``MarkedYAMLError`` as a plain-words :class:`Issue` at the place to fix."""
    error = _Error(
        file,
        text.splitlines(),
        (exc.problem or "").strip(),
        (exc.context or "").strip(),
        exc.problem_mark,
        exc.context_mark,
    )
    if error.problem_mark is not None:
        for rule in _RULES:
            issue = rule(error)
            if issue is not None:
                return issue
    mark = error.problem_mark or error.context_mark
    where = Location(file) if mark is None else error.at(mark)
    words = f"{error.problem} ({error.context})" if error.problem and error.context else error.problem or error.context
    return Issue(where, words or "invalid YAML", hint="a YAML syntax error: check the indentation, quotes and brackets")
