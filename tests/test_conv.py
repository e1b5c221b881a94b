"""conv2d, max_pool2d and avg_pool2d: values, first and second derivatives, errors, dtypes, kernels."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
import mathflow.functional as F
from mathflow.kernels import cpu as K

# (N, C, H, W, F, kh, kw, stride, padding)
CONV_CASES = [
    (2, 3, 7, 6, 4, 3, 2, 1, 0),
    (2, 3, 9, 8, 5, 3, 3, 2, 1),
    (1, 2, 5, 5, 3, 1, 1, 1, 0),
    (3, 2, 8, 7, 2, 2, 2, 2, 0),
    (2, 1, 6, 6, 2, 4, 3, (2, 1), (1, 2)),
    (2, 2, 5, 4, 3, 5, 4, 3, 2),
    (2, 3, 4, 4, 2, 1, 1, 1, 1),
    (2, 2, 6, 6, 3, 1, 1, 2, 0),
]
# (N, C, H, W, kernel, stride, padding)
POOL_CASES = [
    (2, 3, 8, 8, 2, None, 0),
    (2, 3, 9, 7, 3, 2, 1),
    (2, 2, 7, 7, 2, 1, 1),
    (1, 2, 6, 9, (3, 2), (1, 2), (1, 0)),
    (2, 1, 7, 5, 2, 2, 0),
    (1, 2, 5, 5, 3, 3, 1),
]


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values spaced ≥ 0.1 apart, so no pooling window has a tie."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0 - 1.0


# ----------------------------------------------------------------------------- PyTorch parity
@pytest.mark.torch
@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_torch(case, with_bias, rng):
    torch = pytest.importorskip("torch")
    n, c, h, w, f, kh, kw, stride, padding = case
    x, wt, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw)), rng.standard_normal(f)
    tx, tw = mf.tensor(x, requires_grad=True), mf.tensor(wt, requires_grad=True)
    tb = mf.tensor(b, requires_grad=True) if with_bias else None
    y = F.conv2d(tx, tw, tb, stride=stride, padding=padding)
    g = rng.standard_normal(y.shape)
    y.backward(g)

    px, pw = torch.tensor(x, requires_grad=True), torch.tensor(wt, requires_grad=True)
    pb = torch.tensor(b, requires_grad=True) if with_bias else None
    py = torch.nn.functional.conv2d(px, pw, pb, stride=stride, padding=padding)
    py.backward(torch.tensor(g))

    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), py.detach().numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(tx.grad.numpy(), px.grad.numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(tw.grad.numpy(), pw.grad.numpy(), rtol=1e-6, atol=1e-12)
    if with_bias:
        np.testing.assert_allclose(tb.grad.numpy(), pb.grad.numpy(), rtol=1e-6, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(case, kind, rng):
    torch = pytest.importorskip("torch")
    n, c, h, w, kernel, stride, padding = case
    x = distinct(rng, (n, c, h, w)) if kind == "max" else rng.standard_normal((n, c, h, w))
    ours = F.max_pool2d if kind == "max" else F.avg_pool2d
    theirs = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    tx = mf.tensor(x, requires_grad=True)
    y = ours(tx, kernel, stride, padding)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    px = torch.tensor(x, requires_grad=True)
    py = theirs(px, kernel, stride, padding)
    py.backward(torch.tensor(g))
    assert y.shape == tuple(py.shape)
    np.testing.assert_allclose(y.numpy(), py.detach().numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(tx.grad.numpy(), px.grad.numpy(), rtol=1e-6, atol=1e-12)


@pytest.mark.torch
def test_small_network_chain_matches_torch(rng):
    """conv → maxpool → conv → avgpool → conv (1×1): each kernel reads the previous one's layout."""
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = rng.standard_normal((4, 2, 12, 11))
    w1, b1 = rng.standard_normal((5, 2, 3, 3)), rng.standard_normal(5)
    w2, w3 = rng.standard_normal((6, 5, 2, 2)), rng.standard_normal((3, 6, 1, 1))
    ours = [mf.tensor(a, requires_grad=True) for a in (x, w1, b1, w2, w3)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w1, b1, w2, w3)]

    def net(lib, conv, maxpool, avgpool, ts):
        tx, tw1, tb1, tw2, tw3 = ts
        h = maxpool(conv(tx, tw1, tb1, padding=1), 2)
        h = avgpool(conv(h * h, tw2, None, stride=1), 3, 2, 1)
        return conv(h, tw3, None)

    y = net(mf, F.conv2d, F.max_pool2d, F.avg_pool2d, ours)
    py = net(torch, tF.conv2d, tF.max_pool2d, tF.avg_pool2d, theirs)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    py.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), py.detach().numpy(), rtol=1e-6, atol=1e-10)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-10)


