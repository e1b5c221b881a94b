"""`mathflow run` against an MLflow tracking server over http (a real server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import tracking_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_run_logs_to_a_tracking_server(tmp_path: Path, free_port: int) -> None:
    port = free_port
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with tracking_server(tmp_path, port, env) as uri:
        done = subprocess.run(
            [sys.executable, "-m", "mathflow.cli", "run", str(ROOT / "pipelines" / "iris.yaml"),
             "--set", "train.epochs=2", "--tracking-uri", uri, "--quiet", "--json"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.strip().splitlines()) == 1  # --quiet --json: the JSON line alone
        summary = json.loads(done.stdout)
        assert summary["tracking_uri"] == uri
        page = f"{uri}/#/experiments/{summary['experiment_id']}/runs/{summary['run_id']}?workflowType=machine_learning"
        assert f"ui        {page}\n" in done.stderr  # the run's page on the server itself

        from mlflow.tracking import MlflowClient

        run = MlflowClient(uri).get_run(summary["run_id"])
        assert run.info.status == "FINISHED"
        assert [m.step for m in MlflowClient(uri).get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
        assert run.data.params["train.epochs"] == "2"
        assert not (tmp_path / "runs").exists()  # nothing went to the default local store
