"""A NumPy emulation of the CUDA kernels of :mod:`mathflow.kernels.cuda`.

Each function runs one kernel's per-thread program for *all* thread ids at once: the thread id
becomes ``np.arange(total)``, every per-thread integer becomes an array, and the index and update
formulas are the very functions of :mod:`mathflow.kernels.gather` that print the CUDA sources.
Loops a thread runs (over window offsets, over a row's columns) stay loops, in the same order,
so float sums are added in the kernel's order. Reads go through the input's raw memory and
element strides, exactly as a kernel dereferences a pointer, so strided views are emulated too.

The results are meant to be compared with the CPU kernels (:mod:`mathflow.kernels.cpu`), the
functional ops and the optimizers: agreement checks the index arithmetic without a GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from mathflow.kernels import gather as G
from mathflow.kernels.cpu import out_size

Pair = tuple[int, int]


# ----------------------------------------------------------------------------- memory access
def element_strides(a: np.ndarray) -> tuple[int, ...]:
    """Strides of ``a`` in elements (what the kernels receive)."""
    return tuple(s // a.itemsize for s in a.strides)


def _memory(a: np.ndarray) -> np.ndarray:
    """The flat memory a kernel sees through ``a``'s data pointer (non-negative strides only)."""
    if any(s < 0 for s in a.strides):
        raise ValueError("kernels take arrays with non-negative strides")
    span = 1 + sum((d - 1) * s for d, s in zip(a.shape, element_strides(a))) if a.size else 0
    return np.lib.stride_tricks.as_strided(a, shape=(span,), strides=(a.itemsize,), writeable=False)


def _load(memory: np.ndarray, offset: Any, valid: Any, fill: float = 0.0) -> np.ndarray:
    """memory[offset] where ``valid`` holds, else ``fill`` (a masked load never touches memory)."""
    safe = np.where(valid, offset, 0)
    values = memory[safe] if memory.size else np.zeros(np.shape(safe), memory.dtype)
    return np.where(valid, values, memory.dtype.type(fill))


def _threads(total: int) -> np.ndarray:
    return np.arange(total, dtype=np.int64)


