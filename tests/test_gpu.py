"""The CUDA kernels and the CuPy backend on a real device (skipped without CuPy and a GPU).

The gather kernels and the optimizer updates use only exactly-rounded operations in the CPU
kernels' order, so they are expected to equal the CPU results bit for bit; the reductions
(softmax, matrix products) are compared with float32 tolerances.
"""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F
from mathflow.kernels import cpu as K
from mathflow.kernels import cuda
from mathflow.kernels import emulate as E
from mathflow.optim import SGD, Adagrad, Adam, AdamW, Momentum, Nesterov, RMSProp

pytestmark = pytest.mark.gpu

GEOMETRIES = [  # shape, kernel, stride, padding
    ((2, 3, 7, 6), (3, 3), (1, 1), (1, 1)),
    ((3, 2, 8, 8), (2, 2), (2, 2), (0, 0)),
    ((2, 1, 9, 7), (3, 2), (2, 3), (1, 1)),
    ((4, 1, 28, 28), (5, 5), (1, 1), (2, 2)),
    ((1, 4, 5, 5), (1, 1), (1, 1), (0, 0)),
]
POOLS = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0)),
    ((2, 2, 7, 9), (3, 3), (2, 2), (1, 1)),
    ((1, 2, 6, 6), (3, 2), (1, 1), (1, 0)),
]


@pytest.fixture
def cp():
    cupy = pytest.importorskip("cupy")
    yield cupy
    mf.set_backend("cpu")


def _pair(rng, shape, dtype=np.float32, batch_last=False, integers=False):
    """(NumPy array, the same on the GPU), optionally as a batch-first view of a batch-last buffer."""
    import cupy

    n, c, h, w = shape
    draw = (lambda s: rng.integers(-3, 4, s)) if integers else rng.standard_normal
    if batch_last:
        base = draw((c, h, w, n)).astype(dtype)
        return base.transpose(3, 0, 1, 2), cupy.asarray(base).transpose(3, 0, 1, 2)
    x = draw(shape).astype(dtype)
    return x, cupy.asarray(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("batch_last", [False, True])
def test_im2col_col2im_equal_cpu(cp, geo, dtype, batch_last):
    shape, kernel, stride, padding = geo
    rng = np.random.default_rng(0)
    x, gx = _pair(rng, shape, dtype, batch_last)
    cols = cuda.im2col(gx, kernel, stride, padding)
    np.testing.assert_array_equal(cols.get(), K.im2col(x, kernel, stride, padding))
    back = cuda.col2im(cols, shape, kernel, stride, padding)
    np.testing.assert_array_equal(back.get(), K.col2im(cols.get(), shape, kernel, stride, padding))
    np.testing.assert_array_equal(back.get(), cuda.col2im(cols, shape, kernel, stride, padding).get())  # determinism


@pytest.mark.parametrize("geo", POOLS)
@pytest.mark.parametrize("integers", [False, True])
def test_pooling_kernels_equal_cpu(cp, geo, integers):
    shape, kernel, stride, padding = geo
    rng = np.random.default_rng(1)
    x, gx = _pair(rng, shape, integers=integers)
    y, arg = cuda.max_pool_forward(gx, kernel, stride, padding)
    y_cpu, masks = K.max_pool2d_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(y.get(), y_cpu)
    np.testing.assert_array_equal(arg.get(), masks.argmax(axis=0))
    np.testing.assert_array_equal(arg.get(), E.max_pool_forward(x, kernel, stride, padding)[1])
    gy_np = rng.standard_normal(y_cpu.shape).astype(np.float32)
    gy = cp.asarray(gy_np)
    np.testing.assert_array_equal(
        cuda.max_pool_backward(gy, arg, shape, kernel, stride, padding).get(),
        K.max_pool2d_scatter(gy_np, masks, shape, kernel, stride, padding),
    )
    np.testing.assert_array_equal(
        cuda.max_pool_select(gx, arg, kernel, stride, padding).get(),
        K.max_pool2d_gather(x, masks, kernel, stride, padding),
    )
    np.testing.assert_array_equal(
        cuda.avg_pool_forward(gx, kernel, stride, padding).get(), K.avg_pool2d_forward(x, kernel, stride, padding)
    )
    np.testing.assert_array_equal(
        cuda.avg_pool_backward(gy, shape, kernel, stride, padding).get(),
        K.avg_pool2d_spread(gy_np, shape, kernel, stride, padding),
    )


def test_bias_relu_and_relu_grad(cp):
    rng = np.random.default_rng(2)
    y_np = rng.standard_normal((64, 33)).astype(np.float32)
    b_np = rng.standard_normal(33).astype(np.float32)
    y = cp.asarray(y_np)
    mask = cuda.bias_relu(y, cp.asarray(b_np), 1, 33)
    expected, expected_mask = E.bias_relu(y_np, b_np, 1, 33)
    np.testing.assert_array_equal(y.get(), expected)
    np.testing.assert_array_equal(mask.get(), expected_mask)
    gy_np = rng.standard_normal(y_np.shape).astype(np.float32)
    np.testing.assert_array_equal(cuda.relu_grad(cp.asarray(gy_np), mask).get(), gy_np * expected_mask)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("rows,classes", [(1, 1), (64, 10), (512, 10), (7, 1000)])
def test_softmax_xent(cp, rows, classes, smoothing):
    from mathflow.functional.losses import CrossEntropyIndex

    rng = np.random.default_rng(3)
    z = (rng.standard_normal((rows, classes)) * 4).astype(np.float32)
    index = rng.integers(0, classes, rows)
    loss, logp = cuda.softmax_xent_forward(cp.asarray(z), cp.asarray(index), smoothing, 1.0 / rows)
    op = CrossEntropyIndex(index, smoothing, 1.0 / rows)
    expected = op.forward(z)
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logp.get(), op.logp, rtol=1e-5, atol=1e-5)
    g = np.asarray(1.0, np.float32)
    grad = cuda.softmax_xent_backward(cp.asarray(op.logp), cp.asarray(index), cp.asarray(g), smoothing, 1.0 / rows)
    np.testing.assert_allclose(grad.get(), op.backward_raw(g), rtol=1e-6, atol=1e-7)


