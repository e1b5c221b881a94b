"""Seeded train/val/test splits, stratified by class for classification.

Sizes: split ``s`` receives ``n·f_s`` samples rounded by the largest-remainder rule (so the
sizes add up to ``n``). Stratified splits also give every class ``c`` either ``⌊n_c·f_s⌋`` or
``⌈n_c·f_s⌉`` samples in split ``s``: a 0/1 matrix of leftover samples is chosen so that rows
(classes) and columns (splits) both add up, by Ryser's greedy construction (each class hands its
leftovers to the splits that still lack the most samples). Which samples of a class go where is
a seeded permutation. Indices inside each split keep the source's order.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from mathflow.data.dataset import Dataset
from mathflow.errors import MathflowError

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}


def check_fractions(fractions: Mapping[str, Any]) -> dict[str, float]:
    """The fractions in train/val/test order, validated: known names, ``train`` present, each > 0, sum 1 ± 1e-6."""
    if not isinstance(fractions, Mapping) or not fractions:
        raise MathflowError(f"split fractions must be a mapping such as {DEFAULT_FRACTIONS}, got {fractions!r}")
    for name in fractions:
        if name not in SPLIT_NAMES:
            close = difflib.get_close_matches(str(name), SPLIT_NAMES, n=1, cutoff=0.4)
            hint = f"did you mean {close[0]!r}?" if close else f"splits: {', '.join(SPLIT_NAMES)}"
            raise MathflowError(f"unknown split {name!r}", suggestion=hint)
    if "train" not in fractions:
        raise MathflowError(f"split fractions {dict(fractions)} need a 'train' entry")
    out: dict[str, float] = {}
    for name in SPLIT_NAMES:
        if name not in fractions:
            continue
        value = fractions[name]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0:
            raise MathflowError(f"split fraction {name}={value!r} must be a number > 0")
        out[name] = float(value)
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        shown = ", ".join(f"{k}={v:g}" for k, v in out.items())
        raise MathflowError(f"split fractions must add up to 1, but {shown} add up to {total:g}")
    return out


def largest_remainder(total: int, fractions: np.ndarray) -> np.ndarray:
    """Integers ``k_i`` with ``Σk_i = total`` and ``|k_i − total·f_i| < 1`` (largest-remainder rounding)."""
    exact = total * np.asarray(fractions, dtype=np.float64) / float(np.sum(fractions))
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def stratified_counts(class_sizes: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """A ``(classes, splits)`` count matrix: rows add to the class sizes, columns to the split sizes.

    Every entry is ``⌊n_c·f_s⌋`` or ``⌈n_c·f_s⌉``; column sums are the largest-remainder split sizes.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    f = np.asarray(fractions, dtype=np.float64)
    exact = sizes[:, None] * f[None, :]
    counts = np.floor(exact).astype(np.int64)
    row_need = sizes - counts.sum(axis=1)
    col_need = largest_remainder(int(sizes.sum()), f) - counts.sum(axis=0)
    frac = exact - counts
    # Ryser: rows with the most leftovers first, each to the columns that lack the most
    for c in np.argsort(-row_need, kind="stable"):
        k = int(row_need[c])
        if k == 0:
            continue
        order = np.lexsort((-frac[c], -col_need))
        chosen = [s for s in order if col_need[s] > 0][:k]
        if len(chosen) < k:  # pragma: no cover - cannot happen for consistent margins
            raise MathflowError("stratified split: could not balance the class counts")
        counts[c, chosen] += 1
        col_need[chosen] -= 1
    return counts


