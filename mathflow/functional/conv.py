"""2-D convolution and pooling over NCHW batches: conv2d, max_pool2d, avg_pool2d.

The primitives form closed families under differentiation, so Hessian-vector products flow
through them:

* ``Conv2d(x, W[, b])`` has ∂L/∂x = ``Conv2dGradInput(gy, W)`` and ∂L/∂W = ``Conv2dGradWeight(x, gy)``.
  Both are bilinear, and their own derivatives are again ``Conv2d``, ``Conv2dGradInput`` and
  ``Conv2dGradWeight``.
* ``MaxPool2d(x)`` records the arg-max of every window; its backward ``MaxPoolScatter`` sends gy
  to those positions (linear in gy) and the scatter's backward is the matching ``MaxPoolGather``.
* ``AvgPool2d(x)``'s backward ``AvgPoolSpread`` shares gy evenly over each window; the spread's
  backward is average pooling again.

The raw-array work is done by :mod:`mathflow.kernels.cpu` on NumPy and by the CUDA kernels of
this module (``_Gpu``, the same functions and layouts) on CuPy arrays.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from mathflow.autodiff import mode
from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.backend import default_dtype
from mathflow.errors import ShapeError
from mathflow.functional.reduce import sum as _sum
from mathflow.kernels import cpu as K
from mathflow.kernels import cuda

Pair = tuple[int, int]


# ----------------------------------------------------------------------------- GPU path (CuPy)
# One thread per output element, 32-bit indices, deterministic (gathers, no atomics). Images are
# read through element strides (sN, sC, sH, sW), so batch-first views of batch-last buffers need no
# copy; results are batch-last (C, ·, ·, N) buffers returned as NCHW views, as kernels.cpu does.
_GEO = "int C, int H, int W, int N, int kh, int kw, int sh, int sw, int ph, int pw, int Ho, int Wo"
_LOOP = "for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < total; t += blockDim.x * gridDim.x)"
# thread t → output (c, i, j, n) of a (C, Ho, Wo, N) buffer, or pixel (c, h, w, n) of a (C, H, W, N) one
_OUT_COORDS = "int r = t; const int n = r % N; r /= N; const int j = r % Wo; r /= Wo; const int i = r % Ho; r /= Ho;"
_PIX_COORDS = "int r = t; const int n = r % N; r /= N; const int w = r % W; r /= W; const int h = r % H; r /= H;"
# windows (i, j) at offset (u, v) that read pixel (h, w): i = (h + ph − u) / sh when exact and < Ho
_TAPS = """for (int u = 0; u < kh; ++u) {
      const int di = h + ph - u;
      if (di < 0 || di % sh != 0 || di / sh >= Ho) continue;
      const int i = di / sh;
      for (int v = 0; v < kw; ++v) {
        const int dj = w + pw - v;
        if (dj < 0 || dj % sw != 0 || dj / sw >= Wo) continue;
        const int j = dj / sw;"""

_IM2COL = cuda.raw(
    "mathflow_im2col",
    f"""
extern "C" __global__ void mathflow_im2col(const T* x, T* cols, int total, {_GEO},
                                           int sN, int sC, int sH, int sW) {{
  {_LOOP} {{
    {_OUT_COORDS} const int v = r % kw; r /= kw; const int u = r % kh; const int c = r / kh;
    const int h = i * sh + u - ph, w = j * sw + v - pw;
    cols[t] = (h >= 0 && h < H && w >= 0 && w < W) ? x[n * sN + c * sC + h * sH + w * sW] : (T)0;
  }}
}}
""",
)
_COL2IM = cuda.raw(
    "mathflow_col2im",
    f"""
extern "C" __global__ void mathflow_col2im(const T* cols, T* out, int total, {_GEO}) {{
  {_LOOP} {{
    {_PIX_COORDS} const int c = r;
    T acc = 0;
    {_TAPS}
        acc += cols[((((c * kh + u) * kw + v) * Ho + i) * Wo + j) * N + n];
      }}
    }}
    out[t] = acc;
  }}
}}
""",
)
_MAX_POOL = cuda.raw(
    "mathflow_max_pool_forward",
    f"""
