"""Regularizer components of the ``regularizers`` section (mirrors :data:`mathflow.nn.REGULARIZERS`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mathflow.spec.base import Component, Flag, catalog, component_union
from mathflow.spec.types import NonNegativeFloat


class RegularizerSpec(Component):
    """Base: which parameters are penalised (weights only unless ``include_bias``; ``layers`` by name)."""

    include_bias: Flag = False
    layers: list[str] | None = Field(None, description="only parameters of these named layers")


class L1(RegularizerSpec):
    """R(w) = λ Σ |w|."""

    type: Literal["l1"] = "l1"
    lam: NonNegativeFloat = Field(0.01, alias="lambda")


class L2(RegularizerSpec):
    """R(w) = λ Σ w²."""

    type: Literal["l2"] = "l2"
    lam: NonNegativeFloat = Field(0.01, alias="lambda")


class ElasticNet(RegularizerSpec):
    """R(w) = λ₁ Σ |w| + λ₂ Σ w²."""

    type: Literal["elastic_net"] = "elastic_net"
    l1: NonNegativeFloat = 0.01
    l2: NonNegativeFloat = 0.01


REGULARIZER_MODELS: list[type[RegularizerSpec]] = [L1, L2, ElasticNet]
REGULARIZER_SPECS = catalog(REGULARIZER_MODELS)
RegularizerEntry = component_union("regularizer", REGULARIZER_MODELS)
