"""Evaluation metrics on NumPy arrays (Tensors and CuPy arrays are copied to NumPy first).

A metric is one class registered in :data:`METRICS`: its constructor is its config (the
parameters a pipeline's ``metrics`` entry may write, see :mod:`mathflow.component`), calling an
instance as ``metric(y_true, y_pred)`` computes it, and its class attributes say which way is
better (``higher_is_better``: True for accuracy, False for errors, None for the confusion
matrix, which is not one number) and which targets it applies to (``task``). Its ``label()``
names what is logged::

    metrics: [accuracy, {top_k: {k: 3}}, {f1: {average: weighted}}]
    # logged as accuracy, top_3_accuracy, f1_weighted (with train_/val_/test_ in front)

Each metric's maths is also a plain function (``accuracy``, ``f1``, ...) taking ``(y_true,
y_pred)`` and the Python-only ``num_classes`` and ``threshold``; every one returns a Python float
(the confusion matrix returns an integer array).

Classification metrics accept, for ``y_pred``:

- class scores or probabilities of shape (N, C), C ≥ 2: the predicted class is the argmax;
- probabilities of shape (N,) or (N, 1) with values in [0, 1]: class 1 when p > ``threshold``
  (0.5), else class 0;
- integer (or whole-valued float) class labels of shape (N,) or (N, 1).

``y_true`` may be labels of shape (N,) or (N, 1), or one-hot rows of shape (N, C).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import numpy as np

from mathflow.backend import to_numpy
from mathflow.component import Component, split_component
from mathflow.constraints import PositiveInt
from mathflow.errors import MathflowError, ShapeError
from mathflow.registry import Registry, RegistryName


class MetricConfig(Component):
    """Base of a metric's parameters; a pipeline's ``metrics`` entries validate against these."""

    family: ClassVar[str] = "metric"

    def metric(self) -> Metric:
        """The metric these parameters make."""
        return self.component(**self.kwargs())

    def label(self) -> str:
        """The name the metric is logged under (``train_<label>``, ``val_<label>``, ``test_<label>``)."""
        return self.metric().label()

    def check_fit(self, num_classes: int | None) -> tuple[str, str] | None:
        """``(parameter, problem)`` when the parameters cannot suit data of ``num_classes`` classes."""
        return self.metric().check_fit(num_classes)

    @classmethod
    def label_pattern(cls) -> str:
        """A regular expression matching every label this metric can be logged under."""
        return cls.component.label_pattern()


#: Every metric class by name; each has ``config_model``, ``higher_is_better`` and ``task``.
METRICS: Registry[type[Metric]] = Registry("metric", config_base=MetricConfig)

#: A bare metric name (validated against :data:`METRICS`).
MetricName = Annotated[str, RegistryName(METRICS)]

#: How a per-class score becomes one number: the mean over classes (``macro``), the score of the
#: summed counts (``micro``), or the mean weighted by each class's number of true samples (``weighted``).
Average = Literal["macro", "micro", "weighted"]


class Metric:
    """Base class of the metrics: ``metric(y_true, y_pred)`` with the constructor's parameters.

    A subclass's constructor is its config; ``higher_is_better`` is None for a result that is not
    one number, ``task`` the kind of targets the metric applies to ("classification" or
    "regression").
    """

    registry_name: ClassVar[str] = "metric"
    config_model: ClassVar[type[MetricConfig]]
    higher_is_better: ClassVar[bool | None] = True
    task: ClassVar[str] = "classification"

    def __init__(self) -> None:
        pass

    def __call__(self, y_true: Any, y_pred: Any) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.config_model.model_fields if n != "type")
        return f"{type(self).__name__}({params})"

    def label(self) -> str:
        """The name the metric is logged under (``train_<label>``, ``val_<label>``, ``test_<label>``)."""
        return self.registry_name

    def check_fit(self, num_classes: int | None) -> tuple[str, str] | None:
        """``(parameter, problem)`` when the parameters cannot suit data of ``num_classes`` classes."""
        return None

    @classmethod
    def label_pattern(cls) -> str:
        """A regular expression matching every label this metric can be logged under."""
        return re.escape(cls.registry_name)


def _function_of(metric: type[Metric]) -> Callable[[Callable], Callable]:
    """Mark a function as the plain form of ``metric``: it takes the class's ``higher_is_better``
    and ``task``, so a trainer given the function itself treats it as the registered metric."""

    def decorate(fn: Callable) -> Callable:
        fn.higher_is_better = metric.higher_is_better  # type: ignore[attr-defined]
        fn.task = metric.task  # type: ignore[attr-defined]
        return fn

    return decorate


def metric_named(name: str) -> type[Metric]:
    """The metric class registered as ``name`` or logged as ``name`` (``f1_macro``, ``top_3_accuracy``)."""
    if name not in METRICS:
        for metric in METRICS.components():
            if re.fullmatch(metric.label_pattern(), name):
                return metric
    return METRICS.get(name)


def metric_task(name: str) -> str:
    """The task ("classification" or "regression") the metric ``name`` (or logged label) applies to."""
    return metric_named(name).task


def higher_is_better(name: str) -> bool:
    """Whether a larger value of the metric ``name`` (or logged label) is better (for early stopping
    and checkpoints)."""
    flag = metric_named(name).higher_is_better
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
    model = METRICS.get(data["type"]).config_model
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise MathflowError(f"metric {data['type']!r}: {where}: {error['msg']}") from None


def resolve_metric(spec: Any) -> BoundMetric:
    """The metric, logged name and direction of a metric entry (see :func:`metric_config`)."""
    config = metric_config(spec)
    metric = config.metric()
    return BoundMetric(metric.label(), metric, metric.higher_is_better, metric.task, config)


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
@METRICS.register("accuracy", "acc")
class Accuracy(Metric):
    """Fraction of correct predictions; logged as ``accuracy``."""

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return accuracy(y_true, y_pred)


@_function_of(Accuracy)
def accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> float:
    """Fraction of correct predictions: (1/N) Σᵢ [ŷᵢ = yᵢ]."""
    t, p = _label_pair(y_true, y_pred, "accuracy", threshold)
    return float(np.mean(t == p))


@METRICS.register("top_k_accuracy", "top_k")
class TopK(Metric):
    """Fraction of samples whose true class is among the k highest scores; logged as ``top_<k>_accuracy``."""

    example = {"k": 2}

    def __init__(self, k: Annotated[PositiveInt, "how many of the highest-scoring classes count as a hit"] = 5):
        self.k = k

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return top_k_accuracy(y_true, y_pred, k=self.k)

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


@_function_of(TopK)
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


@METRICS.register("confusion_matrix")
class ConfusionMatrix(Metric):
    """Counts of (true class, predicted class) pairs; a table, not a number (runs log it as a figure)."""

    higher_is_better = None

    def __call__(self, y_true: Any, y_pred: Any) -> np.ndarray:
        return confusion_matrix(y_true, y_pred)


@_function_of(ConfusionMatrix)
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


class _Averaged(Metric):
    """A per-class score averaged over the classes by ``average``; logged as ``<name>_<average>``."""

    example = {"average": "micro"}

    def __init__(
        self,
        average: Annotated[
            Average,
            "macro: mean over classes; micro: from the counts summed over classes; "
            "weighted: mean weighted by each class's true samples",
        ] = "macro",
    ):
        self.average = average

    def label(self) -> str:
        return f"{self.registry_name}_{self.average}"

    @classmethod
    def label_pattern(cls) -> str:
        return f"{re.escape(cls.registry_name)}_({'|'.join(typing.get_args(Average))})"


@METRICS.register("precision")
class Precision(_Averaged):
    """Precision TP/(TP + FP), averaged over classes by ``average``; logged as ``precision_<average>``."""

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return precision(y_true, y_pred, average=self.average)


@METRICS.register("recall")
class Recall(_Averaged):
    """Recall TP/(TP + FN), averaged over classes by ``average``; logged as ``recall_<average>``."""

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return recall(y_true, y_pred, average=self.average)


@METRICS.register("f1")
class F1(_Averaged):
    """F1 2TP/(2TP + FP + FN), averaged over classes by ``average``; logged as ``f1_<average>``."""

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return f1(y_true, y_pred, average=self.average)


@_function_of(Precision)
def precision(
    y_true: Any, y_pred: Any, num_classes: int | None = None, threshold: float = 0.5, *, average: str = "macro"
) -> float:
    """Precision TPc/(TPc + FPc) of each class c (0 where c is never predicted), averaged by ``average``."""
    tp, fp, fn = _per_class(y_true, y_pred, num_classes, threshold, "precision")
    return _averaged(tp, tp + fp, tp + fn, average, "precision")


@_function_of(Recall)
def recall(
    y_true: Any, y_pred: Any, num_classes: int | None = None, threshold: float = 0.5, *, average: str = "macro"
) -> float:
    """Recall TPc/(TPc + FNc) of each class c (0 where c never occurs), averaged by ``average``."""
    tp, _, fn = _per_class(y_true, y_pred, num_classes, threshold, "recall")
    return _averaged(tp, tp + fn, tp + fn, average, "recall")


@_function_of(F1)
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


@METRICS.register("mse", "mean_squared_error")
class MSEMetric(Metric):
    """Mean squared error; logged as ``mse``."""

    higher_is_better = False
    task = "regression"

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return mse(y_true, y_pred)


@_function_of(MSEMetric)
def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error: (1/n) Σᵢ (yᵢ − ŷᵢ)² over all entries."""
    t, p = _regression_pair(y_true, y_pred, "mse")
    return float(np.mean((t - p) ** 2))


