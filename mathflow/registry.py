"""Name → component registries, one per family (layer, activation, loss, optimizer, ...).

A component is one class in one module. The class carries everything the rest of mathflow
needs to know about it: its constructor (whose annotated parameters are its config, see
:mod:`mathflow.component`), its implementation, its shape rule and its metadata as class
attributes. It registers itself once, under its name and aliases::

    @LAYERS.register("dense")
    class Dense(Layer):
        def __init__(self, units: Annotated[PositiveInt, "output features"], ...): ...

Registering derives ``Dense.config_model`` (the pydantic model a pipeline entry validates
against, whose ``type`` literal gives the names) from the constructor, on the family's
``config_base``, and makes direct calls obey the same constraints.

Everything else is derived from the registries: the pipeline schema's discriminated unions
and ``Literal`` name types (:meth:`Registry.config_models`, :class:`RegistryName`), the JSON
Schema, ``mathflow list``, the compiler's checks, initialiser defaults and exports.

A registry names the packages its components live in (``discover``); every module of those
packages is imported on the first look-up, so adding a component is adding a module: no list
elsewhere names it. Plain functions (initialisers) register under explicit names:
``@INITIALIZERS.register("he_normal", "kaiming_normal")``.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import sys
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mathflow.component import checked_init, derive_config
from mathflow.errors import MathflowError

T = TypeVar("T")


def config_names(config_model: Any) -> tuple[str, ...]:
    """The names a config model answers to: the arguments of its ``type`` literal, main name first."""
    return tuple(typing.get_args(config_model.model_fields["type"].annotation))


class Registry(Generic[T]):
    """A named family of components, e.g. ``Registry("layer", discover=("mathflow.nn.layers",),
    config_base=LayerConfig)``; without a ``config_base`` it holds plain named objects."""

    def __init__(self, family: str, *, discover: tuple[str, ...] = (), config_base: Any = None):
        self.family = family
        self.config_base = config_base
        self._entries: dict[str, T] = {}
        self._discover = discover
        self._loaded = not discover

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Register a class under its names (``@LAYERS.register("dense")``), deriving its config
        model from its constructor, or anything else by name (``@INITIALIZERS.register("zeros")``)."""
        if not isinstance(name, str):
            raise TypeError(f"register takes the component's name first, as in @{self.family}.register('name')")
        return lambda target: self._add(target, (name, *aliases))

    def _add(self, component: T, names: tuple[str, ...]) -> T:
        if (
            self.config_base is not None
            and isinstance(component, type)
            and "config_model" not in vars(component)
            and getattr(component, "configurable", True)
        ):
            model = derive_config(component, names, self.config_base)
            component.config_model = model  # type: ignore[attr-defined]
            component.__init__ = checked_init(component, model)  # type: ignore[misc]
        for key in names:
            if key in self._entries and self._entries[key] is not component:
                raise ValueError(f"{self.family} {key!r} is registered twice")
            self._entries[key] = component
        try:
            component.registry_name = names[0]  # type: ignore[attr-defined]
            config = getattr(component, "config_model", None)
            if config is not None:
                config.family = self.family
        except (AttributeError, TypeError):  # pragma: no cover - builtins
            pass
        return component

    def load(self) -> None:
        """Import every module of the family's packages (once), which registers their components."""
        if self._loaded:
            return
        self._loaded = True
        for package_name in self._discover:
            package = importlib.import_module(package_name)
            for module in pkgutil.iter_modules(getattr(package, "__path__", [])):
                importlib.import_module(f"{package_name}.{module.name}")

    @property
    def entries(self) -> dict[str, T]:
        self.load()
        return self._entries

    def get(self, name: str) -> T:
        """The component called ``name``; an unknown name raises with a suggestion."""
        try:
            return self.entries[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), list(self.entries), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(self.entries))}"
            raise MathflowError(f"unknown {self.family} {name!r}", suggestion=hint) from None

    def create(self, name: str, **kwargs: Any) -> Any:
        """Instantiate the component ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        """Every name, aliases included, sorted."""
        return sorted(self.entries)

    def components(self) -> list[T]:
        """Each component once (aliases folded), ordered by main name."""
        unique = {id(c): c for c in self.entries.values()}
        return sorted(unique.values(), key=lambda c: getattr(c, "registry_name", ""))

    def public_names(self) -> dict[str, T]:
        """Python name → component: each class's own name and any other name its module gives it
        (``SGD = GradientDescent``); what a package serves as its public attributes."""
        names: dict[str, T] = {}
        for component in self.components():
            module = sys.modules.get(getattr(component, "__module__", ""), None)
            names.update({n: v for n, v in vars(module or object).items() if v is component})
            names.setdefault(getattr(component, "__name__", ""), component)
        return names

    def config_models(self) -> list[Any]:
        """The config models of the components, ordered by main name."""
        return [c.config_model for c in self.components() if hasattr(c, "config_model")]  # containers have none

    def catalog(self) -> dict[str, Any]:
        """main name → config model (what ``mathflow list`` and the docs show)."""
        return {m.component_name(): m for m in self.config_models()}

    def view(self, family: str, keep: Callable[[T], bool]) -> Registry[T]:
        """A registry of the components of this one for which ``keep`` holds (e.g. the activations
        among the layers); it follows later registrations."""
        return _View(family, self, keep)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return sorted(self.entries.items())


class _View(Registry[T]):
    """The components of a parent registry that pass a test; read-only."""

    def __init__(self, family: str, parent: Registry[T], keep: Callable[[T], bool]):
        super().__init__(family)
        self._parent = parent
        self._keep = keep

    @property
    def entries(self) -> dict[str, T]:
        return {k: c for k, c in self._parent.entries.items() if self._keep(c)}

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        raise TypeError(f"the {self.family} registry is a view of the {self._parent.family} registry: register there")


@dataclass(frozen=True)
class RegistryName:
    """A pydantic field annotation: a string that must be a name of ``registry`` (checked when a
    value is validated, listed as an ``enum`` when the JSON Schema is made, so components
    registered later are included)::

        activation: Annotated[str, RegistryName(ACTIVATIONS)] | None = None
    """

    registry: Any

    def __hash__(self) -> int:
        return id(self.registry)

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(self._check)

    def _check(self, value: Any) -> str:
        from pydantic_core import PydanticCustomError

        names = self.registry.names()
        if isinstance(value, str) and value in names:
            return value
        expected = ", ".join(repr(n) for n in names[:-1]) + f" or {names[-1]!r}"
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "string", "enum": self.registry.names()}
