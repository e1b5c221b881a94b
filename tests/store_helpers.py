"""Reading the default store (``<folder>/runs/mlflow.db``) that a CLI run in ``folder`` wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def client_for(folder: Path) -> Any:
    """An MLflow client on the default store of ``folder``."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{(folder / 'runs' / 'mlflow.db').as_posix()}")


def only_run(folder: Path, experiment: str) -> Any:
    """The one run of ``experiment`` in the default store of ``folder``."""
    mlf = client_for(folder)
    exp = mlf.get_experiment_by_name(experiment)
    assert exp is not None
    runs = mlf.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return runs[0]
