"""Losses: configured, registered wrappers around the functional losses, one module per group.

Every module of this package is imported on the first look-up of :data:`LOSSES`, which
registers its losses; a new loss is a new module (its class, whose constructor is its config,
and checks).

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
from typing import Annotated, Any, ClassVar, Literal

import numpy as np

from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.component import Component
from mathflow.errors import MathflowError, ShapeError
from mathflow.functional import losses as FL
from mathflow.functional.shape import reshape
from mathflow.registry import Registry

Shape = tuple[int, ...]
#: How a loss reduces the per-sample terms (each loss constructor's ``reduction``).
Reduction = Literal["mean", "sum"]
#: A problem a loss finds with a model and its data: (message, hint).
Problem = tuple[str, str | None]


class LossConfig(Component):
    """Base of the config models derived from the losses' constructors."""

    @classmethod
    def adopt(cls, component: Any) -> None:
        # ``Loss.example`` is a method (a sample batch), not the values of required parameters:
        # every loss parameter has a default.
        cls.component = component
        example = getattr(component, "example", None)
        cls.example = dict(example) if isinstance(example, dict) else {}


#: Every loss; its modules are those of this package; its config is its constructor.
LOSSES: Registry[type[Loss]] = Registry("loss", discover=("mathflow.nn.losses",), config_base=LossConfig)


class Loss:
    """Base class: holds the reduction, prepares targets, exposes config and shape rules.

    Metadata a compiler reads: ``task`` (the targets the loss is made for: "regression" or
    "classification"), ``expects`` (what the model's output should be: "values",
    "probabilities" or "logits") and ``applies`` (the squashing a logit loss applies itself).

    A subclass's constructor is its config (see :mod:`mathflow.component`): it re-lists
    ``reduction``, whose description comes from here.
    """

    registry_name: ClassVar[str] = "loss"
    config_model: ClassVar[type[LossConfig]]
    task: ClassVar[str] = "regression"
    expects: ClassVar[str] = "values"
    applies: ClassVar[str] = "softmax"

    def __init__(self, reduction: Annotated[Reduction, "mean over the batch, or sum"] = "mean"):
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

    def check_fit(self, output: Shape, info: Any, at: str) -> Problem | None:
        """What stops a model with per-sample ``output`` from fitting the data ``info`` (a
        :class:`mathflow.compiler.DataInfo`) under this loss; ``at`` locates the output layer."""
        one_hot = info.task == "classification" and info.target_shape not in ((), (1,))
        if info.task != "regression" and not one_hot:
            return (
                f"{self.registry_name} is a regression loss but {info.describe()} has class labels",
                "use cross_entropy (or binary_cross_entropy for 2 classes), or one_hot the targets",
            )
        targets = math.prod(info.target_shape or (1,))
        if tuple(output) != tuple(info.target_shape) and math.prod(output) != targets:
            return (
                f"{self.registry_name} compares the model output {_batch(output)} with targets "
                f"{_batch(info.target_shape)}{at}",
                f"end the model with dense units {targets}",
            )
        return None

    def check_final_activation(self, activation: str | None, output_range: str | None, at: str) -> Problem | None:
        """A logit loss must not follow a squashing activation; a probability loss needs a sigmoid."""
        if self.expects == "logits" and output_range is not None:
            return (
                f"{self.registry_name} takes raw scores (logits) and applies {self.applies} itself; "
                f"the model ends with {activation}{at}",
                f"remove the final {activation}",
            )
        if self.expects == "probabilities" and output_range != "probability":
            ends = f"ends with {activation}" if activation else "has no final sigmoid"
            return (
                f"{self.registry_name} takes probabilities in (0, 1); the model {ends}{at}",
                "end with a sigmoid activation or set from_logits: true",
            )
        return None

    def example(self, rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
        """A float64 batch (predictions, targets) of the kind this loss takes (docs, contract tests)."""
        return rng.normal(size=(n, 3)), rng.normal(size=(n, 3))

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


def _batch(shape: Any) -> str:
    """A per-sample shape written with its batch axis: (N, 3)."""
    return "(" + ", ".join(["N", *(str(d) for d in shape)]) + ")"


class ClassificationLoss(Loss):
    """A loss on class labels: the data must have them."""

    task = "classification"

    def check_fit(self, output: Shape, info: Any, at: str) -> Problem | None:
        if info.task != "classification":
            return (
                f"{self.registry_name} needs class labels, but {info.name} has a regression target",
                "use mse, mae or huber",
            )
        return self.check_classes(output, info, at)

    def check_classes(self, output: Shape, info: Any, at: str) -> Problem | None:
        """The model's output against the number of classes: one score per class by default."""
        if len(output) != 1 or math.prod(output) != info.num_classes:
            return (
                f"{self.registry_name} needs one output unit per class: {info.describe()}, "
                f"but the model outputs {_batch(output)}{at}",
                f"end the model with dense units {info.num_classes}",
            )
        return None

    def example(self, rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
        """Class scores (or probabilities, when the loss expects them) and integer labels."""
        if self.expects == "probabilities":
            return rng.uniform(0.05, 0.95, size=(n, 1)), rng.integers(0, 2, size=(n, 1)).astype(np.float64)
        return rng.normal(size=(n, 3)), rng.integers(0, 3, size=n)


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


LOSSES.load()
from mathflow.nn.losses.classification import BinaryCrossEntropy, CrossEntropy, Hinge  # noqa: E402
from mathflow.nn.losses.regression import MAE, MSE, Huber  # noqa: E402

__all__ = [
    "LOSSES",
    "MAE",
    "MSE",
    "BinaryCrossEntropy",
    "ClassificationLoss",
    "CrossEntropy",
    "Hinge",
    "Huber",
    "Loss",
    "LossConfig",
    "get_loss",
]
