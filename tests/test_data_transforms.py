"""Transforms: fitted on train only, applied everywhere, serializable; PCA against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from mathflow.data import TRANSFORMS, Dataset, Pipeline, Transform, load_dataset, make_transform, split
from mathflow.data.transforms import PCA, MinMax, OneHot, Reshape, Standardize
from mathflow.errors import MathflowError


@pytest.fixture(scope="module")
def digits_parts():
    return split(load_dataset("digits"), {"train": 0.7, "test": 0.3}, seed=0)


@pytest.fixture(scope="module")
def shifted():
    """Train and test drawn from different distributions, so their statistics differ."""
    rng = np.random.default_rng(0)
    train = rng.normal(2.0, 3.0, size=(200, 4)).astype(np.float32)
    test = rng.normal(-1.0, 0.5, size=(50, 4)).astype(np.float32)
    return train, test


# --------------------------------------------------------------------------- standardize / minmax


def test_standardize_uses_training_statistics_only(shifted):
    train, test = shifted
    t = Standardize().fit(train)
    out_train, out_test = t(train), t(test)
    assert out_train.dtype == np.float32
    np.testing.assert_allclose(out_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out_train.std(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(t.mean, train.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(out_test, (test - train.mean(axis=0)) / train.std(axis=0), rtol=1e-4, atol=1e-5)
    assert np.all(np.abs(out_test.mean(axis=0)) > 0.5)  # test statistics differ from train


def test_standardize_leaves_zero_variance_features_unscaled(digits_parts):
    train = digits_parts["train"].x
    t = Standardize().fit(train)
    constant = train.std(axis=0) == 0
    assert constant.any()
    out = t(train)
    assert np.all(np.isfinite(out)) and np.all(out[:, constant] == 0)
    assert np.all(t.scale[constant] == 1.0)


def test_minmax_maps_the_training_range_to_unit_interval(shifted):
    train, test = shifted
    t = MinMax().fit(train)
    out = t(train)
    np.testing.assert_allclose(out.min(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(out.max(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose(t(test), (test - train.min(0)) / (train.max(0) - train.min(0)), rtol=1e-5, atol=1e-6)
    far = np.concatenate([test * 10, train * 10])
    assert (t(far) < 0).any() and (t(far) > 1).any()
    clipped = MinMax(clip=True).fit(train)(far)
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_minmax_on_digits_constant_pixels_map_to_zero(digits_parts):
    t = MinMax().fit(digits_parts["train"].x)
    out = t(digits_parts["train"].x)
    assert out.min() == 0.0 and out.max() == 1.0 and np.all(np.isfinite(out))


# --------------------------------------------------------------------------- one_hot


def test_one_hot_targets():
    y = np.array([2, 0, 1, 2])
    t = OneHot().fit(y)
    out = t(y)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    assert np.array_equal(out.argmax(axis=1), y) and np.all(out.sum(axis=1) == 1)
    with pytest.raises(MathflowError, match=r"labels must lie in 0..2"):
        t(np.array([3]))


def test_one_hot_takes_the_class_count_from_the_data_set():
    ds = Dataset(np.zeros((3, 1), np.float32), np.array([0, 1, 1]), num_classes=4)
    out = Pipeline(["one_hot"]).fit(ds).transform(ds)
    assert out.y.shape == (3, 4) and out.x is ds.x


def test_one_hot_rejects_regression_targets():
    ds = load_dataset("regression", n=10)
    with pytest.raises(MathflowError, match="needs a classification target"):
        Pipeline(["one_hot"]).fit(ds)


# --------------------------------------------------------------------------- PCA


def test_pca_matches_scikit_learn_up_to_sign(digits_parts):
    sk = pytest.importorskip("sklearn.decomposition")
    train = digits_parts["train"].x.astype(np.float64)
    test = digits_parts["test"].x.astype(np.float64)
    ours = PCA(10).fit(train)
    ref = sk.PCA(n_components=10, svd_solver="full").fit(train)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-8)
    a, b = ours(test), ref.transform(test)
    signs = np.sign(np.sum(a * b, axis=0))
    assert np.all(signs != 0)
    np.testing.assert_allclose(a * signs, b, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(np.abs(ours.components), np.abs(ref.components_), atol=1e-8)


def test_pca_float32_input_gives_float32_output(digits_parts):
    t = PCA(5).fit(digits_parts["train"].x)
    out = t(digits_parts["test"].x)
    assert out.dtype == np.float32 and out.shape == (len(digits_parts["test"]), 5)


def test_pca_top_singular_values_are_the_directions_of_highest_variance():
    rng = np.random.default_rng(1)
    x = (
        rng.standard_normal((400, 6))
        @ np.diag([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
        @ np.linalg.qr(rng.standard_normal((6, 6)))[0]
    )
    t = PCA(6).fit(x)
    proj = t(x)
    var = proj.var(axis=0, ddof=1)
    np.testing.assert_allclose(var, t.singular_values**2 / (len(x) - 1), rtol=1e-10)
    assert np.all(np.diff(var) <= 0)
    # no unit direction holds more variance than the first axis
    xc = x - x.mean(axis=0)
    dirs = rng.standard_normal((500, 6))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    assert (xc @ dirs.T).var(axis=0, ddof=1).max() <= var[0] + 1e-9
    # axes are orthonormal and sign-normalised (largest-magnitude entry positive)
    np.testing.assert_allclose(t.components @ t.components.T, np.eye(6), atol=1e-10)
    assert np.all(t.components[np.arange(6), np.abs(t.components).argmax(axis=1)] > 0)


def test_pca_explained_variance_fraction_chooses_the_fewest_components(digits_parts):
    train = digits_parts["train"].x
    full = PCA(64).fit(train).explained_variance_ratio_
    cumulative = np.cumsum(full)
    t = PCA(0.9).fit(train)
    k = t.components.shape[0]
    assert cumulative[k - 1] >= 0.9 - 1e-12 and cumulative[k - 2] < 0.9
    assert PCA(1.0).fit(train).components.shape[0] >= k
    assert Pipeline([{"pca": {"n_components": 0.9}}]).fit(digits_parts["train"]).output_shape() == (k,)


def test_pca_flattens_multi_axis_samples_and_names_components():
    ds = load_dataset("synthetic", n=20, sample_shape=[2, 3], num_classes=2)
    out = Pipeline([{"pca": {"n_components": 3}}]).fit_transform(ds)
    assert out.x.shape == (20, 3) and out.feature_names == ["pc1", "pc2", "pc3"]


@pytest.mark.parametrize(
    ("value", "pattern"),
    [(0, r"count \(integer ≥ 1\)"), (1.5, r"in \(0, 1\]"), (0.0, r"in \(0, 1\]"), ("3", r"must be a count .*got '3'")],
)
def test_pca_bad_component_counts(value, pattern):
    with pytest.raises(MathflowError, match=pattern):
        PCA(value)


def test_pca_more_components_than_features_raises():
    with pytest.raises(MathflowError, match="n_components=5 exceeds the 4 features"):
        PCA(5).fit(np.ones((10, 4)))


# --------------------------------------------------------------------------- reshape / flatten


def test_reshape_and_flatten(digits_parts):
    x = digits_parts["train"].x
    r = Reshape([1, 8, 8]).fit(x)
    img = r(x)
    assert img.shape == (len(x), 1, 8, 8) and np.array_equal(img[:, 0, 2, 3], x[:, 19])
    assert Reshape([-1, 8]).fit(x)(x).shape == (len(x), 8, 8)
    assert Reshape([64]).output_shape((8, 8)) == (64,)
    flat = make_transform("flatten").fit(img)
    assert np.array_equal(flat(img), x)


def test_reshape_size_mismatch_names_the_shapes():
    with pytest.raises(
        MathflowError, match=r"samples of shape \(64,\) \(64 values\) cannot be reshaped to \(1, 8, 7\)"
    ):
        Reshape([1, 8, 7]).fit(np.zeros((2, 64)))
    with pytest.raises(MathflowError, match=r"cannot be reshaped to \(-1, 7\)"):
        Reshape([-1, 7]).fit(np.zeros((2, 64)))
    with pytest.raises(MathflowError, match="positive integers"):
        Reshape([1, 0, 8])
    with pytest.raises(MathflowError, match=r"one entry may be -1\), got \[-1, -1\]"):
        Reshape([-1, -1])
    with pytest.raises(MathflowError, match=r"\(64,\).*\(1, 8, 7\)"):
        Pipeline([{"reshape": {"shape": [1, 8, 7]}}]).output_shape((64,))


# --------------------------------------------------------------------------- specs


def test_three_yaml_forms_build_the_same_transform():
    a = make_transform({"reshape": {"shape": [1, 8, 8]}})
    b = make_transform({"type": "reshape", "shape": [1, 8, 8]})
    assert isinstance(a, Reshape) and a.params() == b.params() == {"shape": [1, 8, 8]}
    assert isinstance(make_transform("minmax"), MinMax)
    assert isinstance(make_transform({"standardize": None}), Standardize)
    assert make_transform(a) is a
    assert {"standardize", "minmax", "one_hot", "pca", "reshape", "flatten"} <= set(TRANSFORMS.names())


def test_bad_transform_specs_raise():
    with pytest.raises(MathflowError, match=r"unknown transform 'minmx'.*did you mean 'minmax'"):
        make_transform("minmx")
    with pytest.raises(MathflowError, match=r"no parameter 'shap'.*did you mean 'shape'"):
        make_transform({"reshape": {"shap": [1, 8, 8]}})
    with pytest.raises(MathflowError, match="needs the parameter shape"):
        make_transform("reshape")
    with pytest.raises(MathflowError, match="ambiguous"):
        make_transform({"minmax": {}, "flatten": {}})


# --------------------------------------------------------------------------- state and pipeline


@pytest.mark.parametrize(
    "spec",
    [
        "standardize",
        "minmax",
        {"minmax": {"clip": True}},
        {"pca": {"n_components": 4}},
        {"pca": {"n_components": 0.8}},
        "flatten",
        {"reshape": {"shape": [2, -1]}},
    ],
)
def test_state_round_trip(spec, shifted):
    train, test = shifted
    t = make_transform(spec).fit(train)
    state = t.state()
    assert state["type"] == t.registry_name and all(isinstance(v, np.ndarray) for v in state["arrays"].values())
    back = Transform.from_state(state)
    assert type(back) is type(t) and back.params() == t.params()
    np.testing.assert_array_equal(back(test), t(test))


def test_one_hot_state_round_trip():
    t = OneHot().fit(np.array([0, 3, 1]))
    back = Transform.from_state(t.state())
    np.testing.assert_array_equal(back(np.array([3, 2])), t(np.array([3, 2])))


def test_transforms_refuse_use_before_fit_and_wrong_shapes(shifted):
    train, _ = shifted
    with pytest.raises(MathflowError, match="used before it was fitted"):
        Standardize()(train)
    with pytest.raises(MathflowError, match="used before it was fitted"):
        Pipeline(["minmax"]).transform(Dataset(train, np.zeros(len(train), np.int64)))
    t = Standardize().fit(train)
    with pytest.raises(MathflowError, match=r"fitted on samples of shape \(4,\), got samples of shape \(3,\)"):
        t(train[:, :3])


def test_pipeline_fits_on_train_and_transforms_every_split(digits_parts, tmp_path):
    pipe = Pipeline.from_spec(
        ["standardize", {"pca": {"n_components": 16}}, {"reshape": {"shape": [1, 4, 4]}}, "one_hot"]
    )
    train, test = digits_parts["train"], digits_parts["test"]
    pipe.fit(train)
    assert pipe.output_shape() == (1, 4, 4) and pipe.output_shape((64,)) == (1, 4, 4)
    out_train, out_test = pipe.transform(train), pipe.transform(test)
    assert out_train.x.shape == (len(train), 1, 4, 4) and out_test.y.shape == (len(test), 10)
    assert out_test.num_classes == 10 and out_test.class_names == test.class_names
    # the standardizer inside holds the training statistics, not the test ones
    std = pipe.transforms[0]
    np.testing.assert_allclose(std.mean, train.x.astype(np.float64).mean(axis=0))
    assert not np.allclose(std.mean, test.x.astype(np.float64).mean(axis=0))
    np.testing.assert_array_equal(pipe.transform_x(test.x), out_test.x)
    np.testing.assert_array_equal(pipe.transform_y(test.y), out_test.y)

    back = Pipeline.from_state(pipe.state())
    np.testing.assert_array_equal(back.transform(test).x, out_test.x)
    saved = Pipeline.load(pipe.save(tmp_path / "pipe.npz"))
    np.testing.assert_array_equal(saved.transform(test).x, out_test.x)
    np.testing.assert_array_equal(saved.transform(test).y, out_test.y)
    assert saved.output_shape() == (1, 4, 4) and len(saved) == 4


def test_empty_pipeline_is_the_identity(digits_parts):
    pipe = Pipeline.from_spec(None).fit(digits_parts["train"])
    out = pipe.transform(digits_parts["test"])
    assert out.x is digits_parts["test"].x and pipe.output_shape() == (64,)
