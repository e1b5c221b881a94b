"""Neural-network primitives: activations, softmax and log-sum-exp, dropout, fused affine maps.

Each op computes its forward on raw arrays in a numerically stable form and has a
differentiable ``backward`` (so second derivatives work); the ones on the training hot path
also have a ``backward_raw`` on raw arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.backend import array_module, get_backend
from mathflow.errors import MathflowError, ShapeError
from mathflow.functional._util import kept_shape, normalize_axes
from mathflow.functional.arithmetic import exp, minimum, where
from mathflow.functional.products import matmul
from mathflow.functional.reduce import sum as _sum
from mathflow.functional.shape import reshape, transpose
from mathflow.kernels import cuda

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


# ------------------------------------------------------------------------- helpers
def _raw_sigmoid(x: Any) -> Any:
    """σ(x) on a raw array without overflow: e = e^(−|x|) ≤ 1, σ = 1/(1+e) or e/(1+e)."""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    d = 1.0 / (1.0 + e)
    return xp.where(x >= 0, d, e * d)


def _check_axes(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    items = (axis,) if isinstance(axis, int) else (() if axis is None else tuple(axis))
    bound = max(ndim, 1)
    for a in items:
        if not isinstance(a, (int, np.integer)) or not -bound <= a < bound:
            raise ShapeError(f"{op}: axis {axis!r} is out of range for a tensor with {ndim} dimensions")
    return normalize_axes(axis, ndim)


def _mask_tensor(mask: Any) -> Tensor:
    return Tensor._wrap(mask)


# ------------------------------------------------------------------------- activations
class ReLU(Function):
    """y = max(0, x); ∂L/∂x = ∂L/∂y ⊙ [y > 0] (0 at the kink)."""

    inference_op = "Relu"

    has_raw_backward = True

    def forward(self, x: Any) -> Any:
        y = array_module(x).maximum(x, 0)
        self.mask = y > 0
        return y

    def backward(self, gy: Tensor) -> Tensor:
        return gy * _mask_tensor(self.mask)

    def backward_raw(self, gy: Any) -> Any:
        return gy * self.mask


class LeakyReLU(Function):
    """y = x for x > 0, a·x otherwise; ∂L/∂x = ∂L/∂y ⊙ (1 or a)."""

    inference_op = "LeakyRelu"

    def inference_attrs(self) -> dict[str, Any]:
        return {"alpha": self.slope}

    has_raw_backward = True

    def __init__(self, slope: float):
        self.slope = slope

    def forward(self, x: Any) -> Any:
        self.mask = x > 0
        return array_module(x).where(self.mask, x, x * self.slope)

    def backward(self, gy: Tensor) -> Tensor:
        return where(self.mask, gy, gy * self.slope)

    def backward_raw(self, gy: Any) -> Any:
        return array_module(gy).where(self.mask, gy, gy * self.slope)


class Sigmoid(Function):
    """y = σ(x) = 1/(1 + e^(−x)), evaluated without overflow; ∂L/∂x = ∂L/∂y ⊙ y(1 − y)."""

    inference_op = "Sigmoid"

    has_raw_backward = True

    def forward(self, x: Any) -> Any:
        self.y = _raw_sigmoid(x)
        return self.y

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output()
        return gy * y * (1.0 - y)

    def backward_raw(self, gy: Any) -> Any:
        y = self.y
        return gy * y * (1.0 - y)


class Tanh(Function):
    """y = tanh x = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ); ∂L/∂x = ∂L/∂y ⊙ (1 − y²)."""

    inference_op = "Tanh"

    has_raw_backward = True

    def forward(self, x: Any) -> Any:
        self.y = array_module(x).tanh(x)
        return self.y

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output()
        return gy * (1.0 - y * y)

    def backward_raw(self, gy: Any) -> Any:
        y = self.y
        return gy * (1.0 - y * y)


class GELU(Function):
    """y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³) (the tanh approximation);
    ∂L/∂x = ∂L/∂y ⊙ [½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)], t = tanh u."""

    def infer(self, builder: Any, x: str) -> str:
        """½x + ½x·tanh(√(2/π)(x + 0.044715x³)) in elementary ops."""
        cube = builder.op("Mul", builder.op("Mul", x, x), x)
        inner = builder.op("Add", x, builder.op("Mul", cube, builder.scalar(_GELU_K)))
        gate = builder.op("Tanh", builder.op("Mul", inner, builder.scalar(_GELU_C)))
        half_x = builder.op("Mul", x, builder.scalar(0.5))
        return builder.op("Add", half_x, builder.op("Mul", half_x, gate))

    has_raw_backward = True

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        self.t = xp.tanh(_GELU_C * (x + _GELU_K * x * x * x))
        return 0.5 * x * (1.0 + self.t)

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        t = tanh((x + x * x * x * _GELU_K) * _GELU_C)
        slope = (1.0 + t) * 0.5 + x * (1.0 - t * t) * (1.0 + x * x * (3.0 * _GELU_K)) * (0.5 * _GELU_C)
        return gy * slope

    def backward_raw(self, gy: Any) -> Any:
        x, t = self.inputs[0].data, self.t
        slope = 0.5 * (1.0 + t) + (0.5 * _GELU_C) * x * (1.0 - t * t) * (1.0 + (3.0 * _GELU_K) * x * x)
        return gy * slope


class ELU(Function):
    """y = x for x > 0, α(eˣ − 1) otherwise; ∂L/∂x = ∂L/∂y ⊙ (1 or α eˣ)."""

    inference_op = "Elu"

    def inference_attrs(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    has_raw_backward = True

    def __init__(self, alpha: float):
        self.alpha = alpha

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        self.mask = x > 0
        self.em1 = xp.expm1(xp.minimum(x, 0))  # e^min(x, 0) − 1 ∈ (−1, 0]: no overflow
        return xp.where(self.mask, x, self.alpha * self.em1)

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        return where(self.mask, gy, gy * exp(minimum(x, 0.0)) * self.alpha)

    def backward_raw(self, gy: Any) -> Any:
        return array_module(gy).where(self.mask, gy, gy * (self.alpha * (self.em1 + 1.0)))


class Softplus(Function):
    """y = ln(1 + eˣ) = max(x, 0) + ln(1 + e^(−|x|)) (stable); ∂L/∂x = ∂L/∂y ⊙ σ(x)."""

    inference_op = "Softplus"

    has_raw_backward = True

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy: Tensor) -> Tensor:
        return gy * sigmoid(self.inputs[0])

    def backward_raw(self, gy: Any) -> Any:
        return gy * _raw_sigmoid(self.inputs[0].data)


# ------------------------------------------------------------------------- softmax family
class Softmax(Function):
    """yᵢ = e^(xᵢ − m) / Σⱼ e^(xⱼ − m), m = max x (over ``axes``); ∂L/∂x = y ⊙ (g − Σ g ⊙ y)."""

    def infer(self, builder: Any, x: str) -> str:
        """``Softmax`` along the one axis it normalises (several axes have no single op)."""
        if len(self.axes) != 1:
            return super().infer(builder, x)
        return builder.op("Softmax", x, axis=self.axes[0])

    has_raw_backward = True

    def __init__(self, axes: tuple[int, ...]):
        self.axes = axes

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        e = xp.exp(x - x.max(axis=self.axes, keepdims=True))
        e /= e.sum(axis=self.axes, keepdims=True)
        self.y = e
        return e

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output()
        return y * (gy - _sum(gy * y, self.axes, keepdims=True))

    def backward_raw(self, gy: Any) -> Any:
        y = self.y
        return y * (gy - (gy * y).sum(axis=self.axes, keepdims=True))


class LogSoftmax(Function):
    """y = x − logsumexp(x) (over ``axes``); ∂L/∂x = g − softmax(x) ⊙ Σ g."""

    def infer(self, builder: Any, x: str) -> str:
        """``LogSoftmax`` along the one axis it normalises (several axes have no single op)."""
        if len(self.axes) != 1:
            return super().infer(builder, x)
        return builder.op("LogSoftmax", x, axis=self.axes[0])

    has_raw_backward = True

    def __init__(self, axes: tuple[int, ...]):
        self.axes = axes

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        shifted = x - x.max(axis=self.axes, keepdims=True)
        shifted -= xp.log(xp.exp(shifted).sum(axis=self.axes, keepdims=True))
        self.y = shifted
        return shifted

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output()
        return gy - exp(y) * _sum(gy, self.axes, keepdims=True)

    def backward_raw(self, gy: Any) -> Any:
        xp = array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axes, keepdims=True)


class LogSumExp(Function):
    """y = m + ln Σ e^(x − m), m = max x (over ``axes``); ∂L/∂x = ∂L/∂y ⊙ e^(x − y) = ∂L/∂y ⊙ softmax(x)."""

    has_raw_backward = True

    def __init__(self, axes: tuple[int, ...], keepdims: bool):
        self.axes = axes
        self.keepdims = keepdims

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        self.in_shape = tuple(x.shape)
        self.kept = kept_shape(self.in_shape, self.axes)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # rows of −∞ give −∞, not NaN
        with np.errstate(divide="ignore"):  # ln 0 = −∞ is the right answer for an all −∞ slice
            r = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        self.r = r
        return r if self.keepdims else r.reshape([n for i, n in enumerate(self.in_shape) if i not in self.axes])

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        y = self.output()
        return reshape(gy, self.kept) * exp(x - reshape(y, self.kept))

    def backward_raw(self, gy: Any) -> Any:
        xp = array_module(gy)
        return gy.reshape(self.kept) * xp.exp(self.inputs[0].data - self.r)


# ------------------------------------------------------------------------- dropout
class Dropout(Function):
    """y = x ⊙ m with a constant mask m ∈ {0, 1/(1−p)}; ∂L/∂x = ∂L/∂y ⊙ m."""

    has_raw_backward = True

    def __init__(self, mask: Any):
        self.mask = mask

    def forward(self, x: Any) -> Any:
        return x * self.mask

    def backward(self, gy: Tensor) -> Tensor:
        return gy * _mask_tensor(self.mask)

    def backward_raw(self, gy: Any) -> Any:
        return gy * self.mask


# ------------------------------------------------------------------------- affine maps
class Linear(Function):
    """y = x W + b for x (N, in), W (in, out), b (out,);
    ∂L/∂x = g Wᵀ, ∂L/∂W = xᵀ g, ∂L/∂b = Σ_rows g."""

    def infer(self, builder: Any, x: str, w: str, b: str | None = None) -> str:
        """x W (+ b) as ``MatMul`` and ``Add``."""
        y = builder.op("MatMul", x, w)
        return y if b is None else builder.op("Add", y, b)

    has_raw_backward = True

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        y = x @ w
        if b is not None:
            y += b
        return y

    def _grads_raw(self, gz: Any) -> tuple[Any, ...]:
        inputs, need = self.inputs, self.needs_input_grad
        gx = gz @ inputs[1].data.T if need[0] else None
        gw = inputs[0].data.T @ gz if need[1] else None
        if len(inputs) == 2:
            return gx, gw
        gb = gz.sum(axis=0).reshape(inputs[2].data.shape) if need[2] else None
        return gx, gw, gb

    def _grads(self, gz: Tensor) -> tuple[Tensor | None, ...]:
        inputs, need = self.inputs, self.needs_input_grad
        gx = matmul(gz, transpose(inputs[1])) if need[0] else None
        gw = matmul(transpose(inputs[0]), gz) if need[1] else None
        if len(inputs) == 2:
            return gx, gw
        gb = reshape(_sum(gz, 0), inputs[2].shape) if need[2] else None
        return gx, gw, gb

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        return self._grads(gy)

    def backward_raw(self, gy: Any) -> tuple[Any, ...]:
        return self._grads_raw(gy)


class LinearReLU(Linear):
    """y = max(0, x W + b); with z = x W + b and gz = ∂L/∂y ⊙ [y > 0]:
    ∂L/∂x = gz Wᵀ, ∂L/∂W = xᵀ gz, ∂L/∂b = Σ_rows gz."""

    def infer(self, builder: Any, x: str, w: str, b: str | None = None) -> str:
        """max(0, x W + b): the affine map, then ``Relu``."""
        return builder.op("Relu", super().infer(builder, x, w, b))

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        y = x @ w
        if cuda.on_gpu(y):
            self.mask = bias_relu_gpu(y, b)
            return y
        if b is not None:
            y += b
        array_module(y).maximum(y, 0, out=y)
        self.mask = y > 0
        return y

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        return self._grads(gy * _mask_tensor(self.mask))

    def backward_raw(self, gy: Any) -> tuple[Any, ...]:
        return self._grads_raw(gy * self.mask)


# ------------------------------------------------------------------------- GPU path (CuPy)
_BIAS_RELU = cuda.elementwise(
    "mathflow_bias_relu",
    "raw T b, int32 inner, int32 channels",
    "T y, bool mask",
    # NaN propagates as in np.maximum; the mask is [y > 0] of the result
    "const T z = y + b[(i / inner) % channels]; y = (z > (T)0 || z != z) ? z : (T)0; mask = y > (T)0;",
)
_SOFTMAX_XENT = cuda.raw(
    "mathflow_softmax_xent",
    """
