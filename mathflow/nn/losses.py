"""Loss objects: configured, registered wrappers around the functional losses.

Each loss is ``Loss(reduction="mean")`` and is called as ``loss(pred, target) -> Tensor``.
Before computing, targets are made to fit the predictions: float targets take the
prediction's dtype (no float64 leak into a float32 graph), and a target of shape (N,) for a
prediction of shape (N, 1) is reshaped instead of being broadcast to (N, N).

``check_output(output_shape, target_shape=None)`` is the static rule a compiler uses: it
raises a ShapeError when a model's per-sample output cannot feed the loss (e.g. binary
cross-entropy on 10 output units).
"""

from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

import numpy as np

from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.errors import MathflowError, ShapeError
from mathflow.functional import losses as FL
from mathflow.functional.shape import reshape
from mathflow.registry import Registry

LOSSES: Registry[type[Loss]] = Registry("loss")

Shape = tuple[int, ...]
_REDUCTIONS = ("mean", "sum")


class Loss:
    """Base class: holds the reduction, prepares targets, exposes config and shape rules."""

    registry_name: ClassVar[str] = "loss"
    #: What the model's output should be: "values", "probabilities" or "logits".
    expects: ClassVar[str] = "values"

    def __init__(self, reduction: str = "mean"):
        if reduction not in _REDUCTIONS:
            raise MathflowError(
                f"{self.registry_name}: unknown reduction {reduction!r}", suggestion="use 'mean' or 'sum'"
            )
        self.reduction = reduction

    # ------------------------------------------------------------------ computing
    def __call__(self, pred: Any, target: Any) -> Tensor:
        pred = as_tensor(pred)
        if pred.ndim == 0:
            raise ShapeError(f"{self.registry_name}: predictions need a batch axis, got a scalar")
        return self.compute(pred, self.prepare_target(pred, target))

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def prepare_target(self, pred: Tensor, target: Any) -> Tensor:
        """Elementwise targets: same dtype and shape as ``pred`` (a reshape, never a broadcast)."""
        target = _float_like(pred, target)
        return _fit_shape(self.registry_name, pred, target)

    # ------------------------------------------------------------------ static rules
    def check_output(self, output_shape: Shape, target_shape: Shape | None = None) -> None:
        """Raise ShapeError unless a per-sample output of ``output_shape`` fits this loss."""
        if target_shape is not None and tuple(target_shape) != tuple(output_shape):
            if math.prod(target_shape) != math.prod(output_shape):
                raise ShapeError(
                    f"{self.registry_name}: per-sample targets {tuple(target_shape)} do not match "
                    f"the model output {tuple(output_shape)}"
                )

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments as a plain dict."""
        return {
            name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters if name != "self"
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------------------- target helpers
def _float_like(pred: Tensor, target: Any) -> Tensor:
    """``target`` as a Tensor of the prediction's float dtype (a gradient-carrying target is kept)."""
    if isinstance(target, Tensor):
        if target.requires_grad or target.dtype == pred.dtype:
            return target
        return Tensor._wrap(target.data.astype(pred.dtype))
    xp = pred.xp
    data = target if hasattr(target, "dtype") and not isinstance(target, np.generic) else np.asarray(target)
    return Tensor._wrap(xp.asarray(data, dtype=pred.dtype))


def _fit_shape(op: str, pred: Tensor, target: Tensor) -> Tensor:
    if target.shape == pred.shape:
        return target
    if target.size == pred.size and target.ndim >= 1 and target.shape[0] == pred.shape[0]:
        return reshape(target, pred.shape)
    raise ShapeError(f"{op}: predictions {pred.shape} and targets {target.shape} do not match")


