"""Every registered CUDA kernel compiles with NVRTC for sm_80 and sm_90, float and double (no GPU needed).

The kernels come from :func:`mathflow.kernels.cuda.registered`, so a kernel added to any owner
module is compiled here without touching this file. NVRTC comes from the ``dev`` extra
(``cuda-bindings`` + ``nvidia-cuda-nvrtc``); without it the tests skip with the reason.
"""

from __future__ import annotations

import pytest

from mathflow.kernels import cuda

ARCHS = ("sm_80", "sm_90")
CTYPES = ("float", "double")
KERNELS = cuda.registered()


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:
        pytest.skip(f"cuda.bindings.nvrtc is not installed ({exc}); pip install -e '.[dev]'")
    try:
        err, _, _ = nvrtc.nvrtcVersion()
    except Exception as exc:  # the shared library is loaded on the first call
        pytest.skip(f"libnvrtc cannot be loaded: {exc}")
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        pytest.skip(f"nvrtcVersion failed: {err}")
    return nvrtc


def compile_source(source: str, name: str, arch: str, options: tuple[str, ...] = ()) -> tuple[bool, str]:
    """(success, NVRTC log) of compiling ``source`` for ``arch``."""
    nvrtc = _nvrtc()
    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, err
    try:
        opts = [f"--gpu-architecture={arch}".encode(), *(o.encode() for o in options)]
        (result,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        _, size = nvrtc.nvrtcGetProgramLogSize(prog)
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(prog, log)
        return result == nvrtc.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace").rstrip("\x00 \n")
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def test_every_owner_registers_its_kernels():
    names = set(KERNELS)
    expected = {
        "mathflow_im2col",
        "mathflow_col2im",
        "mathflow_max_pool_forward",
        "mathflow_max_pool_scatter",
        "mathflow_max_pool_gather",
        "mathflow_avg_pool_forward",
        "mathflow_avg_pool_spread",
        "mathflow_bias_relu",
        "mathflow_softmax_xent",
        "mathflow_softmax_xent_grad",
        "mathflow_sgd_update",
        "mathflow_momentum_update",
        "mathflow_adam_update",
        "mathflow_rmsprop_update",
        "mathflow_adagrad_update",
    }
    assert expected <= names


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("ctype", CTYPES)
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_compiles_with_nvrtc(name, ctype, arch):
    kernel = KERNELS[name]
    ok, log = compile_source(cuda.nvrtc_source(kernel, ctype), name, arch, kernel.options)
    assert ok, f"NVRTC rejected {name} ({ctype}, {arch}):\n{log}"


def test_a_broken_kernel_fails_with_the_nvrtc_log():
    broken = cuda.Kernel("mathflow_broken", "w = w - undefined_name * g;", "T g", "T w")
    ok, log = compile_source(cuda.nvrtc_source(broken, "float"), broken.name, "sm_80")
    assert not ok
    assert "undefined_name" in log
