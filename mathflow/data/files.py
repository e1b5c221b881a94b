"""Data sets read from files: CSV, NPZ, a pair of NPY files, IDX (the MNIST format).

Relative paths are resolved against ``base_dir`` (the directory of the pipeline file, or the
current directory). A missing file raises :class:`MathflowError` naming the resolved path.

CSV encoding rules (a header row is required):

- the target is the column named ``target`` (default: the last column);
- a column is categorical when ``categories`` names it or when most of its values (more than
  half) are not numbers; categorical columns are one-hot encoded by default (one 0/1 column per
  category, categories in sorted order, named ``column=value``), or replaced by the category's
  index in sorted order with ``categorical="ordinal"``;
- any other column is numeric, and a value in it that is not a number raises, naming the line,
  the column and the value (a stray word never turns a numeric column into one-hot columns);
- a string target is a classification target: its sorted distinct values become
  ``class_names`` and the labels their indices;
- a numeric target is a regression target when ``task="regression"`` is asked for or when some
  value is not an integer; integer targets are classification targets otherwise;
- an empty field (or ``NA``, ``null``, ``none``, ``?``) raises, naming its line and column;
- a number that is not finite (``nan``, ``-nan``, ``inf``, ``-Infinity``, ``1e999``) raises, naming
  its line and column, unless ``allow_nonfinite=True``.

NPY and NPZ arrays (and IDX files of floats) are checked alike: a NaN or an infinity raises, naming
the array, the row and the column of the first one, unless ``allow_nonfinite=True``.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from mathflow.data.dataset import Dataset, dataset_from_arrays
from mathflow.errors import MathflowError

PathLike = str | os.PathLike[str]

_MISSING = {"", "na", "n/a", "null", "none", "?"}
NONFINITE_HINT = "set allow_nonfinite: true on the data source to let NaN and infinities through"
CATEGORICAL_MODES = ("onehot", "ordinal")


def resolve_path(path: PathLike, base_dir: PathLike | None = None, what: str = "data file") -> Path:
    """``path`` made absolute against ``base_dir``; raises if no such file exists."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = Path(base_dir or ".") / p
    if not p.is_file():
        where = f" (resolved against {Path(base_dir or '.').resolve()})" if not Path(path).is_absolute() else ""
        raise MathflowError(f"{what} not found: {p}{where}")
    return p


# --------------------------------------------------------------------------- CSV


def read_csv(
    path: PathLike,
    target: str | None = None,
    *,
    base_dir: PathLike | None = None,
    task: str | None = None,
    categorical: str = "onehot",
    delimiter: str = ",",
    features: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    categories: Mapping[str, Sequence[str]] | None = None,
    allow_nonfinite: bool = False,
) -> Dataset:
    """A data set from a CSV file with a header row (rules in the module docstring).

    ``features`` keeps only those columns (in that order); ``class_names`` fixes the label
    order; ``categories`` fixes the categories of categorical columns (so that separate train
    and test files encode alike) and declares them categorical.
    """
    if categorical not in CATEGORICAL_MODES:
        raise MathflowError(f"csv: categorical must be one of {', '.join(CATEGORICAL_MODES)}, not {categorical!r}")
    file = resolve_path(path, base_dir)
    header, columns, lines = _read_columns(file, delimiter)
    target_name, feature_cols = _select_columns(file, header, target, features)
    cells = _Cells(file, lines, allow_nonfinite)
    x, names, encoding = _encode_features(cells, columns, feature_cols, categorical, categories)
    y = _encode_target(cells, target_name, columns[target_name], task, categories)
    dataset = dataset_from_arrays(
        x,
        y,
        task=task,
        name=file.stem,
        description=f"CSV file {file.name}, target {target_name!r}",
        feature_names=names,
        class_names=class_names,
    )
    dataset.metadata.update(columns=encoding, target=target_name)  # the raw form a logged model takes
    return dataset


def _read_columns(file: Path, delimiter: str) -> tuple[list[str], dict[str, list[str]], list[int]]:
    """The header, the stripped values of each column and the file line of each data row; blank
    lines are skipped.

    Raises when the file is empty, has no data rows, or a row's width differs from the header's.
    """
    rows: list[list[str]] = []
    lines: list[int] = []
    with _open_text(file) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        for row in reader:
            if row and any(c.strip() for c in row):
                rows.append(row)
                lines.append(reader.line_num)
    if not rows:
        raise MathflowError(f"csv {file}: the file is empty (a header row is required)")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise MathflowError(f"csv {file}: no data rows after the header")
    for i, row in enumerate(body):
        if len(row) != len(header):
            fields = f"{len(row)} field{'s' * (len(row) != 1)}"
            raise MathflowError(f"csv {file}: line {lines[i + 1]} has {fields}, the header has {len(header)}")
    columns = {name: [row[j].strip() for row in body] for j, name in enumerate(header)}
    return header, columns, lines[1:]


