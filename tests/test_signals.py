"""SIGINT, SIGTERM and SIGHUP end a run (and a math run) the same way: training stops at the next step,
the run ends KILLED with what was logged so far, one line on stderr, exit code 128 + signal.

Real signals on real ``mathflow run`` processes, plus the stop flag's rules in-process.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import cli_env
from store_helpers import client_for, only_run

from mathflow.tracking.signals import RunInterrupted, StopFlag, stop_on_signals

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]

SLOW_MATH = """\
kind: optimize
name: slow-descent
variables: {x: 4.0}
minimize: x**2
method: {gd: {lr: 1.0e-9}}
steps: 100000000
tolerance: 1.0e-30
tracking: {experiment: slow-math}
"""


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mathflow.cli", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_epoch(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    """Read stdout until the first epoch line (its metrics are in the store by then)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if re.match(r"epoch\s+1/", line):
            return seen
    raise AssertionError(f"no epoch line: {seen}")


def _running_runs(db: Path) -> int:
    """How many runs are RUNNING, read straight from the SQLite file (read-only: never creates the store)."""
    try:
        with sqlite3.connect(f"file:{db.as_posix()}?mode=ro", uri=True, timeout=1) as con:
            return int(con.execute("select count(*) from runs where status = 'RUNNING'").fetchone()[0])
    except sqlite3.Error:  # not created yet, or tables not there yet
        return 0


def _wait_for_running(folder: Path, timeout: float = 120) -> None:
    """Poll the store until a run is RUNNING in it."""
    db = folder / "runs" / "mlflow.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists() and _running_runs(db):
            time.sleep(0.5)  # into the computation
            return
        time.sleep(0.2)
    raise AssertionError("no RUNNING run appeared")


def _finish(proc: subprocess.Popen[str], signum: int) -> str:
    """Send ``signum`` and wait for the exit; returns stderr."""
    proc.send_signal(signum)
    try:
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return err


def _the_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _check_killed(run, signum: int) -> None:
    name = signal.Signals(signum).name
    assert run.info.status == "KILLED"
    assert run.data.tags["mathflow.signal"] == name
    assert run.data.tags["mathflow.error"].endswith(f"interrupted by {name}")
    assert float(run.data.tags["mathflow.heartbeat"]) > 0


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_training_ends_the_run_killed(tmp_path: Path, signum: int) -> None:
    proc = _start(["run", str(PIPELINES / "cnn.yaml"), "--set", "train.epochs=400"], tmp_path)
    _wait_for_epoch(proc)
    err = _finish(proc, signum)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum
    line = _the_line(err)
    assert re.fullmatch(rf"interrupted by {name}: run [0-9a-f]{{32}} was stopped and marked KILLED.*", line), line
    run = only_run(tmp_path, "digits")
    assert run.info.run_id in line
    _check_killed(run, signum)
    mlf = client_for(tmp_path)
    epochs_done = len(mlf.get_metric_history(run.info.run_id, "train_loss"))
    assert 1 <= epochs_done < 400  # the epochs done stay; training stopped long before its end
    assert run.data.params["train.epochs"] == "400"
    artifacts = {a.path for a in mlf.list_artifacts(run.info.run_id)}
    assert {"pipeline.yaml", "model_table.txt"} <= artifacts  # artifacts logged so far are kept
    assert not (tmp_path / "mlflow.db").exists()  # no stray default store in the current folder


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_a_math_run_ends_it_killed(tmp_path: Path, signum: int) -> None:
    pipeline = tmp_path / "slow.yaml"
    pipeline.write_text(SLOW_MATH)
    proc = _start(["run", str(pipeline)], tmp_path)
    _wait_for_running(tmp_path)
    err = _finish(proc, signum)
    assert proc.returncode == 128 + signum
    line = _the_line(err)
    assert f"interrupted by {signal.Signals(signum).name}" in line and "KILLED" in line  # not 1e8 steps later
    run = only_run(tmp_path, "slow-math")
    _check_killed(run, signum)
    assert "config/resolved.yaml" in {a.path for a in client_for(tmp_path).list_artifacts(run.info.run_id, "config")}
    assert not (tmp_path / "mlflow.db").exists()


# -------------------------------------------------------------------------- the stop flag in-process
def test_outside_an_interruptible_stretch_a_signal_is_only_recorded() -> None:
    with stop_on_signals() as flag:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs; it must not raise here (a store write may be under way)
        assert flag.requested and flag.signum == signal.SIGTERM
        with pytest.raises(RunInterrupted) as caught:
            flag.check()
    assert caught.value.exit_code == 143
    assert caught.value.reason() == "Terminated: interrupted by SIGTERM"


