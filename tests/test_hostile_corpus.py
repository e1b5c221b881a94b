"""The in-process part of the hostile corpus: bad numbers in data files and math pipelines, store files
that are not stores. Every case has an expected outcome; :func:`test_outcome_counts` prints how many
cases end in each outcome (a clean located error, an unclear error, a traceback, a silent wrong answer).

- ``tests/hostile/math/*.yaml`` and ``tests/hostile/pipelines/*.yaml`` carry a header
  ``# expect-STAGE: LINE:COL: text``: the stage (``validate``, ``run``, ``build``) at which the file is
  refused, and the start of the located message.
- The CSV, NPY/NPZ and store cases are tables below.

The same cases go through the real ``mathflow`` command in ``tests/test_hostile_cli.py`` (all but
``FAULTS``); real signals, full disks and read-only stores are in ``tests/test_hostile_faults.py``.
"""

from __future__ import annotations

import collections
import errno
import gzip
import re
import socket
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mathflow.data.files import read_csv, read_npy_pair, read_npz
from mathflow.errors import MathflowError

HOSTILE = Path(__file__).parent / "hostile"
EXPECT = re.compile(r"^# expect-(validate|run|build): (\d+):(\d+): (.*)$", re.M)
YAML_CASES = sorted([*HOSTILE.glob("math/*.yaml"), *HOSTILE.glob("pipelines/*.yaml")])


# ---------------------------------------------------------------------------------- YAML corpus
def _refuse_yaml(path: Path, stage: str) -> None:
    """Run ``path`` in-process up to ``stage`` (no store, no subprocess)."""
    if path.parent.name == "math":
        from mathflow.mathpipe.problem import load_problem
        from mathflow.mathpipe.runner import compute, require_finite, validate_math

        validate_math(path.name)
        if stage == "run":
            problem = load_problem(path.name)
            result, _, _ = compute(problem)
            require_finite(problem, result)
        return
    from mathflow.autodiff.tensor import Tensor
    from mathflow.pipeline import load_pipeline

    _, compiled = load_pipeline(path.name)
    if stage == "build":
        compiled.build_optimizer([Tensor(np.zeros(2), requires_grad=True)])
        compiled.build_schedule()


def _yaml_case(path: Path) -> Callable[[], tuple[str, str]]:
    match = EXPECT.search(path.read_text(encoding="utf-8"))
    assert match, f"{path.name} has no '# expect-STAGE: LINE:COL: text' header"
    stage, line, col, text = match[1], match[2], match[3], match[4].strip()

    def run() -> tuple[str, str]:
        expected = f"^{re.escape(f'{path.name}:{line}:{col}: ')}.*{re.escape(text)}"
        return _outcome(lambda: _refuse_yaml(path, stage), expected, chdir=path.parent)

    return run


# ---------------------------------------------------------------------------------- CSV cases
HEADER = "a,b,label\n"
ROWS = ["0.5,1.5,0", "1.0,2.0,1", "1.5,2.5,0", "2.0,3.0,1", "2.5,3.5,0", "3.0,4.0,1"]


def _with(row: int, col: int, value: str, rows: list[str] = ROWS) -> str:
    cells = [r.split(",") for r in rows]
    cells[row][col] = value
    return HEADER + "\n".join(",".join(r) for r in cells) + "\n"


NONFINITE_SPELLINGS = [
    "nan", "NaN", "NAN", "-nan", "+nan", "inf", "-inf", "+inf", "Inf", "INF",
    "infinity", "-Infinity", "INFINITY", "1e999", "-1e999", "1e400",
]  # fmt: skip
STRAY_TEXT = ["oops", "1,5", "1.2.3", "one", "$5", "5%", "1e", "--1", "0x10", "true", "#N/A", "'3'"]
MISSING = ["", "NA", "na", "null", "None", "?", "n/a"]

#: name → (CSV text, read_csv options, expected message (regex) or None when the file loads)
CSV_CASES: dict[str, tuple[str, dict[str, Any], str | None]] = {}
for _i, _v in enumerate(NONFINITE_SPELLINGS):
    CSV_CASES[f"nonfinite_feature_{_i}_{_v}"] = (
        _with(2, _i % 2, _v),
        {},
        rf"line 4, column '{'ab'[_i % 2]}': {re.escape(repr(_v))} is not a finite number",
    )
for _v in ("nan", "-inf", "Infinity"):
    CSV_CASES[f"nonfinite_target_{_v}"] = (_with(4, 2, _v), {"task": "regression"}, rf"line 6, column 'label': '{_v}'")
