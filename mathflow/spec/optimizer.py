"""Optimizer components of the ``optimizer`` section (mirrors :data:`mathflow.optim.OPTIMIZERS`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mathflow.spec.base import Component, Flag, catalog, component_union
from mathflow.spec.types import NonNegativeFloat, PositiveFloat, UnitInterval


class OptimizerSpec(Component):
    """Base: every optimizer has a learning rate lr > 0 and an L2 ``weight_decay`` ≥ 0."""

    lr: PositiveFloat = 0.01
    weight_decay: NonNegativeFloat = 0.0


class GradientDescent(OptimizerSpec):
    """θ ← θ − lr·g, with optional (Nesterov) momentum."""

    type: Literal["sgd"] = "sgd"
    momentum: UnitInterval = 0.0
    nesterov: Flag = False


class PlainGD(GradientDescent):
    """Alias of ``sgd`` (full-batch when ``train.batch_size`` covers the data)."""

    type: Literal["gd"] = "gd"  # type: ignore[assignment]


class Momentum(OptimizerSpec):
    """Heavy-ball momentum."""

    type: Literal["momentum"] = "momentum"
    momentum: UnitInterval = 0.9


class Nesterov(OptimizerSpec):
    """Nesterov accelerated gradient."""

    type: Literal["nesterov"] = "nesterov"
    momentum: UnitInterval = 0.9


class Adam(OptimizerSpec):
    """Adam with bias correction; ``weight_decay`` is added to the gradient."""

    type: Literal["adam"] = "adam"
    lr: PositiveFloat = 1e-3
    beta1: UnitInterval = 0.9
    beta2: UnitInterval = 0.999
    eps: PositiveFloat = 1e-8
    bias_correction: Flag = True


class AdamW(Adam):
    """Adam with decoupled weight decay."""

    type: Literal["adamw"] = "adamw"  # type: ignore[assignment]
    weight_decay: NonNegativeFloat = 0.01


class RMSProp(OptimizerSpec):
    """Scaled by a running mean of squared gradients."""

    type: Literal["rmsprop"] = "rmsprop"
    rho: UnitInterval = 0.99
    eps: PositiveFloat = 1e-8


class Adagrad(OptimizerSpec):
    """Scaled by the accumulated squared gradients."""

    type: Literal["adagrad"] = "adagrad"
    eps: PositiveFloat = 1e-10
    initial_accumulator_value: NonNegativeFloat = Field(0.0)


OPTIMIZER_MODELS: list[type[OptimizerSpec]] = [
    GradientDescent,
    PlainGD,
    Momentum,
    Nesterov,
    Adam,
    AdamW,
    RMSProp,
    Adagrad,
]
OPTIMIZER_SPECS = catalog(OPTIMIZER_MODELS)
OptimizerEntry = component_union("optimizer", OPTIMIZER_MODELS)
