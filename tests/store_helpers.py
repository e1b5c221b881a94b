"""Reading the default store (``<folder>/runs/mlflow.db``) that a CLI run in ``folder`` wrote."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
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


@contextlib.contextmanager
def tracking_server(folder: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1:``port`` over a store in ``folder``; yields its URI once healthy."""
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
         "--default-artifact-root", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("the MLflow server did not start") from None
                time.sleep(0.5)
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)