extern "C" __global__ void mathflow_max_pool_forward(const T* x, T* y, int* argmax, int total, {_GEO},
                                                     int sN, int sC, int sH, int sW, T neg_inf) {{
  {_LOOP} {{
    {_OUT_COORDS} const int c = r;
    T best = neg_inf;
    int arg = 0;
    for (int u = 0; u < kh; ++u) {{
      const int h = i * sh + u - ph;
      for (int v = 0; v < kw; ++v) {{
        const int w = j * sw + v - pw;
        const T val = (h >= 0 && h < H && w >= 0 && w < W) ? x[n * sN + c * sC + h * sH + w * sW] : neg_inf;
        // strictly greater: ties keep the first offset; a NaN wins once and then stays
        if ((u == 0 && v == 0) || val > best || (val != val && best == best)) {{ best = val; arg = u * kw + v; }}
      }}
    }}
    y[t] = best;
    argmax[t] = arg;
  }}
}}
""",
)
_MAX_POOL_SCATTER = cuda.raw(
    "mathflow_max_pool_scatter",
    f"""
extern "C" __global__ void mathflow_max_pool_scatter(const T* gy, const int* argmax, T* out, int total, {_GEO},
                                                     int gN, int gC, int gH, int gW) {{
  {_LOOP} {{
    {_PIX_COORDS} const int c = r;
    T acc = 0;
    {_TAPS}
        if (argmax[((c * Ho + i) * Wo + j) * N + n] == u * kw + v) acc += gy[n * gN + c * gC + i * gH + j * gW];
      }}
    }}
    out[t] = acc;
  }}
}}
""",
)
_MAX_POOL_GATHER = cuda.raw(
    "mathflow_max_pool_gather",
    f"""
extern "C" __global__ void mathflow_max_pool_gather(const T* g, const int* argmax, T* out, int total, {_GEO},
                                                    int sN, int sC, int sH, int sW) {{
  {_LOOP} {{
    {_OUT_COORDS} const int c = r;
    const int k = argmax[t];
    const int h = i * sh + k / kw - ph, w = j * sw + k % kw - pw;
    out[t] = (h >= 0 && h < H && w >= 0 && w < W) ? g[n * sN + c * sC + h * sH + w * sW] : (T)0;
  }}
}}
""",
)
_AVG_POOL = cuda.raw(
    "mathflow_avg_pool_forward",
    f"""
extern "C" __global__ void mathflow_avg_pool_forward(const T* x, T* y, int total, {_GEO},
                                                     int sN, int sC, int sH, int sW, T inv) {{
  {_LOOP} {{
    {_OUT_COORDS} const int c = r;
    T acc = 0;
    for (int u = 0; u < kh; ++u) {{
      const int h = i * sh + u - ph;
      for (int v = 0; v < kw; ++v) {{
        const int w = j * sw + v - pw;
        if (h >= 0 && h < H && w >= 0 && w < W) acc += x[n * sN + c * sC + h * sH + w * sW];
      }}
    }}
    y[t] = acc * inv;
  }}
}}
""",
)
_AVG_POOL_SPREAD = cuda.raw(
    "mathflow_avg_pool_spread",
    f"""
