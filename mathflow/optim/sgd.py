"""Gradient descent: plain, with momentum (the spec's form) and with Nesterov look-ahead."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np

from mathflow.component import Flag
from mathflow.constraints import NonNegativeFloat, PositiveFloat, UnitInterval
from mathflow.errors import MathflowError
from mathflow.kernels import cuda
from mathflow.optim.optimizer import OPTIMIZERS, Optimizer, _Slot

#: The momentum coefficient γ of the velocity v ← γv + η∇L.
Momentum_ = Annotated[UnitInterval, "momentum coefficient γ (0: plain gradient descent)"]


@OPTIMIZERS.register("sgd", "gd")
class GradientDescent(Optimizer):
    """Gradient descent, W ← W − η∇L.

    With ``weight_decay`` λ > 0 the gradient becomes ∇L + λW (an L2 penalty λ/2‖W‖²).

    With ``momentum`` γ > 0 it follows the spec's velocity form

        v ← γv + η∇L
        W ← W − v

    The velocity carries the learning rate. PyTorch's SGD keeps v' ← γv' + ∇L; W ← W − ηv'
    instead: the two give the same trajectory while η is constant (v = ηv'), and differ once
    a schedule changes η (here an old velocity keeps the η it was made with).

    With ``nesterov=True`` the step looks ahead along the new velocity:

        v ← γv + η∇L
        W ← W − (γv + η∇L)

    which equals ``torch.optim.SGD(nesterov=True)`` for a constant η.
    """

    hyper_names = ("momentum", "nesterov", "weight_decay")

    def __init__(
        self,
        params: Any,
        lr: PositiveFloat = 0.01,
        momentum: Momentum_ = 0.0,
        nesterov: Annotated[Flag, "Nesterov look-ahead (needs momentum > 0)"] = False,
        weight_decay: NonNegativeFloat = 0.0,
    ):
        super().__init__(params, lr, weight_decay)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._check_hyperparameters()
        self._build_slots()

    def _check_hyperparameters(self) -> None:
        name = self.registry_name
        if self.nesterov and self.momentum == 0.0:
            raise MathflowError(f"{name}: nesterov needs momentum > 0, got momentum={self.momentum}")
        if self._slots and bool(self.state_names) != (self.momentum > 0.0):
            raise MathflowError(f"{name}: momentum cannot be switched on or off after construction")
        self.state_names = ("velocity",) if self.momentum > 0.0 else ()
        if self.momentum == 0.0:
            self._update = self._update_plain
        elif self.nesterov:
            self._update = self._update_nesterov
        else:
            self._update = self._update_momentum

    def _scaled_gradient(self, slot: _Slot, w: Any, g: Any, lr: float) -> Any:
        """η(∇L + λW) in the first scratch buffer."""
        tmp = slot.scratch[0]
        if self.weight_decay:
            slot.xp.multiply(w, self.weight_decay, out=tmp)
            tmp += g
            tmp *= lr
        else:
            slot.xp.multiply(g, lr, out=tmp)
        return tmp

    def _update_plain(self, slot: _Slot, w: Any, g: Any, lr: float) -> None:
        if cuda.on_gpu(w):
            return self._update_gpu(slot, w, g, lr)
        w -= self._scaled_gradient(slot, w, g, lr)

    def _update_momentum(self, slot: _Slot, w: Any, g: Any, lr: float) -> None:
        if cuda.on_gpu(w):
            return self._update_gpu(slot, w, g, lr)
        step = self._scaled_gradient(slot, w, g, lr)
        v = slot.state[0]
        v *= self.momentum
        v += step
        w -= v

    def _update_nesterov(self, slot: _Slot, w: Any, g: Any, lr: float) -> None:
        if cuda.on_gpu(w):
            return self._update_gpu(slot, w, g, lr)
        step = self._scaled_gradient(slot, w, g, lr)
        v = slot.state[0]
        v *= self.momentum
        v += step
        w -= step
        slot.xp.multiply(v, self.momentum, out=step)
        w -= step

    def _update_gpu(self, slot: _Slot, w: Any, g: Any, lr: float) -> None:
        """The three rules above as one CuPy kernel each (CuPy arrays only)."""
        c = w.dtype.type
        g = g.astype(w.dtype, copy=False)
        if self.momentum == 0.0:
            _SGD_UPDATE(g, c(lr), c(self.weight_decay), w)
        else:
            scalars = (c(lr), c(self.weight_decay), c(self.momentum), np.int32(self.nesterov))
            _MOMENTUM_UPDATE(g, *scalars, w, slot.state[0])


# ---------------------------------------------------------------------- GPU path (CuPy)
# s = η(∇L + λW) as the NumPy code forms it; momentum v ← γv + s; W ← W − v, or W ← W − s − γv (Nesterov)
_SGD_UPDATE = cuda.elementwise(
    "mathflow_sgd_update", "T g, T lr, T wd", "T w", "w = w - (w * wd + g) * lr;", options=cuda.NO_FMA
)
_MOMENTUM_UPDATE = cuda.elementwise(
    "mathflow_momentum_update",
    "T g, T lr, T wd, T momentum, int32 nesterov",
    "T w, T v",
    "const T s = (w * wd + g) * lr; v = v * momentum + s; w = nesterov ? (w - s) - v * momentum : w - v;",
    options=cuda.NO_FMA,
)


SGD = GradientDescent


@OPTIMIZERS.register("momentum")
class Momentum(GradientDescent):
    """Gradient descent with momentum (spec form): v ← γv + η∇L; W ← W − v, γ = 0.9 by default."""

    def __init__(
        self, params: Any, lr: PositiveFloat = 0.01, momentum: Momentum_ = 0.9, weight_decay: NonNegativeFloat = 0.0
    ):
        super().__init__(params, lr, momentum=momentum, nesterov=False, weight_decay=weight_decay)


@OPTIMIZERS.register("nesterov")
class Nesterov(GradientDescent):
    """Nesterov momentum: v ← γv + η∇L; W ← W − (γv + η∇L), γ = 0.9 by default."""

    def __init__(
        self, params: Any, lr: PositiveFloat = 0.01, momentum: Momentum_ = 0.9, weight_decay: NonNegativeFloat = 0.0
    ):
        super().__init__(params, lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
