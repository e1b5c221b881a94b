"""Every GPU path against its CPU path on a real device (skipped without CuPy and a GPU).

float32 results are compared with rtol 1e-5 (the gathers are expected to be exact; the sums
inside softmax and the fused updates may differ by FMA contraction).
"""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F
from mathflow.functional import conv as C
from mathflow.functional import nn as NN
from mathflow.kernels import cpu as K
from mathflow.kernels import cuda
from mathflow.optim import SGD, Adagrad, Adam, AdamW, Momentum, Nesterov, RMSProp

pytestmark = pytest.mark.gpu
RTOL, ATOL = 1e-5, 1e-6

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


def close(gpu, cpu, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(gpu.get() if hasattr(gpu, "get") else gpu, cpu, rtol=rtol, atol=atol)


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
def test_conv_gpu_equals_cpu(cp, geo, dtype, batch_last):
    shape, kernel, stride, padding = geo
    rng = np.random.default_rng(0)
    x, gx = _pair(rng, shape, dtype, batch_last)
    cols = C._im2col_gpu(gx, kernel, stride, padding)
    np.testing.assert_array_equal(cols.get(), K.im2col(x, kernel, stride, padding))
    back = C._col2im_gpu(cols, shape, kernel, stride, padding)
    close(back, K.col2im(cols.get(), shape, kernel, stride, padding))
    w = rng.standard_normal((4, shape[1], *kernel)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    y, _ = C._Gpu.conv2d_forward(gx, cp.asarray(w), cp.asarray(b), stride, padding)
    y_cpu, _ = K.conv2d_forward(x, w, b, stride, padding)
    close(y, y_cpu, atol=1e-5)
    gy = rng.standard_normal(y_cpu.shape).astype(dtype)
    close(
        C._Gpu.conv2d_grad_input(cp.asarray(gy), cp.asarray(w), shape, stride, padding),
        K.conv2d_grad_input(gy, w, shape, stride, padding),
        atol=1e-5,
    )
    close(
        C._Gpu.conv2d_grad_weight(gx, cp.asarray(gy), kernel, stride, padding),
        K.conv2d_grad_weight(x, gy, kernel, stride, padding),
        atol=1e-5,
    )


@pytest.mark.parametrize("geo", POOLS)
@pytest.mark.parametrize("integers", [False, True])  # integers: ties, first arg-max wins
def test_pooling_gpu_equals_cpu(cp, geo, integers):
    shape, kernel, stride, padding = geo
    rng = np.random.default_rng(1)
    x, gx = _pair(rng, shape, integers=integers)
    y, arg = C._Gpu.max_pool2d_forward(gx, kernel, stride, padding)
    y_cpu, masks = K.max_pool2d_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(y.get(), y_cpu)
    np.testing.assert_array_equal(arg.get(), masks.argmax(axis=0))
    gy = rng.standard_normal(y_cpu.shape).astype(np.float32)
    close(
        C._Gpu.max_pool2d_scatter(cp.asarray(gy), arg, shape, kernel, stride, padding),
        K.max_pool2d_scatter(gy, masks, shape, kernel, stride, padding),
    )
    g = rng.standard_normal(shape).astype(np.float32)
    close(
        C._Gpu.max_pool2d_gather(cp.asarray(g), arg, kernel, stride, padding),
        K.max_pool2d_gather(g, masks, kernel, stride, padding),
    )
    close(C._Gpu.avg_pool2d_forward(gx, kernel, stride, padding), K.avg_pool2d_forward(x, kernel, stride, padding))
    close(
        C._Gpu.avg_pool2d_spread(cp.asarray(gy), shape, kernel, stride, padding),
        K.avg_pool2d_spread(gy, shape, kernel, stride, padding),
    )


def test_bias_relu_gpu_equals_cpu(cp):
    rng = np.random.default_rng(2)
    y_np = rng.standard_normal((64, 33)).astype(np.float32)
    y_np[0, 0] = np.nan
    b_np = rng.standard_normal(33).astype(np.float32)
    y = cp.asarray(y_np)
    mask = NN.bias_relu_gpu(y, cp.asarray(b_np))
    expected = np.maximum(y_np + b_np, 0)
    np.testing.assert_array_equal(y.get(), expected)
    np.testing.assert_array_equal(mask.get(), expected > 0)
    conv_out = rng.standard_normal((5, 3, 4, 2)).astype(np.float32)  # batch-last (F, Ho, Wo, N)
    b5 = rng.standard_normal(5).astype(np.float32)
    g = cp.asarray(conv_out)
    NN.bias_relu_gpu(g, cp.asarray(b5), inner=3 * 4 * 2)
    np.testing.assert_array_equal(g.get(), np.maximum(conv_out + b5[:, None, None, None], 0))


def test_linear_relu_gpu_equals_cpu(cp):
    rng = np.random.default_rng(7)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((32, 20), (20, 16), (16,)))

    def run(xp):
        ts = [mf.tensor(xp.asarray(a), requires_grad=True) for a in (x, w, b)]
        loss = F.sum(F.linear_relu(*ts) * 0.5)
        loss.backward()
        return [t.numpy() for t in (loss, *(t.grad for t in ts))]

    cpu = run(np)
    with mf.using("gpu"):
        gpu = run(cp)
    for a, b_ in zip(gpu, cpu):
        close(a, b_, atol=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("rows,classes", [(1, 1), (64, 10), (512, 10), (7, 1000)])
def test_softmax_xent_gpu_equals_cpu(cp, rows, classes, smoothing):
    from mathflow.functional.losses import CrossEntropyIndex

    rng = np.random.default_rng(3)
    z = (rng.standard_normal((rows, classes)) * 4).astype(np.float32)
    index = rng.integers(0, classes, rows)
    loss, logp = NN.softmax_xent_gpu(cp.asarray(z), cp.asarray(index), smoothing, 1.0 / rows)
    op = CrossEntropyIndex(index, smoothing, 1.0 / rows)
    expected = op.forward(z)
    close(float(loss), float(expected))
    close(logp, op.logp, atol=1e-5)
    g = np.asarray(1.0, np.float32)
    grad = NN.softmax_xent_grad_gpu(cp.asarray(op.logp), cp.asarray(index), cp.asarray(g), smoothing, 1.0 / rows)
    close(grad, op.backward_raw(g))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_loss_and_gradient_on_gpu_equal_cpu(cp, smoothing):
    """``F.cross_entropy`` with class indices, through the fused kernels, against the NumPy path."""
    rng = np.random.default_rng(5)
    z = (rng.standard_normal((33, 7)) * 3).astype(np.float32)
    target = rng.integers(0, 7, 33)

    def run(xp):
        logits = mf.tensor(xp.asarray(z), requires_grad=True)
        loss = F.cross_entropy(logits, xp.asarray(target), label_smoothing=smoothing)
        loss.backward()
        assert cuda.on_gpu(logits.grad.data) == (xp is cp)
        return loss.numpy(), logits.grad.numpy()

    cpu = run(np)
    with mf.using("gpu"):
        gpu = run(cp)
    for a, b in zip(gpu, cpu):
        close(a, b)


OPTIMIZERS = [
    lambda p: SGD(p, lr=0.1),
    lambda p: SGD(p, lr=0.1, weight_decay=0.01),
    lambda p: Momentum(p, lr=0.05),
    lambda p: Momentum(p, lr=0.05, weight_decay=0.01),
    lambda p: Nesterov(p, lr=0.05),
    lambda p: Nesterov(p, lr=0.05, weight_decay=0.01),
    lambda p: Adam(p, lr=1e-2),
    lambda p: Adam(p, lr=1e-2, weight_decay=0.1),
    lambda p: Adam(p, lr=1e-2, bias_correction=False),
    lambda p: AdamW(p, lr=1e-2),
    lambda p: RMSProp(p, lr=1e-2),
    lambda p: RMSProp(p, lr=1e-2, weight_decay=0.01),
    lambda p: Adagrad(p, lr=0.1),
    lambda p: Adagrad(p, lr=0.1, weight_decay=0.01),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_optimizer_gpu_update_equals_cpu(cp, make):
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((257, 3)).astype(np.float32)
    p_cpu = mf.tensor(w0.copy(), requires_grad=True)
    opt_cpu = make([p_cpu])
    with mf.using("gpu"):
        p_gpu = mf.tensor(cp.asarray(w0), requires_grad=True)
        opt_gpu = make([p_gpu])
    for step in range(6):
        if step == 3:
            opt_cpu.lr = opt_gpu.lr = opt_cpu.lr * 0.5
        g = rng.standard_normal(w0.shape).astype(np.float32)
        p_cpu.grad, p_gpu.grad = mf.tensor(g), mf.tensor(cp.asarray(g))
        opt_cpu.step()
        opt_gpu.step()
    close(p_gpu.data, p_cpu.data)
    for a, b in zip(opt_gpu._slots[0].state, opt_cpu._slots[0].state):
        close(a, b)


def test_every_raw_kernel_compiles_on_the_device(cp):
    for kernel in cuda.registered().values():
        if not kernel.elementwise:
            for dtype in (np.float32, np.float64):
                kernel.get(dtype).compile()


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
        close(a, b_, rtol=1e-5, atol=1e-4)


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
