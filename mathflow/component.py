"""A component's constructor is its config.

A component (layer, loss, optimizer, data set, ...) is one class. Its ``__init__`` parameters,
type-annotated with their constraints and a one-line description, are the single declaration
of what a pipeline may write for it::

    @LAYERS.register("dense")
    class Dense(Layer):
        example = {"units": 3}

        def __init__(
            self,
            units: Annotated[PositiveInt, "output features"],
            use_bias: Flag = True,
            *,
            name: str | None = None,
        ): ...

From that signature :func:`derive_config` makes the pydantic model a YAML entry validates
against (``{"type": "dense", "units": ..., "use_bias": ...}``), which in turn gives the JSON
Schema, ``mathflow list``, the reference docs and the error messages. :func:`checked_init`
makes direct Python calls (``Dense(units=-1)``) obey the same constraints, so no parameter is
checked a second time by hand.

Within an ``Annotated`` type a plain string is the parameter's description; anything else
(``Field(alias="lambda")``, ``Field(gt=0)``, validators) is pydantic's. A parameter that a base
class's constructor already describes inherits that description. Parameters that only the
Python API takes (an optimizer's ``params``) are named in the class's ``python_only``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Union

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic_core import PydanticCustomError

from mathflow.component_schema import ComponentSchema
from mathflow.errors import MathflowError, describe

YAML_TRUE = ("true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y")
YAML_FALSE = ("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N")


def yaml_bool(value: Any) -> Any:
    """``on``/``off``/``yes``/``no`` (left as strings by the loader) become booleans here."""
    if isinstance(value, str):
        if value in YAML_TRUE:
            return True
        if value in YAML_FALSE:
            return False
    return value


#: A boolean field: true/false, or the YAML 1.1 spellings on/off/yes/no/y/n.
Flag = Annotated[bool, BeforeValidator(yaml_bool)]


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, no type coercion ("2" is not 2), and no
    float field takes ``.inf``, ``-.inf`` or ``.nan``."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True, allow_inf_nan=False)


class Component(SpecModel):
    """Base of a component model: a ``type: Literal["name", *aliases]`` field and the parameters."""

    #: The family the component belongs to ("layer", "loss", ...), for messages.
    family: ClassVar[str] = "component"
    #: Values for the required parameters: a valid entry for docs and the contract tests.
    example: ClassVar[dict[str, Any]] = {}
    #: The class this model was derived from (None for hand-written spec models).
    component: ClassVar[Any] = None

    @classmethod
    def component_name(cls) -> str:
        return cls.model_fields["type"].default

    @classmethod
    def params(cls) -> dict[str, Any]:
        """Parameter name (as written in YAML) → field info, ``type`` left out."""
        return {(f.alias or n): f for n, f in cls.model_fields.items() if n != "type"}

    @classmethod
    def adopt(cls, component: Any) -> None:
        """Take what the model needs to know from the class it was derived from."""
        cls.component = component
        cls.example = dict(getattr(component, "example", {}) or {})

    def to_data(self) -> Any:
        """The YAML form: a bare name when there is no parameter, else ``{name: {params}}``."""
        params = self.model_dump(by_alias=True, exclude={"type"}, exclude_none=True, mode="json")
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, Component):  # nested components in their written form too
                params[info.alias or name] = value.to_data()
        if not params:
            return self.type  # type: ignore[attr-defined]
        return {self.type: params}  # type: ignore[attr-defined]

    def kwargs(self) -> dict[str, Any]:
        """The validated parameters as constructor keyword arguments (by parameter name)."""
        return {n: getattr(self, n) for n in type(self).model_fields if n != "type"}


# ---------------------------------------------------------------------------- the written forms
FORMS = "a name, {name: {params}} or {type: name, params}"


def split_component(value: Any, family: str) -> Any:
    """Normalise the three written forms to ``{"type": name, **params}``; leave anything else for pydantic."""
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict):
        if "type" in value:
            return value
        if len(value) == 1:
            ((name, params),) = value.items()
            if params is None:
                params = {}
            if not isinstance(params, dict):
                raise PydanticCustomError(
                    "component_params",
                    "the parameters of {family} '{name}' must be a mapping, got {got}",
                    {"family": family, "name": name, "got": describe(params)},
                )
            return {"type": name, **params}
        if not value:
            raise PydanticCustomError("component_form", "empty mapping: name a {family}", {"family": family})
        raise PydanticCustomError(
            "component_form",
            "a {family} is {forms}; got keys {keys}",
            {"family": family, "forms": FORMS, "keys": ", ".join(map(str, value))},
        )
    raise PydanticCustomError(
        "component_form",
        "a {family} is {forms}; got {got}",
        {"family": family, "forms": FORMS, "got": describe(value)},
    )


def component_union(family: str, members: list[type[Component]]) -> Any:
    """The annotated type of one ``family`` entry: normaliser + discriminated union + 3-form schema."""
    for member in members:
        member.family = family
    union = Union[tuple(members)]  # type: ignore[valid-type]  # noqa: UP007
    return Annotated[
        union,
        Field(discriminator="type"),
        BeforeValidator(lambda v: split_component(v, family)),
        ComponentSchema(family, members),
    ]


# ---------------------------------------------------------------------------- the signature
def config_parameters(component: type) -> list[inspect.Parameter]:
    """The constructor parameters that are config: not ``self``, ``*args``/``**kwargs`` or
    the class's ``python_only`` names."""
    skip = set(getattr(component, "python_only", ()))
    return [
        p
        for name, p in inspect.signature(component.__init__).parameters.items()
        if name != "self" and name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def split_description(annotation: Any) -> tuple[Any, str | None]:
    """``Annotated[T, "text", *meta]`` → (``Annotated[T, *meta]``, "text")."""
    if typing.get_origin(annotation) is not Annotated:
        return annotation, None
    base, *meta = typing.get_args(annotation)
    texts = [m for m in meta if isinstance(m, str)]
    rest = tuple(m for m in meta if not isinstance(m, str))
    kept = Annotated[(base, *rest)] if rest else base  # type: ignore[valid-type]
    return kept, (texts[0] if texts else None)


def _hints(klass: type) -> dict[str, Any]:
    init = vars(klass).get("__init__")
    if init is None:
        return {}
    try:
        return typing.get_type_hints(init, include_extras=True)
    except (NameError, TypeError) as exc:  # an annotation that does not resolve is a bug of the class
        raise TypeError(f"{klass.__qualname__}.__init__: {exc}") from None


def _declaration(component: type, pname: str) -> tuple[Any, str | None]:
    """The annotation of ``pname`` in the nearest constructor declaring it, and the nearest
    description (a subclass may re-list a parameter without describing it again)."""
    annotation: Any = None
    for klass in component.__mro__:
        hints = _hints(klass)
        if pname not in hints:
            continue
        kept, text = split_description(hints[pname])
        if annotation is None:
            annotation = kept
        if text is not None:
            return annotation, text
    return (Any if annotation is None else annotation), None


def first_paragraph(doc: str | None) -> str | None:
    """A docstring's first paragraph on one line."""
    if not doc:
        return None
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()).rstrip(":")