extern "C" __global__ void mathflow_avg_pool_spread(const T* gy, T* out, int total, {_GEO},
                                                    int gN, int gC, int gH, int gW, T inv) {{
  {_LOOP} {{
    {_PIX_COORDS} const int c = r;
    T acc = 0;
    {_TAPS}
        acc += gy[n * gN + c * gC + i * gH + j * gW] * inv;
      }}
    }}
    out[t] = acc;
  }}
}}
""",
)


def _geo(shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> tuple[Any, ...]:
    n, c, h, w = shape
    ho, wo = K.out_size(h, kernel[0], stride[0], padding[0]), K.out_size(w, kernel[1], stride[1], padding[1])
    return cuda.ints(c, h, w, n, *kernel, *stride, *padding, ho, wo)


def _empty(like: Any, shape: tuple[int, ...], dtype: Any = None) -> Any:
    import cupy  # noqa: PLC0415 - deliberately lazy

    return cupy.empty(shape, dtype=like.dtype if dtype is None else dtype)


def _im2col_gpu(x: Any, kernel: Pair, stride: Pair, padding: Pair) -> Any:
    geo = _geo(x.shape, kernel, stride, padding)
    c, n, ho, wo = int(geo[0]), int(geo[3]), int(geo[10]), int(geo[11])
    cols = _empty(x, (c * kernel[0] * kernel[1], ho * wo * n))
    _IM2COL.launch(cols.size, (x, cols, np.int32(cols.size), *geo, *cuda.strides(x)), x.dtype)
    return cols


def _col2im_gpu(cols: Any, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> Any:
    n, c, h, w = shape
    cols = cols if cols.flags.c_contiguous else cols.copy()
    out = _empty(cols, (c, h, w, n))
    _COL2IM.launch(out.size, (cols, out, np.int32(out.size), *_geo(shape, kernel, stride, padding)), cols.dtype)
    return K.batch_first(out)


class _Gpu:
    """The functions of :mod:`mathflow.kernels.cpu` used above, for CuPy arrays, on the kernels of
    this module. Same shapes and layouts, except that max pooling records int32 arg-max offsets
    k = u·kw + v, shaped (C, Ho, Wo, N), where the CPU keeps boolean masks."""

    @staticmethod
    def conv2d_forward(x: Any, w: Any, b: Any, stride: Pair, padding: Pair, keep_cols: bool = False) -> Any:
        f, _, kh, kw = w.shape
        cols = _im2col_gpu(x, (kh, kw), stride, padding)
        y = w.reshape(f, -1) @ cols
        if b is not None:
            y += b.reshape(f, 1)
        _, _, ho, wo = _geo(x.shape, (kh, kw), stride, padding)[8:]
        return K.batch_first(y.reshape(f, int(ho), int(wo), x.shape[0])), (cols if keep_cols else None)

    @staticmethod
    def conv2d_grad_weight_rows(x: Any, rows: Any, kernel: Pair, stride: Pair, padding: Pair, cols: Any = None) -> Any:
        if cols is None:
            cols = _im2col_gpu(x, kernel, stride, padding)
        return (rows @ cols.T).reshape(rows.shape[0], x.shape[1], kernel[0], kernel[1])

    @staticmethod
    def conv2d_grad_input_rows(rows: Any, w: Any, shape: tuple[int, ...], stride: Pair, padding: Pair) -> Any:
        f, _, kh, kw = w.shape
        return _col2im_gpu(w.reshape(f, -1).T @ rows, shape, (kh, kw), stride, padding)

    @staticmethod
    def conv2d_grad_weight(x: Any, gy: Any, kernel: Pair, stride: Pair, padding: Pair, cols: Any = None) -> Any:
        return _Gpu.conv2d_grad_weight_rows(x, K.gradient_rows(gy), kernel, stride, padding, cols)

    @staticmethod
    def conv2d_grad_input(gy: Any, w: Any, shape: tuple[int, ...], stride: Pair, padding: Pair) -> Any:
        return _Gpu.conv2d_grad_input_rows(K.gradient_rows(gy), w, shape, stride, padding)

    @staticmethod
    def max_pool2d_forward(x: Any, kernel: Pair, stride: Pair, padding: Pair, want_masks: bool = True) -> Any:
        geo = _geo(x.shape, kernel, stride, padding)
        out = (int(geo[0]), int(geo[10]), int(geo[11]), int(geo[3]))
        y, arg = _empty(x, out), _empty(x, out, np.int32)
        args = (x, y, arg, np.int32(y.size), *geo, *cuda.strides(x), x.dtype.type(-np.inf))
        _MAX_POOL.launch(y.size, args, x.dtype)
        return K.batch_first(y), (arg if want_masks else None)

    @staticmethod
    def max_pool2d_scatter(gy: Any, arg: Any, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> Any:
        n, c, h, w = shape
        out = _empty(gy, (c, h, w, n))
        args = (gy, arg, out, np.int32(out.size), *_geo(shape, kernel, stride, padding), *cuda.strides(gy))
        _MAX_POOL_SCATTER.launch(out.size, args, gy.dtype)
        return K.batch_first(out)

    @staticmethod
    def max_pool2d_gather(g: Any, arg: Any, kernel: Pair, stride: Pair, padding: Pair) -> Any:
        out = _empty(g, arg.shape)
        args = (g, arg, out, np.int32(out.size), *_geo(g.shape, kernel, stride, padding), *cuda.strides(g))
        _MAX_POOL_GATHER.launch(out.size, args, g.dtype)
        return K.batch_first(out)

    @staticmethod
    def avg_pool2d_forward(x: Any, kernel: Pair, stride: Pair, padding: Pair) -> Any:
        geo = _geo(x.shape, kernel, stride, padding)
        y = _empty(x, (int(geo[0]), int(geo[10]), int(geo[11]), int(geo[3])))
        inv = x.dtype.type(1.0 / (kernel[0] * kernel[1]))
        _AVG_POOL.launch(y.size, (x, y, np.int32(y.size), *geo, *cuda.strides(x), inv), x.dtype)
        return K.batch_first(y)

    @staticmethod
    def avg_pool2d_spread(gy: Any, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> Any:
        n, c, h, w = shape
        out = _empty(gy, (c, h, w, n))
        inv = gy.dtype.type(1.0 / (kernel[0] * kernel[1]))
        args = (gy, out, np.int32(out.size), *_geo(shape, kernel, stride, padding), *cuda.strides(gy), inv)
        _AVG_POOL_SPREAD.launch(out.size, args, gy.dtype)
        return K.batch_first(out)


def _k(a: Any) -> Any:
    """The kernels for array ``a``: this module's CUDA path for CuPy arrays, kernels.cpu otherwise."""
    return _Gpu if cuda.on_gpu(a) else K