def test_inside_an_interruptible_stretch_a_signal_raises_at_once() -> None:
    with stop_on_signals() as flag:
        with pytest.raises(RunInterrupted) as caught:
            with flag.interruptible():
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(5)
                pytest.fail("the signal did not interrupt the stretch")
    assert caught.value.exit_code == 129


def test_a_second_signal_does_not_interrupt_the_ending() -> None:
    flag = StopFlag()
    flag.handle(signal.SIGINT, None)
    with pytest.raises(RunInterrupted):
        with flag.interruptible():
            pass
    flag._immediate = 1  # as if the ending ran inside a stretch
    flag.handle(signal.SIGTERM, None)  # returns: the first signal wins
    assert flag.signum == signal.SIGINT


def test_the_previous_handlers_come_back() -> None:
    before = {s: signal.getsignal(s) for s in SIGNALS}
    with stop_on_signals():
        assert all(signal.getsignal(s) != before[s] for s in SIGNALS)
    assert {s: signal.getsignal(s) for s in SIGNALS} == before


# -------------------------------------------------------------------------- crashes: the heartbeat
def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )


def _status_of(table: str, run_id: str) -> str:
    row = next(line for line in table.splitlines() if run_id in line)
    return next(word for word in ("DEAD?", "RUNNING", "FAILED", "FINISHED", "KILLED") if word in row)


def test_a_killed_process_leaves_a_dead_run_that_mark_dead_ends_failed(tmp_path: Path) -> None:
    proc = _start(["run", str(PIPELINES / "cnn.yaml"), "--set", "train.epochs=400"], tmp_path)
    _wait_for_epoch(proc)
    proc.send_signal(signal.SIGKILL)  # no handler runs: the store keeps a RUNNING run
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    run = only_run(tmp_path, "digits")
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    beat = float(run.data.tags["mathflow.heartbeat"])
    assert run.info.start_time / 1000 - 1 <= beat <= time.time()

    listed = _cli("runs", cwd=tmp_path)  # a fresh heartbeat: still RUNNING as far as anyone can tell
    assert listed.returncode == 0, listed.stderr
    assert _status_of(listed.stdout, run_id) == "RUNNING"

    time.sleep(max(0.0, beat + 1.5 - time.time()))
    listed = _cli("runs", "--dead-after", "1", cwd=tmp_path)
    assert _status_of(listed.stdout, run_id) == "DEAD?"

    marked = _cli("runs", "--mark-dead", "--dead-after", "1", cwd=tmp_path)
    assert marked.returncode == 0, marked.stderr
    assert f"marked FAILED: run {run_id}" in marked.stdout
    assert marked.stdout.strip().endswith("1 dead run marked FAILED")
    ended = client_for(tmp_path).get_run(run_id)
    assert ended.info.status == "FAILED"
    assert ended.data.tags["mathflow.error"].startswith("Dead: no heartbeat for")
    assert ended.info.end_time == int(beat * 1000)  # ended when it last showed signs of life
    assert len(client_for(tmp_path).get_metric_history(run_id, "train_loss")) >= 1

    again = _cli("runs", "--mark-dead", "--dead-after", "1", cwd=tmp_path)
    assert again.stdout.strip() == "0 dead runs marked FAILED"
    assert _status_of(_cli("runs", cwd=tmp_path).stdout, run_id) == "FAILED"


def test_dead_after_must_be_positive(tmp_path: Path) -> None:
    done = _cli("runs", "--dead-after", "0", cwd=tmp_path)
    assert done.returncode == 1
    assert "--dead-after must be a positive number" in _the_line(done.stderr)


def test_a_run_without_a_heartbeat_is_never_called_dead() -> None:
    from mathflow.tracking import RunRow

    row = RunRow("r", "n", "e", "RUNNING", None, None)
    assert row.shown_status(dead_after=0.001) == "RUNNING"
    beating = RunRow("r", "n", "e", "RUNNING", None, None, heartbeat=1000.0)
    assert beating.shown_status(dead_after=10, now=1005.0) == "RUNNING"
    assert beating.shown_status(dead_after=10, now=1011.0) == "DEAD?"
    assert RunRow("r", "n", "e", "FINISHED", None, None, heartbeat=0.0).shown_status(1, now=1e9) == "FINISHED"
