"""Linear algebra primitives: inv, det, trace, norm, eigh, svd, eig.

Values against the worked examples of the math spec and NumPy, first and second derivatives
against finite differences, values and gradients against PyTorch, bad input, dtypes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F

RTOL = 1e-6


def f64(data, requires_grad: bool = False) -> mf.Tensor:
    return mf.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


def well_conditioned(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """R + n·I: random, but far from singular."""
    n = shape[-1]
    return rng.standard_normal(shape) + n * np.eye(n)


def symmetric_separated(rng: np.random.Generator, n: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    """A symmetric matrix whose eigenvalues are at least about 2 apart."""
    q, _ = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    w = 3.0 * np.arange(n) - 4.0 + 0.3 * rng.standard_normal(batch + (n,))
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def row(v: mf.Tensor) -> mf.Tensor:
    return F.reshape(v, v.shape[:-1] + (1, v.shape[-1]))


# --------------------------------------------------------------------------- the math spec's worked examples
class TestSpecExamples:
    def test_inverse(self):
        a = mf.tensor([[4.0, 7.0], [2.0, 6.0]])
        a_inv = F.inv(a)
        np.testing.assert_allclose(a_inv.numpy(), np.array([[6.0, -7.0], [-2.0, 4.0]]) / 10, rtol=1e-6)
        np.testing.assert_allclose((a @ a_inv).numpy(), np.eye(2), atol=1e-6)

    def test_trace(self):
        assert F.trace(mf.tensor([[1.0, 2.0], [3.0, 4.0]])).item() == 5.0

    def test_determinant(self):
        assert F.det(mf.tensor([[1.0, 2.0], [3.0, 4.0]])).item() == pytest.approx(-2.0, rel=1e-6)

    def test_l2_norm(self):
        assert F.norm(mf.tensor([3.0, 4.0])).item() == pytest.approx(5.0, rel=1e-7)
        assert F.norm(mf.tensor([3.0, 4.0]), ord=2).item() == pytest.approx(5.0, rel=1e-7)

    def test_l1_norm(self):
        assert F.norm(mf.tensor([-1.0, 2.0]), ord=1).item() == 3.0

    def test_frobenius_norm(self):
        a = mf.tensor([[1.0, 2.0], [3.0, 4.0]])
        assert F.norm(a).item() == pytest.approx(math.sqrt(30), rel=1e-6)
        assert F.norm(a, "fro").item() == pytest.approx(5.477, abs=1e-3)

    def test_eigenpair_of_symmetric_matrix(self):
        a = mf.tensor([[2.0, 1.0], [1.0, 2.0]])
        w, v = F.eigh(a)
        np.testing.assert_allclose(w.numpy(), [1.0, 3.0], rtol=1e-6)
        top = v.numpy()[:, 1]
        np.testing.assert_allclose(np.abs(top), [1 / math.sqrt(2)] * 2, rtol=1e-6)  # v ∝ [1, 1]
        assert top[0] * top[1] > 0
        np.testing.assert_allclose(a.numpy() @ top, 3.0 * top, rtol=1e-6)  # A v = 3 v
        np.testing.assert_allclose(a.numpy() @ np.array([1.0, 1.0]), [3.0, 3.0])

    def test_spectral_decomposition_of_general_matrix(self):
        a = mf.tensor([[4.0, 1.0], [2.0, 3.0]])
        w, v = F.eig(a)
        assert w.dtype == np.float32  # real eigenvalues give real results
        order = np.argsort(-w.numpy())
        np.testing.assert_allclose(w.numpy()[order], [5.0, 2.0], rtol=1e-6)
        rebuilt = v.numpy() @ np.diag(w.numpy()) @ np.linalg.inv(v.numpy())  # A = V Λ V⁻¹
        np.testing.assert_allclose(rebuilt, a.numpy(), atol=1e-5)
        np.testing.assert_allclose(a.numpy() @ v.numpy(), v.numpy() * w.numpy(), atol=1e-5)

    def test_svd_of_identity(self):
        u, s, vt = F.svd(mf.tensor(np.eye(2)))
        np.testing.assert_allclose(s.numpy(), [1.0, 1.0])
        np.testing.assert_allclose((u @ F.transpose(u)).numpy(), np.eye(2), atol=1e-12)
        np.testing.assert_allclose((u * row(s) @ vt).numpy(), np.eye(2), atol=1e-12)

    @pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
    def test_svd_reconstructs_random_matrix(self, rng, shape):
        a = rng.standard_normal(shape)
        u, s, vt = F.svd(f64(a))
        k = min(shape)
        assert u.shape == (shape[0], k) and s.shape == (k,) and vt.shape == (k, shape[1])
        assert np.all(np.diff(s.numpy()) <= 0)
        np.testing.assert_allclose((u * row(s) @ vt).numpy(), a, atol=1e-12)  # A = U Σ Vᵀ
        np.testing.assert_allclose(u.numpy().T @ u.numpy(), np.eye(k), atol=1e-12)
        np.testing.assert_allclose(vt.numpy() @ vt.numpy().T, np.eye(k), atol=1e-12)


# --------------------------------------------------------------------------- values against NumPy
class TestValues:
    def test_batched_inv_det_trace(self, rng):
        a = well_conditioned(rng, 2, 4, 4)
        np.testing.assert_allclose(F.inv(f64(a)).numpy(), np.linalg.inv(a), rtol=1e-10)
        np.testing.assert_allclose(F.det(f64(a)).numpy(), np.linalg.det(a), rtol=1e-10)
        np.testing.assert_allclose(F.trace(f64(a)).numpy(), np.trace(a, axis1=-2, axis2=-1), rtol=1e-12)

    def test_batched_eigh_and_svd(self, rng):
        a = symmetric_separated(rng, 3, (2,))
        w, v = F.eigh(f64(a))
        np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(a), rtol=1e-10)
        np.testing.assert_allclose((v * row(w) @ F.swapaxes(v, -1, -2)).numpy(), a, atol=1e-10)
        b = rng.standard_normal((2, 4, 3))
        u, s, vt = F.svd(f64(b))
        np.testing.assert_allclose((u * row(s) @ vt).numpy(), b, atol=1e-12)

    def test_eigh_uses_the_symmetric_part(self, rng):
        a = rng.standard_normal((3, 3))
        w, _ = F.eigh(f64(a))
        np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh((a + a.T) / 2), rtol=1e-10)

    @pytest.mark.parametrize("ord", [None, 1, 2, 3, 0.5, 0, math.inf, -math.inf, "inf", "-inf"])
    def test_vector_norms(self, rng, ord):
        x = rng.standard_normal(6)
        x[2] = 0.0
        np_ord = {"inf": np.inf, "-inf": -np.inf}.get(ord, ord) if isinstance(ord, str) else ord
        assert F.norm(f64(x), ord).item() == pytest.approx(np.linalg.norm(x, np_ord), rel=1e-12)

    @pytest.mark.parametrize("ord", [None, "fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf, "inf"])
    def test_matrix_norms(self, rng, ord):
        a = rng.standard_normal((4, 3))
        np_ord = np.inf if ord == "inf" else ord
        assert F.norm(f64(a), ord).item() == pytest.approx(np.linalg.norm(a, np_ord), rel=1e-12)

    @pytest.mark.parametrize(
        ("ord", "axis"),
        [(None, None), (2, 1), (1, 0), (math.inf, -1), ("fro", (0, 2)), (2, (2, 1)), (-math.inf, (1, 0))],
    )
    @pytest.mark.parametrize("keepdims", [False, True])
    def test_norm_axes_and_keepdims(self, rng, ord, axis, keepdims):
        x = rng.standard_normal((2, 3, 4))
        got = F.norm(f64(x), ord, axis=axis, keepdims=keepdims)
        want = np.linalg.norm(x, ord, axis=axis, keepdims=keepdims)
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)

    def test_norm_of_higher_rank_input_flattens_by_default(self, rng):
        x = rng.standard_normal((2, 3, 4))
        assert F.norm(f64(x)).item() == pytest.approx(np.sqrt((x**2).sum()), rel=1e-12)

    def test_norm_of_zero_vector(self):
        x = f64(np.zeros(3), requires_grad=True)
        y = F.norm(x)
        assert y.item() == 0.0
        y.backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))
        x = f64(np.zeros(3), requires_grad=True)
        assert F.norm(x, 1).item() == 0.0 and F.norm(x, math.inf).item() == 0.0 and F.norm(x, 3).item() == 0.0

    def test_eig_complex_eigenvalues(self):
        rotation = mf.tensor([[0.0, -1.0], [1.0, 0.0]])
        w, v = F.eig(rotation)
        assert w.dtype == np.complex64 and v.dtype == np.complex64
        np.testing.assert_allclose(sorted(w.numpy().imag), [-1.0, 1.0], rtol=1e-6)
        np.testing.assert_allclose(rotation.numpy() @ v.numpy(), v.numpy() * w.numpy(), atol=1e-6)
        w64, _ = F.eig(f64([[0.0, -1.0], [1.0, 0.0]]))
        assert w64.dtype == np.complex128

    def test_integer_input_becomes_float(self):
        a = mf.tensor(np.array([[4, 7], [2, 6]]))
        assert F.inv(a).dtype == np.float32
        assert F.det(a).dtype == np.float32


# --------------------------------------------------------------------------- derivatives: finite differences
def _eigh_values(a):
    return F.eigh(a)[0]


def _eigh_function(a):  # V diag(sin w) Vᵀ: depends on eigenvectors, invariant to their signs
    w, v = F.eigh(a)
    return v * row(F.sin(w)) @ F.swapaxes(v, -1, -2)


def _eigh_projector(a):  # v₀ v₀ᵀ for the smallest eigenvalue
    w, v = F.eigh(a)
    first = v[..., :, 0:1]
    return first @ F.swapaxes(first, -1, -2)


def _svd_values(a):
    return F.svd(a)[1]


def _svd_rebuild_squared(a):  # U diag(S²) Vt
    u, s, vt = F.svd(a)
    return u * row(s * s) @ vt


def _svd_top_pair(a):  # U[:, 0] ⊗ Vt[0, :]
    u, _, vt = F.svd(a)
    return u[..., :, 0:1] @ vt[..., 0:1, :]


def _svd_left_projector(a):  # U Uᵀ
    u = F.svd(a)[0]
    return u @ F.swapaxes(u, -1, -2)


def _svd_right_projector(a):  # V Vᵀ
    vt = F.svd(a)[2]
    return F.swapaxes(vt, -1, -2) @ vt


SQUARE_CASES = {
    "inv": (F.inv, "wc"),
    "det": (F.det, "wc"),
    "log|det|": (lambda a: F.log(F.abs(F.det(a))), "wc"),
    "trace": (F.trace, "wc"),
    "trace(A²)": (lambda a: F.trace(a @ a), "wc"),
    "eigh values": (_eigh_values, "sym"),
    "eigh V f(w) Vᵀ": (_eigh_function, "sym"),
    "eigh projector": (_eigh_projector, "sym"),
}


def _square_input(rng, kind: str, batch: tuple[int, ...] = ()) -> np.ndarray:
    return well_conditioned(rng, *batch, 3, 3) if kind == "wc" else symmetric_separated(rng, 3, batch)


class TestGradients:
    @pytest.mark.parametrize("name", list(SQUARE_CASES))
    def test_square_ops_first_and_second_order(self, rng, name):
        f, kind = SQUARE_CASES[name]
        a = _square_input(rng, kind)
        assert mf.gradcheck(f, a)
        assert mf.gradgradcheck(f, a)

    @pytest.mark.parametrize("name", ["inv", "det", "trace", "eigh V f(w) Vᵀ"])
    def test_batched_square_ops(self, rng, name):
        f, kind = SQUARE_CASES[name]
        a = _square_input(rng, kind, (2,))
        assert mf.gradcheck(f, a)

    @pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4)])
    @pytest.mark.parametrize(
        "f", [_svd_values, _svd_rebuild_squared, _svd_top_pair, _svd_left_projector, _svd_right_projector]
    )
    def test_svd_first_and_second_order(self, rng, shape, f):
        a = rng.standard_normal(shape)
        assert mf.gradcheck(f, a)
        assert mf.gradgradcheck(f, a)

    def test_batched_svd(self, rng):
        assert mf.gradcheck(_svd_rebuild_squared, rng.standard_normal((2, 4, 3)))

    def test_svd_non_square_projection_terms_matter(self, rng):
        """For a tall matrix U Uᵀ has a non-zero gradient that only the (I − UUᵀ) term supplies."""
        a = f64(rng.standard_normal((4, 2)), requires_grad=True)
        weights = f64(rng.standard_normal((4, 4)))
        (_svd_left_projector(a) * weights).sum().backward()
        assert np.abs(a.grad.numpy()).max() > 1e-3

    @pytest.mark.parametrize(
        ("ord", "axis"),
        [(None, None), (1, None), (3, None), (math.inf, None), (-math.inf, None), (0.5, None), (2, 1), (1, 0)],
    )
    def test_vector_norms(self, rng, ord, axis):
        x = rng.standard_normal((3, 4)) if axis is not None else rng.standard_normal(5)
        f = lambda t: F.norm(t, ord, axis=axis)  # noqa: E731
        assert mf.gradcheck(f, x)
        assert mf.gradgradcheck(f, x)

    @pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf])
    def test_matrix_norms(self, rng, ord):
        a = rng.standard_normal((4, 3))
        f = lambda t: F.norm(t, ord)  # noqa: E731
        assert mf.gradcheck(f, a)
        assert mf.gradgradcheck(f, a)

    def test_matrix_norm_over_moved_axes(self, rng):
        x = rng.standard_normal((3, 2, 4))
        assert mf.gradcheck(lambda t: F.norm(t, 2, axis=(2, 0)), x)

    def test_det_gradient_at_singular_matrix_is_cofactor(self):
        a = np.array([[1.0, 2.0], [3.0, 6.0]])
        cofactor = np.array([[6.0, -3.0], [-2.0, 1.0]])
        x = f64(a, requires_grad=True)
        F.det(x).backward()  # raw fast path
        np.testing.assert_allclose(x.grad.numpy(), cofactor, atol=1e-12)
        x = f64(a, requires_grad=True)
        (g,) = mf.autograd(F.det(x), x, create_graph=True)  # differentiable path
        np.testing.assert_allclose(g.numpy(), cofactor, atol=1e-12)
        assert mf.gradcheck(F.det, np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]))

    @pytest.mark.parametrize(
        "f",
        [F.inv, F.det, F.trace, lambda a: F.norm(a), lambda a: F.norm(a, 2, axis=1)],
        ids=["inv", "det", "trace", "fro", "l2-rows"],
    )
    def test_raw_and_recorded_backward_agree(self, rng, f):
        a = well_conditioned(rng, 2, 3, 3)
        weights = rng.standard_normal(f(f64(a)).shape)
        x = f64(a, requires_grad=True)
        (f(x) * f64(weights)).sum().backward()
        y = f64(a, requires_grad=True)
        (g,) = mf.autograd((f(y) * f64(weights)).sum(), y, create_graph=True)
        np.testing.assert_allclose(x.grad.numpy(), g.numpy(), rtol=1e-12, atol=1e-14)

    def test_eigh_eigenvalues_only_with_repeated_eigenvalues(self):
        """Only w used: the eigenvector coupling (infinite for equal eigenvalues) is skipped."""
        a = f64(np.eye(3) * 2.0, requires_grad=True)
        F.eigh(a)[0].sum().backward()  # d(Σλ)/dA = I
        np.testing.assert_allclose(a.grad.numpy(), np.eye(3), atol=1e-12)

    def test_spectral_norm_with_repeated_singular_values(self):
        a = f64(np.eye(2), requires_grad=True)
        F.norm(a, "nuc").backward()
        assert np.all(np.isfinite(a.grad.numpy()))
        np.testing.assert_allclose(a.grad.numpy(), np.eye(2), atol=1e-12)

    def test_eig_has_no_gradient(self, rng):
        a = mf.tensor(well_conditioned(rng, 3, 3), requires_grad=True)
        w, v = F.eig(a)
        with pytest.raises(mf.GradError, match="eig"):
            (F.abs(w).sum() if w.dtype.kind == "f" else F.sum(v)).backward()

    def test_eig_of_constant_input_is_off_the_graph(self, rng):
        w, v = F.eig(mf.tensor(well_conditioned(rng, 3, 3)))
        assert not w.requires_grad and not v.requires_grad


# --------------------------------------------------------------------------- derivatives: PyTorch
@pytest.mark.torch
class TestAgainstTorch:
    @staticmethod
    def _compare(rng, f_mf, f_torch, a: np.ndarray) -> None:
        torch = pytest.importorskip("torch")
        x = f64(a, requires_grad=True)
        out = f_mf(x)
        weights = rng.standard_normal(out.shape)
        (out * f64(weights)).sum().backward()
        xt = torch.tensor(a, requires_grad=True)
        out_t = f_torch(xt)
        (out_t * torch.tensor(weights)).sum().backward()
        np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=RTOL, atol=1e-10)

    def test_inv(self, rng):
        torch = pytest.importorskip("torch")
        self._compare(rng, F.inv, torch.linalg.inv, well_conditioned(rng, 2, 4, 4))

    def test_det(self, rng):
        torch = pytest.importorskip("torch")
        self._compare(rng, F.det, torch.linalg.det, well_conditioned(rng, 2, 4, 4))

    def test_trace(self, rng):
        torch = pytest.importorskip("torch")
        self._compare(rng, F.trace, torch.trace, rng.standard_normal((4, 4)))

    @pytest.mark.parametrize("ord", [2, 1, 3, math.inf, -math.inf])
    def test_vector_norms(self, rng, ord):
        torch = pytest.importorskip("torch")
        self._compare(
            rng,
            lambda x: F.norm(x, ord, axis=-1),
            lambda x: torch.linalg.vector_norm(x, ord, dim=-1),
            rng.standard_normal((3, 5)),
        )

    @pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf])
    def test_matrix_norms(self, rng, ord):
        torch = pytest.importorskip("torch")
        self._compare(
            rng,
            lambda x: F.norm(x, ord, axis=(-2, -1)),
            lambda x: torch.linalg.matrix_norm(x, ord, dim=(-2, -1)),
            rng.standard_normal((2, 4, 3)),
        )

    def test_eigh(self, rng):
        torch = pytest.importorskip("torch")

        def with_torch(x):
            w, v = torch.linalg.eigh(x)
            return torch.cat([w.reshape(-1), (v * torch.sin(w)[..., None, :] @ v.mT).reshape(-1)])

        def with_mf(x):
            w, _ = F.eigh(x)
            return F.concat([F.reshape(w, (-1,)), F.reshape(_eigh_function(x), (-1,))])

        a = symmetric_separated(rng, 4, (2,))
        self._compare(rng, with_mf, with_torch, a)

    @pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
    def test_svd(self, rng, shape):
        torch = pytest.importorskip("torch")

        def with_torch(x):
            u, s, vt = torch.linalg.svd(x, full_matrices=False)
            parts = [s, (u * (s * s)[None, :]) @ vt, torch.outer(u[:, 0], vt[0]), u @ u.T, vt.T @ vt]
            return torch.cat([p.reshape(-1) for p in parts])

        def with_mf(x):
            parts = [
                _svd_values(x),
                _svd_rebuild_squared(x),
                _svd_top_pair(x),
                _svd_left_projector(x),
                _svd_right_projector(x),
            ]
            return F.concat([F.reshape(p, (-1,)) for p in parts])

        self._compare(rng, with_mf, with_torch, rng.standard_normal(shape))

    @pytest.mark.parametrize("which", ["inv", "det"])
    def test_hessian_vector_product(self, rng, which):
        torch = pytest.importorskip("torch")
        a = well_conditioned(rng, 3, 3)
        v = rng.standard_normal((3, 3))
        if which == "inv":
            f_mf = lambda x: (F.inv(x) ** 2).sum() + F.trace(F.inv(x @ x))  # noqa: E731
            f_t = lambda x: (torch.linalg.inv(x) ** 2).sum() + torch.trace(torch.linalg.inv(x @ x))  # noqa: E731
        else:
            f_mf = lambda x: F.det(x) ** 2 + F.log(F.abs(F.det(x)))  # noqa: E731
            f_t = lambda x: torch.linalg.det(x) ** 2 + torch.log(torch.abs(torch.linalg.det(x)))  # noqa: E731
        got = mf.hvp(f_mf)(f64(a), f64(v))
        _, want = torch.autograd.functional.hvp(f_t, torch.tensor(a), torch.tensor(v))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=RTOL, atol=1e-10)

    def test_hessian_through_eigh(self, rng):
        torch = pytest.importorskip("torch")
        a = symmetric_separated(rng, 3)

        def f_mf(x):
            w, v = F.eigh(x)
            return (w**3).sum() + (v[:, 0:1] @ F.transpose(v[:, 0:1]) * f64(np.arange(9.0).reshape(3, 3))).sum()

        def f_t(x):
            w, v = torch.linalg.eigh((x + x.T) / 2)
            return (w**3).sum() + (torch.outer(v[:, 0], v[:, 0]) * torch.arange(9.0, dtype=x.dtype).reshape(3, 3)).sum()

        got = mf.hessian(f_mf)(f64(a))
        want = torch.autograd.functional.hessian(f_t, torch.tensor(a))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=RTOL, atol=1e-9)


# --------------------------------------------------------------------------- bad input
class TestBadInput:
    @pytest.mark.parametrize("op", [F.inv, F.det, F.trace, F.eigh, F.eig])
    def test_non_square(self, op):
        with pytest.raises(mf.LinAlgError, match=r"square.*\(2, 3\)"):
            op(mf.tensor(np.ones((2, 3))))

    @pytest.mark.parametrize("op", [F.inv, F.det, F.trace, F.eigh, F.eig, F.svd])
    def test_vector_is_not_a_matrix(self, op):
        with pytest.raises(mf.LinAlgError, match=r"\(3,\)"):
            op(mf.tensor([1.0, 2.0, 3.0]))

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_singular_inverse(self, dtype):
        with pytest.raises(mf.LinAlgError, match="singular"):
            F.inv(mf.tensor(np.array([[1.0, 2.0], [2.0, 4.0]], dtype=dtype)))

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_numerically_singular_inverse(self, dtype):
        """The solver succeeds with finite entries, but the condition number is beyond the dtype's precision."""
        eps = float(np.finfo(dtype).eps)
        nearly = np.array([[1.0, 1.0], [1.0, 1.0 + eps]], dtype=dtype)
        assert np.all(np.isfinite(np.linalg.inv(nearly)))
        with pytest.raises(mf.LinAlgError, match="singular"):
            F.inv(mf.tensor(nearly))

    def test_singular_member_of_a_batch(self, rng):
        batch = well_conditioned(rng, 3, 2, 2)
        batch[1] = [[1.0, 2.0], [2.0, 4.0]]
        with pytest.raises(mf.LinAlgError, match="singular"):
            F.inv(f64(batch))

    def test_ill_conditioned_but_invertible_is_accepted(self):
        a = np.diag([1.0, 1e-10])
        np.testing.assert_allclose(F.inv(f64(a)).numpy(), np.diag([1.0, 1e10]))

    def test_det_of_singular_matrix_is_zero(self):
        assert F.det(mf.tensor([[1.0, 2.0], [2.0, 4.0]])).item() == 0.0

    @pytest.mark.parametrize("ord", ["bogus", "frob", True, float("nan"), [1]])
    def test_unknown_norm_order(self, ord):
        with pytest.raises(mf.MathflowError, match="ord") as info:
            F.norm(mf.tensor([[1.0, 2.0], [3.0, 4.0]]), ord)
        assert "'fro'" in str(info.value) and "inf" in str(info.value)

    @pytest.mark.parametrize("ord", [3, 0.5, 0])
    def test_vector_only_order_on_a_matrix(self, ord):
        with pytest.raises(mf.MathflowError, match="matrix order"):
            F.norm(mf.tensor([[1.0, 2.0], [3.0, 4.0]]), ord)

    @pytest.mark.parametrize("ord", ["fro", "nuc"])
    def test_matrix_only_order_on_a_vector(self, ord):
        with pytest.raises(mf.MathflowError, match="vector order"):
            F.norm(mf.tensor([1.0, 2.0]), ord)

    def test_norm_needs_axis_for_higher_rank_with_ord(self):
        with pytest.raises(mf.ShapeError, match="axis"):
            F.norm(mf.tensor(np.ones((2, 2, 2))), 1)

    @pytest.mark.parametrize("axis", [3, (0, 0), (0, 1, 2), (-4,)])
    def test_norm_bad_axis(self, axis):
        with pytest.raises(mf.ShapeError, match="norm: axis"):
            F.norm(mf.tensor(np.ones((2, 2, 2))), axis=axis)


