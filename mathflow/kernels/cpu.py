"""Convolution and pooling kernels on raw arrays, written against ``xp`` (numpy or cupy).

Layout. Arguments and results are NCHW: a batch of N images with C channels of H × W pixels.
Inside, the kernels keep images *batch-last*, as C-contiguous (C, H, W, N) buffers: every
window offset (u, v) then selects whole runs of W·N (stride 1) or N (stride > 1) contiguous
numbers, so the im2col copies, the col2im slice-adds and the pooling loops stream through
memory instead of hopping over short rows. Results are returned as NCHW *views* of those
buffers (``buffer.transpose(3, 0, 1, 2)``); a following kernel recognises the layout and reads
it without a copy, and element-wise NumPy/CuPy operations keep it.

Shapes. With kernel (kh, kw), stride (sh, sw) and zero padding (ph, pw) the output has
Ho = (H + 2ph − kh) // sh + 1 rows and Wo = (W + 2pw − kw) // sw + 1 columns. The window of
output pixel (i, j) starts at padded pixel (i·sh, j·sw); its entry at offset (u, v) is the
padded pixel (i·sh + u, j·sw + v).

Every kernel that gathers windows has an adjoint that scatters them back (im2col ↔ col2im,
max-pool gather ↔ scatter, average pool ↔ spread); the scatters are loops of strided slice
assignments or slice-adds over the kh × kw offsets, never an indexed ``add.at``.

Memory. On NumPy the first kernel call asks glibc to keep freed blocks for reuse
(:func:`keep_freed_host_memory`): without it every training step page-faults its large
temporaries back in, which on small networks costs more than the arithmetic.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from typing import Any

from mathflow.backend import array_module

Pair = tuple[int, int]

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters
_M_MMAP_THRESHOLD = -3
_allocator_tried = False


def keep_freed_host_memory() -> bool:
    """Make glibc's malloc reuse freed blocks of up to 32 MiB instead of returning them to the OS.

    A training step allocates and frees the same large temporaries (im2col matrices, activations,
    masks) every iteration. By default glibc gives such blocks back to the kernel (``munmap``, heap
    trimming), so every step pays a page fault and a zero-fill for every fresh 4 KiB page, which
    can cost as much as the arithmetic. Raising ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD``
    keeps the memory in the process for reuse (the resident size stays at its high-water mark).
    The setting is process-wide; it is applied once, the first time a NumPy convolution or pooling
    kernel runs. Set ``MATHFLOW_MALLOC_TUNING=0`` to leave the allocator alone. Returns True when
    the allocator was tuned (on Linux with glibc).
    """
    global _allocator_tried
    _allocator_tried = True
    if os.environ.get("MATHFLOW_MALLOC_TUNING", "1") == "0":
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
    except (OSError, AttributeError):  # pragma: no cover - not glibc after all
        return False


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Number of window positions along one axis: (size + 2·padding − kernel) // stride + 1."""
    return (size + 2 * padding - kernel) // stride + 1


