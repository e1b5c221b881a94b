"""The ``mathflow`` command line: parse, call the API, print. No math here."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, NoReturn

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


def _debugging(debug: Any) -> bool:
    """Whether errors show their traceback: ``--debug`` or the environment variable ``MATHFLOW_DEBUG``."""
    return bool(debug or os.environ.get("MATHFLOW_DEBUG"))


def _report_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print a MathflowError as ``file:line:col: message`` lines and exit 1 (traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mathflow.errors import MathflowError

        try:
            return command(*args, **kwargs)
        except MathflowError as exc:
            if _debugging(kwargs.get("debug")):
                raise
            typer.echo(exc.format(), err=True)
            raise typer.Exit(1) from None

    return wrapper


_FILES = typer.Argument(..., help="Pipeline YAML files (ML or math), checked one after another.")


@app.command()
@_report_errors
def validate(
    files: list[str] = _FILES,
    overrides: list[str] = _SET,
    debug: bool = _DEBUG,
) -> None:
    """Check pipelines: schema, shapes through every layer, loss against data; print the layer table.

    Several files are checked in turn, each printing its table or its located errors; exit code 1 if any failed.
    """
    if len(files) == 1:
        _validate_file(files[0], overrides)
        return
    from mathflow.errors import MathflowError

    failed = 0
    for file in files:
        try:
            _validate_file(file, overrides)
        except MathflowError as exc:
            if _debugging(debug):
                raise
            for line in exc.format().splitlines():  # every line names its file
                typer.echo(line if line.startswith(f"{file}:") else f"{file}: {line}", err=True)
            failed += 1
    typer.echo(f"{len(files) - failed} of {len(files)} files valid")
    if failed:
        raise typer.Exit(1)


def _validate_file(file: str, overrides: list[str]) -> None:
    """Check one pipeline file and print its layer table (ML) or its summary (math)."""
    from mathflow.config.kind import is_math_pipeline

    if is_math_pipeline(file):
        from mathflow.mathpipe import validate_math

        typer.echo(validate_math(file, overrides))
        return

    from mathflow.compiler.report import print_graph_table
    from mathflow.pipeline import load_pipeline

    spec, compiled = load_pipeline(file, overrides)
    print_graph_table(file, spec, compiled)
    if spec.sweep is not None:
        from mathflow.sweep import describe_plan, make_plan

        typer.echo(describe_plan(make_plan(file, overrides)))


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
def docs(
    out: str = typer.Option(None, "--out", "-o", help="Write the reference to this file instead of printing it."),
    debug: bool = _DEBUG,
) -> None:
    """Print (or write) the pipeline reference: every section and component, from the schema and registries."""
    from mathflow.schema.reference import reference_markdown, write_reference

    if out:
        typer.echo(f"wrote {write_reference(out)}")
    else:
        typer.echo(reference_markdown(), nl=False)


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
    data = spec.to_data()
    if spec.sweep is not None:
        data["sweep"] = spec.sweep.model_dump(mode="json", exclude_none=True)
    typer.echo(dump(data), nl=False)


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

        debug = _debugging(kwargs.get("debug"))
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
            typer.echo(f"error: {_store_fault(exc, kwargs.get('tracking_uri')) or _one_line(exc)}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _store_fault(exc: BaseException, tracking_uri: str | None) -> str | None:
    """One line for a store fault (full disk, read-only, corrupt), None for other errors."""
    from mathflow.tracking.store import resolve_tracking_uri, store_fault

    return store_fault(exc, resolve_tracking_uri(tracking_uri))


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
    seeds: int = typer.Option(
        None, "--seeds", min=1, max=100, help="Run N seeds (seed, seed+1, ...) as a sweep: mean ± std of every metric."
    ),
    debug: bool = _DEBUG,
) -> None:
    """Train a pipeline (or solve a math pipeline) and record the run in MLflow."""
    import json

    if seeds is not None:
        settings = {"seeds": seeds, "method": "grid"}
        _run_sweep(file, overrides, [], settings, tracking_uri, experiment, json_out, file_section=False)
        return
    from mathflow.config.kind import is_math_pipeline

    if is_math_pipeline(file):
        from mathflow.mathpipe import run_math

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


def _run_sweep(
    file: str,
    overrides: list[str],
    params: list[str],
    settings: dict[str, Any],
    tracking_uri: str | None,
    experiment: str | None,
    json_out: bool,
    file_section: bool = True,
    **options: Any,
) -> None:
    """Check the sweep (every mistake located), run it, print where its record is."""
    import json
    import sys

    from mathflow.sweep import make_plan, run_sweep

    plan = make_plan(
        file, overrides, params=params, settings=settings, experiment=experiment, file_section=file_section
    )
    out = sys.stderr if json_out else sys.stdout
    result = run_sweep(plan, tracking_uri=tracking_uri, out=out, **options)
    best = result.best
    if best is not None:
        shown = " ".join(f"{k}={json.dumps(v)}" for k, v in best["params"].items())
        print(
            f"best: {result.metric} {best['value']:.4f} ± {best['std']:.4f} at {shown or '(base)'} "
            f"(run {best['run_id']})",
            file=out,
        )
    print(
        f"sweep {result.parent_run_id} {result.status} in {result.seconds:.1f} s; "
        f"mathflow runs --sweep {result.parent_run_id}",
        file=out,
    )
    if json_out:
        typer.echo(json.dumps(result.summary()))


_PARAM = typer.Option(
    [], "--param", help="Vary a value: PATH=LOW:HIGH[:log] or PATH=A,B,C (repeatable; adds to sweep.parameters)."
)


@app.command()
@_guard_run
def sweep(
    file: str = typer.Argument(None, help="Pipeline YAML file (with or without a sweep: section)."),
    param: list[str] = _PARAM,
    overrides: list[str] = _SET,
    method: str = typer.Option(None, "--method", help="grid, random or tpe (overrides sweep.method)."),
    metric: str = typer.Option(None, "--metric", help="The final metric that ranks trials, e.g. val_accuracy."),
    goal: str = typer.Option(None, "--goal", help="maximize or minimize (default: from the metric's name)."),
    trials: int = typer.Option(None, "--trials", min=1, help="Points tried by random and tpe."),
    seeds: int = typer.Option(None, "--seeds", min=1, help="Runs per point, with seeds seed, seed+1, ..."),
    parallel: int = typer.Option(None, "--parallel", "-j", min=1, max=256, help="Concurrent trials (default: CPUs)."),
    executor: str = typer.Option("local", "--executor", help="local (worker processes) or ray."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (with --executor ray)."),
    trial_cpus: float = typer.Option(1.0, "--trial-cpus", min=0, help="CPUs each Ray trial asks for."),
    trial_gpus: float = typer.Option(0.0, "--trial-gpus", min=0, help="GPUs each Ray trial asks for."),
    resume_id: str = typer.Option(None, "--resume", help="Take up the stopped sweep with this parent run id."),
    tracking_uri: str = _URI,
    experiment: str = typer.Option(None, "--experiment", help="MLflow experiment (default: tracking.experiment)."),
    json_out: bool = typer.Option(False, "--json", help="End with one JSON line describing the sweep."),
    debug: bool = _DEBUG,
) -> None:
    """Run many trials of a pipeline (grid, random or TPE search, seeds, pruning) under one parent run."""
    from mathflow.errors import MathflowError

    settings: dict[str, Any] = {"method": method, "metric": metric, "goal": goal, "trials": trials, "seeds": seeds}
    if resume_id is not None:
        from mathflow.sweep.runner import stopped_sweep

        if file is not None:
            raise MathflowError("--resume takes the stopped sweep's own pipeline; give no FILE with it")
        file, overrides, settings, experiment = stopped_sweep(resume_id, tracking_uri)
    elif file is None:
        raise MathflowError("give a pipeline FILE to sweep, or --resume PARENT_RUN_ID")
    _run_sweep(
        file,
        overrides,
        param,
        settings,
        tracking_uri,
        experiment,
        json_out,
        file_section=resume_id is None,
        executor=executor,
        parallel=parallel,
        address=address,
        resume=resume_id,
        resources={"num_cpus": trial_cpus, "num_gpus": trial_gpus},
    )


@app.command()
@_guard_run
def compare(
    run_a: str = typer.Argument(..., help="A run id."),
    run_b: str = typer.Argument(..., help="Another run id."),
    show_all: bool = typer.Option(False, "--all", help="Show every parameter and metric, not only differences."),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Two runs side by side: the parameters of their resolved pipelines and their metrics."""
    from mathflow.sweep.report import compare_runs

    typer.echo(compare_runs(run_a, run_b, tracking_uri, show_all))


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


