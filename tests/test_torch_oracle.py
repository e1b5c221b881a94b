"""PyTorch as an oracle: values, gradients and Hessian-vector products in float64.

Each program is written once against a small adapter, so the same expression is built with
mathflow and with torch. Random programs are drawn from a seeded generator; every node keeps
its values in a safe range (positive bases, denominators ≥ 1) so both libraries stay finite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

RTOL = 1e-6
ATOL = 1e-9


class MathflowOps:
    """The operations a program may use, on mathflow Tensors."""

    sin = staticmethod(F.sin)
    cos = staticmethod(F.cos)
    tan = staticmethod(F.tan)
    exp = staticmethod(F.exp)
    log = staticmethod(F.log)
    log1p = staticmethod(F.log1p)
    sqrt = staticmethod(F.sqrt)
    abs = staticmethod(F.abs)
    square = staticmethod(F.square)
    maximum = staticmethod(F.maximum)
    minimum = staticmethod(F.minimum)
    matmul = staticmethod(F.matmul)
    dot = staticmethod(F.dot)
    outer = staticmethod(F.outer)

    @staticmethod
    def where(cond, a, b):
        return F.where(cond, a, b)

    @staticmethod
    def clip(x, low, high):
        return F.clip(x, low, high)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return F.sum(x, axis, keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return F.mean(x, axis, keepdims)

    @staticmethod
    def max(x, axis, keepdims=False):
        return F.max(x, axis, keepdims)

    @staticmethod
    def min(x, axis, keepdims=False):
        return F.min(x, axis, keepdims)

    @staticmethod
    def transpose(x):
        return F.transpose(x)

    @staticmethod
    def swapaxes(x, a, b):
        return F.swapaxes(x, a, b)

    @staticmethod
    def reshape(x, shape):
        return F.reshape(x, shape)

    @staticmethod
    def broadcast_to(x, shape):
        return F.broadcast_to(x, shape)

    @staticmethod
    def concat(xs, axis):
        return F.concat(xs, axis)

    @staticmethod
    def stack(xs, axis):
        return F.stack(xs, axis)

    @staticmethod
    def flatten(x):
        return F.flatten(x, 0)

    @staticmethod
    def const(array):
        return mf.tensor(np.asarray(array, dtype=np.float64))


class TorchOps:
    """The same operations on torch tensors."""

    sin = staticmethod(torch.sin)
    cos = staticmethod(torch.cos)
    tan = staticmethod(torch.tan)
    exp = staticmethod(torch.exp)
    log = staticmethod(torch.log)
    log1p = staticmethod(torch.log1p)
    sqrt = staticmethod(torch.sqrt)
    abs = staticmethod(torch.abs)
    square = staticmethod(torch.square)
    maximum = staticmethod(torch.maximum)
    minimum = staticmethod(torch.minimum)
    matmul = staticmethod(torch.matmul)
    dot = staticmethod(torch.dot)
    outer = staticmethod(torch.outer)

    @staticmethod
    def where(cond, a, b):
        return torch.where(cond, a, b)

    @staticmethod
    def clip(x, low, high):
        return torch.clamp(x, low, high)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return x.sum() if axis is None else x.sum(dim=axis, keepdim=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return x.mean() if axis is None else x.mean(dim=axis, keepdim=keepdims)

    @staticmethod
    def max(x, axis, keepdims=False):
        return torch.amax(x, dim=axis, keepdim=keepdims)

    @staticmethod
    def min(x, axis, keepdims=False):
        return torch.amin(x, dim=axis, keepdim=keepdims)

    @staticmethod
    def transpose(x):
        return x.T

    @staticmethod
    def swapaxes(x, a, b):
        return torch.swapaxes(x, a, b)

    @staticmethod
    def reshape(x, shape):
        return torch.reshape(x, shape)

    @staticmethod
    def broadcast_to(x, shape):
        return torch.broadcast_to(x, shape)

    @staticmethod
    def concat(xs, axis):
        return torch.cat(xs, dim=axis)

    @staticmethod
    def stack(xs, axis):
        return torch.stack(xs, dim=axis)

    @staticmethod
    def flatten(x):
        return torch.flatten(x)

    @staticmethod
    def const(array):
        return torch.tensor(np.asarray(array, dtype=np.float64))


# --------------------------------------------------------------------------- running a program on both
def _run_mathflow(program: Callable, arrays: list[np.ndarray], v: np.ndarray):
    inputs = [mf.tensor(a, requires_grad=True) for a in arrays]
    loss = program(MathflowOps, *inputs)
    loss.backward()
    grads = [np.zeros_like(a) if t.grad is None else t.grad.numpy() for t, a in zip(inputs, arrays)]
    hv = mf.hvp(lambda *xs: program(MathflowOps, *xs))(*arrays, v).numpy()
    return loss.item(), grads, hv


def _run_torch(program: Callable, arrays: list[np.ndarray], v: np.ndarray):
    inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    loss = program(TorchOps, *inputs)
    grads = torch.autograd.grad(loss, inputs, create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, inputs)]
    hv = None
    if grads[0].requires_grad:  # otherwise the gradient is constant and the Hessian zero
        (hv,) = torch.autograd.grad((grads[0] * torch.tensor(v)).sum(), inputs[0], allow_unused=True)
    hv = np.zeros_like(v) if hv is None else hv.detach().numpy()
    return loss.item(), [g.detach().numpy() for g in grads], hv


def _compare(program: Callable, arrays: list[np.ndarray], seed: int) -> None:
    v = np.random.default_rng(seed + 1000).standard_normal(arrays[0].shape)
    value, grads, hv = _run_mathflow(program, arrays, v)
    t_value, t_grads, t_hv = _run_torch(program, arrays, v)
    np.testing.assert_allclose(value, t_value, rtol=RTOL, atol=ATOL, err_msg="values differ")
    for i, (g, tg) in enumerate(zip(grads, t_grads)):
        assert g.shape == tg.shape
        np.testing.assert_allclose(g, tg, rtol=RTOL, atol=ATOL, err_msg=f"gradient of input {i} differs")
    np.testing.assert_allclose(hv, t_hv, rtol=RTOL, atol=ATOL, err_msg="Hessian-vector products differ")


# --------------------------------------------------------------------------- one program per operation
def _weighted(L, out, seed=3):
    """A scalar that depends on every element of ``out`` differently."""
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, tuple(out.shape))
    return L.sum(out * L.const(weights))


SINGLE_OPS: dict[str, Callable] = {
    "add": lambda L, a, b: _weighted(L, (a + b) * a),
    "add_broadcast": lambda L, a, b: _weighted(L, (a + b[0]) ** 2),
    "sub": lambda L, a, b: _weighted(L, (a - b) * b),
    "mul": lambda L, a, b: _weighted(L, a * b * a),
    "div": lambda L, a, b: _weighted(L, a / (b * b + 1.0)),
    "rdiv": lambda L, a, b: _weighted(L, 2.0 / (a * a + 1.0) - 1.0 * b),
    "pow_scalar": lambda L, a, b: _weighted(L, (a * a + 0.5) ** 1.5 + b**3),
    "pow_tensor": lambda L, a, b: _weighted(L, (a * a + 0.5) ** L.sin(b)),
    "neg": lambda L, a, b: _weighted(L, -(a * b)),
    "exp": lambda L, a, b: _weighted(L, L.exp(a * b)),
    "log": lambda L, a, b: _weighted(L, L.log(a * a + b * b + 0.1)),
    "log1p": lambda L, a, b: _weighted(L, L.log1p(a * a) * b),
    "sqrt": lambda L, a, b: _weighted(L, L.sqrt(a * a + 0.2) * b),
    "abs": lambda L, a, b: _weighted(L, L.abs(a) * a * b),
    "sin": lambda L, a, b: _weighted(L, L.sin(a * b)),
    "cos": lambda L, a, b: _weighted(L, L.cos(a + b * b)),
    "tan": lambda L, a, b: _weighted(L, L.tan(0.5 * L.sin(a)) * b),
    "square": lambda L, a, b: _weighted(L, L.square(a) * L.square(b)),
    "where": lambda L, a, b: _weighted(L, L.where(a > b, a * a, b * a)),
    "maximum": lambda L, a, b: _weighted(L, L.maximum(a, b) ** 2),
    "minimum": lambda L, a, b: _weighted(L, L.minimum(a * a, b) * a),
    "clip": lambda L, a, b: _weighted(L, L.clip(a, -0.5, 0.5) * a * b),
    "sum_axis": lambda L, a, b: _weighted(L, L.sum(a * a, 1) * L.sum(b, 1)),
    "sum_keepdims": lambda L, a, b: _weighted(L, a * L.sum(a * b, 0, True)),
    "mean": lambda L, a, b: _weighted(L, L.mean(a * b, 1, True) * a),
    "mean_all": lambda L, a, b: L.mean(a * a * b) * L.mean(a),
    "max_axis": lambda L, a, b: _weighted(L, L.max(a * b, 1) ** 2),
    "min_keepdims": lambda L, a, b: _weighted(L, a * L.min(a + b, 0, True)),
    "reshape": lambda L, a, b: _weighted(L, L.reshape(a * b, (4, 3)) ** 2),
    "transpose": lambda L, a, b: _weighted(L, L.transpose(a) * L.transpose(b * a)),
    "swapaxes": lambda L, a, b: _weighted(L, L.swapaxes(L.stack([a, b * a], 0), 0, 2)),
    "broadcast_to": lambda L, a, b: _weighted(L, L.broadcast_to(a * a, (2, 3, 4)) * b),
    "getitem": lambda L, a, b: _weighted(L, a[1:, ::2] * b[:2, 1::2] * a[0, 0]),
    "getitem_repeats": lambda L, a, b: _weighted(L, a[[0, 0, 2, 1]] ** 2 * b[0]),
    "getitem_mask": lambda L, a, b: _weighted(L, a[b > 0] ** 3),
    "concat": lambda L, a, b: _weighted(L, L.concat([a * a, b, a * b], 1)),
    "stack": lambda L, a, b: _weighted(L, L.stack([a, b, a * b], 1) ** 2),
    "flatten": lambda L, a, b: _weighted(L, L.flatten(a * b) * L.flatten(a)),
    "matmul_2d": lambda L, a, b: _weighted(L, L.matmul(a, L.transpose(b)) ** 2),
    "matmul_vec": lambda L, a, b: _weighted(L, L.matmul(a * b, b[0]) * L.matmul(a[0], L.transpose(a))),
    "matmul_batched": lambda L, a, b: _weighted(L, L.matmul(L.stack([a, b], 0), L.transpose(a * b)) ** 2),
    "dot": lambda L, a, b: L.dot(a[0], b[1]) * L.dot(a[1], a[2]),
    "outer": lambda L, a, b: _weighted(L, L.outer(a[0], b[1]) * L.outer(a[2], a[1])),
}


@pytest.mark.parametrize("name", sorted(SINGLE_OPS))
def test_single_operation_matches_torch(name):
    rng = np.random.default_rng(7)
    a = rng.uniform(-1.0, 1.0, (3, 4))
    b = rng.uniform(-1.0, 1.0, (3, 4))
    _compare(SINGLE_OPS[name], [a, b], seed=7)


# --------------------------------------------------------------------------- random compositions
# every node has shape (3, 4); each step maps one or two nodes to a new one
UNARY_STEPS: dict[str, Callable] = {
    "sin": lambda L, x: L.sin(x),
    "cos": lambda L, x: L.cos(x),
    "exp_sin": lambda L, x: L.exp(L.sin(x)),
    "log_sq": lambda L, x: L.log(x * x + 1.0),
    "log1p_sq": lambda L, x: L.log1p(L.square(x)),
    "sqrt_sq": lambda L, x: L.sqrt(x * x + 1.0),
    "tan_small": lambda L, x: L.tan(L.sin(x) * 0.5),
    "pow": lambda L, x: (x * x + 1.0) ** 0.75,
    "reciprocal": lambda L, x: 1.0 / (x * x + 1.0),
    "neg_abs": lambda L, x: -L.abs(x) * 0.5 + x,
    "clip": lambda L, x: L.clip(x, -0.8, 0.8) * x,
    "center_rows": lambda L, x: x - L.mean(x, 1, True),
    "sub_col_max": lambda L, x: x - L.max(x, 0, True),
    "sum_scale": lambda L, x: x * L.sum(L.sin(x), 1, True) * 0.2,
    "gram": lambda L, x: L.matmul(L.matmul(x, L.transpose(x)), x) * 0.1,
    "rows_repeat": lambda L, x: x[[2, 0, 0]],
    "reshape_flip": lambda L, x: L.reshape(L.transpose(x), (3, 4)),
    "min_rows": lambda L, x: L.broadcast_to(L.min(x, 1, True), (3, 4)) * x,
}
BINARY_STEPS: dict[str, Callable] = {
    "add": lambda L, x, y: x + y,
    "sub": lambda L, x, y: x - y * 0.5,
    "mul": lambda L, x, y: x * y,
    "div": lambda L, x, y: x / (y * y + 1.0),
    "pow": lambda L, x, y: (x * x + 0.5) ** L.sin(y),
    "maximum": lambda L, x, y: L.maximum(x, y),
    "minimum": lambda L, x, y: L.minimum(x, y),
    "where": lambda L, x, y: L.where(x > y, x * y, y),
    "mix_columns": lambda L, x, y: L.concat([x[:, :2], y[:, 2:]], 1),
    "stack_mean": lambda L, x, y: L.mean(L.stack([x, y], 0), 0),
    "matmul": lambda L, x, y: L.matmul(x, L.matmul(L.transpose(y), y)) * 0.25,
}


def _random_program(seed: int, steps: int = 6) -> Callable:
    rng = np.random.default_rng(seed)
    unary, binary = sorted(UNARY_STEPS), sorted(BINARY_STEPS)
    plan = []
    pool = 2  # the nodes so far: the two inputs, then one per step
    for _ in range(steps):
        if rng.random() < 0.5:
            plan.append((UNARY_STEPS[unary[rng.integers(len(unary))]], (int(rng.integers(pool)),)))
        else:
            i, j = rng.choice(pool, size=2, replace=False)
            plan.append((BINARY_STEPS[binary[rng.integers(len(binary))]], (int(i), int(j))))
        pool += 1
    weights = rng.uniform(-1.0, 1.0, (3, 4))

    def program(L: Any, a: Any, b: Any) -> Any:
        nodes = [a, b]
        for step, args in plan:
            nodes.append(step(L, *[nodes[k] for k in args]))
        return L.sum(nodes[-1] * L.const(weights)) + L.sum(nodes[-2] * nodes[-3]) * 0.1

    program.plan = [(step, args) for step, args in plan]  # type: ignore[attr-defined]
    return program


@pytest.mark.parametrize("seed", range(40))
def test_random_composition_matches_torch(seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1.5, 1.5, (3, 4))
    b = rng.uniform(-1.5, 1.5, (3, 4))
    _compare(_random_program(seed), [a, b], seed)


@pytest.mark.parametrize("seed", range(5))
def test_full_hessian_matches_torch(seed):
    program = _random_program(100 + seed, steps=4)
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1.0, 1.0, (3, 4))
    b = rng.uniform(-1.0, 1.0, (3, 4))
    h = mf.hessian(lambda x: program(MathflowOps, x, mf.tensor(b)))(a).numpy()
    t_h = torch.autograd.functional.hessian(
        lambda x: program(TorchOps, x, torch.tensor(b)), torch.tensor(a, dtype=torch.float64)
    ).numpy()
    assert h.shape == (3, 4, 3, 4)
    np.testing.assert_allclose(h, t_h, rtol=RTOL, atol=ATOL)
