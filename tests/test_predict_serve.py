"""``mathflow serve``: MLflow's scoring server for a model trained on a CSV file with categorical
columns, asked over real HTTP (raw rows, probabilities, a refused row), then stopped. One server for
the module."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

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


def _post_error(url: str, payload: dict) -> tuple[int, str]:
    """(HTTP status, body) of a request the server refuses."""
    try:
        _post(url, payload)
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()
    raise AssertionError("the server accepted the request")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``mathflow serve`` of a model trained on a CSV file with categorical columns, in a folder of its own;
    stopped at the end (or by the test that checks how it stops)."""
    from predict_helpers import train_fruit

    folder = tmp_path_factory.mktemp("serve")
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    run_id = train_fruit(folder, uri)
    work = folder / "work"
    work.mkdir()
    env = {**os.environ}
    env.pop("MLFLOW_TRACKING_URI", None)
    port = _free_port()
    command = [sys.executable, "-m", "mathflow.cli", "serve", run_id, "--port", str(port), "--tracking-uri", uri]
    server = subprocess.Popen(
        command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        yield {"base": base, "server": server, "run_id": run_id, "uri": uri, "work": work}
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _request_rows() -> tuple[list[str], list[list]]:
    """Raw rows in the training CSV's form, columns in another order, the target among them."""
    from predict_helpers import fruit_rows

    rows = fruit_rows(6, seed=11)
    columns = ["shape", "kind", "color", "weight", "size"]
    data = [[row[3], row[4], row[1], float(row[2]), float(row[0])] for row in rows]
    return columns, data


@pytest.mark.slow
def test_serve_answers_raw_rows_with_class_labels(served: dict) -> None:
    from mathflow.predictor import open_run_model

    columns, data = _request_rows()
    answer = _post(f"{served['base']}/invocations", {"dataframe_split": {"columns": columns, "data": data}})
    assert len(answer["predictions"]) == 6
    assert set(answer["predictions"]) <= {"big", "small"}
    table = {name: [row[j] for row in data] for j, name in enumerate(columns)}
    assert answer["predictions"] == open_run_model(served["run_id"], served["uri"]).predict(table).tolist()


@pytest.mark.slow
def test_serve_gives_probabilities_with_the_proba_param(served: dict) -> None:
    """One request with params {"proba": true}: one record per row, the classes as keys."""
    from mathflow.predictor import open_run_model

    columns, data = _request_rows()
    payload = {"dataframe_split": {"columns": columns, "data": data}, "params": {"proba": True}}
    answer = _post(f"{served['base']}/invocations", payload)["predictions"]
    assert [sorted(record) for record in answer] == [["big", "small"]] * 6
    table = {name: [row[j] for row in data] for j, name in enumerate(columns)}
    expected = open_run_model(served["run_id"], served["uri"]).predict(table, proba=True)
    np.testing.assert_allclose([[r["big"], r["small"]] for r in answer], expected, rtol=1e-6)


@pytest.mark.slow
def test_serve_refuses_an_unseen_category_with_its_column_and_row(served: dict) -> None:
    columns, data = _request_rows()
    data[1][2] = "purple"
    status, body = _post_error(f"{served['base']}/invocations", {"dataframe_split": {"columns": columns, "data": data}})
    assert status == 400
    assert "column 'color' row 2: unseen category 'purple'; the model knows blue, green, red" in body


@pytest.mark.slow
def test_serve_stops_cleanly_and_writes_nothing_outside_the_store(served: dict) -> None:
    server, base = served["server"], served["base"]
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
    assert sorted(p.name for p in served["work"].iterdir()) == []  # nothing written outside the store


def test_serve_of_a_missing_run_is_one_line(tmp_path: Path) -> None:
    from mathflow.tracking.store import ensure_store

    uri = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    ensure_store(uri)
    command = [sys.executable, "-m", "mathflow.cli", "serve", "0" * 32, "--tracking-uri", uri, "--port", "5999"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == f"no run '{'0' * 32}' in {uri} (mathflow runs lists the runs)\n", done.stderr


def test_predict_from_a_run_without_a_model_says_so(tmp_path: Path) -> None:
    from mathflow.tracking import Tracker

    uri = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    with pytest.raises(RuntimeError), Tracker(uri).start("broken") as run:
        raise RuntimeError("failed before the model was logged")
    np.save(tmp_path / "x.npy", np.zeros((2, 4)))
    command = [sys.executable, "-m", "mathflow.cli", "predict", run.run_id, "--input", "x.npy", "--tracking-uri", uri]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"cannot load the model of run {run.run_id} (FAILED): "), done.stderr
    assert done.stderr.endswith("(a run that did not finish may have logged no model)\n"), done.stderr
