"""The GPU paths without a GPU: the kernel registry, lazy CuPy import, and every launch checked
against its kernel's C signature through a stand-in ``cupy`` module that records builds and calls.

NVRTC compilation of the sources is in ``test_nvrtc_compile.py``; results on a device are in
``test_gpu.py``.
"""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import mathflow as mf
from mathflow import optim
from mathflow.functional import conv as C
from mathflow.functional import nn as NN
from mathflow.kernels import cuda

POINTER = {"T*": None, "int*": np.int32, "long long*": np.int64}


def _raw_check(kernel: cuda.Kernel, dtype: np.dtype, args: tuple) -> None:
    types_ = cuda.raw_parameters(kernel)
    assert len(args) == len(types_), f"{kernel.name}: {len(args)} arguments for {len(types_)} parameters"
    for position, (ctype, arg) in enumerate(zip(types_, args)):
        ctype = ctype.replace("const ", "").strip()
        where = f"{kernel.name} argument {position} ({ctype})"
        if ctype.endswith("*"):
            assert isinstance(arg, np.ndarray), where
            assert arg.dtype == (POINTER[ctype] or dtype), where
        elif ctype == "int":
            assert type(arg) is np.int32, where
        else:
            assert ctype == "T" and type(arg) is dtype.type, where


def _elementwise_check(kernel: cuda.Kernel, args: tuple) -> None:
    ins, outs = cuda._params(kernel.in_params), cuda._params(kernel.out_params)
    assert len(args) in (len(ins), len(ins) + len(outs)), kernel.name
    t_dtypes = set()
    for (is_raw, ctype, name), arg in zip(ins + outs, args):
        where = f"{kernel.name} parameter {name}"
        dtype = np.asarray(arg).dtype
        if ctype == "T":
            t_dtypes.add(dtype)
        else:
            expected = {"int": np.int32, "long long": np.int64, "bool": np.bool_}[ctype]
            assert dtype == expected, where
        if is_raw:
            assert isinstance(arg, np.ndarray), where
    assert len(t_dtypes) == 1, f"{kernel.name}: T bound to {t_dtypes}"


@pytest.fixture
def fake_cupy(monkeypatch):
    """A ``cupy`` that allocates NumPy arrays and records kernel builds and calls."""
    log = types.SimpleNamespace(builds=[], calls=[], options={})
    fake = types.ModuleType("cupy")

    class RawKernel:
        def __init__(self, source, name, options=()):
            log.builds.append(("raw", name))
            log.options[name] = options
            self.kernel = cuda.registered()[name]
            self.dtype = np.dtype({"float": np.float32, "double": np.float64}[source.split()[1]])

        def __call__(self, grid, block, args, shared_mem=0):
            _raw_check(self.kernel, self.dtype, args)
            log.calls.append((self.kernel.name, grid, block, shared_mem))

    class ElementwiseKernel:
        def __init__(self, in_params, out_params, operation, name, options=()):
            log.builds.append(("elementwise", name))
            log.options[name] = options
            self.kernel = cuda.registered()[name]

        def __call__(self, *args):
            _elementwise_check(self.kernel, args)
            log.calls.append((self.kernel.name, None, None, 0))
            return np.zeros_like(np.asarray(args[0]))

    fake.RawKernel, fake.ElementwiseKernel = RawKernel, ElementwiseKernel
    fake.cuda = types.SimpleNamespace(Device=lambda: types.SimpleNamespace(id=0))
    for name in ("zeros", "asarray", "ascontiguousarray"):
        setattr(fake, name, getattr(np, name))
    # the fake launches compute nothing: "empty" arrays are zeros, so no uninitialised memory (NaN at
    # random) reaches the CPU code that runs between launches
    fake.empty, fake.empty_like = np.zeros, np.zeros_like
    monkeypatch.setitem(sys.modules, "cupy", fake)
    for kernel in cuda.registered().values():
        monkeypatch.setattr(kernel, "_built", {})
    return log


