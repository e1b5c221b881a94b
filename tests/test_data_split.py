"""Splits: sizes, determinism, stratification, fraction validation, per-split files."""

from __future__ import annotations

import numpy as np
import pytest

from mathflow.data import Dataset, load_dataset, load_splits, prepare, split, split_indices
from mathflow.data.split import largest_remainder, stratified_counts
from mathflow.errors import MathflowError


def _labelled(counts: list[int], seed: int = 0) -> Dataset:
    y = np.repeat(np.arange(len(counts)), counts)
    y = np.random.default_rng(seed).permutation(y)
    x = np.arange(len(y) * 2, dtype=np.float32).reshape(-1, 2)
    return Dataset(x, y.astype(np.int64), "classification", len(counts))


def test_default_split_sizes_cover_every_sample_once():
    ds = load_dataset("digits")
    parts = split(ds, seed=0)
    assert list(parts) == ["train", "val", "test"]
    assert [len(p) for p in parts.values()] == [1258, 270, 269]
    idx = split_indices(len(ds), seed=0, labels=ds.y)
    joined = np.concatenate(list(idx.values()))
    assert np.array_equal(np.sort(joined), np.arange(len(ds)))
    assert np.array_equal(parts["val"].x, ds.x[idx["val"]])
    assert parts["train"].name == "digits[train]" and parts["train"].class_names == ds.class_names


def test_split_is_deterministic_for_a_seed():
    ds = load_dataset("iris")
    a, b, c = split(ds, seed=5), split(ds, seed=5), split(ds, seed=6)
    for k in a:
        assert np.array_equal(a[k].x, b[k].x) and np.array_equal(a[k].y, b[k].y)
    assert not np.array_equal(a["test"].x, c["test"].x)


@pytest.mark.parametrize("counts", [[178, 182, 177], [100, 30, 7], [50, 50], [3, 200, 11, 1]])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratification_keeps_class_proportions_within_one_sample(counts, seed):
    ds = _labelled(counts, seed)
    fractions = {"train": 0.6, "val": 0.25, "test": 0.15}
    parts = split(ds, fractions, seed=seed)
    for name, frac in fractions.items():
        got = parts[name].class_counts()
        assert np.all(np.abs(got - np.array(counts) * frac) <= 1.0), (name, got)
        assert abs(len(parts[name]) - sum(counts) * frac) < 1.0


def test_stratified_counts_match_both_margins():
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = rng.integers(1, 60, size=rng.integers(1, 8))
        raw = rng.uniform(0.05, 1.0, size=rng.integers(1, 4))
        f = raw / raw.sum()
        counts = stratified_counts(sizes, f)
        exact = sizes[:, None] * f[None, :]
        assert np.array_equal(counts.sum(axis=1), sizes)
        assert np.array_equal(counts.sum(axis=0), largest_remainder(int(sizes.sum()), f))
        assert np.all(counts >= np.floor(exact)) and np.all(counts <= np.floor(exact) + 1)


def test_unstratified_split_can_unbalance_classes_but_stratified_cannot():
    ds = _labelled([10, 10])
    worst = max(
        abs(int(split(ds, {"train": 0.5, "test": 0.5}, seed=s, stratify=False)["test"].class_counts()[0]) - 5)
        for s in range(20)
    )
    assert worst >= 2
    for s in range(20):
        assert split(ds, {"train": 0.5, "test": 0.5}, seed=s)["test"].class_counts().tolist() == [5, 5]


def test_regression_split_is_not_stratified():
    ds = load_dataset("diabetes")
    parts = split(ds, {"train": 0.8, "test": 0.2}, seed=0)
    assert [len(p) for p in parts.values()] == [354, 88]
    with pytest.raises(MathflowError, match="cannot be stratified"):
        split(ds, {"train": 0.8, "test": 0.2}, stratify=True)


def test_val_and_test_are_optional():
    parts = split(load_dataset("iris"), {"train": 1.0})
    assert list(parts) == ["train"] and len(parts["train"]) == 150
    parts = split(load_dataset("iris"), {"test": 0.2, "train": 0.8})
    assert list(parts) == ["train", "test"] and parts["test"].class_counts().tolist() == [10, 10, 10]


