"""Differentiable primitives, grouped by mathematics; ``import mathflow.functional as F``.

Every function takes Tensors (or array-likes) and returns Tensors whose backward is built
from differentiable operations, so first and second derivatives flow through all of them.
"""

from mathflow.functional.arithmetic import (
    abs,
    add,
    clip,
    cos,
    div,
    exp,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sign,
    sin,
    sqrt,
    square,
    sub,
    tan,
    where,
)
from mathflow.functional.conv import avg_pool2d, conv2d, max_pool2d
from mathflow.functional.linalg import det, eig, eigh, inv, norm, svd, trace
from mathflow.functional.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    hinge,
    huber,
    mae,
    mse,
)
from mathflow.functional.nn import (
    dropout,
    elu,
    gelu,
    leaky_relu,
    linear,
    linear_relu,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from mathflow.functional.products import dot, matmul, outer
from mathflow.functional.reduce import max, mean, min, sum
from mathflow.functional.shape import (
    astype,
    broadcast_to,
    concat,
    flatten,
    getitem,
    reshape,
    stack,
    sum_to,
    swapaxes,
    transpose,
)

__all__ = [
    name
    for name in dir()
    if not name.startswith("_")
    and name not in {"arithmetic", "conv", "linalg", "losses", "nn", "products", "reduce", "shape"}
]