// one block of B threads (a power of two) per row r: max, Σ exp, log p (written), row loss
extern "C" __global__ void mathflow_softmax_xent(const T* z, const long long* index, T* logp, T* row_loss,
                                                 int C, T neg_inf, T one_minus_eps, T eps_over_c) {
  extern __shared__ unsigned char shared_bytes[];
  T* buf = (T*)shared_bytes;
  const int k = threadIdx.x, B = blockDim.x;
  const T* zr = z + (long long)blockIdx.x * C;
  T* lr = logp + (long long)blockIdx.x * C;
  T acc = neg_inf;
  for (int j = k; j < C; j += B) acc = (zr[j] > acc || zr[j] != zr[j]) ? zr[j] : acc;
  buf[k] = acc;
  __syncthreads();
  for (int s = B / 2; s > 0; s >>= 1) {
    if (k < s && (buf[k + s] > buf[k] || buf[k + s] != buf[k + s])) buf[k] = buf[k + s];
    __syncthreads();
  }
  const T m = buf[0];
  __syncthreads();
  acc = 0;
  for (int j = k; j < C; j += B) acc += exp(zr[j] - m);
  buf[k] = acc;
  __syncthreads();
  for (int s = B / 2; s > 0; s >>= 1) {
    if (k < s) buf[k] += buf[k + s];
    __syncthreads();
  }
  const T ls = log(buf[0]);
  __syncthreads();
  acc = 0;
  for (int j = k; j < C; j += B) {
    const T lp = (zr[j] - m) - ls;
    lr[j] = lp;
    acc += lp;
  }
  buf[k] = acc;
  __syncthreads();
  for (int s = B / 2; s > 0; s >>= 1) {
    if (k < s) buf[k] += buf[k + s];
    __syncthreads();
  }
  if (k == 0) row_loss[blockIdx.x] = one_minus_eps * ((zr[index[blockIdx.x]] - m) - ls) + eps_over_c * buf[0];
}
""",
)
_SOFTMAX_XENT_GRAD = cuda.elementwise(
    "mathflow_softmax_xent_grad",
    "T logp, raw int64 index, T gs, T one_minus_eps, T eps_over_c, int32 classes",
    "T gz",
    "const T q = ((i % classes) == index[i / classes] ? one_minus_eps : (T)0) + eps_over_c; gz = (exp(logp) - q) * gs;",
)


def bias_relu_gpu(y: Any, b: Any = None, inner: int = 1) -> Any:
    """In place on a C-contiguous CuPy ``y``: y ← max(y + b[(i / inner) % len(b)], 0); returns the mask
    [y > 0]. Dense (N, F) layers use inner = 1, batch-last conv outputs (F, Ho, Wo, N) inner = Ho·Wo·N."""
    import cupy  # noqa: PLC0415 - deliberately lazy

    if b is None:
        b = cupy.zeros(1, dtype=y.dtype)
    mask = cupy.empty(y.shape, dtype=bool)
    _BIAS_RELU(b, np.int32(inner), np.int32(b.size), y, mask)
    return mask


def softmax_xent_gpu(z: Any, index: Any, smoothing: float = 0.0, scale: float = 1.0) -> tuple[Any, Any]:
    """(0-d loss, log-probabilities) of L = −s Σᵢ Σⱼ qᵢⱼ log softmax(zᵢ)ⱼ, q = (1−ε)·onehot + ε/C, for
    CuPy logits (N, C) and int class indices: one kernel launch plus the sum over rows."""
    import cupy  # noqa: PLC0415 - deliberately lazy

    z = cupy.ascontiguousarray(z)
    rows, classes = z.shape
    logp, row_loss = cupy.empty_like(z), cupy.empty(rows, dtype=z.dtype)
    block = max(32, min(256, 1 << max(0, classes - 1).bit_length()))
    cast = z.dtype.type
    if rows:
        args = (
            z,
            cupy.ascontiguousarray(index, dtype=np.int64),
            logp,
            row_loss,
            np.int32(classes),
            cast(-np.inf),
            cast(1.0 - smoothing),
            cast(smoothing / classes),
        )
        _SOFTMAX_XENT.get(z.dtype)((rows,), (block,), args, shared_mem=block * z.dtype.itemsize)
    return (row_loss.sum() * cast(-scale)).astype(z.dtype), logp


def softmax_xent_grad_gpu(logp: Any, index: Any, g: Any, smoothing: float = 0.0, scale: float = 1.0) -> Any:
    """∂L/∂z = s g (softmax(z) − q) from the log-probabilities of :func:`softmax_xent_gpu`."""
    import cupy  # noqa: PLC0415 - deliberately lazy

    classes = logp.shape[1]
    cast = logp.dtype.type
    gs = cupy.asarray(g, dtype=logp.dtype) * cast(scale)
    index = cupy.ascontiguousarray(index, dtype=np.int64)
    return _SOFTMAX_XENT_GRAD(logp, index, gs, cast(1.0 - smoothing), cast(smoothing / classes), np.int32(classes))


# ------------------------------------------------------------------------- public API
def relu(x: Any) -> Tensor:
    """max(0, x) element-wise."""
    return ReLU()(as_tensor(x))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, ``negative_slope``·x otherwise."""
    return LeakyReLU(float(negative_slope))(as_tensor(x))


