"""Terminal output of the pipeline commands (rich tables): the layer table and the catalogs."""

from __future__ import annotations

from typing import Any

from mathflow.compiler import CompiledPipeline
from mathflow.compiler.graph import INPUT
from mathflow.errors import MathflowError
from mathflow.spec.pipeline import PipelineSpec

FAMILIES = (
    "layers",
    "activations",
    "losses",
    "regularizers",
    "optimizers",
    "schedules",
    "datasets",
    "transforms",
    "metrics",
)


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
    """The components of ``family`` (or the family names when None) with their parameters."""
    from rich.table import Table

    from mathflow.spec import CATALOGS
    from mathflow.spec.catalog import REQUIRED, describe_family, format_default
    from mathflow.spec.layers import ACTIVATION_LAYERS, LAYER_SPECS

    console = _console()
    from mathflow.spec.metrics import METRIC_TASKS

    sizes = {"activations": len(ACTIVATION_LAYERS), "metrics": len(METRIC_TASKS)}
    if family is None:
        for name in FAMILIES:
            size = sizes.get(name) or len(CATALOGS[name])
            console.print(f"{name:<14} {size:>3} components   (mathflow list {name})")
        return
    if family == "metrics":
        table = Table(title="metrics", title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("task")
        for name, task in sorted(METRIC_TASKS.items()):
            table.add_row(name, task)
        console.print(table)
        return
    if family == "activations":
        catalog = {k: LAYER_SPECS[k] for k in ACTIVATION_LAYERS}
    elif family in CATALOGS:
        catalog = CATALOGS[family]
    else:
        from mathflow.config.errors import suggest

        guess = suggest(family, FAMILIES)
        raise MathflowError(
            f"unknown family {family!r}", suggestion=f"did you mean {guess!r}?" if guess else ", ".join(FAMILIES)
        )
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
        table.add_row(entry["name"], "\n".join(params) or "-", entry["description"])
    console.print(table)
