"""File readers: CSV (categorical columns, targets), NPZ, NPY pairs, IDX (hand-written bytes)."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from mathflow.data import (
    load_dataset,
    read_csv,
    read_idx,
    read_idx_pair,
    read_npy_pair,
    read_npz,
    write_idx,
)
from mathflow.data.files import parse_idx
from mathflow.errors import MathflowError

CSV_TEXT = """\
height,color,weight,species
1.5,red,10,cat
2.0,blue,12,dog
1.0,red,9,cat
3.5,green,30,dog
2.5,blue,14,bird
"""


@pytest.fixture()
def animals(tmp_path):
    path = tmp_path / "animals.csv"
    path.write_text(CSV_TEXT)
    return path


# --------------------------------------------------------------------------- CSV


def test_csv_one_hot_encodes_categorical_columns(animals):
    ds = read_csv(animals, target="species")
    assert ds.feature_names == ["height", "color=blue", "color=green", "color=red", "weight"]
    assert ds.x.dtype == np.float32 and ds.x.shape == (5, 5)
    np.testing.assert_array_equal(ds.x[:, 1:4], [[0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(ds.x[:, 0], [1.5, 2.0, 1.0, 3.5, 2.5])
    np.testing.assert_array_equal(ds.x[:, 4], [10, 12, 9, 30, 14])


def test_csv_string_target_maps_to_sorted_class_indices(animals):
    ds = read_csv(animals, target="species")
    assert ds.task == "classification" and ds.num_classes == 3
    assert ds.class_names == ["bird", "cat", "dog"]
    assert ds.y.dtype == np.int64 and ds.y.tolist() == [1, 2, 1, 2, 0]


def test_csv_ordinal_encoding(animals):
    ds = read_csv(animals, target="species", categorical="ordinal")
    assert ds.feature_names == ["height", "color", "weight"]
    assert ds.x[:, 1].tolist() == [2, 0, 2, 1, 0]  # blue=0, green=1, red=2


def test_csv_fixed_categories_and_class_names(animals):
    ds = read_csv(
        animals,
        target="species",
        categories={"color": ["red", "green", "blue", "violet"]},
        class_names=["dog", "cat", "bird"],
    )
    assert ds.feature_names[1:5] == ["color=red", "color=green", "color=blue", "color=violet"]
    assert ds.y.tolist() == [1, 0, 1, 0, 2]
    with pytest.raises(MathflowError, match=r"values \['green'\] outside its categories"):
        read_csv(animals, target="species", categories={"color": ["red", "blue"]})


def test_csv_target_defaults_to_last_column_and_features_can_be_chosen(animals):
    ds = read_csv(animals, features=["weight", "height"])
    assert ds.class_names == ["bird", "cat", "dog"]
    assert ds.feature_names == ["weight", "height"] and ds.x[0].tolist() == [10, 1.5]


def test_csv_numeric_targets(tmp_path):
    path = tmp_path / "num.csv"
    path.write_text("a,b,t\n1,2,0.5\n3,4,1.25\n5,6,2\n")
    ds = read_csv(path, target="t")
    assert ds.task == "regression" and ds.y.shape == (3, 1) and ds.y.dtype == np.float32
    assert ds.y[:, 0].tolist() == [0.5, 1.25, 2.0]

    path.write_text("a,b,t\n1,2,3\n3,4,1\n5,6,2\n")
    ds = read_csv(path, target="t")
    assert ds.task == "classification" and ds.class_names == ["1", "2", "3"] and ds.y.tolist() == [2, 0, 1]
    ds = read_csv(path, target="t", task="regression")
    assert ds.task == "regression" and ds.y[:, 0].tolist() == [3.0, 1.0, 2.0]

    path.write_text("a,t\n1,0\n3,2\n5,1\n")
    assert read_csv(path, target="t").y.tolist() == [0, 2, 1]


def test_csv_resolves_relative_paths_against_base_dir(animals):
    ds = read_csv("animals.csv", target="species", base_dir=animals.parent)
    assert len(ds) == 5


def test_csv_reads_gzipped_files(tmp_path):
    path = tmp_path / "animals.csv.gz"
    path.write_bytes(gzip.compress(CSV_TEXT.encode()))
    assert read_csv(path, target="species").x.shape == (5, 5)


def test_csv_errors(tmp_path, animals):
    with pytest.raises(MathflowError, match=r"data file not found: .*nothere\.csv"):
        read_csv("nothere.csv", base_dir=tmp_path)
    with pytest.raises(MathflowError, match=r"no target column 'specie'.*did you mean 'species'"):
        read_csv(animals, target="specie")
    with pytest.raises(MathflowError, match="cannot be a regression target"):
        read_csv(animals, target="species", task="regression")
    with pytest.raises(MathflowError, match="categorical must be one of"):
        read_csv(animals, categorical="binary")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,t\n1,2,0\n3,,1\n")
    with pytest.raises(MathflowError, match="line 3, column 'b': missing value"):
        read_csv(bad)
    bad.write_text("a,b,t\n1,2,0\n3,4\n")
    with pytest.raises(MathflowError, match="line 3 has 2 fields, the header has 3"):
        read_csv(bad)
    bad.write_text("a,t\n1,0.5\n2,1\n")
    with pytest.raises(MathflowError, match="non-integer values"):
        read_csv(bad, task="classification")


# --------------------------------------------------------------------------- NPZ / NPY


def test_npz_default_and_custom_keys(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 1, 1, 0])
    np.savez(tmp_path / "a.npz", x=x, y=y, inputs=x * 2, labels=y)
    ds = read_npz(tmp_path / "a.npz")
    assert ds.x.dtype == np.float32 and np.array_equal(ds.x, x) and ds.y.tolist() == [0, 1, 1, 0]
    ds = read_npz("a.npz", x_key="inputs", y_key="labels", base_dir=tmp_path)
    assert np.array_equal(ds.x, 2 * x)


def test_npz_bad_key_lists_the_available_keys(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((2, 3)), labels=np.zeros(2, np.int64))
    with pytest.raises(MathflowError, match=r"no array 'x' \(for x_key\); the archive holds: images, labels"):
        read_npz(tmp_path / "a.npz")
    with pytest.raises(MathflowError, match=r"no array 'target' \(for y_key\)"):
        read_npz(tmp_path / "a.npz", x_key="images", y_key="target")


def test_npz_float_targets_are_regression(tmp_path):
    np.savez(tmp_path / "r.npz", x=np.ones((3, 2)), y=np.array([0.1, 0.2, 0.3]))
    ds = read_npz(tmp_path / "r.npz")
    assert ds.task == "regression" and ds.y.shape == (3, 1)


def test_npz_missing_file(tmp_path):
    with pytest.raises(MathflowError, match=r"not found: .*missing\.npz"):
        read_npz(tmp_path / "missing.npz")


def test_npy_pair(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(8, dtype=np.float32).reshape(4, 2))
    np.save(tmp_path / "y.npy", np.array([2, 0, 1, 2]))
    ds = read_npy_pair("x.npy", "y.npy", base_dir=tmp_path)
    assert ds.x.shape == (4, 2) and ds.num_classes == 3 and ds.y.tolist() == [2, 0, 1, 2]
    ds2 = load_dataset({"npy": {"x": "x.npy", "y": "y.npy"}}, base_dir=tmp_path)
    assert np.array_equal(ds.x, ds2.x)
    with pytest.raises(MathflowError, match=r"not found: .*nope\.npy"):
        read_npy_pair("x.npy", "nope.npy", base_dir=tmp_path)
    np.save(tmp_path / "short.npy", np.array([0, 1]))
    with pytest.raises(MathflowError, match="x has 4 samples but y has 2"):
        read_npy_pair("x.npy", "short.npy", base_dir=tmp_path)


# --------------------------------------------------------------------------- IDX

# Three 2×3 images of unsigned bytes, written by hand: magic 0x00000803, dims 3, 2, 3.
IMAGES = bytes([0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3] + list(range(18)))
# Three labels: magic 0x00000801, dim 3, values 7 2 7.
LABELS = bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 7])


def test_idx_parse_of_hand_written_bytes(tmp_path):
    (tmp_path / "img.idx3-ubyte").write_bytes(IMAGES)
    arr = read_idx(tmp_path / "img.idx3-ubyte")
    assert arr.dtype == np.uint8 and arr.shape == (3, 2, 3)
    assert arr[1].tolist() == [[6, 7, 8], [9, 10, 11]]


def test_idx_big_endian_wide_types():
    raw = struct.pack(">HBBI", 0, 0x0C, 1, 2) + struct.pack(">ii", 258, -1)
    arr = parse_idx(raw)
    assert arr.tolist() == [258, -1] and arr.dtype.byteorder in ("=", "|", "<")
    raw = struct.pack(">HBBII", 0, 0x0D, 2, 1, 2) + struct.pack(">ff", 1.5, -2.25)
    assert parse_idx(raw).tolist() == [[1.5, -2.25]]


def test_idx_pair_gzipped_or_not(tmp_path):
    (tmp_path / "images").write_bytes(IMAGES)
    (tmp_path / "labels.gz").write_bytes(gzip.compress(LABELS))
    ds = read_idx_pair("images", "labels.gz", base_dir=tmp_path)
    assert ds.x.shape == (3, 2, 3) and ds.x.dtype == np.float32 and ds.x.max() == 17
    assert ds.y.dtype == np.int64 and ds.class_names == ["2", "7"] and ds.y.tolist() == [1, 0, 1]
    ds2 = load_dataset({"type": "idx", "images": "images", "labels": "labels.gz"}, base_dir=tmp_path)
    assert np.array_equal(ds.x, ds2.x)


def test_idx_errors(tmp_path):
    with pytest.raises(MathflowError, match="not an IDX file"):
        parse_idx(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(MathflowError, match=r"dimensions \(3, 2, 3\) of uint8 need 18 data bytes, the file has 17"):
        parse_idx(IMAGES[:-1])
    with pytest.raises(MathflowError, match="too short"):
        parse_idx(b"\x00\x00")
    (tmp_path / "images").write_bytes(IMAGES)
    (tmp_path / "labels").write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 2, 1, 2]))
    with pytest.raises(MathflowError, match="same number of samples"):
        read_idx_pair(tmp_path / "images", tmp_path / "labels")
    with pytest.raises(MathflowError, match=r"not found: .*absent"):
        read_idx(tmp_path / "absent")


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_write_idx_round_trip(tmp_path, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == "u1":
        arr = np.abs(arr).astype(dtype)
    for name in ("a.idx", "a.idx.gz"):
        write_idx(tmp_path / name, arr)
        back = read_idx(tmp_path / name)
        assert back.dtype == arr.dtype and np.array_equal(back, arr)
    assert (tmp_path / "a.idx.gz").read_bytes()[:2] == b"\x1f\x8b"


# --------------------------------------------------------------------------- non-finite values


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("csv", {"csv": {"path": "d.csv"}}),
        ("npy", {"npy": {"x": "x.npy", "y": "y.npy"}}),
        ("npz", {"npz": {"path": "d.npz"}}),
    ],
)
def test_nonfinite_values_need_the_sources_opt_in(tmp_path, kind, spec):
    x = np.arange(12.0).reshape(6, 2)
    x[4, 1] = np.nan
    y = np.arange(6) % 2
    (tmp_path / "d.csv").write_text("a,b,t\n" + "".join(f"{r[0]},{r[1]},{t}\n" for r, t in zip(x, y)))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    where = {"csv": "line 6, column 'b': 'nan'", "npy": "row 4, column 1 (from 0): nan", "npz": "row 4, column 1"}
    with pytest.raises(MathflowError, match=re.escape(where[kind]) + ".*allow_nonfinite: true"):
        load_dataset(spec, base_dir=tmp_path)
    ((name, params),) = spec.items()
    ds = load_dataset({name: {**params, "allow_nonfinite": True}}, base_dir=tmp_path)
    assert np.isnan(ds.x[4, 1]) and np.isfinite(np.delete(ds.x.reshape(-1), 9)).all()


def test_a_stray_word_does_not_make_a_numeric_column_categorical(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,t\n1,0\n2,1\nabc,0\n4,1\n5,0\n")
    with pytest.raises(MathflowError, match=r"line 4, column 'a': 'abc' is not a number, but 4 of the column's 5"):
        read_csv(path)
    ds = read_csv(path, categories={"a": ["1", "2", "4", "5", "abc"]})
    assert ds.feature_names == ["a=1", "a=2", "a=4", "a=5", "a=abc"]
    path.write_text("a,t\nred,0\nblue,1\n3,0\n")
    assert read_csv(path).feature_names == ["a=3", "a=blue", "a=red"]