@app.command()
@_guard_run
def resume(
    run_id: str = typer.Argument(..., help="The id of a KILLED or FAILED run."),
    tracking_uri: str = _URI,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output (the start and end blocks stay)."),
    json_out: bool = typer.Option(False, "--json", help="End with one JSON line describing the new run."),
    debug: bool = _DEBUG,
) -> None:
    """Continue a KILLED or FAILED run from its last checkpoint, in a new run linked to it."""
    import json

    from mathflow.resume import resume as resume_api
    from mathflow.run import run_summary

    console = _run_console(json_out)
    result = resume_api(run_id, tracking_uri=tracking_uri, quiet=quiet, console=console)
    console.write(run_summary(result))
    console.flush()
    if json_out:
        typer.echo(json.dumps({**result.summary(), "resumed_from": run_id}))


@app.command()
@_guard_run
def predict(
    run_id: str = typer.Argument(..., help="The id of a logged run."),
    input: str = typer.Option(
        ..., "--input", "-i", help="Inputs: .npy/.npz (int or float), or .csv rows (the training CSV's columns)."
    ),
    output: str = typer.Option(None, "--output", "-o", help="Write the predictions here instead of stdout."),
    fmt: str = typer.Option(None, "--format", "-f", help="csv, npy or json (default: by --output's suffix; csv)."),
    proba: bool = typer.Option(False, "--proba", help="Class probabilities (one column per class) instead of labels."),
    allow_nonfinite: bool = typer.Option(
        False, "--allow-nonfinite", help="Let NaN/inf inputs reach the model instead of refusing them."
    ),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Predictions of the model logged by RUN_ID for the inputs in a file: class labels, or values."""
    import sys

    from mathflow.predictor import json_text, open_run_model, output_format, read_input, write_csv, write_output

    chosen = output_format(fmt, output)
    model = open_run_model(run_id, tracking_uri)
    x = read_input(input, model.column_names)
    predictions = model.predict(x, proba=proba, source=input, allow_nonfinite=allow_nonfinite)
    columns = model.class_columns(predictions.shape[-1]) if proba else None
    if output:
        write_output(output, predictions, chosen, columns)
        typer.echo(f"wrote {len(predictions)} {'probability rows' if proba else 'predictions'} to {output}")
        return
    if chosen == "json":  # to a reader that goes away (| head): see _StdoutGuard
        sys.stdout.write(json_text(predictions, columns))
    else:
        write_csv(sys.stdout, predictions, columns)


@app.command()
@_report_errors
def gradcheck(
    file: str = typer.Argument(..., help="Pipeline YAML file."),
    batch: int = typer.Option(16, "--batch", help="Training samples in the checked batch (seeded random)."),
    tolerance: float = typer.Option(1e-6, "--tolerance", help="Relative tolerance of an entry."),
    max_entries: int = typer.Option(
        64, "--max-entries", help="Larger parameters are checked on this many random entries."
    ),
    overrides: list[str] = _SET,
    debug: bool = _DEBUG,
) -> None:
    """Check the compiled model's backprop gradient against central finite differences in float64
    (exit 1 when a parameter fails)."""
    from mathflow.analysis.gradcheck import report_text
    from mathflow.analysis.pipeline_check import gradcheck_pipeline

    report = gradcheck_pipeline(file, overrides, batch=batch, tolerance=tolerance, max_entries=max_entries)
    typer.echo(report_text(report, file), nl=False)
    if not report.passed:
        raise typer.Exit(1)


@app.command()
@_guard_run
def analyze(
    run_id: str = typer.Argument(..., help="The id of a finished run."),
    hessian: str = typer.Option(..., "--hessian", help="top=K[,steps=M]: the K largest Hessian eigenvalues."),
    batch: int = typer.Option(1024, "--batch", help="Training samples the loss is taken on (all when fewer)."),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Gradient norm and top Hessian eigenvalues (Lanczos) of a run's training loss at its trained
    weights, logged to that run. (A math pipeline of kind: analyze runs with `mathflow run FILE`.)"""
    from mathflow.analysis.run_hessian import analyze_hessian, parse_hessian
    from mathflow.errors import MathflowError

    if run_id.endswith((".yaml", ".yml")) or os.path.isfile(run_id):
        raise MathflowError(
            f"analyze takes a run id, not the file {run_id!r}",
            suggestion=f"run a math pipeline (kind: analyze) with: mathflow run {run_id}",
        )
    analysis = analyze_hessian(run_id, parse_hessian(hessian), batch=batch, tracking_uri=tracking_uri)
    typer.echo(analysis.text(), nl=False)
    typer.echo(f"logged {', '.join(analysis.metrics())} and analysis/hessian.json to run {run_id}")


def _wait_for_server(child: Any, meanwhile: Callable[[], None] | None = None) -> int:
    """Run ``meanwhile`` (if given), then wait for the server process; Ctrl-C, SIGTERM or an error of
    ``meanwhile`` stop it (its whole process group). A server started with ``stdout=PIPE`` has its
    output passed on once ``meanwhile`` has printed its lines, so they come first. Its exit status."""
    import signal
    import subprocess
    import sys
    import threading

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    relay = None
    try:
        if meanwhile is not None:
            meanwhile()
        if child.stdout is not None:
            sys.stdout.flush()
            sink = getattr(sys.stdout, "buffer", sys.stdout)
            relay = threading.Thread(target=_pass_on, args=(child.stdout, sink), daemon=True)
            relay.start()
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
        if relay is not None:
            relay.join(timeout=5)  # the server's last lines


def _pass_on(source: Any, sink: Any) -> None:
    """Copy ``source`` to ``sink`` line by line until it ends (or ``sink`` is closed)."""
    for line in iter(source.readline, b""):
        try:
            sink.write(line)
            sink.flush()
        except (OSError, ValueError):
            return


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
    from mathflow.tracking.ui import require_free_port

    require_free_port(port, host)
    argv, env, body = serve_command(run_id, tracking_uri, port=port, host=host)
    typer.echo(f"serving the model of run {run_id} at http://{host}:{port}/invocations (Ctrl-C to stop)")
    typer.echo(f"  curl http://{host}:{port}/invocations -H 'Content-Type: application/json' -d '{body}'")
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
    port: int = typer.Option(None, "--port", "-p", help="Port on 127.0.0.1 (default 5000)."),
    experiment: str = typer.Option(
        None, "--experiment", "-e", help="Show this experiment's URL (default: the newest run's)."
    ),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Start the MLflow UI on 127.0.0.1 against the same store (one worker); Ctrl-C stops it.

    On an existing SQLite store the server starts at once and the newest run's experiment is looked
    up while it imports MLflow (a new store is made first, from the template; an ``--experiment``
    name is checked first).
    """
    import subprocess

    from mathflow.tracking import ensure_store, resolve_tracking_uri, ui_command
    from mathflow.tracking.store import check_sqlite_file, sqlite_path
    from mathflow.tracking.ui import DEFAULT_PORT, experiment_url, require_free_port, ui_base, ui_experiment

    port = DEFAULT_PORT if port is None else port
    uri = resolve_tracking_uri(tracking_uri)
    argv = ui_command(uri, port=port)
    db = sqlite_path(uri)
    if db is None or not check_sqlite_file(db, uri):
        ensure_store(uri)
    named = ui_experiment(uri, experiment) if experiment is not None else None
    require_free_port(port)
    typer.echo(f"MLflow UI for {uri} at {ui_base(port)} (Ctrl-C to stop)")

    def show_experiment() -> None:
        shown = named or ui_experiment(uri, None)
        if shown is not None:
            typer.echo(f"  runs of experiment {shown[1]!r}: {experiment_url(ui_base(port), shown[0])}")

    server = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    code = _wait_for_server(server, meanwhile=show_experiment)
    if code:
        raise typer.Exit(code)


@app.command()
@_report_errors
def daemon(
    action: str = typer.Argument("status", help="status, start or stop."),
    json_out: bool = typer.Option(False, "--json", help="Print the daemon's state as one JSON object (null: none)."),
    every: bool = typer.Option(False, "--all", help="stop: every daemon in the daemon folder (any environment)."),
    debug: bool = _DEBUG,
) -> None:
    """Show, start or stop the daemon that keeps MLflow and mathflow imported for fast commands.

    Every command after the first is run by a fork of it and starts in a fraction of a second. The
    first `mathflow run` starts it; it exits after 15 idle minutes (MATHFLOW_DAEMON_IDLE seconds);
    MATHFLOW_DAEMON=off runs every command in its own process.
    """
    import json

    from mathflow.daemon import control
    from mathflow.errors import MathflowError

    actions = {"status": control.status, "start": control.start, "stop": lambda: control.stop(every)}
    if action not in actions:
        raise MathflowError(f"unknown daemon action {action!r}; choose one of: status, start, stop")
    state = actions[action]()
    typer.echo(json.dumps(state) if json_out else control.describe(state))


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
    sweep_id: str = typer.Option(None, "--sweep", help="The trials of this sweep (parent run id), best first."),
    tracking_uri: str = _URI,
    debug: bool = _DEBUG,
) -> None:
    """Recent runs with their key metrics; a RUNNING run whose process stopped beating shows as DEAD?."""
    from mathflow.errors import MathflowError
    from mathflow.tracking import list_runs

    if sweep_id is not None:
        from mathflow.sweep.report import ranked_trials, trials_table

        typer.echo(trials_table(*ranked_trials(sweep_id, tracking_uri)))
        return

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


class _StdoutGuard:
    """Standard output that becomes ``/dev/null`` once its reader has gone away (``| head``): the
    command goes on (a run trains to the end and is recorded FINISHED) instead of failing on the
    first line it can no longer print."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard()

    def _discard(self) -> None:
        """Point the stream's file descriptor at ``/dev/null`` (what is still buffered goes there too)."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    """Console-script entry point: run the command (standard output guarded by :class:`_StdoutGuard`),
    then end the process at once (:func:`_end_process`)."""
    import sys

    if sys.stdout is not None and not isinstance(sys.stdout, _StdoutGuard):
        sys.stdout = _StdoutGuard(sys.stdout)  # type: ignore[assignment]
    try:
        app()
    except SystemExit as exc:
        _end_process(exc.code)
    _end_process(0)


def _end_process(code: int | str | None) -> NoReturn:
    """Exit with ``code`` as ``sys.exit`` would, without the interpreter's teardown.

    Freeing every module and object of a process that imported MLflow, pandas and SQLAlchemy takes
    0.5-1.5 s, after all the work is done and recorded. So the steps of Python's own shutdown that
    matter are taken here, in its order: wait for the other threads (``threading._shutdown``, which
    also stops idle thread pools), run the exit handlers (MLflow's, multiprocessing's, temporary
    folders' finalizers, logging's flush), flush standard output and error (a reader that has gone
    away is not an error); then ``os._exit``. Where those hooks are missing, a normal exit.
    """
    import atexit
    import sys
    import threading

    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    shutdown_threads = getattr(threading, "_shutdown", None)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if shutdown_threads is None or run_exit_handlers is None:
        sys.exit(code)
    shutdown_threads()
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    main()
