"""Named data sources: real data sets shipped with scikit-learn, seeded generators, and files.

Every source is a :class:`DataSource` registered in :data:`DATASETS` under the name a pipeline
uses; its constructor takes its parameters (its config: ``Moons(n=500, noise=0.2)``, or
``DATASETS.create("moons", n=500)``), and ``source.load(seed, base_dir=...)`` returns a
:class:`Dataset`. :func:`load_dataset` accepts the three spec forms a YAML file can hold:
``"moons"``, ``{"moons": {"n": 500}}`` and ``{"type": "moons", "n": 500}``.

Generated sources draw everything from ``numpy.random.default_rng(seed)``, so a seed fixes the
data; built-in sources are fixed tables and ignore the seed.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from mathflow.component import Component, Flag
from mathflow.constraints import NonNegativeFloat, PositiveInt, ShapeList, Task
from mathflow.data.dataset import Dataset, dataset_from_arrays
from mathflow.errors import MathflowError
from mathflow.registry import Registry

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


class SourceConfig(Component):
    """Base of the config models derived from the data sources' constructors: ``kind`` and
    ``path_fields`` are those of the source class."""

    #: "builtin", "generated" or "file".
    kind: ClassVar[str] = "generated"
    #: The parameters that are file paths (relative to the pipeline file).
    path_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def adopt(cls, component: Any) -> None:
        super().adopt(component)
        cls.kind = component.kind
        cls.path_fields = tuple(component.path_fields)


#: Every data source by the name a pipeline uses (``moons``, ``csv``, ...); its config is its constructor.
DATASETS: Registry[type[DataSource]] = Registry("dataset", discover=("mathflow.data",), config_base=SourceConfig)


class _Defaults:
    """``DataSource.defaults``: parameter name → default, :data:`REQUIRED` where there is none,
    read from the source's ``config_model``."""

    def __get__(self, obj: Any, owner: type[DataSource]) -> dict[str, Any]:
        return {key: _field_default(info) for key, info in owner.config_model.params().items()}


def _field_default(info: Any) -> Any:
    if info.default_factory is not None:
        return info.default_factory()
    return _REQUIRED if info.is_required() else info.default


