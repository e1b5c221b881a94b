"""The example table of README.md holds what the pipelines give: every example pipeline is trained in
full as written (in-process, a temporary store) and its test figures are compared with the table's
"test figure" column, which ``benchmarks/examples.py --readme`` wrote (runs on CPU are deterministic).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from examples import README, example_pipelines, readme_table, run_example, shown  # noqa: E402


def _rows() -> dict[str, list[str]]:
    """The table's rows: pipeline file → its cells (a ``\\|`` inside a cell is not a border)."""
    rows = {}
    for line in readme_table(README.read_text(encoding="utf-8")).splitlines()[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells
    return rows


ROWS = _rows()


def test_the_table_lists_every_example_pipeline() -> None:
    assert sorted(ROWS) == [p.name for p in example_pipelines()]
    for name, cells in ROWS.items():
        assert len(cells) == 4, (name, cells)


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", example_pipelines(), ids=lambda p: p.name)
def test_the_readme_figure_is_what_the_pipeline_gives(pipeline: Path, tmp_path: Path) -> None:
    from mathflow.pipeline import load_spec

    figures = run_example(pipeline, f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert figures, "no test figure logged"
    assert ROWS[pipeline.name][2] == f"{shown(figures)} ({load_spec(pipeline).seed})"
    low_high = dict(re.findall(r"(\S+) ([\d.]+–[\d.]+)", ROWS[pipeline.name][3]))
    for name, value in figures.items():  # the pipeline as written is one of the seeds of the range
        low, high = (float(v) for v in low_high[name].split("–"))
        assert low <= round(value, 3) <= high
