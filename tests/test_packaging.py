"""Installing mathflow prints no warning of ours: the package metadata builds cleanly."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_builds_without_a_deprecation_and_declares_its_license(tmp_path: Path) -> None:
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} predates SPDX license strings (pyproject asks for >= 77)")
    source = tmp_path / "src"
    shutil.copytree(ROOT / "mathflow", source / "mathflow", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    ours = [line for line in (built.stdout + built.stderr).splitlines() if "deprecat" in line.lower()]
    assert ours == [], "\n".join(ours)
    (wheel,) = tmp_path.glob("mathflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith("METADATA"))).decode()
    assert "License-Expression: MIT" in metadata.splitlines()
