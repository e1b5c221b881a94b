"""The training objective of a model on one fixed batch, as a function of its parameters.

    L(w) = loss(model(x; w), y) + Σᵣ penaltyᵣ(w)

(the objective the trainer differentiates at every step). Stochastic layers see the same
randomness at every evaluation: the backend's generator is reseeded before each forward pass,
so dropout draws the same mask each time (``training=True``); with ``training=False`` the model
is in evaluation mode (dropout off, BatchNorm on its running statistics).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mathflow.autodiff.engine import grad as autograd
from mathflow.autodiff.mode import enable_grad, no_grad
from mathflow.autodiff.tensor import Tensor
from mathflow.backend import Backend, get_backend, to_numpy, using

#: Seed the backend's generator is reset to before every forward pass (a fixed dropout mask).
MASK_SEED = 0


class ModelObjective:
    """L(w) of ``model`` on the batch (``x``, ``y``) with ``loss`` and ``regularizers``.

    Arrays are made on the current backend (make it float64 for checks), which every evaluation
    makes current again (see :meth:`active`). ``names`` and
    ``params`` list the trainable parameters in ``model.named_parameters()`` order; flat vectors
    concatenate them in that order.
    """

    def __init__(
        self,
        model: Any,
        loss: Callable[[Tensor, Any], Tensor],
        regularizers: Sequence[Callable[[Any], Tensor]],
        x: np.ndarray,
        y: np.ndarray,
        *,
        training: bool = True,
    ):
        backend = get_backend()
        self.backend: Backend = backend
        self.model = model
        self.loss = loss
        self.regularizers = list(regularizers)
        self.training = training
        float_x = np.issubdtype(np.asarray(x).dtype, np.floating) or np.asarray(x).dtype == np.bool_
        self.x = Tensor._wrap(backend.asarray(x) if float_x else backend.to_device(x))
        y = np.asarray(y)
        self.y = backend.asarray(y) if np.issubdtype(y.dtype, np.floating) else backend.to_device(y)
        model.train(training)
        named = list(model.named_parameters())
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.sizes = [int(p.size) for p in self.params]

    @property
    def size(self) -> int:
        """The number of trainable scalars n."""
        return sum(self.sizes)

    # ------------------------------------------------------------------ evaluation
    def active(self) -> Any:
        """``with objective.active():`` the backend the objective was made on, made current."""
        return using(self.backend)

    def objective(self) -> Tensor:
        """L at the current parameters (recorded when gradients are enabled)."""
        with self.active():
            self.backend.reseed(MASK_SEED)
            out = self.model(self.x)
            total = self.loss(out, self.y)
            for reg in self.regularizers:
                total = total + reg(self.model)
        return total

    def value(self) -> float:
        """L at the current parameters, without a graph."""
        with no_grad():
            return float(self.objective().item())

    def gradients(self) -> list[np.ndarray]:
        """∂L/∂w per parameter by backpropagation (the fast path training uses), float64 NumPy."""
        with enable_grad(), self.active():
            total = self.objective()
            grads = autograd(total, self.params, allow_unused=True)
        return [
            np.zeros(p.shape) if g is None else to_numpy(g.data).astype(np.float64) for g, p in zip(grads, self.params)
        ]

    def gradient(self) -> np.ndarray:
        """∇L as one flat float64 vector."""
        return np.concatenate([g.reshape(-1) for g in self.gradients()]) if self.params else np.zeros(0)

    # ------------------------------------------------------------------ flat parameter vectors
    def flat(self) -> np.ndarray:
        """The parameters as one flat float64 vector."""
        return np.concatenate([to_numpy(p.data).astype(np.float64).reshape(-1) for p in self.params])

    def set_flat(self, w: np.ndarray) -> None:
        """Overwrite the parameters with the flat vector ``w`` (dtype and device kept)."""
        offset = 0
        for p, size in zip(self.params, self.sizes):
            chunk = w[offset : offset + size].reshape(p.shape)
            p.data = p.xp.asarray(chunk, dtype=p.dtype)
            offset += size

    def unflatten(self, v: np.ndarray) -> list[Tensor]:
        """The flat vector ``v`` split into constant tensors shaped like the parameters."""
        parts, offset = [], 0
        for p, size in zip(self.params, self.sizes):
            parts.append(Tensor._wrap(p.xp.asarray(v[offset : offset + size].reshape(p.shape), dtype=p.dtype)))
            offset += size
        return parts
