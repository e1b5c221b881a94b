"""The :class:`Dataset` record every source returns, and the array conventions it keeps.

Conventions:

- ``x`` holds one sample per leading index; float features are float32.
- classification: ``y`` is int64 class indices ``0..num_classes-1`` of shape ``(n,)`` (after a
  ``one_hot`` transform it becomes float32 ``(n, num_classes)``).
- regression: ``y`` is float32 of shape ``(n, targets)``, so it lines up with the ``(n, outputs)``
  result of a dense output layer without broadcasting surprises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mathflow.errors import MathflowError

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")


@dataclass
class Dataset:
    """Inputs ``x``, targets ``y`` and what they mean."""

    x: np.ndarray
    y: np.ndarray
    task: Task = "classification"
    num_classes: int | None = None
    feature_names: list[str] | None = None
    class_names: list[str] | None = None
    name: str = "data"
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise MathflowError(f"data set {self.name!r}: task must be one of {', '.join(TASKS)}, not {self.task!r}")
        self.x = np.asarray(self.x)
        self.y = np.asarray(self.y)
        if self.x.ndim == 0 or self.y.ndim == 0:
            raise MathflowError(f"data set {self.name!r}: x and y need a leading sample axis")
        if len(self.x) != len(self.y):
            raise MathflowError(
                f"data set {self.name!r}: x has {len(self.x)} samples but y has {len(self.y)} "
                f"(x shape {tuple(self.x.shape)}, y shape {tuple(self.y.shape)})"
            )
        if self.task == "classification":
            labels_1d = self.y.ndim == 1 and np.issubdtype(self.y.dtype, np.integer)
            if self.num_classes is None:
                if labels_1d:
                    self.num_classes = int(self.y.max()) + 1 if self.y.size else 0
                elif self.y.ndim == 2:
                    self.num_classes = int(self.y.shape[1])
            if labels_1d and self.y.size and (self.y.min() < 0 or self.y.max() >= (self.num_classes or 0)):
                raise MathflowError(
                    f"data set {self.name!r}: class labels must lie in 0..{(self.num_classes or 0) - 1}, "
                    f"found {int(self.y.min())}..{int(self.y.max())}"
                )
            if self.class_names is not None and self.num_classes is not None:
                if len(self.class_names) != self.num_classes:
                    raise MathflowError(
                        f"data set {self.name!r}: {len(self.class_names)} class names for {self.num_classes} classes"
                    )
        else:
            self.num_classes = None
            self.class_names = None
        if self.feature_names is not None:
            self.feature_names = [str(n) for n in self.feature_names]
            if len(self.feature_names) != int(np.prod(self.sample_shape)):
                self.feature_names = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one input sample, ``x.shape[1:]``."""
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def target_shape(self) -> tuple[int, ...]:
        """The shape of one target, ``y.shape[1:]``."""
        return tuple(int(d) for d in self.y.shape[1:])

    def __len__(self) -> int:
        return int(len(self.x))

    def replace(self, **changes: Any) -> Dataset:
        """A copy with some fields changed (arrays are not copied)."""
        return dataclasses.replace(self, **changes)

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> Dataset:
        """The samples at ``indices`` (a new Dataset with the same metadata)."""
        idx = np.asarray(indices, dtype=np.int64)
        return self.replace(x=self.x[idx], y=self.y[idx], name=name or self.name, metadata=dict(self.metadata))

    def class_counts(self) -> np.ndarray:
        """Samples per class (classification with integer labels or one-hot targets)."""
        if self.task != "classification":
            raise MathflowError(f"data set {self.name!r} is a regression data set: it has no classes")
        labels = self.y.argmax(axis=1) if self.y.ndim == 2 else self.y
        return np.bincount(labels.astype(np.int64), minlength=self.num_classes or 0)

    def summary(self) -> dict[str, Any]:
        """Plain values describing the data set (for logs and run parameters)."""
        out: dict[str, Any] = {
            "name": self.name,
            "samples": len(self),
            "sample_shape": list(self.sample_shape),
            "task": self.task,
            "x_dtype": self.x.dtype.name,
            "y_dtype": self.y.dtype.name,
        }
        if self.task == "classification":
            out["num_classes"] = self.num_classes
            out["class_counts"] = self.class_counts().tolist()
        else:
            out["target_shape"] = list(self.target_shape)
        return out

    def __repr__(self) -> str:
        extra = f", num_classes={self.num_classes}" if self.task == "classification" else ""
        return (
            f"Dataset(name={self.name!r}, n={len(self)}, sample_shape={self.sample_shape}, task={self.task!r}{extra})"
        )