def derive_config(component: type, names: tuple[str, ...], base: type[Component]) -> type[Component]:
    """The pydantic model of ``component``'s constructor, on ``base`` (class-level behaviour only):
    ``type`` (its names) plus one field per config parameter, with the parameter's declared type,
    description and default."""
    fields: dict[str, Any] = {"type": (Literal[names], names[0])}  # type: ignore[valid-type]
    for param in config_parameters(component):
        annotation, text = _declaration(component, param.name)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=text))
    model = create_model(  # type: ignore[call-overload]
        f"{component.__name__}Config",
        __base__=base,
        __module__=component.__module__,
        __doc__=first_paragraph(component.__doc__),
        **fields,
    )
    model.adopt(component)
    return model


# ---------------------------------------------------------------------------- Python calls
_PLAIN = (type(None), bool, int, float, str)


def _plain(value: Any) -> Any:
    """``value`` as plain data (NumPy scalars unwrapped), or a sentinel for objects."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _OBJECT if any(v is _OBJECT for v in items) else items
    return _OBJECT


_OBJECT = object()


@functools.cache
def _adapter(model: type[Component], field: str) -> TypeAdapter[Any]:
    info = model.model_fields[field]
    if not info.metadata:
        return TypeAdapter(info.annotation)
    return TypeAdapter(Annotated[(info.annotation, *info.metadata)])  # type: ignore[valid-type]


def check_argument(model: type[Component], label: str, field: str, value: Any) -> Any:
    """``value`` checked against the declared type of ``field`` as YAML's value would be (strict: no
    "2" or True for 2; NumPy scalars and tuples are taken as Python numbers and lists); objects (a
    layer, a callable) are the caller's own and pass as they are. A violation raises a
    MathflowError naming the component and parameter."""
    plain = _plain(value)
    if plain is _OBJECT:
        return value
    try:
        checked = _adapter(model, field).validate_python(plain, strict=True)
    except ValidationError as exc:
        rule = _rule(model.model_fields[field], field, exc.errors()[0], plain)
        got = "" if ", got " in rule else f", got {value!r}"
        raise MathflowError(f"{label}: {field} {rule}{got}") from None
    return value if isinstance(value, tuple) and isinstance(checked, list) else checked


_KINDS = {"int_type": "an integer", "int_from_float": "an integer", "float_type": "a number"}
_KINDS.update({"float_parsing": "a number", "int_parsing": "an integer", "bool_parsing": "true or false"})
_KINDS.update({"bool_type": "true or false", "list_type": "a list", "string_type": "a string"})
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _declared(info: Any) -> tuple[Any, list[Any]]:
    """A field's type and constraint metadata, looking through ``T | None``."""
    if info.metadata:
        return info.annotation, list(info.metadata)
    args = [a for a in typing.get_args(info.annotation) if a is not type(None)]
    if len(args) == 1 and typing.get_origin(args[0]) is Annotated:
        base, *meta = typing.get_args(args[0])
        return base, [c for m in meta for c in (getattr(m, "metadata", None) or [m])]
    return info.annotation, []