def _select_columns(
    file: Path, header: list[str], target: str | None, features: Sequence[str] | None
) -> tuple[str, list[str]]:
    """The target column (default: the last) and the feature columns (default: all the others)."""
    target_name = header[-1] if target is None else target
    _require_column(file, target_name, header, "target column")
    feature_cols = [h for h in header if h != target_name] if features is None else list(features)
    for name in feature_cols:
        _require_column(file, name, header, "feature column")
    if not feature_cols:
        raise MathflowError(f"csv {file}: no feature columns besides the target {target_name!r}")
    return target_name, feature_cols


class _Cells:
    """Where the cells of a CSV file are (its data rows' file lines) and how numbers in it are read."""

    def __init__(self, file: Path, lines: list[int], allow_nonfinite: bool):
        self.file = file
        self.lines = lines
        self.allow_nonfinite = allow_nonfinite

    def error(self, row: int, column: str, message: str, suggestion: str | None = None) -> MathflowError:
        """``csv FILE: line L, column 'C': message`` for data row ``row`` (0-based)."""
        return MathflowError(
            f"csv {self.file}: line {self.lines[row]}, column {column!r}: {message}", suggestion=suggestion
        )

    def check_missing(self, column: str, values: list[str]) -> None:
        """Raise on the first empty or NA-like value of ``column``, naming its line."""
        for i, v in enumerate(values):
            if v.lower() in _MISSING:
                shown = "an empty field" if not v else f"{v!r}"
                raise self.error(i, column, f"missing value ({shown}); fill it in or drop the row")

    def numbers(self, column: str, values: list[str], declared_categorical: bool) -> np.ndarray | None:
        """The column as float64 when it is numeric, ``None`` when it is categorical (declared so, or
        more than half of its values are not numbers). A numeric column with a value that is not a
        number, or (without ``allow_nonfinite``) not finite, raises at that value's line."""
        if declared_categorical:
            return None
        parsed = [_to_float(v) for v in values]
        bad = [i for i, v in enumerate(parsed) if v is None]
        if len(bad) * 2 >= len(values):
            return None
        if bad:
            rows = ", ".join(str(self.lines[i]) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
            others = f" (text on lines {rows})" if len(bad) > 1 else ""
            raise self.error(
                bad[0],
                column,
                f"{values[bad[0]]!r} is not a number, but {len(values) - len(bad)} of the column's "
                f"{len(values)} values are{others}",
                suggestion="fix the value, or declare the column categorical under 'categories'",
            )
        array = np.array(parsed, dtype=np.float64)
        if not self.allow_nonfinite:
            finite = np.isfinite(array)
            if not finite.all():
                i = int(np.argmin(finite))
                raise self.error(i, column, f"{values[i]!r} is not a finite number", suggestion=NONFINITE_HINT)
        return array


def _to_float(text: str) -> float | None:
    """``text`` as a float (``nan``/``inf`` spellings included), None when it is not a number."""
    try:
        return float(text)
    except ValueError:
        return None


def _encode_features(
    cells: _Cells,
    columns: dict[str, list[str]],
    feature_cols: list[str],
    categorical: str,
    categories: Mapping[str, Sequence[str]] | None,
) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """The float32 feature matrix, the name of each of its columns and the encoding of each raw
    column, ``{"name", "kind": "number" | "onehot" | "ordinal", "categories"?}``."""
    blocks: list[np.ndarray] = []
    names: list[str] = []
    encoding: list[dict[str, Any]] = []
    for name in feature_cols:
        block, block_names, cats = _encode_column(cells, name, columns[name], categorical, categories)
        blocks.append(block)
        names.extend(block_names)
        kind = {"kind": "number"} if cats is None else {"kind": categorical, "categories": cats}
        encoding.append({"name": name, **kind})
    x = np.concatenate(blocks, axis=1).astype(np.float32)
    return x, names, encoding


def _encode_column(
    cells: _Cells,
    name: str,
    values: list[str],
    categorical: str,
    categories: Mapping[str, Sequence[str]] | None,
) -> tuple[np.ndarray, list[str], list[str] | None]:
    """One feature column as a 2-D block (numbers as they are, categories one-hot or ordinal), its
    names and its categories (None for a number column)."""
    cells.check_missing(name, values)
    numeric = cells.numbers(name, values, categories is not None and name in categories)
    if numeric is not None:
        return numeric[:, None], [name], None
    cats = _categories(cells.file, name, values, categories)
    index = {c: i for i, c in enumerate(cats)}
    codes = np.array([index[v] for v in values], dtype=np.int64)
    if categorical == "ordinal":
        return codes.astype(np.float64)[:, None], [name], cats
    return np.eye(len(cats), dtype=np.float64)[codes], [f"{name}={c}" for c in cats], cats


def _encode_target(
    cells: _Cells,
    target_name: str,
    raw_target: list[str],
    task: str | None,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> np.ndarray:
    """The target values: text kept as strings (classification), numbers as float64."""
    file = cells.file
    cells.check_missing(target_name, raw_target)
    numeric_target = cells.numbers(target_name, raw_target, categories is not None and target_name in categories)
    if numeric_target is None:
        if task == "regression":
            raise MathflowError(f"csv {file}: target {target_name!r} holds text, so it cannot be a regression target")
        return np.asarray(raw_target)
    if task == "classification" and not np.all(numeric_target == np.round(numeric_target)):
        raise MathflowError(f"csv {file}: target {target_name!r} has non-integer values; use task: regression for them")
    return numeric_target


def _open_text(file: Path) -> IO[str]:
    """The file opened as UTF-8 text (BOM skipped), gunzipped when it is gzip data."""
    if _is_gzip(file):
        return io.TextIOWrapper(gzip.open(file, "rb"), encoding="utf-8-sig", newline="")
    return open(file, encoding="utf-8-sig", newline="")


def _require_column(file: Path, name: str, header: list[str], what: str) -> None:
    """Raise, suggesting the closest header name, when ``name`` is not a column."""
    if name not in header:
        import difflib

        close = difflib.get_close_matches(name, header, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"columns: {', '.join(header)}"
        raise MathflowError(f"csv {file}: no {what} {name!r}", suggestion=hint)


def _categories(file: Path, column: str, values: list[str], fixed: Mapping[str, Sequence[str]] | None) -> list[str]:
    """The categories of ``column``: the fixed ones (every value must be among them) or the sorted values."""
    if fixed is None or column not in fixed:
        return sorted(set(values))
    cats = [str(c) for c in fixed[column]]
    unknown = sorted(set(values) - set(cats))
    if unknown:
        raise MathflowError(f"csv {file}: column {column!r} has values {unknown[:5]} outside its categories {cats}")
    return cats


# --------------------------------------------------------------------------- NPZ / NPY


def check_finite(array: np.ndarray, where: str) -> None:
    """Raise, naming the row and column (or the index) of the first NaN or infinity in ``array``
    and how many there are, when a numeric ``array`` holds one; ``where`` starts the message."""
    if array.dtype.kind not in "fc":
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    index = np.unravel_index(int(np.argmin(finite.reshape(-1))), array.shape)
    if array.ndim == 1:
        at = f"row {index[0]} (from 0)"
    elif array.ndim == 2:
        at = f"row {index[0]}, column {index[1]} (from 0)"
    else:
        at = f"row {index[0]}, index {list(map(int, index[1:]))} (from 0)"
    count = int(finite.size - np.count_nonzero(finite))
    more = f" ({count} non-finite values in all)" if count > 1 else ""
    raise MathflowError(f"{where}: {at}: {array[index]} is not a finite number{more}", suggestion=NONFINITE_HINT)


def read_npz(
    path: PathLike,
    *,
    x_key: str = "x",
    y_key: str = "y",
    base_dir: PathLike | None = None,
    task: str | None = None,
    class_names: Sequence[str] | None = None,
    allow_nonfinite: bool = False,
) -> Dataset:
    """A data set from the arrays ``x_key`` and ``y_key`` of an ``.npz`` archive."""
    file = resolve_path(path, base_dir)
    try:
        archive = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise MathflowError(f"npz {file}: cannot be read as a NumPy archive ({exc})") from None
    with archive:
        keys = list(archive.files)
        for role, key in (("x_key", x_key), ("y_key", y_key)):
            if key not in keys:
                raise MathflowError(
                    f"npz {file}: no array {key!r} (for {role}); the archive holds: {', '.join(keys) or 'nothing'}"
                )
        x, y = archive[x_key], archive[y_key]
    if not allow_nonfinite:
        check_finite(x, f"npz {file}: array {x_key!r}")
        check_finite(y, f"npz {file}: array {y_key!r}")
    return dataset_from_arrays(
        x, y, task=task, name=file.stem, description=f"NPZ archive {file.name}", class_names=class_names
    )


def read_npy_pair(
    x_path: PathLike,
    y_path: PathLike,
    *,
    base_dir: PathLike | None = None,
    task: str | None = None,
    class_names: Sequence[str] | None = None,
    allow_nonfinite: bool = False,
) -> Dataset:
    """A data set from two ``.npy`` files: inputs and targets."""
    x_file = resolve_path(x_path, base_dir)
    y_file = resolve_path(y_path, base_dir)
    arrays = []
    for file in (x_file, y_file):
        try:
            arrays.append(np.load(file, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise MathflowError(f"npy {file}: cannot be read as a NumPy array ({exc})") from None
        if not allow_nonfinite:
            check_finite(arrays[-1], f"npy {file}")
    return dataset_from_arrays(
        arrays[0],
        arrays[1],
        task=task,
        name=x_file.stem,
        description=f"NPY files {x_file.name}, {y_file.name}",
        class_names=class_names,
    )


# --------------------------------------------------------------------------- IDX

# IDX layout: two zero bytes, a type code, the number of dimensions, then each dimension as a
# big-endian uint32, then the values in C order, big-endian.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _is_gzip(file: Path) -> bool:
    with open(file, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def parse_idx(raw: bytes, source: str = "idx data") -> np.ndarray:
    """The array stored in IDX bytes (already decompressed), in native byte order."""
    if len(raw) < 4:
        raise MathflowError(f"{source}: too short to be an IDX file ({len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in IDX_TYPES:
        raise MathflowError(
            f"{source}: not an IDX file (magic number 0x{int.from_bytes(raw[:4], 'big'):08X}; expected "
            f"0x0000TTDD with type code TT in {', '.join(f'0x{c:02X}' for c in IDX_TYPES)})"
        )
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise MathflowError(f"{source}: the header declares {ndim} dimensions but the file ends early")
    dims = struct.unpack(f">{ndim}I", raw[4:header_end]) if ndim else ()
    dtype = IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_end
    if actual != expected:
        raise MathflowError(
            f"{source}: dimensions {tuple(dims)} of {dtype.name} need {expected} data bytes, the file has {actual}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path: PathLike, *, base_dir: PathLike | None = None) -> np.ndarray:
    """The array in an IDX file, gzipped or not (detected from the content, not the name)."""
    file = resolve_path(path, base_dir)
    if _is_gzip(file):
        try:
            with gzip.open(file, "rb") as handle:
                raw = handle.read()
        except (OSError, EOFError) as exc:
            raise MathflowError(f"idx {file}: broken gzip stream ({exc})") from None
    else:
        raw = file.read_bytes()
    return parse_idx(raw, f"idx {file}")


def write_idx(path: PathLike, array: Any, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzipped when ``compress`` or when the name ends in ``.gz``)."""
    arr = np.asarray(array)
    by_kind = {np.dtype(t).newbyteorder("="): code for code, t in IDX_TYPES.items()}
    code = by_kind.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise MathflowError(f"write_idx: dtype {arr.dtype} has no IDX type code")
    if arr.ndim > 255:
        raise MathflowError("write_idx: too many dimensions")
    payload = struct.pack(f">HBB{arr.ndim}I", 0, code, arr.ndim, *arr.shape)
    payload += np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()
    out = Path(path)
    if compress or (compress is None and out.suffix == ".gz"):
        payload = gzip.compress(payload)
    out.write_bytes(payload)
    return out


def read_idx_pair(
    images: PathLike,
    labels: PathLike,
    *,
    base_dir: PathLike | None = None,
    class_names: Sequence[str] | None = None,
) -> Dataset:
    """A classification data set from an IDX images file and an IDX labels file (MNIST layout).

    Images keep their stored values (e.g. 0–255) as float32 of shape ``(n, rows, cols)``.
    """
    x = read_idx(images, base_dir=base_dir)
    y = read_idx(labels, base_dir=base_dir)
    check_finite(x, f"idx {images}")
    if y.ndim != 1:
        raise MathflowError(f"idx {labels}: labels must be one-dimensional, got shape {tuple(y.shape)}")
    if x.ndim < 2 or len(x) != len(y):
        raise MathflowError(
            f"idx: images {tuple(x.shape)} and labels {tuple(y.shape)} do not hold the same number of samples"
        )
    return dataset_from_arrays(
        x,
        y.astype(np.int64),
        task="classification",
        name=Path(images).name.split(".")[0],
        description=f"IDX files {Path(images).name}, {Path(labels).name}",
        class_names=class_names,
    )