# ----------------------------------------------------------------------------- im2col / col2im
def im2col(x: np.ndarray, kernel: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0)) -> np.ndarray:
    """Kernel ``im2col``: thread t writes cols[t], t = ravel(c, u, v, i, j, n), from its source pixel or 0."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    t = _threads(c * kh * kw * ho * wo * n)
    cc, u, v, i, j, nn = G.unravel(t, (c, kh, kw, ho, wo, n))
    hh = G.window_pixel(i, u, sh, ph)
    ww = G.window_pixel(j, v, sw, pw)
    valid = G.inside(hh, h) & G.inside(ww, w)
    cols = _load(_memory(x), G.offset4(nn, cc, hh, ww, element_strides(x)), valid)
    return cols.reshape(c * kh * kw, ho * wo * n)


def _pixel_gather(
    shape: tuple[int, ...],
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    dtype: Any,
    term: Callable[[Any, Any, int, int, Any, Any, Any], tuple[Any, np.ndarray]],
) -> np.ndarray:
    """A per-input-pixel gather (``col2im`` and the pooling backwards): thread t owns pixel (c, h, w, n)
    of the NCHW ``shape``; for each window offset (u, v) in row-major order, with (i, j) the window that
    would read the pixel there and ``ok`` whether it does, ``term(c, n, u, v, i, j, ok)`` returns
    (mask, value) and acc += value where mask holds. Returns an NCHW view of a batch-last buffer."""
    n, c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    t = _threads(c * h * w * n)
    cc, hh, ww, nn = G.unravel(t, (c, h, w, n))
    hp, wp = hh + ph, ww + pw
    acc = np.zeros(t.shape, dtype=dtype)
    for u in range(kh):
        i, ok_i = G.tap(hp, u, sh, ho)
        for v in range(kw):
            j, ok_j = G.tap(wp, v, sw, wo)
            mask, value = term(cc, nn, u, v, i, j, ok_i & ok_j)
            acc = np.where(mask, acc + value, acc)
    return acc.reshape(c, h, w, n).transpose(3, 0, 1, 2)


def col2im(
    cols: np.ndarray, shape: tuple[int, ...], kernel: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0)
) -> np.ndarray:
    """Kernel ``col2im`` (a gather): thread t owns pixel (c, h, w, n) and sums, over the window offsets
    (u, v) in row-major order, the column entries whose window reads it. Returns an NCHW view of a
    batch-last buffer, as the CPU kernel does."""
    n, c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    memory = _memory(np.ascontiguousarray(cols))

    def term(cc: Any, nn: Any, u: int, v: int, i: Any, j: Any, ok: Any) -> tuple[Any, np.ndarray]:
        return ok, _load(memory, G.ravel((cc, u, v, i, j, nn), (c, kh, kw, ho, wo, n)), ok)

    return _pixel_gather(shape, kernel, stride, padding, cols.dtype, term)


# ----------------------------------------------------------------------------- pooling window scan
def _window_reads(
    x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, fill: float = 0.0
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The window scan of the per-output pooling kernels: thread t owns output (c, i, j, n) of the NCHW
    ``x``; for each window offset (u, v) in row-major order yields (k = u·kw + v, ``ok`` (a real pixel),
    x[n, c, i·sh+u−ph, j·sw+v−pw] or ``fill`` in the padding), one entry per thread."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    memory, strides = _memory(x), element_strides(x)
    cc, i, j, nn = G.unravel(_threads(c * ho * wo * n), (c, ho, wo, n))
    for u in range(kh):
        hh = G.window_pixel(i, u, sh, ph)
        for v in range(kw):
            ww = G.window_pixel(j, v, sw, pw)
            ok = G.inside(hh, h) & G.inside(ww, w)
            yield G.window_offset(u, v, kw), ok, _load(memory, G.offset4(nn, cc, hh, ww, strides), ok, fill=fill)


# ----------------------------------------------------------------------------- max pooling
def max_pool_forward(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Kernel ``max_pool_forward``: thread t owns output (c, i, j, n); it scans the window in row-major
    order (padding reads −∞) keeping the first maximum. Returns (y as an NCHW view of a (C, Ho, Wo, N)
    buffer, arg-max offsets k = u·kw + v as an int32 (C, Ho, Wo, N) array)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    best = arg = None
    for k, _, val in _window_reads(x, kernel, stride, padding, fill=-np.inf):
        if best is None:
            best, arg = val, np.full(val.shape, k, dtype=np.int32)
        else:
            take = G.max_takes(val, best)
            best = np.where(take, val, best)
            arg = np.where(take, np.int32(k), arg)
    return best.reshape(c, ho, wo, n).transpose(3, 0, 1, 2), arg.reshape(c, ho, wo, n)


def max_pool_backward(
    gy: np.ndarray, argmax: np.ndarray, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair
) -> np.ndarray:
    """Kernel ``max_pool_backward`` (a gather): thread t owns input pixel (c, h, w, n) and sums gy over
    the windows that contain it and whose recorded arg-max is it, in row-major offset order."""
    n, c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    g_memory, g_strides = _memory(gy), element_strides(gy)
    a_memory = _memory(np.ascontiguousarray(argmax, dtype=np.int32))

    def term(cc: Any, nn: Any, u: int, v: int, i: Any, j: Any, ok: Any) -> tuple[Any, np.ndarray]:
        chosen = _load(a_memory, G.ravel((cc, i, j, nn), (c, ho, wo, n)), ok, fill=-1)
        hit = ok & (chosen == G.window_offset(u, v, kw))
        return hit, _load(g_memory, G.offset4(nn, cc, i, j, g_strides), hit)

    return _pixel_gather(shape, kernel, stride, padding, gy.dtype, term)


def max_pool_select(g: np.ndarray, argmax: np.ndarray, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    """Kernel ``max_pool_select``: out[c, i, j, n] = g at window (i, j)'s recorded arg-max (0 in padding)."""
    n, c, h, w = g.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    memory, strides = _memory(g), element_strides(g)
    t = _threads(c * ho * wo * n)
    cc, i, j, nn = G.unravel(t, (c, ho, wo, n))
    k = np.ascontiguousarray(argmax, dtype=np.int32).reshape(-1).astype(np.int64)
    u, v = k // kw, k % kw
    hh, ww = G.window_pixel(i, u, sh, ph), G.window_pixel(j, v, sw, pw)
    ok = G.inside(hh, h) & G.inside(ww, w)
    out = _load(memory, G.offset4(nn, cc, hh, ww, strides), ok)
    return out.reshape(c, ho, wo, n).transpose(3, 0, 1, 2)


