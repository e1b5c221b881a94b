"""Function transforms built on double backpropagation: grad, jacobian, hessian, hvp, taylor.

Each transform returns a new function whose result stays on the graph, so transforms
compose: ``hessian(f) = jacobian(grad(f))`` and a third derivative is ``jacobian(hessian(f))``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mathflow.autodiff import mode
from mathflow.autodiff.engine import grad as autograd
from mathflow.autodiff.tensor import Tensor
from mathflow.backend import default_dtype
from mathflow.errors import GradError

Fn = Callable[..., Any]


def _argnums(argnums: int | Sequence[int], count: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not -count <= n < count:
            raise GradError(f"argnums {n} is out of range for a function called with {count} arguments")
    return tuple(n % count for n in nums)


def _differentiable(value: Any) -> Tensor:
    """``value`` as a Tensor that records operations, keeping any outer graph it belongs to."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            return value
        if value.dtype.kind != "f":
            return Tensor(value.data.astype(default_dtype()), requires_grad=True)
        return Tensor._wrap(value.data, requires_grad=True)
    return Tensor(value, requires_grad=True)


def _call(f: Fn, args: Sequence[Any], nums: tuple[int, ...]) -> tuple[list[Any], Any]:
    args = list(args)
    for n in nums:
        args[n] = _differentiable(args[n])
    with mode.enable_grad():
        out = f(*args)
    if not isinstance(out, Tensor):
        raise GradError(f"the function must return a Tensor, got {type(out).__name__}")
    return args, out


def _zeros_for(like: Tensor) -> Tensor:
    return Tensor._wrap(like.xp.zeros_like(like.data))


def _grads(out: Tensor, inputs: list[Tensor], grad_output: Any = None, retain: bool = False) -> list[Tensor]:
    if not out.requires_grad:  # the output does not depend on the inputs at all
        return [_zeros_for(t) for t in inputs]
    create = mode.is_grad_enabled()
    grads = autograd(out, inputs, grad_output, create_graph=create, retain_graph=retain or create, allow_unused=True)
    return [g if g is not None else _zeros_for(t) for g, t in zip(grads, inputs)]


def grad(f: Fn, argnums: int | Sequence[int] = 0) -> Fn:
    """∇f: a function returning ∂f/∂x for the argument(s) ``argnums`` of a scalar ``f``."""

    def gradient(*args: Any) -> Any:
        nums = _argnums(argnums, len(args))
        args, out = _call(f, args, nums)
        if out.size != 1:
            raise GradError(f"grad needs a scalar function, got output of shape {out.shape}", suggestion="use jacobian")
        grads = _grads(out, [args[n] for n in nums])
        return grads[0] if isinstance(argnums, int) else tuple(grads)

    return gradient


def jacobian(f: Fn, argnums: int = 0) -> Fn:
    """J f: a function returning ∂fᵢ/∂xⱼ with shape ``f(x).shape + x.shape``."""

    def jac(*args: Any) -> Tensor:
        from mathflow.functional import reshape, stack

        (num,) = _argnums(argnums, len(args))
        args, out = _call(f, args, (num,))
        x = args[num]
        rows = []
        for i in range(out.size):
            seed = out.xp.zeros(out.size, dtype=out.dtype)
            seed[i] = 1
            rows.append(_grads(out, [x], seed.reshape(out.data.shape), retain=True)[0])
        if not rows:
            return Tensor._wrap(x.xp.zeros(out.shape + x.shape, dtype=x.dtype))
        return reshape(stack(rows), out.shape + x.shape)

    return jac


def hessian(f: Fn, argnums: int = 0) -> Fn:
    """H f: the matrix of second partial derivatives ∂²f/∂xᵢ∂xⱼ of a scalar ``f``."""
    return jacobian(grad(f, argnums), argnums)


def hvp(f: Fn, argnums: int = 0) -> Fn:
    """(x, v) ↦ H(x)·v, the Hessian-vector product, without forming H (two backward passes)."""

    def product(*args: Any) -> Tensor:
        *inputs, v = args
        (num,) = _argnums(argnums, len(inputs))
        inputs[num] = _differentiable(inputs[num])
        g = grad(f, num)(*inputs)
        v_t = v if isinstance(v, Tensor) else Tensor(v, dtype=g.dtype)
        if v_t.shape != g.shape:
            raise GradError(f"hvp: vector of shape {v_t.shape} does not match the input of shape {g.shape}")
        with mode.enable_grad():
            s = (g * v_t).sum()
        return _grads(s, [inputs[num]])[0]

    return product


