"""Lion: the sign of an interpolated momentum (Chen et al., 2023, "Symbolic Discovery of
Optimization Algorithms")."""

from __future__ import annotations

from typing import Annotated, Any

from mathflow.constraints import NonNegativeFloat, PositiveFloat, UnitInterval
from mathflow.kernels import cuda
from mathflow.optim.optimizer import OPTIMIZERS, Optimizer, _Slot


@OPTIMIZERS.register("lion")
class Lion(Optimizer):
    """Lion (EvoLved Sign Momentum), as the paper's Algorithm 2 writes it:

        c ← β₁m + (1−β₁)∇L
        W ← W − η(sign(c) + λW)
        m ← β₂m + (1−β₂)∇L

    Every coordinate moves by ±η (sign(0) = 0), so η is usually 3-10× smaller than Adam's and λ
    as many times larger. Defaults η = 1e-4, β₁ = 0.9, β₂ = 0.99, λ = 0.
    """

    hyper_names = ("beta1", "beta2", "weight_decay")
    state_names = ("m",)

    def __init__(
        self,
        params: Any,
        lr: PositiveFloat = 1e-4,
        beta1: Annotated[UnitInterval, "weight β₁ of the momentum in the update's direction c"] = 0.9,
        beta2: Annotated[UnitInterval, "decay β₂ of the momentum m"] = 0.99,
        weight_decay: Annotated[NonNegativeFloat, "decoupled decay λ: W ← W − ηλW"] = 0.0,
    ):
        super().__init__(params, lr, weight_decay)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self._build_slots()

    def _update(self, slot: _Slot, w: Any, g: Any, lr: float) -> None:
        if cuda.on_gpu(w):
            c = w.dtype.type
            scalars = (lr, self.weight_decay, self.beta1, 1.0 - self.beta1, self.beta2, 1.0 - self.beta2)
            _LION_UPDATE(g.astype(w.dtype, copy=False), *map(c, scalars), w, slot.state[0])
            return
        xp = slot.xp
        m = slot.state[0]
        direction, step = slot.scratch
        # c = β₁m + (1−β₁)g, then sign(c)
        xp.multiply(m, self.beta1, out=direction)
        xp.multiply(g, 1.0 - self.beta1, out=step)
        direction += step
        xp.sign(direction, out=direction)
        # W ← W − η(sign(c) + λW)
        if self.weight_decay:
            xp.multiply(w, self.weight_decay, out=step)
            direction += step
        direction *= lr
        w -= direction
        # m ← β₂m + (1−β₂)g
        m *= self.beta2
        xp.multiply(g, 1.0 - self.beta2, out=step)
        m += step


# ---------------------------------------------------------------------- GPU path (CuPy)
# The NumPy rule above as one element-wise kernel (copysign-free: sign(0) = 0 as np.sign).
_LION_UPDATE = cuda.elementwise(
    "mathflow_lion_update",
    "T g, T lr, T wd, T beta1, T one_minus_beta1, T beta2, T one_minus_beta2",
    "T w, T m",
    """const T c = m * beta1 + g * one_minus_beta1;
    const T s = (c > 0) - (c < 0);
    w = w - (s + w * wd) * lr;
    m = m * beta2 + g * one_minus_beta2;""",
    options=cuda.NO_FMA,
)
