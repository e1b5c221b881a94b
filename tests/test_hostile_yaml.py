"""Hostile pipeline files: every resource a YAML file controls is bounded, with one located error.

Each case goes through ``mathflow validate`` in a subprocess with a timeout and must give exit code 1,
one ``file:line:col: message`` line on stderr and no traceback. The small cases live in
``tests/hostile/`` (header ``# expect: LINE:COL: text``); the large ones are generated here.
The loader itself must refuse each of them well under a second.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import cli_env

from mathflow.config import ConfigError, load_config
from mathflow.config.loader import MAX_EXTENDS_DEPTH, MAX_EXTENDS_FILES, MAX_FILE_BYTES

HOSTILE = Path(__file__).parent / "hostile"
FILES = sorted(HOSTILE.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.*)$", re.M)
PIPELINE_HEAD = "version: 1\nname: hostile\n"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", "validate", path.name],
        cwd=path.parent,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def the_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``file:line:col: message`` line of a refused file."""
    assert done.returncode == 1, (done.returncode, done.stdout[-500:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr[-2000:]
    assert re.match(r"^[^:]+\.yaml:\d+:\d+: \S", lines[0]), lines[0]
    return lines[0]


def refused_quickly(path: Path) -> str:
    """The loader's error for ``path`` (in-process). A limit stops the work early, so this returns at
    once; speed itself is not asserted (a hang would show as the test run's timeout)."""
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.issues) == 1
    return str(info.value.issues[0])


# ---------------------------------------------------------------------------------- the corpus
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_hostile_corpus_file_is_refused_at_its_line(path: Path) -> None:
    match = EXPECT.search(path.read_text(encoding="utf-8"))
    assert match, f"{path.name} has no '# expect:' header"
    line, col, text = match[1], match[2], match[3].strip()
    error = the_error(validate(path))
    assert error.startswith(f"{path.name}:{line}:{col}: "), error
    assert text in error, error
    assert refused_quickly(path).endswith(error)


# ---------------------------------------------------------------------------------- generated
def _deep_flow(folder: Path) -> Path:
    path = folder / "deep_flow.yaml"
    path.write_text(PIPELINE_HEAD + "model: " + "[" * 10_000 + "]" * 10_000 + "\n")
    return path


def _deep_block(folder: Path) -> Path:
    path = folder / "deep_block.yaml"
    path.write_text(PIPELINE_HEAD + "model:\n  " + "- " * 10_000 + "x\n")
    return path


def _deep_mappings(folder: Path) -> Path:
    path = folder / "deep_mappings.yaml"
    path.write_text(PIPELINE_HEAD + "model: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n")
    return path


def _too_big(folder: Path) -> Path:
    path = folder / "too_big.yaml"
    path.write_text(PIPELINE_HEAD + "# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    return path


def _many_values(folder: Path) -> Path:
    path = folder / "many_values.yaml"
    path.write_text(PIPELINE_HEAD + "items: [" + ", ".join(["1"] * 6_000) + "]\n")
    return path


def _extends_chain(folder: Path) -> Path:
    for i in range(MAX_EXTENDS_DEPTH + 4):
        (folder / f"base{i}.yaml").write_text(f"extends: base{i + 1}.yaml\nlevel{i}: {i}\n")
    (folder / f"base{MAX_EXTENDS_DEPTH + 4}.yaml").write_text(PIPELINE_HEAD)
    return folder / "base0.yaml"


def _extends_fan_out(folder: Path) -> Path:
    """Each file extends the next one twice: 2**12 reads of a dozen files without a cycle."""
    for i in range(12):
        (folder / f"fan{i}.yaml").write_text(f"extends: [fan{i + 1}.yaml, fan{i + 1}.yaml]\nlevel{i}: {i}\n")
    (folder / "fan12.yaml").write_text(PIPELINE_HEAD)
    return folder / "fan0.yaml"


GENERATED: dict[str, tuple[Callable[[Path], Path], str]] = {
    "deep_flow_lists": (_deep_flow, r"deep_flow\.yaml:3:\d+: nested deeper than 64 levels"),
    "deep_block_lists": (_deep_block, r"deep_block\.yaml:4:\d+: nested deeper than 64 levels"),
    "deep_flow_mappings": (_deep_mappings, r"deep_mappings\.yaml:3:\d+: nested deeper than 64 levels"),
    "file_size": (_too_big, r"too_big\.yaml:1:1: file is larger than 32 KiB; not a pipeline file"),
    "value_count": (_many_values, r"many_values\.yaml:3:\d+: the file holds more than 5,000 values"),
    "extends_chain": (_extends_chain, rf"base\d+\.yaml:1:10: 'extends' chain is deeper than {MAX_EXTENDS_DEPTH} files"),
    "extends_fan_out": (_extends_fan_out, rf"fan\d+\.yaml:1:\d+: 'extends' reads more than {MAX_EXTENDS_FILES} .*"),
}


@pytest.mark.parametrize("case", list(GENERATED))
def test_generated_hostile_file_is_refused_at_its_line(tmp_path: Path, case: str) -> None:
    make, pattern = GENERATED[case]
    path = make(tmp_path)
    error = the_error(validate(path))
    assert re.fullmatch(pattern, error), error
    assert refused_quickly(path).endswith(error)


def test_a_recursive_alias_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "recursive.yaml"
    path.write_text(PIPELINE_HEAD + "a: &a [1, *a]\n")
    assert "recursive" in the_error(validate(path))


def test_an_ordinary_pipeline_is_far_from_every_bound() -> None:
    root = Path(__file__).resolve().parents[1] / "pipelines"
    for path in [*root.glob("*.yaml"), *root.glob("math/*.yaml")]:
        assert path.stat().st_size < MAX_FILE_BYTES // 4
        load_config(path)
