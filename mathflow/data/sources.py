"""Named data sources: real data sets shipped with scikit-learn, seeded generators, and files.

Every source is a :class:`DataSource` registered in :data:`DATASETS` under the name a pipeline
uses. ``source.load(seed, base_dir=..., **params)`` returns a :class:`Dataset`; parameters not
given take the source's ``defaults``. :func:`load_dataset` accepts the three spec forms a YAML
file can hold: ``"moons"``, ``{"moons": {"n": 500}}`` and ``{"type": "moons", "n": 500}``.

Generated sources draw everything from ``numpy.random.default_rng(seed)``, so a seed fixes the
data; built-in sources are fixed tables and ignore the seed.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from mathflow.component import Component, Flag
from mathflow.constraints import NonNegativeFloat, PositiveInt, ShapeList, Task
from mathflow.data.dataset import Dataset, dataset_from_arrays
from mathflow.errors import MathflowError
from mathflow.registry import Registry

DATASETS: Registry[type[DataSource]] = Registry("dataset", discover=("mathflow.data",))

_REQUIRED = object()

#: (per-sample shape, task, number of classes or None, per-sample target shape).
DataShape = tuple[tuple[int, ...], str, "int | None", tuple[int, ...]]


def parse_spec(spec: Any, family: str, type_key: str = "type") -> tuple[str, dict[str, Any]]:
    """``(name, params)`` from ``"name"``, ``{"name": {params}}`` or ``{"type": "name", **params}``."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping):
        if type_key in spec:
            name = spec[type_key]
            params = {str(k): v for k, v in spec.items() if k != type_key}
        elif len(spec) == 1:
            ((name, params),) = spec.items()
            if params is None:
                params = {}
            if not isinstance(params, Mapping):
                raise MathflowError(
                    f"{family} {name!r}: its parameters must be a mapping, got {type(params).__name__} {params!r}"
                )
            params = {str(k): v for k, v in params.items()}
        else:
            raise MathflowError(
                f"{family} spec {dict(spec)!r} is ambiguous: use {{{type_key}: name, ...params}} "
                f"or {{name: {{...params}}}}"
            )
        if not isinstance(name, str):
            raise MathflowError(f"{family} name must be a string, got {name!r}")
        return name, params
    raise MathflowError(f"a {family} is given by a name or a mapping, not {type(spec).__name__} {spec!r}")


