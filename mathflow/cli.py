"""The ``mathflow`` command line: parse, call the API, print. No math here."""

from __future__ import annotations

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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
