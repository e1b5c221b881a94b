"""Evaluation metrics on NumPy arrays (Tensors and CuPy arrays are copied to NumPy first).

Every metric takes ``(y_true, y_pred)`` and returns a Python float (the confusion matrix
returns an integer array). Each is registered in :data:`METRICS` and carries
``higher_is_better`` (True for accuracy, False for errors) so that early stopping knows which
way is better, and ``config_model``: the pydantic model of its parameters, declared beside it,
which a pipeline's ``metrics`` entries validate against and which names what is logged::

    metrics: [accuracy, {top_k: {k: 3}}, {f1: {average: weighted}}]
    # logged as accuracy, top_3_accuracy, f1_weighted (with train_/val_/test_ in front)

Classification metrics accept, for ``y_pred``:

- class scores or probabilities of shape (N, C), C ≥ 2: the predicted class is the argmax;
- probabilities of shape (N,) or (N, 1) with values in [0, 1]: class 1 when p > ``threshold``
  (0.5), else class 0;
- integer (or whole-valued float) class labels of shape (N,) or (N, 1).

``y_true`` may be labels of shape (N,) or (N, 1), or one-hot rows of shape (N, C).
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from mathflow.backend import to_numpy
from mathflow.component import Component, split_component
from mathflow.constraints import PositiveInt
from mathflow.errors import MathflowError, ShapeError
from mathflow.registry import Registry, RegistryName

#: Every metric by name; each function has ``config_model``, ``higher_is_better`` and ``task`` attributes.
METRICS: Registry[Callable[..., Any]] = Registry("metric")

#: A bare metric name (validated against :data:`METRICS`).
MetricName = Annotated[str, RegistryName(METRICS)]

#: How a per-class score becomes one number: the mean over classes (``macro``), the score of the
#: summed counts (``micro``), or the mean weighted by each class's number of true samples (``weighted``).
Average = Literal["macro", "micro", "weighted"]


class MetricConfig(Component):
    """Base of a metric's parameters; a pipeline's ``metrics`` entries validate against these."""

    family: ClassVar[str] = "metric"

    def label(self) -> str:
        """The name the metric is logged under (``train_<label>``, ``val_<label>``, ``test_<label>``)."""
        return self.component_name()

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments the metric function receives."""
        return self.model_dump(exclude={"type"})

    def check_fit(self, num_classes: int | None) -> tuple[str, str] | None:
        """``(parameter, problem)`` when the parameters cannot suit data of ``num_classes`` classes."""
        return None

    @classmethod
    def label_pattern(cls) -> str:
        """A regular expression matching every label this metric can be logged under."""
        return re.escape(cls.component_name())


def register_metric(
    config_model: type[MetricConfig], *, higher_is_better: bool | None, task: str
) -> Callable[[Callable], Callable]:
    """Register a metric function under the names of ``config_model`` (its ``type`` literal);
    ``higher_is_better`` is None for non-scalar results, ``task`` is the kind of targets it applies
    to ("classification" or "regression")."""

    def decorate(fn: Callable) -> Callable:
        fn.config_model = config_model  # type: ignore[attr-defined]
        fn.higher_is_better = higher_is_better  # type: ignore[attr-defined]
        fn.task = task  # type: ignore[attr-defined]
        return METRICS.register(fn)

    return decorate


def metric_named(name: str) -> Callable[..., Any]:
    """The metric function registered as ``name`` or logged as ``name`` (``f1_macro``, ``top_3_accuracy``)."""
    if name not in METRICS:
        for fn in METRICS.components():
            if re.fullmatch(fn.config_model.label_pattern(), name):  # type: ignore[attr-defined]
                return fn
    return METRICS.get(name)


def metric_task(name: str) -> str:
    """The task ("classification" or "regression") the metric ``name`` (or logged label) applies to."""
    return metric_named(name).task  # type: ignore[attr-defined]


def higher_is_better(name: str) -> bool:
    """Whether a larger value of the metric ``name`` (or logged label) is better (for early stopping
    and checkpoints)."""
    flag = metric_named(name).higher_is_better  # type: ignore[attr-defined]
    if flag is None:
        raise MathflowError(f"metric {name!r} is not a single number and cannot rank models")
    return bool(flag)


@dataclass(frozen=True)
class BoundMetric:
    """A metric with its parameters applied: ``fn(y_true, y_pred)`` logged as ``name``."""

    name: str
    fn: Callable[..., Any]
    higher_is_better: bool | None
    task: str
    config: MetricConfig


