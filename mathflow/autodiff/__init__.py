"""Reverse-mode automatic differentiation with support for higher derivatives."""

from mathflow.autodiff.engine import grad as autograd
from mathflow.autodiff.function import Function
from mathflow.autodiff.mode import checked, enable_grad, is_checked, is_grad_enabled, no_grad, set_grad_enabled
from mathflow.autodiff.tensor import Tensor, as_tensor, ones, tensor, zeros

__all__ = [
    "Function",
    "Tensor",
    "as_tensor",
    "autograd",
    "checked",
    "enable_grad",
    "is_checked",
    "is_grad_enabled",
    "no_grad",
    "ones",
    "set_grad_enabled",
    "tensor",
    "zeros",
]