def _class_targets(op: str, pred: Tensor, target: Any) -> Tensor:
    """Integer class labels (N,) kept as integers (floats holding integers are converted);
    one-hot / probability targets (N, C) take the prediction's dtype."""
    raw = target.data if isinstance(target, Tensor) else target
    if not hasattr(raw, "dtype") or isinstance(raw, np.generic):
        raw = np.asarray(raw)
    if raw.ndim == pred.ndim - 1:
        if raw.dtype.kind == "f":
            if not bool((raw == raw.astype(np.int64)).all()):
                raise MathflowError(f"{op}: class labels must be whole numbers, got fractional values")
            raw = raw.astype(np.int64)
        if raw.dtype.kind not in "iub":
            raise MathflowError(f"{op}: class labels must be integers, got dtype {raw.dtype}")
        if tuple(raw.shape) != pred.shape[:-1]:
            raise ShapeError(
                f"{op}: logits {pred.shape} need labels of shape {pred.shape[:-1]}, got {tuple(raw.shape)}"
            )
        return Tensor._wrap(pred.xp.asarray(raw))
    target = _float_like(pred, target)
    if target.shape != pred.shape:
        raise ShapeError(
            f"{op}: logits {pred.shape} need integer labels {pred.shape[:-1]} or one-hot targets {pred.shape}, "
            f"got {target.shape}"
        )
    return target


# ---------------------------------------------------------------------------- regression losses
@LOSSES.register("mse")
class MSE(Loss):
    """L = (1/n) Σᵢ (yᵢ − ŷᵢ)² (``reduction="sum"``: without the 1/n)."""

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.mse(pred, target, reduction=self.reduction)


@LOSSES.register("mae")
class MAE(Loss):
    """L = (1/n) Σᵢ |yᵢ − ŷᵢ|."""

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.mae(pred, target, reduction=self.reduction)


@LOSSES.register("huber")
class Huber(Loss):
    """L = (1/n) Σᵢ h(yᵢ − ŷᵢ) with h(r) = ½r² for |r| ≤ δ, δ(|r| − ½δ) otherwise."""

    def __init__(self, delta: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or delta <= 0:
            raise MathflowError(f"huber: delta must be a positive number, got {delta!r}")
        self.delta = float(delta)

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        return FL.huber(pred, target, delta=self.delta, reduction=self.reduction)


# ---------------------------------------------------------------------------- classification losses
@LOSSES.register("binary_cross_entropy")
class BinaryCrossEntropy(Loss):
    """L = −(1/n) Σᵢ [yᵢ log p̂ᵢ + (1 − yᵢ) log(1 − p̂ᵢ)].

    The model outputs probabilities p̂ (after a sigmoid), or logits z with ``from_logits=True``,
    where p̂ = σ(z) is folded into a numerically stable formula.
    """

    def __init__(self, from_logits: bool = False, reduction: str = "mean"):
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


@LOSSES.register("cross_entropy")
class CrossEntropy(Loss):
    """L = −(1/n) Σᵢ Σ_c qᵢ_c log softmax(zᵢ)_c on logits z, with q the one-hot target
    (or, for integer labels, the one-hot of the label) smoothed as q = (1 − ε)q + ε/C."""

    expects = "logits"

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        ok = isinstance(label_smoothing, (int, float)) and not isinstance(label_smoothing, bool)
        if not ok or not 0.0 <= label_smoothing < 1.0:
            raise MathflowError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing!r}")
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
class Hinge(Loss):
    """Binary: L = (1/n) Σᵢ max(0, 1 − yᵢ ŷᵢ) with yᵢ ∈ {−1, +1}.
    Multiclass (scores (N, C), integer labels): L = (1/n) Σᵢ (1/C) Σ_{c≠yᵢ} max(0, 1 − sᵢ_{yᵢ} + sᵢ_c)."""

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


def get_loss(spec: Any) -> Loss:
    """A loss object from a name (``"mse"``), a mapping with ``name`` and arguments, or a Loss."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str):
        return LOSSES.get(spec)()
    if isinstance(spec, dict) and "name" in spec:
        cls = LOSSES.get(spec["name"])
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise MathflowError(f"loss {spec['name']!r}: bad arguments {kwargs}: {exc}") from None
    raise MathflowError(f"a loss must be a name such as 'mse', got {spec!r}")


__all__ = [
    "LOSSES",
    "MAE",
    "MSE",
    "BinaryCrossEntropy",
    "CrossEntropy",
    "Hinge",
    "Huber",
    "Loss",
    "get_loss",
]
