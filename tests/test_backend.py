"""Backends: device choice, dtype policy, seeded randomness, and CuPy staying unimported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F
from mathflow.backend import array_module, to_numpy


def _run_python(code: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120
    )


# --------------------------------------------------------------------------- devices
def test_cpu_backend():
    backend = mf.Backend("cpu")
    assert backend.device == "cpu" and backend.device_name == "cpu"
    assert backend.xp is np
    assert backend.dtype == np.float32
    assert "cpu" in repr(backend) and "float32" in repr(backend)


@pytest.mark.skipif(mf.gpu_available(), reason="a GPU is present, so the request succeeds")
def test_gpu_without_a_device_raises_with_a_suggestion():
    with pytest.raises(mf.MathflowError) as info:
        mf.Backend("gpu")
    assert info.value.suggestion
    assert "cpu" in str(info.value)
    assert "gpu" in str(info.value)


@pytest.mark.skipif(mf.gpu_available(), reason="a GPU is present, so auto picks it")
def test_auto_falls_back_to_cpu():
    backend = mf.Backend("auto")
    assert backend.device == "cpu" and backend.xp is np


def test_unknown_device_and_dtype_are_refused():
    with pytest.raises(mf.MathflowError, match="tpu") as info:
        mf.Backend("tpu")  # type: ignore[arg-type]
    assert info.value.suggestion
    with pytest.raises(mf.MathflowError, match="float16") as info:
        mf.Backend("cpu", dtype="float16")
    assert info.value.suggestion


def test_default_backend_is_cpu_float32():
    assert mf.get_backend().device == "cpu"
    assert mf.default_dtype() == np.float32


# --------------------------------------------------------------------------- dtype policy
def test_float64_policy_on_request():
    backend = mf.Backend("cpu", dtype="float64")
    assert backend.dtype == np.float64
    mf.set_backend(backend)
    assert mf.default_dtype() == np.float64
    assert mf.tensor([1.0, 2.0]).dtype == np.float64
    assert mf.zeros(3).dtype == np.float64 and mf.ones(2).dtype == np.float64


def test_set_backend_by_name_and_dtype():
    backend = mf.set_backend("cpu", dtype="float64", seed=3)
    assert mf.get_backend() is backend
    assert backend.dtype == np.float64 and backend.seed == 3


def test_set_default_dtype():
    mf.set_default_dtype("float64")
    assert mf.tensor(1.0).dtype == np.float64
    mf.set_default_dtype("float32")
    assert mf.tensor(1.0).dtype == np.float32
    with pytest.raises(mf.MathflowError):
        mf.set_default_dtype("int8")


def test_using_restores_the_previous_backend():
    before = mf.get_backend()
    with mf.using("cpu", dtype="float64") as inner:
        assert mf.get_backend() is inner
        assert mf.tensor([1.0]).dtype == np.float64
    assert mf.get_backend() is before
    assert mf.tensor([1.0]).dtype == np.float32


def test_using_restores_after_an_exception():
    before = mf.get_backend()
    with pytest.raises(RuntimeError), mf.using("cpu", dtype="float64"):
        raise RuntimeError("boom")
    assert mf.get_backend() is before


def test_float64_policy_runs_the_engine_in_float64():
    mf.set_backend(mf.Backend("cpu", "float64"))
    x = mf.tensor([0.5, 1.5], requires_grad=True)
    y = (F.exp(x) * 2.0).sum()
    y.backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float64


def test_asarray_casts_and_to_device_keeps_dtype():
    backend = mf.Backend("cpu")
    assert backend.asarray([1, 2]).dtype == np.float32
    assert backend.asarray(np.ones(2), dtype=np.float64).dtype == np.float64
    assert backend.to_device(np.ones(2, dtype=np.float64)).dtype == np.float64


def test_array_helpers():
    a = np.arange(3.0)
    assert array_module(a) is np
    assert array_module([1, 2]) is np
    assert to_numpy(a) is a
    assert isinstance(to_numpy([1, 2]), np.ndarray)


# --------------------------------------------------------------------------- randomness
def test_seeded_rng_is_reproducible():
    a = mf.Backend("cpu", seed=42).rng.standard_normal(5)
    b = mf.Backend("cpu", seed=42).rng.standard_normal(5)
    c = mf.Backend("cpu", seed=43).rng.standard_normal(5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_reseed_restarts_the_stream():
    backend = mf.Backend("cpu", seed=7)
    first = backend.rng.uniform(size=4)
    backend.rng.uniform(size=10)
    backend.reseed(7)
    np.testing.assert_array_equal(backend.rng.uniform(size=4), first)
    assert backend.seed == 7


# --------------------------------------------------------------------------- cupy stays out
def test_import_does_not_import_cupy():
    result = _run_python(
        """
        import sys
        import mathflow as mf
        import mathflow.functional as F
        x = mf.tensor([1.0, 2.0], requires_grad=True)
        (F.exp(x) * x).sum().backward()
        mf.Backend("cpu")
        assert "cupy" not in sys.modules, "cupy was imported"
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_broken_cupy_installation_is_harmless(tmp_path):
    fake = tmp_path / "cupy"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('libcudart.so: cannot open shared object file')\n")
    result = _run_python(
        """
        import mathflow as mf
        assert not mf.gpu_available()
        assert mf.Backend("auto").device == "cpu"
        try:
            mf.Backend("gpu")
        except mf.MathflowError as exc:
            print("refused:", exc)
        x = mf.tensor([3.0], requires_grad=True)
        (x * x).sum().backward()
        print(x.grad.item())
        """,
        env_extra={"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])},
    )
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout
    assert result.stdout.strip().endswith("6.0")


# --------------------------------------------------------------------------- on a GPU
@pytest.mark.gpu
def test_gpu_backend_runs_the_engine():
    backend = mf.Backend("gpu", seed=0)
    assert backend.device == "gpu" and backend.xp.__name__ == "cupy"
    x_np = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)
    with mf.using(backend):
        x = mf.tensor(x_np, requires_grad=True)
        assert type(x.data).__module__.startswith("cupy")
        y = (F.exp(x) @ x.T + F.sin(x)).sum()
        y.backward()
        assert y.dtype == np.float32 and x.grad.dtype == np.float32
        value, grad = y.item(), x.grad.numpy()
    xc = mf.tensor(x_np, requires_grad=True)
    yc = (F.exp(xc) @ xc.T + F.sin(xc)).sum()
    yc.backward()
    assert value == pytest.approx(yc.item(), rel=1e-5)
    np.testing.assert_allclose(grad, xc.grad.numpy(), rtol=1e-5)


@pytest.mark.gpu
def test_gpu_second_order_and_gradcheck():
    with mf.using("gpu", dtype="float64"):
        x = mf.tensor([0.3, -0.7, 1.1])
        h = mf.hessian(lambda t: (t**3).sum())(x)
        np.testing.assert_allclose(h.numpy(), np.diag(6 * np.array([0.3, -0.7, 1.1])))
        assert mf.gradcheck(lambda t: F.sin(t) * t[np.array([0, 0, 2])], x)
