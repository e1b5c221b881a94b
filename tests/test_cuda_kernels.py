"""The CUDA kernels without a GPU: their index and update arithmetic, run by the NumPy emulation,
against the CPU kernels, the functional ops and the optimizers; their sources through a C++ parser."""

from __future__ import annotations

import re
import shutil
import subprocess
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mathflow as mf
import mathflow.functional as F
from mathflow.functional.losses import CrossEntropyIndex, _log_probs
from mathflow.kernels import cpu as K
from mathflow.kernels import cuda
from mathflow.kernels import emulate as E
from mathflow.kernels import gather as G
from mathflow.optim import SGD, Adagrad, Adam, AdamW, Momentum, Nesterov, RMSProp

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- geometry strategies
@st.composite
def geometries(draw, pooling: bool = False):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if pooling:
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    else:
        ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    kh, kw = min(kh, h + 2 * ph), min(kw, w + 2 * pw)
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    layout = draw(st.sampled_from(["nchw", "batch_last", "sliced"]))
    return (n, c, h, w), (kh, kw), (sh, sw), (ph, pw), layout


def make_input(shape, layout, seed=0, dtype=np.float32, integers=False):
    """An NCHW array of ``shape`` stored as ``layout`` (a contiguous array or a strided view)."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape

    def draw(s):
        return (rng.integers(-3, 4, s) if integers else rng.standard_normal(s)).astype(dtype)

    if layout == "nchw":
        return draw(shape)
    if layout == "batch_last":
        return draw((c, h, w, n)).transpose(3, 0, 1, 2)
    big = draw((n, c + 1, 2 * h, w + 1))
    return big[:, 1:, ::2, :w]


# ----------------------------------------------------------------------------- index helpers
def test_unravel_and_ravel_are_inverse():
    dims = (3, 1, 4, 2, 5)
    t = np.arange(int(np.prod(dims)))
    coords = G.unravel(t, dims)
    assert [np.asarray(c).tolist() for c in coords] == [list(a) for a in np.unravel_index(t, dims)]
    np.testing.assert_array_equal(G.ravel(coords, dims), t)


def test_tap_finds_exactly_the_windows_reading_a_pixel():
    for stride, out in [(1, 5), (2, 3), (3, 2)]:
        for p in range(10):
            for u in range(4):
                i, ok = G.tap(np.int64(p), u, stride, out)
                expected = any(ii * stride + u == p for ii in range(out))
                assert bool(ok) == expected
                if ok:
                    assert i * stride + u == p


def test_symbolic_expressions_print_c():
    t, n = G.Sym("t"), G.Sym("N")
    assert G.c_text(G.unravel(t, (G.Sym("C"), n))[1]) == "(t % N)"
    i, ok = G.tap(G.Sym("hp"), G.Sym("u"), G.Sym("sh"), G.Sym("Ho"))
    assert G.c_text(i) == "((hp - u) / sh)"
    assert "&&" in G.c_text(ok) and "%" in G.c_text(ok)
    x = G.Sym("x", "float")
    assert G.c_text(x * 2.0 + x) == "__fadd_rn(__fmul_rn(x, 2.0), x)"
    assert G.c_text(G.sqrt(G.Sym("v", "double"))) == "__dsqrt_rn(v)"


# ----------------------------------------------------------------------------- gathers vs the CPU kernels
@SETTINGS
@given(geometries())
def test_im2col_matches_cpu(geo):
    shape, kernel, stride, padding, layout = geo
    x = make_input(shape, layout)
    np.testing.assert_array_equal(E.im2col(x, kernel, stride, padding), K.im2col(x, kernel, stride, padding))


@SETTINGS
@given(geometries())
def test_col2im_gather_matches_cpu_scatter(geo):
    shape, kernel, stride, padding, _ = geo
    _, out_hw = K._geometry(shape, kernel, stride, padding)
    rows = shape[1] * kernel[0] * kernel[1]
    cols = np.random.default_rng(1).standard_normal((rows, out_hw[0] * out_hw[1] * shape[0])).astype(np.float32)
    got = E.col2im(cols, shape, kernel, stride, padding)
    np.testing.assert_array_equal(got, K.col2im(cols, shape, kernel, stride, padding))  # same order of additions


def test_col2im_is_the_adjoint_of_im2col_in_float64():
    shape, kernel, stride, padding = (2, 3, 6, 5), (3, 2), (2, 1), (1, 1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    cols = E.im2col(x, kernel, stride, padding)
    g = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * g), np.sum(x * E.col2im(g, shape, kernel, stride, padding)), rtol=1e-12)


@SETTINGS
@given(geometries(pooling=True), st.booleans())
def test_max_pool_matches_cpu_including_ties(geo, integers):
    shape, kernel, stride, padding, layout = geo
    x = make_input(shape, layout, integers=integers)  # small integers make many ties
    y, arg = E.max_pool_forward(x, kernel, stride, padding)
    y_cpu, masks = K.max_pool2d_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(y, y_cpu)
    np.testing.assert_array_equal(arg, masks.argmax(axis=0))
    gy = make_input(y.shape, "batch_last", seed=3)
    np.testing.assert_array_equal(
        E.max_pool_backward(gy, arg, shape, kernel, stride, padding),
        K.max_pool2d_scatter(gy, masks, shape, kernel, stride, padding),
    )
    g = make_input(shape, layout, seed=4)
    np.testing.assert_array_equal(
        E.max_pool_select(g, arg, kernel, stride, padding), K.max_pool2d_gather(g, masks, kernel, stride, padding)
    )


@SETTINGS
@given(geometries(pooling=True))
def test_avg_pool_matches_cpu(geo):
    shape, kernel, stride, padding, layout = geo
    x = make_input(shape, layout)
    y = E.avg_pool_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(y, K.avg_pool2d_forward(x, kernel, stride, padding))
    gy = make_input(y.shape, layout if layout != "sliced" else "nchw", seed=5)
    np.testing.assert_array_equal(
        E.avg_pool_backward(gy, shape, kernel, stride, padding), K.avg_pool2d_spread(gy, shape, kernel, stride, padding)
    )


def test_gathers_on_lenet_shapes_match_the_functional_ops():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    w = rng.standard_normal((8, 1, 5, 5)).astype(np.float32)
    cols = E.im2col(x, (5, 5), (1, 1), (2, 2))
    y = (w.reshape(8, -1) @ cols).reshape(8, 28, 28, 4).transpose(3, 0, 1, 2)
    np.testing.assert_allclose(y, F.conv2d(x, w, padding=2).numpy(), rtol=1e-5, atol=1e-5)
    pooled, arg = E.max_pool_forward(y, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(pooled, F.max_pool2d(mf.tensor(y), 2).numpy())
    assert arg.min() >= 0 and arg.max() <= 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_float64_and_strided_gradients(dtype):
    shape, kernel, stride, padding = (3, 2, 7, 6), (3, 3), (2, 2), (1, 1)
    x = make_input(shape, "sliced", dtype=dtype)
    y, arg = E.max_pool_forward(x, (3, 3), (2, 2), (1, 1))
    assert y.dtype == dtype
    gy = make_input(y.shape, "nchw", seed=9, dtype=dtype)
    _, masks = K.max_pool2d_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(
        E.max_pool_backward(gy, arg, shape, kernel, stride, padding),
        K.max_pool2d_scatter(gy, masks, shape, kernel, stride, padding),
    )


# ----------------------------------------------------------------------------- fused element-wise kernels
def test_bias_relu_matches_linear_relu_and_conv_layout():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 12)).astype(np.float32)
    w = rng.standard_normal((12, 9)).astype(np.float32)
    b = rng.standard_normal(9).astype(np.float32)
    y, mask = E.bias_relu(x @ w, b, inner=1, channels=9)
    expected = F.linear_relu(x, w, b).numpy()
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(mask, expected > 0)
    # conv output kept batch-last: (F, Ho, Wo, N), the bias indexes the leading axis
    z = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    bc = rng.standard_normal(4).astype(np.float32)
    yc, _ = E.bias_relu(z, bc, inner=3 * 3 * 2, channels=4)
    np.testing.assert_array_equal(yc, np.maximum(z + bc[:, None, None, None], 0))
    gy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(E.relu_grad(gy, mask), gy * mask)


def test_bias_relu_propagates_nan_like_numpy():
    y, mask = E.bias_relu(np.array([[np.nan, -1.0, 2.0]], np.float32), np.zeros(3, np.float32), 1, 3)
    assert np.isnan(y[0, 0]) and y[0, 1] == 0 and y[0, 2] == 2
    assert mask.tolist() == [[False, False, True]]


@pytest.mark.parametrize("block", [1, 2, 32, 128])
@pytest.mark.parametrize("cols", [1, 5, 33, 200])
def test_block_reduce_is_a_reduction(block, cols):
    v = np.random.default_rng(cols).standard_normal((3, cols))
    np.testing.assert_allclose(E.block_reduce(v, block, np.add, 0.0), v.sum(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(E.block_reduce(v, block, G.maximum, -np.inf), v.max(axis=1))


def test_block_reduce_rejects_other_block_sizes():
    with pytest.raises(ValueError):
        E.block_reduce(np.ones((1, 3)), 3, np.add, 0.0)


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("rows,classes", [(1, 1), (7, 10), (5, 300)])
def test_softmax_xent_matches_cross_entropy(dtype, rtol, smoothing, rows, classes):
    rng = np.random.default_rng(rows * classes)
    z = (rng.standard_normal((rows, classes)) * 4).astype(dtype)
    index = rng.integers(0, classes, rows)
    mf.set_default_dtype(np.dtype(dtype).name)
    block = cuda.xent_block(classes)
    loss, logp = E.softmax_xent_forward(z, index, smoothing, 1.0 / rows, block=block)
    assert loss.dtype == dtype and logp.dtype == dtype
    expected = F.cross_entropy(mf.tensor(z), index, label_smoothing=smoothing)
    np.testing.assert_allclose(loss, expected.numpy(), rtol=rtol * 10, atol=rtol)
    np.testing.assert_allclose(logp, _log_probs(z), rtol=rtol * 10, atol=rtol * 10)
    # backward from the CPU's own log-probabilities: same operations in the same order
    op = CrossEntropyIndex(index, smoothing, 1.0 / rows)
    op.forward(z)
    g = np.asarray(1.5, dtype=dtype)
    np.testing.assert_array_equal(E.softmax_xent_backward(op.logp, index, g, smoothing, 1.0 / rows), op.backward_raw(g))


def test_xent_block_sizes():
    assert [cuda.xent_block(c) for c in (1, 10, 32, 33, 1000)] == [32, 32, 32, 64, 256]


# ----------------------------------------------------------------------------- optimizer updates
OPTIMIZERS = [
    ("sgd", lambda p: SGD(p, lr=0.1)),
    ("sgd-wd", lambda p: SGD(p, lr=0.1, weight_decay=0.01)),
    ("momentum", lambda p: Momentum(p, lr=0.05, momentum=0.9)),
    ("momentum-wd", lambda p: Momentum(p, lr=0.05, weight_decay=0.001)),
    ("nesterov", lambda p: Nesterov(p, lr=0.05)),
    ("nesterov-wd", lambda p: Nesterov(p, lr=0.05, weight_decay=0.01)),
    ("adam", lambda p: Adam(p, lr=1e-2)),
    ("adam-l2", lambda p: Adam(p, lr=1e-2, weight_decay=0.1)),
    ("adam-nobias", lambda p: Adam(p, lr=1e-2, bias_correction=False)),
    ("adamw", lambda p: AdamW(p, lr=1e-2, weight_decay=0.05)),
    ("rmsprop", lambda p: RMSProp(p, lr=1e-2)),
    ("rmsprop-wd", lambda p: RMSProp(p, lr=1e-2, weight_decay=0.01)),
    ("adagrad", lambda p: Adagrad(p, lr=0.1, initial_accumulator_value=0.1)),
    ("adagrad-wd", lambda p: Adagrad(p, lr=0.1, weight_decay=0.01)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_update_rules_reproduce_the_optimizers_bit_for_bit(name, make, dtype):
    rng = np.random.default_rng(11)
    mf.set_default_dtype(dtype)
    p = mf.tensor(rng.standard_normal((5, 4)).astype(dtype), requires_grad=True)
    opt = make([p])
    kind, variant = cuda.optimizer_rule(opt)
    w = p.data.copy()
    state = tuple(s.copy() for s in opt._slots[0].state)
    for step in range(1, 5):
        opt.lr = opt.base_lr * (1.0 if step < 3 else 0.3)  # a schedule changes η midway
        grad = rng.standard_normal((5, 4)).astype(dtype)
        p.grad = mf.tensor(grad)
        opt.step()
        w, *state = E.optimizer_update(kind, w, grad, tuple(state), cuda.optimizer_scalars(opt, step, opt.lr), variant)
        assert w.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(w, p.data)
        for mine, theirs in zip(state, opt._slots[0].state):
            np.testing.assert_array_equal(mine, theirs)


def test_every_optimizer_kind_and_variant_has_a_kernel():
    specs = cuda.elementwise_specs("float")
    for _, make in OPTIMIZERS:
        kind, variant = cuda.optimizer_rule(make([mf.tensor(np.ones(2), requires_grad=True)]))
        assert cuda.update_spec(kind, "float", variant).name in specs


# ----------------------------------------------------------------------------- the sources
_HEADER = r"""
#include <cmath>
#define __global__
#define __shared__
#define __restrict__ __restrict
struct mf_uint3 { unsigned int x, y, z; };
extern mf_uint3 threadIdx, blockIdx, blockDim, gridDim;
void __syncthreads();
float __fadd_rn(float, float); float __fsub_rn(float, float); float __fmul_rn(float, float);
float __fdiv_rn(float, float); float __fsqrt_rn(float);
double __dadd_rn(double, double); double __dsub_rn(double, double); double __dmul_rn(double, double);
double __ddiv_rn(double, double); double __dsqrt_rn(double);
"""


def _elementwise_as_function(spec: cuda.ElementwiseSpec, ctype: str, index: int) -> str:
    """An element-wise kernel body wrapped as a C++ function: inputs by value, outputs by reference."""
    ctypes_ = {"float32": "float", "float64": "double", "int32": "int", "int64": "long long", "bool": "bool"}
    params = ["long long i"]
    for part in spec.in_params.split(","):
        words = part.split()
        if words[0] == "raw":
            params.append(f"const {ctypes_[words[1]]}* {words[2]}")
        else:
            params.append(f"{ctypes_[words[0]]} {words[1]}")
    for part in spec.out_params.split(","):
        dtype, name = part.split()
        params.append(f"{ctypes_[dtype]}& {name}")
    return f"void check_{index}({', '.join(params)})\n{{\n{spec.operation}\n}}\n"


def _all_sources() -> str:
    chunks = [_HEADER]
    for ctype in ("float", "double"):
        for _name, make in cuda.RAW_SOURCES.items():
            chunks.append(make(ctype))  # C++ allows repeating an identical typedef
        for index, spec in enumerate(cuda.elementwise_specs(ctype).values()):
            chunks.append(_elementwise_as_function(spec, ctype, index + (0 if ctype == "float" else 1000)))
    return "\n".join(chunks)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_sources_parse_as_cpp(tmp_path):
    path = tmp_path / "kernels.cpp"
    path.write_text(_all_sources())
    result = subprocess.run(
        ["g++", "-fsyntax-only", "-Wall", "-Werror", "-Wno-unused-variable", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_syntax_check_catches_a_typo(tmp_path):
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    path = tmp_path / "broken.cpp"
    path.write_text(_HEADER + cuda.col2im_source("float").replace("acc = __fadd_rn", "acc = __fad_rn"))
    assert subprocess.run(["g++", "-fsyntax-only", str(path)], capture_output=True).returncode != 0


def _signature(source: str) -> tuple[str, list[str]]:
    match = re.search(r'extern "C" __global__ void (\w+)\(([^)]*)\)', source)
    assert match, source[:200]
    return match.group(1), [" ".join(p.split()) for p in match.group(2).split(",")]


@pytest.mark.parametrize("ctype", ["float", "double"])
@pytest.mark.parametrize("name", sorted(cuda.RAW_SOURCES))
def test_raw_kernel_names_and_parameters(name, ctype):
    kernel, params = _signature(cuda.RAW_SOURCES[name](ctype))
    assert kernel == cuda.raw_kernel_name(name, ctype)
    assert len(params) == len({p.split()[-1] for p in params})  # no duplicate parameter names
    assert all(ctype in p or "idx_t" in p or "int" in p or "long long" in p for p in params)


# ----------------------------------------------------------------------------- launchers against a stand-in CuPy
class _Recorder:
    """Stands in for cupy: records every kernel built and every launch with its arguments."""

    def __init__(self):
        self.launches: list[tuple[str, tuple, dict]] = []
        self.sources: dict[str, str] = {}
        self.elementwise: dict[str, cuda.ElementwiseSpec] = {}
        rec = self

        class RawKernel:
            def __init__(self, source, name):
                rec.sources[name] = source
                self.name = name

            def __call__(self, grid, block, args, **kw):
                rec.launches.append((self.name, args, {"grid": grid, "block": block, **kw}))

        class ElementwiseKernel:
            def __init__(self, in_params, out_params, operation, name):
                rec.elementwise[name] = cuda.ElementwiseSpec(in_params, out_params, operation, name)
                self.name = name

            def __call__(self, *args):
                rec.launches.append((self.name, args, {}))
                return np.zeros(np.shape(args[0]), dtype=args[0].dtype)

        self.module = types.SimpleNamespace(
            RawKernel=RawKernel,
            ElementwiseKernel=ElementwiseKernel,
            empty=np.empty,
            empty_like=np.empty_like,
            ascontiguousarray=np.ascontiguousarray,
            asarray=np.asarray,
        )


@pytest.fixture
def fake_cupy(monkeypatch):
    rec = _Recorder()
    monkeypatch.setattr(cuda, "_cupy", lambda: rec.module)
    cuda.raw_kernel.cache_clear()
    cuda.elementwise_kernel.cache_clear()
    yield rec
    cuda.raw_kernel.cache_clear()
    cuda.elementwise_kernel.cache_clear()


def _check_raw_launch(rec, name, args):
    _, params = _signature(rec.sources[name])
    assert len(args) == len(params), (name, len(args), len(params))
    for arg, param in zip(args, params):
        if "*" in param:
            assert isinstance(arg, np.ndarray), (name, param)
            base = param.replace("const", "").replace("__restrict__", "").split("*")[0].strip()
            expected = {"float": np.float32, "double": np.float64, "int": np.int32, "long long": np.int64}[base]
            assert arg.dtype == expected, (name, param, arg.dtype)
        elif "idx_t" in param or param.startswith("const int"):
            assert type(arg) is np.int32, (name, param, type(arg))
        else:
            assert type(arg) in (np.float32, np.float64), (name, param, type(arg))


def test_launchers_pass_arguments_matching_the_sources(fake_cupy):
    x = make_input((2, 3, 6, 5), "batch_last")
    cols = cuda.im2col(x, (3, 3), (1, 1), (1, 1))
    assert cols.shape == (27, 6 * 5 * 2)
    out = cuda.col2im(cols, x.shape, (3, 3), (1, 1), (1, 1))
    assert out.shape == x.shape
    y, arg = cuda.max_pool_forward(x, (2, 2), (2, 2), (0, 0))
    assert y.shape == (2, 3, 3, 2) and arg.shape == (3, 3, 2, 2) and arg.dtype == np.int32
    assert cuda.max_pool_backward(y, arg, x.shape, (2, 2), (2, 2), (0, 0)).shape == x.shape
    assert cuda.max_pool_select(x, arg, (2, 2), (2, 2), (0, 0)).shape == y.shape
    assert cuda.avg_pool_forward(x, (2, 2), (2, 2), (0, 0)).shape == y.shape
    assert cuda.avg_pool_backward(y, x.shape, (2, 2), (2, 2), (0, 0)).shape == x.shape
    z = np.zeros((4, 10), np.float32)
    cuda.softmax_xent_forward(z, np.arange(4), 0.1, 0.25)
    for name, args, _kw in fake_cupy.launches:
        _check_raw_launch(fake_cupy, name, args)
    xent = [kw for name, _, kw in fake_cupy.launches if "softmax" in name][0]
    assert xent["grid"] == (4,) and xent["shared_mem"] == xent["block"][0] * 4


def test_elementwise_launchers_match_their_specs(fake_cupy):
    y = np.zeros((3, 4), np.float32)
    cuda.bias_relu(y, np.zeros(4, np.float32), 1, 4)
    cuda.relu_grad(y, y > 0)
    cuda.softmax_xent_backward(np.zeros((3, 4), np.float32), np.arange(3), np.float32(1), 0.0, 1 / 3)
    p = mf.tensor(np.ones((2, 2)), requires_grad=True)
    for _, make in OPTIMIZERS:
        opt = make([p])
        opt._slots[0].step = 1
        cuda.fused_update(opt, opt._slots[0], p.data, np.ones((2, 2), np.float32), opt.lr)
    for name, args, _ in fake_cupy.launches:
        spec = fake_cupy.elementwise[name]
        n_in, n_out = len(spec.in_params.split(",")), len(spec.out_params.split(","))
        assert n_in <= len(args) <= n_in + n_out, name
        for arg, param in zip(args, (spec.in_params + ", " + spec.out_params).split(",")):
            dtype = param.split()[-2]
            if dtype in ("float32", "float64", "int32", "int64"):
                assert np.asarray(arg).dtype == np.dtype(dtype), (name, param)


def test_index_limit_is_enforced(fake_cupy, monkeypatch):
    monkeypatch.setattr(cuda, "INDEX_LIMIT", 100)
    with pytest.raises(ValueError, match="32-bit"):
        cuda.im2col(np.zeros((1, 1, 10, 10), np.float32), (3, 3))


def test_module_does_not_import_cupy():
    code = "import sys, mathflow.kernels.cuda, mathflow.kernels.emulate; print('cupy' in sys.modules)"
    out = subprocess.run([__import__("sys").executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