# ----------------------------------------------------------------------------- finite differences
def test_conv2d_gradcheck_and_gradgradcheck(rng):
    x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)

    def f(x, w, b):
        return F.conv2d(x, w, b, stride=(2, 1), padding=1)

    assert mf.gradcheck(f, x, w, b)
    assert mf.gradgradcheck(f, x, w, b)


def test_conv2d_gradgradcheck_nonlinear(rng):
    """A curved function of x and w, so the second derivative is not just the bilinear cross term."""
    x, w = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((2, 2, 2, 2))

    def f(x, w):
        y = F.conv2d(x, w, stride=1, padding=1)
        return y * y

    assert mf.gradgradcheck(f, x, w)


@pytest.mark.parametrize(
    "pool",
    [
        lambda x: F.max_pool2d(x, 2),
        lambda x: F.max_pool2d(x, 3, 2, 1),
        lambda x: F.max_pool2d(x, (2, 3), 1),
        lambda x: F.avg_pool2d(x, 2),
        lambda x: F.avg_pool2d(x, 3, 2, 1),
        lambda x: F.avg_pool2d(x, (3, 2), 1, (1, 0)),
    ],
)
def test_pooling_gradcheck_and_gradgradcheck(pool, rng):
    x = distinct(rng, (2, 2, 6, 5))
    assert mf.gradcheck(pool, x)
    assert mf.gradgradcheck(pool, x)


def test_pooling_gradgradcheck_through_a_curved_input(rng):
    x = distinct(rng, (1, 2, 6, 6))

    def f(x):
        return F.max_pool2d(x * x, 3, 2, 1) * F.avg_pool2d(x, 3, 2, 1)

    assert mf.gradgradcheck(f, x)