OPTIMIZERS = [
    lambda p: SGD(p, lr=0.1),
    lambda p: SGD(p, lr=0.1, weight_decay=0.01),
    lambda p: Momentum(p, lr=0.05),
    lambda p: Nesterov(p, lr=0.05, weight_decay=0.01),
    lambda p: Adam(p, lr=1e-2),
    lambda p: Adam(p, lr=1e-2, weight_decay=0.1),
    lambda p: AdamW(p, lr=1e-2),
    lambda p: RMSProp(p, lr=1e-2),
    lambda p: Adagrad(p, lr=0.1, weight_decay=0.01),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_fused_updates_equal_numpy_bit_for_bit(cp, make):
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((257, 3)).astype(np.float32)
    p_cpu = mf.tensor(w0.copy(), requires_grad=True)
    opt_cpu = make([p_cpu])
    with mf.using("gpu"):
        p_gpu = mf.tensor(cp.asarray(w0), requires_grad=True)
        opt_gpu = make([p_gpu])
    slot = opt_gpu._slots[0]
    for _ in range(5):
        g = rng.standard_normal(w0.shape).astype(np.float32)
        p_cpu.grad = mf.tensor(g)
        opt_cpu.step()
        slot.step += 1
        cuda.fused_update(opt_gpu, slot, p_gpu.data, cp.asarray(g), opt_gpu.lr)
    np.testing.assert_array_equal(p_gpu.data.get(), p_cpu.data)
    for a, b in zip(slot.state, opt_cpu._slots[0].state):
        np.testing.assert_array_equal(a.get(), b)


def test_existing_adam_gpu_path_matches_numpy(cp):
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((100,)).astype(np.float32)
    p_cpu = mf.tensor(w0.copy(), requires_grad=True)
    opt_cpu = AdamW(p_cpu, lr=1e-2)
    with mf.using("gpu"):
        p_gpu = mf.tensor(cp.asarray(w0), requires_grad=True)
        opt_gpu = AdamW(p_gpu, lr=1e-2)
    for _ in range(10):
        g = rng.standard_normal(w0.shape).astype(np.float32)
        p_cpu.grad, p_gpu.grad = mf.tensor(g), mf.tensor(cp.asarray(g))
        opt_cpu.step()
        opt_gpu.step()
    np.testing.assert_allclose(p_gpu.data.get(), p_cpu.data, rtol=1e-6, atol=1e-7)


def test_every_kernel_compiles(cp):
    for dtype in ("float32", "float64"):
        for name in cuda.RAW_SOURCES:
            cuda.raw_kernel(name, dtype).compile()


def test_functional_conv_and_pool_on_gpu_match_cpu(cp):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 3, 12, 12)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)

    def run(xp):
        tx = mf.tensor(xp.asarray(x), requires_grad=True)
        tw = mf.tensor(xp.asarray(w), requires_grad=True)
        tb = mf.tensor(xp.asarray(b), requires_grad=True)
        y = F.max_pool2d(F.relu(F.conv2d(tx, tw, tb, padding=1)), 2)
        loss = F.sum(F.avg_pool2d(y, 2) * 1.5)
        loss.backward()
        return [t.numpy() for t in (loss, tx.grad, tw.grad, tb.grad)]

    cpu = run(np)
    with mf.using("gpu"):
        gpu = run(cp)
    for a, b_ in zip(gpu, cpu):
        np.testing.assert_allclose(a, b_, rtol=1e-4, atol=1e-5)


def test_training_does_not_grow_the_memory_pool(cp):
    from mathflow import nn

    mf.set_backend("gpu", seed=0)
    model = nn.Sequential(nn.Conv2D(4, 3, padding=1, activation="relu"), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(10))
    model.build((1, 8, 8))
    opt = Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropy()
    x = mf.tensor(cp.random.standard_normal((32, 1, 8, 8), dtype=cp.float32))
    y = cp.random.randint(0, 10, 32)
    pool = cp.get_default_memory_pool()
    totals = []
    for _epoch in range(3):
        for _ in range(20):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        cp.cuda.Device().synchronize()
        totals.append(pool.total_bytes())
    assert totals[2] == totals[1]
