"""The ``mathflow`` command line: parse, call the API, print. No math here."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import typer

app = typer.Typer(
    name="mathflow",
    help="Declarative ML experiments: YAML pipelines on a differentiable NumPy/CuPy engine, tracked in MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from mathflow import __version__

        typer.echo(f"mathflow {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """mathflow: declare an experiment in YAML, run it, find it in MLflow."""


@app.command()
def info() -> None:
    """Show the versions and the compute devices mathflow can use."""
    import numpy as np

    from mathflow import __version__
    from mathflow.backend import Backend, gpu_available

    typer.echo(f"mathflow {__version__}")
    typer.echo(f"numpy    {np.__version__}")
    if gpu_available():
        import cupy

        typer.echo(f"cupy     {cupy.__version__} on {Backend('gpu').device_name}")
    else:
        typer.echo("cupy     not available (CPU only)")


# --------------------------------------------------------------------------- pipeline commands
_DEBUG = typer.Option(False, "--debug", help="Show the Python traceback of an error.")
_SET = typer.Option([], "--set", help="Override a value: --set train.epochs=3 (repeatable).")


def _report_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print a MathflowError as ``file:line:col: message`` lines and exit 1 (traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mathflow.errors import MathflowError

        try:
            return command(*args, **kwargs)
        except MathflowError as exc:
            if kwargs.get("debug") or os.environ.get("MATHFLOW_DEBUG"):
                raise
            typer.echo(exc.format(), err=True)
            raise typer.Exit(1) from None

    return wrapper


@app.command()
@_report_errors
def validate(
    file: str = typer.Argument(..., help="Pipeline YAML file."),
    overrides: list[str] = _SET,
    debug: bool = _DEBUG,
) -> None:
    """Check a pipeline: schema, shapes through every layer, loss against data; print the layer table."""
    from mathflow.compiler.report import print_graph_table
    from mathflow.pipeline import load_pipeline

    spec, compiled = load_pipeline(file, overrides)
    print_graph_table(file, spec, compiled)


@app.command()
@_report_errors
def schema(
    output: str = typer.Option(None, "--output", "-o", help="Write the schema to this file instead of printing it."),
    debug: bool = _DEBUG,
) -> None:
    """Print (or write) the JSON Schema of pipeline files."""
    from mathflow.spec import schema_text

    text = schema_text()
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


@app.command()
@_report_errors
def show(
    file: str = typer.Argument(..., help="Pipeline YAML file."),
    overrides: list[str] = _SET,
    debug: bool = _DEBUG,
) -> None:
    """Print the fully resolved pipeline (extends, --set, references and defaults applied) as YAML."""
    from mathflow.config import dump
    from mathflow.pipeline import load_spec

    spec = load_spec(file, overrides)
    typer.echo(dump(spec.to_data()), nl=False)


@app.command()
@_report_errors
def graph(
    file: str = typer.Argument(..., help="Pipeline YAML file."),
    format: str = typer.Option("mermaid", "--format", "-f", help="mermaid or dot."),
    overrides: list[str] = _SET,
    debug: bool = _DEBUG,
) -> None:
    """Print the model graph with per-node output shapes as Mermaid or Graphviz DOT."""
    from mathflow.compiler import to_dot, to_mermaid
    from mathflow.errors import MathflowError
    from mathflow.pipeline import load_pipeline

    renderers = {"mermaid": to_mermaid, "dot": to_dot}
    if format not in renderers:
        raise MathflowError(f"unknown graph format {format!r}", suggestion="use mermaid or dot")
    _, compiled = load_pipeline(file, overrides)
    typer.echo(renderers[format](compiled.graph), nl=False)


@app.command(name="list")
@_report_errors
def list_components(
    family: str = typer.Argument(
        None, help="layers, activations, losses, regularizers, optimizers, schedules, datasets or transforms."
    ),
    debug: bool = _DEBUG,
) -> None:
    """List the components a pipeline can name, with their parameters and defaults."""
    from mathflow.compiler.report import print_catalog

    print_catalog(family)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