@pytest.mark.torch
@pytest.mark.parametrize("wrt", [0, 1])
def test_hvp_through_conv2d_matches_torch_double_backward(wrt, rng):
    torch = pytest.importorskip("torch")
    x, w = distinct(rng, (2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    v = rng.standard_normal(x.shape if wrt == 0 else w.shape)

    def f(x, w):
        y = F.max_pool2d(F.conv2d(x * x, w, padding=1), 2)
        return (F.avg_pool2d(y * y, 3, 1, 1) * y).sum()

    ours = mf.hvp(f, argnums=wrt)(mf.tensor(x), mf.tensor(w), mf.tensor(v))

    tF = torch.nn.functional
    inputs = [torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)]
    ty = tF.max_pool2d(tF.conv2d(inputs[0] ** 2, inputs[1], padding=1), 2)
    out = (tF.avg_pool2d(ty * ty, 3, 1, 1) * ty).sum()
    (g,) = torch.autograd.grad(out, inputs[wrt], create_graph=True)
    (hv,) = torch.autograd.grad((g * torch.tensor(v)).sum(), inputs[wrt])
    np.testing.assert_allclose(ours.numpy(), hv.numpy(), rtol=1e-6, atol=1e-9)


@pytest.mark.torch
@pytest.mark.parametrize("record_second", [False, True])
def test_second_order_gradients_match_torch(record_second, rng):
    """Differentiate a create_graph gradient again, by the raw fast paths (record_second=False)
    or by the recorded Tensor backwards (True), which exercise every cross term of the families."""
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x, w, b = distinct(rng, (2, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)

    def loss(lib_conv, lib_max, lib_avg, tx, tw, tb):
        y = lib_conv(tx * tx, tw, tb, stride=(1, 2), padding=1)
        return (lib_avg(lib_max(y, 2, 1), 2, 1, 1) ** 2).sum()

    ours = [mf.tensor(a, requires_grad=True) for a in (x, w, b)]
    first = mf.autograd(loss(F.conv2d, F.max_pool2d, F.avg_pool2d, *ours), ours, create_graph=True)
    second = mf.autograd(sum((g * g).sum() for g in first), ours, create_graph=record_second)

    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    tfirst = torch.autograd.grad(loss(tF.conv2d, tF.max_pool2d, tF.avg_pool2d, *theirs), theirs, create_graph=True)
    tsecond = torch.autograd.grad(sum((g * g).sum() for g in tfirst), theirs)
    for a, e in zip(second, tsecond):
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- worked example
EDGE = np.array([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])


def test_vertical_edge_filter_on_a_patch():
    patch = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    y = F.conv2d(patch.reshape(1, 1, 3, 3), EDGE.reshape(1, 1, 3, 3))
    assert y.shape == (1, 1, 1, 1)
    assert y.item() == pytest.approx(3.0)


def test_vertical_edge_filter_finds_the_edge():
    image = np.zeros((6, 8))
    image[:, :4] = 1.0  # bright left half, dark right half: a vertical edge between columns 3 and 4
    y = F.conv2d(image.reshape(1, 1, 6, 8), EDGE.reshape(1, 1, 3, 3)).numpy()[0, 0]
    assert y.shape == (4, 6)
    np.testing.assert_allclose(y, np.tile([0.0, 0.0, 3.0, 3.0, 0.0, 0.0], (4, 1)))
    assert set(np.argmax(y, axis=1)) == {2}  # window columns 2..4 straddle the edge


def test_true_convolution_is_cross_correlation_with_the_flipped_kernel(rng):
    x, w = rng.standard_normal((1, 1, 5, 5)), rng.standard_normal((1, 1, 3, 3))
    flipped = F.conv2d(x, w[:, :, ::-1, ::-1].copy()).numpy()[0, 0]
    expected = np.array(
        [
            [sum(x[0, 0, i + 2 - a, j + 2 - b] * w[0, 0, a, b] for a in range(3) for b in range(3)) for j in range(3)]
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(flipped, expected, rtol=1e-12)


# ----------------------------------------------------------------------------- semantics
def test_max_pool_ties_send_the_gradient_to_the_first_arg_max():
    x = mf.tensor(np.ones((1, 1, 2, 4)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])


def test_overlapping_max_pool_accumulates_into_a_shared_arg_max():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the centre is the maximum of all four 2×2 windows
    tx = mf.tensor(x, requires_grad=True)
    y = F.max_pool2d(tx, 2, 1)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy()[0, 0], np.full((2, 2), 5.0))
    expected = np.zeros((3, 3))
    expected[1, 1] = 4.0
    np.testing.assert_array_equal(tx.grad.numpy()[0, 0], expected)


def test_max_pool_padding_is_minus_infinity_and_avg_pool_counts_zeros():
    x = -np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(F.max_pool2d(x, 2, 1, 1).numpy()[0, 0], -np.ones((3, 3)))
    np.testing.assert_allclose(
        F.avg_pool2d(x, 2, 1, 1).numpy()[0, 0], [[-0.25, -0.5, -0.25], [-0.5, -1, -0.5], [-0.25, -0.5, -0.25]]
    )


def test_pool_stride_defaults_to_the_kernel(rng):
    x = rng.standard_normal((1, 1, 6, 6))
    assert F.max_pool2d(x, 3).shape == (1, 1, 2, 2)
    assert F.max_pool2d(x, np.int64(2), [np.int32(1), 2]).shape == (1, 1, 5, 3)  # NumPy integers are ints
    np.testing.assert_allclose(F.avg_pool2d(x, 3).numpy()[0, 0, 1, 0], x[0, 0, 3:, :3].mean())


def test_no_grad_results_match_recorded_results(rng):
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    tw = mf.tensor(w, requires_grad=True)
    recorded = F.max_pool2d(F.conv2d(mf.tensor(x, requires_grad=True), tw, b, padding=1), 2)
    with mf.no_grad():
        plain = F.max_pool2d(F.conv2d(x, tw, b, padding=1), 2)
    assert not plain.requires_grad
    np.testing.assert_array_equal(plain.numpy(), recorded.numpy())


def test_non_contiguous_and_integer_inputs(rng):
    base = rng.standard_normal((5, 5, 2, 3))
    x = base.transpose(2, 3, 0, 1)  # a strided view of shape (2, 3, 5, 5)
    w = rng.standard_normal((2, 3, 2, 2))
    expected = F.conv2d(np.ascontiguousarray(x), w).numpy()
    np.testing.assert_allclose(F.conv2d(x, w).numpy(), expected, rtol=1e-12)
    ints = np.arange(16).reshape(1, 1, 4, 4)
    y = F.avg_pool2d(ints, 2)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy()[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_gradient_of_a_broadcast_upstream_gradient(rng):
    """Upstream gradients may be zero-stride broadcasts (from a sum); the kernels copy what they need."""
    x = mf.tensor(rng.standard_normal((2, 2, 6, 6)), requires_grad=True)
    w = mf.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    F.avg_pool2d(F.max_pool2d(F.conv2d(x, w, padding=1), 2), 3, 1, 1).sum().backward()
    sx, sw = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad = w.grad = None
    y = F.avg_pool2d(F.max_pool2d(F.conv2d(x, w, padding=1), 2), 3, 1, 1)
    y.backward(np.ones(y.shape))
    np.testing.assert_allclose(x.grad.numpy(), sx, rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), sw, rtol=1e-6)


# ----------------------------------------------------------------------------- dtypes
def test_float32_in_float32_out_values_and_gradients(rng):
    x = mf.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    w = mf.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = mf.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    h = F.conv2d(x, w, b, stride=1, padding=1)
    p = F.max_pool2d(h, 2)
    a = F.avg_pool2d(h, 3, 2, 1)
    for t in (h, p, a):
        assert t.dtype == np.float32
    (p.sum() + a.sum()).backward()
    for t in (x, w, b):
        assert t.grad.dtype == np.float32


def test_float32_second_order_stays_float32(rng):
    x = mf.tensor(rng.standard_normal((1, 2, 6, 6)).astype(np.float32), requires_grad=True)
    w = mf.tensor(rng.standard_normal((2, 2, 3, 3)).astype(np.float32), requires_grad=True)
    loss = (F.avg_pool2d(F.max_pool2d(F.conv2d(x, w, padding=1), 2), 3, 1, 1) ** 2).sum()
    gx, gw = mf.autograd(loss, [x, w], create_graph=True)
    assert gx.dtype == gw.dtype == np.float32
    ((gx * gx).sum() + (gw * gw).sum()).backward()
    assert x.grad.dtype == w.grad.dtype == np.float32


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: F.conv2d(np.zeros((3, 5, 5)), np.zeros((1, 3, 3, 3))), "conv2d: input must be 4-D"),
        (lambda: F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((3, 3, 3))), "conv2d: weight must be 4-D"),
        (
            lambda: F.conv2d(np.zeros((2, 3, 5, 5)), np.zeros((4, 1, 3, 3))),
            "conv2d: input has 3 channels, weight expects 1",
        ),
        (
            lambda: F.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 5, 5))),
            "kernel 5×5 is larger than the padded input 3×3",
        ),
        (lambda: F.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 5, 5)), padding=(0, 1)), "padded input 3×5"),
        (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=0), "conv2d: stride must be positive"),
        (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=(1, -2)), "stride must be positive"),
        (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=-1), "padding must be non-negative"),
        (
            lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=(1, 2, 3)),
            "stride must be an int or a pair",
        ),
        (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), np.zeros(3)), "bias must have shape (2,)"),
        (lambda: F.max_pool2d(np.zeros((5, 5)), 2), "max_pool2d: input must be 4-D"),
        (lambda: F.max_pool2d(np.zeros((1, 1, 5, 5)), 2, 0), "max_pool2d: stride must be positive"),
        (lambda: F.max_pool2d(np.zeros((1, 1, 2, 2)), 3), "max_pool2d: kernel 3×3 is larger than the padded input 2×2"),
        (lambda: F.max_pool2d(np.zeros((1, 1, 5, 5)), 2, 1, 2), "padding (2, 2) must be at most half"),
        (lambda: F.avg_pool2d(np.zeros((1, 1, 5, 5)), 0), "avg_pool2d: kernel_size must be positive"),
        (lambda: F.avg_pool2d(np.zeros((1, 1, 5, 5)), 2.5), "kernel_size must be an int or a pair"),
        (lambda: F.avg_pool2d(np.zeros((1, 1, 5, 5)), True), "kernel_size must be an int or a pair"),
        (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 0, 3))), "has an empty kernel"),
    ],
)
def test_bad_arguments_raise_shape_errors(call, message):
    with pytest.raises(mf.ShapeError) as info:
        call()
    assert message in str(info.value)


