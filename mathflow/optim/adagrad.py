"""Adagrad: per-coordinate steps shrinking with the accumulated squared gradient."""

from __future__ import annotations

from typing import Annotated, Any

from mathflow.constraints import NonNegativeFloat, PositiveFloat
from mathflow.kernels import cuda
from mathflow.optim.optimizer import OPTIMIZERS, Optimizer, _Slot


@OPTIMIZERS.register("adagrad")
class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad`` (without ``lr_decay``):

        s ← s + g²
        W ← W − η g/(√s + ε)

    with g = ∇L (+ λW when ``weight_decay`` λ > 0) and s starting at
    ``initial_accumulator_value`` (0). Default ε = 1e-10.
    """

    hyper_names = ("eps", "weight_decay", "initial_accumulator_value")
    state_names = ("sum",)

    def __init__(
        self,
        params: Any,
        lr: PositiveFloat = 0.01,
        eps: Annotated[PositiveFloat, "ε added to √s"] = 1e-10,
        weight_decay: NonNegativeFloat = 0.0,
        initial_accumulator_value: Annotated[NonNegativeFloat, "starting value of the sum s of g²"] = 0.0,
    ):
        super().__init__(params, lr, weight_decay)
        self.eps = float(eps)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self._build_slots()

    def _initial_state(self, name: str, w: Any, xp: Any) -> Any:
        return xp.full(w.shape, self.initial_accumulator_value, dtype=w.dtype)

    def _update(self, slot: _Slot, w: Any, g: Any, lr: float) -> None:
        if cuda.on_gpu(w):
            c = w.dtype.type
            args = (c(lr), c(self.weight_decay), c(self.eps))
            _ADAGRAD_UPDATE(g.astype(w.dtype, copy=False), *args, w, slot.state[0])
            return
        if self.weight_decay:
            g = self._with_weight_decay(slot, w, g, self.weight_decay)
        xp = slot.xp
        s = slot.state[0]
        tmp = slot.scratch[0]
        xp.multiply(g, g, out=tmp)
        s += tmp
        xp.sqrt(s, out=tmp)
        tmp += self.eps
        xp.divide(g, tmp, out=tmp)
        tmp *= lr
        w -= tmp


# ---------------------------------------------------------------------- GPU path (CuPy)
_ADAGRAD_UPDATE = cuda.elementwise(
    "mathflow_adagrad_update",
    "T g, T lr, T wd, T eps",
    "T w, T s",
    "const T d = w * wd + g; s = s + d * d; w = w - d / (sqrt(s) + eps) * lr;",
    options=cuda.NO_FMA,
)
