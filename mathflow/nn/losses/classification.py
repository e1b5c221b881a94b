"""Classification losses: binary cross-entropy, cross-entropy, hinge."""

from __future__ import annotations

import math
from typing import Annotated, Any

from mathflow.autodiff.tensor import Tensor
from mathflow.component import Flag
from mathflow.constraints import UnitInterval
from mathflow.errors import ShapeError
from mathflow.functional import losses as FL
from mathflow.nn.losses import LOSSES, ClassificationLoss, Problem, Reduction, Shape, _batch, _class_targets


@LOSSES.register("binary_cross_entropy")
class BinaryCrossEntropy(ClassificationLoss):
    """Binary cross-entropy on one probability (or logit with ``from_logits``) per sample.

    L = −(1/n) Σᵢ [yᵢ log p̂ᵢ + (1 − yᵢ) log(1 − p̂ᵢ)].

    The model outputs probabilities p̂ (after a sigmoid), or logits z with ``from_logits=True``,
    where p̂ = σ(z) is folded into a numerically stable formula.
    """

    applies = "sigmoid"

    def __init__(
        self,
        from_logits: Annotated[Flag, "the model outputs logits z: σ(z) is folded into the loss"] = False,
        reduction: Reduction = "mean",
    ):
        super().__init__(reduction)
        self.from_logits = bool(from_logits)

    @property
    def expects(self) -> str:  # type: ignore[override]
        return "logits" if self.from_logits else "probabilities"

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        if self.from_logits:
            return FL.binary_cross_entropy_with_logits(pred, target, reduction=self.reduction)
        return FL.binary_cross_entropy(pred, target, reduction=self.reduction)

    def check_output(self, output_shape: Shape, target_shape: Shape | None = None) -> None:
        units = math.prod(output_shape)
        multilabel = target_shape is not None and tuple(target_shape) == tuple(output_shape)
        if units != 1 and not multilabel:
            act = "" if self.from_logits else " and a sigmoid activation"
            raise ShapeError(
                f"binary_cross_entropy needs one output unit per sample, got {tuple(output_shape)}",
                suggestion=f"end the model with dense units 1{act}, or use cross_entropy for {units} classes",
            )
        super().check_output(output_shape, target_shape)

    def check_classes(self, output: Shape, info: Any, at: str) -> Problem | None:
        one_hot = info.target_shape not in ((), (1,))
        if info.num_classes is not None and info.num_classes != 2 and not one_hot:
            return f"binary_cross_entropy is for 2 classes, {info.describe()}", "use cross_entropy"
        if math.prod(output) != 1 and not one_hot:
            return (
                f"binary_cross_entropy needs one output unit, the model outputs {_batch(output)}{at}",
                "end the model with dense units 1 (and a sigmoid, or from_logits: true)",
            )
        return None


@LOSSES.register("cross_entropy")
class CrossEntropy(ClassificationLoss):
    """Softmax cross-entropy on one logit per class.

    L = −(1/n) Σᵢ Σ_c qᵢ_c log softmax(zᵢ)_c on logits z, with q the one-hot target
    (or, for integer labels, the one-hot of the label) smoothed as q = (1 − ε)q + ε/C.
    """

    expects = "logits"

    def __init__(
        self,
        label_smoothing: Annotated[UnitInterval, "ε: targets become (1 − ε)q + ε/C"] = 0.0,
        reduction: Reduction = "mean",
    ):
        super().__init__(reduction)
        self.label_smoothing = float(label_smoothing)

    def prepare_target(self, pred: Tensor, target: Any) -> Tensor:
        return _class_targets("cross_entropy", pred, target)

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.cross_entropy(pred, target, label_smoothing=self.label_smoothing, reduction=self.reduction)

    def check_output(self, output_shape: Shape, target_shape: Shape | None = None) -> None:
        shape = tuple(output_shape)
        if len(shape) != 1 or shape[0] < 2:
            raise ShapeError(
                f"cross_entropy needs one logit per class (C,) with C ≥ 2 per sample, got {shape}",
                suggestion="end the model with dense units = number of classes and no softmax; "
                "for two classes with one unit use binary_cross_entropy",
            )
        if target_shape is not None and tuple(target_shape) not in ((), (1,), shape):
            raise ShapeError(
                f"cross_entropy: per-sample targets must be an integer label () or one-hot {shape}, "
                f"got {tuple(target_shape)}"
            )


@LOSSES.register("hinge")
class Hinge(ClassificationLoss):
    """Hinge loss: one score with ±1 labels, or class scores with integer labels.

    Binary: L = (1/n) Σᵢ max(0, 1 − yᵢ ŷᵢ) with yᵢ ∈ {−1, +1}.
    Multiclass (scores (N, C), integer labels): L = (1/n) Σᵢ (1/C) Σ_{c≠yᵢ} max(0, 1 − sᵢ_{yᵢ} + sᵢ_c).
    """

    expects = "logits"

    def prepare_target(self, pred: Tensor, target: Any) -> Tensor:
        if pred.ndim >= 2 and pred.shape[-1] > 1:
            return _class_targets("hinge", pred, target)
        return super().prepare_target(pred, target)

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.hinge(pred, target, reduction=self.reduction)

    def check_output(self, output_shape: Shape, target_shape: Shape | None = None) -> None:
        shape = tuple(output_shape)
        if len(shape) > 1:
            raise ShapeError(f"hinge needs a score (1,) or class scores (C,) per sample, got {shape}")
        if target_shape is not None and shape not in ((), (1,)) and tuple(target_shape) not in ((), (1,)):
            raise ShapeError(f"hinge with class scores {shape} needs integer labels, got targets {tuple(target_shape)}")

    def check_classes(self, output: Shape, info: Any, at: str) -> Problem | None:
        units = math.prod(output)
        if (units == 1 and info.num_classes == 2) or (len(output) == 1 and units == info.num_classes):
            return None
        return (
            f"hinge needs one score (2 classes) or one score per class: {info.describe()}, "
            f"the model outputs {_batch(output)}{at}",
            None,
        )

    def check_final_activation(self, activation: str | None, output_range: str | None, at: str) -> Problem | None:
        return None  # margins are scores of any range
