"""Configuration mistakes: where they are, what is wrong, and what the user probably meant.

Every problem found while reading a pipeline is an :class:`Issue` with a :class:`Location`
(``file:line:col``, or a pseudo-file such as ``--set train.epochs=3`` for command-line
overrides). Issues are collected so that one run reports every mistake of a file, then
raised together as a single :class:`ConfigError`, whose text has one line per issue::

    pipelines/mnist.yaml:4:5: duplicate key 'hidden' (first defined at line 3)
    pipelines/mnist.yaml:9:11: unknown reference '${modle.hidden}' (did you mean 'model.hidden'?)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mathflow.errors import MathflowError


@dataclass(frozen=True)
class Location:
    """A place in a source: ``file`` with 1-based ``line`` and ``col`` when known."""

    file: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.col is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Issue:
    """One mistake: where it is, what is wrong, the likely intended word, and an optional hint."""

    location: Location
    message: str
    suggestion: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.suggestion:
            text += f" (did you mean '{self.suggestion}'?)"
        if self.hint:
            text += f" ({self.hint})"
        return text


def sort_issues(issues: Iterable[Issue]) -> list[Issue]:
    """Order issues file by file (in order of first appearance), then by line and column."""
    items = list(issues)
    rank: dict[str, int] = {}
    for issue in items:
        rank.setdefault(issue.location.file, len(rank))

    def key(issue: Issue) -> tuple[int, int, int]:
        loc = issue.location
        return rank[loc.file], loc.line or 0, loc.col or 0

    return sorted(items, key=key)


class ConfigError(MathflowError):
    """One or more mistakes in a pipeline configuration; ``str()`` gives one line per issue."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: list[Issue] = sort_issues(issues)
        if not self.issues:
            raise ValueError("ConfigError needs at least one issue")
        first = self.issues[0]
        super().__init__(
            first.message,
            location=str(first.location),
            suggestion=f"did you mean '{first.suggestion}'?" if first.suggestion else first.hint,
        )

    def format(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)

    def __len__(self) -> int:
        return len(self.issues)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.issues)


class LimitExceeded(ConfigError):
    """The input asks for more than a pipeline may (file size, nesting, alias or reference expansion,
    ``extends`` chain): raised at once with one located issue, never collected with others."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__([Issue(location, message)])


class IssueList:
    """Collects issues while a whole file is checked, then raises them together."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(
        self,
        location: Location,
        message: str,
        suggestion: str | None = None,
        hint: str | None = None,
    ) -> Issue:
        issue = Issue(location, message, suggestion, hint)
        self.issues.append(issue)
        return issue

    def extend(self, issues: Iterable[Issue]) -> None:
        self.issues.extend(issues)

    def __bool__(self) -> bool:
        return bool(self.issues)

    def __len__(self) -> int:
        return len(self.issues)

    def raise_if_any(self) -> None:
        """Raise a :class:`ConfigError` holding every collected issue, if there is one."""
        if self.issues:
            raise ConfigError(self.issues)


def suggest(word: str, candidates: Iterable[object], cutoff: float = 0.6) -> str | None:
    """The candidate closest to ``word`` (difflib ratio ≥ ``cutoff``), or None.

    A candidate differing only in letter case wins outright; non-string candidates are ignored.
    """
    names = list(dict.fromkeys(c for c in candidates if isinstance(c, str)))
    if not word or not names:
        return None
    folded = {name.lower(): name for name in reversed(names)}
    if word.lower() in folded:
        return folded[word.lower()]
    matches = difflib.get_close_matches(word, names, n=1, cutoff=cutoff)
    if matches:
        return matches[0]
    matches = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=cutoff)
    return folded[matches[0]] if matches else None


def plural(count: int, noun: str) -> str:
    """``'1 item'``, ``'3 items'``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
