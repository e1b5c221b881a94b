"""The ``data`` section: a source (mirrors :data:`mathflow.data.DATASETS`), split fractions, transforms.

``source`` is one source that the ``split`` fractions divide, or one source per split:
``{train: source, val: source, test: source}`` (``train`` required, ``split`` then left out).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from mathflow.spec.base import Component, Flag, SpecModel, catalog, component_union
from mathflow.spec.types import NonNegativeFloat, PositiveInt, ShapeList

Task = Literal["classification", "regression"]


class SourceSpec(Component):
    """Base of data sources; ``path_fields`` name the parameters that are file paths."""

    kind: ClassVar[str] = "generated"
    path_fields: ClassVar[tuple[str, ...]] = ()


class _Builtin(SourceSpec):
    kind: ClassVar[str] = "builtin"


class Digits(_Builtin):
    """8×8 handwritten digits: 1797 samples, 64 features, 10 classes."""

    type: Literal["digits"] = "digits"


class Iris(_Builtin):
    """Iris flowers: 150 samples, 4 features, 3 classes."""

    type: Literal["iris"] = "iris"


class Wine(_Builtin):
    """Wine recognition: 178 samples, 13 features, 3 classes."""

    type: Literal["wine"] = "wine"


class BreastCancer(_Builtin):
    """Breast cancer: 569 samples, 30 features, 2 classes."""

    type: Literal["breast_cancer"] = "breast_cancer"


class Diabetes(_Builtin):
    """Diabetes progression: 442 samples, 10 features, regression."""

    type: Literal["diabetes"] = "diabetes"


class Moons(SourceSpec):
    """Two interleaving half circles (2 classes)."""

    type: Literal["moons"] = "moons"
    n: int = Field(200, ge=2)
    noise: NonNegativeFloat = 0.1


class Circles(SourceSpec):
    """A small circle inside a large one (2 classes)."""

    type: Literal["circles"] = "circles"
    n: int = Field(200, ge=2)
    noise: NonNegativeFloat = 0.05
    factor: float = Field(0.5, gt=0, lt=1)


class Blobs(SourceSpec):
    """Gaussian clusters, one class per center."""

    type: Literal["blobs"] = "blobs"
    n: PositiveInt = 300
    centers: PositiveInt = 3
    features: PositiveInt = 2
    std: NonNegativeFloat = 1.0


class Spirals(SourceSpec):
    """Interleaved spiral arms, one class per arm."""

    type: Literal["spirals"] = "spirals"
    n: PositiveInt = 300
    classes: int = Field(2, ge=2)
    noise: NonNegativeFloat = 0.2


class Xor(SourceSpec):
    """Points labelled by the sign of x0·x1 (2 classes)."""

    type: Literal["xor"] = "xor"
    n: int = Field(200, ge=2)
    noise: NonNegativeFloat = 0.1


class Regression(SourceSpec):
    """y = x·w + b + noise (regression)."""

    type: Literal["regression"] = "regression"
    n: PositiveInt = 200
    features: PositiveInt = 4
    noise: NonNegativeFloat = 0.1


class Synthetic(SourceSpec):
    """Standard-normal inputs of a declared shape with random labels."""

    type: Literal["synthetic"] = "synthetic"
    n: PositiveInt = 256
    sample_shape: ShapeList = Field(default_factory=lambda: [3, 32, 32])
    num_classes: PositiveInt = 10


class Csv(SourceSpec):
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


class Npz(SourceSpec):
    """Two arrays of a NumPy .npz archive."""

    kind: ClassVar[str] = "file"
    path_fields: ClassVar[tuple[str, ...]] = ("path",)
    type: Literal["npz"] = "npz"
    path: str
    x_key: str = "x"
    y_key: str = "y"
    task: Task | None = None
    class_names: list[str] | None = None


class Npy(SourceSpec):
    """A pair of NumPy .npy files."""

    kind: ClassVar[str] = "file"
    path_fields: ClassVar[tuple[str, ...]] = ("x", "y")
    type: Literal["npy"] = "npy"
    x: str
    y: str
    task: Task | None = None
    class_names: list[str] | None = None


class Idx(SourceSpec):
    """MNIST-format IDX files (images and labels)."""

    kind: ClassVar[str] = "file"
    path_fields: ClassVar[tuple[str, ...]] = ("images", "labels")
    type: Literal["idx"] = "idx"
    images: str
    labels: str
    class_names: list[str] | None = None


SOURCE_MODELS: list[type[SourceSpec]] = [
    Digits,
    Iris,
    Wine,
    BreastCancer,
    Diabetes,
    Moons,
    Circles,
    Blobs,
    Spirals,
    Xor,
    Regression,
    Synthetic,
    Csv,
    Npz,
    Npy,
    Idx,
]
SOURCE_SPECS = catalog(SOURCE_MODELS)
SourceEntry = component_union("data set", SOURCE_MODELS)


# ----------------------------------------------------------------------------------- transforms
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


class TransformSpec(Component):
    """Base of transforms; ``target`` ones act on the targets instead of the inputs."""

    target: ClassVar[bool] = False


class Standardize(TransformSpec):
    """x' = (x − μ) / σ per feature (fitted on the training split)."""

    type: Literal["standardize", "standard"] = "standardize"