# ----------------------------------------------------------------------------- raw kernels
def naive_im2col(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = np.zeros((c, kh, kw, ho, wo, n))
    for ci in range(c):
        for u in range(kh):
            for v in range(kw):
                for i in range(ho):
                    for j in range(wo):
                        cols[ci, u, v, i, j] = xp[:, ci, i * sh + u, j * sw + v]
    return cols.reshape(c * kh * kw, ho * wo * n)


GEOMETRIES = [
    ((3, 3), (1, 1), (0, 0)),
    ((3, 2), (2, 1), (1, 1)),
    ((2, 2), (2, 2), (0, 0)),
    ((1, 1), (1, 1), (0, 0)),
    ((4, 3), (3, 2), (2, 1)),
    ((2, 3), (3, 4), (0, 1)),
]


@pytest.mark.parametrize(("kernel", "stride", "padding"), GEOMETRIES)
def test_im2col_matches_a_loop_reference(kernel, stride, padding, rng):
    x = rng.standard_normal((2, 3, 7, 8))
    np.testing.assert_array_equal(K.im2col(x, kernel, stride, padding), naive_im2col(x, kernel, stride, padding))


@pytest.mark.parametrize(("kernel", "stride", "padding"), GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, padding, rng):
    x = rng.standard_normal((2, 3, 7, 8))
    cols = K.im2col(x, kernel, stride, padding)
    c = rng.standard_normal(cols.shape)
    back = K.col2im(c, x.shape, kernel, stride, padding)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"), [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 1), (1, 0))]
)
def test_pool_kernels_are_adjoint_pairs(kernel, stride, padding, rng):
    x = distinct(rng, (2, 3, 7, 6))
    y, masks = K.max_pool2d_forward(x, kernel, stride, padding)
    assert masks.sum(axis=0).min() == 1 and masks.sum(axis=0).max() == 1  # one arg-max per window
    g, gy = rng.standard_normal(x.shape), rng.standard_normal(y.shape)
    scattered = K.max_pool2d_scatter(gy, masks, x.shape, kernel, stride, padding)
    gathered = K.max_pool2d_gather(g, masks, kernel, stride, padding)
    np.testing.assert_allclose(np.sum(scattered * g), np.sum(gy * gathered), rtol=1e-12)
    np.testing.assert_array_equal(K.max_pool2d_gather(x, masks, kernel, stride, padding), y)
    averaged = K.avg_pool2d_forward(g, kernel, stride, padding)
    spread = K.avg_pool2d_spread(gy, x.shape, kernel, stride, padding)
    np.testing.assert_allclose(np.sum(averaged * gy), np.sum(g * spread), rtol=1e-12)


