"""Shared test setup: a clean CPU float32 backend for every test, GPU tests skipped without a device,
and a daemon folder of the test session's own (its daemon is stopped at the end)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator

import numpy as np
import pytest

import mathflow as mf


@pytest.fixture(scope="session", autouse=True)
def _session_daemon() -> Iterator[None]:
    """The ``mathflow`` commands the tests start share a daemon of this session (not the user's),
    stopped when the session ends."""
    from mathflow.daemon import control, protocol

    folder = tempfile.mkdtemp(prefix="mathflow-daemon-")
    previous = os.environ.get(protocol.DIR_ENV)
    os.environ[protocol.DIR_ENV] = folder
    yield
    if protocol.enabled(os.environ):
        control.stop(every=True)  # the daemons of the console script and of tests with other settings
    if previous is None:
        os.environ.pop(protocol.DIR_ENV, None)
    else:
        os.environ[protocol.DIR_ENV] = previous
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _reset_backend() -> Iterator[None]:
    """Every test starts and ends on the default backend: NumPy, float32."""
    yield
    mf.set_backend(mf.Backend("cpu", "float32"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator, so random inputs are the same on every run."""
    return np.random.default_rng(20240607)


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def assert_logged_export():
    """Check that a loaded pyfunc carries exactly the exported description and constants."""

    def check(pyfunc, description, constants) -> None:
        logged = pyfunc.unwrap_python_model()
        assert logged.description == description
        assert sorted(logged.constants) == sorted(constants)
        for name, value in constants.items():
            np.testing.assert_array_equal(logged.constants[name], value, err_msg=name)

    return check


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items or mf.gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a visible CUDA device")
    for item in gpu_items:
        item.add_marker(skip)
