"""``mathflow run``, ``rerun`` and ``resume`` as the command line prints them.

A run writes its start and end blocks to a console: standard output, or standard error when
standard output carries the ``--json`` line. Each function here returns what the command line
prints on standard output once the work is done: its lines (the ``--json`` line, rerun's report).
``figures_may_fork`` is the host's permission (:class:`mathflow.process.Host`) passed to the run.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO


def run_console(json_out: bool) -> TextIO:
    """Where a run prints its start and end blocks: stdout, or stderr when stdout carries ``--json``."""
    return sys.stderr if json_out else sys.stdout


def run_file(
    file: str,
    overrides: list[str],
    *,
    device: str | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    quiet: bool = False,
    json_out: bool = False,
    seeds: int | None = None,
    figures_may_fork: bool = False,
) -> list[str]:
    """``mathflow run``: train an ML pipeline, solve a math pipeline, or (``seeds``) run N seeds as a
    grid sweep; the ``--json`` line (none without ``json_out``)."""
    if seeds is not None:
        from mathflow.sweep.command import drive

        settings = {"seeds": seeds, "method": "grid"}
        return drive(file, overrides, [], settings, tracking_uri, experiment, json_out, file_section=False)
    from mathflow.config.kind import is_math_pipeline

    if is_math_pipeline(file):
        from mathflow.mathpipe import run_math

        outcome = run_math(file, overrides, tracking_uri=tracking_uri, experiment=experiment, quiet=quiet or json_out)
        return [json.dumps(outcome)] if json_out else []

    from mathflow.run import run_pipeline
    from mathflow.run_report import run_summary

    console = run_console(json_out)
    result = run_pipeline(
        file,
        overrides,
        device=device,
        tracking_uri=tracking_uri,
        experiment=experiment,
        quiet=quiet,
        console=console,
        figures_may_fork=figures_may_fork,
    )
    console.write(run_summary(result))
    console.flush()
    return [json.dumps(result.summary())] if json_out else []


def rerun_report(
    run_id: str,
    *,
    device: str | None = None,
    tracking_uri: str | None = None,
    quiet: bool = False,
    json_out: bool = False,
    figures_may_fork: bool = False,
) -> tuple[list[str], int]:
    """``mathflow rerun``: run the pipeline of ``run_id`` again; the lines that say whether its metrics
    match (and the ``--json`` line), and the exit code: 0 when they match, 2 when they differ."""
    from mathflow.rerun import rerun

    outcome = rerun(run_id, tracking_uri=tracking_uri, device=device, quiet=quiet, figures_may_fork=figures_may_fork)
    new_id = outcome.result.run_id
    if outcome.matches:
        lines = [f"rerun {new_id}: all {len(outcome.compared)} metrics match run {run_id}"]
    else:
        differ = len(outcome.differences)
        lines = [f"rerun {new_id}: {differ} of {len(outcome.compared)} metrics differ from run {run_id}"]
        lines += [f"  {key}: {old!r} -> {new!r}" for key, (old, new) in outcome.differences.items()]
    if json_out:
        summary: dict[str, Any] = {
            "run_id": new_id,
            "original_run_id": run_id,
            "matches": outcome.matches,
            "differences": {k: list(v) for k, v in outcome.differences.items()},
        }
        lines.append(json.dumps(summary))
    return lines, 0 if outcome.matches else 2


def resume_run(
    run_id: str,
    *,
    tracking_uri: str | None = None,
    quiet: bool = False,
    json_out: bool = False,
    figures_may_fork: bool = False,
) -> list[str]:
    """``mathflow resume``: continue a KILLED or FAILED run from its last checkpoint in a new run; the
    ``--json`` line (none without ``json_out``)."""
    from mathflow.resume import resume
    from mathflow.run_report import run_summary

    console = run_console(json_out)
    result = resume(run_id, tracking_uri=tracking_uri, quiet=quiet, console=console, figures_may_fork=figures_may_fork)
    console.write(run_summary(result))
    console.flush()
    return [json.dumps({**result.summary(), "resumed_from": run_id})] if json_out else []