def _is_integral(values: np.ndarray) -> bool:
    if np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_:
        return True
    if not np.issubdtype(values.dtype, np.floating):
        return False
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def float_features(x: Any) -> np.ndarray:
    """``x`` as float32 features (integers and float64 are converted)."""
    arr = np.asarray(x)
    if arr.dtype == np.float32:
        return arr
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise MathflowError(f"features must be numeric, got an array of dtype {arr.dtype}")
    return arr.astype(np.float32)


def encode_labels(values: Any, class_names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Map labels to int64 indices ``0..C-1``.

    Integer labels that already are ``0..C-1`` keep their values; other labels (strings, or
    integers such as ``{1, 2, 3}``) are sorted and numbered. ``class_names`` fixes the mapping
    (labels are matched through ``str``); a label outside it raises.
    """
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise MathflowError(f"class labels must be one value per sample, got shape {tuple(arr.shape)}")
    if class_names is not None:
        names = [str(c) for c in class_names]
        index = {n: i for i, n in enumerate(names)}
        keys = [_label_key(v) for v in arr.tolist()]
        unknown = sorted({k for k in keys if k not in index})
        if unknown:
            raise MathflowError(f"labels {unknown[:5]} are not among the class names {names}")
        return np.array([index[k] for k in keys], dtype=np.int64), names
    if np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
        if not _is_integral(arr):
            raise MathflowError("classification labels must be integers or strings, found non-integer numbers")
        ints = arr.astype(np.int64)
        uniq = np.unique(ints)
        if uniq.size and uniq[0] == 0 and uniq[-1] == uniq.size - 1:
            return ints, [str(int(u)) for u in uniq]
        return np.searchsorted(uniq, ints).astype(np.int64), [str(int(u)) for u in uniq]
    strs = np.asarray([str(v) for v in arr.tolist()])
    uniq = np.unique(strs)
    return np.searchsorted(uniq, strs).astype(np.int64), [str(u) for u in uniq]


def _label_key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def infer_task(y: np.ndarray) -> Task:
    """Classification when the targets are integers or strings, regression otherwise."""
    if y.ndim == 2 and y.shape[1] != 1:
        return "regression"
    if not np.issubdtype(y.dtype, np.number) and y.dtype != np.bool_:
        return "classification"
    return "classification" if _is_integral(y) else "regression"


def dataset_from_arrays(
    x: Any,
    y: Any,
    *,
    task: str | None = None,
    name: str = "data",
    description: str = "",
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> Dataset:
    """A :class:`Dataset` from raw arrays, converting them to the conventions above.

    ``task=None`` infers it: integer (or integral, or string) targets give classification,
    anything else regression.
    """
    if task is not None and task not in TASKS:
        raise MathflowError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    y_arr = np.asarray(y)
    chosen: str = task or infer_task(y_arr)
    x_arr = float_features(x)
    if chosen == "classification":
        labels, names = encode_labels(y_arr, class_names)
        return Dataset(x_arr, labels, "classification", len(names), _names(feature_names), names, name, description)
    if not (np.issubdtype(y_arr.dtype, np.number) or y_arr.dtype == np.bool_):
        raise MathflowError(f"data set {name!r}: regression targets must be numeric, got dtype {y_arr.dtype}")
    y_f = y_arr.astype(np.float32)
    if y_f.ndim == 1:
        y_f = y_f[:, None]
    return Dataset(x_arr, y_f, "regression", None, _names(feature_names), None, name, description)


def _names(names: Sequence[str] | None) -> list[str] | None:
    return None if names is None else [str(n) for n in names]
