"""What is imported and warmed ahead, in a process that will run many commands or many runs.

Two such processes share this list of what a command would otherwise import on its own:

- the daemon (:func:`preload_daemon`): imports everything a command may need, then forks a child
  per command (:mod:`mathflow.daemon.server`);
- a sweep's local worker (:func:`warm_up_worker`): imports what recording a run needs, then runs
  one trial after another (:mod:`mathflow.sweep.local`).

Both draw one figure off-screen, so that matplotlib's fonts and caches are loaded before the first
run draws its own. Modules are named, not imported, here: one that is not installed is skipped.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Iterable

RUN_MODULES = (
    "mathflow.run",
    "mathflow.tracking.run",
    "mlflow.pyfunc",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
)
"""What training and recording a run imports: mathflow's run, MLflow's pyfunc, matplotlib's off-screen figures."""

DAEMON_MODULES = (
    "numpy",
    "yaml",
    "pydantic",
    "typer",
    "rich.console",
    "rich.table",
    "mathflow",
    "mathflow.run",
    "mathflow.tracking.run",
    "mathflow.tracking.store",
    "mathflow.predictor",
    "mathflow.mathpipe",
    "mlflow",
    "mlflow.pyfunc",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.db.utils",
    "alembic.migration",
    "alembic.script",
    "sqlalchemy.dialects.sqlite",
    "git",
    "matplotlib",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "sklearn.datasets",
    "onnx",
)
"""What any command would import on its own (the daemon imports the command line itself as well)."""


def import_ahead(names: Iterable[str]) -> None:
    """Import each module of ``names`` (one that is not installed is skipped)."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def draw_a_figure() -> None:
    """Draw one small figure with a legend into a PNG in memory (nothing when matplotlib is missing)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(2, 2))
        figure.add_subplot().plot([0, 1], [1, 0], label="warm-up")
        figure.legend()
        FigureCanvasAgg(figure).print_png(io.BytesIO())
    except ImportError:
        pass


def preload_daemon() -> None:
    """The daemon's start: import :data:`DAEMON_MODULES` and draw a figure."""
    import_ahead(DAEMON_MODULES)
    draw_a_figure()


def warm_up_worker() -> None:
    """A sweep worker's start, paid once per worker: import :data:`RUN_MODULES` and draw a figure."""
    import_ahead(RUN_MODULES)
    draw_a_figure()
