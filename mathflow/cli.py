"""The ``mathflow`` command line: parse the arguments, call one application function, print. No math here.

The options and arguments are declared in :mod:`mathflow.cli_options`. Everything else is imported
inside the command that needs it, so ``mathflow --help`` and ``mathflow validate`` stay fast.
:func:`main` is what the process host (the console script, a child of the daemon) calls.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from mathflow import cli_options as opt

if TYPE_CHECKING:
    from mathflow.process import Host

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


def _debugging(debug: Any) -> bool:
    """Whether errors show their traceback: ``--debug`` or the environment variable ``MATHFLOW_DEBUG``."""
    return bool(debug or os.environ.get("MATHFLOW_DEBUG"))


def _command(run: bool = False, name: str | None = None) -> Callable[[Callable[..., Any]], Any]:
    """``@app.command()``, with the command's errors reported as lines on stderr and an exit code
    (:func:`mathflow.failures.failure`; the traceback instead with ``--debug``). A ``run`` command
    reports every error in one line (exit 1) and a stop by SIGINT, SIGTERM or SIGHUP (exit 128 +
    signal) or Ctrl-C (130); the others a MathflowError as ``file:line:col: message`` lines (exit 1)."""

    def register(command: Callable[..., Any]) -> Any:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return command(*args, **kwargs)
            except (typer.Exit, typer.Abort):
                raise
            except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - one line (the traceback with --debug)
                from mathflow.failures import failure

                found = None if _debugging(kwargs.get("debug")) else failure(exc, run, kwargs.get("tracking_uri"))
                if found is None:
                    raise
                typer.echo(found[0], err=True)
                raise typer.Exit(found[1]) from None

        return app.command(name=name)(wrapper)

    return register


def _may_fork(ctx: typer.Context) -> bool:
    """The host's permission for a run to fork its figure helper (:class:`mathflow.process.Host`)."""
    return bool(getattr(ctx.obj, "figures_may_fork", False))


def _echo_lines(lines: list[str], code: int = 0) -> None:
    """Print ``lines``, then exit with ``code`` unless it is 0."""
    for line in lines:
        typer.echo(line)
    if code:
        raise typer.Exit(code)


@app.command()
def info() -> None:
    """Show the versions and the compute devices mathflow can use."""
    from mathflow.about import info_lines

    _echo_lines(info_lines())


# --------------------------------------------------------------------------- pipeline commands
@_command()
def validate(files: list[str] = opt.FILES, overrides: list[str] = opt.SET, debug: bool = opt.DEBUG) -> None:
    """Check pipelines: schema, shapes through every layer, loss against data; print the layer table.

    Several files are checked in turn, each printing its table or its located errors; exit code 1 if any failed.
    """
    from mathflow.inspection import validate_files

    to_stderr = functools.partial(typer.echo, err=True)
    _echo_lines([], validate_files(files, overrides, _debugging(debug), typer.echo, to_stderr))


@_command()
def schema(output: str = opt.SCHEMA_OUTPUT, kind: str = opt.SCHEMA_KIND, debug: bool = opt.DEBUG) -> None:
    """Print (or write) the JSON Schema of pipeline files (generated from the component registries)."""
    from mathflow.inspection import schema_output

    typer.echo(schema_output(kind, output), nl=False)


@_command()
def docs(out: str = opt.DOCS_OUT, debug: bool = opt.DEBUG) -> None:
    """Print (or write) the pipeline reference: every section and component, from the schema and registries."""
    from mathflow.schema.reference import reference_markdown, write_reference

    typer.echo(f"wrote {write_reference(out)}\n" if out else reference_markdown(), nl=False)


@_command()
def show(file: str = opt.FILE, overrides: list[str] = opt.SET, debug: bool = opt.DEBUG) -> None:
    """Print the fully resolved pipeline (extends, --set, references and defaults applied) as YAML."""
    from mathflow.inspection import resolved_yaml

    typer.echo(resolved_yaml(file, overrides), nl=False)


@_command()
def graph(
    file: str = opt.FILE, format: str = opt.GRAPH_FORMAT, overrides: list[str] = opt.SET, debug: bool = opt.DEBUG
) -> None:
    """Print the model graph with per-node output shapes as Mermaid or Graphviz DOT."""
    from mathflow.inspection import graph_text

    typer.echo(graph_text(file, format, overrides), nl=False)


@_command(name="list")
def list_components(family: str = opt.FAMILY, debug: bool = opt.DEBUG) -> None:
    """List the components a pipeline can name, with their parameters and defaults."""
    from mathflow.compiler.report import print_catalog

    print_catalog(family)


