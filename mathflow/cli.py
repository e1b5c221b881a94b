"""The ``mathflow`` command line: parse, call the API, print. No math here."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
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
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
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
    from mathflow.mathpipe import is_math_pipeline, validate_math

    if is_math_pipeline(file):
        typer.echo(validate_math(file, overrides))
        return

    from mathflow.compiler.report import print_graph_table
    from mathflow.pipeline import load_pipeline

    spec, compiled = load_pipeline(file, overrides)
    print_graph_table(file, spec, compiled)


@app.command()
@_report_errors
def schema(
    output: str = typer.Option(None, "--output", "-o", help="Write the schema to this file instead of printing it."),
    kind: str = typer.Option("pipeline", "--kind", help="pipeline (ML pipelines) or math (kind: optimize | analyze)."),
    debug: bool = _DEBUG,
) -> None:
    """Print (or write) the JSON Schema of pipeline files (generated from the component registries)."""
    from mathflow.errors import MathflowError

    if kind not in ("pipeline", "math"):
        raise MathflowError(f"unknown schema kind {kind!r}", suggestion="use pipeline or math")
    if kind == "math":
        from mathflow.schema.math_pipeline import math_schema_text as schema_text
    else:
        from mathflow.schema import schema_text

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


# --------------------------------------------------------------------------- run commands
def _one_line(exc: BaseException) -> str:
    from mathflow.tracking import error_reason

    return error_reason(exc)


def _interrupted_line(exc: Any) -> str:
    """The one stderr line of a run ended by a stop signal."""
    if exc.run_id is None:
        return f"interrupted by {exc.name} before a run was started (nothing recorded)"
    return f"interrupted by {exc.name}: run {exc.run_id} was stopped and marked KILLED (what was logged is kept)"


def _guard_run(command: Callable[..., Any]) -> Callable[..., Any]:
    """Errors of the run commands as one line on stderr, exit 1; a run stopped by SIGINT, SIGTERM or
    SIGHUP → one line, exit 128 + signal (130, 143, 129); other Ctrl-C → exit 130 (tracebacks with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mathflow.errors import MathflowError
        from mathflow.tracking.signals import RunInterrupted

        debug = bool(kwargs.get("debug") or os.environ.get("MATHFLOW_DEBUG"))
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except RunInterrupted as exc:
            if debug:
                raise
            typer.echo(_interrupted_line(exc), err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            if debug:
                raise
            typer.echo("interrupted: the run was stopped by the user and marked KILLED", err=True)
            raise typer.Exit(130) from None
        except MathflowError as exc:
            if debug:
                raise
            typer.echo(exc.format(), err=True)
            raise typer.Exit(1) from None
        except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback with --debug
            if debug:
                raise
            typer.echo(f"error: {_one_line(exc)}", err=True)
            raise typer.Exit(1) from None

    return wrapper


_DEVICE = typer.Option(None, "--device", help="cpu, gpu or auto (overrides train.device).")
_URI = typer.Option(None, "--tracking-uri", help="MLflow store (default: sqlite:///<cwd>/runs/mlflow.db).")


def _run_console(json_out: bool) -> Any:
    """Where ``run`` prints its start and end blocks: stdout, or stderr when stdout carries ``--json``."""
    import sys

    return sys.stderr if json_out else sys.stdout


@app.command()
@_guard_run
def run(
    file: str = typer.Argument(..., help="Pipeline YAML file."),
    overrides: list[str] = _SET,
    device: str = _DEVICE,
    tracking_uri: str = _URI,
    experiment: str = typer.Option(None, "--experiment", help="MLflow experiment (default: tracking.experiment)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output (the start and end blocks stay)."),
    json_out: bool = typer.Option(
        False, "--json", help="End with one JSON line describing the run (the start and end blocks go to stderr)."
    ),
    debug: bool = _DEBUG,
) -> None:
    """Train a pipeline (or solve a math pipeline) and record the run in MLflow."""
    import json

    from mathflow.mathpipe import is_math_pipeline, run_math

    if is_math_pipeline(file):
        outcome = run_math(file, overrides, tracking_uri=tracking_uri, experiment=experiment, quiet=quiet or json_out)
        if json_out:
            typer.echo(json.dumps(outcome))
        return

    from mathflow.run import run_pipeline, run_summary

    console = _run_console(json_out)
    result = run_pipeline(
        file, overrides, device=device, tracking_uri=tracking_uri, experiment=experiment, quiet=quiet, console=console
    )
    console.write(run_summary(result))
    console.flush()
    if json_out:
        typer.echo(json.dumps(result.summary()))


@app.command()
@_guard_run
def rerun(
    run_id: str = typer.Argument(..., help="The id of a logged run."),
    device: str = _DEVICE,
    tracking_uri: str = _URI,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    json_out: bool = typer.Option(False, "--json", help="End with one JSON line describing the comparison."),
    debug: bool = _DEBUG,
) -> None:
    """Run the pipeline logged by RUN_ID again and say whether the metrics match (exit 2 when they differ)."""
    import json

    from mathflow.run import rerun as rerun_api

    outcome = rerun_api(run_id, tracking_uri=tracking_uri, device=device, quiet=quiet)
    new_id = outcome.result.run_id
    if outcome.matches:
        typer.echo(f"rerun {new_id}: all {len(outcome.compared)} metrics match run {run_id}")
    else:
        differ = len(outcome.differences)
        typer.echo(f"rerun {new_id}: {differ} of {len(outcome.compared)} metrics differ from run {run_id}")
        for key, (old, new) in outcome.differences.items():
            typer.echo(f"  {key}: {old!r} -> {new!r}")
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "run_id": new_id,
                    "original_run_id": run_id,
                    "matches": outcome.matches,
                    "differences": {k: list(v) for k, v in outcome.differences.items()},
                }
            )
        )
    if not outcome.matches:
        raise typer.Exit(2)


