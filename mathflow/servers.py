"""``mathflow serve`` and ``mathflow ui``: start a server process, say where it listens, supervise it.

Each server runs in a process group of its own, so that stopping it stops everything it started;
Ctrl-C, SIGTERM or SIGHUP of the command stops it, and the command exits with its status. A watchdog
in that group (:mod:`mathflow.server_watch`) stops the group when the command ends in any other way
(kill -9, the daemon's child killed with its caller), so no server outlives its command.
``say`` prints one line to standard output (the command line passes ``typer.echo``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

Say = Callable[[str], Any]


def serve_model(run_id: str, port: int, host: str, tracking_uri: str | None, say: Say) -> int:
    """Serve the model logged by ``run_id`` with MLflow's scoring server until it ends or is stopped;
    its exit status."""
    import subprocess

    from mathflow.predictor import serve_command
    from mathflow.tracking.ui import require_free_port

    require_free_port(port, host)
    argv, env, body = serve_command(run_id, tracking_uri, port=port, host=host)
    say(f"serving the model of run {run_id} at http://{host}:{port}/invocations (Ctrl-C to stop)")
    say(f"  curl http://{host}:{port}/invocations -H 'Content-Type: application/json' -d '{body}'")
    child = subprocess.Popen(argv, env=env, preexec_fn=os.setpgrp)  # noqa: PLW1509 - setpgrp only
    return wait_for_server(child)


def serve_ui(port: int | None, experiment: str | None, tracking_uri: str | None, say: Say) -> int:
    """Run the MLflow UI on 127.0.0.1 against the store until it ends or is stopped; its exit status.

    On an existing SQLite store the server starts at once and the newest run's experiment is looked
    up while it imports MLflow (a new store is made first, from the template; an ``experiment`` name
    is checked first).
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
    say(f"MLflow UI for {uri} at {ui_base(port)} (Ctrl-C to stop)")

    def show_experiment() -> None:
        shown = named or ui_experiment(uri, None)
        if shown is not None:
            say(f"  runs of experiment {shown[1]!r}: {experiment_url(ui_base(port), shown[0])}")

    server = subprocess.Popen(
        argv,
        preexec_fn=os.setpgrp,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # noqa: PLW1509
    )
    return wait_for_server(server, meanwhile=show_experiment)


def wait_for_server(child: Any, meanwhile: Callable[[], None] | None = None) -> int:
    """Run ``meanwhile`` (if given), then wait for the server process (the leader of its own process
    group, watched by :func:`mathflow.server_watch.start`); Ctrl-C, SIGTERM, SIGHUP or an error of
    ``meanwhile`` stop it (its whole process group). A server started with ``stdout=PIPE`` has its
    output passed on once ``meanwhile`` has printed its lines, so they come first. Its exit status."""
    import signal
    import subprocess
    import sys
    import threading

    from mathflow import server_watch

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    watchdog = server_watch.start(child)
    relay = None
    try:
        if meanwhile is not None:
            meanwhile()
        if child.stdout is not None:
            sys.stdout.flush()
            sink = getattr(sys.stdout, "buffer", sys.stdout)
            relay = threading.Thread(target=pass_on, args=(child.stdout, sink), daemon=True)
            relay.start()
        return int(child.wait())
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
        if watchdog is not None:
            os.close(watchdog)  # its group is empty now: it ends


def pass_on(source: Any, sink: Any) -> None:
    """Copy ``source`` to ``sink`` line by line until it ends (or ``sink`` is closed)."""
    for line in iter(source.readline, b""):
        try:
            sink.write(line)
            sink.flush()
        except (OSError, ValueError):
            return