# ----------------------------------------------------------------------------- convolution
class Conv2d(Function):
    """y[n,f,i,j] = Σ_c Σ_u Σ_v x_pad[n,c,i·sh+u,j·sw+v] · W[f,c,u,v] (+ b[f]).

    ∂L/∂x = Conv2dGradInput(∂L/∂y, W) (the transposed convolution), ∂L/∂W = Conv2dGradWeight(x, ∂L/∂y),
    ∂L/∂b[f] = Σ_{n,i,j} ∂L/∂y[n,f,i,j].
    """

    def infer(self, builder: Any, x: str, w: str, b: str | None = None) -> str:
        """``Conv`` with the same strides and zero padding (top, left, bottom, right)."""
        (sh, sw), (ph, pw) = self.stride, self.padding
        inputs = (x, w) if b is None else (x, w, b)
        return builder.op("Conv", *inputs, strides=[sh, sw], pads=[ph, pw, ph, pw])

    has_raw_backward = True

    def __init__(self, stride: Pair, padding: Pair, keep_cols: bool = False):
        self.stride = stride
        self.padding = padding
        self.keep_cols = keep_cols

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        self.x_shape = tuple(x.shape)
        self.kernel = (w.shape[2], w.shape[3])
        y, self.cols = _k(x).conv2d_forward(x, w, b, self.stride, self.padding, self.keep_cols)
        return y

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x, w = self.inputs[0], self.inputs[1]
        gx = Conv2dGradInput(self.stride, self.padding, self.x_shape)(gy, w) if self.needs_input_grad[0] else None
        gw = None
        if self.needs_input_grad[1]:
            gw = Conv2dGradWeight(self.stride, self.padding, self.kernel, self.cols)(x, gy)
        if len(self.inputs) == 2:
            return gx, gw
        gb = _sum(gy, axis=(0, 2, 3)) if self.needs_input_grad[2] else None
        return gx, gw, gb

    def backward_raw(self, gy: Any) -> tuple[Any, ...]:
        x, w = self.inputs[0].data, self.inputs[1].data
        rows = K.gradient_rows(gy)
        need = self.needs_input_grad
        k = _k(rows)
        gx = k.conv2d_grad_input_rows(rows, w, self.x_shape, self.stride, self.padding) if need[0] else None
        gw = k.conv2d_grad_weight_rows(x, rows, self.kernel, self.stride, self.padding, self.cols) if need[1] else None
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, (rows.sum(axis=1) if need[2] else None)