# --------------------------------------------------------------------------- dtypes
def _first_output(out):
    return out if isinstance(out, mf.Tensor) else out[0]


FLOAT32_CASES = {
    "inv": F.inv,
    "det": F.det,
    "trace": F.trace,
    "norm": F.norm,
    "norm-2": lambda a: F.norm(a, 2),
    "norm-vector": lambda a: F.norm(a, 3, axis=0),
    "eigh": lambda a: F.eigh(a),
    "eigh-vectors": lambda a: _eigh_function(a),
    "svd": lambda a: F.svd(a),
    "svd-vectors": lambda a: _svd_top_pair(a),
}


class TestDtypes:
    @pytest.mark.parametrize("name", list(FLOAT32_CASES))
    def test_float32_in_float32_out_and_gradient(self, rng, name):
        f = FLOAT32_CASES[name]
        a = mf.tensor(
            symmetric_separated(rng, 3).astype(np.float32) + 9 * np.eye(3, dtype=np.float32), requires_grad=True
        )
        out = f(a)
        outputs = out if isinstance(out, tuple) else (out,)
        assert all(o.dtype == np.float32 for o in outputs)
        total = None
        for o in outputs:
            total = o.sum() if total is None else total + o.sum()
        total.backward()
        assert a.grad.dtype == np.float32

    @pytest.mark.parametrize("name", ["inv", "det", "eigh-vectors", "svd-vectors", "norm-2"])
    def test_float32_second_order_stays_float32(self, rng, name):
        f = FLOAT32_CASES[name]
        a = mf.tensor(symmetric_separated(rng, 3).astype(np.float32) + 9 * np.eye(3, dtype=np.float32))
        v = mf.tensor(np.ones((3, 3), dtype=np.float32))
        hv = mf.hvp(lambda x: _first_output(f(x)).sum())(a, v)
        assert hv.dtype == np.float32

    def test_eig_float32(self, rng):
        w, v = F.eig(mf.tensor(well_conditioned(rng, 3, 3).astype(np.float32)))
        assert w.dtype in (np.float32, np.complex64) and v.dtype == w.dtype


