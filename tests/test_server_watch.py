"""No server outlives its command: ``mathflow serve`` and ``mathflow ui`` killed by SIGKILL or SIGHUP
take their whole MLflow server process group with them, with the daemon on and off."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import cli_env, mathflow_script

from mathflow.daemon import protocol

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = mathflow_script()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SCRIPT is None, reason="the mathflow console script is not installed"),
    pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(tracking URI, run id) of a store holding one run with a model."""
    from mathflow.run import run_pipeline

    folder = tmp_path_factory.mktemp("watched")
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    result = run_pipeline(ROOT / "pipelines" / "logistic.yaml", ["train.epochs=1"], tracking_uri=uri, quiet=True)
    return uri, result.run_id


@pytest.fixture(scope="module")
def daemon_folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mfw-"))
    yield path
    env = {**cli_env(), protocol.DIR_ENV: str(path)}
    subprocess.run([SCRIPT, "daemon", "stop", "--all"], env=env, capture_output=True, timeout=60)
    shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port`` (no HTTP: no proxy in the way)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _server_group(port: int) -> int:
    """The process group of the MLflow server listening on ``port`` (found by its command line)."""
    listed = subprocess.run(["ps", "-ww", "-eo", "pgid=,args="], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in listed.splitlines()]
    groups = {int(row[0]) for row in rows if "mlflow" in row[1:] and str(port) in row[1:]}  # python -m mlflow ...
    assert len(groups) == 1, "\n".join(line for line in listed.splitlines() if str(port) in line)
    return groups.pop()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("daemon", ["off", "on"])
@pytest.mark.parametrize("command", ["serve", "ui"])
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGHUP], ids=["SIGKILL", "SIGHUP"])
def test_the_server_dies_with_its_command(
    store: tuple[str, str], daemon_folder: Path, tmp_path: Path, daemon: str, command: str, stop: int
) -> None:
    uri, run_id = store
    env = {**cli_env(), protocol.DIR_ENV: str(daemon_folder)}
    if daemon == "off":
        env[protocol.SWITCH_ENV] = "off"
    else:
        env.pop(protocol.SWITCH_ENV, None)
        started = subprocess.run([SCRIPT, "daemon", "start"], env=env, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr
    port = _free_port()
    args = ["serve", run_id] if command == "serve" else ["ui"]
    caller = subprocess.Popen(
        [SCRIPT, *args, "--port", str(port), "--tracking-uri", uri],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a terminal of its own: the signal reaches the command alone
    )
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            assert caller.poll() is None and time.monotonic() < deadline, "the server never answered"
            time.sleep(0.5)
        group = _server_group(port)
        assert group != caller.pid  # the server has a group of its own
        os.kill(caller.pid, stop)
        caller.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_alive(group), f"the server's process group outlived `mathflow {command}` ({stop!r})"
        assert not _listening(port)
    finally:
        if caller.poll() is None:
            os.killpg(caller.pid, signal.SIGKILL)
            caller.wait()