# --------------------------------------------------------------------------- run commands
@_command(run=True)
def run(
    ctx: typer.Context,
    file: str = opt.FILE,
    overrides: list[str] = opt.SET,
    device: str = opt.DEVICE,
    tracking_uri: str = opt.URI,
    experiment: str = opt.EXPERIMENT,
    quiet: bool = opt.QUIET,
    json_out: bool = opt.RUN_JSON,
    seeds: int = opt.RUN_SEEDS,
    debug: bool = opt.DEBUG,
) -> None:
    """Train a pipeline (or solve a math pipeline) and record the run in MLflow."""
    from mathflow.run_console import run_file

    options = {"device": device, "tracking_uri": tracking_uri, "experiment": experiment, "quiet": quiet}
    _echo_lines(run_file(file, overrides, **options, json_out=json_out, seeds=seeds, figures_may_fork=_may_fork(ctx)))


@_command(run=True)
def sweep(
    file: str = opt.SWEEP_FILE,
    param: list[str] = opt.PARAM,
    overrides: list[str] = opt.SET,
    method: str = opt.METHOD,
    metric: str = opt.METRIC,
    goal: str = opt.GOAL,
    trials: int = opt.TRIALS,
    seeds: int = opt.SWEEP_SEEDS,
    parallel: int = opt.PARALLEL,
    executor: str = opt.EXECUTOR,
    address: str = opt.ADDRESS,
    trial_cpus: float = opt.TRIAL_CPUS,
    trial_gpus: float = opt.TRIAL_GPUS,
    resume_id: str = opt.SWEEP_RESUME,
    tracking_uri: str = opt.URI,
    experiment: str = opt.EXPERIMENT,
    json_out: bool = opt.SWEEP_JSON,
    debug: bool = opt.DEBUG,
) -> None:
    """Run many trials of a pipeline (grid, random or TPE search, seeds, pruning) under one parent run."""
    from mathflow.sweep.command import sweep as sweep_command

    settings: dict[str, Any] = {"method": method, "metric": metric, "goal": goal, "trials": trials, "seeds": seeds}
    where = (tracking_uri, experiment, json_out, resume_id)
    resources = {"num_cpus": trial_cpus, "num_gpus": trial_gpus}
    options = {"executor": executor, "parallel": parallel, "address": address, "resources": resources}
    _echo_lines(sweep_command(file, overrides, param, settings, *where, **options))


@_command(run=True)
def compare(
    run_a: str = opt.RUN_A,
    run_b: str = opt.RUN_B,
    show_all: bool = opt.SHOW_ALL,
    tracking_uri: str = opt.URI,
    debug: bool = opt.DEBUG,
) -> None:
    """Two runs side by side: the parameters of their resolved pipelines and their metrics."""
    from mathflow.sweep.report import compare_runs

    typer.echo(compare_runs(run_a, run_b, tracking_uri, show_all))


@_command(run=True)
def rerun(
    ctx: typer.Context,
    run_id: str = opt.RUN_ID,
    device: str = opt.DEVICE,
    tracking_uri: str = opt.URI,
    quiet: bool = opt.RERUN_QUIET,
    json_out: bool = opt.RERUN_JSON,
    debug: bool = opt.DEBUG,
) -> None:
    """Run the pipeline logged by RUN_ID again and say whether the metrics match (exit 2 when they differ)."""
    from mathflow.run_console import rerun_report

    options = {"device": device, "tracking_uri": tracking_uri, "quiet": quiet, "json_out": json_out}
    _echo_lines(*rerun_report(run_id, **options, figures_may_fork=_may_fork(ctx)))


@_command(run=True)
def resume(
    ctx: typer.Context,
    run_id: str = opt.RESUME_RUN_ID,
    tracking_uri: str = opt.URI,
    quiet: bool = opt.QUIET,
    json_out: bool = opt.RESUME_JSON,
    debug: bool = opt.DEBUG,
) -> None:
    """Continue a KILLED or FAILED run from its last checkpoint, in a new run linked to it."""
    from mathflow.run_console import resume_run

    options = {"tracking_uri": tracking_uri, "quiet": quiet, "json_out": json_out}
    _echo_lines(resume_run(run_id, **options, figures_may_fork=_may_fork(ctx)))


@_command(run=True)
def predict(
    run_id: str = opt.RUN_ID,
    input: str = opt.INPUT,
    output: str = opt.PREDICT_OUTPUT,
    fmt: str = opt.PREDICT_FORMAT,
    proba: bool = opt.PROBA,
    allow_nonfinite: bool = opt.ALLOW_NONFINITE,
    tracking_uri: str = opt.URI,
    debug: bool = opt.DEBUG,
) -> None:
    """Predictions of the model logged by RUN_ID for the inputs in a file: class labels, or values."""
    from mathflow.prediction import predict_file

    options = {"proba": proba, "allow_nonfinite": allow_nonfinite, "tracking_uri": tracking_uri}
    _echo_lines(predict_file(run_id, input, output, fmt, **options))