def split_indices(
    n: int,
    fractions: Mapping[str, float] | None = None,
    seed: int | None = 0,
    labels: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Sorted sample indices per split; stratified by ``labels`` when they are given."""
    fr = check_fractions(DEFAULT_FRACTIONS if fractions is None else fractions)
    names = list(fr)
    f = np.array([fr[k] for k in names])
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    if labels is None:
        perm = rng.permutation(n)
        bounds = np.concatenate([[0], np.cumsum(largest_remainder(n, f))])
        for j, k in enumerate(names):
            parts[k].append(perm[bounds[j] : bounds[j + 1]])
    else:
        labels = np.asarray(labels)
        classes, inverse = np.unique(labels, return_inverse=True)
        members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
        counts = stratified_counts(np.array([len(m) for m in members]), f)
        for c, idx in enumerate(members):
            shuffled = rng.permutation(idx)
            bounds = np.concatenate([[0], np.cumsum(counts[c])])
            for j, k in enumerate(names):
                parts[k].append(shuffled[bounds[j] : bounds[j + 1]])
    out = {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()}
    for k, idx in out.items():
        if idx.size == 0:
            raise MathflowError(f"split {k!r} would be empty: {n} samples are too few for the fraction {fr[k]:g}")
    return out


def split(
    dataset: Dataset,
    fractions: Mapping[str, float] | None = None,
    seed: int | None = 0,
    stratify: bool | None = None,
) -> dict[str, Dataset]:
    """Split ``dataset`` into ``{"train": ..., "val": ..., "test": ...}`` (the splits ``fractions`` names).

    ``stratify=None`` stratifies classification data sets and not regression ones;
    ``stratify=True`` on a regression data set raises. The same seed gives the same split.
    """
    if stratify and dataset.task != "classification":
        raise MathflowError(f"data set {dataset.name!r} is a regression data set; it cannot be stratified by class")
    use_strata = dataset.task == "classification" if stratify is None else bool(stratify)
    labels = None
    if use_strata:
        labels = dataset.y.argmax(axis=1) if dataset.y.ndim == 2 else dataset.y
    idx = split_indices(len(dataset), fractions, seed, labels)
    return {k: dataset.subset(v, name=f"{dataset.name}[{k}]") for k, v in idx.items()}


def load_splits(
    specs: Mapping[str, Any],
    seed: int | None = 0,
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Dataset]:
    """Splits given as separate sources, ``{"train": spec, "test": spec, ...}``.

    Each spec is anything :func:`mathflow.data.sources.load_dataset` accepts. All splits must
    agree on task and sample shape; classification labels are renumbered over the union of the
    class names, so that a class means the same index in every split.
    """
    from mathflow.data.sources import load_dataset

    if not isinstance(specs, Mapping) or "train" not in specs:
        raise MathflowError(f"per-split sources need a 'train' entry, got {list(specs) if specs else specs!r}")
    for name in specs:
        if name not in SPLIT_NAMES:
            close = difflib.get_close_matches(str(name), SPLIT_NAMES, n=1, cutoff=0.4)
            hint = f"did you mean {close[0]!r}?" if close else f"splits: {', '.join(SPLIT_NAMES)}"
            raise MathflowError(f"unknown split {name!r}", suggestion=hint)
    out = {k: load_dataset(specs[k], seed, base_dir=base_dir) for k in SPLIT_NAMES if k in specs}
    train = out["train"]
    for k, ds in out.items():
        if ds.task != train.task:
            raise MathflowError(f"split {k!r} is a {ds.task} data set but 'train' is a {train.task} data set")
        if ds.sample_shape != train.sample_shape:
            raise MathflowError(f"split {k!r} has samples of shape {ds.sample_shape}, 'train' has {train.sample_shape}")
    if train.task == "classification":
        out = _align_classes(out)
    return {k: ds.replace(name=f"{ds.name}[{k}]") for k, ds in out.items()}


def _align_classes(parts: dict[str, Dataset]) -> dict[str, Dataset]:
    names_of = {k: ds.class_names or [str(c) for c in range(ds.num_classes or 0)] for k, ds in parts.items()}
    if all(v == names_of["train"] for v in names_of.values()):
        return parts
    union = sorted({n for v in names_of.values() for n in v}, key=_class_sort_key)
    pos = {n: i for i, n in enumerate(union)}
    out = {}
    for k, ds in parts.items():
        mapping = np.array([pos[n] for n in names_of[k]], dtype=np.int64)
        out[k] = ds.replace(y=mapping[ds.y], num_classes=len(union), class_names=union)
    return out


def _class_sort_key(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)
