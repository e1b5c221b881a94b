"""Weight penalties added to the loss: L1, L2 and elastic net.

A regularizer is called on the model (or its parameters) and returns a scalar Tensor:
``total = loss + reg(model)``. By default it penalises weights only: parameters whose
``role`` is ``"bias"`` are skipped unless ``include_bias=True``, and normalisation parameters
(``role == "norm"``, e.g. BatchNorm γ and β) are always skipped. ``layers=[...]`` restricts
the penalty to parameters of the named layers (a name matches any component of the dotted
parameter key, e.g. ``"hidden"`` matches ``"hidden.weight"`` and ``"block.hidden.weight"``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar

from pydantic import Field

from mathflow.autodiff.tensor import Tensor
from mathflow.backend import get_backend
from mathflow.component import Component, Flag
from mathflow.constraints import NonNegativeFloat
from mathflow.errors import MathflowError
from mathflow.functional.arithmetic import abs as _abs
from mathflow.functional.reduce import sum as _sum
from mathflow.registry import Registry

#: Every regularizer by the name a pipeline uses; its config is its constructor.
REGULARIZERS: Registry[type[Regularizer]] = Registry("regularizer", config_base=Component)

#: The names of the layers whose parameters a regularizer penalises (None: every layer).
Layers = list[str] | None
#: The strength λ of a one-term penalty; pipelines write it ``lambda``.
Lambda = Annotated[NonNegativeFloat, Field(alias="lambda"), "strength λ of the penalty"]


class Regularizer:
    """Base class: selects the parameters, sums the per-parameter penalty.

    A subclass's constructor is its config (see :mod:`mathflow.component`): it re-lists
    ``include_bias`` and ``layers``, whose descriptions come from here.
    """

    registry_name: ClassVar[str] = "regularizer"
    config_model: ClassVar[type[Component]]
    #: True when the penalty drives weights to exactly zero (L1-like): runs then log the sparsity.
    sparsifies: ClassVar[bool] = False

    def __init__(
        self,
        include_bias: Annotated[Flag, "penalise biases too (normalisation parameters never)"] = False,
        layers: Annotated[Layers, "only parameters of these named layers"] = None,
    ):
        self.include_bias = bool(include_bias)
        self.layers = list(layers) if layers is not None else None

    # ------------------------------------------------------------------ selection
    def select(self, params: Any) -> list[tuple[str, Tensor]]:
        """The (name, parameter) pairs this regularizer penalises.

        ``params`` is a layer/model (anything with ``named_parameters``), a dict name →
        parameter, an iterable of (name, parameter) pairs or an iterable of parameters.
        """
        pairs = _named(params)
        if self.layers is not None:
            if any(name is None for name, _ in pairs):
                raise MathflowError(
                    f"{self.registry_name}: restricting to layers {self.layers} needs named parameters",
                    suggestion="pass the model or model.named_parameters()",
                )
            wanted = set(self.layers)
            found = {part for name, _ in pairs for part in name.split(".")[:-1]}
            unknown = sorted(wanted - found)
            if unknown:
                raise MathflowError(f"{self.registry_name}: no parameters belong to layers {unknown}")
            pairs = [(n, p) for n, p in pairs if wanted.intersection(n.split(".")[:-1])]
        selected = []
        for name, p in pairs:
            role = getattr(p, "role", "weight")
            if role == "norm" or (role == "bias" and not self.include_bias):
                continue
            selected.append((name, p))
        return selected

    # ------------------------------------------------------------------ penalty
    def penalty(self, w: Tensor) -> Tensor:
        """The penalty of one parameter tensor."""
        raise NotImplementedError

    def __call__(self, params: Any) -> Tensor:
        total: Tensor | None = None
        for _, p in self.select(params):
            term = self.penalty(p)
            total = term if total is None else total + term
        if total is None:
            backend = get_backend()
            return Tensor._wrap(backend.xp.zeros((), dtype=backend.dtype))
        return total

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        return {
            name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters if name != "self"
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _named(params: Any) -> list[tuple[str | None, Tensor]]:
    if hasattr(params, "named_parameters"):
        return list(params.named_parameters())
    if isinstance(params, dict):
        return list(params.items())
    if isinstance(params, Tensor):
        return [(None, params)]
    items: Iterable[Any] = params
    pairs: list[tuple[str | None, Tensor]] = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Tensor):
            pairs.append((item[0], item[1]))
        elif isinstance(item, Tensor):
            pairs.append((None, item))
        else:
            raise MathflowError(f"regularizer: expected parameters, got {type(item).__name__}")
    return pairs


@REGULARIZERS.register("l1")
class L1(Regularizer):
    """L1 penalty R(w) = λ Σᵢ |wᵢ|; ∂R/∂w = λ sign(w)."""

    sparsifies = True

    def __init__(self, lam: Lambda = 0.01, include_bias: Flag = False, layers: Layers = None):
        super().__init__(include_bias, layers)
        self.lam = float(lam)

    def penalty(self, w: Tensor) -> Tensor:
        return _sum(_abs(w)) * self.lam


@REGULARIZERS.register("l2")
class L2(Regularizer):
    """L2 penalty R(w) = λ Σᵢ wᵢ² (no ½); ∂R/∂w = 2λ w."""

    def __init__(self, lam: Lambda = 0.01, include_bias: Flag = False, layers: Layers = None):
        super().__init__(include_bias, layers)
        self.lam = float(lam)

    def penalty(self, w: Tensor) -> Tensor:
        return _sum(w * w) * self.lam


@REGULARIZERS.register("elastic_net")
class ElasticNet(Regularizer):
    """Elastic net R(w) = λ₁ Σᵢ |wᵢ| + λ₂ Σᵢ wᵢ² (L1 and L2 together)."""

    sparsifies = True

    def __init__(
        self,
        l1: Annotated[NonNegativeFloat, "strength λ₁ of the L1 term"] = 0.01,
        l2: Annotated[NonNegativeFloat, "strength λ₂ of the L2 term"] = 0.01,
        include_bias: Flag = False,
        layers: Layers = None,
    ):
        super().__init__(include_bias, layers)
        self.l1 = float(l1)
        self.l2 = float(l2)

    def penalty(self, w: Tensor) -> Tensor:
        return _sum(_abs(w)) * self.l1 + _sum(w * w) * self.l2


__all__ = ["REGULARIZERS", "ElasticNet", "L1", "L2", "Regularizer"]