def metric_config(spec: Any) -> MetricConfig:
    """A metric entry (``"f1"``, ``{"f1": {"average": "micro"}}``, ``{"type": "f1", ...}`` or a
    config) as its validated config; a mistake raises :class:`MathflowError`."""
    if isinstance(spec, MetricConfig):
        return spec
    from pydantic import ValidationError
    from pydantic_core import PydanticCustomError

    try:
        data = split_component(spec, "metric")
    except PydanticCustomError as exc:
        raise MathflowError(str(exc)) from None
    model = METRICS.get(data["type"]).config_model  # type: ignore[attr-defined]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise MathflowError(f"metric {data['type']!r}: {where}: {error['msg']}") from None


def resolve_metric(spec: Any) -> BoundMetric:
    """The function, logged name and direction of a metric entry (see :func:`metric_config`)."""
    config = metric_config(spec)
    fn = METRICS.get(config.type)  # type: ignore[attr-defined]
    params = config.kwargs()
    bound = functools.partial(fn, **params) if params else fn
    return BoundMetric(config.label(), bound, fn.higher_is_better, fn.task, config)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- input handling
def _array(value: Any) -> np.ndarray:
    if hasattr(value, "numpy") and callable(value.numpy) and not isinstance(value, np.ndarray):
        return np.asarray(value.numpy())
    return to_numpy(value)


def _whole_labels(values: np.ndarray, owner: str, what: str) -> np.ndarray:
    if values.dtype.kind == "b":
        return values.astype(np.int64)
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise MathflowError(f"{owner}: {what} must hold class labels (whole numbers)")
        return values.astype(np.int64)
    raise MathflowError(f"{owner}: {what} has unsupported dtype {values.dtype}")


def _label_column(values: Any, owner: str, what: str, shapes: str) -> np.ndarray:
    """``values`` as (N,): row-wise arg-max of an (N, C) array with C > 1, the column of an (N, 1) array,
    or the (N,) array itself (an int64 vector in the arg-max case)."""
    y = _array(values)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1).astype(np.int64)
    if y.ndim == 2:
        y = y[:, 0]
    if y.ndim != 1:
        raise ShapeError(f"{owner}: {what} of shape {y.shape} is not {shapes}")
    return y


def true_labels(y_true: Any, owner: str = "metric") -> np.ndarray:
    """``y_true`` (labels (N,), (N, 1) or one-hot (N, C)) as an int64 label vector."""
    y = _label_column(y_true, owner, "y_true", "(N,), (N, 1) or (N, C)")
    return _whole_labels(y, owner, "y_true")


def predicted_labels(y_pred: Any, owner: str = "metric", threshold: float = 0.5) -> np.ndarray:
    """``y_pred`` (scores (N, C), probabilities (N,)/(N, 1), or labels) as an int64 label vector."""
    y = _label_column(y_pred, owner, "y_pred", "(N, C), (N,) or (N, 1)")
    if y.dtype.kind == "f" and y.size and np.all((y >= 0.0) & (y <= 1.0)):
        return (y > threshold).astype(np.int64)
    return _whole_labels(y, owner, "y_pred")


