"""Adam and AdamW: moving averages of the gradient and of its square."""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np

from mathflow.component import Flag, check_argument
from mathflow.constraints import NonNegativeFloat, PositiveFloat, UnitInterval
from mathflow.errors import MathflowError
from mathflow.kernels import cuda
from mathflow.optim.optimizer import OPTIMIZERS, Optimizer, _Slot

Beta1 = Annotated[UnitInterval, "decay β₁ of the gradient's moving average m"]
Beta2 = Annotated[UnitInterval, "decay β₂ of the squared gradient's moving average v"]
Eps = Annotated[PositiveFloat, "ε added to √v̂"]
BiasCorrection = Annotated[Flag, "divide m and v by 1 − βᵗ"]


@OPTIMIZERS.register("adam")
class Adam(Optimizer):
    """Adam, as the spec writes it, with bias correction on by default:

        m ← β₁m + (1−β₁)∇L
        v ← β₂v + (1−β₂)(∇L)²
        m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ)
        W ← W − η m̂/(√v̂ + ε)

    ``bias_correction=False`` gives exactly the spec's W ← W − η m/(√v + ε). ``t`` counts the
    updates this parameter has received. Defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8.

    ``weight_decay`` λ adds λW to the gradient before the moments (as ``torch.optim.Adam``);
    :class:`AdamW` decays the weights directly instead.

    With bias correction the step is computed as η√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε√(1−β₂ᵗ)), the
    same number as η m̂/(√v̂ + ε) with one pass fewer over the arrays.
    """

    hyper_names = ("beta1", "beta2", "eps", "weight_decay", "bias_correction")
    state_names = ("m", "v")
    #: True for the L2 penalty inside the gradient (Adam), False for decoupled decay (AdamW).
    coupled_decay = True
    #: ``betas`` is PyTorch's spelling of (beta1, beta2) for Python callers; pipelines write beta1, beta2.
    python_only = ("params", "betas")

    def __init__(
        self,
        params: Any,
        lr: PositiveFloat = 1e-3,
        beta1: Beta1 = 0.9,
        beta2: Beta2 = 0.999,
        eps: Eps = 1e-8,
        weight_decay: NonNegativeFloat = 0.0,
        bias_correction: BiasCorrection = True,
        betas: tuple[float, float] | None = None,
    ):
        super().__init__(params, lr, weight_decay)
        if betas is not None:
            try:
                beta1, beta2 = betas
            except (TypeError, ValueError):
                raise MathflowError(
                    f"{self.registry_name}: betas must be a pair (beta1, beta2), got {betas!r}"
                ) from None
            beta1 = check_argument(self.config_model, self.registry_name, "beta1", beta1)
            beta2 = check_argument(self.config_model, self.registry_name, "beta2", beta2)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = float(eps)
        self.bias_correction = bool(bias_correction)
        self._build_slots()

    def _update(self, slot: _Slot, w: Any, g: Any, lr: float) -> None:
        beta1 = self.beta1
        beta2 = self.beta2
        if self.bias_correction:
            t = slot.step
            root = math.sqrt(1.0 - beta2**t)
            eps = self.eps * root
            step_size = lr * root / (1.0 - beta1**t)
        else:
            eps = self.eps
            step_size = lr
        wd = self.weight_decay
        if cuda.on_gpu(w):
            l2, decay = (wd, 1.0) if self.coupled_decay else (0.0, 1.0 - lr * wd)
            c = w.dtype.type
            scalars = (1.0 - beta1, beta2, 1.0 - beta2, eps, step_size, l2, decay)
            _ADAM_UPDATE(g.astype(w.dtype, copy=False), *map(c, scalars), w, *slot.state)
            return
        if wd:
            if self.coupled_decay:
                g = self._with_weight_decay(slot, w, g, wd)
            else:
                w *= 1.0 - lr * wd
        m, v = slot.state
        tmp = slot.scratch[0]
        # m ← m + (1−β₁)(g − m) = β₁m + (1−β₁)g
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - beta1
        m += tmp
        # v ← β₂v + (1−β₂)g²
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - beta2
        v *= beta2
        v += tmp
        # W ← W − step · m/(√v + ε')
        np.sqrt(v, out=tmp)
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        w -= tmp


@OPTIMIZERS.register("adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:

        W ← W − ηλW
        then the Adam step: m ← β₁m + (1−β₁)∇L; v ← β₂v + (1−β₂)(∇L)²;
        W ← W − η m̂/(√v̂ + ε),  m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)

    Defaults λ = 0.01, β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    """

    coupled_decay = False

    def __init__(
        self,
        params: Any,
        lr: PositiveFloat = 1e-3,
        beta1: Beta1 = 0.9,
        beta2: Beta2 = 0.999,
        eps: Eps = 1e-8,
        weight_decay: Annotated[NonNegativeFloat, "decoupled decay λ: W ← W − ηλW"] = 0.01,
        bias_correction: BiasCorrection = True,
        betas: tuple[float, float] | None = None,
    ):
        super().__init__(params, lr, beta1, beta2, eps, weight_decay, bias_correction, betas)


# ---------------------------------------------------------------------- GPU path (CuPy)
# The NumPy rule above as one element-wise kernel: l2 = λ for Adam's coupled decay (0 otherwise),
# decay = 1 − ηλ for AdamW's decoupled decay (1 otherwise).
_ADAM_UPDATE = cuda.elementwise(
    "mathflow_adam_update",
    "T g, T one_minus_beta1, T beta2, T one_minus_beta2, T eps, T step_size, T l2, T decay",
    "T w, T m, T v",
    """const T d = w * l2 + g;
    w = w * decay;
    m = m + (d - m) * one_minus_beta1;
    v = v * beta2 + d * d * one_minus_beta2;
    w = w - m / (sqrt(v) + eps) * step_size;""",
    options=cuda.NO_FMA,
)
