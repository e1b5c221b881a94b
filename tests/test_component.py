"""The one-declaration mechanism: a registered class's annotated constructor is its config."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pytest
from pydantic import Field, ValidationError

from mathflow.component import Component, Flag, component_union, first_paragraph, split_description
from mathflow.constraints import NonNegativeFloat, PositiveInt, UnitInterval
from mathflow.errors import MathflowError
from mathflow.registry import Registry

WIDGETS: Registry[Any] = Registry("widget", config_base=Component)


class Base:
    """Not registered: describes what its subclasses share."""

    python_only = ("owner",)

    def __init__(self, owner: Any = None, rate: Annotated[UnitInterval, "how often it turns"] = 0.5):
        self.owner = owner
        self.rate = rate


@WIDGETS.register("gear", "cog")
class Gear(Base):
    """A toothed wheel: teeth and a rate.

    A second paragraph that the derived model does not take.
    """

    example = {"teeth": 12}

    def __init__(
        self,
        owner: Any = None,
        teeth: Annotated[PositiveInt, "number of teeth"] = 8,
        rate: UnitInterval = 0.25,
        strength: Annotated[NonNegativeFloat, Field(alias="lambda"), "strength λ"] = 1.0,
        shape: Literal["spur", "helical"] = "spur",
        greased: Flag = False,
        sizes: list[int] | None = None,
    ):
        super().__init__(owner, rate)
        self.teeth, self.strength, self.shape, self.greased, self.sizes = teeth, strength, shape, greased, sizes


@WIDGETS.register("spring")
class Spring:
    """A coil: its stiffness must be given."""

    def __init__(self, stiffness: Annotated[PositiveInt, "N/m"]):
        self.stiffness = stiffness


@WIDGETS.register("frame")
class Frame:
    """Built in Python only."""

    configurable = False

    def __init__(self, *parts: Any):
        self.parts = parts


def test_the_model_is_derived_from_the_constructor():
    model = Gear.config_model
    assert model.__name__ == "GearConfig" and model.__doc__ == "A toothed wheel: teeth and a rate."
    assert model.component is Gear and model.example == {"teeth": 12} and model.family == "widget"
    params = model.params()
    assert list(params) == ["teeth", "rate", "lambda", "shape", "greased", "sizes"]  # owner is python_only
    assert params["teeth"].description == "number of teeth" and params["teeth"].default == 8
    assert params["rate"].description == "how often it turns" and params["rate"].default == 0.25  # inherited text
    assert params["lambda"].description == "strength λ"
    assert Spring.config_model.params()["stiffness"].is_required() is not False
    assert Gear.registry_name == "gear" and WIDGETS.get("cog") is Gear
    assert not hasattr(Frame, "config_model") and Frame(1, 2).parts == (1, 2)


def test_the_derived_model_validates_yaml_strictly():
    model = Gear.config_model
    entry = model.model_validate({"type": "cog", "teeth": 20, "lambda": 0.5, "greased": "yes"})
    assert entry.kwargs() == {
        "teeth": 20,
        "rate": 0.25,
        "strength": 0.5,
        "shape": "spur",
        "greased": True,
        "sizes": None,
    }
    assert entry.to_data() == {"cog": {"teeth": 20, "rate": 0.25, "lambda": 0.5, "shape": "spur", "greased": True}}
    for bad in ({"teeth": "20"}, {"teeth": 0}, {"rate": 1.0}, {"shape": "bevel"}, {"gears": 3}, {"rate": float("nan")}):
        with pytest.raises(ValidationError):
            model.model_validate({"type": "gear", **bad})
    with pytest.raises(ValidationError):
        Spring.config_model.model_validate({"type": "spring"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"teeth": 0}, "gear: teeth must be a positive integer, got 0"),
        ({"teeth": True}, "gear: teeth must be a positive integer, got True"),
        ({"teeth": "8"}, "gear: teeth must be a positive integer, got '8'"),
        ({"teeth": 2.5}, "gear: teeth must be a positive integer, got 2.5"),
        ({"rate": 1.0}, "gear: rate must satisfy 0 <= rate < 1, got 1.0"),
        ({"rate": True}, "gear: rate must be a number, got True"),
        ({"strength": -1.0}, "gear: strength must be >= 0, got -1.0"),
        ({"shape": "helicl"}, "gear: shape is not one of spur, helical (did you mean 'helical'?), got 'helicl'"),
        ({"greased": 1}, "gear: greased must be true or false, got 1"),
        ({"sizes": "3"}, "gear: sizes must be a list, got '3'"),
        ({"tooth": 3}, "gear: got an unexpected keyword argument 'tooth'"),
    ],
)
def test_direct_calls_obey_the_same_declaration(kwargs, message):
    with pytest.raises(MathflowError) as caught:
        Gear(**kwargs)
    assert str(caught.value) == message


def test_direct_calls_take_numpy_scalars_tuples_and_objects():
    owner = object()
    gear = Gear(owner, teeth=np.int64(9), rate=np.float32(0.5), sizes=(1, 2))
    assert gear.owner is owner and gear.teeth == 9 and type(gear.teeth) is int
    assert gear.sizes == (1, 2)  # the caller's tuple is kept
    assert Gear(greased="on").greased is True  # YAML's spellings, as in a file
    with pytest.raises(MathflowError, match="spring: missing a required argument: 'stiffness'"):
        Spring()


def test_names_are_registered_once_and_given_first():
    with pytest.raises(ValueError, match="widget 'gear' is registered twice"):
        WIDGETS.register("gear")(type("Other", (), {"__init__": lambda self: None}))
    with pytest.raises(TypeError, match="name first"):
        WIDGETS.register(Gear)  # type: ignore[arg-type]


def test_public_names_include_module_aliases():
    names = WIDGETS.public_names()
    assert names["Gear"] is Gear and names["Spring"] is Spring and names["Frame"] is Frame
    assert names["Wheel"] is Gear  # the alias below, found in the module


Wheel = Gear


def test_the_three_written_forms_reach_the_same_entry():
    from pydantic import TypeAdapter

    entry = TypeAdapter(component_union("widget", [Gear.config_model, Spring.config_model]))
    forms = ["gear", {"gear": None}, {"gear": {"teeth": 8}}, {"type": "gear"}]
    assert {entry.validate_python(f).teeth for f in forms} == {8}
    with pytest.raises(ValidationError, match="parameters of widget 'gear' must be a mapping"):
        entry.validate_python({"gear": 3})


def test_description_and_docstring_helpers():
    assert split_description(Annotated[int, "count", Field(gt=0)])[1] == "count"
    assert split_description(int) == (int, None)
    assert first_paragraph("Adam, as written:\n\n    m ← ...") == "Adam, as written"
    assert first_paragraph(None) is None
