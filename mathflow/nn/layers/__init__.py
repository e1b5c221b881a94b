"""The layer library, one module per group; importing it registers every layer."""

from mathflow.nn.layers.activations import (
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
from mathflow.nn.layers.container import Sequential
from mathflow.nn.layers.conv import Conv2D
from mathflow.nn.layers.dense import Dense
from mathflow.nn.layers.dropout import Dropout
from mathflow.nn.layers.merge import Add, Concat
from mathflow.nn.layers.normalization import BatchNorm
from mathflow.nn.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from mathflow.nn.layers.shape import Flatten, Reshape

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
