"""Linear algebra: inverse, determinant, trace, norms, eigh, SVD and eig.

Every operation accepts a matrix or a batch of matrices (leading axes are batch axes) on
NumPy or CuPy (through ``xp.linalg``), keeps float32 as float32, and raises
:class:`~mathflow.errors.LinAlgError` for matrices that are not square where squareness is
needed, or singular where an inverse is needed.

Backward passes are written with differentiable Tensor operations on the inputs and the
*outputs* of each node, so second derivatives (Hessians, Hessian-vector products) flow
through inverses, determinants and the decompositions. Notation: ``Aᵀ`` is the transpose of
the last two axes, ``ḡX`` the gradient ∂L/∂X, ``∘`` the element-wise product.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.backend import array_module, default_dtype
from mathflow.errors import GradError, LinAlgError, ShapeError
from mathflow.functional._util import kept_shape
from mathflow.functional.arithmetic import abs as _abs
from mathflow.functional.arithmetic import pow as _pow
from mathflow.functional.arithmetic import where
from mathflow.functional.products import matmul
from mathflow.functional.reduce import max as _max
from mathflow.functional.reduce import min as _min
from mathflow.functional.reduce import sum as _sum
from mathflow.functional.shape import getitem, reshape, swapaxes, transpose

# ------------------------------------------------------------------------- helpers


def _solver_errors(xp: Any) -> tuple[type[BaseException], ...]:
    """The exception types a backend's ``linalg`` raises for singular or failed factorisations."""
    errors: list[type[BaseException]] = [np.linalg.LinAlgError]
    other = getattr(getattr(xp, "linalg", None), "LinAlgError", None)
    if isinstance(other, type) and issubclass(other, BaseException) and other not in errors:
        errors.append(other)
    return tuple(errors)


def _float_input(x: Any) -> Tensor:
    """``x`` as a Tensor; integer or boolean data become the default float dtype."""
    t = as_tensor(x)
    if t.dtype.kind not in "fc":
        return Tensor._wrap(t.data.astype(default_dtype()))
    return t


def _require_square(op: str, x: Tensor) -> None:
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise LinAlgError(f"{op} needs a square matrix (or a batch of them in the last two axes), got shape {x.shape}")


def _require_matrix(op: str, x: Tensor) -> None:
    if x.ndim < 2:
        raise LinAlgError(f"{op} needs a matrix (or a batch of them in the last two axes), got shape {x.shape}")


def _mT(x: Tensor) -> Tensor:
    """The transpose of the last two axes."""
    return swapaxes(x, -1, -2)


def _row(v: Tensor) -> Tensor:
    """(…, k) → (…, 1, k): multiplying a matrix by it scales its columns (M diag(v))."""
    return reshape(v, v.shape[:-1] + (1, v.shape[-1]))


def _col(v: Tensor) -> Tensor:
    """(…, k) → (…, k, 1): multiplying a matrix by it scales its rows (diag(v) M)."""
    return reshape(v, v.shape[:-1] + (v.shape[-1], 1))


def _eye(n: int, like: Tensor) -> Tensor:
    return Tensor._wrap(like.xp.eye(n, dtype=like.dtype))


def _diag_embed(v: Tensor) -> Tensor:
    """(…, k) → (…, k, k) with v on the diagonal."""
    return _col(v) * _eye(v.shape[-1], v)


def _is_constant_zero(g: Tensor) -> bool:
    """True for a gradient that is all zeros and off the graph (an unused output)."""
    return not g.requires_grad and not bool(g.xp.any(g.data))


def _inverse_gaps(w: Tensor) -> Tensor:
    """F with Fᵢⱼ = 1/(wⱼ − wᵢ) for wᵢ ≠ wⱼ and 0 where they are equal (the diagonal included)."""
    diff = _row(w) - _col(w)
    mask = diff.data != 0
    safe = where(mask, diff, 1.0)
    return where(mask, 1.0 / safe, 0.0)