def test_no_module_imports_cupy_at_import_time():
    code = (
        "import sys, mathflow, mathflow.functional, mathflow.optim\n"
        "from mathflow.kernels import cuda\n"
        "assert len(cuda.registered()) >= 15\n"
        "assert 'cupy' not in sys.modules, 'cupy imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_removed_modules_are_gone():
    for name in ("gather", "emulate"):
        with pytest.raises(ImportError):
            __import__(f"mathflow.kernels.{name}")


def test_registry_rejects_a_name_reused_with_another_source():
    cuda.raw("mathflow_test_only", 'extern "C" __global__ void mathflow_test_only() {}')
    cuda.raw("mathflow_test_only", 'extern "C" __global__ void mathflow_test_only() {}')  # same: fine
    with pytest.raises(ValueError, match="registered twice"):
        cuda.raw("mathflow_test_only", 'extern "C" __global__ void mathflow_test_only(int) {}')
    del cuda._REGISTRY["mathflow_test_only"]


def test_raw_sources_name_their_kernel_and_elementwise_params_parse():
    for kernel in cuda.registered().values():
        if kernel.elementwise:
            assert cuda._params(kernel.in_params) and cuda._params(kernel.out_params)
            assert kernel.name in cuda.nvrtc_source(kernel, "float")
        else:
            assert cuda.raw_parameters(kernel), kernel.name


def test_on_gpu_is_false_for_numpy():
    assert not cuda.on_gpu(np.zeros(2))
    assert C._k(np.zeros(2)) is C.K


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["nchw", "batch_last"])
def test_conv_and_pool_launches_match_the_sources(fake_cupy, dtype, layout):
    n, c, h, w = 2, 3, 9, 7
    x = np.zeros((n, c, h, w), dtype) if layout == "nchw" else np.zeros((c, h, w, n), dtype).transpose(3, 0, 1, 2)
    weight, b = np.zeros((4, c, 3, 2), dtype), np.zeros(4, dtype)
    y, cols = C._Gpu.conv2d_forward(x, weight, b, (2, 1), (1, 1), keep_cols=True)
    assert y.shape == (n, 4, 5, 8) and cols.shape == (c * 6, 5 * 8 * n)
    gy = np.zeros(y.shape, dtype)
    assert C._Gpu.conv2d_grad_input(gy, weight, x.shape, (2, 1), (1, 1)).shape == x.shape
    assert C._Gpu.conv2d_grad_weight(x, gy, (3, 2), (2, 1), (1, 1)).shape == weight.shape
    p, arg = C._Gpu.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1))
    assert p.shape == (n, c, 5, 4) and arg.shape == (c, 5, 4, n) and arg.dtype == np.int32
    gp = np.zeros(p.shape, dtype)
    assert C._Gpu.max_pool2d_scatter(gp, arg, x.shape, (3, 3), (2, 2), (1, 1)).shape == x.shape
    assert C._Gpu.max_pool2d_gather(x, arg, (3, 3), (2, 2), (1, 1)).shape == p.shape
    assert C._Gpu.avg_pool2d_forward(x, (3, 3), (2, 2), (1, 1)).shape == p.shape
    assert C._Gpu.avg_pool2d_spread(gp, x.shape, (3, 3), (2, 2), (1, 1)).shape == x.shape
    launched = {name for name, *_ in fake_cupy.calls}
    assert launched == {
        k.name
        for k in cuda.registered().values()
        if k.name.startswith("mathflow_") and not k.elementwise and k.name != "mathflow_softmax_xent"
    }
    assert all(grid[0] >= 1 and block == (cuda.BLOCK,) for _, grid, block, _ in fake_cupy.calls)


def test_kernels_are_built_once_per_dtype_and_device(fake_cupy):
    x = np.zeros((2, 1, 4, 4), np.float32)
    for _ in range(3):
        C._im2col_gpu(x, (2, 2), (1, 1), (0, 0))
    C._im2col_gpu(x.astype(np.float64), (2, 2), (1, 1), (0, 0))
    assert fake_cupy.builds == [("raw", "mathflow_im2col")] * 2


def test_index_limit_is_enforced(fake_cupy, monkeypatch):
    monkeypatch.setattr(cuda, "INDEX_LIMIT", 10)
    with pytest.raises(ValueError, match="32-bit"):
        C._im2col_gpu(np.zeros((1, 1, 4, 4), np.float32), (2, 2), (1, 1), (0, 0))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_nn_launches_match_the_sources(fake_cupy, smoothing):
    y = np.zeros((8, 5), np.float32)
    mask = NN.bias_relu_gpu(y, np.zeros(5, np.float32))
    assert mask.shape == y.shape and mask.dtype == bool
    NN.bias_relu_gpu(y)
    z, index = np.zeros((8, 300), np.float32), np.zeros(8, np.int64)
    loss, logp = NN.softmax_xent_gpu(z, index, smoothing, 0.125)
    assert logp.shape == z.shape
    NN.softmax_xent_grad_gpu(logp, index, np.asarray(1.0, np.float32), smoothing, 0.125)
    raw = [call for call in fake_cupy.calls if call[0] == "mathflow_softmax_xent"]
    assert raw == [("mathflow_softmax_xent", (8,), (256,), 256 * 4)]


def test_cross_entropy_with_class_indices_runs_the_fused_kernels_on_a_gpu(fake_cupy, monkeypatch):
    """``F.cross_entropy`` on device logits: one fused launch forward, one backward, no generic ops."""
    import mathflow.functional as F
    from mathflow.functional import losses

    monkeypatch.setattr(losses, "on_gpu", lambda a: True)  # the stand-in's arrays are NumPy's
    logits = mf.tensor(np.zeros((8, 5), np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, np.arange(8) % 5, label_smoothing=0.1)
    loss.backward()
    names = [name for name, *_ in fake_cupy.calls]
    assert names == ["mathflow_softmax_xent", "mathflow_softmax_xent_grad"]
    assert logits.grad is not None and logits.grad.shape == (8, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted({c.registry_name for c in optim.OPTIMIZERS.components()}))
def test_optimizer_gpu_paths_launch_their_kernels(fake_cupy, monkeypatch, name, dtype):
    """Every registered optimizer (with weight decay, so its decay path runs too) updates a GPU
    parameter with one kernel of its own."""
    p = mf.tensor(np.ones((3, 4), dtype), requires_grad=True)
    opt = optim.OPTIMIZERS.create(name, params=[p], weight_decay=0.01)
    monkeypatch.setattr(cuda, "on_gpu", lambda a: True)
    p.grad = mf.tensor(np.ones((3, 4), np.float32))  # cast to the parameter's dtype on launch
    opt.step()
    names = [name for name, *_ in fake_cupy.calls]
    assert len(names) == 1 and names[0].endswith("_update")
    assert fake_cupy.options[names[0]] == cuda.NO_FMA  # each operation rounds as in NumPy
    np.testing.assert_array_equal(p.data, np.ones((3, 4), dtype))  # the stand-in kernel computes nothing