class MinMax(TransformSpec):
    """x' = (x − min) / (max − min) per feature."""

    type: Literal["minmax"] = "minmax"
    clip: Flag = False


class OneHot(TransformSpec):
    """Targets: label k ↦ one-hot row of length C."""

    target: ClassVar[bool] = True
    type: Literal["one_hot", "onehot"] = "one_hot"
    num_classes: PositiveInt | None = None


class PCA(TransformSpec):
    """Projection on the top principal axes (int: count; float in (0, 1]: variance fraction)."""

    type: Literal["pca"] = "pca"
    n_components: Components = 0.95


class ReshapeTransform(TransformSpec):
    """Reshape every sample, e.g. 64 → [1, 8, 8]."""

    type: Literal["reshape"] = "reshape"
    shape: ShapeList


class FlattenTransform(TransformSpec):
    """Flatten every sample to one axis."""

    type: Literal["flatten"] = "flatten"


TRANSFORM_MODELS: list[type[TransformSpec]] = [Standardize, MinMax, OneHot, PCA, ReshapeTransform, FlattenTransform]
TRANSFORM_SPECS = catalog(TRANSFORM_MODELS)
TransformEntry = component_union("transform", TRANSFORM_MODELS)


# ----------------------------------------------------------------------------------- section
class Split(SpecModel):
    """Fractions of the samples in each split; they must add up to 1."""

    train: float = Field(gt=0, le=1)
    val: float | None = Field(None, gt=0, lt=1)
    test: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Split:
        parts = self.fractions()
        total = sum(parts.values())
        if abs(total - 1.0) > 1e-6:
            shown = ", ".join(f"{k}={v:g}" for k, v in parts.items())
            raise ValueError(f"split fractions must add up to 1, but {shown} add up to {total:g}")
        return self

    def fractions(self) -> dict[str, float]:
        """The non-zero fractions, e.g. {"train": 0.8, "test": 0.2}."""
        return {k: v for k, v in (("train", self.train), ("val", self.val), ("test", self.test)) if v}


SPLIT_KEYS: tuple[str, ...] = ("train", "val", "test")


class SplitSources(SpecModel):
    """One source per split: ``train`` is required, ``val`` and ``test`` are optional."""

    train: SourceEntry
    val: SourceEntry | None = None
    test: SourceEntry | None = None

    def entries(self) -> dict[str, SourceSpec]:
        """split name → source, in train/val/test order (absent splits left out)."""
        return {k: getattr(self, k) for k in SPLIT_KEYS if getattr(self, k) is not None}

    def to_data(self) -> dict[str, Any]:
        """The YAML form: ``{split: source}`` with each source in its written form."""
        return {k: v.to_data() for k, v in self.entries().items()}


def _source_form(value: Any) -> str:
    """A mapping without ``type`` keyed by a split name is per-split; anything else is one source."""
    if isinstance(value, dict) and "type" not in value and any(k in SPLIT_KEYS for k in value):
        return "per_split"
    if isinstance(value, SplitSources):
        return "per_split"
    return "single"


#: ``data.source``: one source, or a mapping of split name → source.
SourceOrSplits = Annotated[
    Annotated[SourceEntry, Tag("single")] | Annotated[SplitSources, Tag("per_split")],
    Discriminator(_source_form),
]


class DataSection(SpecModel):
    """Where the samples come from and how they are split and transformed."""

    source: SourceOrSplits
    split: Split = Field(default_factory=lambda: Split(train=0.7, val=0.15, test=0.15))
    stratify: Flag | None = Field(
        None, description="keep class proportions in every split (default: for classification)"
    )
    transforms: list[TransformEntry] = Field(default_factory=list)

    @field_validator("split")
    @classmethod
    def _not_with_split_sources(cls, value: Split, info: ValidationInfo) -> Split:
        if isinstance(info.data.get("source"), SplitSources):
            raise ValueError("data.source gives one source per split, so leave out 'split' (it divides one source)")
        return value

    @property
    def per_split(self) -> bool:
        """True when ``source`` gives one source per split."""
        return isinstance(self.source, SplitSources)

    def sources(self) -> dict[str, SourceSpec]:
        """split name → source for per-split data, else ``{"all": source}``."""
        return self.source.entries() if isinstance(self.source, SplitSources) else {"all": self.source}

    @property
    def train_source(self) -> SourceSpec:
        """The source the training split comes from (classes and sample shape are read from it)."""
        return self.source.train if isinstance(self.source, SplitSources) else self.source

    def split_names(self) -> list[str]:
        """The splits the data will have, e.g. ["train", "test"]."""
        return list(self.source.entries()) if isinstance(self.source, SplitSources) else list(self.split.fractions())

    def source_data(self) -> Any:
        """``source`` in the form :func:`mathflow.data.prepare` takes."""
        if isinstance(self.source, SplitSources):
            return {k: v.model_dump(exclude_none=True) for k, v in self.source.entries().items()}
        return self.source.model_dump(exclude_none=True)

    def split_data(self) -> dict[str, float] | None:
        """The split fractions for :func:`mathflow.data.prepare` (None with per-split sources)."""
        return None if isinstance(self.source, SplitSources) else self.split.fractions()
