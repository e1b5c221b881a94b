"""Loss functions: regression (MSE, MAE, Huber), classification (binary and categorical
cross-entropy, hinge).

Every loss reduces to a scalar with ``reduction="mean"`` (the default) or ``"sum"``; targets
may be Tensors or array-likes. The cross-entropies are fused nodes computed from
log-probabilities so that extreme logits stay finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.backend import array_module, to_numpy
from mathflow.errors import DomainError, MathflowError, ShapeError
from mathflow.functional.arithmetic import abs as _abs
from mathflow.functional.arithmetic import minimum, where
from mathflow.functional.nn import (
    _raw_sigmoid,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    softmax_xent_gpu,
    softmax_xent_grad_gpu,
)
from mathflow.functional.reduce import mean as _mean
from mathflow.functional.reduce import sum as _sum
from mathflow.functional.shape import astype, getitem, reshape
from mathflow.kernels.cuda import on_gpu

_REDUCTIONS = ("mean", "sum")


# ------------------------------------------------------------------------- helpers
def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise MathflowError(f"{op}: unknown reduction {reduction!r}", suggestion="use 'mean' or 'sum'")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return _mean(loss) if reduction == "mean" else _sum(loss)


def _scale(reduction: str, count: int) -> float:
    """The factor turning a sum into the requested reduction."""
    return 1.0 / max(count, 1) if reduction == "mean" else 1.0


def _float_target(target: Any, like: Tensor) -> Tensor:
    """``target`` as a Tensor of ``like``'s dtype (a Tensor target keeps its graph)."""
    if isinstance(target, Tensor):
        return target if target.dtype == like.dtype else astype(target, like.dtype)
    return Tensor._wrap(like.xp.asarray(target, dtype=like.dtype))


def _raw_target(target: Any, like: Tensor) -> Any:
    """``target`` as a raw array on ``like``'s device, keeping its dtype."""
    raw = target.data if isinstance(target, Tensor) else target
    return like.xp.asarray(raw)