def check_params(owner: str, given: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``given``; an unknown or missing parameter raises."""
    values = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=1, cutoff=0.6)
            known = ", ".join(defaults) or "none"
            hint = f"did you mean {close[0]!r}?" if close else f"parameters: {known}"
            raise MathflowError(f"{owner} has no parameter {key!r}", suggestion=hint)
        values[key] = value
    missing = [k for k, v in values.items() if v is _REQUIRED]
    if missing:
        raise MathflowError(f"{owner} needs the parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return values


def positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum``, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise MathflowError(f"{owner}: {name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def nonnegative_float(owner: str, name: str, value: Any) -> float:
    """``value`` as a float ≥ 0, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value >= 0:
        raise MathflowError(f"{owner}: {name} must be a number ≥ 0, got {value!r}")
    return float(value)


class SourceConfig(Component):
    """Base of data sources; ``path_fields`` name the parameters that are file paths."""

    kind: ClassVar[str] = "generated"
    path_fields: ClassVar[tuple[str, ...]] = ()


class _BuiltinConfig(SourceConfig):
    kind: ClassVar[str] = "builtin"


class _FromConfig:
    """A class attribute derived from the source's ``config_model``: its parameter defaults
    (:data:`REQUIRED` where there is none) or its ``kind``."""

    def __init__(self, what: str):
        self.what = what

    def __get__(self, obj: Any, owner: type[DataSource]) -> Any:
        config = owner.config_model
        if self.what == "kind":
            return config.kind
        return {key: _field_default(info) for key, info in config.params().items()}


def _field_default(info: Any) -> Any:
    if info.default_factory is not None:
        return info.default_factory()
    return _REQUIRED if info.is_required() else info.default


class DataSource:
    """A named way to obtain a :class:`Dataset`.

    Subclasses set ``config_model`` (its ``type`` names the source; its fields are the
    parameters with their defaults, ``kind`` and ``path_fields`` its metadata), a
    ``description`` and implement :meth:`build`.
    """

    registry_name: ClassVar[str] = "?"
    config_model: ClassVar[type[SourceConfig]]
    kind: ClassVar[str] = _FromConfig("kind")  # type: ignore[assignment]
    description: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = _FromConfig("defaults")  # type: ignore[assignment]

    def load(self, seed: int | None = 0, *, base_dir: str | os.PathLike[str] | None = None, **params: Any) -> Dataset:
        """The data set for ``seed`` and ``params`` (relative file paths resolve against ``base_dir``)."""
        values = check_params(f"dataset {self.registry_name!r}", params, self.defaults)
        rng = np.random.default_rng(seed)
        return self.build(rng, base_dir, **values)

    def build(self, rng: np.random.Generator, base_dir: Any, **params: Any) -> Dataset:
        raise NotImplementedError

    def shape_rule(self, **params: Any) -> DataShape | None:
        """What the data looks like for ``params`` without generating or loading it: (per-sample
        shape, task, class count or None, per-sample target shape). None when only loading can tell
        (files). Raises MathflowError for parameters that cannot give data."""
        return None

    def required_params(self) -> list[str]:
        return [k for k, v in self.defaults.items() if v is _REQUIRED]

    def default_params(self) -> dict[str, Any]:
        """The defaults that have a value (required parameters left out)."""
        return {k: v for k, v in self.defaults.items() if v is not _REQUIRED}


REQUIRED = _REQUIRED


def get_source(name: str) -> DataSource:
    """The registered source ``name`` (unknown names raise with a suggestion)."""
    return DATASETS.create(name)


def load_dataset(
    spec: Any, seed: int | None = 0, *, base_dir: str | os.PathLike[str] | None = None, **overrides: Any
) -> Dataset:
    """Load the data set a spec names: ``"digits"``, ``{"moons": {"n": 500}}`` or ``{"type": "moons", "n": 500}``."""
    name, params = parse_spec(spec, "dataset")
    params.update(overrides)
    return get_source(name).load(seed, base_dir=base_dir, **params)


def describe_sources() -> list[dict[str, Any]]:
    """One row per registered source: name, kind, description, parameters with defaults."""
    return [
        {
            "name": name,
            "kind": cls.kind,
            "description": cls.description,
            "params": {k: (None if v is _REQUIRED else v) for k, v in cls.defaults.items()},
            "required": [k for k, v in cls.defaults.items() if v is _REQUIRED],
        }
        for name, cls in DATASETS.items()
    ]


# --------------------------------------------------------------------------- built-in (scikit-learn)


def _read_sklearn(loader: str) -> dict[str, Any]:
    """The table of ``sklearn.datasets.<loader>()``: data, target, feature and target names (as text)."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)()
    table: dict[str, Any] = {"data": np.asarray(bunch.data), "target": np.asarray(bunch.target)}
    for key in ("feature_names", "target_names"):
        names = getattr(bunch, key, None)
        if names is not None:
            table[key] = [str(n) for n in names]
    return table


def _sklearn_table(loader: str) -> dict[str, Any]:
    """:func:`_read_sklearn`, kept in the per-user cache (:mod:`mathflow.cache`) per scikit-learn
    version as an ``.npz`` of the same arrays: importing scikit-learn takes longer than most runs
    on these tables."""
    from importlib.metadata import PackageNotFoundError, version

    from mathflow.cache import cached_file

    try:
        name = f"datasets/sklearn-{version('scikit-learn')}-{loader}.npz"
    except PackageNotFoundError:
        return _read_sklearn(loader)
    read: dict[str, Any] = {}

    def write(path: Path) -> None:
        read.update(_read_sklearn(loader))
        with open(path, "wb") as handle:
            np.savez(handle, **{k: np.asarray(v) for k, v in read.items()})

    path = cached_file(name, write)
    if read or path is None:
        return read or _read_sklearn(loader)
    try:
        with np.load(path, allow_pickle=False) as archive:
            table = {key: archive[key] for key in archive.files}
    except (OSError, ValueError):  # a damaged entry: read the data set itself
        return _read_sklearn(loader)
    for key in ("feature_names", "target_names"):
        if key in table:
            table[key] = [str(n) for n in table[key]]
    return table


class _SklearnSource(DataSource):
    loader: ClassVar[str] = ""
    task: ClassVar[str] = "classification"
    #: The per-sample shape and class count of the fixed table.
    sample_shape: ClassVar[tuple[int, ...]] = ()
    num_classes: ClassVar[int | None] = None

    def shape_rule(self, **params: Any) -> DataShape:
        target = () if self.task == "classification" else (1,)
        return self.sample_shape, self.task, self.num_classes, target

    def build(self, rng: np.random.Generator, base_dir: Any, **params: Any) -> Dataset:
        table = _sklearn_table(self.loader)
        features = table.get("feature_names")
        if self.task == "regression":
            return dataset_from_arrays(
                table["data"],
                table["target"],
                task="regression",
                name=self.registry_name,
                description=self.description,
                feature_names=features,
            )
        labels = np.asarray(table["target"], dtype=np.int64)
        targets = table.get("target_names")
        count = int(labels.max()) + 1
        class_names = list(targets) if targets is not None else [str(c) for c in range(count)]
        return Dataset(
            np.asarray(table["data"], dtype=np.float32),
            labels,
            "classification",
            count,
            features,
            class_names,
            self.registry_name,
            self.description,
        )


class DigitsConfig(_BuiltinConfig):
    """8×8 handwritten digits: 1797 samples, 64 features, 10 classes."""

    type: Literal["digits"] = "digits"


@DATASETS.register
class Digits(_SklearnSource):
    config_model = DigitsConfig
    description = "8×8 images of handwritten digits: 1797 samples, 64 pixel features (0–16), 10 classes"
    loader = "load_digits"
    sample_shape = (64,)
    num_classes = 10


class IrisConfig(_BuiltinConfig):
    """Iris flowers: 150 samples, 4 features, 3 classes."""

    type: Literal["iris"] = "iris"


@DATASETS.register
class Iris(_SklearnSource):
    config_model = IrisConfig
    description = "Fisher's iris flowers: 150 samples, 4 features, 3 classes"
    loader = "load_iris"
    sample_shape = (4,)
    num_classes = 3


class WineConfig(_BuiltinConfig):
    """Wine recognition: 178 samples, 13 features, 3 classes."""

    type: Literal["wine"] = "wine"


@DATASETS.register
class Wine(_SklearnSource):
    config_model = WineConfig
    description = "Wine recognition: 178 samples, 13 chemical features, 3 cultivars"
    loader = "load_wine"
    sample_shape = (13,)
    num_classes = 3


class BreastCancerConfig(_BuiltinConfig):
    """Breast cancer: 569 samples, 30 features, 2 classes."""

    type: Literal["breast_cancer"] = "breast_cancer"


@DATASETS.register
class BreastCancer(_SklearnSource):
    config_model = BreastCancerConfig
    description = "Wisconsin breast cancer: 569 samples, 30 features, 2 classes (malignant, benign)"
    loader = "load_breast_cancer"
    sample_shape = (30,)
    num_classes = 2


class DiabetesConfig(_BuiltinConfig):
    """Diabetes progression: 442 samples, 10 features, regression."""

    type: Literal["diabetes"] = "diabetes"


@DATASETS.register
class Diabetes(_SklearnSource):
    config_model = DiabetesConfig
    description = "Diabetes progression: 442 samples, 10 features, regression target of shape (1,)"
    loader = "load_diabetes"
    sample_shape = (10,)
    num_classes = None
    task = "regression"


# --------------------------------------------------------------------------- generated


def _classification(
    owner: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, num_classes: int, description: str
) -> Dataset:
    order = rng.permutation(len(x))
    return Dataset(
        x[order].astype(np.float32),
        y[order].astype(np.int64),
        "classification",
        num_classes,
        [f"x{i}" for i in range(int(np.prod(x.shape[1:])))],
        [str(c) for c in range(num_classes)],
        owner,
        description,
    )


def _per_class(n: int, classes: int) -> list[int]:
    base, extra = divmod(n, classes)
    return [base + (1 if c < extra else 0) for c in range(classes)]


def _noisy_pair(
    first: np.ndarray, second: np.ndarray, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of 2-D points: x = [first; second] + noise·ε with ε ~ N(0, I), y = 0 for ``first``, 1 after."""
    x = np.concatenate([first, second]) + noise * rng.standard_normal((len(first) + len(second), 2))
    y = np.repeat([0, 1], [len(first), len(second)])
    return x, y


class MoonsConfig(SourceConfig):
    """Two interleaving half circles (2 classes)."""

    type: Literal["moons"] = "moons"
    n: int = Field(200, ge=2)
    noise: NonNegativeFloat = 0.1


@DATASETS.register
class Moons(DataSource):
    config_model = MoonsConfig
    description = "two interleaving half circles in 2-D (2 classes)"

    def shape_rule(self, **params: Any) -> DataShape:
        return (2,), "classification", 2, ()

    def build(self, rng: np.random.Generator, base_dir: Any, *, n: Any, noise: Any) -> Dataset:
        n = positive_int("moons", "n", n, 2)
        noise = nonnegative_float("moons", "noise", noise)
        n_outer, n_inner = _per_class(n, 2)
        t_out = np.linspace(0.0, np.pi, n_outer)
        t_in = np.linspace(0.0, np.pi, n_inner)
        outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
        inner = np.stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)
        x, y = _noisy_pair(outer, inner, noise, rng)
        return _classification("moons", x, y, rng, 2, f"{self.description}; n={n}, noise={noise}")


