"""Name → component registries, one per family (layer, activation, loss, optimizer, ...).

A registry maps the name a pipeline uses (``dense``, ``adam``) to the class that implements
it. The compiler, the CLI listings and the JSON Schema all read from these registries, so
adding a component is one decorated class in one module.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from mathflow.errors import MathflowError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named family of components, e.g. ``Registry("layer")``."""

    def __init__(self, family: str):
        self.family = family
        self._entries: dict[str, T] = {}

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Class decorator: ``@LAYERS.register("dense")``."""

        def decorate(component: T) -> T:
            for key in (name, *aliases):
                if key in self._entries and self._entries[key] is not component:
                    raise ValueError(f"{self.family} {key!r} is registered twice")
                self._entries[key] = component
            try:
                component.registry_name = name  # type: ignore[attr-defined]
            except (AttributeError, TypeError):  # pragma: no cover - builtins
                pass
            return component

        return decorate

    def get(self, name: str) -> T:
        """The component called ``name``; an unknown name raises with a suggestion."""
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._entries), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(self._entries))}"
            raise MathflowError(f"unknown {self.family} {name!r}", suggestion=hint) from None

    def create(self, name: str, **kwargs: Any) -> Any:
        """Instantiate the component ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())
