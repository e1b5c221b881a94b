"""Adagrad: per-coordinate steps shrinking with the accumulated squared gradient."""

from __future__ import annotations

from typing import Any, Literal

from mathflow.kernels import cuda
from mathflow.optim.optimizer import (
    OPTIMIZERS,
    Optimizer,
    OptimizerConfig,
    _Slot,
    check_nonnegative,
    check_positive,
)
from mathflow.schema.types import NonNegativeFloat, PositiveFloat


class AdagradConfig(OptimizerConfig):
    """Scaled by the accumulated squared gradients."""

    type: Literal["adagrad"] = "adagrad"
    eps: PositiveFloat = 1e-10
    initial_accumulator_value: NonNegativeFloat = 0.0


@OPTIMIZERS.register
class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad`` (without ``lr_decay``):

        s ← s + g²
        W ← W − η g/(√s + ε)

    with g = ∇L (+ λW when ``weight_decay`` λ > 0) and s starting at
    ``initial_accumulator_value`` (0). Default ε = 1e-10.
    """

    config_model = AdagradConfig
    hyper_names = ("eps", "weight_decay", "initial_accumulator_value")
    state_names = ("sum",)

    def __init__(
        self,
        params: Any,
        lr: float = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
    ):
        super().__init__(params, lr)
        self.eps = eps
        self.weight_decay = weight_decay
        self.initial_accumulator_value = initial_accumulator_value
        self._check_hyperparameters()
        self._build_slots()

    def _check_hyperparameters(self) -> None:
        name = self.registry_name
        self.eps = check_positive(name, "eps", self.eps)
        self.weight_decay = check_nonnegative(name, "weight_decay", self.weight_decay)
        self.initial_accumulator_value = check_nonnegative(
            name, "initial_accumulator_value", self.initial_accumulator_value
        )

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
