"""Terminal output of the pipeline commands (rich tables): the layer table and the catalogs."""

from __future__ import annotations

from typing import Any

from mathflow.compiler import CompiledPipeline
from mathflow.compiler.graph import INPUT
from mathflow.errors import MathflowError
from mathflow.schema.pipeline import PipelineSpec


def _console() -> Any:
    from rich.console import Console

    return Console(width=160, soft_wrap=False)


def print_graph_table(file: str, spec: PipelineSpec, compiled: CompiledPipeline) -> None:
    """One row per node (name, type, inputs, output shape, parameters, YAML line), then the total."""
    from rich.table import Table

    graph = compiled.graph
    table = Table(title=f"{spec.name}: {file}", title_justify="left")
    table.add_column("name")
    table.add_column("type")
    if not graph.sequential:
        table.add_column("inputs")
    table.add_column("output shape")
    table.add_column("parameters", justify="right")
    table.add_column("line", justify="right")
    for row in graph.rows():
        cells = [row["name"], row["type"]]
        if not graph.sequential:
            cells.append(", ".join(row.get("inputs", [])) if row["name"] != INPUT else "")
        cells += [row["output_shape"], f"{row['params']:,}", str(row["line"] or "")]
        table.add_row(*cells)
    console = _console()
    console.print(table)
    info = compiled.data
    console.print(f"data: {info.describe()}, samples {tuple(info.sample_shape or ())}, targets {info.target_shape}")
    console.print(f"total parameters: {graph.total_params:,}")
    console.print(f"{file}: OK")


def print_catalog(family: str | None) -> None:
    """The components of ``family`` (or the family names when None) with their parameters;
    everything shown comes from the registries."""
    from rich.table import Table

    from mathflow.schema import registries
    from mathflow.schema.catalog import REQUIRED, describe_family, format_default

    console = _console()
    families = registries()
    if family is None:
        for name, registry in families.items():
            size = len(registry.config_models() or registry.components())
            console.print(f"{name:<14} {size:>3} components   (mathflow list {name})")
        return
    if family not in families:
        from mathflow.config.errors import suggest

        names = list(families)
        guess = suggest(family, names)
        raise MathflowError(
            f"unknown family {family!r}", suggestion=f"did you mean {guess!r}?" if guess else ", ".join(names)
        )
    registry = families[family]
    if not registry.config_models():  # plain functions: metrics, initialisers
        _print_functions(family, registry)
        return
    catalog = registry.catalog()
    table = Table(title=family, title_justify="left", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("parameters (default)")
    table.add_column("description")
    for entry in describe_family(catalog):
        params = [
            f"{p['name']}: {p['type']}"
            + (" (required)" if p["default"] == REQUIRED else f" = {format_default(p['default'])}")
            for p in entry["params"]
            if p["name"] != "name"
        ]
        name = entry["name"] + (f" ({', '.join(entry['aliases'])})" if entry["aliases"] else "")
        table.add_row(name, "\n".join(params) or "-", entry["description"])
    console.print(table)


def _print_functions(family: str, registry: Any) -> None:
    """A family of registered functions: name, aliases, task (metrics) and first docstring line."""
    from rich.table import Table

    table = Table(title=family, title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("aliases")
    has_task = any(hasattr(fn, "task") for fn in registry.components())
    if has_task:
        table.add_column("task")
    table.add_column("description")
    for fn in registry.components():
        aliases = [n for n, f in registry.items() if f is fn and n != fn.registry_name]
        doc = (fn.__doc__ or "").strip().splitlines()
        row = [fn.registry_name, ", ".join(aliases) or "-"]
        if has_task:
            row.append(getattr(fn, "task", "-"))
        table.add_row(*row, doc[0] if doc else "")
    _console().print(table)