# ----------------------------------------------------------------------------- average pooling
def avg_pool_forward(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    """Kernel ``avg_pool_forward``: thread t sums its window (row-major, padding skipped) and scales
    by inv = 1/(kh·kw) rounded to the dtype."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    inv = x.dtype.type(1.0 / (kh * kw))
    acc = np.zeros(c * ho * wo * n, dtype=x.dtype)
    for _, ok, val in _window_reads(x, kernel, stride, padding):
        acc = np.where(ok, acc + val, acc)
    return (acc * inv).reshape(c, ho, wo, n).transpose(3, 0, 1, 2)


def avg_pool_backward(gy: np.ndarray, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    """Kernel ``avg_pool_backward`` (a gather): thread t owns input pixel (c, h, w, n) and sums
    gy·inv over the windows that contain it."""
    kh, kw = kernel
    memory, strides = _memory(gy), element_strides(gy)
    inv = gy.dtype.type(1.0 / (kh * kw))

    def term(cc: Any, nn: Any, u: int, v: int, i: Any, j: Any, ok: Any) -> tuple[Any, np.ndarray]:
        return ok, _load(memory, G.offset4(nn, cc, i, j, strides), ok) * inv

    return _pixel_gather(shape, kernel, stride, padding, gy.dtype, term)


# ----------------------------------------------------------------------------- fused element-wise
def bias_relu(y: np.ndarray, b: np.ndarray, inner: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernel ``bias_relu`` on a contiguous ``y``: z = y[t] + b[(t // inner) % channels];
    returns (max(z, 0), mask z > 0) shaped like ``y``.

    Dense (N, F): inner = 1, channels = F. A batch-last conv output (F, Ho, Wo, N): inner = Ho·Wo·N.
    """
    flat = np.ascontiguousarray(y).reshape(-1)
    t = _threads(flat.size)
    z = flat + b.reshape(-1)[(t // inner) % channels]
    out, mask = G.bias_relu(z)
    return out.astype(y.dtype, copy=False).reshape(y.shape), mask.reshape(y.shape)


def relu_grad(gy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Kernel ``relu_grad``: gz = gy · mask."""
    return G.relu_grad(gy, mask)


# ----------------------------------------------------------------------------- softmax + cross-entropy
def block_reduce(values: np.ndarray, block: int, op: Any, identity: float) -> np.ndarray:
    """A one-block-per-row reduction of (N, C) ``values``, as the kernel runs it: thread k of the block
    folds columns k, k + B, k + 2B, … in order, then a shared-memory tree halves the B partials
    (partial[k] ∘= partial[k + s] for s = B/2, B/4, …, 1). Returns (N,)."""
    if block & (block - 1):
        raise ValueError(f"block size {block} is not a power of two")
    rows, cols = values.shape
    chunks = -(-cols // block) if cols else 0
    padded = np.full((rows, max(chunks, 1) * block), identity, dtype=values.dtype)
    padded[:, :cols] = values
    parts = padded.reshape(rows, max(chunks, 1), block)
    partial = np.full((rows, block), identity, dtype=values.dtype)
    for chunk in range(chunks):
        partial = op(partial, parts[:, chunk])
    s = block // 2
    while s:
        partial[:, :s] = op(partial[:, :s], partial[:, s : 2 * s])
        s //= 2
    return partial[:, 0]


def xent_params(dtype: Any, smoothing: float, classes: int, scale: float) -> dict[str, Any]:
    """The per-call scalars of the cross-entropy kernels, rounded to ``dtype`` as the launch does."""
    cast = np.dtype(dtype).type
    return {
        "one_minus_eps": cast(1.0 - smoothing),
        "eps_over_c": cast(smoothing / classes),
        "scale": cast(scale),
    }


def softmax_xent_forward(
    z: np.ndarray, index: np.ndarray, smoothing: float = 0.0, scale: float = 1.0, block: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel ``softmax_xent_forward`` (one block per row) then a sum over rows.

    Per row: m = max z, s = Σ e^(z − m), log p = (z − m) − ln s, and the row loss of
    :func:`gather.xent_row_loss`. Returns (loss · scale as a 0-d array, log p (N, C)).
    """
    z = np.ascontiguousarray(z)
    rows, classes = z.shape
    p = xent_params(z.dtype, smoothing, classes, scale)
    m = block_reduce(z, block, G.maximum, -np.inf)
    shifted = z - m[:, None]
    s = block_reduce(np.exp(shifted), block, np.add, 0.0)
    logp = shifted - np.log(s)[:, None]
    picked = logp[np.arange(rows), np.asarray(index, dtype=np.int64)]
    smoothing_on = smoothing != 0.0
    total = block_reduce(logp, block, np.add, 0.0) if smoothing_on else None
    row_loss = G.xent_row_loss(picked, total, p, smoothing_on)
    return np.asarray(row_loss.sum(dtype=z.dtype) * p["scale"], dtype=z.dtype), logp


def softmax_xent_backward(
    logp: np.ndarray, index: np.ndarray, g: Any, smoothing: float = 0.0, scale: float = 1.0
) -> np.ndarray:
    """Kernel ``softmax_xent_backward``: thread t = (r, j) writes (e^(log p) − q)·(g·s)."""
    rows, classes = logp.shape
    p = xent_params(logp.dtype, smoothing, classes, scale)
    t = _threads(rows * classes)
    r, j = G.unravel(t, (rows, classes))
    hit = j == np.asarray(index, dtype=np.int64)[r]
    e = np.exp(logp.reshape(-1))
    grad = G.xent_grad(e, hit, np.asarray(g, dtype=logp.dtype), p, smoothing != 0.0)
    return grad.astype(logp.dtype, copy=False).reshape(rows, classes)


# ----------------------------------------------------------------------------- optimizer updates
def optimizer_update(
    kind: str, w: np.ndarray, g: np.ndarray, state: tuple[np.ndarray, ...], params: dict[str, float], variant: Any
) -> tuple[np.ndarray, ...]:
    """Kernel ``<kind>_update`` on every element: returns the new (W, *state).

    ``params`` are the launch scalars (rounded to W's dtype here, as the launch does); ``variant`` is
    the rule's switch (decay on/off, or Adam's ``"l2"``/``"decoupled"``/``"none"``).
    """
    from mathflow.kernels.cuda import UPDATE_RULES  # the rule table the sources are made from

    rule = UPDATE_RULES[kind]
    cast = w.dtype.type
    p = {name: cast(params[name]) for name in rule.scalars(variant)}
    return tuple(np.asarray(a, dtype=w.dtype) for a in rule.fn(w, g, *state, p, variant))