def _raw_cofactor(a: Any) -> Any:
    """The cofactor matrix adj(A)ᵀ = ∂det(A)/∂A, valid for singular A too.

    With A = U Σ Vᵀ: adj(A)ᵀ = det(U) det(V) · U diag(∏ⱼ≠ᵢ σⱼ) Vᵀ.
    """
    xp = array_module(a)
    u, s, vt = xp.linalg.svd(a)
    n = s.shape[-1]
    others = xp.where(xp.eye(n, dtype=bool), xp.ones((), dtype=s.dtype), s[..., None, :]).prod(axis=-1)
    sign = xp.linalg.det(u) * xp.linalg.det(vt)
    return (sign[..., None, None] * (u * others[..., None, :]) @ vt).astype(a.dtype, copy=False)


# ------------------------------------------------------------------------- inverse


class Inv(Function):
    """Y = A⁻¹; ∂L/∂A = −Yᵀ (∂L/∂Y) Yᵀ.

    With ``check`` the matrix is rejected as singular when the factorisation fails, the
    result is not finite, or the 1-norm condition number ‖A‖₁‖A⁻¹‖₁ reaches 1/ε of the dtype.
    """

    has_raw_backward = True

    def __init__(self, check: bool = True):
        self.check = check

    def forward(self, a: Any) -> Any:
        xp = array_module(a)
        shape = tuple(a.shape)
        try:
            y = xp.linalg.inv(a)
        except _solver_errors(xp):
            raise LinAlgError(f"inv: matrix of shape {shape} is singular") from None
        y = y.astype(a.dtype, copy=False)
        if a.size == 0:
            return y
        norm_a = xp.abs(a).sum(axis=-2).max(axis=-1)
        norm_y = xp.abs(y).sum(axis=-2).max(axis=-1)
        cond = norm_a * norm_y
        if self.check:
            bad = ~(cond * float(np.finfo(a.dtype).eps) < 1.0)
        else:
            bad = ~xp.isfinite(cond)
        if bool(bad.any()):
            if not bool(xp.isfinite(a).all()):
                raise LinAlgError(f"inv: matrix of shape {shape} contains inf or nan")
            where_bad = "" if a.ndim == 2 else f" (batch index {tuple(int(i) for i in np.argwhere(_host(bad))[0])})"
            raise LinAlgError(
                f"inv: matrix of shape {shape} is singular{where_bad}: condition number "
                f"{float(_host(cond[bad]).reshape(-1)[0]):.3g} is beyond {a.dtype} precision",
                suggestion="regularise it (A + λI) or solve a least-squares problem instead",
            )
        return y

    def backward(self, gy: Tensor) -> Tensor:
        yt = _mT(self.output())
        return -matmul(matmul(yt, gy), yt)

    def backward_raw(self, gy: Any) -> Any:
        yt = self.output().data.swapaxes(-1, -2)
        return -(yt @ gy @ yt)


def _host(array: Any) -> np.ndarray:
    from mathflow.backend import to_numpy

    return to_numpy(array)


def inv(a: Any) -> Tensor:
    """A⁻¹ with A A⁻¹ = I, for a square matrix or a batch of them.

    ∂L/∂A = −A⁻ᵀ (∂L/∂A⁻¹) A⁻ᵀ. Raises LinAlgError for non-square or singular matrices.
    """
    t = _float_input(a)
    _require_square("inv", t)
    return Inv(check=True)(t)


# ------------------------------------------------------------------------- determinant


