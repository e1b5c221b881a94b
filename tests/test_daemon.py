"""The daemon: commands run in a forked child of a process that has MLflow imported, and behave as in a
process of their own (output, exit codes, signals, the MLflow record). Real ``mathflow`` processes,
each test with a daemon folder of its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import mathflow
from mathflow.daemon import protocol
from mathflow.daemon.client import command_of
from tests.cli_helpers import cli_env, mathflow_script

ROOT = Path(__file__).resolve().parent.parent
IRIS = str(ROOT / "pipelines" / "iris.yaml")
SCRIPT = mathflow_script()
pytestmark = [
    pytest.mark.skipif(SCRIPT is None, reason="the mathflow console script is not installed"),
    pytest.mark.skipif(not protocol.enabled({}), reason="this platform has no fork or Unix sockets"),
]


@pytest.fixture
def folder() -> Iterator[Path]:
    """A daemon folder of this test's own (short: socket paths are limited); its daemon is stopped after."""
    path = Path(tempfile.mkdtemp(prefix="mfd-"))
    yield path
    subprocess.run([SCRIPT, "daemon", "stop", "--all"], env=_env(path), capture_output=True, timeout=60)
    shutil.rmtree(path, ignore_errors=True)


def _env(folder: Path, **extra: str) -> dict[str, str]:
    env = cli_env()
    env[protocol.DIR_ENV] = str(folder)
    env.pop(protocol.SWITCH_ENV, None)
    env.update(extra)
    return env


def _mathflow(
    folder: Path, *args: str, cwd: Path | None = None, umask: int = -1, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], env=_env(folder, **extra), cwd=cwd, capture_output=True, text=True, timeout=300, umask=umask
    )


def _status(folder: Path, **extra: str) -> dict | None:
    shown = _mathflow(folder, "daemon", "status", "--json", **extra)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _start(folder: Path, **extra: str) -> dict:
    started = _mathflow(folder, "daemon", "start", "--json", **extra)
    assert started.returncode == 0, started.stderr
    status = json.loads(started.stdout)
    assert status is not None
    return status


def _final_metrics(stdout: str) -> dict:
    record = json.loads(stdout.strip().splitlines()[-1])
    return {name: value for name, value in record["metrics"].items() if not name.endswith("_seconds")}


