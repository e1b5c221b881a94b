"""Loss components of the ``loss`` section (mirrors :data:`mathflow.nn.LOSSES`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from mathflow.spec.base import Component, Flag, catalog, component_union
from mathflow.spec.types import PositiveFloat, UnitInterval

Reduction = Literal["mean", "sum"]


class LossSpec(Component):
    """Base of loss components; ``task`` is the kind of target the loss is made for."""

    task: ClassVar[str] = "regression"
    reduction: Reduction = "mean"


class MSE(LossSpec):
    """L = (1/n) Σ (y − ŷ)²."""

    type: Literal["mse"] = "mse"


class MAE(LossSpec):
    """L = (1/n) Σ |y − ŷ|."""

    type: Literal["mae"] = "mae"


class Huber(LossSpec):
    """Quadratic below ``delta``, linear above."""

    type: Literal["huber"] = "huber"
    delta: PositiveFloat = 1.0


class BinaryCrossEntropy(LossSpec):
    """Binary cross-entropy on one probability (or logit with ``from_logits``) per sample."""

    task: ClassVar[str] = "binary"
    type: Literal["binary_cross_entropy"] = "binary_cross_entropy"
    from_logits: Flag = False


class CrossEntropy(LossSpec):
    """Softmax cross-entropy on one logit per class."""

    task: ClassVar[str] = "classification"
    type: Literal["cross_entropy"] = "cross_entropy"
    label_smoothing: UnitInterval = 0.0


class Hinge(LossSpec):
    """Hinge loss: one score with ±1 labels, or class scores with integer labels."""

    task: ClassVar[str] = "margin"
    type: Literal["hinge"] = "hinge"


LOSS_MODELS: list[type[LossSpec]] = [MSE, MAE, Huber, BinaryCrossEntropy, CrossEntropy, Hinge]
LOSS_SPECS = catalog(LOSS_MODELS)
LossEntry = component_union("loss", LOSS_MODELS)
