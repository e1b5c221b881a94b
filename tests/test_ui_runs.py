"""``mathflow runs`` lists recorded runs; ``mathflow ui`` serves MLflow's UI and REST API on the same store."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import cli_env

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A folder whose default store holds one short logistic-regression run: (folder, run id, experiment id)."""
    from mathflow.run import run_pipeline

    folder = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{(folder / 'runs' / 'mlflow.db').as_posix()}"
    result = run_pipeline(ROOT / "pipelines" / "logistic.yaml", ["train.epochs=1"], tracking_uri=uri, quiet=True)
    return folder, result.run_id, result.experiment_id


def test_runs_lists_the_run_with_key_metrics(recorded: tuple[Path, str, str]) -> None:
    folder, run_id, _ = recorded
    done = subprocess.run(
        [sys.executable, "-m", "mathflow.cli", "runs", "--experiment", "logistic"],
        cwd=folder,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert run_id in done.stdout
    assert "FINISHED" in done.stdout
    assert "test_accuracy" in done.stdout


def test_runs_in_a_folder_without_a_store_names_the_store_it_looked_at(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mathflow.cli", "runs"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"no runs yet in sqlite:///{(tmp_path / 'runs' / 'mlflow.db').resolve().as_posix()}\n"
    assert list(tmp_path.iterdir()) == []  # looking creates no store


def test_runs_unknown_experiment_is_an_error(recorded: tuple[Path, str, str]) -> None:
    folder, _, _ = recorded
    done = subprocess.run(
        [sys.executable, "-m", "mathflow.cli", "runs", "--experiment", "no-such-thing"],
        cwd=folder,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "no-such-thing" in done.stderr and "Traceback" not in done.stderr


def _search(port: int, experiment_id: str) -> dict | None:
    body = json.dumps({"experiment_ids": [experiment_id], "max_results": 10}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@pytest.mark.slow
def test_ui_serves_the_store_and_stops_cleanly(recorded: tuple[Path, str, str], free_port: int) -> None:
    folder, run_id, experiment_id = recorded
    port = free_port
    proc = subprocess.Popen(
        [sys.executable, "-m", "mathflow.cli", "ui", "--port", str(port)],
        cwd=folder,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        answer = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            answer = _search(port, experiment_id)
            if answer is not None:
                break
            time.sleep(0.5)
        assert answer is not None, "the UI never answered"
        ids = [r["info"]["run_id"] for r in answer.get("runs", [])]
        assert run_id in ids
        proc.terminate()
        assert proc.wait(timeout=30) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the server (a child of the command) is gone too: the port is free again
    time.sleep(0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_ui_rejects_a_bad_port(recorded: tuple[Path, str, str]) -> None:
    folder, _, _ = recorded
    done = subprocess.run(
        [sys.executable, "-m", "mathflow.cli", "ui", "--port", "70000"],
        cwd=folder,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "port" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["ui", "serve"])
def test_a_busy_port_is_refused_before_any_server_starts(recorded: tuple[Path, str, str], command: str) -> None:
    """Another program listening on the port: one line and exit 1, not a server that fails after its
    start-up while the command reports success (nor a browser showing the other program)."""
    folder, run_id, _ = recorded
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        args = ["ui"] if command == "ui" else ["serve", run_id]
        done = subprocess.run(
            [sys.executable, "-m", "mathflow.cli", *args, "--port", str(port)],
            cwd=folder,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"port {port} on 127.0.0.1 is already in use by another program "
        "(choose another one with --port, or stop the program that listens there)"
    )
    assert done.stdout == ""