def test_a_run_starts_the_daemon_and_the_next_run_goes_through_it(folder: Path, tmp_path: Path) -> None:
    assert "no daemon running" in _mathflow(folder, "daemon", "status").stdout
    store = str(tmp_path / "store")
    first = _mathflow(folder, "run", IRIS, "--tracking-uri", store, "-q", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    served_before = _start(folder)["served"]  # started by the first run once it ended; waited for here
    assert served_before == 0
    second = _mathflow(folder, "run", IRIS, "--tracking-uri", store, "-q", "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert _status(folder)["served"] == 1
    assert _final_metrics(second.stdout) == _final_metrics(first.stdout)  # same seed, same numbers
    assert "Downloading artifacts" not in second.stderr  # the imports' environment defaults hold in a child
    assert sorted(os.listdir(tmp_path)) == ["store"]  # nothing written beside the store


def test_errors_and_exit_codes_are_those_of_a_process_of_its_own(folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\ndata: {source: iris}\nmodel: {layers: [{dense: {unitz: 3}}]}\n")
    _start(folder)
    cases = [("validate", str(bad)), ("run", str(bad), "--tracking-uri", str(tmp_path / "s")), ("nosuchcommand",)]
    for args in cases:
        daemon = _mathflow(folder, *args, cwd=tmp_path)
        alone = _mathflow(folder, *args, cwd=tmp_path, MATHFLOW_DAEMON="off")
        assert (daemon.returncode, daemon.stdout, daemon.stderr) == (alone.returncode, alone.stdout, alone.stderr)
        assert daemon.returncode != 0
    assert _status(folder)["served"] == len(cases)


def test_the_daemon_is_switched_off_by_the_environment(folder: Path, tmp_path: Path) -> None:
    ran = _mathflow(folder, "run", IRIS, "--tracking-uri", str(tmp_path / "s"), "-q", MATHFLOW_DAEMON="off")
    assert ran.returncode == 0, ran.stderr
    time.sleep(1.0)
    assert not list(folder.glob("*.sock")) and _status(folder) is None
    refused = _mathflow(folder, "daemon", "start", MATHFLOW_DAEMON="off")
    assert refused.returncode == 1 and "switched off" in refused.stderr


def _long_run(folder: Path, tmp_path: Path) -> subprocess.Popen[str]:
    args = [SCRIPT, "run", IRIS, "--tracking-uri", str(tmp_path / "store"), "--set", "train.epochs=100000"]
    args += ["--set", "train.early_stopping=null", "-q"]
    proc = subprocess.Popen(
        args, env=_env(folder), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("run "):
            return proc
    pytest.fail(f"the run never started: {proc.stderr.read() if proc.stderr else ''}")


def test_a_signal_to_the_caller_stops_the_run_killed(folder: Path, tmp_path: Path) -> None:
    _start(folder)
    proc = _long_run(folder, tmp_path)
    assert _status(folder)["running"] == 1
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "marked KILLED" in err
    listed = _mathflow(folder, "runs", "--tracking-uri", str(tmp_path / "store"))
    assert "KILLED" in listed.stdout and "RUNNING" not in listed.stdout


def _state(pid: int) -> str:
    """The process state letter of ``pid`` (``T``: stopped), from /proc."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _wait_for_state(pid: int, wanted: bool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (_state(pid) == "T") != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (_state(pid) == "T") == wanted


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_ctrl_z_stops_the_command_with_the_caller_and_fg_continues_both(folder: Path, tmp_path: Path) -> None:
    daemon_pid = _start(folder)["pid"]
    proc = _long_run(folder, tmp_path)
    children = Path(f"/proc/{daemon_pid}/task/{daemon_pid}/children")
    if not children.exists():
        proc.kill()
        pytest.skip("this kernel does not list a process's children in /proc")
    (command,) = [int(pid) for pid in children.read_text().split()]
    proc.send_signal(signal.SIGTSTP)
    _wait_for_state(command, True)
    _wait_for_state(proc.pid, True)
    proc.send_signal(signal.SIGCONT)
    _wait_for_state(proc.pid, False)
    _wait_for_state(command, False)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT


def test_killing_the_caller_kills_the_command(folder: Path, tmp_path: Path) -> None:
    _start(folder)
    proc = _long_run(folder, tmp_path)
    proc.kill()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while _status(folder)["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _status(folder)["running"] == 0


def test_two_commands_at_once(folder: Path, tmp_path: Path) -> None:
    _start(folder)
    args = [SCRIPT, "run", IRIS, "-q", "--json"]
    procs = [
        subprocess.Popen(
            [*args, "--tracking-uri", str(tmp_path / f"store{i}")],
            env=_env(folder),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert _final_metrics(outputs[0][0]) == _final_metrics(outputs[1][0])
    assert _status(folder)["served"] == 2


def test_a_changed_module_file_makes_the_daemon_stale(folder: Path, tmp_path: Path) -> None:
    extra = tmp_path / "site"
    extra.mkdir()
    probe = extra / "sitecustomize.py"  # imported by every process of this environment, the daemon too
    probe.write_text("PROBE = 1\n")
    env = {"PYTHONPATH": str(extra)}
    first = _start(folder, **env)
    before = probe.stat()
    time.sleep(0.05)
    probe.write_text("PROBE = 2\n")  # same size; the modification time put back, as cp -p and rsync -a do
    os.utime(probe, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (probe.stat().st_size, probe.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    ran = _mathflow(folder, "validate", IRIS, **env)
    assert ran.returncode == 0, ran.stderr  # run in its own process, the daemon stopping
    deadline = time.monotonic() + 30
    while _status(folder, **env) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _status(folder, **env) is None
    assert _start(folder, **env)["pid"] != first["pid"]


def test_a_caller_with_another_umask_gets_a_daemon_of_its_own(folder: Path, tmp_path: Path) -> None:
    """What a child inherits from the daemon (umask, priority, resource limits) is the caller's."""
    shared = _start(folder)
    private = _mathflow(folder, "daemon", "start", "--json", umask=0o077)
    assert private.returncode == 0 and json.loads(private.stdout)["pid"] != shared["pid"]
    ran = _mathflow(folder, "run", IRIS, "--tracking-uri", str(tmp_path / "store"), "-q", cwd=tmp_path, umask=0o077)
    assert ran.returncode == 0, ran.stderr
    weights = next((tmp_path / "store").rglob("weights.npz"))
    assert weights.stat().st_mode & 0o777 == 0o600
    assert json.loads(_mathflow(folder, "daemon", "status", "--json", umask=0o077).stdout)["served"] == 1
    stopped = _mathflow(folder, "daemon", "stop", "--all")
    assert "daemon stopped" in stopped.stdout and not list(folder.glob("*.sock"))


def test_an_idle_daemon_exits(folder: Path) -> None:
    _start(folder, MATHFLOW_DAEMON_IDLE="1")
    deadline = time.monotonic() + 30
    while _status(folder, MATHFLOW_DAEMON_IDLE="1") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _status(folder, MATHFLOW_DAEMON_IDLE="1") is None
    assert not list(folder.glob("*.sock"))


def test_garbage_on_the_socket_is_survived(folder: Path) -> None:
    status = _start(folder)
    for junk in (b"\xff\xff\xff\xff", b"\x00\x00\x00\x05{oops", b"\x00\x00\x00\x02[]", b"hello"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(15)
            sock.connect(status["socket"])
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            try:
                assert sock.recv(100) == b""  # closed without an answer
            except ConnectionResetError:
                pass  # closed with our bytes unread
    assert _status(folder)["pid"] == status["pid"]
    assert _mathflow(folder, "validate", IRIS).returncode == 0


def test_stop_and_status_through_the_cli(folder: Path) -> None:
    status = _start(folder)
    shown = _mathflow(folder, "daemon", "status")
    assert f"pid {status['pid']}" in shown.stdout and shown.returncode == 0
    assert "daemon stopped" in _mathflow(folder, "daemon", "stop").stdout
    assert _status(folder) is None
    assert "no daemon running" in _mathflow(folder, "daemon", "stop").stdout
    wrong = _mathflow(folder, "daemon", "restart")
    assert wrong.returncode == 1 and "status, start, stop" in wrong.stderr


# ----------------------------------------------------------------------------- in-process units
def test_command_of_skips_options() -> None:
    assert command_of(["--version"]) is None
    assert command_of(["run", "x.yaml", "-q"]) == "run"
    assert command_of(["--debug", "validate"]) == "validate"


def test_messages_carry_descriptors_and_refuse_oversized_ones() -> None:
    left, right = socket.socketpair()
    with left, right, tempfile.TemporaryFile() as file:
        protocol.send(left, {"argv": ["x"] * 1000}, [file.fileno()])
        message, fds = protocol.receive(right, max_fds=3)
        assert message == {"argv": ["x"] * 1000} and len(fds) == 1
        os.write(fds[0], b"through")
        os.close(fds[0])
        file.seek(0)
        assert file.read() == b"through"
        left.sendall((protocol.MAX_MESSAGE_BYTES + 1).to_bytes(4, "big"))
        with pytest.raises(protocol.ProtocolError):
            protocol.receive(right)


def test_the_key_follows_import_time_settings_only() -> None:
    base = {"HOME": "/home/a", "MLFLOW_TRACKING_URI": "sqlite:///a.db"}
    assert protocol.daemon_key(base) == protocol.daemon_key({**base, "MLFLOW_TRACKING_URI": "sqlite:///b.db"})
    assert protocol.daemon_key(base) != protocol.daemon_key({**base, "PYTHONPATH": "/x"})
    assert protocol.daemon_key(base) != protocol.daemon_key({**base, "OMP_NUM_THREADS": "1"})


def test_a_folder_others_may_enter_is_not_used(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    assert protocol.place({protocol.DIR_ENV: str(shared)}) is None
    assert protocol.place({protocol.DIR_ENV: "/tmp/" + "x" * 120}) is None
    private = protocol.place({protocol.DIR_ENV: str(tmp_path / "mine")})
    assert private is not None and (tmp_path / "mine").stat().st_mode & 0o777 == 0o700


def test_idle_seconds_from_the_environment() -> None:
    assert protocol.idle_seconds({}) == protocol.DEFAULT_IDLE_SECONDS
    assert protocol.idle_seconds({protocol.IDLE_ENV: "2.5"}) == 2.5
    for bad in ("-1", "0", "soon", "inf", "nan"):
        assert protocol.idle_seconds({protocol.IDLE_ENV: bad}) == protocol.DEFAULT_IDLE_SECONDS


def test_the_client_imports_nothing_heavy_before_it_decides() -> None:
    probe = "import sys; import mathflow.host.entry; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    heavy = {"mlflow", "typer", "pydantic", "yaml", "rich", "sqlalchemy", "matplotlib", "mathflow.cli"}
    assert heavy.isdisjoint(loaded)


GONE = "error: the working folder no longer exists (was it deleted?); cd to a folder that does"


def test_a_deleted_working_folder_gives_one_line_with_the_daemon_on_and_off(folder: Path, tmp_path: Path) -> None:
    _start(folder)
    for extra in ({}, {"MATHFLOW_DAEMON": "off"}):
        for args, code in (("runs", 1), ("validate x.yaml", 1), ("--help", 0)):
            gone = tmp_path / "gone"
            gone.mkdir()
            script = f'cd "{gone}" && rmdir "{gone}" && exec "{SCRIPT}" {args}'
            shell = subprocess.run(["sh", "-c", script], env=_env(folder, **extra), capture_output=True, text=True)
            assert shell.returncode == code, (extra, args, shell.stderr)
            if code:
                assert (shell.stdout, shell.stderr.splitlines()) == ("", [GONE]), (extra, args)
            else:
                assert "Usage: mathflow" in shell.stdout


def test_silent_slow_and_deeply_nested_callers_hold_up_no_one(folder: Path) -> None:
    status = _start(folder)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(status["socket"])  # connects and says nothing
    dripping = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dripping.connect(status["socket"])
    stop = threading.Event()

    def drip() -> None:  # one byte of a long message every half second, for as long as the test runs
        try:
            while not stop.wait(0.5):
                dripping.send(b"\x00")
        except OSError:
            pass  # the daemon gave up on it

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    nested = b"[" * 200_000 + b"]" * 200_000
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as deep:
        deep.connect(status["socket"])
        deep.sendall(struct.pack(">I", len(nested)) + nested)
    try:
        for _ in range(3):  # each would wait for the silent and the dripping caller before
            ran = subprocess.run(
                [SCRIPT, "validate", IRIS], env=_env(folder), capture_output=True, text=True, timeout=120
            )
            assert ran.returncode == 0, ran.stderr
        after = _status(folder)
        assert after["pid"] == status["pid"] and after["served"] == 3  # alive, and it ran all three
    finally:
        stop.set()
        silent.close()
        dripping.close()
        dripper.join(timeout=5)


def test_status_says_how_long_it_has_been_idle_and_when_it_exits(folder: Path) -> None:
    _start(folder, **{protocol.IDLE_ENV: "300"})
    time.sleep(1.0)
    state = _status(folder)
    assert state["idle_exit_seconds"] == 300.0
    assert 1.0 <= state["idle_seconds"] < 300.0
    assert "exits after 5 min idle" in _mathflow(folder, "daemon", "status").stdout


def test_stop_all_stops_this_installations_daemons_and_everywhere_all_of_them(folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(Path(mathflow.__file__).parent, other / "mathflow", ignore=shutil.ignore_patterns("__pycache__"))
    start_other = "import json; from mathflow.daemon import control; print(json.dumps(control.start()))"
    env = {**_env(folder), "PYTHONPATH": str(other)}
    started = subprocess.run([sys.executable, "-c", start_other], env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    theirs = json.loads(started.stdout)
    assert theirs["installation"] == str((other / "mathflow").resolve())
    ours = _start(folder)
    assert ours["installation"] != theirs["installation"]

    assert _mathflow(folder, "daemon", "stop", "--all").returncode == 0
    assert _status(folder) is None  # ours stopped
    assert _alive(theirs["pid"]), "--all stopped the daemon of another installation"
    assert _mathflow(folder, "daemon", "stop", "--everywhere").returncode == 0
    deadline = time.monotonic() + 30
    while _alive(theirs["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(theirs["pid"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # not our child: reaped by init once it exits
    except ProcessLookupError:
        return False
    return True


def test_a_daemon_that_is_still_importing_shows_as_starting(folder: Path) -> None:
    import fcntl

    lock = Path(_start(folder)["socket"]).with_suffix(".lock")
    assert "daemon stopped" in _mathflow(folder, "daemon", "stop").stdout
    with open(lock, "a") as held:  # what a daemon does before it has imported everything and listens
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert _status(folder) == {"starting": True, "log": str(lock.with_suffix(".log"))}
        assert "daemon starting" in _mathflow(folder, "daemon", "status").stdout
    assert _status(folder) is None


@pytest.mark.parametrize("lacking", ["socket.SO_PEERCRED", "os.fork"])
def test_without_peer_credentials_or_fork_the_daemon_is_off_and_says_why(
    folder: Path, tmp_path: Path, lacking: str
) -> None:
    module, name = lacking.split(".")
    (tmp_path / "sitecustomize.py").write_text(f"import {module}\ndel {module}.{name}\n")  # as on such a platform
    env = {"PYTHONPATH": str(tmp_path)}
    shown = _mathflow(folder, "daemon", "status", **env)
    assert shown.returncode == 1
    assert shown.stderr.strip() == (
        f"the daemon is off on this platform (it lacks {lacking}); every command runs in its own process"
    )
    ran = _mathflow(folder, "validate", IRIS, **env)
    assert ran.returncode == 0, ran.stderr  # in a process of its own
    assert not list(folder.glob("*.sock")) and not list(folder.glob("*.lock"))