def _choices(names: list[str], value: Any) -> str:
    close = difflib.get_close_matches(value, names, n=1, cutoff=0.6) if isinstance(value, str) else []
    return f"is not one of {', '.join(names)}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _rule(info: Any, field: str, error: dict[str, Any], value: Any) -> str:
    """What a field requires, in words: "must be a positive integer", "must satisfy 0 <= beta1 < 1", ..."""
    kind, metadata = _declared(info)
    bounds = [(op, getattr(m, attr)) for m in metadata for attr, op in _BOUNDS if hasattr(m, attr)]
    if kind is int and bounds in ([(">", 0)], [(">=", 1)]):
        return "must be a positive integer"
    if kind is int and bounds == [(">=", 0)]:
        return "must be a non-negative integer"
    if error["type"] in _KINDS:
        return f"must be {_KINDS[error['type']]}"
    if len(bounds) == 2:
        (low_op, low), (high_op, high) = sorted(bounds, key=lambda b: b[0] in ("<", "<="))
        return f"must satisfy {low} {low_op.replace('>', '<')} {field} {high_op} {high}"
    if len(bounds) == 1:
        return f"must be {bounds[0][0]} {bounds[0][1]}"
    context = error.get("ctx", {})
    if error["type"] == "literal_error":
        return _choices(re.findall(r"'([^']*)'", str(context.get("expected", ""))), value)
    if error["type"] == "union_tag_invalid":
        return _choices(re.findall(r"'([^']*)'", str(context.get("expected_tags", ""))), context.get("tag"))
    if error["type"] == "missing":
        return f"lacks its required {error['loc'][-1]!r}"
    message = str(error["msg"])
    return message[:1].lower() + message[1:]


def checked_init(component: type, model: type[Component]) -> Callable[..., None]:
    """``component.__init__`` wrapped so that every config argument obeys its declaration."""
    init = component.__init__
    signature = inspect.signature(init)
    names = [p.name for p in config_parameters(component)]
    label = model.component_name()

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise MathflowError(f"{label}: {exc}") from None
        arguments = bound.arguments
        for name in names:
            if name in arguments:
                arguments[name] = check_argument(model, label, name, arguments[name])
        init(*bound.args, **bound.kwargs)

    __init__.__wrapped_config__ = True  # type: ignore[attr-defined]
    return __init__