class Conv2dGradInput(Function):
    """gx = Conv2dGradInput(gy, W): gx[n,c,i·sh+u−ph,j·sw+v−pw] += Σ_f gy[n,f,i,j] · W[f,c,u,v].

    The adjoint of x ↦ Conv2d(x, W): ⟨Conv2d(x, W), gy⟩ = ⟨x, gx⟩. Bilinear, so for an upstream
    gradient g (shaped like x): ∂/∂gy = Conv2d(g, W), ∂/∂W = Conv2dGradWeight(g, gy).
    """

    has_raw_backward = True

    def __init__(self, stride: Pair, padding: Pair, x_shape: tuple[int, ...]):
        self.stride = stride
        self.padding = padding
        self.x_shape = x_shape

    def forward(self, gy: Any, w: Any) -> Any:
        self.kernel = (w.shape[2], w.shape[3])
        return _k(gy).conv2d_grad_input(gy, w, self.x_shape, self.stride, self.padding)

    def backward(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        gy, w = self.inputs
        d_gy = Conv2d(self.stride, self.padding)(g, w) if self.needs_input_grad[0] else None
        d_w = Conv2dGradWeight(self.stride, self.padding, self.kernel)(g, gy) if self.needs_input_grad[1] else None
        return d_gy, d_w

    def backward_raw(self, g: Any) -> tuple[Any, Any]:
        gy, w = self.inputs[0].data, self.inputs[1].data
        k, need = _k(g), self.needs_input_grad
        d_gy = k.conv2d_forward(g, w, None, self.stride, self.padding)[0] if need[0] else None
        d_w = k.conv2d_grad_weight(g, gy, self.kernel, self.stride, self.padding) if need[1] else None
        return d_gy, d_w


class Conv2dGradWeight(Function):
    """gw = Conv2dGradWeight(x, gy): gw[f,c,u,v] = Σ_{n,i,j} gy[n,f,i,j] · x_pad[n,c,i·sh+u,j·sw+v].

    The adjoint of W ↦ Conv2d(x, W): ⟨Conv2d(x, W), gy⟩ = ⟨W, gw⟩. Bilinear, so for an upstream
    gradient g (shaped like W): ∂/∂x = Conv2dGradInput(gy, g), ∂/∂gy = Conv2d(x, g).
    """

    has_raw_backward = True

    def __init__(self, stride: Pair, padding: Pair, kernel: Pair, cols: Any = None):
        self.stride = stride
        self.padding = padding
        self.kernel = kernel
        self.cols = cols

    def forward(self, x: Any, gy: Any) -> Any:
        self.x_shape = tuple(x.shape)
        gw = _k(x).conv2d_grad_weight(x, gy, self.kernel, self.stride, self.padding, self.cols)
        self.cols = None
        return gw

    def backward(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, gy = self.inputs
        d_x = Conv2dGradInput(self.stride, self.padding, self.x_shape)(gy, g) if self.needs_input_grad[0] else None
        d_gy = Conv2d(self.stride, self.padding)(x, g) if self.needs_input_grad[1] else None
        return d_x, d_gy

    def backward_raw(self, g: Any) -> tuple[Any, Any]:
        x, gy = self.inputs[0].data, self.inputs[1].data
        need = self.needs_input_grad
        d_x = _k(gy).conv2d_grad_input(gy, g, self.x_shape, self.stride, self.padding) if need[0] else None
        d_gy = _k(x).conv2d_forward(x, g, None, self.stride, self.padding)[0] if need[1] else None
        return d_x, d_gy


# ----------------------------------------------------------------------------- max pooling
class MaxPool2d(Function):
    """y[n,c,i,j] = max_{u,v} x_pad[n,c,i·sh+u,j·sw+v] (padding is −∞).

    ∂L/∂x = MaxPoolScatter(∂L/∂y): each window's gradient goes to its arg-max; on ties, to the
    first arg-max in row-major window order (one position only, never split).
    """

    def infer(self, builder: Any, x: str) -> str:
        """``MaxPool`` over the same windows (−∞ padding)."""
        (ph, pw) = self.padding
        pads = [ph, pw, ph, pw] if ph or pw else None
        return builder.op("MaxPool", x, kernel_shape=list(self.kernel), strides=list(self.stride), pads=pads)

    has_raw_backward = True

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair, record: bool = True):
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.record = record

    def forward(self, x: Any) -> Any:
        self.x_shape = tuple(x.shape)
        y, self.masks = _k(x).max_pool2d_forward(x, self.kernel, self.stride, self.padding, self.record)
        return y

    def backward(self, gy: Tensor) -> Tensor:
        return MaxPoolScatter(self.kernel, self.stride, self.padding, self.x_shape, self.masks)(gy)

    def backward_raw(self, gy: Any) -> Any:
        return _k(gy).max_pool2d_scatter(gy, self.masks, self.x_shape, self.kernel, self.stride, self.padding)


class _MaxPoolAdjoint(Function):
    """Shared state of the two linear maps tied to a max-pool's recorded arg-maxes."""

    has_raw_backward = True

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair, x_shape: tuple[int, ...], masks: Any):
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.x_shape = x_shape
        self.masks = masks


