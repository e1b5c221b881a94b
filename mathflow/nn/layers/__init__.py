"""The layer library: one module per layer (or small group of layers).

Every module of this package is imported here, which registers its layers in
:data:`mathflow.nn.LAYERS`; a new layer is a new module, and nothing else names it.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from mathflow.nn.layers.activations import (  # noqa: E402
    ELU,
    GELU,
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from mathflow.nn.layers.container import Sequential  # noqa: E402
from mathflow.nn.layers.conv import Conv2D  # noqa: E402
from mathflow.nn.layers.dense import Dense  # noqa: E402
from mathflow.nn.layers.dropout import Dropout  # noqa: E402
from mathflow.nn.layers.merge import Add, Concat  # noqa: E402
from mathflow.nn.layers.normalization import BatchNorm  # noqa: E402
from mathflow.nn.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D  # noqa: E402
from mathflow.nn.layers.shape import Flatten, Reshape  # noqa: E402

__all__ = [
    "ELU",
    "GELU",
    "Activation",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "Concat",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "Identity",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Reshape",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
]
