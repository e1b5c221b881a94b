"""Regression losses: MSE, MAE, Huber."""

from __future__ import annotations

from typing import Literal

from mathflow.autodiff.tensor import Tensor
from mathflow.constraints import PositiveFloat
from mathflow.errors import MathflowError
from mathflow.functional import losses as FL
from mathflow.nn.losses import LOSSES, Loss, LossConfig


class MSEConfig(LossConfig):
    """L = (1/n) Σ (y − ŷ)²."""

    type: Literal["mse"] = "mse"


class MAEConfig(LossConfig):
    """L = (1/n) Σ |y − ŷ|."""

    type: Literal["mae"] = "mae"


class HuberConfig(LossConfig):
    """Quadratic below ``delta``, linear above."""

    type: Literal["huber"] = "huber"
    delta: PositiveFloat = 1.0


@LOSSES.register
class MSE(Loss):
    """L = (1/n) Σᵢ (yᵢ − ŷᵢ)² (``reduction="sum"``: without the 1/n)."""

    config_model = MSEConfig

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.mse(pred, target, reduction=self.reduction)


@LOSSES.register
class MAE(Loss):
    """L = (1/n) Σᵢ |yᵢ − ŷᵢ|."""

    config_model = MAEConfig

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.mae(pred, target, reduction=self.reduction)


@LOSSES.register
class Huber(Loss):
    """L = (1/n) Σᵢ h(yᵢ − ŷᵢ) with h(r) = ½r² for |r| ≤ δ, δ(|r| − ½δ) otherwise."""

    config_model = HuberConfig

    def __init__(self, delta: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or delta <= 0:
            raise MathflowError(f"huber: delta must be a positive number, got {delta!r}")
        self.delta = float(delta)

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.huber(pred, target, delta=self.delta, reduction=self.reduction)
