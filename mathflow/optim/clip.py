"""Gradient clipping, applied between ``backward()`` and ``optimizer.step()``.

Both functions replace ``p.grad`` with a new tensor instead of writing into the old gradient
array, which may be shared with other arrays of the graph.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mathflow.autodiff.tensor import Tensor
from mathflow.backend import array_module
from mathflow.optim.optimizer import check_positive, collect_parameters


def _with_grads(params: Any, owner: str) -> list[Tensor]:
    return [p for p in collect_parameters(params, owner) if p.grad is not None]


def global_grad_norm(params: Any) -> float:
    """‖g‖₂ over all gradients together: √(Σₚ Σᵢ gₚᵢ²); parameters without a gradient count as 0."""
    total = 0.0
    for p in _with_grads(params, "global_grad_norm"):
        g = p.grad.data.ravel()
        xp = array_module(g)
        total += float(xp.dot(g, g))
    return math.sqrt(total)


def clip_grad_norm(params: Any, max_norm: float, sync: bool = True) -> Any:
    """Rescale all gradients together so that their global L2 norm is at most ``max_norm``.

        n = √(Σₚ ‖gₚ‖²);  if n > max_norm:  gₚ ← gₚ · max_norm/(n + 1e-6)

    (as ``torch.nn.utils.clip_grad_norm_``). Returns n, the norm before clipping. With
    ``sync=False`` nothing is read back to the host: n stays a float64 scalar on the gradients'
    device and every gradient is multiplied by min(1, max_norm/(n + 1e-6)) there (the same numbers:
    a factor of 1 leaves a gradient as it is); n is returned as that scalar.
    """
    limit = check_positive("clip_grad_norm", "max_norm", max_norm)
    params_with_grad = _with_grads(params, "clip_grad_norm")
    if not params_with_grad:
        return 0.0
    if not sync:
        return _clip_on_device(params_with_grad, limit)
    norm = global_grad_norm(params_with_grad)
    coef = limit / (norm + 1e-6)
    if coef < 1.0:
        for p in params_with_grad:
            p.grad = Tensor._wrap(p.grad.data * coef)
    return norm


def _clip_on_device(params_with_grad: list[Tensor], limit: float) -> Any:
    xp = array_module(params_with_grad[0].grad.data)
    total = xp.zeros((), dtype=np.float64)
    for p in params_with_grad:
        g = p.grad.data.ravel()
        total = total + xp.dot(g, g).astype(np.float64)
    norm = xp.sqrt(total)
    coef = xp.minimum(limit / (norm + 1e-6), 1.0)
    for p in params_with_grad:
        g = p.grad.data
        p.grad = Tensor._wrap(g * coef.astype(g.dtype))
    return norm


def clip_grad_value(params: Any, clip_value: float) -> None:
    """Clamp every gradient entry into [−c, c]: gᵢ ← min(max(gᵢ, −c), c)."""
    limit = check_positive("clip_grad_value", "clip_value", clip_value)
    for p in _with_grads(params, "clip_grad_value"):
        g = p.grad.data
        p.grad = Tensor._wrap(array_module(g).clip(g, -limit, limit))


__all__ = ["clip_grad_norm", "clip_grad_value", "global_grad_norm"]