class Det(Function):
    """d = det(A); ∂L/∂A = ḡ · d · A⁻ᵀ (the cofactor matrix scaled by ḡ).

    For an invertible A the gradient is built from A⁻¹ with differentiable operations, so
    second derivatives work. Where det(A) = 0 the gradient is the cofactor matrix adj(A)ᵀ,
    computed from an SVD as a constant: first derivatives are exact there, but second
    derivatives through a singular point are not recorded.
    """

    has_raw_backward = True

    def forward(self, a: Any) -> Any:
        xp = array_module(a)
        return xp.asarray(xp.linalg.det(a)).astype(a.dtype, copy=False)

    def _invertible(self) -> bool:
        return bool((self.output().data != 0).all())

    def backward(self, g: Tensor) -> Tensor:
        (a,) = self.inputs
        kept = g.shape + (1, 1)
        if self._invertible():
            try:
                a_inv = Inv(check=False)(a)
            except LinAlgError:
                pass
            else:
                return reshape(g * self.output(), kept) * _mT(a_inv)
        return reshape(g, kept) * Tensor._wrap(_raw_cofactor(a.data))

    def backward_raw(self, g: Any) -> Any:
        a = self.inputs[0].data
        d = self.output().data
        xp = array_module(a)
        if self._invertible():
            try:
                a_inv = xp.linalg.inv(a)
            except _solver_errors(xp):
                a_inv = None
            if a_inv is not None and bool(xp.isfinite(a_inv).all()):
                return (g * d)[..., None, None] * a_inv.swapaxes(-1, -2).astype(a.dtype, copy=False)
        return g[..., None, None] * _raw_cofactor(a)


def det(a: Any) -> Tensor:
    """det(A) for a square matrix or a batch of them (0 for singular matrices).

    ∂L/∂A = ḡ · det(A) · A⁻ᵀ = ḡ · adj(A)ᵀ; see :class:`Det` for the singular case.
    """
    t = _float_input(a)
    _require_square("det", t)
    return Det()(t)


# ------------------------------------------------------------------------- trace


class Trace(Function):
    """t = tr(A) = Σᵢ aᵢᵢ over the last two axes; ∂L/∂A = ḡ · I."""

    has_raw_backward = True

    def forward(self, a: Any) -> Any:
        self.n = a.shape[-1]
        return array_module(a).trace(a, axis1=-2, axis2=-1)

    def backward(self, g: Tensor) -> Tensor:
        return reshape(g, g.shape + (1, 1)) * _eye(self.n, g)

    def backward_raw(self, g: Any) -> Any:
        xp = array_module(g)
        return g[..., None, None] * xp.eye(self.n, dtype=g.dtype)


def trace(a: Any) -> Tensor:
    """tr(A) = Σᵢ aᵢᵢ for a square matrix or a batch of them; ∂L/∂A = ḡ · I."""
    t = as_tensor(a)
    _require_square("trace", t)
    return Trace()(t)


# ------------------------------------------------------------------------- norms


class L2Norm(Function):
    """y = √(Σ x²) over ``axes`` (kept as size 1); ∂L/∂x = ḡ ⊙ x / y, and 0 where y = 0."""

    has_raw_backward = True

    def __init__(self, axes: tuple[int, ...]):
        self.axes = axes

    def forward(self, x: Any) -> Any:
        return array_module(x).sqrt((x * x).sum(axis=self.axes, keepdims=True))

    def backward(self, g: Tensor) -> Tensor:
        y = self.output()
        safe = where(y.data == 0, 1.0, y)
        return g * self.inputs[0] / safe

    def backward_raw(self, g: Any) -> Any:
        y = self.output().data
        xp = array_module(y)
        safe = xp.where(y == 0, xp.ones((), dtype=y.dtype), y)
        return g * self.inputs[0].data / safe


_VECTOR_ORDS = "0, any other real p (|x|ᵖ summed, to the power 1/p), inf, -inf"
_MATRIX_ORDS = "'fro', 'nuc', 1, -1, 2, -2, inf, -inf"


def _ord_error(ord: Any, kind: str) -> LinAlgError:
    return LinAlgError(
        f"norm: unknown {kind} order ord={ord!r}",
        suggestion=f"vector norms take ord = {_VECTOR_ORDS}; matrix norms take ord = {_MATRIX_ORDS}",
    )


