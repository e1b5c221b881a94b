"""Learning-rate schedules: the learning rate as a pure function of a step counter.

``schedule.lr_at(step, base_lr)`` is pure: the same step always gives the same rate, so a
resumed run needs only its step number. ``schedule.apply(optimizer, step)`` sets
``optimizer.lr`` from ``optimizer.base_lr``.

What a step counts is the caller's choice: call ``apply`` once per epoch to schedule by
epochs, or once per batch to schedule by batches (then express ``step_size``, ``t_max`` and
``warmup_steps`` in batches). Steps start at 0, the first epoch or batch. A pipeline's
``schedule`` counts epochs: ``mathflow run`` applies it once per epoch, at step t = epoch − 1.

A schedule's constructor is its config (see :mod:`mathflow.component`): ``{cosine: {t_max: 10}}``
in a pipeline is ``CosineSchedule(t_max=10)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from mathflow.component import Component, component_union
from mathflow.constraints import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from mathflow.errors import MathflowError
from mathflow.registry import Registry

#: Every schedule by the name a pipeline uses (``cosine``, ``warmup``, ...); its config is its constructor.
SCHEDULES: Registry[type[Schedule]] = Registry("schedule", discover=("mathflow.optim",), config_base=Component)


class Schedule:
    """Base class: ``lr_at(step, base_lr)`` gives the learning rate at ``step`` (0, 1, 2, ...)."""

    registry_name: ClassVar[str] = "schedule"
    config_model: ClassVar[type[Component]]

    def __init__(self) -> None:
        """A schedule without parameters."""

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


@SCHEDULES.register("constant")
class ConstantSchedule(Schedule):
    """ηₜ = η₀ for every step."""

    def lr_at(self, step: int, base_lr: float) -> float:
        self._check_step(step)
        return float(base_lr)


@SCHEDULES.register("step")
class StepSchedule(Schedule):
    """ηₜ = η₀ · γ^⌊t / step_size⌋: multiply by γ every ``step_size`` steps (as ``torch`` StepLR)."""

    example = {"step_size": 2}

    def __init__(
        self,
        step_size: Annotated[PositiveInt, "steps between decays; in a pipeline a step is an epoch"],
        gamma: Annotated[PositiveFloat, "factor γ applied every step_size steps"] = 0.1,
    ):
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def lr_at(self, step: int, base_lr: float) -> float:
        t = self._check_step(step)
        return float(base_lr) * self.gamma ** (t // self.step_size)

    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "step_size": self.step_size, "gamma": self.gamma}


@SCHEDULES.register("exponential")
class ExponentialSchedule(Schedule):
    """ηₜ = η₀ · γᵗ (as ``torch`` ExponentialLR)."""

    example = {"gamma": 0.9}

    def __init__(self, gamma: Annotated[PositiveFloat, "factor γ applied every step"]):
        self.gamma = float(gamma)

    def lr_at(self, step: int, base_lr: float) -> float:
        return float(base_lr) * self.gamma ** self._check_step(step)

    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "gamma": self.gamma}


@SCHEDULES.register("cosine")
class CosineSchedule(Schedule):
    """Cosine annealing from η₀ down to ``eta_min`` over ``t_max`` steps, then constant at ``eta_min``.

    ηₜ = η_min + (η₀ − η_min) · (1 + cos(π · min(t, T)/T)) / 2 with T = ``t_max``: equals ``torch``
    CosineAnnealingLR for t ≤ T; after T the rate stays at η_min.
    """

    example = {"t_max": 10}

    def __init__(
        self,
        t_max: Annotated[PositiveInt, "steps from η₀ down to eta_min; in a pipeline a step is an epoch"],
        eta_min: Annotated[NonNegativeFloat, "the rate η_min reached at step t_max and kept after it"] = 0.0,
    ):
        self.t_max = int(t_max)
        self.eta_min = float(eta_min)

    def lr_at(self, step: int, base_lr: float) -> float:
        t = min(self._check_step(step), self.t_max)
        return self.eta_min + (float(base_lr) - self.eta_min) * (1.0 + math.cos(math.pi * t / self.t_max)) / 2.0

    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "t_max": self.t_max, "eta_min": self.eta_min}


#: What ``warmup`` hands over to: one schedule entry (any schedule but warmup itself), in any of
#: the three written forms, validated as such.
AfterSchedule = component_union(
    SCHEDULES.family,
    [s.config_model for s in (ConstantSchedule, StepSchedule, ExponentialSchedule, CosineSchedule)],
)


@SCHEDULES.register("warmup")
class WarmupSchedule(Schedule):
    """Linear warm-up over ``warmup_steps`` steps, then the ``after`` schedule (default constant).

        ηₜ = η₀ · (t + 1)/W                for t < W   (reaches η₀ at the last warm-up step)
        ηₜ = after.lr_at(t − W, η₀)        for t ≥ W   (the wrapped schedule starts at its step 0)

    In a pipeline ``after`` is a schedule entry (``cosine``, ``{step: {step_size: 2}}``, ...),
    validated as one; Python callers may also pass a Schedule or a dict ``{"name": ..., **parameters}``.
    """

    example = {"warmup_steps": 2}

    def __init__(
        self,
        warmup_steps: Annotated[NonNegativeInt, "steps of linear warm-up; in a pipeline a step is an epoch"],
        after: Annotated[AfterSchedule | None, "the schedule from step warmup_steps on (default constant)"] = None,
    ):
        self.warmup_steps = int(warmup_steps)
        self.after = build_schedule(after)

    def lr_at(self, step: int, base_lr: float) -> float:
        t = self._check_step(step)
        if t < self.warmup_steps:
            return float(base_lr) * (t + 1) / self.warmup_steps
        return self.after.lr_at(t - self.warmup_steps, base_lr)

    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "warmup_steps": self.warmup_steps, "after": self.after.config()}


def build_schedule(spec: Schedule | Component | str | Mapping[str, Any] | None) -> Schedule:
    """A Schedule from an instance, a validated schedule entry (its config model), a registered name,
    a ``{"name": ..., **params}`` dict, or None (constant)."""
    if spec is None:
        return ConstantSchedule()
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, Component) and isinstance(spec.component, type) and issubclass(spec.component, Schedule):
        return spec.component(**spec.kwargs())
    if isinstance(spec, str):
        return SCHEDULES.create(spec)
    if isinstance(spec, Mapping):
        params = dict(spec)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise MathflowError(f"a schedule needs a 'name', got {dict(spec)!r}")
        return SCHEDULES.create(name, **params)
    raise MathflowError(f"cannot make a schedule from {spec!r}")
