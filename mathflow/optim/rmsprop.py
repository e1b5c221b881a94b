"""RMSProp: divide the step by a running root-mean-square of the gradient."""

from __future__ import annotations

from typing import Annotated, Any

from mathflow.constraints import NonNegativeFloat, PositiveFloat, UnitInterval
from mathflow.kernels import cuda
from mathflow.optim.optimizer import OPTIMIZERS, Optimizer, _Slot


@OPTIMIZERS.register("rmsprop")
class RMSProp(Optimizer):
    """RMSProp, as ``torch.optim.RMSprop`` with ``alpha = ρ``:

        s ← ρs + (1−ρ)g²
        W ← W − η g/(√s + ε)

    with g = ∇L (+ λW when ``weight_decay`` λ > 0). Defaults ρ = 0.99, ε = 1e-8.
    """

    hyper_names = ("rho", "eps", "weight_decay")
    state_names = ("square_avg",)

    def __init__(
        self,
        params: Any,
        lr: PositiveFloat = 0.01,
        rho: Annotated[UnitInterval, "decay ρ of the running mean of g²"] = 0.99,
        eps: Annotated[PositiveFloat, "ε added to the root-mean-square"] = 1e-8,
        weight_decay: NonNegativeFloat = 0.0,
    ):
        super().__init__(params, lr, weight_decay)
        self.rho = float(rho)
        self.eps = float(eps)
        self._build_slots()

    def _update(self, slot: _Slot, w: Any, g: Any, lr: float) -> None:
        if cuda.on_gpu(w):
            c = w.dtype.type
            args = (c(lr), c(self.weight_decay), c(self.rho), c(1.0 - self.rho), c(self.eps))
            _RMSPROP_UPDATE(g.astype(w.dtype, copy=False), *args, w, slot.state[0])
            return
        if self.weight_decay:
            g = self._with_weight_decay(slot, w, g, self.weight_decay)
        xp = slot.xp
        s = slot.state[0]
        tmp = slot.scratch[0]
        rho = self.rho
        xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - rho
        s *= rho
        s += tmp
        xp.sqrt(s, out=tmp)
        tmp += self.eps
        xp.divide(g, tmp, out=tmp)
        tmp *= lr
        w -= tmp


# ---------------------------------------------------------------------- GPU path (CuPy)
_RMSPROP_UPDATE = cuda.elementwise(
    "mathflow_rmsprop_update",
    "T g, T lr, T wd, T rho, T one_minus_rho, T eps",
    "T w, T s",
    "const T d = w * wd + g; s = s * rho + d * d * one_minus_rho; w = w - d / (sqrt(s) + eps) * lr;",
    options=cuda.NO_FMA,
)

RMSprop = RMSProp