def _parse_ord(ord: Any) -> float | str | None:
    """``ord`` as None, 'fro', 'nuc' or a float (±inf included)."""
    if ord is None:
        return None
    if isinstance(ord, str):
        text = ord.strip().lower()
        if text in ("fro", "nuc"):
            return text
        if text in ("inf", "+inf", "infinity"):
            return math.inf
        if text in ("-inf", "-infinity"):
            return -math.inf
        raise _ord_error(ord, "norm")
    if isinstance(ord, numbers.Real) and not isinstance(ord, bool) and not math.isnan(float(ord)):
        return float(ord)
    raise _ord_error(ord, "norm")


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    items = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    if not items or any(not isinstance(a, numbers.Integral) or not -ndim <= a < ndim for a in items):
        raise ShapeError(f"norm: axis {axis!r} is out of range for a tensor with {ndim} dimensions")
    axes = tuple(int(a) % ndim for a in items)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"norm: axis {axis!r} repeats an axis")
    if len(axes) > 2:
        raise ShapeError(f"norm: axis {axis!r} names more than two axes", suggestion="reshape first")
    return axes


def _vector_norm(x: Tensor, ord: float | None, axes: tuple[int, ...]) -> Tensor:
    """The p-norm over ``axes``, returned with those axes kept as size 1."""
    if ord is None or ord == 2:
        return L2Norm(axes)(x)
    if ord == 1:
        return _sum(_abs(x), axes, keepdims=True)
    if ord == math.inf:
        return _max(_abs(x), axes, keepdims=True)
    if ord == -math.inf:
        return _min(_abs(x), axes, keepdims=True)
    if ord == 0:
        count = (x.data != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
        return Tensor._wrap(count)
    return _pow(_sum(_pow(_abs(x), ord), axes, keepdims=True), 1.0 / ord)


def _singular_values(x: Tensor, axes: tuple[int, int]) -> Tensor:
    """σ of the matrices spanned by ``axes`` (descending), batch axes first, in original order."""
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    moved = transpose(x, rest + axes) if rest + axes != tuple(range(x.ndim)) else x
    return svd(moved)[1]


def _matrix_norm(x: Tensor, ord: float | str | None, axes: tuple[int, int]) -> Tensor:
    """A matrix norm over the (row, column) ``axes``, returned with both kept as size 1."""
    row, col = axes
    if ord is None or ord == "fro":
        return L2Norm(tuple(sorted(axes)))(x)
    if ord in (1, -1):
        sums = _sum(_abs(x), row, keepdims=True)
        return _max(sums, col, keepdims=True) if ord == 1 else _min(sums, col, keepdims=True)
    if ord in (math.inf, -math.inf):
        sums = _sum(_abs(x), col, keepdims=True)
        return _max(sums, row, keepdims=True) if ord > 0 else _min(sums, row, keepdims=True)
    if ord in (2, -2, "nuc"):
        s = _singular_values(x, axes)
        if ord == "nuc":
            value = _sum(s, -1)
        else:
            value = getitem(s, (Ellipsis, 0 if ord == 2 else -1))
        return reshape(value, kept_shape(x.shape, axes))
    raise _ord_error(ord, "matrix")


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Vector and matrix norms, following NumPy's ``linalg.norm`` conventions.

    Vectors (1-D input, or an int ``axis``): ord 2 (default) ‖x‖₂ = √Σx², 1: Σ|x|,
    inf: max|x|, -inf: min|x|, 0: the number of non-zeros (no gradient), other p: (Σ|x|ᵖ)^(1/p).
    Matrices (2-D input, or a pair ``axis``): 'fro' (default) √Σa², 'nuc': Σσᵢ,
    1: max column sum of |a|, -1: min column sum, inf: max row sum, -inf: min row sum,
    2: σ_max, -2: σ_min. With ``axis=None`` and ``ord=None`` any input is flattened to a vector.
    ``ord`` may be a number, 'fro', 'nuc', 'inf', '-inf' or ±float('inf').
    The gradient of the 2-norm at x = 0 is taken as 0.
    """
    t = _float_input(x)
    parsed = _parse_ord(ord)
    if axis is None:
        if parsed is None:
            axes: tuple[int, ...] = tuple(range(t.ndim))
            value = L2Norm(axes)(t)
            return value if keepdims else reshape(value, ())
        if t.ndim == 1:
            axes = (0,)
        elif t.ndim == 2:
            axes = (0, 1)
        else:
            raise ShapeError(
                f"norm: ord={ord!r} needs a 1-D or 2-D input when axis is not given, got shape {t.shape}",
                suggestion="pass axis=… (an int for vector norms, a pair for matrix norms)",
            )
    else:
        axes = _norm_axes(axis, t.ndim)
    if len(axes) == 1:
        if isinstance(parsed, str):
            raise _ord_error(ord, "vector")
        value = _vector_norm(t, parsed, axes)
    else:
        value = _matrix_norm(t, parsed, (axes[0], axes[1]))
    if keepdims:
        return value
    return reshape(value, tuple(n for i, n in enumerate(t.shape) if i not in axes))


# ------------------------------------------------------------------------- symmetric eigendecomposition


class Eigh(Function):
    """(w, V) with ½(A + Aᵀ) = V diag(w) Vᵀ, w ascending, V orthonormal.

    ∂L/∂A = sym(V (diag(ḡw) + F ∘ (Vᵀ ḡV)) Vᵀ), sym(M) = ½(M + Mᵀ), Fᵢⱼ = 1/(wⱼ − wᵢ) for
    i ≠ j and 0 on the diagonal. The eigenvector term needs distinct eigenvalues; where two
    are exactly equal their coupling is set to 0.
    """

    def forward(self, a: Any) -> tuple[Any, Any]:
        xp = array_module(a)
        sym = (a + a.swapaxes(-1, -2)) * 0.5
        try:
            w, v = xp.linalg.eigh(sym)
        except _solver_errors(xp):
            raise LinAlgError(
                f"eigh: the eigendecomposition of a matrix of shape {tuple(a.shape)} did not converge"
            ) from None
        return w.astype(a.dtype, copy=False), v.astype(a.dtype, copy=False)

    def backward(self, gw: Tensor, gv: Tensor) -> Tensor:
        w, v = self.output(0), self.output(1)
        inner = _diag_embed(gw)
        if not _is_constant_zero(gv):
            inner = inner + _inverse_gaps(w) * matmul(_mT(v), gv)
        ga = matmul(matmul(v, inner), _mT(v))
        return (ga + _mT(ga)) * 0.5


def eigh(a: Any) -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of a symmetric matrix.

    Only the symmetric part ½(A + Aᵀ) is used. Differentiable; see :class:`Eigh`.
    """
    t = _float_input(a)
    _require_square("eigh", t)
    w, v = Eigh()(t)
    return w, v


# ------------------------------------------------------------------------- singular value decomposition


class Svd(Function):
    """Thin SVD A = U diag(S) Vᵀ (S descending); U is m×k, Vt is k×n, k = min(m, n).

    ∂L/∂A = U [ (F ∘ (UᵀḡU − ḡUᵀU)) S + diag(ḡS) + S (F ∘ (VᵀḡV − ḡVᵀV)) ] Vᵀ
            + (I − UUᵀ) ḡU S⁻¹ Vᵀ + U S⁻¹ ḡVᵀ (I − VVᵀ),
    with Fᵢⱼ = 1/(sⱼ² − sᵢ²) for i ≠ j, 0 on the diagonal (Townsend, "Differentiating the
    Singular Value Decomposition"). Valid for distinct, non-zero singular values; exactly equal
    ones get a zero coupling. Terms of an unused output are skipped.
    """

    def forward(self, a: Any) -> tuple[Any, Any, Any]:
        xp = array_module(a)
        try:
            u, s, vt = xp.linalg.svd(a, full_matrices=False)
        except _solver_errors(xp):
            raise LinAlgError(
                f"svd: the decomposition of a matrix of shape {tuple(a.shape)} did not converge"
            ) from None
        dtype = a.dtype
        return u.astype(dtype, copy=False), s.astype(dtype, copy=False), vt.astype(dtype, copy=False)

    def backward(self, gu: Tensor, gs: Tensor, gvt: Tensor) -> Tensor:
        u, s, vt = self.output(0), self.output(1), self.output(2)
        m, n = self.inputs[0].shape[-2:]
        k = min(m, n)
        use_u, use_v = not _is_constant_zero(gu), not _is_constant_zero(gvt)
        core = _diag_embed(gs)
        if use_u or use_v:
            f = _inverse_gaps(s * s)
            if use_u:
                utgu = matmul(_mT(u), gu)
                core = core + f * (utgu - _mT(utgu)) * _row(s)
            if use_v:
                vtgv = matmul(vt, _mT(gvt))
                core = core + _col(s) * (f * (vtgv - _mT(vtgv)))
        ga = matmul(matmul(u, core), vt)
        if use_u and m > k:
            projected = gu - matmul(u, matmul(_mT(u), gu))
            ga = ga + matmul(projected / _row(s), vt)
        if use_v and n > k:
            projected = gvt - matmul(matmul(gvt, _mT(vt)), vt)
            ga = ga + matmul(u, projected / _col(s))
        return ga


def svd(a: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Thin SVD (U, S, Vt) with A = U diag(S) Vt and S descending; batched over leading axes.

    Differentiable for distinct non-zero singular values; see :class:`Svd`. U and Vt are fixed
    only up to the sign of each singular pair, so differentiate sign-invariant functions of them.
    """
    t = _float_input(a)
    _require_matrix("svd", t)
    u, s, vt = Svd()(t)
    return u, s, vt


# ------------------------------------------------------------------------- general eigendecomposition


class Eig(Function):
    """(w, V) with A V = V diag(w) for a general square A; no gradient.

    The results are real (the input's dtype) when every eigenvalue is real, complex
    otherwise. Backpropagating through them raises :class:`~mathflow.errors.GradError`.
    """

    def forward(self, a: Any) -> tuple[Any, Any]:
        xp = array_module(a)
        solver = getattr(xp.linalg, "eig", None)
        try:
            if solver is not None:
                w, v = solver(a)
            else:  # pragma: no cover - backends without a general eigensolver
                w, v = (xp.asarray(r) for r in np.linalg.eig(_host(a)))
        except _solver_errors(xp):
            raise LinAlgError(
                f"eig: the eigendecomposition of a matrix of shape {tuple(a.shape)} did not converge"
            ) from None
        complex_dtype = np.complex64 if a.dtype == np.float32 else np.complex128
        if w.dtype.kind == "c" and not bool((w.imag == 0).all()):
            return w.astype(complex_dtype, copy=False), v.astype(complex_dtype, copy=False)
        real_w = w.real if w.dtype.kind == "c" else w
        real_v = v.real if v.dtype.kind == "c" else v
        return real_w.astype(a.dtype, copy=False), real_v.astype(a.dtype, copy=False)

    def backward(self, gw: Tensor, gv: Tensor) -> Tensor:
        raise GradError(
            "eig has no gradient (general eigenvectors are not unique and may be complex)",
            suggestion="use eigh for symmetric matrices or svd, which are differentiable",
        )


def eig(a: Any) -> tuple[Tensor, Tensor]:
    """Eigenvalues w and eigenvectors V (columns) of a general square matrix: A = V diag(w) V⁻¹.

    Real results when all eigenvalues are real, complex otherwise. Not differentiable: asking
    for a gradient through the results raises GradError.
    """
    t = _float_input(a)
    _require_square("eig", t)
    w, v = Eig()(t)
    return w, v
