"""Every file in tests/broken/ is a broken pipeline whose header states the expected errors.

A header line ``# expect: 12:7: did you mean 'units'`` says that validating the file reports an
error at line 12, column 7 whose message contains the given text; ``# expect: 12: text`` leaves
the column open. All expected errors of a file must be reported by one run (errors are
collected, not raised one at a time).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mathflow.config import ConfigError
from mathflow.pipeline import load_pipeline

BROKEN = Path(__file__).parent / "broken"
FILES = sorted(BROKEN.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+)(?::(\d+))?: (.*)$")


def expectations(path: Path) -> list[tuple[int, int | None, str]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(line)
        if match:
            found.append((int(match[1]), int(match[2]) if match[2] else None, match[3].strip()))
    return found


def test_corpus_is_large_enough():
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_broken_pipeline_reports_expected_errors(path: Path, monkeypatch: pytest.MonkeyPatch):
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect:' header"
    monkeypatch.chdir(BROKEN)
    with pytest.raises(ConfigError) as info:
        load_pipeline(path.name)
    lines = str(info.value).splitlines()
    issues = info.value.issues
    for line, col, text in expected:
        matching = [
            str(i)
            for i in issues
            if i.location.file == path.name and i.location.line == line and (col is None or i.location.col == col)
        ]
        assert matching, f"no error at {path.name}:{line}:{col or '*'}; got:\n" + "\n".join(lines)
        assert any(text.lower() in m.lower() for m in matching), (
            f"error at {path.name}:{line}:{col or '*'} lacks {text!r}; got:\n" + "\n".join(matching)
        )
    for text in lines:
        assert text.startswith(f"{path.name}:"), text


def test_every_error_has_a_line_and_column(monkeypatch: pytest.MonkeyPatch):
    """Located issues name file:line:col, never a bare file (the whole file is the exception)."""
    monkeypatch.chdir(BROKEN)
    for path in FILES:
        with pytest.raises(ConfigError) as info:
            load_pipeline(path.name)
        for issue in info.value.issues:
            assert issue.location.line is not None and issue.location.col is not None, (path.name, str(issue))