def _same_shape(op: str, pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ShapeError(f"{op}: prediction shape {pred.shape} and target shape {target.shape} differ")


def _pair(op: str, pred: Any, target: Any, reduction: str) -> tuple[Tensor, Tensor]:
    _check_reduction(op, reduction)
    pred = as_tensor(pred)
    target = _float_target(target, pred)
    _same_shape(op, pred, target)
    return pred, target


def _class_indices(op: str, raw: Any, classes: int) -> Any:
    """Integer class indices from ``raw``, each checked to lie in [0, classes)."""
    xp = array_module(raw)
    if raw.dtype.kind == "f":
        as_int = raw.astype(np.int64)
        if not bool((as_int == raw).all()):
            raise MathflowError(f"{op}: class indices must be integers, got non-integral values")
        raw = as_int
    elif raw.dtype.kind not in "iu":
        raise MathflowError(f"{op}: class indices must be integers, got dtype {raw.dtype}")
    bad = (raw < 0) | (raw >= classes)
    if bool(bad.any()):
        first = int(to_numpy(raw[bad])[0])
        raise MathflowError(
            f"{op}: class index {first} is out of range for {classes} classes (valid: 0 to {classes - 1})"
        )
    return raw.astype(xp.int64, copy=False)


def _log_probs(z: Any) -> Any:
    """log softmax over axis 1 of raw (N, C) logits, stable for extreme values."""
    xp = array_module(z)
    shifted = z - z.max(axis=1, keepdims=True)
    shifted -= xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


# ------------------------------------------------------------------------- fused nodes
class SquaredError(Function):
    """L = s Σ (ŷ − y)², s = 1/n or 1; ∂L/∂ŷ = 2s g (ŷ − y), ∂L/∂y = −∂L/∂ŷ."""

    has_raw_backward = True

    def __init__(self, scale: float):
        self.scale = scale

    def forward(self, pred: Any, target: Any) -> Any:
        self.diff = pred - target
        flat = self.diff.reshape(-1)
        return array_module(pred).asarray((flat @ flat) * self.scale, dtype=pred.dtype)

    def backward(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        pred, target = self.inputs
        gp = (pred - target) * (g * (2.0 * self.scale))
        return (gp if self.needs_input_grad[0] else None), (-gp if self.needs_input_grad[1] else None)

    def backward_raw(self, g: Any) -> tuple[Any, Any]:
        gp = self.diff * (g * (2.0 * self.scale))
        return (gp if self.needs_input_grad[0] else None), (-gp if self.needs_input_grad[1] else None)


class ClampedLog(Function):
    """y = max(ln x, −100) (so ln 0 is −100, as in PyTorch's BCE); ∂L/∂x = ∂L/∂y / x where
    unclamped, 0 where clamped."""

    has_raw_backward = True

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        floor = xp.finfo(x.dtype).smallest_subnormal  # ln of it is below −100 in float32 and float64
        y = xp.log(xp.maximum(x, floor))
        self.mask = y > -100.0
        return xp.maximum(y, -100.0)

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        return where(self.mask, gy / where(self.mask, x, 1.0), 0.0)

    def backward_raw(self, gy: Any) -> Any:
        xp = array_module(gy)
        x = self.inputs[0].data
        return xp.where(self.mask, gy / xp.where(self.mask, x, 1), 0)


class BCEWithLogits(Function):
    """L = s Σ [max(z, 0) − z y + ln(1 + e^(−|z|))] (stable); ∂L/∂z = s g (σ(z) − y), ∂L/∂y = −s g z."""

    has_raw_backward = True

    def __init__(self, scale: float):
        self.scale = scale

    def forward(self, z: Any, y: Any) -> Any:
        xp = array_module(z)
        loss = xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
        return xp.asarray(loss.sum() * self.scale, dtype=z.dtype)

    def backward(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        z, y = self.inputs
        k = g * self.scale
        gz = (sigmoid(z) - y) * k if self.needs_input_grad[0] else None
        gy = -(z * k) if self.needs_input_grad[1] else None
        return gz, gy

    def backward_raw(self, g: Any) -> tuple[Any, Any]:
        z, y = self.inputs[0].data, self.inputs[1].data
        k = g * self.scale
        gz = (_raw_sigmoid(z) - y) * k if self.needs_input_grad[0] else None
        gy = -(z * k) if self.needs_input_grad[1] else None
        return gz, gy


class CrossEntropyIndex(Function):
    """L = −s Σᵢ Σⱼ qᵢⱼ log softmax(zᵢ)ⱼ with q = (1−ε)·onehot(t) + ε/C;
    ∂L/∂z = s g (softmax(z) − q). On a GPU, one fused kernel each way (``softmax_xent_gpu``)."""

    has_raw_backward = True

    def __init__(self, index: Any, smoothing: float, scale: float):
        self.index = index
        self.smoothing = smoothing
        self.scale = scale

    def forward(self, z: Any) -> Any:
        if on_gpu(z):
            loss, self.logp = softmax_xent_gpu(z, self.index, self.smoothing, self.scale)
            return loss
        xp = array_module(z)
        n, c = z.shape
        logp = _log_probs(z)
        self.logp = logp
        eps = self.smoothing
        total = -(1.0 - eps) * logp[xp.arange(n), self.index].sum()
        if eps:
            total = total - (eps / c) * logp.sum()
        return xp.asarray(total * self.scale, dtype=z.dtype)

    def _target_dist(self, like: Any) -> Any:
        xp = array_module(like)
        n, c = like.shape
        q = xp.full((n, c), self.smoothing / c, dtype=like.dtype)
        q[xp.arange(n), self.index] += 1.0 - self.smoothing
        return q

    def backward(self, g: Tensor) -> Tensor:
        z = self.inputs[0]
        return (softmax(z, axis=1) - Tensor._wrap(self._target_dist(z.data))) * (g * self.scale)

    def backward_raw(self, g: Any) -> Any:
        if on_gpu(self.logp):
            return softmax_xent_grad_gpu(self.logp, self.index, g, self.smoothing, self.scale)
        xp = array_module(g)
        n, c = self.logp.shape
        grad = xp.exp(self.logp)
        grad[xp.arange(n), self.index] -= 1.0 - self.smoothing
        if self.smoothing:
            grad -= self.smoothing / c
        grad *= g * self.scale
        return grad


class CrossEntropyProb(Function):
    """L = −s Σᵢⱼ q̃ᵢⱼ log softmax(zᵢ)ⱼ with q̃ = (1−ε) q + ε/C;
    ∂L/∂z = s g (softmax(z) Σⱼ q̃ᵢⱼ − q̃), ∂L/∂q = −s g (1−ε) log softmax(z)."""

    has_raw_backward = True

    def __init__(self, smoothing: float, scale: float):
        self.smoothing = smoothing
        self.scale = scale

    def _smoothed(self, q: Any) -> Any:
        eps = self.smoothing
        return q * (1.0 - eps) + eps / q.shape[1] if eps else q

    def forward(self, z: Any, q: Any) -> Any:
        xp = array_module(z)
        self.logp = _log_probs(z)
        flat_q = self._smoothed(q).reshape(-1)
        return xp.asarray(-(flat_q @ self.logp.reshape(-1)) * self.scale, dtype=z.dtype)

    def backward(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        z, q = self.inputs
        k = g * self.scale
        gz = gq = None
        if self.needs_input_grad[0]:
            qs = self._smoothed(q)
            gz = (softmax(z, axis=1) * _sum(qs, 1, keepdims=True) - qs) * k
        if self.needs_input_grad[1]:
            gq = -(log_softmax(z, axis=1) * (k * (1.0 - self.smoothing)))
        return gz, gq

    def backward_raw(self, g: Any) -> tuple[Any, Any]:
        xp = array_module(g)
        k = g * self.scale
        gz = gq = None
        if self.needs_input_grad[0]:
            qs = self._smoothed(self.inputs[1].data)
            gz = (xp.exp(self.logp) * qs.sum(axis=1, keepdims=True) - qs) * k
        if self.needs_input_grad[1]:
            gq = -(self.logp * (k * (1.0 - self.smoothing)))
        return gz, gq


# ------------------------------------------------------------------------- regression
def mse(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (1/n) Σ (yᵢ − ŷᵢ)² over all elements (``"sum"``: without the 1/n)."""
    pred, target = _pair("mse", pred, target, reduction)
    return SquaredError(_scale(reduction, pred.size))(pred, target)


def mae(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error (1/n) Σ |yᵢ − ŷᵢ|."""
    pred, target = _pair("mae", pred, target, reduction)
    return _reduce(_abs(pred - target), reduction)


def huber(pred: Any, target: Any, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber loss of d = ŷ − y: ½d² where |d| ≤ δ, δ(|d| − ½δ) beyond (as PyTorch's huber_loss)."""
    delta = float(delta)
    if not delta > 0:
        raise MathflowError(f"huber: delta must be positive, got {delta}")
    pred, target = _pair("huber", pred, target, reduction)
    a = _abs(pred - target)
    quad = minimum(a, delta)
    return _reduce(quad * quad * 0.5 + (a - quad) * delta, reduction)


# ------------------------------------------------------------------------- binary classification
def binary_cross_entropy(p: Any, y: Any, reduction: str = "mean") -> Tensor:
    """−(1/n) Σ [y ln p + (1 − y) ln(1 − p)] on probabilities p ∈ [0, 1]; each ln is clamped
    at −100 (as in PyTorch) so p = 0 or 1 gives a finite loss."""
    p, y = _pair("binary_cross_entropy", p, y, reduction)
    if not bool(((p.data >= 0) & (p.data <= 1)).all()):
        raise DomainError(
            "binary_cross_entropy: probabilities must lie in [0, 1]",
            suggestion="apply sigmoid first, or use binary_cross_entropy_with_logits on raw scores",
        )
    loss = -(y * ClampedLog()(p) + (1.0 - y) * ClampedLog()(1.0 - p))
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(z: Any, y: Any, reduction: str = "mean") -> Tensor:
    """BCE of σ(z) computed from logits: (1/n) Σ [max(z, 0) − z y + ln(1 + e^(−|z|))], finite for
    any z; its gradient is (σ(z) − y)/n."""
    z, y = _pair("binary_cross_entropy_with_logits", z, y, reduction)
    return BCEWithLogits(_scale(reduction, z.size))(z, y)


# ------------------------------------------------------------------------- multiclass
def cross_entropy(logits: Any, target: Any, label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy −(1/N) Σᵢ Σⱼ qᵢⱼ log softmax(zᵢ)ⱼ over the last axis of (N, C) logits.

    ``target`` is either integer class indices (N,) — q is then one-hot — or probability rows
    (N, C). With ``label_smoothing`` ε, q becomes (1 − ε) q + ε/C. One fused node: the gradient
    is (softmax(z) − q)/N.
    """
    op = "cross_entropy"
    _check_reduction(op, reduction)
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise MathflowError(f"{op}: label_smoothing {eps} must lie in [0, 1]")
    logits = as_tensor(logits)
    raw = _raw_target(target, logits)
    if logits.ndim == 1:  # a single sample
        logits = reshape(logits, (1, logits.shape[0]))
        if raw.ndim == 0:
            raw = raw.reshape(1)
            target = raw
        elif raw.ndim == 1 and raw.shape == logits.shape[1:]:
            target = reshape(target, (1, -1)) if isinstance(target, Tensor) else raw.reshape(1, -1)
            raw = raw.reshape(1, -1)
    if logits.ndim != 2:
        raise ShapeError(
            f"{op}: logits must be (N, C), got shape {logits.shape}", suggestion="flatten the leading axes first"
        )
    n, c = logits.shape
    scale = _scale(reduction, n)
    if raw.shape == (n,):
        return CrossEntropyIndex(_class_indices(op, raw, c), eps, scale)(logits)
    if raw.shape == (n, c):
        probs = _float_target(target, logits)
        return CrossEntropyProb(eps, scale)(logits, probs)
    raise ShapeError(
        f"{op}: logits of shape {logits.shape} need a target of shape ({n},) (class indices) or "
        f"({n}, {c}) (probabilities), got target shape {tuple(raw.shape)}"
    )


def hinge(scores: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Hinge loss.

    Binary — scores (N,) or (N, 1), targets in {−1, +1}: (1/N) Σ max(0, 1 − yᵢ ŷᵢ).
    Multiclass — scores (N, C), integer targets (N,): (1/N) Σᵢ Σ_{j≠yᵢ} max(0, 1 − s_{i,yᵢ} + s_{ij}) / C
    (PyTorch's MultiMarginLoss).
    """
    op = "hinge"
    _check_reduction(op, reduction)
    scores = as_tensor(scores)
    raw = _raw_target(target, scores)
    binary = scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1)
    if binary:
        n = scores.shape[0]
        if raw.shape not in ((n,), (n, 1)):
            raise ShapeError(f"{op}: scores shape {scores.shape} and target shape {tuple(raw.shape)} differ")
        ok = (raw == 1) | (raw == -1)
        if not bool(ok.all()):
            seen = sorted({float(v) for v in to_numpy(raw[~ok]).reshape(-1)[:5]})
            raise MathflowError(
                f"{op}: binary targets must be -1 or +1, got {seen}", suggestion="map 0/1 labels with 2*y - 1"
            )
        y = _float_target(target, scores)
        if y.shape != scores.shape:
            y = reshape(y, scores.shape)
        return _reduce(relu(1.0 - y * scores), reduction)
    if scores.ndim != 2:
        raise ShapeError(f"{op}: scores must be (N,), (N, 1) or (N, C), got shape {scores.shape}")
    n, c = scores.shape
    if raw.shape != (n,):
        raise ShapeError(
            f"{op}: multiclass scores of shape {scores.shape} need integer targets of shape ({n},), "
            f"got target shape {tuple(raw.shape)}"
        )
    index = _class_indices(op, raw, c)
    xp = scores.xp
    rows = xp.arange(n)
    picked = reshape(getitem(scores, (rows, index)), (n, 1))
    others = xp.ones((n, c), dtype=scores.dtype)
    others[rows, index] = 0
    margins = relu(scores - picked + 1.0) * Tensor._wrap(others)
    per_sample = _sum(margins, 1) * (1.0 / c)
    return _reduce(per_sample, reduction)