def test_fractions_within_tolerance_are_accepted():
    parts = split(load_dataset("iris"), {"train": 0.7, "val": 0.2, "test": 0.1000005})
    assert sum(len(p) for p in parts.values()) == 150


@pytest.mark.parametrize(
    ("fractions", "pattern"),
    [
        ({"train": 0.7, "val": 0.2}, r"must add up to 1, but train=0.7, val=0.2 add up to 0.9"),
        ({"train": 0.8, "val": 0.3, "test": -0.1}, r"test=-0.1 must be a number > 0"),
        ({"train": 1.0, "test": 0.0}, r"test=0.0 must be a number > 0"),
        ({"train": 0.8, "valid": 0.2}, r"unknown split 'valid'.*did you mean 'val'"),
        ({"val": 0.5, "test": 0.5}, "need a 'train' entry"),
        ({"train": "half", "test": 0.5}, "must be a number"),
        ([0.5, 0.5], "must be a mapping"),
        ({"train": 0.7, "val": 0.2, "test": 0.100002}, "must add up to 1"),
    ],
)
def test_bad_fractions_raise(fractions, pattern):
    with pytest.raises(MathflowError, match=pattern):
        split(load_dataset("iris"), fractions)


def test_too_few_samples_for_a_split_raise():
    ds = _labelled([3, 2])
    with pytest.raises(MathflowError, match="split 'test' would be empty"):
        split(ds, {"train": 0.95, "test": 0.05})


def test_one_hot_targets_are_stratified_by_their_argmax():
    ds = _labelled([40, 20])
    onehot = ds.replace(y=np.eye(2, dtype=np.float32)[ds.y])
    a = split(ds, {"train": 0.5, "test": 0.5}, seed=3)
    b = split(onehot, {"train": 0.5, "test": 0.5}, seed=3)
    assert np.array_equal(a["test"].x, b["test"].x)


def test_per_split_files_align_their_classes(tmp_path):
    (tmp_path / "train.csv").write_text("a,b,label\n1,2,cat\n2,3,dog\n3,4,cat\n")
    (tmp_path / "test.csv").write_text("a,b,label\n5,6,emu\n7,8,dog\n")
    parts = load_splits(
        {"train": {"csv": {"path": "train.csv"}}, "test": {"type": "csv", "path": "test.csv"}},
        base_dir=tmp_path,
    )
    assert list(parts) == ["train", "test"]
    assert parts["train"].class_names == parts["test"].class_names == ["cat", "dog", "emu"]
    assert parts["train"].y.tolist() == [0, 1, 0] and parts["test"].y.tolist() == [2, 1]
    assert parts["test"].num_classes == 3


def test_per_split_sources_must_agree(tmp_path):
    with pytest.raises(MathflowError, match="samples of shape"):
        load_splits({"train": "iris", "test": "wine"})
    with pytest.raises(MathflowError, match="regression data set but 'train' is a classification"):
        load_splits({"train": "iris", "test": {"regression": {"features": 4}}})
    with pytest.raises(MathflowError, match="need a 'train' entry"):
        load_splits({"test": "iris"})
    with pytest.raises(MathflowError, match=r"unknown split 'tset'.*did you mean 'test'"):
        load_splits({"train": "iris", "tset": "iris"})
    with pytest.raises(MathflowError, match=r"data file not found: .*gone\.csv"):
        load_splits({"train": {"csv": {"path": "gone.csv"}}}, base_dir=tmp_path)


def test_prepare_loads_splits_fits_and_transforms():
    data = prepare("digits", {"train": 0.8, "test": 0.2}, ["standardize", {"reshape": {"shape": [1, 8, 8]}}], seed=1)
    assert set(data.splits) == {"train", "test"}
    assert data.train.x.shape == (1438, 1, 8, 8) and data.splits["test"].x.shape == (359, 1, 8, 8)
    assert data.pipeline.output_shape() == (1, 8, 8)
    assert abs(float(data.train.x.mean())) < 1e-5
    assert np.array_equal(data.raw["test"].y, data.splits["test"].y)
