"""Errors that mathflow shows to users.

Every user-facing mistake is a :class:`MathflowError`. It carries an optional source
location (``file:line:col``) and an optional suggestion, so that the CLI can print
``pipelines/x.yaml:12:7: message (did you mean ...?)`` instead of a traceback.
"""

from __future__ import annotations


class MathflowError(Exception):
    """A mistake the user can fix: bad input, bad shapes, bad values."""

    def __init__(
        self,
        message: str,
        *,
        location: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.location = location
        self.suggestion = suggestion
        super().__init__(self.format())

    def format(self) -> str:
        text = self.message
        if self.suggestion:
            text = f"{text} ({self.suggestion})"
        return f"{self.location}: {text}" if self.location else text


class ShapeError(MathflowError, ValueError):
    """Operand shapes do not fit the operation."""


class DomainError(MathflowError, ValueError):
    """A value lies outside an operation's domain (log of a negative, ...)."""


class LinAlgError(MathflowError, ValueError):
    """A matrix is not square, singular, or otherwise unfit for the decomposition."""


class GradError(MathflowError, RuntimeError):
    """Differentiation was asked of something that cannot be differentiated."""


class GradcheckError(MathflowError, AssertionError):
    """Analytic and numerical derivatives disagree."""


def describe(value: object) -> str:
    """A short English name for the YAML kind of ``value``: 'a mapping', 'an integer', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"
