"""Neural-network building blocks: parameters, layers, initialisers, losses, regularizers."""

from mathflow.nn.parameter import Parameter

__all__ = ["Parameter"]
