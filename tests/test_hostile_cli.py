"""The hostile corpus of ``tests/test_hostile_corpus.py`` driven through the real ``mathflow`` command.

Every case runs in a subprocess and ends in one outcome: ``located`` (exit 1 and one line on stderr that
starts with the expected ``file:line:col: `` (or the store / server) and holds the expected text; or, for
a case documented to load, exit 0), ``unclear`` (an error without that), ``traceback``, ``hang`` (the
subprocess timed out), ``silent wrong answer`` (exit 0 where an error was expected, an error where the
case is documented to load, or files left in the working folder or beside the store) and ``data loss``
(the store file changed or went away).

- The YAML cases refused at ``validate``, and a pipeline written for every CSV and NPY/NPZ case, are
  checked by one ``mathflow validate f1 f2 ...`` per folder; each file's outcome is read from the
  output. Should a batch go wrong as a whole (a traceback, a hang, output that names no file), its files
  are checked again one ``mathflow validate`` each, so that every file gets its own outcome.
- The YAML cases refused at ``run`` or ``build`` run one ``mathflow run`` each, into a store shared by
  the module (these are the costly cases).
- The store cases run ``mathflow runs`` on each broken store file and on closed http/https ports.

Outcomes are computed once per process and kept, so :func:`test_outcome_counts` (last in the file)
costs nothing more when the file runs on one worker, as it does with the project's ``--dist loadfile``
(spread over workers with ``--dist load``, it computes again the cases another worker ran).

The ``FAULTS`` table (how exceptions raised by MLflow and the OS map to store faults) stays in-process
in ``tests/test_hostile_corpus.py``: those exceptions cannot be provoked from outside the process; the
real full disk and read-only store are run through the CLI in ``tests/test_hostile_faults.py``.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import mathflow_script
from test_hostile_corpus import ARRAY_CASES, CSV_CASES, EXPECT, HOSTILE, STORE_FILES, YAML_CASES

TIMEOUT = 60.0  # seconds; a case that takes longer counts as a hang
Outcome = tuple[str, str]


# ---------------------------------------------------------------------------------- the command


@dataclass
class Done:
    """What a finished (or timed out) ``mathflow`` process left."""

    returncode: int | None  # None: timed out
    stdout: str
    stderr: str


def _mathflow(args: list[str], cwd: Path, timeout: float = TIMEOUT) -> Done:
    script = mathflow_script()
    if script is None:
        pytest.skip("the mathflow console script is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("MATHFLOW_DEBUG", "MLFLOW_TRACKING_URI")}
    try:
        done = subprocess.run(
            [script, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        return Done(None, _text(exc.stdout), _text(exc.stderr))
    return Done(done.returncode, done.stdout, done.stderr)


def _text(data: Any) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


# ---------------------------------------------------------------------------------- outcomes
@dataclass(frozen=True)
class Expect:
    """The start of the one error line and a regex searched in the rest; ``pattern`` None: it loads."""

    prefix: str
    pattern: str | None


def classify(done: Done, expect: Expect) -> Outcome:
    """The outcome of one case from its process's exit code and output."""
    if done.returncode is None:
        return "hang", f"timed out; stderr so far: {done.stderr[-1000:]}"
    if "Traceback" in done.stdout or "Traceback" in done.stderr:
        return "traceback", done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if expect.pattern is None:
        if done.returncode == 0:
            return "located", "loaded as documented"
        return "silent wrong answer", f"refused a valid input (exit {done.returncode}): {done.stderr[-1000:]}"
    if done.returncode == 0:
        return "silent wrong answer", "exit 0, no error"
    if done.returncode != 1 or len(lines) != 1:
        return "unclear", f"exit {done.returncode}, {len(lines)} lines: {done.stderr[-1500:]}"
    line = lines[0]
    if line.startswith(expect.prefix) and re.search(expect.pattern, line[len(expect.prefix) :]):
        return "located", line
    return "unclear", f"expected {expect.prefix!r} then /{expect.pattern}/, got: {line}"


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def _paths(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _stray(before: set[str], folder: Path) -> Outcome | None:
    new = sorted(_paths(folder) - before)
    return ("silent wrong answer", f"left files in {folder.name}: {new}") if new else None


def _fresh(folder: Path) -> Path:
    """``folder``, empty (a case computed again after a skip starts over)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# ---------------------------------------------------------------------------------- generated pipelines
PIPELINE = """\
version: 1
name: hostile-data
data:
  source:
    {kind}: {options}
  split: {{train: 0.5, test: 0.5}}
model:
  layers:
    - dense: {{units: {units}}}
loss: {loss}
optimizer:
  sgd: {{lr: 0.1}}
train:
  epochs: 1
"""
SOURCE_AT = "5:5"  # the line and column of the source kind (``csv``, ``npy``, ``npz``) in PIPELINE


def _pipeline(kind: str, options: dict[str, Any]) -> str:
    regression = options.get("task") == "regression"
    return PIPELINE.format(
        kind=kind,
        options=json.dumps(options),
        units=1 if regression else 2,
        loss="mse" if regression else "cross_entropy",
    )


def _write_csv_case(name: str, folder: Path) -> tuple[str, Expect]:
    text, options, expected = CSV_CASES[name]
    data, yaml = folder / f"csv_{name}.csv", folder / f"csv_{name}.yaml"
    data.write_text(text, encoding="utf-8", newline="")
    yaml.write_text(_pipeline("csv", {"path": data.name, **options}), encoding="utf-8")
    pattern = expected and re.escape(f"{data.name}: ") + expected
    return yaml.name, Expect(f"{yaml.name}:{SOURCE_AT}: ", pattern)


def _write_array_case(name: str, kind: str, folder: Path) -> tuple[str, Expect]:
    x, y, options, expected = ARRAY_CASES[name]
    yaml = folder / f"{kind}_{name}.yaml"
    if kind == "npz":
        data = folder / f"{kind}_{name}.npz"
        np.savez(data, x=x, y=y)
        source = {"path": data.name, **options}
        where = f"{data.name}: array '{'y' if name.startswith('y_') else 'x'}': "
    else:
        x_path, y_path = folder / f"{kind}_{name}_x.npy", folder / f"{kind}_{name}_y.npy"
        np.save(x_path, x)
        np.save(y_path, y)
        source = {"x": x_path.name, "y": y_path.name, **options}
        where = f"{(y_path if name.startswith('y_') else x_path).name}: "
    yaml.write_text(_pipeline(kind, source), encoding="utf-8")
    return yaml.name, Expect(f"{yaml.name}:{SOURCE_AT}: ", expected and re.escape(where) + expected)


# ---------------------------------------------------------------------------------- the cases
def _yaml_expect(path: Path) -> tuple[str, Expect]:
    match = EXPECT.search(path.read_text(encoding="utf-8"))
    assert match, f"{path.name} has no '# expect-STAGE: LINE:COL: text' header"
    stage, line, col, text = match[1], match[2], match[3], match[4].strip()
    return stage, Expect(f"{path.name}:{line}:{col}: ", re.escape(text))


YAML_BY_NAME = {f"yaml/{p.parent.name}/{p.stem}": p for p in YAML_CASES}
DATA_CASES = [f"csv/{n}" for n in CSV_CASES] + [f"{k}/{n}" for n in ARRAY_CASES for k in ("npy", "npz")]
SERVER_CASES = {f"store/closed_{scheme}_port": scheme for scheme in ("http", "https")}
CASE_NAMES = [*YAML_BY_NAME, *DATA_CASES, *(f"store/{n}" for n in STORE_FILES), *SERVER_CASES]


class Corpus:
    """Runs the cases in subprocesses under one temporary folder and keeps each outcome."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.outcomes: dict[str, Outcome] = {}
        self.store = root / "runs" / "mlflow.db"

    def outcome(self, name: str) -> Outcome:
        if name not in self.outcomes:
            self._compute(name)
        return self.outcomes[name]

    def _compute(self, name: str) -> None:
        if name in YAML_BY_NAME:
            path = YAML_BY_NAME[name]
            stage, _ = _yaml_expect(path)
            if stage == "validate":
                self._validate_folder(path.parent.name)
            else:
                self.outcomes[name] = self._run(path)
        elif name in DATA_CASES:
            self._validate_data()
        elif name in SERVER_CASES:
            self.outcomes[name] = self._server(SERVER_CASES[name])
        else:
            self.outcomes[name] = self._store_file(name.removeprefix("store/"))

    # ------------------------------------------------------------------ validate, many files at once
    def _copy(self, folder: str) -> Path:
        """A copy of ``tests/hostile/<folder>`` (made once), so stray files can be seen and left nowhere."""
        copy = self.root / "copies" / folder
        if not copy.exists():
            shutil.copytree(HOSTILE / folder, copy)
        return copy

    def _validate_folder(self, folder: str) -> None:
        cases = {}
        for name, path in YAML_BY_NAME.items():
            if path.parent.name == folder and EXPECT.search(path.read_text(encoding="utf-8")):
                stage, expect = _yaml_expect(path)  # a file without the header fails in its own test
                if stage == "validate":
                    cases[name] = (path.name, expect)
        self._validate_batch(self._copy(folder), cases)

    def _validate_data(self) -> None:
        folder = _fresh(self.root / "data_cases")
        cases = {}
        for name in DATA_CASES:
            kind, case = name.split("/", 1)
            cases[name] = _write_csv_case(case, folder) if kind == "csv" else _write_array_case(case, kind, folder)
        self._validate_batch(folder, cases)

    def _validate_batch(self, cwd: Path, cases: dict[str, tuple[str, Expect]]) -> None:
        """One ``mathflow validate`` for all ``cases`` (name → (file, expectation)); each file's outcome
        from its lines; a batch that cannot be read file by file is run again one file at a time."""
        files = [file for file, _ in cases.values()]
        before = _paths(cwd)
        done = _mathflow(["validate", *files], cwd, timeout=TIMEOUT + 2.0 * len(files))
        per_file = _split_batch(done, files)
        stray = _stray(before, cwd)
        for name, (file, expect) in cases.items():
            if per_file is None:
                single_before = _paths(cwd)
                outcome = classify(_mathflow(["validate", file], cwd), expect)
                self.outcomes[name] = _stray(single_before, cwd) or outcome
            else:
                self.outcomes[name] = stray or classify(per_file[file], expect)

    # ------------------------------------------------------------------ run, one file each
    def _run(self, path: Path) -> Outcome:
        _, expect = _yaml_expect(path)
        cwd = self._copy(path.parent.name)
        before = _paths(cwd)
        done = _mathflow(["run", path.name, "--tracking-uri", f"sqlite:///{self.store}"], cwd)
        return _stray(before, cwd) or classify(done, expect)

    # ------------------------------------------------------------------ stores
    def _store_file(self, name: str) -> Outcome:
        make, expected = STORE_FILES[name]
        folder, work = _fresh(self.root / "stores" / name), _fresh(self.root / "work" / name)
        path = folder / "mlflow.db"
        make(path)
        before = _tree(folder)
        uri = f"sqlite:///{path}"
        done = _mathflow(["runs", "--tracking-uri", uri], work)
        after = _tree(folder)
        changed = sorted(p for p, data in before.items() if after.get(p, b"gone") != data)
        if changed:
            return "data loss", f"changed or removed in the store's folder: {changed}"
        stray = _stray(set(before), folder) or _stray(set(), work)
        return stray or classify(done, Expect(f"tracking store {uri}: ", re.escape(str(path)) + ":? " + expected))

    def _server(self, scheme: str) -> Outcome:
        work = _fresh(self.root / "work" / f"closed_{scheme}_port")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        uri = f"{scheme}://127.0.0.1:{port}"
        done = _mathflow(["runs", "--tracking-uri", uri], work)
        return _stray(set(), work) or classify(done, Expect(f"tracking server {uri} ", "cannot be reached"))


def _split_batch(done: Done, files: list[str]) -> dict[str, Done] | None:
    """Each file's share of a ``mathflow validate f1 f2 ...``: its error lines on stderr (exit 1), or
    exit 0 when its ``file: ...`` line is on stdout; None when the batch cannot be read file by file."""
    if done.returncode not in (0, 1) or "Traceback" in done.stdout + done.stderr:
        return None
    errors: dict[str, list[str]] = {}
    owner: str | None = None
    for line in done.stderr.splitlines():
        if not line.strip():
            continue
        owner = next((f for f in files if line.startswith(f"{f}:")), owner)
        if owner is None:
            return None  # a line before any file's error
        errors.setdefault(owner, []).append(line)
    valid = {f for f in files if f not in errors and re.search(rf"^{re.escape(f)}: ", done.stdout, re.M)}
    summary = f"{len(valid)} of {len(files)} files valid"
    if len(valid) + len(errors) != len(files) or summary not in done.stdout:
        return None
    if done.returncode != (1 if errors else 0):
        return None
    return {f: Done(1, "", "\n".join(errors[f])) if f in errors else Done(0, "", "") for f in files}


# ---------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("hostile_cli"))


def test_corpus_is_large_enough() -> None:
    assert len(CASE_NAMES) >= 150, len(CASE_NAMES)


def test_classify_tells_the_outcomes_apart() -> None:
    bad = Expect("p.yaml:3:7: ", "must be finite")
    outcomes = {
        "located": Done(1, "", "p.yaml:3:7: 'lr' must be finite\n"),
        "unclear": Done(1, "", "p.yaml: 'lr' must be finite\n"),
        "traceback": Done(1, "", "Traceback (most recent call last):\n  ...\nValueError: lr\n"),
        "hang": Done(None, "", ""),
        "silent wrong answer": Done(0, "p.yaml: OK\n", ""),
    }
    assert {name: classify(done, bad)[0] for name, done in outcomes.items()} == {n: n for n in outcomes}
    assert classify(Done(1, "", "p.yaml:3:7: 'lr' must be finite\n(hint)\n"), bad)[0] == "unclear"
    assert classify(Done(2, "", "p.yaml:3:7: 'lr' must be finite\n"), bad)[0] == "unclear"
    loads = Expect("p.yaml:5:5: ", None)
    assert classify(Done(0, "p.yaml: OK\n", ""), loads)[0] == "located"
    assert classify(Done(1, "", "p.yaml:5:5: nan\n"), loads)[0] == "silent wrong answer"


def test_a_validate_batch_is_read_file_by_file() -> None:
    files = ["a.yaml", "ab.yaml", "c.yaml"]
    out = "a.yaml: OK\nc.yaml: valid analyze pipeline 'c'\n  function: x\n2 of 3 files valid\n"
    split = _split_batch(Done(1, out, "ab.yaml:2:1: bad\nab.yaml:4:1: worse\n"), files)
    assert split == {
        "a.yaml": Done(0, "", ""),
        "ab.yaml": Done(1, "", "ab.yaml:2:1: bad\nab.yaml:4:1: worse"),
        "c.yaml": Done(0, "", ""),
    }
    unreadable = [
        Done(1, out, "ValueError before any file\nab.yaml:2:1: bad\n"),  # a line that names no file
        Done(1, out, "ab.yaml:2:1: bad\nTraceback (most recent call last):\n"),
        Done(1, out.replace("2 of 3", "3 of 3"), "ab.yaml:2:1: bad\n"),  # the summary disagrees
        Done(0, out, "ab.yaml:2:1: bad\n"),  # exit 0 with an error
        Done(1, "a.yaml: OK\n1 of 3 files valid\n", "ab.yaml:2:1: bad\n"),  # c.yaml said nothing
        Done(None, "", ""),
    ]
    assert [_split_batch(done, files) for done in unreadable] == [None] * len(unreadable)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_hostile_case_through_the_cli(name: str, corpus: Corpus) -> None:
    outcome, detail = corpus.outcome(name)
    assert outcome == "located", f"{name}: {outcome}: {detail}"


def test_outcome_counts(corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    """Every case's outcome (computed above when this file runs on one worker), counted and printed."""
    counts: collections.Counter[str] = collections.Counter(corpus.outcome(name)[0] for name in CASE_NAMES)
    with capsys.disabled():
        print(f"\nhostile corpus: {len(CASE_NAMES)} cases through the CLI, outcomes {dict(sorted(counts.items()))}")
    assert set(counts) == {"located"}, dict(counts)