@METRICS.register("mae", "mean_absolute_error")
class MAEMetric(Metric):
    """Mean absolute error; logged as ``mae``."""

    higher_is_better = False
    task = "regression"

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return mae(y_true, y_pred)


@_function_of(MAEMetric)
def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error: (1/n) Σᵢ |yᵢ − ŷᵢ| over all entries."""
    t, p = _regression_pair(y_true, y_pred, "mae")
    return float(np.mean(np.abs(t - p)))


@METRICS.register("r2")
class R2(Metric):
    """Coefficient of determination R²; logged as ``r2``."""

    task = "regression"

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return r2(y_true, y_pred)


@_function_of(R2)
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
    "Accuracy",
    "Average",
    "BoundMetric",
    "ConfusionMatrix",
    "F1",
    "MAEMetric",
    "MSEMetric",
    "Metric",
    "MetricConfig",
    "MetricName",
    "Precision",
    "R2",
    "Recall",
    "TopK",
    "accuracy",
    "confusion_matrix",
    "f1",
    "higher_is_better",
    "mae",
    "metric_config",
    "metric_named",
    "metric_task",
    "mse",
    "precision",
    "predicted_labels",
    "r2",
    "recall",
    "resolve_metric",
    "top_k_accuracy",
    "true_labels",
]
