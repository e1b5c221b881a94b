"""``mathflow serve``: MLflow's scoring server for a logged model, asked over real HTTP, then stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 180


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def _wait_ready(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode}: {server.stdout.read()}")
        if _get(f"{base}/ping") == 200:
            return
        time.sleep(0.5)
    raise AssertionError(f"no answer on {base}/ping after {READY_SECONDS} s")


def _post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_serve_answers_invocations_with_class_labels(tmp_path: Path, free_port: int) -> None:
    from mathflow.run import run_pipeline

    uri = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    run_id = run_pipeline(ROOT / "pipelines" / "iris.yaml", ["train.epochs=2"], tracking_uri=uri, quiet=True).run_id
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "mathflow.cli", "serve", run_id, "--port", str(free_port), "--tracking-uri", uri]
    server = subprocess.Popen(
        command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    base = f"http://127.0.0.1:{free_port}"
    try:
        _wait_ready(base, server)
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
        answer = _post(f"{base}/invocations", {"inputs": rows})
        assert len(answer["predictions"]) == 3
        assert set(answer["predictions"]) <= {"setosa", "versicolor", "virginica"}
        from mathflow.predictor import open_run_model

        expected = open_run_model(run_id, uri).predict(rows)
        assert answer["predictions"] == expected.tolist()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            raise
    output = server.stdout.read()
    assert code == 0, output
    assert f"{base}/invocations" in output and "Traceback" not in output
    assert _get(f"{base}/ping") == 0  # the scoring server went down with the command
    assert sorted(p.name for p in work.iterdir()) == []  # nothing written outside the store


def test_serve_of_a_missing_run_is_one_line(tmp_path: Path) -> None:
    from mathflow.tracking.store import ensure_store

    uri = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    ensure_store(uri)
    command = [sys.executable, "-m", "mathflow.cli", "serve", "0" * 32, "--tracking-uri", uri, "--port", "5999"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "cannot load the model of run" in done.stderr, done.stderr
