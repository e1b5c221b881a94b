"""Kullback–Leibler divergence between target distributions and the model's softmax."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mathflow.autodiff.tensor import Tensor
from mathflow.functional import nn as fnn
from mathflow.functional.reduce import sum as _sum
from mathflow.nn.losses import LOSSES, ClassificationLoss, Problem, Shape, _batch, _class_targets


@LOSSES.register("kl_divergence")
class KLDivergence(ClassificationLoss):
    """KL(p ‖ softmax(z)) between target distributions p and the model's logits z.

    L = (1/n) Σᵢ KL(pᵢ ‖ qᵢ) = (1/n) Σᵢ Σ_c pᵢ_c (log pᵢ_c − log qᵢ_c), q = softmax(z), 0·log 0 = 0.

    Targets p are rows of probabilities (N, C) (soft labels, a teacher's output) or integer labels
    (one-hot p, where KL equals cross-entropy). The model outputs logits z; ∂L/∂z = (q − p)/n.
    ``reduction="sum"`` drops the 1/n (``mean`` is torch's ``batchmean``).
    """

    expects = "logits"

    def prepare_target(self, pred: Tensor, target: Any) -> Tensor:
        target = _class_targets("kl_divergence", pred, target)
        if target.ndim == pred.ndim - 1:  # integer labels → one-hot rows
            return Tensor._wrap(pred.xp.eye(pred.shape[-1], dtype=pred.dtype)[target.data])
        return target

    def compute(self, pred: Tensor, target: Tensor) -> Tensor:
        p = target.data
        xp = pred.xp
        entropy = xp.where(p > 0, p * xp.log(xp.where(p > 0, p, 1)), 0).sum()  # Σ p log p: no gradient to z
        total = Tensor._wrap(xp.asarray(entropy, dtype=pred.dtype)) - _sum(target * fnn.log_softmax(pred, axis=-1))
        return total / pred.shape[0] if self.reduction == "mean" else total

    def check_fit(self, output: Shape, info: Any, at: str) -> Problem | None:
        if info.task == "classification":
            return self.check_classes(output, info, at)
        if len(output) != 1 or tuple(output) != tuple(info.target_shape):
            return (
                f"kl_divergence compares the model's class scores {_batch(output)} with target distributions "
                f"{_batch(info.target_shape)}{at}",
                f"end the model with dense units {math.prod(info.target_shape or (1,))}",
            )
        return None

    def example(self, rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
        """Logits and target distributions (rows of a softmax)."""
        t = rng.normal(size=(n, 3))
        p = np.exp(t) / np.exp(t).sum(axis=1, keepdims=True)
        return rng.normal(size=(n, 3)), p
