"""The MLflow UI in a real headless browser: ``mathflow ui`` over a temporary store with one run, read
by Debian's chromium (``--dump-dom``: the page as the browser rendered it, scripts run).

One server for the module and three page loads: the runs table at the URL ``mathflow ui`` prints
lists the run; the run's page shows its metrics; its artifacts tab lists the artifacts. Skipped,
saying why, where chromium is not installed (``.ci/run`` installs it with apt-get when it can).
The experiment tag and the URLs themselves are checked in-process, without a browser."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
READY_SECONDS = 300


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def _runs_url(lines: list[str], server: subprocess.Popen) -> str:
    """The runs-table URL ``mathflow ui`` printed (waiting for its line)."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        for line in list(lines):
            if "runs of experiment" in line:
                return line.split(": ", 1)[1].strip()
        if server.poll() is not None:
            raise AssertionError(f"mathflow ui exited with {server.returncode}: {''.join(lines)}")
        time.sleep(0.2)
    raise AssertionError(f"mathflow ui printed no runs URL: {''.join(lines)}")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A store with one short iris run and ``mathflow ui`` serving it, ready."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium): the MLflow UI browser test is skipped")
    from mlflow.tracking import MlflowClient

    from mathflow.run import run_pipeline

    folder = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    run_id = run_pipeline(ROOT / "pipelines" / "iris.yaml", ["train.epochs=2"], tracking_uri=uri, quiet=True).run_id
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    command = [sys.executable, "-m", "mathflow.cli", "ui", "--port", str(port), "--tracking-uri", uri]
    server = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(server.stdout.readline, "")), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        runs_url = _runs_url(lines, server)
        deadline = time.monotonic() + READY_SECONDS
        while _status(f"{base}/health") != 200:
            assert server.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.5)
        yield {
            "base": base,
            "runs_url": runs_url,
            "run": run,
            "experiment": client.get_experiment(run.info.experiment_id),
            "artifacts": [a.path for a in client.list_artifacts(run_id)],
            "profile": folder / "chromium",
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _page_text(url: str, profile: Path) -> str:
    """The visible text of ``url`` after chromium ran its scripts (15 s of virtual time)."""
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = re.sub(r"<script.*?</script>|<style.*?</style>", " ", done.stdout, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


def test_experiments_are_tagged_for_model_training_and_the_ui_url_names_the_newest(tmp_path: Path) -> None:
    """In-process: a new experiment gets the tag, an old one without it gets it on its next run; the URL
    ``mathflow ui`` prints is the runs table of the newest run's experiment (or of the one asked for)."""
    from mlflow.tracking import MlflowClient

    from mathflow.errors import MathflowError
    from mathflow.tracking.store import get_or_create_experiment
    from mathflow.tracking.ui import experiment_url, run_url, ui_experiment

    uri = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    assert ui_experiment(uri) is None and not (tmp_path / "mlflow.db").exists()  # nothing created by looking
    client = MlflowClient(tracking_uri=uri)
    new = get_or_create_experiment(uri, "new")
    assert client.get_experiment(new).tags["mlflow.experimentKind"] == "custom_model_development"
    old = client.create_experiment("old")
    assert "mlflow.experimentKind" not in client.get_experiment(old).tags
    assert get_or_create_experiment(uri, "old") == old
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"
    assert ui_experiment(uri) is None  # no runs yet
    client.create_run(new)
    time.sleep(0.01)
    run = client.create_run(old)
    assert ui_experiment(uri) == (old, "old")
    assert ui_experiment(uri, "new") == (new, "new")
    with pytest.raises(MathflowError, match="no experiment named 'other'"):
        ui_experiment(uri, "other")
    base = "http://127.0.0.1:5000"
    assert experiment_url(base, old) == f"{base}/#/experiments/{old}/runs?workflowType=machine_learning"
    assert run_url(base, old, run.info.run_id, "artifacts") == (
        f"{base}/#/experiments/{old}/runs/{run.info.run_id}/artifacts?workflowType=machine_learning"
    )


@pytest.mark.slow
def test_the_experiment_opens_in_the_model_training_view_and_lists_the_run(ui: dict) -> None:
    from mathflow.tracking.store import EXPERIMENT_TAGS

    experiment = ui["experiment"]
    assert experiment.tags["mlflow.experimentKind"] == EXPERIMENT_TAGS["mlflow.experimentKind"]
    assert ui["runs_url"] == f"{ui['base']}/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
    text = _page_text(ui["runs_url"], ui["profile"])
    assert ui["run"].info.run_name in text, text[:3000]
    assert "1 matching run" in text
    assert "Traces Sessions" not in text  # the GenAI sidebar (observability, sessions, prompts) is not shown


@pytest.mark.slow
def test_the_run_page_shows_its_metrics_and_artifacts(ui: dict) -> None:
    from mathflow.tracking.ui import run_url

    run = ui["run"]
    overview = _page_text(run_url(ui["base"], run.info.experiment_id, run.info.run_id), ui["profile"])
    assert "test_accuracy" in overview and "val_loss" in overview, overview[:3000]
    assert f"Metrics ({len(run.data.metrics)})" in overview
    artifacts = _page_text(run_url(ui["base"], run.info.experiment_id, run.info.run_id, "artifacts"), ui["profile"])
    assert "confusion_matrix.png" in ui["artifacts"]
    assert "confusion_matrix.png" in artifacts and "weights.npz" in artifacts, artifacts[:3000]