# --------------------------------------------------------------------------- GPU
@pytest.mark.gpu
class TestGpu:
    def test_ops_match_cpu(self, rng):
        a = well_conditioned(rng, 2, 3, 3).astype(np.float32)
        s = symmetric_separated(rng, 3).astype(np.float32)
        cases = {
            "inv": (F.inv, a),
            "det": (F.det, a),
            "trace": (F.trace, a),
            "norm-fro": (lambda x: F.norm(x, axis=(-2, -1)), a),
            "norm-2": (lambda x: F.norm(x, 2, axis=(-2, -1)), a),
            "eigh": (_eigh_function, s),
            "svd": (_svd_rebuild_squared, a[0]),
            "svd-pair": (_svd_top_pair, a[0]),
        }
        for name, (f, data) in cases.items():
            grads, values = [], []
            for device in ("cpu", "gpu"):
                with mf.using(device):
                    x = mf.tensor(data, requires_grad=True)
                    out = f(x)
                    out.sum().backward()
                    assert out.dtype == np.float32 and x.grad.dtype == np.float32, name
                    values.append(out.numpy())
                    grads.append(x.grad.numpy())
            np.testing.assert_allclose(values[1], values[0], rtol=1e-4, atol=1e-4, err_msg=name)
            np.testing.assert_allclose(grads[1], grads[0], rtol=1e-3, atol=1e-3, err_msg=name)

    def test_singular_and_eig_on_gpu(self):
        with mf.using("gpu"):
            with pytest.raises(mf.LinAlgError, match="singular"):
                F.inv(mf.tensor([[1.0, 2.0], [2.0, 4.0]]))
            w, v = F.eig(mf.tensor([[4.0, 1.0], [2.0, 3.0]]))
            np.testing.assert_allclose(sorted(w.numpy().real), [2.0, 5.0], rtol=1e-5)
            w, _ = F.eig(mf.tensor([[0.0, -1.0], [1.0, 0.0]]))
            assert w.dtype == np.complex64
