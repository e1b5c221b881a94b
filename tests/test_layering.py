"""Imports run downward only: no circle between units, no import up a floor, MLflow in its homes.

The floors are in :mod:`tests.layering` (README, "Floors"). What is still out of line is listed
here by name, so the list can only shrink: a new violation fails, and so does a listed one that
has been mended (take it off the list).
"""

from __future__ import annotations

import layering as L
import pytest

#: None left: the process host (mathflow/host/: the console script and the daemon process, which
#: run the command line) sits on floor 9, above cli.py, which drives daemon/control.py below it.
KNOWN_UPWARD: set[tuple[str, str, str]] = set()
KNOWN_CIRCLES: list[list[str]] = []


@pytest.fixture(scope="module")
def found() -> list[L.Import]:
    return list(L.imports())


def test_every_unit_has_a_floor(found):
    units = {L.unit_of(p) for p in L.PACKAGE.rglob("*.py")} | {i.target for i in found if i.target != "mlflow"}
    assert units <= set(L.FLOOR_OF), f"units without a floor: {sorted(units - set(L.FLOOR_OF))}"


def test_no_import_runs_up_a_floor(found):
    upward = {(i.source, i.unit, i.target) for i in L.upward(found)}
    assert upward - KNOWN_UPWARD == set(), L.report()
    assert KNOWN_UPWARD - upward == set(), "mended: take these off KNOWN_UPWARD"


def test_no_circle_between_units(found):
    assert L.circles(found) == KNOWN_CIRCLES, L.report()


def test_mlflow_is_imported_by_tracking_and_the_pyfunc_alone(found):
    assert L.mlflow_outside(found) == [], L.report()


# ---------------------------------------------------------------- the checks themselves can fail
def _imp(unit: str, target: str) -> L.Import:
    return L.Import(f"mathflow/{unit}.py", 1, unit, target, local=True)


def test_an_upward_import_is_found_even_inside_a_function():
    assert L.upward([_imp("nn", "schema"), _imp("schema", "nn")]) == [_imp("nn", "schema")]


def test_a_circle_is_found_and_the_allowed_one_is_not():
    edges = [_imp("nn", "optim"), _imp("optim", "data"), _imp("data", "nn"), _imp("autodiff", "functional")]
    edges.append(_imp("functional", "autodiff"))
    assert L.circles(edges) == [["data", "nn", "optim"]]


def test_mlflow_outside_tracking_is_found():
    assert L.mlflow_outside([_imp("predictor", "mlflow")]) == [_imp("predictor", "mlflow")]


def test_relative_and_package_imports_are_resolved(tmp_path, monkeypatch):
    package = tmp_path / "mathflow"
    (package / "nn").mkdir(parents=True)
    (package / "schema").mkdir()
    (package / "nn" / "__init__.py").write_text("from ..schema import base\nfrom mathflow import schema\n")
    (package / "schema" / "__init__.py").write_text("def f():\n    import mlflow\n")
    monkeypatch.setattr(L, "PACKAGE", package)
    found = sorted(L.imports(), key=lambda i: (i.source, i.line))
    assert [(i.unit, i.target, i.local) for i in found] == [
        ("nn", "schema", False),
        ("nn", "schema", False),
        ("schema", "mlflow", True),
    ]
