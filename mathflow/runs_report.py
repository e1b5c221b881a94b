"""``mathflow runs``: the recent runs as a table, a sweep's trials, or the dead runs ended FAILED.

A RUNNING run whose process has stopped beating for ``dead_after`` seconds shows as ``DEAD?``;
``--mark-dead`` ends those runs FAILED. ``say`` prints one line to standard output (the command
line passes ``typer.echo``); the table is printed by rich.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Say = Callable[[str], Any]


def report_runs(
    tracking_uri: str | None,
    experiment: str | None,
    limit: int,
    dead_after: float,
    mark_dead: bool,
    sweep_id: str | None,
    say: Say,
) -> None:
    """What ``mathflow runs`` prints: the trials of ``sweep_id`` best first, else the dead runs ended
    FAILED (``mark_dead``), else the ``limit`` newest runs (of ``experiment``)."""
    from mathflow.errors import MathflowError
    from mathflow.tracking import list_runs

    if sweep_id is not None:
        from mathflow.sweep.report import ranked_trials, trials_table

        say(trials_table(*ranked_trials(sweep_id, tracking_uri)))
        return

    if not dead_after > 0:
        raise MathflowError(f"--dead-after must be a positive number of seconds, got {dead_after!r}")
    if mark_dead:
        for line in mark_dead_runs(tracking_uri, experiment, dead_after):
            say(line)
        return
    rows = list_runs(tracking_uri, experiment, max_results=limit)
    if not rows:
        from mathflow.tracking import resolve_tracking_uri

        where = f"of experiment {experiment!r} " if experiment is not None else ""
        say(f"no runs {where}yet in {resolve_tracking_uri(tracking_uri)}")
        return
    print_runs_table(rows, dead_after)


def mark_dead_runs(tracking_uri: str | None, experiment: str | None, dead_after: float) -> list[str]:
    """End the dead runs FAILED; a line for each, then the count."""
    from mathflow.tracking import mark_dead

    ended = mark_dead(tracking_uri, experiment, dead_after)
    lines = [
        f"marked FAILED: run {row.run_id} ({row.run_name}, {row.experiment}): no heartbeat since "
        f"{local_time(row.heartbeat)}"
        for row in ended
    ]
    lines.append(f"{len(ended)} dead run{'s' if len(ended) != 1 else ''} marked FAILED")
    return lines


def local_time(unix_time: float | None) -> str:
    """A UNIX time as local ``YYYY-MM-DD HH:MM:SS`` (empty for None)."""
    from datetime import datetime

    return "" if unix_time is None else datetime.fromtimestamp(unix_time).strftime("%Y-%m-%d %H:%M:%S")


def print_runs_table(rows: list[Any], dead_after: float) -> None:
    """The ``mathflow runs`` table, on standard output."""
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