def sigmoid(x: Any) -> Tensor:
    """σ(x) = 1/(1 + e^(−x)), finite and warning-free for any x."""
    return Sigmoid()(as_tensor(x))


def tanh(x: Any) -> Tensor:
    """tanh x = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ)."""
    return Tanh()(as_tensor(x))


def gelu(x: Any) -> Tensor:
    """Gaussian error linear unit, tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    return GELU()(as_tensor(x))


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x > 0, α(eˣ − 1) otherwise."""
    return ELU(float(alpha))(as_tensor(x))


def softplus(x: Any) -> Tensor:
    """ln(1 + eˣ), computed as max(x, 0) + ln(1 + e^(−|x|)) so it never overflows."""
    return Softplus()(as_tensor(x))


def softmax(x: Any, axis: Any = -1) -> Tensor:
    """e^(xᵢ − max x) / Σⱼ e^(xⱼ − max x) along ``axis``: non-negative, sums to 1."""
    x = as_tensor(x)
    return Softmax(_check_axes("softmax", axis, x.ndim))(x)


def log_softmax(x: Any, axis: Any = -1) -> Tensor:
    """x − logsumexp(x) along ``axis`` (the log of softmax, without underflow)."""
    x = as_tensor(x)
    return LogSoftmax(_check_axes("log_softmax", axis, x.ndim))(x)


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Tensor:
    """ln Σ eˣ along ``axis``, computed as m + ln Σ e^(x − m) with m = max x."""
    x = as_tensor(x)
    return LogSumExp(_check_axes("logsumexp", axis, x.ndim), keepdims)(x)


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Inverted dropout: each unit kept with probability 1 − p and scaled by 1/(1 − p), so the
    expectation is unchanged; the identity when not ``training`` or p = 0.

    ``rng`` is a NumPy/CuPy ``Generator`` (default: the current backend's). The mask is a
    constant of the graph, reused by the backward pass.
    """
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise MathflowError(f"dropout: probability p={p} must lie in [0, 1)", suggestion="p is the drop probability")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    xp = x.xp
    generator = get_backend().rng if rng is None else rng
    draw_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    u = generator.random(x.shape, dtype=draw_dtype)
    if array_module(u) is not xp:
        u = xp.asarray(u)
    mask = (u >= p).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return Dropout(mask)(x)


def _affine_operands(op: str, x: Any, weight: Any, bias: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    x = x if isinstance(x, Tensor) else as_tensor(x)
    weight = weight if isinstance(weight, Tensor) else as_tensor(weight, like=x)
    w_shape = weight.data.shape
    if len(w_shape) != 2 or x.data.ndim == 0 or x.data.shape[-1] != w_shape[0]:
        raise ShapeError(
            f"{op}: input {x.shape} @ weight {weight.shape}: the weight must be (in, out) with in = "
            f"the input's last dimension"
        )
    if bias is not None:
        bias = bias if isinstance(bias, Tensor) else as_tensor(bias, like=x)
        if bias.data.shape not in ((w_shape[1],), (1, w_shape[1])):
            raise ShapeError(f"{op}: bias {bias.shape} does not fit weight {weight.shape}; expected ({w_shape[1]},)")
    return x, weight, bias


def _apply_affine(fn: Linear, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    if x.data.ndim == 2:
        return fn(x, weight) if bias is None else fn(x, weight, bias)
    lead = x.shape[:-1]
    flat = reshape(x, (-1, x.shape[-1]))
    out = fn(flat, weight) if bias is None else fn(flat, weight, bias)
    return reshape(out, lead + (weight.shape[1],))


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x W + b with W of shape (in, out): one fused node (leading axes of x are batch axes)."""
    return _apply_affine(Linear(), *_affine_operands("linear", x, weight, bias))


def linear_relu(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """max(0, x W + b): the affine map and ReLU fused into one node."""
    return _apply_affine(LinearReLU(), *_affine_operands("linear_relu", x, weight, bias))
