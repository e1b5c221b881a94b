"""Learning-rate schedule components of the ``schedule`` section (mirrors :data:`mathflow.optim.SCHEDULES`)."""

from __future__ import annotations

from typing import Literal

from mathflow.spec.base import Component, catalog, component_union
from mathflow.spec.types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt


class ScheduleSpec(Component):
    """Base of schedule components."""


class Constant(ScheduleSpec):
    """ηₜ = η₀."""

    type: Literal["constant"] = "constant"


class Step(ScheduleSpec):
    """ηₜ = η₀ · γ^⌊t / step_size⌋."""

    type: Literal["step"] = "step"
    step_size: PositiveInt
    gamma: PositiveFloat = 0.1


class Exponential(ScheduleSpec):
    """ηₜ = η₀ · γᵗ."""

    type: Literal["exponential"] = "exponential"
    gamma: PositiveFloat


class Cosine(ScheduleSpec):
    """Cosine annealing from η₀ to ``eta_min`` over ``t_max`` steps."""

    type: Literal["cosine"] = "cosine"
    t_max: PositiveInt
    eta_min: NonNegativeFloat = 0.0


_AFTER_MODELS: list[type[ScheduleSpec]] = [Constant, Step, Exponential, Cosine]
AfterEntry = component_union("schedule", _AFTER_MODELS)


class Warmup(ScheduleSpec):
    """Linear warm-up over ``warmup_steps``, then the ``after`` schedule (default constant)."""

    type: Literal["warmup"] = "warmup"
    warmup_steps: NonNegativeInt
    after: AfterEntry | None = None


SCHEDULE_MODELS: list[type[ScheduleSpec]] = [*_AFTER_MODELS, Warmup]
SCHEDULE_SPECS = catalog(SCHEDULE_MODELS)
ScheduleEntry = component_union("schedule", SCHEDULE_MODELS)
