"""mathflow: declarative ML experiments on a differentiable tensor engine (NumPy or CuPy).

import mathflow as mf
import mathflow.functional as F

x = mf.tensor([1.0, 2.0], requires_grad=True)
y = (x ** 2).sum()
y.backward()          # x.grad == [2, 4]
"""

from mathflow import functional
from mathflow.autodiff.engine import grad as autograd
from mathflow.autodiff.function import Function
from mathflow.autodiff.gradcheck import gradcheck, gradgradcheck
from mathflow.autodiff.mode import checked, enable_grad, is_checked, is_grad_enabled, no_grad, set_grad_enabled
from mathflow.autodiff.tensor import Tensor, as_tensor, ones, tensor, zeros
from mathflow.autodiff.transforms import TaylorPolynomial, derivatives, grad, hessian, hvp, jacobian, taylor
from mathflow.backend import Backend, default_dtype, get_backend, gpu_available, set_backend, set_default_dtype, using
from mathflow.errors import DomainError, GradcheckError, GradError, LinAlgError, MathflowError, ShapeError

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "DomainError",
    "Function",
    "GradError",
    "GradcheckError",
    "LinAlgError",
    "MathflowError",
    "ShapeError",
    "TaylorPolynomial",
    "Tensor",
    "__version__",
    "as_tensor",
    "autograd",
    "checked",
    "default_dtype",
    "derivatives",
    "enable_grad",
    "functional",
    "get_backend",
    "gpu_available",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "hvp",
    "is_checked",
    "is_grad_enabled",
    "jacobian",
    "no_grad",
    "ones",
    "set_backend",
    "set_default_dtype",
    "set_grad_enabled",
    "taylor",
    "tensor",
    "using",
    "zeros",
]
