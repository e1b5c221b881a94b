"""Built-in and generated data sources: shapes, dtypes, classes, seeds, parameters, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mathflow.data import DATASETS, Dataset, describe_sources, load_dataset
from mathflow.errors import MathflowError

BUILTIN = {
    # name: (samples, features, classes or None for regression)
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
    "diabetes": (442, 10, None),
}

GENERATED = {
    # name: (params, expected sample shape, classes or None)
    "moons": ({"n": 101, "noise": 0.1}, (2,), 2),
    "circles": ({"n": 100, "noise": 0.05, "factor": 0.3}, (2,), 2),
    "blobs": ({"n": 90, "centers": 4, "features": 5, "std": 0.5}, (5,), 4),
    "spirals": ({"n": 91, "classes": 3, "noise": 0.1}, (2,), 3),
    "xor": ({"n": 80, "noise": 0.05}, (2,), 2),
    "regression": ({"n": 70, "features": 3, "noise": 0.2}, (3,), None),
    "synthetic": ({"n": 12, "sample_shape": [3, 4, 5], "num_classes": 7}, (3, 4, 5), 7),
}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_shapes_dtypes_and_classes(name):
    n, d, classes = BUILTIN[name]
    ds = load_dataset(name)
    assert isinstance(ds, Dataset) and ds.name == name and ds.description
    assert ds.x.shape == (n, d) and ds.x.dtype == np.float32
    assert ds.sample_shape == (d,)
    assert ds.feature_names is not None and len(ds.feature_names) == d
    if classes is None:
        assert ds.task == "regression" and ds.num_classes is None
        assert ds.y.shape == (n, 1) and ds.y.dtype == np.float32
    else:
        assert ds.task == "classification" and ds.num_classes == classes
        assert ds.y.shape == (n,) and ds.y.dtype == np.int64
        assert set(np.unique(ds.y)) == set(range(classes))
        assert len(ds.class_names) == classes


def test_digits_pixels_are_integers_from_0_to_16():
    ds = load_dataset("digits")
    assert ds.x.min() == 0 and ds.x.max() == 16
    assert np.array_equal(ds.x, np.round(ds.x))
    assert ds.class_names == [str(c) for c in range(10)]


def test_breast_cancer_is_binary_with_names():
    ds = load_dataset("breast_cancer")
    assert ds.class_names == ["malignant", "benign"]
    assert ds.class_counts().tolist() == [212, 357]


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_shapes_dtypes_and_classes(name):
    params, shape, classes = GENERATED[name]
    ds = load_dataset(name, seed=3, **params)
    n = params["n"]
    assert ds.x.shape == (n, *shape) and ds.x.dtype == np.float32
    assert np.all(np.isfinite(ds.x))
    if classes is None:
        assert ds.task == "regression" and ds.y.shape == (n, 1) and ds.y.dtype == np.float32
    else:
        assert ds.task == "classification" and ds.num_classes == classes
        assert ds.y.shape == (n,) and ds.y.dtype == np.int64
        assert ds.y.min() >= 0 and ds.y.max() < classes


@pytest.mark.parametrize("name", ["moons", "circles", "blobs", "spirals"])
def test_generated_classes_are_balanced(name):
    params, _, classes = GENERATED[name]
    counts = load_dataset(name, seed=0, **params).class_counts()
    assert counts.max() - counts.min() <= 1 and counts.sum() == params["n"]


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_sources_are_deterministic_for_a_seed(name):
    params = GENERATED[name][0]
    a = load_dataset(name, seed=11, **params)
    b = load_dataset(name, seed=11, **params)
    c = load_dataset(name, seed=12, **params)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_builtin_sources_ignore_the_seed():
    assert np.array_equal(load_dataset("iris", seed=0).x, load_dataset("iris", seed=5).x)


def test_moons_without_noise_lie_on_their_half_circles():
    ds = load_dataset("moons", n=60, noise=0.0)
    outer = ds.x[ds.y == 0].astype(np.float64)
    inner = ds.x[ds.y == 1].astype(np.float64)
    assert np.allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, atol=1e-6)
    assert np.all(outer[:, 1] >= -1e-6)
    assert np.allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, atol=1e-6)
    assert np.all(inner[:, 1] <= 0.5 + 1e-6)


def test_circles_without_noise_have_radii_1_and_factor():
    ds = load_dataset("circles", n=40, noise=0.0, factor=0.25)
    r = np.hypot(ds.x[:, 0], ds.x[:, 1])
    assert np.allclose(r[ds.y == 0], 1.0, atol=1e-6)
    assert np.allclose(r[ds.y == 1], 0.25, atol=1e-6)


def test_xor_without_noise_labels_by_quadrant():
    ds = load_dataset("xor", n=200, noise=0.0, seed=4)
    assert np.array_equal(ds.y, (ds.x[:, 0] * ds.x[:, 1] < 0).astype(np.int64))


def test_blobs_cluster_around_their_centers():
    ds = load_dataset("blobs", n=300, centers=3, features=2, std=0.01, seed=2)
    for c in range(3):
        pts = ds.x[ds.y == c]
        assert pts.std(axis=0).max() < 0.05


def test_regression_without_noise_is_exactly_linear():
    ds = load_dataset("regression", n=50, features=3, noise=0.0, seed=1)
    w, b = np.array(ds.metadata["weights"]), ds.metadata["bias"]
    assert np.allclose(ds.y[:, 0], ds.x.astype(np.float64) @ w + b, atol=1e-5)


def test_spirals_arms_start_at_the_centre_and_reach_the_rim():
    ds = load_dataset("spirals", n=90, classes=3, noise=0.0)
    r = np.hypot(ds.x[:, 0], ds.x[:, 1])
    assert r.min() == pytest.approx(0.0, abs=1e-6) and r.max() == pytest.approx(1.0, abs=1e-6)


def test_synthetic_takes_a_list_sample_shape_as_yaml_does():
    ds = load_dataset("synthetic", n=5, sample_shape=[16], num_classes=3)
    assert ds.sample_shape == (16,)
    with pytest.raises(MathflowError, match=r"synthetic: sample_shape must be a non-empty list .*got 16"):
        load_dataset("synthetic", n=5, sample_shape=16)


def test_default_parameters_are_used():
    ds = load_dataset("moons")
    assert len(ds) == DATASETS.get("moons").defaults["n"]


def test_a_source_is_made_from_its_parameters():
    source = DATASETS.create("moons", n=30, noise=0.2)
    assert (source.n, source.noise) == (30, 0.2) and source.shape_rule() == ((2,), "classification", 2, ())
    assert np.array_equal(source.load(1).x, load_dataset("moons", seed=1, n=30, noise=0.2).x)
    with pytest.raises(MathflowError, match="moons: n must be an integer, got True"):
        DATASETS.get("moons")(n=True)
    assert DATASETS.get("blobs")(centers=4, features=3).shape_rule() == ((3,), "classification", 4, ())
    assert DATASETS.get("csv").path_fields == DATASETS.get("csv").config_model.path_fields == ("path",)


def test_three_spec_forms_give_the_same_data():
    a = load_dataset({"moons": {"n": 30, "noise": 0.2}}, seed=1)
    b = load_dataset({"type": "moons", "n": 30, "noise": 0.2}, seed=1)
    c = load_dataset("moons", seed=1, n=30, noise=0.2)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.x, c.x)


def test_unknown_source_suggests_a_name():
    with pytest.raises(MathflowError, match=r"unknown dataset 'digts'.*did you mean 'digits'"):
        load_dataset("digts")


def test_unknown_parameter_suggests_a_name():
    with pytest.raises(MathflowError, match=r"no parameter 'nois'.*did you mean 'noise'"):
        load_dataset("moons", nois=0.3)


@pytest.mark.parametrize(
    ("name", "params", "pattern"),
    [
        ("moons", {"n": 0}, "moons: n must be >= 2, got 0"),
        ("moons", {"n": 2.5}, "n must be an integer"),
        ("moons", {"noise": -1.0}, "moons: noise must be >= 0, got -1.0"),
        ("circles", {"factor": 1.5}, "circles: factor must satisfy 0 < factor < 1, got 1.5"),
        ("blobs", {"n": 2, "centers": 3}, r"n must be an integer ≥ 3"),
        ("spirals", {"n": 3, "classes": 4}, r"spirals: n must be an integer ≥ 4, got 3"),
        ("synthetic", {"sample_shape": [3, 0]}, r"sample_shape must be a non-empty list of positive integers"),
        ("synthetic", {"sample_shape": [4, -1]}, "synthetic: sample_shape cannot contain -1"),
        ("csv", {}, "needs the parameter path"),
    ],
)
def test_bad_parameters_raise(name, params, pattern):
    with pytest.raises(MathflowError, match=pattern):
        load_dataset(name, **params)


def test_bad_spec_shapes_raise():
    with pytest.raises(MathflowError, match="ambiguous"):
        load_dataset({"moons": {}, "xor": {}})
    with pytest.raises(MathflowError, match="must be a mapping"):
        load_dataset({"moons": 5})
    with pytest.raises(MathflowError, match="name or a mapping"):
        load_dataset(3)


def test_registry_lists_every_source_with_its_kind():
    rows = {r["name"]: r for r in describe_sources()}
    assert set(BUILTIN) | set(GENERATED) | {"csv", "npz", "npy", "idx"} == set(rows)
    assert rows["digits"]["kind"] == "builtin" and rows["moons"]["kind"] == "generated"
    assert rows["csv"]["kind"] == "file" and rows["csv"]["required"] == ["path"]
    assert rows["moons"]["params"] == {"n": 200, "noise": 0.1}


def test_file_sources_load_through_the_registry(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,4,y\n5,6,x\n")
    ds = load_dataset({"csv": {"path": "d.csv", "target": "label"}}, base_dir=tmp_path)
    assert ds.x.shape == (3, 2) and ds.class_names == ["x", "y"]


def test_importing_the_package_does_not_import_scikit_learn():
    code = "import sys, mathflow.data; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_dataset_rejects_mismatched_lengths_and_bad_labels():
    with pytest.raises(MathflowError, match="x has 3 samples but y has 2"):
        Dataset(np.zeros((3, 2), np.float32), np.zeros(2, np.int64))
    with pytest.raises(MathflowError, match="labels must lie in 0..1"):
        Dataset(np.zeros((3, 2), np.float32), np.array([0, 1, 2]), num_classes=2)
    with pytest.raises(MathflowError, match="task must be one of"):
        Dataset(np.zeros((3, 2), np.float32), np.zeros(3), task="ranking")


def test_builtin_tables_come_from_the_cache_once_read(tmp_path, monkeypatch):
    import sklearn.datasets

    monkeypatch.setenv("MATHFLOW_CACHE_DIR", str(tmp_path))
    first = load_dataset("iris")
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == [f"sklearn-{sklearn.__version__}-load_iris.npz"]

    def unavailable():
        raise AssertionError("scikit-learn was asked again")

    monkeypatch.setattr(sklearn.datasets, "load_iris", unavailable)
    again = load_dataset("iris")
    np.testing.assert_array_equal(again.x, first.x)
    np.testing.assert_array_equal(again.y, first.y)
    assert again.x.dtype == first.x.dtype and again.y.dtype == first.y.dtype
    assert (
        again.feature_names
        == first.feature_names
        == ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    )
    assert again.class_names == first.class_names == ["setosa", "versicolor", "virginica"]


def test_a_regression_table_from_the_cache_equals_scikit_learn(tmp_path, monkeypatch):
    import sklearn.datasets

    monkeypatch.setenv("MATHFLOW_CACHE_DIR", str(tmp_path))
    load_dataset("diabetes")  # fills the cache
    cached = load_dataset("diabetes")
    bunch = sklearn.datasets.load_diabetes()
    np.testing.assert_array_equal(cached.x, np.asarray(bunch.data, dtype=cached.x.dtype))
    np.testing.assert_array_equal(cached.y.ravel(), np.asarray(bunch.target, dtype=cached.y.dtype))
    assert cached.feature_names == list(bunch.feature_names)


def test_a_damaged_cache_entry_is_read_around(tmp_path, monkeypatch):
    import sklearn

    monkeypatch.setenv("MATHFLOW_CACHE_DIR", str(tmp_path))
    entry = tmp_path / "datasets" / f"sklearn-{sklearn.__version__}-load_wine.npz"
    entry.parent.mkdir()
    entry.write_bytes(b"not an npz file")
    ds = load_dataset("wine")
    assert ds.x.shape == (178, 13) and ds.num_classes == 3