for _i, _v in enumerate(STRAY_TEXT):
    CSV_CASES[f"stray_text_{_i}"] = (
        _with(3, 1, f'"{_v}"' if "," in _v else _v),
        {},
        rf"line 5, column 'b': {re.escape(repr(_v))} is not a number, but 5 of the column's 6 values are",
    )
for _i, _v in enumerate(MISSING):
    CSV_CASES[f"missing_{_i}"] = (_with(1, 0, _v), {}, r"line 3, column 'a': missing value")
CSV_CASES.update(
    {
        "stray_text_two_rows": (
            _with(0, 0, "x", [r for r in _with(5, 0, "y").splitlines()[1:]]),
            {},
            r"line 2, column 'a': 'x' is not a number, but 4 of the column's 6 values are \(text on lines 2, 7\)",
        ),
        "stray_text_in_target": (_with(2, 2, "two"), {}, r"line 4, column 'label': 'two' is not a number"),
        "blank_lines_keep_line_numbers": (
            HEADER + "\n" + "\n".join(ROWS[:3]) + "\n\n" + "inf,3.5,0\n",
            {},
            r"line 7, column 'a': 'inf' is not a finite number",
        ),
        "crlf_line_endings": (_with(1, 1, "-nan").replace("\n", "\r\n"), {}, r"line 3, column 'b': '-nan'"),
        "quoted_padded_inf": (_with(0, 0, '" inf "'), {}, r"line 2, column 'a': 'inf' is not a finite number"),
        "ragged_row": (HEADER + "1,2,0\n3,4\n", {}, r"line 3 has 2 fields, the header has 3"),
        "empty_file": ("", {}, r"the file is empty"),
        "header_only": (HEADER, {}, r"no data rows after the header"),
        "regression_target_text": (
            _with(0, 2, "x", ["1,2,a", "3,4,b", "5,6,c"]),
            {"task": "regression"},
            r"target 'label' holds text, so it cannot be a regression target",
        ),
        # what loads, as documented
        "allowed_nan_and_inf": (
            _with(2, 0, "nan", [r for r in _with(3, 1, "inf").splitlines()[1:]]),
            {"allow_nonfinite": True},
            None,
        ),
        "allowed_overflow": (_with(0, 1, "1e999"), {"allow_nonfinite": True}, None),
        "text_column_is_categorical": ("a,color,label\n1,red,0\n2,blue,1\n3,red,0\n4,7,1\n", {}, None),
        "declared_categorical_numbers": (
            _with(0, 1, "9"),
            {"categories": {"b": ["9", "2.0", "2.5", "3.0", "3.5", "4.0"]}},
            None,
        ),
        "text_target_is_classes": ("a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n", {}, None),
        "plain_numbers": (HEADER + "\n".join(ROWS) + "\n", {}, None),
    }
)


def _csv_case(name: str, tmp: Path) -> Callable[[], tuple[str, str]]:
    text, options, expected = CSV_CASES[name]

    def run() -> tuple[str, str]:
        path = tmp / f"{name}.csv"
        path.write_text(text, encoding="utf-8", newline="")
        where = re.escape(f"{path.name}: ")
        return _outcome(lambda: _check_loaded(read_csv(path, **options), name), expected and where + expected)

    return run


def _check_loaded(ds: Any, name: str) -> None:
    """The accepted files load as documented."""
    if name == "allowed_nan_and_inf":
        assert np.isnan(ds.x[2, 0]) and np.isinf(ds.x[3, 1])
    elif name == "text_column_is_categorical":
        assert ds.feature_names == ["a", "color=7", "color=blue", "color=red"]
    elif name == "declared_categorical_numbers":
        assert len(ds.feature_names) == 7
    elif name == "text_target_is_classes":
        assert ds.class_names == ["cat", "dog"]


# ---------------------------------------------------------------------------------- NPY / NPZ cases
def _x(bad: Any = None, at: tuple[int, ...] = (3, 1), shape: tuple[int, ...] = (8, 2), dtype: Any = np.float64) -> Any:
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    if bad is not None:
        x[at] = bad
    with np.errstate(over="ignore"):
        return x.astype(dtype)