class CirclesConfig(SourceConfig):
    """A small circle inside a large one (2 classes)."""

    type: Literal["circles"] = "circles"
    n: int = Field(200, ge=2)
    noise: NonNegativeFloat = 0.05
    factor: float = Field(0.5, gt=0, lt=1)


@DATASETS.register
class Circles(DataSource):
    config_model = CirclesConfig
    description = "a small circle inside a large one in 2-D (2 classes: outer 0, inner 1)"

    def shape_rule(self, **params: Any) -> DataShape:
        return (2,), "classification", 2, ()

    def build(self, rng: np.random.Generator, base_dir: Any, *, n: Any, noise: Any, factor: Any) -> Dataset:
        n = positive_int("circles", "n", n, 2)
        noise = nonnegative_float("circles", "noise", noise)
        factor = nonnegative_float("circles", "factor", factor)
        if not 0.0 < factor < 1.0:
            raise MathflowError(f"circles: factor (inner radius / outer radius) must lie in (0, 1), got {factor}")
        n_outer, n_inner = _per_class(n, 2)
        t_out = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
        t_in = np.linspace(0.0, 2 * np.pi, n_inner, endpoint=False)
        outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
        inner = factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1)
        x, y = _noisy_pair(outer, inner, noise, rng)
        return _classification("circles", x, y, rng, 2, f"{self.description}; n={n}, noise={noise}, factor={factor}")


