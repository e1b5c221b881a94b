"""Data transforms: fitted on the training split only, then applied to every split.

A :class:`Transform` learns its statistics in :meth:`Transform.fit` (from training arrays) and
applies them in :meth:`Transform.apply`. ``state()`` returns ``{"type", "params", "arrays"}`` and
``Transform.from_state`` rebuilds the fitted transform, so a run can store the exact
preprocessing next to its model. Feature transforms act on ``x``; target transforms (``one_hot``)
act on ``y``. A :class:`Pipeline` chains them.

YAML forms accepted by :func:`make_transform`: ``"minmax"``, ``{"reshape": {"shape": [1, 8, 8]}}``
and ``{"type": "reshape", "shape": [1, 8, 8]}``.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from mathflow.component import Component, Flag
from mathflow.constraints import PositiveInt, ShapeList
from mathflow.data.dataset import Dataset
from mathflow.data.sources import REQUIRED, check_params, parse_spec
from mathflow.errors import MathflowError, ShapeError
from mathflow.registry import Registry

#: Every transform by the name a pipeline uses (``minmax``, ``pca``, ...); its config is its constructor.
TRANSFORMS: Registry[type[Transform]] = Registry("transform", discover=("mathflow.data",), config_base=Component)


def _out_dtype(x: np.ndarray) -> np.dtype:
    """Floating inputs keep their dtype; anything else becomes float32."""
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)


def _components(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, float) and 0.0 < value <= 1.0:
        return value
    raise PydanticCustomError(
        "n_components",
        "must be a count (integer ≥ 1) or a fraction of variance in (0, 1], got {got}",
        {"got": repr(value)},
    )


#: PCA size: a number of axes, or the fraction of the variance to keep.
Components = Annotated[
    Any,
    PlainValidator(_components),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "number", "exclusiveMinimum": 0, "maximum": 1}]}
    ),
]


class Transform:
    """Base class. Subclasses define ``fit_arrays``/``apply``, and list their fitted arrays in ``array_names``."""

    registry_name: ClassVar[str] = "?"
    config_model: ClassVar[type[Component]]
    target: ClassVar[bool] = False  # True: acts on y instead of x
    array_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.fitted = False
        self.input_shape: tuple[int, ...] | None = None

    # -- parameters and state ------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The constructor arguments, as JSON-able values."""
        return {}

    def state(self) -> dict[str, Any]:
        """``{"type": name, "params": {...}, "arrays": {...}, "input_shape": [...]}`` of the fitted transform."""
        self._require_fit()
        return {
            "type": self.registry_name,
            "params": self.params(),
            "input_shape": list(self.input_shape or ()),
            "arrays": {k: np.asarray(getattr(self, k)) for k in self.array_names},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Transform:
        """The fitted transform ``state`` describes (``Transform.from_state`` dispatches on ``type``)."""
        kind = TRANSFORMS.get(str(state["type"])) if cls is Transform else cls
        t = kind(**dict(state.get("params", {})))
        arrays = state.get("arrays", {})
        for k in kind.array_names:
            if k not in arrays:
                raise MathflowError(f"transform {kind.registry_name!r}: its saved state lacks the array {k!r}")
            setattr(t, k, np.asarray(arrays[k]))
        t.input_shape = tuple(int(d) for d in state.get("input_shape", ()))
        t._restore()
        t.fitted = True
        return t

    def _restore(self) -> None:
        """Rebuild derived attributes after ``from_state`` (default: nothing)."""

    # -- fitting and applying --------------------------------------------------------------
    def fit(self, values: np.ndarray, dataset: Dataset | None = None) -> Transform:
        """Learn the statistics from training ``values`` (``x``, or ``y`` for target transforms)."""
        values = np.asarray(values)
        if values.ndim < 1 or len(values) == 0:
            raise MathflowError(f"transform {self.registry_name!r}: cannot fit on an empty array")
        self.input_shape = tuple(int(d) for d in values.shape[1:])
        self.output_shape(self.input_shape)  # validates the shape before fitting
        self.fit_arrays(values, dataset)
        self.fitted = True
        return self

    def fit_arrays(self, values: np.ndarray, dataset: Dataset | None) -> None:
        """Compute the fitted arrays (default: nothing to learn)."""

    def __call__(self, values: np.ndarray) -> np.ndarray:
        self._require_fit()
        values = np.asarray(values)
        return self.apply(values)

    def apply(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """The per-sample shape this transform produces from ``input_shape`` (default: unchanged)."""
        return tuple(input_shape)

    def export(self, builder: Any, x: str) -> str:
        """Append the fitted transform to ``builder`` (a :class:`mathflow.export.ProgramBuilder`) as
        primitive ops reading ``x``; returns the output's name. Target transforms are not exported."""
        raise NotImplementedError(f"transform {self.registry_name!r} has no export")

    def export_array(self, builder: Any, name: str) -> str:
        """The fitted array ``name`` as a constant of the exported program."""
        return builder.constant(name, np.asarray(getattr(self, name)))

    def feature_names(self, names: list[str] | None) -> list[str] | None:
        """Names of the output features (default: kept when the count is unchanged)."""
        return names

    def _require_fit(self) -> None:
        if not self.fitted:
            raise MathflowError(f"transform {self.registry_name!r} is used before it was fitted on the training data")

    def _check_features(self, values: np.ndarray) -> None:
        if self.input_shape is not None and tuple(values.shape[1:]) != self.input_shape:
            raise ShapeError(
                f"transform {self.registry_name!r} was fitted on samples of shape {self.input_shape}, "
                f"got samples of shape {tuple(values.shape[1:])}"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


@TRANSFORMS.register("standardize", "standard")
class Standardize(Transform):
    """x' = (x − μ) / σ per feature, with μ, σ (population std) from the training split.

    A feature with zero variance (σ ≤ 1e-12·max(1, |μ|)) is only centred: its σ is stored as 1.
    """

    array_names = ("mean", "scale")

    def fit_arrays(self, values: np.ndarray, dataset: Dataset | None) -> None:
        x = values.astype(np.float64)
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.scale = np.where(std <= 1e-12 * np.maximum(1.0, np.abs(self.mean)), 1.0, std)

    def apply(self, values: np.ndarray) -> np.ndarray:
        self._check_features(values)
        dt = _out_dtype(values)
        return ((values - self.mean.astype(dt)) / self.scale.astype(dt)).astype(dt, copy=False)

    def export(self, builder: Any, x: str) -> str:
        centred = builder.op("Sub", x, self.export_array(builder, "mean"))
        return builder.op("Div", centred, self.export_array(builder, "scale"))


@TRANSFORMS.register("minmax")
class MinMax(Transform):
    """x' = (x − min) / (max − min) per feature, mapping the training range onto [0, 1].

    Constant features map to 0 (range stored as 1). Values outside the training range land
    outside [0, 1]; ``clip: true`` clips them.
    """

    array_names = ("minimum", "range")

    def __init__(self, clip: Annotated[Flag, "clip the output to [0, 1]"] = False):
        super().__init__()
        self.clip = bool(clip)

    def params(self) -> dict[str, Any]:
        return {"clip": self.clip}

    def fit_arrays(self, values: np.ndarray, dataset: Dataset | None) -> None:
        x = values.astype(np.float64)
        self.minimum = x.min(axis=0)
        span = x.max(axis=0) - self.minimum
        self.range = np.where(span > 0, span, 1.0)

    def apply(self, values: np.ndarray) -> np.ndarray:
        self._check_features(values)
        dt = _out_dtype(values)
        out = ((values - self.minimum.astype(dt)) / self.range.astype(dt)).astype(dt, copy=False)
        return np.clip(out, 0, 1) if self.clip else out

    def export(self, builder: Any, x: str) -> str:
        shifted = builder.op("Sub", x, self.export_array(builder, "minimum"))
        out = builder.op("Div", shifted, self.export_array(builder, "range"))
        return builder.op("Clip", out, min=0.0, max=1.0) if self.clip else out


@TRANSFORMS.register("one_hot", "onehot")
class OneHot(Transform):
    """Target transform: label k ↦ e_k ∈ {0, 1}^C (float32 rows).

    C is ``num_classes`` when given, else the data set's class count, else ``max(label) + 1``
    of the training labels.
    """

    target = True
    array_names = ("classes",)

    def __init__(
        self,
        num_classes: Annotated[
            PositiveInt | None, "row length C (default: the data set's class count, else max(label) + 1)"
        ] = None,
    ):
        super().__init__()
        self.num_classes = num_classes

    def params(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes}

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        if tuple(input_shape) not in ((), (1,)):
            raise ShapeError(
                f"transform 'one_hot' needs one label per sample, got targets of shape {tuple(input_shape)}"
            )
        return (self.num_classes or int(getattr(self, "classes", 0)),)

    def fit_arrays(self, values: np.ndarray, dataset: Dataset | None) -> None:
        if dataset is not None and dataset.task != "classification":
            raise MathflowError(f"transform 'one_hot' needs a classification target; {dataset.name!r} is regression")
        if not np.issubdtype(values.dtype, np.integer):
            raise MathflowError(f"transform 'one_hot' needs integer class labels, got dtype {values.dtype}")
        count = self.num_classes
        if count is None and dataset is not None and dataset.num_classes:
            count = dataset.num_classes
        if count is None:
            count = int(values.max()) + 1
        self.classes = np.array(count, dtype=np.int64)

    def apply(self, values: np.ndarray) -> np.ndarray:
        labels = values.reshape(len(values)) if values.ndim == 2 and values.shape[1] == 1 else values
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise MathflowError(
                f"transform 'one_hot' needs integer labels of shape (n,), got {labels.dtype} {tuple(values.shape)}"
            )
        c = int(self.classes)
        if labels.size and (labels.min() < 0 or labels.max() >= c):
            raise MathflowError(f"transform 'one_hot': labels must lie in 0..{c - 1}, found {int(labels.max())}")
        out = np.zeros((len(labels), c), dtype=np.float32)
        out[np.arange(len(labels)), labels] = 1.0
        return out


@TRANSFORMS.register("pca")
class PCA(Transform):
    """Projection on the top principal axes of the centred training matrix.

    With X_c = X − μ = UΣVᵀ (thin SVD, σ₁ ≥ σ₂ ≥ ...), the principal axes are the rows of Vᵀ;
    the variance of the data along axis i is σᵢ²/(n−1) and explained_variance_ratio_ᵢ = σᵢ²/Σσ².
    Each axis is sign-normalised so that its entry of largest magnitude is positive.
    x' = (x − μ)·V_kᵀ keeps k = ``n_components`` axes, or (float f in (0, 1]) the fewest axes
    whose ratios add up to at least f. Samples with more than one axis are flattened first.
    """

    array_names = ("mean", "components", "explained_variance_ratio", "singular_values")

    def __init__(
        self,
        n_components: Annotated[
            Components, "axes to keep: a count (integer ≥ 1), or the fraction of the variance in (0, 1]"
        ] = 0.95,
    ):
        super().__init__()
        self.n_components = n_components

    def params(self) -> dict[str, Any]:
        return {"n_components": self.n_components}

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        if hasattr(self, "components"):
            return (int(self.components.shape[0]),)
        if isinstance(self.n_components, int):
            features = int(np.prod(input_shape, dtype=np.int64))
            if self.n_components > features:
                raise ShapeError(
                    f"transform 'pca': n_components={self.n_components} exceeds the {features} features "
                    f"of samples of shape {tuple(input_shape)}"
                )
            return (self.n_components,)
        return (-1,)  # known after fitting

    def fit_arrays(self, values: np.ndarray, dataset: Dataset | None) -> None:
        x = values.reshape(len(values), -1).astype(np.float64)
        n, d = x.shape
        self.mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        rows = np.arange(vt.shape[0])
        signs = np.sign(vt[rows, np.abs(vt).argmax(axis=1)])
        vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
        power = s**2
        total = power.sum()
        ratio = power / total if total > 0 else np.zeros_like(power)
        if isinstance(self.n_components, int):
            if self.n_components > min(n, d):
                raise MathflowError(
                    f"transform 'pca': n_components={self.n_components} exceeds min(samples, features) = "
                    f"min({n}, {d}) of the training split"
                )
            k = self.n_components
        else:
            cumulative = np.cumsum(ratio)
            k = int(np.searchsorted(cumulative, self.n_components - 1e-12) + 1)
            k = min(max(k, 1), len(ratio))
        self.components = vt[:k]
        self.explained_variance_ratio = ratio[:k]
        self.singular_values = s[:k]

    @property
    def explained_variance_ratio_(self) -> np.ndarray:
        return self.explained_variance_ratio

    def apply(self, values: np.ndarray) -> np.ndarray:
        flat = values.reshape(len(values), -1)
        if flat.shape[1] != self.components.shape[1]:
            raise ShapeError(
                f"transform 'pca' was fitted on {self.components.shape[1]} features, got samples of shape "
                f"{tuple(values.shape[1:])}"
            )
        dt = _out_dtype(values)
        return ((flat - self.mean.astype(dt)) @ self.components.T.astype(dt)).astype(dt, copy=False)

    def export(self, builder: Any, x: str) -> str:
        flat = builder.op("Flatten", x, axis=1)
        centred = builder.op("Sub", flat, self.export_array(builder, "mean"))
        return builder.op("MatMul", centred, builder.constant("components_t", np.asarray(self.components).T.copy()))

    def feature_names(self, names: list[str] | None) -> list[str] | None:
        return [f"pc{i + 1}" for i in range(self.components.shape[0])]


@TRANSFORMS.register("reshape")
class ReshapeTransform(Transform):
    """Reshape every sample, e.g. 64 → [1, 8, 8] (one entry may be -1: inferred)."""

    example = {"shape": [2, -1]}

    def __init__(self, shape: Annotated[ShapeList, "the shape of every sample, without the batch axis"]):
        super().__init__()
        self.shape = tuple(int(d) for d in shape)

    def params(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        size = int(np.prod(tuple(input_shape), dtype=np.int64))
        known = int(np.prod([d for d in self.shape if d != -1], dtype=np.int64))
        if -1 in self.shape:
            if known == 0 or size % known:
                raise ShapeError(
                    f"transform 'reshape': samples of shape {tuple(input_shape)} ({size} values) cannot be "
                    f"reshaped to {self.shape}"
                )
            return tuple(size // known if d == -1 else d for d in self.shape)
        if known != size:
            raise ShapeError(
                f"transform 'reshape': samples of shape {tuple(input_shape)} ({size} values) cannot be reshaped "
                f"to {self.shape} ({known} values)"
            )
        return self.shape

    def apply(self, values: np.ndarray) -> np.ndarray:
        return values.reshape((len(values), *self.output_shape(values.shape[1:])))

    def export(self, builder: Any, x: str) -> str:
        return builder.op("Reshape", x, shape=[0, *self.output_shape(self.input_shape)])


@TRANSFORMS.register("flatten")
class FlattenTransform(Transform):
    """Flatten every sample to one axis: (n, d₁, ..., d_k) → (n, d₁·...·d_k)."""

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        return (int(np.prod(tuple(input_shape), dtype=np.int64)),)

    def apply(self, values: np.ndarray) -> np.ndarray:
        return values.reshape(len(values), -1)

    def export(self, builder: Any, x: str) -> str:
        return builder.op("Flatten", x, axis=1)


# The classes' own names differ from the layers ``Reshape`` and ``Flatten``, so that their derived
# models (``ReshapeTransformConfig``, ``FlattenTransformConfig``) keep distinct JSON-schema names.
Reshape = ReshapeTransform
Flatten = FlattenTransform


def make_transform(spec: Any) -> Transform:
    """A transform from a spec: ``"minmax"``, ``{"reshape": {"shape": [1, 8, 8]}}``, ``{"type": "reshape", ...}``."""
    if isinstance(spec, Transform):
        return spec
    name, params = parse_spec(spec, "transform")
    cls = TRANSFORMS.get(name)
    _check_arguments(f"transform {name!r}", params, cls.__init__)
    return cls(**params)


class Pipeline:
    """Transforms in order: ``fit(train)`` once, then ``transform(split)`` for every split."""

    def __init__(self, transforms: Sequence[Any] = ()):
        self.transforms: list[Transform] = [make_transform(t) for t in transforms]
        self.input_shape: tuple[int, ...] | None = None
        self.fitted = False

    @classmethod
    def from_spec(cls, specs: Sequence[Any] | None) -> Pipeline:
        """A pipeline from the ``transforms:`` list of a YAML file (``None`` gives an empty one)."""
        if specs is None:
            return cls([])
        if isinstance(specs, (str, Mapping)):
            specs = [specs]
        return cls(list(specs))

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self) -> Iterator[Transform]:
        return iter(self.transforms)

    def __repr__(self) -> str:
        return f"Pipeline([{', '.join(repr(t) for t in self.transforms)}])"

    def fit(self, train: Dataset) -> Pipeline:
        """Fit every transform, in order, on the training split (each sees the previous ones' output)."""
        self.input_shape = train.sample_shape
        x, y = train.x, train.y
        for t in self.transforms:
            if t.target:
                t.fit(y, train)
                y = t(y)
            else:
                t.fit(x, train)
                x = t(x)
        self.fitted = True
        return self

    def transform(self, dataset: Dataset) -> Dataset:
        """``dataset`` with every fitted transform applied (its metadata carried along)."""
        self._require_fit()
        x, y = dataset.x, dataset.y
        names = dataset.feature_names
        for t in self.transforms:
            if t.target:
                y = t(y)
            else:
                x = t(x)
                names = t.feature_names(names)
        return dataset.replace(x=x, y=y, feature_names=names)

    def fit_transform(self, train: Dataset) -> Dataset:
        return self.fit(train).transform(train)

    def transform_x(self, x: np.ndarray) -> np.ndarray:
        """Inputs alone through the feature transforms (for prediction on new samples)."""
        self._require_fit()
        out = np.asarray(x)
        for t in self.transforms:
            if not t.target:
                out = t(out)
        return out

    def transform_y(self, y: np.ndarray) -> np.ndarray:
        """Targets alone through the target transforms."""
        self._require_fit()
        out = np.asarray(y)
        for t in self.transforms:
            if t.target:
                out = t(out)
        return out

    def output_shape(self, input_shape: Sequence[int] | None = None) -> tuple[int, ...]:
        """The per-sample input shape after the feature transforms (default: from the fitted shape)."""
        shape = tuple(input_shape) if input_shape is not None else self.input_shape
        if shape is None:
            raise MathflowError("Pipeline.output_shape: give an input shape or fit the pipeline first")
        for t in self.transforms:
            if not t.target:
                shape = t.output_shape(shape)
        return tuple(int(d) for d in shape)

    def _require_fit(self) -> None:
        if not self.fitted:
            raise MathflowError("the transform pipeline is used before it was fitted on the training split")

    # -- persistence ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """``{"input_shape": [...], "transforms": [transform.state(), ...]}``."""
        self._require_fit()
        return {"input_shape": list(self.input_shape or ()), "transforms": [t.state() for t in self.transforms]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Pipeline:
        p = cls([Transform.from_state(s) for s in state["transforms"]])
        p.input_shape = tuple(int(d) for d in state.get("input_shape", ()))
        p.fitted = True
        return p

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted pipeline to one ``.npz`` file (arrays plus a JSON description; no pickle)."""
        state = self.state()
        arrays: dict[str, np.ndarray] = {}
        meta = {"input_shape": state["input_shape"], "transforms": []}
        for i, s in enumerate(state["transforms"]):
            meta["transforms"].append(
                {"type": s["type"], "params": s["params"], "input_shape": s["input_shape"], "arrays": list(s["arrays"])}
            )
            for k, v in s["arrays"].items():
                arrays[f"{i}/{k}"] = v
        out = Path(path)
        with open(out, "wb") as handle:
            np.savez(handle, __meta__=np.array(json.dumps(meta)), **arrays)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Pipeline:
        """The pipeline :meth:`save` wrote."""
        file = Path(path)
        if not file.is_file():
            raise MathflowError(f"transform pipeline file not found: {file}")
        with np.load(file, allow_pickle=False) as archive:
            meta = json.loads(str(archive["__meta__"]))
            states = [
                {**t, "arrays": {k: archive[f"{i}/{k}"] for k in t["arrays"]}} for i, t in enumerate(meta["transforms"])
            ]
        return cls.from_state({"input_shape": meta["input_shape"], "transforms": states})


def _check_arguments(owner: str, params: Mapping[str, Any], init: Any) -> None:
    """Unknown or missing constructor arguments reported with a suggestion (before calling ``init``)."""
    defaults = {
        name: (REQUIRED if p.default is inspect.Parameter.empty else p.default)
        for name, p in list(inspect.signature(init).parameters.items())[1:]
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    check_params(owner, params, defaults)
