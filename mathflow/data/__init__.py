"""Data: named sources and files, seeded splits, fitted transforms, mini-batches.

    from mathflow.data import load_dataset, split, Pipeline, batches

    ds = load_dataset("digits")
    parts = split(ds, {"train": 0.8, "test": 0.2}, seed=0)
    pipe = Pipeline(["minmax", {"reshape": {"shape": [1, 8, 8]}}]).fit(parts["train"])
    train = pipe.transform(parts["train"])
    for xb, yb in batches(train.x, train.y, 64, shuffle=True, rng=0):
        ...

:func:`prepare` does all of it from the ``data:`` section of a pipeline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mathflow.data.batching import as_generator, batches, num_batches
from mathflow.data.dataset import Dataset, dataset_from_arrays, encode_labels
from mathflow.data.files import read_csv, read_idx, read_idx_pair, read_npy_pair, read_npz, resolve_path, write_idx
from mathflow.data.sources import DATASETS, DataSource, describe_sources, get_source, load_dataset, parse_spec
from mathflow.data.split import DEFAULT_FRACTIONS, SPLIT_NAMES, check_fractions, load_splits, split, split_indices
from mathflow.data.transforms import TRANSFORMS, Pipeline, Transform, make_transform


@dataclass
class PreparedData:
    """The transformed splits and the pipeline fitted on the training split."""

    splits: dict[str, Dataset]
    pipeline: Pipeline
    raw: dict[str, Dataset] = field(default_factory=dict)

    @property
    def train(self) -> Dataset:
        return self.splits["train"]


def prepare(
    source: Any,
    split_spec: Mapping[str, float] | None = None,
    transforms: Any = None,
    *,
    seed: int | None = 0,
    stratify: bool | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> PreparedData:
    """Load, split, fit the transforms on ``train`` and apply them to every split.

    ``source`` is one source spec, or a mapping ``{"train": spec, "test": spec, ...}`` of
    per-split sources (then ``split_spec`` must be left out).
    """
    per_split = isinstance(source, Mapping) and "train" in source
    if per_split:
        if split_spec is not None:
            from mathflow.errors import MathflowError

            raise MathflowError("give either per-split sources or split fractions, not both")
        raw = load_splits(source, seed, base_dir=base_dir)
    else:
        raw = split(load_dataset(source, seed, base_dir=base_dir), split_spec, seed, stratify)
    pipeline = Pipeline.from_spec(transforms).fit(raw["train"])
    return PreparedData({k: pipeline.transform(v) for k, v in raw.items()}, pipeline, raw)


__all__ = [
    "DATASETS",
    "DEFAULT_FRACTIONS",
    "SPLIT_NAMES",
    "TRANSFORMS",
    "DataSource",
    "Dataset",
    "Pipeline",
    "PreparedData",
    "Transform",
    "as_generator",
    "batches",
    "check_fractions",
    "dataset_from_arrays",
    "describe_sources",
    "encode_labels",
    "get_source",
    "load_dataset",
    "load_splits",
    "make_transform",
    "num_batches",
    "parse_spec",
    "prepare",
    "read_csv",
    "read_idx",
    "read_idx_pair",
    "read_npy_pair",
    "read_npz",
    "resolve_path",
    "split",
    "split_indices",
    "write_idx",
]