class BlobsConfig(SourceConfig):
    """Gaussian clusters, one class per center."""

    type: Literal["blobs"] = "blobs"
    n: PositiveInt = 300
    centers: PositiveInt = 3
    features: PositiveInt = 2
    std: NonNegativeFloat = 1.0


@DATASETS.register
class Blobs(DataSource):
    config_model = BlobsConfig
    description = "isotropic Gaussian clusters, one class per center (centers drawn in [-10, 10]^features)"

    def shape_rule(self, **params: Any) -> DataShape:
        return (params["features"],), "classification", params["centers"], ()

    def build(
        self, rng: np.random.Generator, base_dir: Any, *, n: Any, centers: Any, features: Any, std: Any
    ) -> Dataset:
        centers = positive_int("blobs", "centers", centers)
        n = positive_int("blobs", "n", n, centers)
        features = positive_int("blobs", "features", features)
        std = nonnegative_float("blobs", "std", std)
        means = rng.uniform(-10.0, 10.0, size=(centers, features))
        y = np.repeat(np.arange(centers), _per_class(n, centers))
        x = means[y] + std * rng.standard_normal((n, features))
        return _classification("blobs", x, y, rng, centers, f"{self.description}; n={n}, centers={centers}, std={std}")


class SpiralsConfig(SourceConfig):
    """Interleaved spiral arms, one class per arm."""

    type: Literal["spirals"] = "spirals"
    n: PositiveInt = 300
    classes: int = Field(2, ge=2)
    noise: NonNegativeFloat = 0.2