Y = np.arange(8) % 2
#: name → (x, y, options, expected message or None)
ARRAY_CASES: dict[str, tuple[Any, Any, dict[str, Any], str | None]] = {
    "x_nan": (_x(np.nan), Y, {}, r"row 3, column 1 \(from 0\): nan is not a finite number"),
    "x_inf": (_x(np.inf, (0, 0)), Y, {}, r"row 0, column 0 \(from 0\): inf is not a finite number"),
    "x_neg_inf_last": (_x(-np.inf, (7, 1)), Y, {}, r"row 7, column 1 \(from 0\): -inf"),
    "x_float32_nan": (_x(np.nan, dtype=np.float32), Y, {}, r"row 3, column 1 \(from 0\): nan"),
    "x_float16_overflow": (_x(1e6, (2, 0), dtype=np.float16), Y, {}, r"row 2, column 0 \(from 0\): inf"),
    "x_complex_nan": (
        _x(dtype=np.complex128) + np.where(np.arange(16).reshape(8, 2) == 5, np.nan, 0),
        Y,
        {},
        "row 2, column 1",
    ),
    "x_3d_nan": (_x(np.nan, (4, 1, 2), (8, 2, 3)), Y, {}, r"row 4, index \[1, 2\] \(from 0\): nan"),
    "x_all_nan": (
        np.full((8, 2), np.nan),
        Y,
        {},
        r"row 0, column 0 \(from 0\): nan is not a finite number \(16 non-finite values in all\)",
    ),
    "y_nan": (_x(), np.where(np.arange(8) == 6, np.nan, 1.0), {}, r"row 6 \(from 0\): nan"),
    "y_inf_regression": (
        _x(),
        np.where(np.arange(8) == 1, -np.inf, 0.5),
        {"task": "regression"},
        r"row 1 \(from 0\): -inf",
    ),
    "allowed": (_x(np.nan), Y, {"allow_nonfinite": True}, None),
    "integers": (_x(dtype=np.int64), Y, {}, None),
}


def _array_case(name: str, kind: str, tmp: Path) -> Callable[[], tuple[str, str]]:
    x, y, options, expected = ARRAY_CASES[name]

    def run() -> tuple[str, str]:
        if kind == "npz":
            path = tmp / f"{name}.npz"
            np.savez(path, x=x, y=y)
            where = f"{path.name}: array '{'y' if name.startswith('y_') else 'x'}': "
            return _outcome(lambda: read_npz(path, **options), expected and where + expected)
        x_path, y_path = tmp / f"{name}_x.npy", tmp / f"{name}_y.npy"
        np.save(x_path, x)
        np.save(y_path, y)
        where = f"{(y_path if name.startswith('y_') else x_path).name}: "
        return _outcome(lambda: read_npy_pair(x_path, y_path, **options), expected and where + expected)

    return run


# ---------------------------------------------------------------------------------- store cases
def _sqlite_store(path: Path) -> None:
    sqlite3.connect(path).execute("create table t (x)").connection.close()


#: name → (make the store file at the given path (or None to leave it), expected message)
STORE_FILES: dict[str, tuple[Callable[[Path], Any], str]] = {
    "empty_file": (
        lambda p: p.write_bytes(b""),
        r"is an empty file \(0 bytes\), not an MLflow store; it was left untouched",
    ),
    "random_bytes": (lambda p: p.write_bytes(bytes(range(256)) * 8), r"is not a SQLite database"),
    "text_file": (lambda p: p.write_text("runs: []\n"), r"is not a SQLite database"),
    "html_page": (lambda p: p.write_text("<html>502 Bad Gateway</html>"), r"is not a SQLite database"),
    "truncated_header": (lambda p: p.write_bytes(b"SQLite for"), r"is not a SQLite database"),
    "gzip_of_a_store": (
        lambda p: p.write_bytes(gzip.compress(b"SQLite format 3\x00" + bytes(100))),
        r"is not a SQLite database",
    ),
    "folder": (lambda p: p.mkdir(), r"is a folder, not a SQLite database file"),
    "folder_with_store_inside": (lambda p: (p.mkdir(), _sqlite_store(p / "mlflow.db")), r"is a folder, not a SQLite"),
}


def _store_case(name: str, tmp: Path) -> Callable[[], tuple[str, str]]:
    make, expected = STORE_FILES[name]

    def run() -> tuple[str, str]:
        from mathflow.tracking.store import check_sqlite_file

        path = tmp / name / "mlflow.db"
        path.parent.mkdir()
        make(path)
        before = _snapshot(path)
        outcome = _outcome(lambda: check_sqlite_file(path, f"sqlite:///{path}"), f"mlflow.db:? {expected}")
        if _snapshot(path) != before:
            return "data loss", f"{path} changed"
        return outcome

    return run


def _snapshot(path: Path) -> Any:
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else path.read_bytes()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_case(scheme: str) -> Callable[[], tuple[str, str]]:
    def run() -> tuple[str, str]:
        from mathflow.tracking.store import check_server

        uri = f"{scheme}://127.0.0.1:{_closed_port()}"
        return _outcome(lambda: check_server(uri, timeout=5.0), f"tracking server {uri} cannot be reached")

    return run