@contextlib.contextmanager
def _stdout_may_close() -> Iterator[None]:
    """A reader that stops early (``| head``) ends the command quietly, exit 0, no traceback."""
    import sys

    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
        raise typer.Exit(0) from None


@app.command()
@_guard_run
def predict(
    run_id: str = typer.Argument(..., help="The id of a logged run."),
    input: str = typer.Option(..., "--input", "-i", help="Inputs: .npy, .npz (int or float) or numeric .csv rows."),
    output: str = typer.Option(None, "--output", "-o", help="Write the predictions here instead of stdout."),
    fmt: str = typer.Option(None, "--format", "-f", help="csv, npy or json (default: by --output's suffix; csv)."),
    proba: bool = typer.Option(False, "--proba", help="Class probabilities (one column per class) instead of labels."),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Predictions of the model logged by RUN_ID for the inputs in a file: class labels, or values."""
    import sys

    from mathflow.predictor import json_text, open_run_model, output_format, read_input, write_csv, write_output

    chosen = output_format(fmt, output)
    x = read_input(input)
    model = open_run_model(run_id, tracking_uri)
    predictions = model.predict(x, proba=proba, source=input)
    columns = model.class_columns(predictions.shape[-1]) if proba else None
    if output:
        write_output(output, predictions, chosen, columns)
        typer.echo(f"wrote {len(predictions)} {'probability rows' if proba else 'predictions'} to {output}")
        return
    with _stdout_may_close():
        if chosen == "json":
            sys.stdout.write(json_text(predictions, columns))
        else:
            write_csv(sys.stdout, predictions, columns)


def _wait_for_server(child: Any) -> int:
    """Wait for the server process; Ctrl-C or SIGTERM stop it (its whole process group). Its exit status."""
    import signal
    import subprocess

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        return child.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


@app.command()
@_guard_run
def serve(
    run_id: str = typer.Argument(..., help="The id of a logged run."),
    port: int = typer.Option(5000, "--port", "-p", help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0: every interface)."),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Serve the model logged by RUN_ID with MLflow's scoring server (POST /invocations); Ctrl-C stops it."""
    import subprocess

    from mathflow.predictor import serve_command

    argv, env = serve_command(run_id, tracking_uri, port=port, host=host)
    typer.echo(f"serving the model of run {run_id} at http://{host}:{port}/invocations (Ctrl-C to stop)")
    example = """'{"inputs": [[...], [...]]}'"""
    typer.echo(f"  curl http://{host}:{port}/invocations -H 'Content-Type: application/json' -d {example}")
    child = subprocess.Popen(argv, env=env, start_new_session=True)
    code = _wait_for_server(child)
    if code:
        raise typer.Exit(code)


@app.command()
@_guard_run
def export(
    run_id: str = typer.Argument(..., help="The id of a logged run."),
    output: str = typer.Option(..., "--output", "-o", help="Write the exported model here (e.g. model.onnx)."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="Export format: onnx (needs the onnx extra)."),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Export the model logged by RUN_ID (its input transforms included) to another format."""
    from mathflow.predictor import export_run

    path = export_run(run_id, output, fmt, tracking_uri)
    typer.echo(f"wrote {path} ({fmt})")


@app.command()
@_guard_run
def ui(
    port: int = typer.Option(5000, "--port", "-p", help="Port on 127.0.0.1."),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Start the MLflow UI on 127.0.0.1 against the same store (one worker); Ctrl-C stops it."""
    import subprocess

    from mathflow.tracking import ensure_store, resolve_tracking_uri, ui_command

    uri = resolve_tracking_uri(tracking_uri)
    argv = ui_command(uri, port=port)
    ensure_store(uri)
    typer.echo(f"MLflow UI for {uri} at http://127.0.0.1:{port} (Ctrl-C to stop)")
    code = _wait_for_server(subprocess.Popen(argv, start_new_session=True))
    if code:
        raise typer.Exit(code)


@app.command()
@_guard_run
def runs(
    experiment: str = typer.Option(None, "--experiment", "-e", help="Only this experiment."),
    limit: int = typer.Option(20, "--limit", "-n", help="How many runs (newest first)."),
    dead_after: float = typer.Option(
        120.0, "--dead-after", help="Seconds without a heartbeat after which a RUNNING run shows as DEAD?."
    ),
    mark_dead: bool = typer.Option(
        False, "--mark-dead", help="End the DEAD? runs as FAILED (reason in the mathflow.error tag)."
    ),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Recent runs with their key metrics; a RUNNING run whose process stopped beating shows as DEAD?."""
    from mathflow.errors import MathflowError
    from mathflow.tracking import list_runs

    if not dead_after > 0:
        raise MathflowError(f"--dead-after must be a positive number of seconds, got {dead_after!r}")
    if mark_dead:
        _mark_dead_runs(tracking_uri, experiment, dead_after)
        return
    rows = list_runs(tracking_uri, experiment, max_results=limit)
    if not rows:
        typer.echo("no runs yet")
        return
    _print_runs_table(rows, dead_after)


def _mark_dead_runs(tracking_uri: str | None, experiment: str | None, dead_after: float) -> None:
    """``runs --mark-dead``: end the dead runs FAILED, one line each."""
    from mathflow.tracking import mark_dead

    ended = mark_dead(tracking_uri, experiment, dead_after)
    for row in ended:
        typer.echo(
            f"marked FAILED: run {row.run_id} ({row.run_name}, {row.experiment}): no heartbeat since "
            f"{_local_time(row.heartbeat)}"
        )
    typer.echo(f"{len(ended)} dead run{'s' if len(ended) != 1 else ''} marked FAILED")


def _local_time(unix_time: float | None) -> str:
    """A UNIX time as local ``YYYY-MM-DD HH:MM:SS`` (empty for None)."""
    from datetime import datetime

    return "" if unix_time is None else datetime.fromtimestamp(unix_time).strftime("%Y-%m-%d %H:%M:%S")


def _print_runs_table(rows: list[Any], dead_after: float) -> None:
    """The ``mathflow runs`` table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="runs", title_justify="left")
    for column in ("run id", "name", "experiment", "status", "started", "duration", "key metrics"):
        table.add_column(column)
    for row in rows:
        started = row.start_time.astimezone().strftime("%Y-%m-%d %H:%M:%S") if row.start_time else ""
        duration = f"{row.duration_s:.1f} s" if row.duration_s is not None else ""
        metrics = " · ".join(f"{k} {v:.4g}" for k, v in row.key_metrics().items())
        table.add_row(
            row.run_id, row.run_name, row.experiment, row.shown_status(dead_after), started, duration, metrics
        )
    Console(width=200, soft_wrap=False).print(table)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