def test_kernels_return_nchw_views_that_chain_without_copies(rng):
    x = rng.standard_normal((4, 3, 8, 8))
    y, _ = K.conv2d_forward(x, rng.standard_normal((5, 3, 3, 3)), None, (1, 1), (1, 1))
    pooled, _ = K.max_pool2d_forward(y, (2, 2), (2, 2), (0, 0))
    assert y.shape == (4, 5, 8, 8) and pooled.shape == (4, 5, 4, 4)
    assert np.shares_memory(K.batch_last(pooled), pooled)  # the next kernel reads the buffer as it is


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_gpu_matches_cpu(rng):
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    results = []
    for device in ("cpu", "gpu"):
        with mf.using(device):
            tx, tw, tb = (mf.tensor(a, requires_grad=True) for a in (x, w, b))
            y = F.avg_pool2d(F.max_pool2d(F.conv2d(tx, tw, tb, stride=1, padding=1), 3, 2, 1), 2, 1)
            y.sum().backward()
            results.append([t.numpy() for t in (y, tx.grad, tw.grad, tb.grad)])
    for cpu, gpu in zip(*results):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-4)


def test_allocator_tuning_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("MATHFLOW_MALLOC_TUNING", "0")
    assert K.keep_freed_host_memory() is False
    monkeypatch.setenv("MATHFLOW_MALLOC_TUNING", "1")
    import platform
    import sys

    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert K.keep_freed_host_memory() is expected
