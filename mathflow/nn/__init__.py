"""Neural-network building blocks: parameters, layers, initialisers, losses, regularizers.

import mathflow.nn as nn
model = nn.Sequential(nn.Dense(16, activation="relu"), nn.Dense(1, activation="sigmoid"))
y = model(x)                       # parameters are created from x's per-sample shape
loss = nn.BinaryCrossEntropy()(y, t) + nn.L2(1e-4)(model)
"""

from mathflow.nn import init
from mathflow.nn.init import INITIALIZERS
from mathflow.nn.layer import ACTIVATIONS, LAYERS, Layer, layer_from_config, layer_to_config
from mathflow.nn.losses import LOSSES, Loss, get_loss
from mathflow.nn.parameter import Parameter
from mathflow.nn.regularizers import REGULARIZERS, Regularizer

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LAYERS",
    "LOSSES",
    "REGULARIZERS",
    "Layer",
    "Loss",
    "Parameter",
    "Regularizer",
    "get_loss",
    "init",
    "layer_from_config",
    "layer_to_config",
]


def _components() -> dict[str, object]:
    """Every registered layer, loss and regularizer by its Python name."""
    return {n: c for registry in (LAYERS, LOSSES, REGULARIZERS) for n, c in registry.public_names().items()}


def __getattr__(name: str) -> object:
    """Any registered layer, loss or regularizer by its class name (``nn.Dense``, ``nn.MSE``), so
    a component added as a new module is public without being listed anywhere."""
    try:
        return _components()[name]
    except KeyError:
        raise AttributeError(f"module 'mathflow.nn' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *_components()})