#: exceptions as MLflow and the OS raise them → the fault :func:`store_fault` must name (None: not a fault)
FAULTS: dict[str, tuple[BaseException, str | None]] = {
    "enospc": (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
    "efbig": (OSError(errno.EFBIG, "File too large"), "the file size limit was reached"),
    "erofs": (OSError(errno.EROFS, "Read-only file system"), "the store is read-only"),
    "sqlite_full": (sqlite3.OperationalError("database or disk is full"), "the disk is full"),
    "sqlite_readonly": (sqlite3.OperationalError("attempt to write a readonly database"), "the store is read-only"),
    "sqlite_locked": (sqlite3.OperationalError("database is locked"), "locked by another process"),
    "sqlite_malformed": (sqlite3.DatabaseError("database disk image is malformed"), "corrupt"),
    "wrapped_in_runtime_error": (
        RuntimeError("MlflowException: (sqlite3.OperationalError) database or disk is full"),
        "the disk is full",
    ),
    "not_a_fault": (ValueError("lr must be > 0"), None),
}


def _fault_case(name: str) -> Callable[[], tuple[str, str]]:
    def run() -> tuple[str, str]:
        from mathflow.tracking.store import store_fault

        exc, expected = FAULTS[name]
        try:
            raise RuntimeError("outer") from exc
        except RuntimeError as outer:
            line = store_fault(outer, "sqlite:///s.db")
        if expected is None:
            return ("located", "not a store fault") if line is None else ("silent wrong answer", str(line))
        if line is None:
            return "silent wrong answer", "not recognised"
        if "\n" in line or expected not in line or not line.startswith("tracking store sqlite:///s.db: "):
            return "unclear", line
        return "located", line

    return run


# ---------------------------------------------------------------------------------- outcomes
def _outcome(action: Callable[[], Any], expected: str | None, chdir: Path | None = None) -> tuple[str, str]:
    """("located", message) when ``action`` raises a one-line MathflowError that ``expected`` (a regex)
    finds, or, with ``expected`` None, when it loads;
    "unclear", "traceback" or "silent wrong answer" otherwise."""
    import os

    cwd = os.getcwd()
    try:
        if chdir is not None:
            os.chdir(chdir)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a NaN computed silently counts as a failure
            action()
    except MathflowError as exc:
        text = str(exc)
        if expected is None:
            return "unclear", f"refused a valid input: {text}"
        ok = re.search(expected, text) is not None and "\n" not in text.strip()
        return ("located", text) if ok else ("unclear", text)
    except Exception as exc:  # noqa: BLE001 - the outcome being measured
        return "traceback", f"{type(exc).__name__}: {exc}"
    finally:
        os.chdir(cwd)
    return ("located", "loaded as documented") if expected is None else ("silent wrong answer", "no error")


def _all_cases(tmp: Path) -> dict[str, Callable[[], tuple[str, str]]]:
    cases: dict[str, Callable[[], tuple[str, str]]] = {}
    for path in YAML_CASES:
        cases[f"yaml/{path.parent.name}/{path.stem}"] = _yaml_case(path)
    for name in CSV_CASES:
        cases[f"csv/{name}"] = _csv_case(name, tmp)
    for name in ARRAY_CASES:
        for kind in ("npy", "npz"):
            cases[f"{kind}/{name}"] = _array_case(name, kind, tmp)
    for name in STORE_FILES:
        cases[f"store/{name}"] = _store_case(name, tmp)
    for scheme in ("http", "https"):
        cases[f"store/closed_{scheme}_port"] = _server_case(scheme)
    for name in FAULTS:
        cases[f"fault/{name}"] = _fault_case(name)
    return cases


CASE_NAMES = list(_all_cases(Path(".")))


def test_corpus_is_large_enough() -> None:
    assert len(CASE_NAMES) >= 150, len(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_hostile_case(name: str, tmp_path: Path) -> None:
    outcome, detail = _all_cases(tmp_path)[name]()
    assert outcome == "located", f"{name}: {outcome}: {detail}"


def test_outcome_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every case once more, counted by outcome; the counts are printed (``pytest -s`` shows them)."""
    counts: collections.Counter[str] = collections.Counter()
    for run in _all_cases(tmp_path).values():
        counts[run()[0]] += 1
    with capsys.disabled():
        print(f"\nhostile corpus: {sum(counts.values())} in-process cases, outcomes {dict(sorted(counts.items()))}")
    assert set(counts) == {"located"}, dict(counts)
