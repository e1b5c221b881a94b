"""Addresses in the MLflow UI: an experiment's runs table, a run's page.

MLflow 3's UI is a single-page app routed after ``#``::

    http://127.0.0.1:5000/#/experiments/<experiment id>/runs?workflowType=machine_learning           runs table
    http://127.0.0.1:5000/#/experiments/<experiment id>/runs/<run id>?workflowType=machine_learning  one run

An experiment tagged ``mlflow.experimentKind = custom_model_development`` (as mathflow creates them,
see :data:`mathflow.tracking.store.EXPERIMENT_TAGS`) is a model-training experiment, whose first tab
is that runs table. The UI's sidebar has one switch for every page, GenAI or model training
(remembered by the browser, GenAI at first): ``workflowType=machine_learning`` sets it.
"""

from __future__ import annotations

from mathflow.errors import MathflowError

DEFAULT_PORT = 5000
"""The port ``mathflow ui`` serves on unless told otherwise."""


def run_page(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """Where a run's page is: on the tracking server itself for an ``http(s)://`` store, else on the
    UI that ``mathflow ui`` starts on its default port (followed by how to start it)."""
    if tracking_uri.startswith(("http://", "https://")):
        return run_url(tracking_uri, experiment_id, run_id)
    return f"{run_url(ui_base(DEFAULT_PORT), experiment_id, run_id)} (open after: mathflow ui)"


def require_free_port(port: int, host: str = "127.0.0.1") -> None:
    """Raise when ``host:port`` cannot be bound (another program listens there): a server started on it
    would fail after its start-up, or the browser would show the other program instead."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: a closing port is free
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise MathflowError(
                    f"port {port} on {host} is already in use by another program",
                    suggestion="choose another one with --port, or stop the program that listens there",
                ) from None
            raise MathflowError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def ui_base(port: int, host: str = "127.0.0.1") -> str:
    """``http://host:port``, the UI's root."""
    return f"http://{host}:{port}"


VIEW = "?workflowType=machine_learning"
"""The UI's model-training view (not its GenAI one)."""


def experiment_url(base: str, experiment_id: str) -> str:
    """The runs table of experiment ``experiment_id``."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs{VIEW}"


def run_url(base: str, experiment_id: str, run_id: str, tab: str = "") -> str:
    """The page of run ``run_id``: its overview (metrics, parameters), or ``tab`` ("artifacts", ...)."""
    path = f"{run_id}/{tab}" if tab else run_id
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{path}{VIEW}"


def ui_experiment(uri: str, name: str | None = None) -> tuple[str, str] | None:
    """``(id, name)`` of the experiment ``mathflow ui`` opens: the one called ``name``, else the one
    of the newest run; None for a store without runs (a missing SQLite file is not created)."""
    from mathflow.tracking.store import client, experiment_named, sqlite_path

    db = sqlite_path(uri)
    if db is not None and not db.exists():
        if name is not None:
            raise MathflowError(f"no experiment named {name!r}: there is no MLflow store at {db}")
        return None
    mlf = client(uri)
    if name is not None:
        exp = experiment_named(mlf, name, uri)
        return str(exp.experiment_id), exp.name
    experiments = {str(e.experiment_id): e.name for e in mlf.search_experiments()}
    if not experiments:
        return None
    newest = mlf.search_runs(list(experiments), max_results=1, order_by=["attributes.start_time DESC"])
    if not newest:
        return None
    experiment_id = str(newest[0].info.experiment_id)
    return experiment_id, experiments[experiment_id]
