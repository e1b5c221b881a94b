"""The ``data`` section: a source (one of :data:`mathflow.data.DATASETS`), split fractions, transforms.

``source`` is one source that the ``split`` fractions divide, or one source per split:
``{train: source, val: source, test: source}`` (``train`` required, ``split`` then left out).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mathflow.component import Flag, SpecModel, component_union
from mathflow.data.sources import DATASETS, SourceConfig
from mathflow.data.transforms import TRANSFORMS

SourceEntry = component_union("data set", DATASETS.config_models())


TransformEntry = component_union("transform", TRANSFORMS.config_models())


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

    def entries(self) -> dict[str, SourceConfig]:
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

    def sources(self) -> dict[str, SourceConfig]:
        """split name → source for per-split data, else ``{"all": source}``."""
        return self.source.entries() if isinstance(self.source, SplitSources) else {"all": self.source}

    @property
    def train_source(self) -> SourceConfig:
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
