"""The command line, run as a real process: ``python -m mathflow.cli`` and the ``mathflow`` script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import mathflow_script

import mathflow as mf


def _commands() -> list[list[str]]:
    variants = [[sys.executable, "-m", "mathflow.cli"]]
    script = mathflow_script()
    variants.append([script] if script else [])
    return variants


COMMANDS = pytest.mark.parametrize("command", _commands(), ids=["python-m", "console-script"])


def _run(command: list[str], *args: str) -> subprocess.CompletedProcess:
    if not command:
        pytest.skip("the mathflow console script is not installed")
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)


@COMMANDS
def test_help_lists_commands(command):
    result = _run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "info" in result.stdout
    assert "--version" in result.stdout
    assert "Usage" in result.stdout


@COMMANDS
def test_version(command):
    result = _run(command, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mathflow {mf.__version__}"


@COMMANDS
def test_info_prints_versions_and_devices(command):
    result = _run(command, "info")
    assert result.returncode == 0, result.stderr
    assert f"numpy    {np.__version__}" in result.stdout
    assert mf.__version__ in result.stdout
    assert "cupy" in result.stdout


@COMMANDS
def test_unknown_command_fails(command):
    result = _run(command, "no-such-command")
    assert result.returncode != 0


def test_without_arguments_shows_help():
    result = _run([sys.executable, "-m", "mathflow.cli"])
    assert "Usage" in result.stdout + result.stderr


def test_import_does_not_pull_in_mlflow_or_cupy():
    code = (
        "import sys, mathflow, mathflow.functional, mathflow.cli\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'cupy'))\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


END_PROCESS = """
import atexit, concurrent.futures, sys, tempfile, threading
from pathlib import Path
from mathflow.process import end_process

marker = Path(sys.argv[1])
folder = tempfile.TemporaryDirectory()  # removed by its finalizer, an exit handler
atexit.register(lambda: marker.write_text(folder.name))
pool = concurrent.futures.ThreadPoolExecutor(1)
pool.submit(lambda: None).result()  # an idle worker thread, as MLflow's async logging leaves one
late = threading.Thread(target=lambda: (__import__("time").sleep(0.3), marker.with_suffix(".thread").touch()))
late.start()  # a non-daemon thread still working: waited for
sys.stdout.write("kept in the buffer" * 1000)
end_process(SYSTEM_EXIT)
"""


@pytest.mark.parametrize(("code", "status"), [("3", 3), ("None", 0), ("'a message'", 1)])
def test_end_process_exits_like_sys_exit_after_the_shutdown_steps(tmp_path: Path, code: str, status: int) -> None:
    marker = tmp_path / "exit-handler-ran"
    program = END_PROCESS.replace("SYSTEM_EXIT", code)
    done = subprocess.run([sys.executable, "-c", program, str(marker)], capture_output=True, text=True, timeout=60)
    assert done.returncode == status, done.stderr
    assert done.stdout == "kept in the buffer" * 1000  # flushed before the process ended
    assert marker.with_suffix(".thread").exists()  # the other thread finished first
    assert marker.exists() and not Path(marker.read_text()).exists()  # exit handlers and finalizers ran
    assert done.stderr == ("a message\n" if status == 1 else "")


@pytest.mark.parametrize("command", ["run", "list"])
def test_a_reader_that_goes_away_does_not_fail_the_command(tmp_path: Path, command: str) -> None:
    """``mathflow ... | head -n 2``: the command goes on with its output discarded and ends as it would
    have: a run is trained to the end and recorded FINISHED, exit 0, nothing on stderr."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    pipeline = str(Path(__file__).resolve().parents[1] / "pipelines" / "iris.yaml")
    args = ["run", pipeline, "--set", "train.epochs=30"] if command == "run" else ["list"]
    producer = subprocess.Popen(
        [sys.executable, "-m", "mathflow.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.run(["head", "-n", "2"], stdin=producer.stdout, capture_output=True, text=True, timeout=240)
    producer.stdout.close()
    stderr = producer.stderr.read().decode()
    assert producer.wait(timeout=240) == 0, stderr
    assert stderr == "" and len(head.stdout.splitlines()) == 2
    if command == "run":
        from store_helpers import only_run

        run = only_run(tmp_path, "iris")
        assert run.info.status == "FINISHED" and run.data.metrics["test_accuracy"] > 0.5