class MaxPoolScatter(_MaxPoolAdjoint):
    """gx = zeros(x.shape) with gx[n,c,arg-max of window (i,j)] += gy[n,c,i,j]; linear in gy.

    Its backward is the gather ∂L/∂gy[n,c,i,j] = g[n,c,arg-max of window (i,j)].
    """

    def forward(self, gy: Any) -> Any:
        return _k(gy).max_pool2d_scatter(gy, self.masks, self.x_shape, self.kernel, self.stride, self.padding)

    def backward(self, g: Tensor) -> Tensor:
        return MaxPoolGather(self.kernel, self.stride, self.padding, self.x_shape, self.masks)(g)

    def backward_raw(self, g: Any) -> Any:
        return _k(g).max_pool2d_gather(g, self.masks, self.kernel, self.stride, self.padding)


class MaxPoolGather(_MaxPoolAdjoint):
    """y[n,c,i,j] = g[n,c,arg-max of window (i,j)], at the arg-maxes recorded by a MaxPool2d.

    Linear in g; its backward is MaxPoolScatter.
    """

    def forward(self, g: Any) -> Any:
        return _k(g).max_pool2d_gather(g, self.masks, self.kernel, self.stride, self.padding)

    def backward(self, gy: Tensor) -> Tensor:
        return MaxPoolScatter(self.kernel, self.stride, self.padding, self.x_shape, self.masks)(gy)

    def backward_raw(self, gy: Any) -> Any:
        return _k(gy).max_pool2d_scatter(gy, self.masks, self.x_shape, self.kernel, self.stride, self.padding)


# ----------------------------------------------------------------------------- average pooling
class AvgPool2d(Function):
    """y[n,c,i,j] = (1 / kh·kw) Σ_{u,v} x_pad[n,c,i·sh+u,j·sw+v] (zero padding counted).

    ∂L/∂x = AvgPoolSpread(∂L/∂y): each window shares its gradient equally among its pixels.
    """

    def infer(self, builder: Any, x: str) -> str:
        """``AveragePool`` over the same windows (the op has no padding: a padded pool has no single op)."""
        if any(self.padding):
            return super().infer(builder, x)
        return builder.op("AveragePool", x, kernel_shape=list(self.kernel), strides=list(self.stride))

    has_raw_backward = True

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair):
        self.kernel = kernel
        self.stride = stride
        self.padding = padding

    def forward(self, x: Any) -> Any:
        self.x_shape = tuple(x.shape)
        return _k(x).avg_pool2d_forward(x, self.kernel, self.stride, self.padding)

    def backward(self, gy: Tensor) -> Tensor:
        return AvgPoolSpread(self.kernel, self.stride, self.padding, self.x_shape)(gy)

    def backward_raw(self, gy: Any) -> Any:
        return _k(gy).avg_pool2d_spread(gy, self.x_shape, self.kernel, self.stride, self.padding)


class AvgPoolSpread(Function):
    """gx[n,c,i·sh+u−ph,j·sw+v−pw] += gy[n,c,i,j] / (kh·kw): the adjoint of average pooling.

    Linear in gy; its backward is average pooling of the upstream gradient.
    """

    has_raw_backward = True

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair, x_shape: tuple[int, ...]):
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.x_shape = x_shape

    def forward(self, gy: Any) -> Any:
        return _k(gy).avg_pool2d_spread(gy, self.x_shape, self.kernel, self.stride, self.padding)

    def backward(self, g: Tensor) -> Tensor:
        return AvgPool2d(self.kernel, self.stride, self.padding)(g)

    def backward_raw(self, g: Any) -> Any:
        return _k(g).avg_pool2d_forward(g, self.kernel, self.stride, self.padding)


# ----------------------------------------------------------------------------- argument checks
def _pair(op: str, name: str, value: Any) -> Pair:
    """An int or an (h, w) pair of ints as a pair."""
    items = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    try:
        if len(items) != 2 or any(isinstance(v, bool) for v in items):
            raise TypeError
        return (operator.index(items[0]), operator.index(items[1]))
    except TypeError:
        raise ShapeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None


