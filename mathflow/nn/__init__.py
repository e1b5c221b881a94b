"""Neural-network building blocks: parameters, layers, initialisers, losses, regularizers.

import mathflow.nn as nn
model = nn.Sequential(nn.Dense(16, activation="relu"), nn.Dense(1, activation="sigmoid"))
y = model(x)                       # parameters are created from x's per-sample shape
loss = nn.BinaryCrossEntropy()(y, t) + nn.L2(1e-4)(model)
"""

from mathflow.nn import init
from mathflow.nn.init import INITIALIZERS
from mathflow.nn.layer import ACTIVATIONS, LAYERS, Layer, layer_from_config, layer_to_config
from mathflow.nn.layers import (
    ELU,
    GELU,
    Add,
    AvgPool2D,
    BatchNorm,
    Concat,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Identity,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Reshape,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from mathflow.nn.losses import LOSSES, MAE, MSE, BinaryCrossEntropy, CrossEntropy, Hinge, Huber, Loss, get_loss
from mathflow.nn.parameter import Parameter
from mathflow.nn.regularizers import L1, L2, REGULARIZERS, ElasticNet, Regularizer

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "INITIALIZERS",
    "L1",
    "L2",
    "LAYERS",
    "LOSSES",
    "MAE",
    "MSE",
    "REGULARIZERS",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "BinaryCrossEntropy",
    "Concat",
    "Conv2D",
    "CrossEntropy",
    "Dense",
    "Dropout",
    "ElasticNet",
    "Flatten",
    "GlobalAvgPool2D",
    "Hinge",
    "Huber",
    "Identity",
    "Layer",
    "LeakyReLU",
    "Loss",
    "MaxPool2D",
    "Parameter",
    "ReLU",
    "Regularizer",
    "Reshape",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "get_loss",
    "init",
    "layer_from_config",
    "layer_to_config",
]


def __getattr__(name: str) -> object:
    """Any registered layer, loss or regularizer by its class name (``nn.SiLU``), so a component
    added as a new module is public without being listed here."""
    for registry in (LAYERS, LOSSES, REGULARIZERS):
        for component in registry.components():
            if getattr(component, "__name__", None) == name:
                return component
    raise AttributeError(f"module 'mathflow.nn' has no attribute {name!r}")
