"""The floors of mathflow and every import between them, read with ``ast`` (nothing is imported).

A unit is a package (``mathflow/nn``) or a top-level module (``mathflow/run.py``); each sits on
one floor, and an import may only reach a unit on the same floor or below. Every import counts:
at module level, inside a function, or under ``if TYPE_CHECKING`` (an import moved into a
function is the same dependency, only hidden).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mathflow"

#: floor → units, bottom to top (README's "Floors"). Floor 7 holds the application (the commands, the
#: daemon's mechanism, what is imported ahead); 8 the command line; 9 the process host that runs it.
FLOORS: dict[int, tuple[str, ...]] = {
    1: ("registry", "errors", "component", "component_schema", "constraints", "cache"),
    2: ("autodiff", "functional", "kernels", "backend", "__init__"),
    3: ("nn", "optim", "data", "metrics", "export"),
    4: ("schema", "config", "compiler", "pipeline"),
    5: ("train",),
    6: ("tracking",),
    7: (
        "run",
        "run_report",
        "rerun",
        "resume",
        "predictor",
        "sweep",
        "mathpipe",
        "analysis",
        "daemon",
        "startup",
        "process",
        "failures",
        "about",
        "inspection",
        "run_console",
        "runs_report",
        "prediction",
        "servers",
        "server_watch",
    ),
    8: ("cli", "cli_options"),
    9: ("host",),
}
FLOOR_OF = {unit: floor for floor, units in FLOORS.items() for unit in units}
#: The one allowed circle: a Tensor's operators call the functional ops, which make Tensors.
ALLOWED_CIRCLES = {frozenset({"autodiff", "functional"})}
#: The modules that may import MLflow: the adapter and the standalone pyfunc.
MLFLOW_HOMES = ("mathflow/tracking/", "mathflow/export/runtime.py")


@dataclass(frozen=True)
class Import:
    source: str  # file, relative to the repository
    line: int
    unit: str  # the importing unit
    target: str  # the imported unit (or "mlflow")
    local: bool  # inside a function


def unit_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0].removesuffix(".py")


def _target_unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "mlflow":
        return "mlflow"
    if parts[0] != "mathflow":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, path: Path) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        package = _module_name(path).split(".")
        if path.name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, node.module] if node.module else package)
    if base == "mathflow":  # from mathflow import nn, __version__
        units = {p.name.removesuffix(".py") for p in PACKAGE.iterdir()}
        return [f"mathflow.{a.name}" if a.name in units else "mathflow" for a in node.names]
    return [base]


def imports() -> Iterator[Import]:
    """Every import of a mathflow unit or of MLflow, from every module of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        unit = unit_of(path)
        source = str(path.relative_to(PACKAGE.parent))
        local_lines = {
            n.lineno
            for f in ast.walk(tree)
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(f)
            if isinstance(n, (ast.Import, ast.ImportFrom))
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = _resolve(node, path)
            else:
                continue
            for module in modules:
                target = _target_unit(module)
                if target is not None and target != unit:
                    yield Import(source, node.lineno, unit, target, node.lineno in local_lines)


def upward(found: list[Import]) -> list[Import]:
    """Imports that reach a higher floor."""
    return [i for i in found if i.target != "mlflow" and FLOOR_OF[i.target] > FLOOR_OF[i.unit]]


def mlflow_outside(found: list[Import]) -> list[Import]:
    return [i for i in found if i.target == "mlflow" and not i.source.startswith(MLFLOW_HOMES)]


def circles(found: list[Import]) -> list[list[str]]:
    """The strongly connected groups of two or more units (Tarjan), the allowed one left out."""
    graph: dict[str, set[str]] = {}
    for i in found:
        if i.target != "mlflow":
            graph.setdefault(i.unit, set()).add(i.target)
            graph.setdefault(i.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 and frozenset(group) not in ALLOWED_CIRCLES:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def report() -> str:
    """The layering in a few lines (what ``python tests/layering.py`` prints)."""
    found = list(imports())
    lines = [
        f"imports between units: {len(found)} ({sum(i.local for i in found)} inside functions)",
        f"circles between units: {len(circles(found))}",
        *(f"  circle: {' <-> '.join(c)}" for c in circles(found)),
        f"imports up a floor: {len(upward(found))}",
        *(
            f"  {i.source}:{i.line}: {i.unit} (floor {FLOOR_OF[i.unit]}) imports {i.target} "
            f"(floor {FLOOR_OF[i.target]})"
            for i in upward(found)
        ),
        f"MLflow imported outside its homes: {len(mlflow_outside(found))}",
        *(f"  {i.source}:{i.line}" for i in mlflow_outside(found)),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
