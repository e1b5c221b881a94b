"""Learning-rate schedules: the learning rate as a pure function of a step counter.

``schedule.lr_at(step, base_lr)`` is pure: the same step always gives the same rate, so a
resumed run needs only its step number. ``schedule.apply(optimizer, step)`` sets
``optimizer.lr`` from ``optimizer.base_lr``.

What a step counts is the caller's choice: call ``apply`` once per epoch to schedule by
epochs, or once per batch to schedule by batches (then express ``step_size``, ``t_max`` and
``warmup_steps`` in batches). Steps start at 0, the first epoch or batch. A pipeline's
``schedule`` counts epochs: ``mathflow run`` applies it once per epoch, at step t = epoch − 1.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from mathflow.constraints import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from mathflow.errors import MathflowError
from mathflow.registry import Registry
from mathflow.schema.base import Component, component_union

#: Every schedule by the name a pipeline uses (``cosine``, ``warmup``, ...).
SCHEDULES: Registry[type[Schedule]] = Registry("schedule", discover=("mathflow.optim",))


class ConstantConfig(Component):
    """ηₜ = η₀."""

    type: Literal["constant"] = "constant"


class StepConfig(Component):
    """ηₜ = η₀ · γ^⌊t / step_size⌋."""

    example = {"step_size": 2}
    type: Literal["step"] = "step"
    step_size: PositiveInt = Field(description="steps between decays; in a pipeline a step is an epoch")
    gamma: PositiveFloat = 0.1


class ExponentialConfig(Component):
    """ηₜ = η₀ · γᵗ."""

    example = {"gamma": 0.9}
    type: Literal["exponential"] = "exponential"
    gamma: PositiveFloat


class CosineConfig(Component):
    """Cosine annealing from η₀ to ``eta_min`` over ``t_max`` steps."""

    example = {"t_max": 10}
    type: Literal["cosine"] = "cosine"
    t_max: PositiveInt = Field(description="steps from η₀ down to eta_min; in a pipeline a step is an epoch")
    eta_min: NonNegativeFloat = 0.0


class WarmupConfig(Component):
    """Linear warm-up over ``warmup_steps``, then the ``after`` schedule (default constant)."""

    example = {"warmup_steps": 2}
    type: Literal["warmup"] = "warmup"
    warmup_steps: NonNegativeInt = Field(description="steps of linear warm-up; in a pipeline a step is an epoch")
    after: component_union("schedule", [ConstantConfig, StepConfig, ExponentialConfig, CosineConfig]) | None = None  # type: ignore[valid-type]


class Schedule:
    """Base class: ``lr_at(step, base_lr)`` gives the learning rate at ``step`` (0, 1, 2, ...)."""

    registry_name: ClassVar[str] = "schedule"
    config_model: ClassVar[type[Component]]

    def lr_at(self, step: int, base_lr: float) -> float:
        raise NotImplementedError

    def apply(self, optimizer: Any, step: int) -> float:
        """Set ``optimizer.lr`` to the rate at ``step`` (from ``optimizer.base_lr``) and return it."""
        lr = self.lr_at(step, optimizer.base_lr)
        optimizer.lr = lr
        return lr

    def config(self) -> dict[str, Any]:
        """The schedule as a plain dict: ``{"name": ..., **parameters}``."""
        return {"name": self.registry_name}

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({body})"

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A checkpoint of the schedule: its :meth:`config` (the rate is a pure function of the step,
        which the caller keeps)."""
        return {"config": self.config()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Check that a :meth:`state_dict` checkpoint was made with this same schedule (nothing else to
        restore); a different one is a :class:`MathflowError`."""
        saved = state.get("config")
        if saved != self.config():
            raise MathflowError(f"the checkpoint was made with the schedule {saved}, this one is {self.config()}")

    def _check_step(self, step: Any) -> int:
        t = _integer(step)
        if t is None or t < 0:
            raise MathflowError(f"{self.registry_name} schedule: step must be an integer >= 0, got {step!r}")
        return t


def _integer(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (not a bool), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _int_at_least(owner: str, name: str, value: Any, least: int) -> int:
    number = _integer(value)
    if number is None or number < least:
        raise MathflowError(f"{owner} schedule: {name} must be an integer >= {least}, got {value!r}")
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _positive(owner: str, name: str, value: Any) -> float:
    number = _float(value)
    if not (number > 0.0 and math.isfinite(number)):
        raise MathflowError(f"{owner} schedule: {name} must be > 0, got {value!r}")
    return number


@SCHEDULES.register
class ConstantSchedule(Schedule):
    """ηₜ = η₀ for every step."""

    config_model = ConstantConfig

    def lr_at(self, step: int, base_lr: float) -> float:
        self._check_step(step)
        return float(base_lr)


@SCHEDULES.register
class StepSchedule(Schedule):
    """ηₜ = η₀ · γ^⌊t / step_size⌋: multiply by γ every ``step_size`` steps (as ``torch`` StepLR)."""

    config_model = StepConfig

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size = _int_at_least("step", "step_size", step_size, 1)
        self.gamma = _positive("step", "gamma", gamma)

    def lr_at(self, step: int, base_lr: float) -> float:
        t = self._check_step(step)
        return float(base_lr) * self.gamma ** (t // self.step_size)

    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "step_size": self.step_size, "gamma": self.gamma}


@SCHEDULES.register
class ExponentialSchedule(Schedule):
    """ηₜ = η₀ · γᵗ (as ``torch`` ExponentialLR)."""

    config_model = ExponentialConfig

    def __init__(self, gamma: float):
        self.gamma = _positive("exponential", "gamma", gamma)

    def lr_at(self, step: int, base_lr: float) -> float:
        return float(base_lr) * self.gamma ** self._check_step(step)

    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "gamma": self.gamma}


@SCHEDULES.register
class CosineSchedule(Schedule):
    """ηₜ = η_min + (η₀ − η_min) · (1 + cos(π · min(t, T)/T)) / 2 with T = ``t_max``.

    Equals ``torch`` CosineAnnealingLR for t ≤ T; after T the rate stays at η_min.
    """

    config_model = CosineConfig

    def __init__(self, t_max: int, eta_min: float = 0.0):
        self.t_max = _int_at_least("cosine", "t_max", t_max, 1)
        self.eta_min = _float(eta_min)
        if not (self.eta_min >= 0.0 and math.isfinite(self.eta_min)):
            raise MathflowError(f"cosine schedule: eta_min must be >= 0, got {eta_min!r}")

    def lr_at(self, step: int, base_lr: float) -> float:
        t = min(self._check_step(step), self.t_max)
        return self.eta_min + (float(base_lr) - self.eta_min) * (1.0 + math.cos(math.pi * t / self.t_max)) / 2.0

    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "t_max": self.t_max, "eta_min": self.eta_min}


@SCHEDULES.register
class WarmupSchedule(Schedule):
    """Linear warm-up over ``warmup_steps`` steps, then the wrapped schedule ``after``:

        ηₜ = η₀ · (t + 1)/W                for t < W   (reaches η₀ at the last warm-up step)
        ηₜ = after.lr_at(t − W, η₀)        for t ≥ W   (the wrapped schedule starts at its step 0)

    ``after`` is a Schedule, a registered name, or a dict ``{"name": ..., **parameters}``;
    it defaults to the constant schedule.
    """

    config_model = WarmupConfig

    def __init__(self, warmup_steps: int, after: Schedule | str | Mapping[str, Any] | None = None):
        self.warmup_steps = _int_at_least("warmup", "warmup_steps", warmup_steps, 0)
        self.after = build_schedule(after)

    def lr_at(self, step: int, base_lr: float) -> float:
        t = self._check_step(step)
        if t < self.warmup_steps:
            return float(base_lr) * (t + 1) / self.warmup_steps
        return self.after.lr_at(t - self.warmup_steps, base_lr)

    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "warmup_steps": self.warmup_steps, "after": self.after.config()}


def build_schedule(spec: Schedule | str | Mapping[str, Any] | None) -> Schedule:
    """A Schedule from an instance, a registered name, a ``{"name": ..., **params}`` dict, or None (constant)."""
    if spec is None:
        return ConstantSchedule()
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        return SCHEDULES.create(spec)
    if isinstance(spec, Mapping):
        params = dict(spec)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise MathflowError(f"a schedule needs a 'name', got {dict(spec)!r}")
        try:
            return SCHEDULES.create(name, **params)
        except TypeError as exc:
            raise MathflowError(f"{name} schedule: {exc}") from None
    raise MathflowError(f"cannot make a schedule from {spec!r}")