@_command()
def gradcheck(
    file: str = opt.FILE,
    batch: int = opt.GRAD_BATCH,
    tolerance: float = opt.TOLERANCE,
    max_entries: int = opt.MAX_ENTRIES,
    overrides: list[str] = opt.SET,
    debug: bool = opt.DEBUG,
) -> None:
    """Check the compiled model's backprop gradient against central finite differences in float64
    (exit 1 when a parameter fails)."""
    from mathflow.analysis.gradcheck import report_text
    from mathflow.analysis.pipeline_check import gradcheck_pipeline

    report = gradcheck_pipeline(file, overrides, batch=batch, tolerance=tolerance, max_entries=max_entries)
    typer.echo(report_text(report, file), nl=False)
    _echo_lines([], 0 if report.passed else 1)


@_command(run=True)
def analyze(
    run_id: str = opt.FINISHED_RUN_ID,
    hessian: str = opt.HESSIAN,
    batch: int = opt.HESSIAN_BATCH,
    tracking_uri: str = opt.URI,
    debug: bool = opt.DEBUG,
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


# --------------------------------------------------------------------------- servers, export, daemon
@_command(run=True)
def serve(
    run_id: str = opt.RUN_ID,
    port: int = opt.SERVE_PORT,
    host: str = opt.SERVE_HOST,
    tracking_uri: str = opt.URI,
    debug: bool = opt.DEBUG,
) -> None:
    """Serve the model logged by RUN_ID with MLflow's scoring server (POST /invocations); Ctrl-C stops it."""
    from mathflow.servers import serve_model

    _echo_lines([], serve_model(run_id, port, host, tracking_uri, typer.echo))


@_command(run=True)
def export(
    run_id: str = opt.RUN_ID,
    output: str = opt.EXPORT_OUTPUT,
    fmt: str = opt.EXPORT_FORMAT,
    tracking_uri: str = opt.URI,
    debug: bool = opt.DEBUG,
) -> None:
    """Export the model logged by RUN_ID (its input transforms included) to another format."""
    from mathflow.predictor import export_run

    typer.echo(f"wrote {export_run(run_id, output, fmt, tracking_uri)} ({fmt})")


@_command(run=True)
def ui(
    port: int = opt.UI_PORT, experiment: str = opt.UI_EXPERIMENT, tracking_uri: str = opt.URI, debug: bool = opt.DEBUG
) -> None:
    """Start the MLflow UI on 127.0.0.1 against the same store (one worker); Ctrl-C stops it.

    On an existing SQLite store the server starts at once and the newest run's experiment is looked
    up while it imports MLflow (a new store is made first, from the template; an ``--experiment``
    name is checked first).
    """
    from mathflow.servers import serve_ui

    _echo_lines([], serve_ui(port, experiment, tracking_uri, typer.echo))


@_command()
def daemon(
    action: str = opt.DAEMON_ACTION,
    json_out: bool = opt.DAEMON_JSON,
    every: bool = opt.DAEMON_ALL,
    everywhere: bool = opt.DAEMON_EVERYWHERE,
    debug: bool = opt.DEBUG,
) -> None:
    """Show, start or stop the daemon that keeps MLflow and mathflow imported for fast commands.

    Every command after the first is run by a fork of it and starts in a fraction of a second. The
    first `mathflow run` starts it; it exits after 15 idle minutes (MATHFLOW_DAEMON_IDLE seconds);
    MATHFLOW_DAEMON=off runs every command in its own process.
    """
    from mathflow.daemon import control

    typer.echo(control.report(action, every, json_out, everywhere))


@_command(run=True)
def runs(
    experiment: str = opt.RUNS_EXPERIMENT,
    limit: int = opt.LIMIT,
    dead_after: float = opt.DEAD_AFTER,
    mark_dead: bool = opt.MARK_DEAD,
    sweep_id: str = opt.SWEEP_ID,
    tracking_uri: str = opt.URI,
    debug: bool = opt.DEBUG,
) -> None:
    """Recent runs with their key metrics; a RUNNING run whose process stopped beating shows as DEAD?."""
    from mathflow.runs_report import report_runs

    report_runs(tracking_uri, experiment, limit, dead_after, mark_dead, sweep_id, typer.echo)


def main(host: Host | None = None) -> None:
    """Run the command of ``sys.argv`` with standard output guarded, then end the process at once
    (:mod:`mathflow.process`). ``host`` is what the process that runs the command allows it; by
    default, that of a process of its own."""
    import sys

    from mathflow.process import Host, end_process, guard_stdout, missing_folder_line

    guard_stdout()
    gone = missing_folder_line(sys.argv[1:])
    if gone is not None:
        end_process(gone)  # one line on stderr, exit 1
    try:
        app(obj=host if host is not None else Host())
    except SystemExit as exc:
        end_process(exc.code)
    end_process(0)


if __name__ == "__main__":
    main()