def _label_pair(y_true: Any, y_pred: Any, owner: str, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    t = true_labels(y_true, owner)
    p = predicted_labels(y_pred, owner, threshold)
    if t.shape[0] != p.shape[0]:
        raise ShapeError(f"{owner}: y_true has {t.shape[0]} samples, y_pred has {p.shape[0]}")
    if t.shape[0] == 0:
        raise MathflowError(f"{owner}: no samples")
    return t, p


# ---------------------------------------------------------------------- classification
class AccuracyConfig(MetricConfig):
    """Fraction of correct predictions; logged as ``accuracy``."""

    type: Literal["accuracy", "acc"] = "accuracy"


@register_metric(AccuracyConfig, higher_is_better=True, task="classification")
def accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> float:
    """Fraction of correct predictions: (1/N) Σᵢ [ŷᵢ = yᵢ]."""
    t, p = _label_pair(y_true, y_pred, "accuracy", threshold)
    return float(np.mean(t == p))


class TopKConfig(MetricConfig):
    """Fraction of samples whose true class is among the k highest scores; logged as ``top_<k>_accuracy``."""

    example = {"k": 2}
    type: Literal["top_k_accuracy", "top_k"] = "top_k_accuracy"
    k: PositiveInt = Field(5, description="how many of the highest-scoring classes count as a hit")

    def label(self) -> str:
        return f"top_{self.k}_accuracy"

    @classmethod
    def label_pattern(cls) -> str:
        return r"top_[1-9][0-9]*_accuracy"

    def check_fit(self, num_classes: int | None) -> tuple[str, str] | None:
        if num_classes is not None and self.k >= num_classes:
            return "k", (
                f"top_k_accuracy with k={self.k} counts every sample as a hit on {num_classes} classes "
                f"(k must be below the number of classes)"
            )
        return None


@register_metric(TopKConfig, higher_is_better=True, task="classification")
def top_k_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> float:
    """Fraction of samples whose true class is among the k highest scores of (N, C) ``y_pred``.

    A sample counts when fewer than k classes score strictly higher than its true class (ties
    count in its favour); with k ≥ C every sample counts.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MathflowError(f"top_k_accuracy: k must be an integer >= 1, got {k!r}")
    scores = _array(y_pred)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ShapeError(f"top_k_accuracy: y_pred must be class scores of shape (N, C), got {scores.shape}")
    t = true_labels(y_true, "top_k_accuracy")
    n, c = scores.shape
    if t.shape[0] != n:
        raise ShapeError(f"top_k_accuracy: y_true has {t.shape[0]} samples, y_pred has {n}")
    if n == 0:
        raise MathflowError("top_k_accuracy: no samples")
    if t.min() < 0 or t.max() >= c:
        raise MathflowError(f"top_k_accuracy: labels must lie in [0, {c}), got [{t.min()}, {t.max()}]")
    true_scores = scores[np.arange(n), t]
    better = np.sum(scores > true_scores[:, None], axis=1)
    return float(np.mean(better < k))


class ConfusionMatrixConfig(MetricConfig):
    """Counts of (true class, predicted class) pairs; a table, not a number (runs log it as a figure)."""

    type: Literal["confusion_matrix"] = "confusion_matrix"


@register_metric(ConfusionMatrixConfig, higher_is_better=None, task="classification")
def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None, threshold: float = 0.5) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j (rows: truth, columns: prediction).

    ``num_classes`` defaults to 1 + the largest label seen.
    """
    t, p = _label_pair(y_true, y_pred, "confusion_matrix", threshold)
    return _confusion(t, p, num_classes, "confusion_matrix")


def _confusion(t: np.ndarray, p: np.ndarray, num_classes: int | None, owner: str) -> np.ndarray:
    low = min(int(t.min()), int(p.min()))
    if low < 0:
        raise MathflowError(f"{owner}: class labels must be >= 0, got {low}")
    high = max(int(t.max()), int(p.max()))
    if num_classes is None:
        num_classes = high + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise MathflowError(f"{owner}: num_classes must be an integer >= 1, got {num_classes!r}")
    elif high >= num_classes:
        raise MathflowError(f"{owner}: label {high} is out of range for num_classes={num_classes}")
    c = int(num_classes)
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def _per_class(
    y_true: Any, y_pred: Any, num_classes: int | None, threshold: float, owner: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives of each class in play.

    The classes are 0..num_classes-1 when ``num_classes`` is given, else the labels that occur
    in y_true or y_pred.
    """
    t, p = _label_pair(y_true, y_pred, owner, threshold)
    matrix = _confusion(t, p, num_classes, owner)
    tp = np.diag(matrix).astype(np.float64)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    if num_classes is None:
        present = np.union1d(t, p)
        return tp[present], fp[present], fn[present]
    return tp, fp, fn


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _averaged(num: np.ndarray, den: np.ndarray, support: np.ndarray, average: str, owner: str) -> float:
    """One number from per-class ratios numᶜ/denᶜ (0 where denᶜ = 0).

    macro: (1/C) Σ_c numᶜ/denᶜ; micro: Σ_c numᶜ / Σ_c denᶜ; weighted: Σ_c wᶜ numᶜ/denᶜ with
    wᶜ = supportᶜ / Σ support (supportᶜ: the true samples of class c).
    """
    if average == "micro":
        return float(_safe_ratio(np.array([num.sum()]), np.array([den.sum()]))[0])
    scores = _safe_ratio(num, den)
    if average == "macro":
        return float(np.mean(scores))
    if average == "weighted":
        total = support.sum()
        return float(np.sum(scores * support) / total) if total > 0 else 0.0
    raise MathflowError(f"{owner}: average must be 'macro', 'micro' or 'weighted', got {average!r}")


class _AveragedConfig(MetricConfig):
    example = {"average": "micro"}
    average: Average = Field(
        "macro",
        description="macro: mean over classes; micro: from the counts summed over classes; "
        "weighted: mean weighted by each class's true samples",
    )

    def label(self) -> str:
        return f"{self.component_name()}_{self.average}"

    @classmethod
    def label_pattern(cls) -> str:
        return f"{re.escape(cls.component_name())}_({'|'.join(typing.get_args(Average))})"


class PrecisionConfig(_AveragedConfig):
    """Precision TP/(TP + FP), averaged over classes by ``average``; logged as ``precision_<average>``."""

    type: Literal["precision"] = "precision"


class RecallConfig(_AveragedConfig):
    """Recall TP/(TP + FN), averaged over classes by ``average``; logged as ``recall_<average>``."""

    type: Literal["recall"] = "recall"


class F1Config(_AveragedConfig):
    """F1 2TP/(2TP + FP + FN), averaged over classes by ``average``; logged as ``f1_<average>``."""

    type: Literal["f1"] = "f1"


@register_metric(PrecisionConfig, higher_is_better=True, task="classification")
def precision(
    y_true: Any, y_pred: Any, num_classes: int | None = None, threshold: float = 0.5, *, average: str = "macro"
) -> float:
    """Precision TPc/(TPc + FPc) of each class c (0 where c is never predicted), averaged by ``average``."""
    tp, fp, fn = _per_class(y_true, y_pred, num_classes, threshold, "precision")
    return _averaged(tp, tp + fp, tp + fn, average, "precision")


@register_metric(RecallConfig, higher_is_better=True, task="classification")
def recall(
    y_true: Any, y_pred: Any, num_classes: int | None = None, threshold: float = 0.5, *, average: str = "macro"
) -> float:
    """Recall TPc/(TPc + FNc) of each class c (0 where c never occurs), averaged by ``average``."""
    tp, _, fn = _per_class(y_true, y_pred, num_classes, threshold, "recall")
    return _averaged(tp, tp + fn, tp + fn, average, "recall")


@register_metric(F1Config, higher_is_better=True, task="classification")
def f1(
    y_true: Any, y_pred: Any, num_classes: int | None = None, threshold: float = 0.5, *, average: str = "macro"
) -> float:
    """F1 2TPc/(2TPc + FPc + FNc) (= 2PR/(P + R)) of each class c (0 where undefined), averaged by
    ``average`` (micro: 2ΣTP/(2ΣTP + ΣFP + ΣFN))."""
    tp, fp, fn = _per_class(y_true, y_pred, num_classes, threshold, "f1")
    return _averaged(2.0 * tp, 2.0 * tp + fp + fn, tp + fn, average, "f1")


# ---------------------------------------------------------------------- regression
def _regression_pair(y_true: Any, y_pred: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    t = _array(y_true).astype(np.float64)
    p = _array(y_pred).astype(np.float64)
    if t.shape != p.shape:
        # (N,) against (N, 1) is the same data; anything else is a mistake (it would broadcast to (N, N)).
        if t.size == p.size and t.ndim <= 2 and p.ndim <= 2 and t.squeeze().shape == p.squeeze().shape:
            p = p.reshape(t.shape)
        else:
            raise ShapeError(f"{owner}: y_true of shape {t.shape} and y_pred of shape {p.shape} differ")
    if t.size == 0:
        raise MathflowError(f"{owner}: no samples")
    return t, p


class MSEMetricConfig(MetricConfig):
    """Mean squared error; logged as ``mse``."""

    type: Literal["mse", "mean_squared_error"] = "mse"


@register_metric(MSEMetricConfig, higher_is_better=False, task="regression")
def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error: (1/n) Σᵢ (yᵢ − ŷᵢ)² over all entries."""
    t, p = _regression_pair(y_true, y_pred, "mse")
    return float(np.mean((t - p) ** 2))


class MAEMetricConfig(MetricConfig):
    """Mean absolute error; logged as ``mae``."""

    type: Literal["mae", "mean_absolute_error"] = "mae"


@register_metric(MAEMetricConfig, higher_is_better=False, task="regression")
def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error: (1/n) Σᵢ |yᵢ − ŷᵢ| over all entries."""
    t, p = _regression_pair(y_true, y_pred, "mae")
    return float(np.mean(np.abs(t - p)))


class R2Config(MetricConfig):
    """Coefficient of determination R²; logged as ``r2``."""

    type: Literal["r2"] = "r2"


@register_metric(R2Config, higher_is_better=True, task="regression")
def r2(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)².

    For (N, K) targets, the mean of the K per-column scores. A constant target gives 1 when
    predicted exactly, else 0.
    """
    t, p = _regression_pair(y_true, y_pred, "r2")
    if t.ndim == 1:
        t, p = t[:, None], p[:, None]
    elif t.ndim != 2:
        t, p = t.reshape(t.shape[0], -1), p.reshape(p.shape[0], -1)
    residual = np.sum((t - p) ** 2, axis=0)
    total = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    scores = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))


__all__ = [
    "METRICS",
    "Average",
    "BoundMetric",
    "MetricConfig",
    "metric_config",
    "metric_named",
    "resolve_metric",
    "accuracy",
    "confusion_matrix",
    "f1",
    "higher_is_better",
    "mae",
    "mse",
    "precision",
    "predicted_labels",
    "r2",
    "recall",
    "MetricName",
    "metric_task",
    "register_metric",
    "top_k_accuracy",
    "true_labels",
]