@DATASETS.register
class Spirals(DataSource):
    config_model = SpiralsConfig
    description = "interleaved spiral arms in 2-D, one class per arm"

    def shape_rule(self, **params: Any) -> DataShape:
        return (2,), "classification", params["classes"], ()

    def build(self, rng: np.random.Generator, base_dir: Any, *, n: Any, classes: Any, noise: Any) -> Dataset:
        classes = positive_int("spirals", "classes", classes, 2)
        n = positive_int("spirals", "n", n, classes)
        noise = nonnegative_float("spirals", "noise", noise)
        xs, ys = [], []
        for c, count in enumerate(_per_class(n, classes)):
            r = np.linspace(0.0, 1.0, count)
            # arm c starts at angle 2πc/C and turns by 4 radians from the centre to the rim
            theta = 2 * np.pi * c / classes + 4.0 * r + noise * rng.standard_normal(count)
            xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
            ys.append(np.full(count, c))
        return _classification(
            "spirals", np.concatenate(xs), np.concatenate(ys), rng, classes, f"{self.description}; n={n}"
        )


class XorConfig(SourceConfig):
    """Points labelled by the sign of x0·x1 (2 classes)."""

    type: Literal["xor"] = "xor"
    n: int = Field(200, ge=2)
    noise: NonNegativeFloat = 0.1


@DATASETS.register
class Xor(DataSource):
    config_model = XorConfig
    description = "points in [-1, 1]^2 labelled by the sign of x0·x1 (class 1 when the signs differ)"

    def shape_rule(self, **params: Any) -> DataShape:
        return (2,), "classification", 2, ()

    def build(self, rng: np.random.Generator, base_dir: Any, *, n: Any, noise: Any) -> Dataset:
        n = positive_int("xor", "n", n, 2)
        noise = nonnegative_float("xor", "noise", noise)
        clean = rng.uniform(-1.0, 1.0, size=(n, 2))
        y = ((clean[:, 0] > 0) != (clean[:, 1] > 0)).astype(np.int64)
        x = clean + noise * rng.standard_normal((n, 2))
        return _classification("xor", x, y, rng, 2, f"{self.description}; n={n}, noise={noise}")


class RegressionConfig(SourceConfig):
    """y = x·w + b + noise (regression)."""

    type: Literal["regression"] = "regression"
    n: PositiveInt = 200
    features: PositiveInt = 4
    noise: NonNegativeFloat = 0.1


@DATASETS.register
class LinearRegression(DataSource):
    config_model = RegressionConfig
    description = "y = x·w + b + noise·ε with x, w, ε standard normal (regression target of shape (1,))"

    def shape_rule(self, **params: Any) -> DataShape:
        return (params["features"],), "regression", None, (1,)

    def build(self, rng: np.random.Generator, base_dir: Any, *, n: Any, features: Any, noise: Any) -> Dataset:
        n = positive_int("regression", "n", n)
        features = positive_int("regression", "features", features)
        noise = nonnegative_float("regression", "noise", noise)
        w = rng.standard_normal(features)
        b = float(rng.standard_normal())
        x = rng.standard_normal((n, features))
        y = x @ w + b + noise * rng.standard_normal(n)
        return Dataset(
            x.astype(np.float32),
            y.astype(np.float32)[:, None],
            "regression",
            feature_names=[f"x{i}" for i in range(features)],
            name="regression",
            description=f"{self.description}; n={n}, features={features}, noise={noise}",
            metadata={"weights": w.tolist(), "bias": b},
        )


class SyntheticConfig(SourceConfig):
    """Standard-normal inputs of a declared shape with random labels."""

    type: Literal["synthetic"] = "synthetic"
    n: PositiveInt = 256
    sample_shape: ShapeList = Field(default_factory=lambda: [3, 32, 32])
    num_classes: PositiveInt = 10


@DATASETS.register
class Synthetic(DataSource):
    config_model = SyntheticConfig
    description = "standard-normal inputs of a declared per-sample shape with uniform random labels (for benchmarks)"

    def shape_rule(self, **params: Any) -> DataShape:
        if -1 in params["sample_shape"]:
            raise MathflowError("synthetic: sample_shape cannot contain -1")
        return tuple(params["sample_shape"]), "classification", params["num_classes"], ()

    def build(self, rng: np.random.Generator, base_dir: Any, *, n: Any, sample_shape: Any, num_classes: Any) -> Dataset:
        n = positive_int("synthetic", "n", n)
        num_classes = positive_int("synthetic", "num_classes", num_classes)
        if isinstance(sample_shape, (int, np.integer)) and not isinstance(sample_shape, bool):
            sample_shape = [sample_shape]
        if not isinstance(sample_shape, (list, tuple)) or not sample_shape:
            raise MathflowError(f"synthetic: sample_shape must be a list of positive integers, got {sample_shape!r}")
        shape = tuple(positive_int("synthetic", "sample_shape entry", d) for d in sample_shape)
        x = rng.standard_normal((n, *shape), dtype=np.float32)
        y = rng.integers(0, num_classes, size=n, dtype=np.int64)
        return Dataset(
            x,
            y,
            "classification",
            num_classes,
            None,
            [str(c) for c in range(num_classes)],
            "synthetic",
            f"{self.description}; n={n}, sample_shape={list(shape)}",
        )