def derivatives(f: Fn, a: Any, order: int) -> list[Tensor]:
    """[f(a), ∇f(a), ∇²f(a), …] up to ``order``: the k-th entry has k extra axes of a's shape."""
    if order < 0:
        raise GradError(f"order must be non-negative, got {order}")
    point = a if isinstance(a, Tensor) else Tensor(a, dtype=np.float64)
    results = []
    current: Fn = f
    for k in range(order + 1):
        with mode.enable_grad():
            results.append(current(point))
        current = grad(f) if k == 0 else jacobian(current)
    return [r.detach() for r in results]


class TaylorPolynomial:
    """p(x) = Σₖ (1/k!) Dᵏf(a)[x − a, …, x − a], the order-n Taylor polynomial of f at a."""

    def __init__(self, center: Tensor, terms: list[Tensor]):
        self.center = center
        self.terms = terms
        self.order = len(terms) - 1

    def __call__(self, x: Any) -> Tensor:
        from mathflow.functional import matmul, reshape

        xt = x if isinstance(x, Tensor) else Tensor(x, dtype=self.center.dtype)
        h = xt - self.center
        n = self.center.size
        flat = reshape(h, (-1, n)) if self.center.ndim else reshape(h, (-1, 1))
        total = None
        power = None  # (batch, n, n, ..., n) tensor product h ⊗ … ⊗ h
        for k, term in enumerate(self.terms):
            coefficient = reshape(term, (-1,)) * (1.0 / math.factorial(k))
            if k == 0:
                value = reshape(coefficient, (1,)) + flat[:, 0] * 0.0
            else:
                if power is None:
                    power = flat
                else:
                    power = reshape(
                        reshape(power, (power.shape[0], -1, 1)) * reshape(flat, (flat.shape[0], 1, n)),
                        (flat.shape[0], -1),
                    )
                value = matmul(power, coefficient)
            total = value if total is None else total + value
        assert total is not None
        batch_shape = xt.shape if not self.center.ndim else xt.shape[:-1]
        return reshape(total, batch_shape)

    def coefficients(self) -> list[np.ndarray]:
        """The derivative tensors Dᵏf(a) for k = 0…order (divide by k! for coefficients)."""
        return [t.numpy() for t in self.terms]

    def to_string(self, names: Sequence[str] | None = None, digits: int = 6) -> str:
        """The polynomial written out, e.g. ``1 + x + 0.5*x**2`` (monomials in x − a)."""
        n = max(self.center.size, 1)
        names = list(names) if names is not None else (["x"] if not self.center.ndim else [f"x{i}" for i in range(n)])
        center = self.center.numpy().reshape(-1)
        variables = [name if abs(c) < 1e-15 else f"({name} - {c:.{digits}g})" for name, c in zip(names, center)]
        pieces = []
        for k, term in enumerate(self.terms):
            d = term.numpy().reshape((n,) * k) if k else term.numpy().reshape(())
            for combo in itertools.combinations_with_replacement(range(n), k):
                counts = [combo.count(i) for i in range(n)]
                multinomial = math.factorial(k) / math.prod(math.factorial(c) for c in counts)
                coefficient = float(d[combo] if k else d) * multinomial / math.factorial(k)
                if abs(coefficient) < 1e-12:
                    continue
                monomial = "*".join(variables[i] + (f"**{c}" if c > 1 else "") for i, c in enumerate(counts) if c)
                number = f"{coefficient:.{digits}g}"
                if not monomial:
                    pieces.append(number)
                elif number == "1":
                    pieces.append(monomial)
                elif number == "-1":
                    pieces.append(f"-{monomial}")
                else:
                    pieces.append(f"{number}*{monomial}")
        text = " + ".join(pieces) if pieces else "0"
        return text.replace("+ -", "- ")

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"TaylorPolynomial(order={self.order}, {self.to_string()})"


def taylor(f: Fn, a: Any, order: int) -> TaylorPolynomial:
    """The Taylor polynomial of ``f`` around ``a`` up to ``order``, as a callable.

    f(x) ≈ f(a) + f′(a)(x − a) + f″(a)/2! (x − a)² + … ; for vector ``a`` the k-th term is
    the k-th derivative tensor contracted k times with (x − a), divided by k!.
    """
    center = a if isinstance(a, Tensor) else Tensor(a, dtype=np.float64)
    return TaylorPolynomial(center.detach(), derivatives(f, center.detach(), order))