class DataSource:
    """A named way to obtain a :class:`Dataset`.

    A subclass registers in :data:`DATASETS` under its name; its constructor's annotated parameters
    are the source's parameters (its config). It sets ``kind`` ("builtin", "generated" or "file"),
    ``path_fields`` (the parameters that are file paths) and a ``description``, and implements
    :meth:`build` (and :meth:`shape_rule` where the data's shape is known without loading it).
    """

    registry_name: ClassVar[str] = "?"
    config_model: ClassVar[type[SourceConfig]]
    kind: ClassVar[str] = "generated"
    path_fields: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    #: Parameter name → default (:data:`REQUIRED` where there is none), from ``config_model``.
    defaults: ClassVar[dict[str, Any]] = _Defaults()  # type: ignore[assignment]

    def load(self, seed: int | None = 0, *, base_dir: str | os.PathLike[str] | None = None) -> Dataset:
        """The data set for ``seed`` (relative file paths resolve against ``base_dir``)."""
        return self.build(np.random.default_rng(seed), base_dir)

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        raise NotImplementedError

    def shape_rule(self) -> DataShape | None:
        """What the data looks like without generating or loading it: (per-sample shape, task,
        class count or None, per-sample target shape). None when only loading can tell (files)."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k, None)!r}" for k in type(self).config_model.model_fields if k != "type")
        return f"{type(self).__name__}({args})"


REQUIRED = _REQUIRED


def get_source(name: str, **params: Any) -> DataSource:
    """The registered source ``name`` with ``params`` (the others take their defaults). An unknown
    name or parameter raises with a suggestion, a missing required one names it, and a value
    that breaks its declaration raises naming the source and the parameter."""
    cls = DATASETS.get(name)
    check_params(f"dataset {cls.registry_name!r}", params, cls.defaults)
    return cls(**params)


def load_dataset(
    spec: Any, seed: int | None = 0, *, base_dir: str | os.PathLike[str] | None = None, **overrides: Any
) -> Dataset:
    """Load the data set a spec names: ``"digits"``, ``{"moons": {"n": 500}}`` or ``{"type": "moons", "n": 500}``."""
    name, params = parse_spec(spec, "dataset")
    params.update(overrides)
    return get_source(name, **params).load(seed, base_dir=base_dir)


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
    kind = "builtin"
    loader: ClassVar[str] = ""
    task: ClassVar[str] = "classification"
    #: The per-sample shape and class count of the fixed table.
    sample_shape: ClassVar[tuple[int, ...]] = ()
    num_classes: ClassVar[int | None] = None

    def shape_rule(self) -> DataShape:
        target = () if self.task == "classification" else (1,)
        return self.sample_shape, self.task, self.num_classes, target

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
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


@DATASETS.register("digits")
class Digits(_SklearnSource):
    """8×8 handwritten digits: 1797 samples, 64 features, 10 classes."""

    description = "8×8 images of handwritten digits: 1797 samples, 64 pixel features (0–16), 10 classes"
    loader = "load_digits"
    sample_shape = (64,)
    num_classes = 10


@DATASETS.register("iris")
class Iris(_SklearnSource):
    """Iris flowers: 150 samples, 4 features, 3 classes."""

    description = "Fisher's iris flowers: 150 samples, 4 features, 3 classes"
    loader = "load_iris"
    sample_shape = (4,)
    num_classes = 3


@DATASETS.register("wine")
class Wine(_SklearnSource):
    """Wine recognition: 178 samples, 13 features, 3 classes."""

    description = "Wine recognition: 178 samples, 13 chemical features, 3 cultivars"
    loader = "load_wine"
    sample_shape = (13,)
    num_classes = 3


@DATASETS.register("breast_cancer")
class BreastCancer(_SklearnSource):
    """Breast cancer: 569 samples, 30 features, 2 classes."""

    description = "Wisconsin breast cancer: 569 samples, 30 features, 2 classes (malignant, benign)"
    loader = "load_breast_cancer"
    sample_shape = (30,)
    num_classes = 2


@DATASETS.register("diabetes")
class Diabetes(_SklearnSource):
    """Diabetes progression: 442 samples, 10 features, regression."""

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


#: At least two samples (one per class of the two-class generators).
TwoOrMore = Annotated[int, Field(ge=2)]
Samples = Annotated[PositiveInt, "number of samples"]
_COORDINATE_NOISE = "standard deviation of the Gaussian noise added to each coordinate"


@DATASETS.register("moons")
class Moons(DataSource):
    """Two interleaving half circles (2 classes)."""

    description = "two interleaving half circles in 2-D (2 classes)"

    def __init__(
        self,
        n: Annotated[TwoOrMore, "number of samples"] = 200,
        noise: Annotated[NonNegativeFloat, _COORDINATE_NOISE] = 0.1,
    ):
        self.n = int(n)
        self.noise = float(noise)

    def shape_rule(self) -> DataShape:
        return (2,), "classification", 2, ()

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        n, noise = self.n, self.noise
        n_outer, n_inner = _per_class(n, 2)
        t_out = np.linspace(0.0, np.pi, n_outer)
        t_in = np.linspace(0.0, np.pi, n_inner)
        outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
        inner = np.stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)
        x, y = _noisy_pair(outer, inner, noise, rng)
        return _classification("moons", x, y, rng, 2, f"{self.description}; n={n}, noise={noise}")


@DATASETS.register("circles")
class Circles(DataSource):
    """A small circle inside a large one (2 classes)."""

    description = "a small circle inside a large one in 2-D (2 classes: outer 0, inner 1)"

    def __init__(
        self,
        n: Annotated[TwoOrMore, "number of samples"] = 200,
        noise: Annotated[NonNegativeFloat, _COORDINATE_NOISE] = 0.05,
        factor: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False), "inner radius / outer radius"] = 0.5,
    ):
        self.n = int(n)
        self.noise = float(noise)
        self.factor = float(factor)

    def shape_rule(self) -> DataShape:
        return (2,), "classification", 2, ()

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        n, noise, factor = self.n, self.noise, self.factor
        n_outer, n_inner = _per_class(n, 2)
        t_out = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
        t_in = np.linspace(0.0, 2 * np.pi, n_inner, endpoint=False)
        outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
        inner = factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1)
        x, y = _noisy_pair(outer, inner, noise, rng)
        return _classification("circles", x, y, rng, 2, f"{self.description}; n={n}, noise={noise}, factor={factor}")


@DATASETS.register("blobs")
class Blobs(DataSource):
    """Gaussian clusters, one class per center."""

    description = "isotropic Gaussian clusters, one class per center (centers drawn in [-10, 10]^features)"

    def __init__(
        self,
        n: Annotated[PositiveInt, "number of samples, at least one per center"] = 300,
        centers: Annotated[PositiveInt, "number of clusters, one class each"] = 3,
        features: Annotated[PositiveInt, "input dimension"] = 2,
        std: Annotated[NonNegativeFloat, "standard deviation of every cluster along each axis"] = 1.0,
    ):
        if n < centers:
            raise MathflowError(f"blobs: n must be an integer ≥ {centers}, got {n!r}")
        self.n = int(n)
        self.centers = int(centers)
        self.features = int(features)
        self.std = float(std)

    def shape_rule(self) -> DataShape:
        return (self.features,), "classification", self.centers, ()

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        n, centers, features, std = self.n, self.centers, self.features, self.std
        means = rng.uniform(-10.0, 10.0, size=(centers, features))
        y = np.repeat(np.arange(centers), _per_class(n, centers))
        x = means[y] + std * rng.standard_normal((n, features))
        return _classification("blobs", x, y, rng, centers, f"{self.description}; n={n}, centers={centers}, std={std}")


@DATASETS.register("spirals")
class Spirals(DataSource):
    """Interleaved spiral arms, one class per arm."""

    description = "interleaved spiral arms in 2-D, one class per arm"

    def __init__(
        self,
        n: Annotated[PositiveInt, "number of samples, at least one per arm"] = 300,
        classes: Annotated[TwoOrMore, "number of arms, one class each"] = 2,
        noise: Annotated[NonNegativeFloat, "standard deviation of the Gaussian noise on each point's angle"] = 0.2,
    ):
        if n < classes:
            raise MathflowError(f"spirals: n must be an integer ≥ {classes}, got {n!r}")
        self.n = int(n)
        self.classes = int(classes)
        self.noise = float(noise)

    def shape_rule(self) -> DataShape:
        return (2,), "classification", self.classes, ()

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        n, classes, noise = self.n, self.classes, self.noise
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


@DATASETS.register("xor")
class Xor(DataSource):
    """Points labelled by the sign of x0·x1 (2 classes)."""

    description = "points in [-1, 1]^2 labelled by the sign of x0·x1 (class 1 when the signs differ)"

    def __init__(
        self,
        n: Annotated[TwoOrMore, "number of samples"] = 200,
        noise: Annotated[NonNegativeFloat, _COORDINATE_NOISE + "; labels come from the clean points"] = 0.1,
    ):
        self.n = int(n)
        self.noise = float(noise)

    def shape_rule(self) -> DataShape:
        return (2,), "classification", 2, ()

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        n, noise = self.n, self.noise
        clean = rng.uniform(-1.0, 1.0, size=(n, 2))
        y = ((clean[:, 0] > 0) != (clean[:, 1] > 0)).astype(np.int64)
        x = clean + noise * rng.standard_normal((n, 2))
        return _classification("xor", x, y, rng, 2, f"{self.description}; n={n}, noise={noise}")


@DATASETS.register("regression")
class LinearRegression(DataSource):
    """y = x·w + b + noise (regression)."""

    description = "y = x·w + b + noise·ε with x, w, ε standard normal (regression target of shape (1,))"

    def __init__(
        self,
        n: Samples = 200,
        features: Annotated[PositiveInt, "input dimension"] = 4,
        noise: Annotated[NonNegativeFloat, "standard deviation of the Gaussian noise on y"] = 0.1,
    ):
        self.n = int(n)
        self.features = int(features)
        self.noise = float(noise)

    def shape_rule(self) -> DataShape:
        return (self.features,), "regression", None, (1,)

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        n, features, noise = self.n, self.features, self.noise
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


@DATASETS.register("synthetic")
class Synthetic(DataSource):
    """Standard-normal inputs of a declared shape with random labels."""

    description = "standard-normal inputs of a declared per-sample shape with uniform random labels (for benchmarks)"

    def __init__(
        self,
        n: Samples = 256,
        # never mutated: the list is the default as YAML writes it
        sample_shape: Annotated[ShapeList, "the shape of every input sample; no -1"] = [3, 32, 32],  # noqa: B006
        num_classes: Annotated[PositiveInt, "number of classes of the uniform random labels"] = 10,
    ):
        if -1 in sample_shape:
            raise MathflowError("synthetic: sample_shape cannot contain -1")
        self.n = int(n)
        self.sample_shape = tuple(int(d) for d in sample_shape)
        self.num_classes = int(num_classes)

    def shape_rule(self) -> DataShape:
        return self.sample_shape, "classification", self.num_classes, ()

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        n, shape, num_classes = self.n, self.sample_shape, self.num_classes
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

AllowNonfinite = Annotated[
    Flag | None, "let NaN and infinities in the file through (default: refused at load, naming row and column)"
]
TaskOrGuess = Annotated[Task | None, "classification or regression; default: told by the targets"]
ClassNames = Annotated[list[str] | None, "the names of the classes, in label order"]


class _FileSource(DataSource):
    kind = "file"


@DATASETS.register("csv")
class CsvSource(_FileSource):
    """A CSV file with a header row (path relative to the pipeline file)."""

    description = "a CSV file with a header row; categorical columns one-hot (or ordinal) encoded"
    path_fields = ("path",)
    example = {"path": "data.csv"}

    def __init__(
        self,
        path: Annotated[str, "the CSV file, relative to the pipeline file; may be gzipped"],
        target: Annotated[str | None, "the target column; default: the last column"] = None,
        task: TaskOrGuess = None,
        categorical: Annotated[
            Literal["onehot", "ordinal"],
            "categorical columns as one 0/1 column per category, or as the category's index in sorted order",
        ] = "onehot",
        delimiter: Annotated[str, "the field separator"] = ",",
        features: Annotated[list[str] | None, "the feature columns in order; default: all but the target"] = None,
        class_names: ClassNames = None,
        categories: Annotated[
            dict[str, list[Any]] | None,
            "column → its categories in order: declares the column categorical and fixes its encoding",
        ] = None,
        allow_nonfinite: AllowNonfinite = None,
    ):
        self.path = path
        self.target = target
        self.task = task
        self.categorical = categorical
        self.delimiter = delimiter
        self.features = features
        self.class_names = class_names
        self.categories = categories
        self.allow_nonfinite = allow_nonfinite

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        from mathflow.data.files import read_csv

        return read_csv(
            self.path,
            self.target,
            base_dir=base_dir,
            task=self.task,
            categorical=self.categorical,
            delimiter=self.delimiter,
            features=self.features,
            class_names=self.class_names,
            categories=self.categories,
            allow_nonfinite=bool(self.allow_nonfinite),
        )


@DATASETS.register("npz")
class NpzSource(_FileSource):
    """Two arrays of a NumPy .npz archive."""

    description = "two arrays of a NumPy .npz archive (keys x_key and y_key)"
    path_fields = ("path",)
    example = {"path": "data.npz"}

    def __init__(
        self,
        path: Annotated[str, "the .npz archive, relative to the pipeline file"],
        x_key: Annotated[str, "the name of the inputs array"] = "x",
        y_key: Annotated[str, "the name of the targets array"] = "y",
        task: TaskOrGuess = None,
        class_names: ClassNames = None,
        allow_nonfinite: AllowNonfinite = None,
    ):
        self.path = path
        self.x_key = x_key
        self.y_key = y_key
        self.task = task
        self.class_names = class_names
        self.allow_nonfinite = allow_nonfinite

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        from mathflow.data.files import read_npz

        return read_npz(
            self.path,
            x_key=self.x_key,
            y_key=self.y_key,
            base_dir=base_dir,
            task=self.task,
            class_names=self.class_names,
            allow_nonfinite=bool(self.allow_nonfinite),
        )


@DATASETS.register("npy")
class NpySource(_FileSource):
    """A pair of NumPy .npy files."""

    description = "a pair of NumPy .npy files: inputs x and targets y"
    path_fields = ("x", "y")
    example = {"x": "x.npy", "y": "y.npy"}

    def __init__(
        self,
        x: Annotated[str, "the .npy file of the inputs, relative to the pipeline file"],
        y: Annotated[str, "the .npy file of the targets, relative to the pipeline file"],
        task: TaskOrGuess = None,
        class_names: ClassNames = None,
        allow_nonfinite: AllowNonfinite = None,
    ):
        self.x = x
        self.y = y
        self.task = task
        self.class_names = class_names
        self.allow_nonfinite = allow_nonfinite

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        from mathflow.data.files import read_npy_pair

        return read_npy_pair(
            self.x,
            self.y,
            base_dir=base_dir,
            task=self.task,
            class_names=self.class_names,
            allow_nonfinite=bool(self.allow_nonfinite),
        )


@DATASETS.register("idx")
class IdxSource(_FileSource):
    """MNIST-format IDX files (images and labels)."""

    description = "MNIST-format IDX files (gzipped or not): an images file and a labels file"
    path_fields = ("images", "labels")
    example = {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz"}

    def __init__(
        self,
        images: Annotated[str, "the IDX images file, relative to the pipeline file"],
        labels: Annotated[str, "the IDX labels file, relative to the pipeline file"],
        class_names: ClassNames = None,
    ):
        self.images = images
        self.labels = labels
        self.class_names = class_names

    def build(self, rng: np.random.Generator, base_dir: Any) -> Dataset:
        from mathflow.data.files import read_idx_pair

        return read_idx_pair(self.images, self.labels, base_dir=base_dir, class_names=self.class_names)