# --------------------------------------------------------------------------- files


class CsvConfig(SourceConfig):
    """A CSV file with a header row (path relative to the pipeline file)."""

    kind: ClassVar[str] = "file"
    path_fields: ClassVar[tuple[str, ...]] = ("path",)
    type: Literal["csv"] = "csv"
    path: str
    target: str | None = None
    task: Task | None = None
    categorical: Literal["onehot", "ordinal"] = "onehot"
    delimiter: str = ","
    features: list[str] | None = None
    class_names: list[str] | None = None
    categories: dict[str, list[Any]] | None = None
    allow_nonfinite: Flag | None = Field(
        None, description="let NaN and infinities in the file through (default: refused at load, naming row and column)"
    )


@DATASETS.register
class CsvSource(DataSource):
    config_model = CsvConfig
    description = "a CSV file with a header row; categorical columns one-hot (or ordinal) encoded"

    def build(self, rng: np.random.Generator, base_dir: Any, *, path: Any, **params: Any) -> Dataset:
        from mathflow.data.files import read_csv

        return read_csv(path, base_dir=base_dir, **params)


class NpzConfig(SourceConfig):
    """Two arrays of a NumPy .npz archive."""

    kind: ClassVar[str] = "file"
    path_fields: ClassVar[tuple[str, ...]] = ("path",)
    type: Literal["npz"] = "npz"
    path: str
    x_key: str = "x"
    y_key: str = "y"
    task: Task | None = None
    class_names: list[str] | None = None
    allow_nonfinite: Flag | None = Field(
        None, description="let NaN and infinities in the file through (default: refused at load, naming row and column)"
    )


@DATASETS.register
class NpzSource(DataSource):
    config_model = NpzConfig
    description = "two arrays of a NumPy .npz archive (keys x_key and y_key)"

    def build(self, rng: np.random.Generator, base_dir: Any, *, path: Any, **params: Any) -> Dataset:
        from mathflow.data.files import read_npz

        return read_npz(path, base_dir=base_dir, **params)


class NpyConfig(SourceConfig):
    """A pair of NumPy .npy files."""

    kind: ClassVar[str] = "file"
    path_fields: ClassVar[tuple[str, ...]] = ("x", "y")
    type: Literal["npy"] = "npy"
    x: str
    y: str
    task: Task | None = None
    class_names: list[str] | None = None
    allow_nonfinite: Flag | None = Field(
        None, description="let NaN and infinities in the file through (default: refused at load, naming row and column)"
    )


@DATASETS.register
class NpySource(DataSource):
    config_model = NpyConfig
    description = "a pair of NumPy .npy files: inputs x and targets y"

    def build(self, rng: np.random.Generator, base_dir: Any, *, x: Any, y: Any, **params: Any) -> Dataset:
        from mathflow.data.files import read_npy_pair

        return read_npy_pair(x, y, base_dir=base_dir, **params)


class IdxConfig(SourceConfig):
    """MNIST-format IDX files (images and labels)."""

    kind: ClassVar[str] = "file"
    path_fields: ClassVar[tuple[str, ...]] = ("images", "labels")
    type: Literal["idx"] = "idx"
    images: str
    labels: str
    class_names: list[str] | None = None


@DATASETS.register
class IdxSource(DataSource):
    config_model = IdxConfig
    description = "MNIST-format IDX files (gzipped or not): an images file and a labels file"

    def build(self, rng: np.random.Generator, base_dir: Any, *, images: Any, labels: Any, **params: Any) -> Dataset:
        from mathflow.data.files import read_idx_pair

        return read_idx_pair(images, labels, base_dir=base_dir, **params)
