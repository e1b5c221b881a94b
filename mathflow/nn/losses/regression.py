"""Regression losses: MSE, MAE, Huber."""

from __future__ import annotations

from typing import Annotated

from mathflow.autodiff.tensor import Tensor
from mathflow.constraints import PositiveFloat
from mathflow.functional import losses as FL
from mathflow.nn.losses import LOSSES, Loss, Reduction


@LOSSES.register("mse")
class MSE(Loss):
    """Mean squared error: L = (1/n) Σᵢ (yᵢ − ŷᵢ)² (``reduction="sum"``: without the 1/n)."""

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.mse(pred, target, reduction=self.reduction)


@LOSSES.register("mae")
class MAE(Loss):
    """Mean absolute error: L = (1/n) Σᵢ |yᵢ − ŷᵢ|."""

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.mae(pred, target, reduction=self.reduction)


@LOSSES.register("huber")
class Huber(Loss):
    """Huber loss: quadratic below ``delta``, linear above.

    L = (1/n) Σᵢ h(yᵢ − ŷᵢ) with h(r) = ½r² for |r| ≤ δ, δ(|r| − ½δ) otherwise.
    """

    def __init__(
        self,
        delta: Annotated[PositiveFloat, "δ: where the loss turns from quadratic to linear"] = 1.0,
        reduction: Reduction = "mean",
    ):
        super().__init__(reduction)
        self.delta = float(delta)

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.huber(pred, target, delta=self.delta, reduction=self.reduction)
