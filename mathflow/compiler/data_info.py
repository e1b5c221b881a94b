"""What the model will be fed: per-sample input shape, task, class count and target shape.

Built-in and generated sources, made from their validated config, describe their data by their
``shape_rule`` (no data is loaded; a check relating several parameters is reported here too);
file sources are checked for existence (paths relative to the pipeline file) and then loaded.
The data ``transforms`` are applied as shape rules to get the model's input shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from mathflow.config.errors import IssueList
from mathflow.config.loader import Document
from mathflow.errors import MathflowError
from mathflow.schema.data import DataSection, SourceConfig


@dataclass(frozen=True)
class DataInfo:
    """Per-sample shapes (no batch axis) and the learning task of the data after transforms."""

    name: str
    raw_shape: tuple[int, ...]
    sample_shape: tuple[int, ...] | None
    task: str
    num_classes: int | None
    target_shape: tuple[int, ...]

    def describe(self) -> str:
        what = f"{self.num_classes} classes" if self.task == "classification" else "a regression target"
        return f"{self.name} ({what})"


def _source_path(document: Document, split: str | None = None) -> tuple[str | int, ...]:
    """The YAML path of a source's parameters (``split`` names the entry of per-split sources)."""
    where: tuple[str | int, ...] = ("data", "source") if split is None else ("data", "source", split)
    raw = document.get(where)
    return (*where, next(iter(raw))) if isinstance(raw, dict) and "type" not in raw else where


def source_info(
    source: SourceConfig, document: Document, issues: IssueList, seed: int | None, split: str | None = None
) -> tuple[tuple[int, ...], str, int | None, tuple[int, ...]] | None:
    """(sample shape, task, classes, target shape) of the raw source, or None after an issue."""
    from mathflow.data import DATASETS

    try:
        known = DATASETS.create(source.type, **source.kwargs()).shape_rule()  # type: ignore[attr-defined]
    except MathflowError as exc:
        issues.add(document.locate(_source_path(document, split)), exc.message, hint=exc.suggestion)
        return None
    if known is not None:
        return known
    return _file_info(source, document, issues, seed, split)


def _file_info(source: SourceConfig, document: Document, issues: IssueList, seed: int | None, split: str | None) -> Any:
    base = os.path.dirname(document.path) or "."
    where = _source_path(document, split)
    missing = False
    for field in source.path_fields:
        value = getattr(source, field)
        full = value if os.path.isabs(value) else os.path.join(base, value)
        if not os.path.isfile(os.path.expanduser(full)):
            issues.add(
                document.locate_value((*where, field)),
                f"data file '{value}' not found (looked for {os.path.normpath(full)})",
                hint="paths are relative to the pipeline file",
            )
            missing = True
    if missing:
        return None
    from mathflow.data import load_dataset

    spec = source.model_dump(exclude_none=True)
    try:
        ds = load_dataset(spec, seed, base_dir=base)
    except MathflowError as exc:
        issues.add(document.locate(where), exc.format())
        return None
    return tuple(ds.x.shape[1:]), ds.task, ds.num_classes, tuple(ds.y.shape[1:])


def data_info(data: DataSection, document: Document, issues: IssueList, seed: int | None) -> DataInfo | None:
    """The data's per-sample shapes after transforms; problems are added to ``issues``."""
    if data.per_split:
        # every split's files are checked; the train source gives the classes and sample shape
        found_by = {k: source_info(s, document, issues, seed, k) for k, s in data.sources().items()}
        found = found_by["train"]
        if any(v is None for v in found_by.values()):
            return None
    else:
        found = source_info(data.source, document, issues, seed)
    if found is None:
        return None
    raw_shape, task, classes, target = found
    shape: tuple[int, ...] | None = raw_shape
    from mathflow.data.transforms import make_transform

    for i, spec in enumerate(data.transforms):
        where = document.locate(("data", "transforms", i))
        params = spec.model_dump(exclude={"type"})
        try:
            transform = make_transform({spec.type: params})  # type: ignore[attr-defined]
        except MathflowError as exc:
            issues.add(where, exc.format())
            return None
        if transform.target:
            if task != "classification":
                issues.add(where, f"transform '{spec.type}' needs class labels; the data is a regression target")  # type: ignore[attr-defined]
                return None
            count = getattr(spec, "num_classes", None) or classes
            if classes is not None and count is not None and count < classes:
                issues.add(where, f"one_hot num_classes={count} but the data has {classes} classes")
                return None
            target = (count,)
            continue
        if shape is None:
            continue
        try:
            out = tuple(transform.output_shape(shape))
        except MathflowError as exc:
            issues.add(where, exc.message, hint=exc.suggestion)
            return None
        shape = None if -1 in out else out
    if shape is None:
        shape = _fitted_shape(data, document, issues, seed)
        if shape is None:
            return None
    return DataInfo(data.train_source.type, raw_shape, shape, task, classes, target)  # type: ignore[attr-defined]


def _fitted_shape(data: DataSection, document: Document, issues: IssueList, seed: int | None) -> Any:
    """Shapes only known after fitting (PCA with a variance fraction): load, split and fit."""
    from mathflow.data import prepare

    try:
        prepared = prepare(
            data.source_data(),
            data.split_data(),
            [{t.type: t.model_dump(exclude={"type"})} for t in data.transforms],  # type: ignore[attr-defined]
            seed=seed,
            stratify=data.stratify,
            base_dir=os.path.dirname(document.path) or ".",
        )
    except MathflowError as exc:
        issues.add(document.locate(("data",)), exc.format())
        return None
    return tuple(prepared.train.x.shape[1:])