def _as_float(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor; integer or boolean data becomes the default float dtype."""
    t = as_tensor(value) if like is None else as_tensor(value, like=like)
    if t.dtype.kind != "f":
        t = Tensor._wrap(t.data.astype(default_dtype()))
    return t


def _check_input(op: str, x: Tensor) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}")


def _check_geometry(op: str, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> None:
    if stride[0] <= 0 or stride[1] <= 0:
        raise ShapeError(f"{op}: stride must be positive, got {stride}")
    if padding[0] < 0 or padding[1] < 0:
        raise ShapeError(f"{op}: padding must be non-negative, got {padding}")
    hp, wp = shape[2] + 2 * padding[0], shape[3] + 2 * padding[1]
    if kernel[0] > hp or kernel[1] > wp:
        raise ShapeError(
            f"{op}: kernel {kernel[0]}×{kernel[1]} is larger than the padded input {hp}×{wp} "
            f"(input {shape}, padding {padding})"
        )


def _pool_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> tuple[Pair, Pair, Pair]:
    _check_input(op, x)
    kernel = _pair(op, "kernel_size", kernel_size)
    if kernel[0] <= 0 or kernel[1] <= 0:
        raise ShapeError(f"{op}: kernel_size must be positive, got {kernel}")
    step = kernel if stride is None else _pair(op, "stride", stride)
    pad = _pair(op, "padding", padding)
    _check_geometry(op, x.shape, kernel, step, pad)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ShapeError(f"{op}: padding {pad} must be at most half the kernel size {kernel}")
    return kernel, step, pad


# ----------------------------------------------------------------------------- public API
def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0) -> Tensor:
    """2-D cross-correlation of an NCHW batch with a bank of filters, as in deep-learning libraries.

    x (N, C, H, W), weight (F, C, kh, kw), bias (F,) or None; ``stride`` and ``padding`` (zero
    padding on both sides) are ints or (h, w) pairs. The output is (N, F, Ho, Wo) with
    Ho = (H + 2ph − kh) // sh + 1, Wo = (W + 2pw − kw) // sw + 1 and

        y[n,f,i,j] = Σ_c Σ_u Σ_v x_pad[n,c,i·sh+u, j·sw+v] · w[f,c,u,v] + b[f].

    The kernel is not flipped: a true (mathematical) convolution flips it, so it equals this
    function applied to ``weight[:, :, ::-1, ::-1]``. Differentiable to any order in x, weight
    and bias.
    """
    x = _as_float(x)
    w = _as_float(weight, like=x)
    _check_input("conv2d", x)
    if w.ndim != 4:
        raise ShapeError(f"conv2d: weight must be 4-D (F, C, kh, kw), got shape {w.shape}")
    if w.shape[2] == 0 or w.shape[3] == 0:
        raise ShapeError(f"conv2d: weight {w.shape} has an empty kernel")
    if x.shape[1] != w.shape[1]:
        raise ShapeError(
            f"conv2d: input has {x.shape[1]} channels, weight expects {w.shape[1]} (input {x.shape}, weight {w.shape})"
        )
    step = _pair("conv2d", "stride", stride)
    pad = _pair("conv2d", "padding", padding)
    _check_geometry("conv2d", x.shape, (w.shape[2], w.shape[3]), step, pad)
    inputs = [x, w]
    if bias is not None:
        b = _as_float(bias, like=x)
        if b.shape != (w.shape[0],):
            raise ShapeError(f"conv2d: bias must have shape ({w.shape[0]},) for weight {w.shape}, got {b.shape}")
        inputs.append(b)
    keep_cols = w.requires_grad and mode.is_grad_enabled()
    return Conv2d(step, pad, keep_cols)(*inputs)


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Maximum over kh × kw windows of an NCHW batch: y[n,c,i,j] = max_{u,v} x_pad[n,c,i·sh+u, j·sw+v].

    ``stride`` defaults to ``kernel_size``; ``padding`` pads with −∞ (at most half the kernel).
    The gradient of each window goes to one arg-max: on ties, the first in row-major window
    order receives all of it. Output (N, C, Ho, Wo) with Ho = (H + 2ph − kh) // sh + 1.
    """
    x = _as_float(x)
    kernel, step, pad = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d(kernel, step, pad, x.requires_grad and mode.is_grad_enabled())(x)


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Mean over kh × kw windows of an NCHW batch: y[n,c,i,j] = (1 / kh·kw) Σ_{u,v} x_pad[n,c,i·sh+u, j·sw+v].

    ``stride`` defaults to ``kernel_size``; ``padding`` pads with zeros, which count in the mean
    (PyTorch's default ``count_include_pad=True``). ∂L/∂x spreads ∂L/∂y / (kh·kw) over each window.
    """
    x = _as_float(x)
    kernel, step, pad = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d(kernel, step, pad)(x)