# ----------------------------------------------------------------------------- layout
def batch_last(x: Any, padding: Pair = (0, 0), fill: float = 0.0) -> Any:
    """The NCHW array ``x`` as a C-contiguous (C, H + 2ph, W + 2pw, N) buffer, padded with ``fill``.

    No copy is made when ``x`` is already a batch-first view of such a buffer and no padding is asked.
    """
    xp = array_module(x)
    if not _allocator_tried and xp.__name__ == "numpy":
        keep_freed_host_memory()
    moved = x.transpose(1, 2, 3, 0)
    ph, pw = padding
    if ph == 0 and pw == 0:
        return xp.ascontiguousarray(moved)
    c, h, w, n = moved.shape
    out = xp.empty((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
    if ph:
        out[:, :ph] = fill
        out[:, ph + h :] = fill
    if pw:
        out[:, ph : ph + h, :pw] = fill
        out[:, ph : ph + h, pw + w :] = fill
    out[:, ph : ph + h, pw : pw + w] = moved
    return out


def batch_first(buffer: Any) -> Any:
    """The NCHW view of a batch-last (C, H, W, N) buffer (no copy)."""
    return buffer.transpose(3, 0, 1, 2)


def _unpad(buffer: Any, shape: tuple[int, ...], padding: Pair) -> Any:
    """The NCHW view of the interior of a padded batch-last buffer, for an image of ``shape``."""
    _, _, h, w = shape
    ph, pw = padding
    if ph or pw:
        buffer = buffer[:, ph : ph + h, pw : pw + w]
    return batch_first(buffer)


def _window(buffer: Any, u: int, v: int, stride: Pair, out_hw: Pair) -> Any:
    """The (C, Ho, Wo, N) view of the entries at offset (u, v) of every window of ``buffer``."""
    sh, sw = stride
    ho, wo = out_hw
    return buffer[:, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw]


def _offsets(kernel: Pair) -> list[Pair]:
    kh, kw = kernel
    return [(u, v) for u in range(kh) for v in range(kw)]


def _layout(padded_hw: Pair, kernel: Pair, stride: Pair, out_hw: Pair) -> tuple[bool, bool]:
    """(overlap, covered): do windows share pixels; does every padded pixel lie in exactly one window."""
    overlap = stride[0] < kernel[0] or stride[1] < kernel[1]
    covered = (
        not overlap
        and stride == kernel
        and out_hw[0] * stride[0] == padded_hw[0]
        and out_hw[1] * stride[1] == padded_hw[1]
    )
    return overlap, covered


def _geometry(shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> tuple[Pair, Pair]:
    """(padded (Hp, Wp), output (Ho, Wo)) of an NCHW ``shape``."""
    _, _, h, w = shape
    padded = (h + 2 * padding[0], w + 2 * padding[1])
    out = (out_size(h, kernel[0], stride[0], padding[0]), out_size(w, kernel[1], stride[1], padding[1]))
    return padded, out


# ----------------------------------------------------------------------------- im2col
def _im2col_buffer(buffer: Any, kernel: Pair, stride: Pair, out_hw: Pair) -> Any:
    xp = array_module(buffer)
    c, _, _, n = buffer.shape
    kh, kw = kernel
    ho, wo = out_hw
    if kernel == (1, 1) and stride == (1, 1):
        return buffer.reshape(c, ho * wo * n)
    cols = xp.empty((c, kh, kw, ho, wo, n), dtype=buffer.dtype)
    for u, v in _offsets(kernel):
        cols[:, u, v] = _window(buffer, u, v, stride, out_hw)
    return cols.reshape(c * kh * kw, ho * wo * n)


def im2col(x: Any, kernel: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0)) -> Any:
    """Unfold the windows of an NCHW ``x`` into a (C·kh·kw, Ho·Wo·N) matrix.

    cols[(c, u, v), (i, j, n)] = x_pad[n, c, i·sh + u, j·sw + v], so a convolution is one matrix
    product W(F, C·kh·kw) @ cols.
    """
    _, out_hw = _geometry(x.shape, kernel, stride, padding)
    return _im2col_buffer(batch_last(x, padding), kernel, stride, out_hw)


def _col2im_buffer(cols: Any, channels: int, batch: int, padded: Pair, kernel: Pair, stride: Pair, out_hw: Pair) -> Any:
    xp = array_module(cols)
    kh, kw = kernel
    ho, wo = out_hw
    if kernel == (1, 1) and stride == (1, 1):
        return cols.reshape(channels, ho, wo, batch)
    blocks = cols.reshape(channels, kh, kw, ho, wo, batch)
    overlap, covered = _layout(padded, kernel, stride, out_hw)
    make = xp.empty if covered else xp.zeros
    out = make((channels, padded[0], padded[1], batch), dtype=cols.dtype)
    for u, v in _offsets(kernel):
        target = _window(out, u, v, stride, out_hw)
        if overlap:
            target += blocks[:, u, v]
        else:
            target[...] = blocks[:, u, v]
    return out


def col2im(cols: Any, shape: tuple[int, ...], kernel: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0)) -> Any:
    """The adjoint of :func:`im2col`: add every column entry back onto the pixel it was read from.

    x[n, c, i·sh + u − ph, j·sw + v − pw] += cols[(c, u, v), (i, j, n)], as kh·kw strided slice-adds;
    entries that fall in the padding are dropped. Returns an NCHW array of ``shape``.
    """
    n, c = shape[0], shape[1]
    padded, out_hw = _geometry(shape, kernel, stride, padding)
    return _unpad(_col2im_buffer(cols, c, n, padded, kernel, stride, out_hw), shape, padding)


# ----------------------------------------------------------------------------- convolution
def gradient_rows(gy: Any) -> Any:
    """An NCHW output gradient (N, F, Ho, Wo) as the C-contiguous (F, Ho·Wo·N) matrix of im2col's order."""
    xp = array_module(gy)
    f = gy.shape[1]
    return xp.ascontiguousarray(gy.transpose(1, 2, 3, 0)).reshape(f, -1)


def conv2d_forward(
    x: Any, w: Any, b: Any | None, stride: Pair, padding: Pair, keep_cols: bool = False
) -> tuple[Any, Any | None]:
    """y = W ⋆ x + b by im2col and one matrix product; returns (y, cols if ``keep_cols``)."""
    n = x.shape[0]
    f, _, kh, kw = w.shape
    _, out_hw = _geometry(x.shape, (kh, kw), stride, padding)
    cols = _im2col_buffer(batch_last(x, padding), (kh, kw), stride, out_hw)
    y = w.reshape(f, -1) @ cols
    if b is not None:
        y += b.reshape(f, 1)
    y = batch_first(y.reshape(f, out_hw[0], out_hw[1], n))
    return y, (cols if keep_cols else None)


def conv2d_grad_weight_rows(
    x: Any, rows: Any, kernel: Pair, stride: Pair, padding: Pair, cols: Any | None = None
) -> Any:
    """∂L/∂W = gy_rows @ im2col(x)ᵀ, reshaped to (F, C, kh, kw)."""
    if cols is None:
        cols = im2col(x, kernel, stride, padding)
    return (rows @ cols.T).reshape(rows.shape[0], x.shape[1], kernel[0], kernel[1])


def conv2d_grad_input_rows(rows: Any, w: Any, shape: tuple[int, ...], stride: Pair, padding: Pair) -> Any:
    """∂L/∂x = col2im(Wᵀ @ gy_rows) for an input of NCHW ``shape``."""
    f, c, kh, kw = w.shape
    gcols = w.reshape(f, -1).T @ rows
    padded, out_hw = _geometry(shape, (kh, kw), stride, padding)
    buffer = _col2im_buffer(gcols, c, shape[0], padded, (kh, kw), stride, out_hw)
    return _unpad(buffer, shape, padding)


def conv2d_grad_weight(x: Any, gy: Any, kernel: Pair, stride: Pair, padding: Pair, cols: Any | None = None) -> Any:
    """∂L/∂W[f, c, u, v] = Σ_{n,i,j} gy[n, f, i, j] · x_pad[n, c, i·sh + u, j·sw + v]."""
    return conv2d_grad_weight_rows(x, gradient_rows(gy), kernel, stride, padding, cols)


def conv2d_grad_input(gy: Any, w: Any, shape: tuple[int, ...], stride: Pair, padding: Pair) -> Any:
    """∂L/∂x[n, c, i·sh + u − ph, j·sw + v − pw] += Σ_f gy[n, f, i, j] · W[f, c, u, v] (transposed convolution)."""
    return conv2d_grad_input_rows(gradient_rows(gy), w, shape, stride, padding)


# ----------------------------------------------------------------------------- max pooling
def max_pool2d_forward(x: Any, kernel: Pair, stride: Pair, padding: Pair, want_masks: bool = True) -> tuple[Any, Any]:
    """y = max over each window (padding is −∞); returns (y, masks), masks None unless ``want_masks``.

    ``masks`` is a boolean (kh·kw, C, Ho, Wo, N) array: masks[k] marks the windows whose first
    arg-max (in row-major window order) sits at offset k, so exactly one offset is set per window.
    """
    xp = array_module(x)
    _, out_hw = _geometry(x.shape, kernel, stride, padding)
    buffer = batch_last(x, padding, fill=float("-inf"))
    views = [_window(buffer, u, v, stride, out_hw) for u, v in _offsets(kernel)]
    best = views[0].copy()
    for view in views[1:]:
        xp.maximum(best, view, out=best)
    if not want_masks:
        return batch_first(best), None
    masks = xp.empty((len(views),) + best.shape, dtype=bool)
    if len(views) == 1:
        masks[0] = True
        return batch_first(best), masks
    xp.equal(views[0], best, out=masks[0])
    remaining = ~masks[0]
    for k in range(1, len(views) - 1):
        xp.equal(views[k], best, out=masks[k])
        masks[k] &= remaining
        remaining ^= masks[k]
    masks[-1] = remaining
    return batch_first(best), masks


def max_pool2d_scatter(gy: Any, masks: Any, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """The adjoint of gathering at the arg-max: gx[window k's arg-max] += gy (a linear scatter)."""
    xp = array_module(gy)
    padded, out_hw = _geometry(shape, kernel, stride, padding)
    grad = batch_last(gy)
    overlap, covered = _layout(padded, kernel, stride, out_hw)
    make = xp.empty if covered else xp.zeros
    out = make((shape[1], padded[0], padded[1], shape[0]), dtype=grad.dtype)
    for k, (u, v) in enumerate(_offsets(kernel)):
        target = _window(out, u, v, stride, out_hw)
        if overlap:
            target += grad * masks[k]
        else:
            xp.multiply(grad, masks[k], out=target)
    return _unpad(out, shape, padding)


def max_pool2d_gather(gx: Any, masks: Any, kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """gy[n, c, i, j] = gx at the recorded arg-max of window (i, j): the adjoint of the scatter."""
    xp = array_module(gx)
    _, out_hw = _geometry(gx.shape, kernel, stride, padding)
    buffer = batch_last(gx, padding)
    out = None
    for k, (u, v) in enumerate(_offsets(kernel)):
        picked = _window(buffer, u, v, stride, out_hw) * masks[k]
        out = picked if out is None else xp.add(out, picked, out=out)
    return batch_first(out)


# ----------------------------------------------------------------------------- average pooling
def avg_pool2d_forward(x: Any, kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """y = (1 / kh·kw) Σ over each window, padding counted as zeros."""
    _, out_hw = _geometry(x.shape, kernel, stride, padding)
    buffer = batch_last(x, padding)
    views = [_window(buffer, u, v, stride, out_hw) for u, v in _offsets(kernel)]
    total = views[0] + views[1] if len(views) > 1 else views[0].copy()
    for view in views[2:]:
        total += view
    total *= 1.0 / len(views)
    return batch_first(total)


def avg_pool2d_spread(gy: Any, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """The adjoint of average pooling: every pixel of window (i, j) receives gy[n, c, i, j] / (kh·kw)."""
    xp = array_module(gy)
    padded, out_hw = _geometry(shape, kernel, stride, padding)
    share = batch_last(gy) * (1.0 / (kernel[0] * kernel[1]))
    overlap, covered = _layout(padded, kernel, stride, out_hw)
    make = xp.empty if covered else xp.zeros
    out = make((shape[1], padded[0], padded[1], shape[0]), dtype=share.dtype)
    for u, v in _offsets(kernel):
        target = _window(out, u, v, stride, out_hw)
        if overlap:
            target += share
        else:
            target[...] = share
    return _unpad(out, shape, padding)
