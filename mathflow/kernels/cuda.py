"""CUDA kernels for the CuPy backend: sources, lazy builders and launchers.

The sources are C++ text made per dtype (``float`` or ``double``). Their index arithmetic and
float update rules are printed from the functions of :mod:`mathflow.kernels.gather` (the same
functions :mod:`mathflow.kernels.emulate` executes with NumPy), so what the emulation checks is
what the device runs. CuPy is imported only when a kernel is first built or launched.

Kernels (``name``: work of one thread, all deterministic, no atomics):

* ``im2col``: one column entry cols[(c,u,v),(i,j,n)], read from the source pixel or 0 in the padding;
* ``col2im``: one input pixel; sums the column entries that read it (a gather over window offsets);
* ``max_pool_forward``: one output; the window maximum and its first arg-max offset k = u·kw + v;
* ``max_pool_backward``: one input pixel; sums gy over the windows whose arg-max it is;
* ``max_pool_select``: one output; the upstream value at the recorded arg-max (MaxPoolGather);
* ``avg_pool_forward`` / ``avg_pool_backward``: one output / one input pixel;
* ``softmax_xent_forward``: one *block* per row: max, Σ exp, log-probabilities and the row loss;
* element-wise: ``bias_relu``, ``relu_grad``, ``softmax_xent_backward`` and one ``<optimizer>_update``
  per optimizer rule (sgd, momentum, nesterov, adam — also AdamW —, rmsprop, adagrad).

Launchers take CuPy arrays and return what the matching functions of :mod:`mathflow.kernels.cpu`
return (same shapes and batch-last layouts), except that max pooling returns arg-max offsets
(int32, (C, Ho, Wo, N)) instead of boolean masks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mathflow.kernels import gather as G
from mathflow.kernels.cpu import out_size
from mathflow.kernels.gather import Sym, c_text

Pair = tuple[int, int]

CTYPES = {"float32": "float", "float64": "double"}
BLOCK = 256  # threads per block of the element-wise and gather kernels
XENT_BLOCK_MAX = 256  # threads per row of the softmax + cross-entropy kernel
INDEX_LIMIT = 2**30  # element counts and offsets must stay below this (32-bit index arithmetic)

_MATH = {"float": {"exp": "expf", "log": "logf"}, "double": {"exp": "exp", "log": "log"}}


def ctype_of(dtype: Any) -> str:
    """The C type of a float dtype (``float32`` → ``float``)."""
    name = np.dtype(dtype).name
    if name not in CTYPES:
        raise TypeError(f"CUDA kernels support float32 and float64, got {name}")
    return CTYPES[name]


def _syms(names: str, kind: str = "int") -> list[Sym]:
    return [Sym(n, kind) for n in names.split()]


def _decl(names: str) -> str:
    return ", ".join(f"const idx_t {n}" for n in names.split())


_GEOMETRY = "C H W N kh kw sh sw ph pw Ho Wo"
_PRELUDE = "typedef int idx_t;\n"
_GRID_LOOP = "for (idx_t t = blockIdx.x * blockDim.x + threadIdx.x; t < total; t += blockDim.x * gridDim.x)"


# ----------------------------------------------------------------------------- gather kernel sources
def im2col_source(ctype: str) -> str:
    """cols[t] for t = ravel(c, u, v, i, j, n): x[n, c, i·sh+u−ph, j·sw+v−pw] or 0 in the padding."""
    C, H, W, N, kh, kw, sh, sw, ph, pw, Ho, Wo = _syms(_GEOMETRY)
    c, u, v, i, j, n, h, w = _syms("c u v i j n h w")
    coords = G.unravel(Sym("t"), (C, kh, kw, Ho, Wo, N))
    strides = _syms("sN sC sH sW")
    return f"""{_PRELUDE}
extern "C" __global__ void mathflow_im2col_{ctype}(
    const {ctype}* __restrict__ x, {ctype}* __restrict__ cols, const idx_t total,
    {_decl(_GEOMETRY)}, {_decl("sN sC sH sW")})
{{
  {_GRID_LOOP} {{
    const idx_t c = {c_text(coords[0])}, u = {c_text(coords[1])}, v = {c_text(coords[2])};
    const idx_t i = {c_text(coords[3])}, j = {c_text(coords[4])}, n = {c_text(coords[5])};
    const idx_t h = {c_text(G.window_pixel(i, u, sh, ph))};
    const idx_t w = {c_text(G.window_pixel(j, v, sw, pw))};
    cols[t] = {c_text(G.inside(h, H) & G.inside(w, W))} ? x[{c_text(G.offset4(n, c, h, w, strides))}] : ({ctype})0;
  }}
}}
"""


def _pixel_loop_head() -> tuple[str, list[Sym]]:
    """The common start of the per-input-pixel gathers: (c, h, w, n) of thread t, padded hp, wp."""
    C, H, W, N = _syms("C H W N")
    coords = G.unravel(Sym("t"), (C, H, W, N))
    ph, pw = _syms("ph pw")
    h, w = _syms("h w")
    text = f"""    const idx_t c = {c_text(coords[0])}, h = {c_text(coords[1])};
    const idx_t w = {c_text(coords[2])}, n = {c_text(coords[3])};
    const idx_t hp = {c_text(h + ph)}, wp = {c_text(w + pw)};"""
    return text, _syms("c h w n hp wp")


def _tap_loops(body: str) -> str:
    """for each window offset (u, v) in row-major order whose window (i, j) reads (hp, wp): ``body``."""
    sh, sw, Ho, Wo = _syms("sh sw Ho Wo")
    hp, wp, u, v = _syms("hp wp u v")
    i, ok_i = G.tap(hp, u, sh, Ho)
    j, ok_j = G.tap(wp, v, sw, Wo)
    return f"""    for (idx_t u = 0; u < kh; ++u) {{
      if (!{c_text(ok_i)}) continue;
      const idx_t i = {c_text(i)};
      for (idx_t v = 0; v < kw; ++v) {{
        if (!{c_text(ok_j)}) continue;
        const idx_t j = {c_text(j)};
{body}
      }}
    }}"""


def _pixel_gather_kernel(name: str, ctype: str, params: str, body: str) -> str:
    """Kernel ``mathflow_<name>_<ctype>(params)``, a per-input-pixel gather: thread t owns pixel (c, h, w, n),
    runs ``body`` (which adds into ``acc``) for each window offset whose window reads the pixel, and writes
    out[t] = acc."""
    head, _ = _pixel_loop_head()
    return f"""{_PRELUDE}
extern "C" __global__ void mathflow_{name}_{ctype}(
    {params})
{{
  {_GRID_LOOP} {{
{head}
    {ctype} acc = ({ctype})0;
{_tap_loops(body)}
    out[t] = acc;
  }}
}}
"""


def col2im_source(ctype: str) -> str:
    """out[c, h, w, n] = Σ_(u,v) cols[(c,u,v),(i,j,n)] over the windows (i, j) reading the pixel."""
    C, N, kh, kw, Ho, Wo = _syms("C N kh kw Ho Wo")
    c, n, u, v, i, j = _syms("c n u v i j")
    acc = Sym("acc", ctype)
    index = G.ravel((c, u, v, i, j, n), (C, kh, kw, Ho, Wo, N))
    body = f"        acc = {c_text(acc + Sym(f'cols[{c_text(index)}]', ctype))};"
    params = f"const {ctype}* __restrict__ cols, {ctype}* __restrict__ out, const idx_t total, {_decl(_GEOMETRY)}"
    return _pixel_gather_kernel("col2im", ctype, params, body)


def _window_loops(body: str) -> str:
    """for each window offset (u, v) of output (i, j): h, w, ``ok`` (a real pixel), k = u·kw + v; ``body``."""
    H, W, kw, sh, sw, ph, pw = _syms("H W kw sh sw ph pw")
    i, j, u, v, h, w = _syms("i j u v h w")
    return f"""    for (idx_t u = 0; u < kh; ++u) {{
      const idx_t h = {c_text(G.window_pixel(i, u, sh, ph))};
      for (idx_t v = 0; v < kw; ++v) {{
        const idx_t w = {c_text(G.window_pixel(j, v, sw, pw))};
        const bool ok = {c_text(G.inside(h, H) & G.inside(w, W))};
        const idx_t k = {c_text(G.window_offset(u, v, kw))};
{body}
      }}
    }}"""


def _output_head() -> str:
    C, N, Ho, Wo = _syms("C N Ho Wo")
    coords = G.unravel(Sym("t"), (C, Ho, Wo, N))
    return f"""    const idx_t c = {c_text(coords[0])}, i = {c_text(coords[1])};
    const idx_t j = {c_text(coords[2])}, n = {c_text(coords[3])};"""


def max_pool_forward_source(ctype: str) -> str:
    """y[c,i,j,n] = max over the window (padding −∞), arg[c,i,j,n] = its first arg-max offset."""
    c, n, h, w = _syms("c n h w")
    val, best = Sym("val", ctype), Sym("best", ctype)
    offset = c_text(G.offset4(n, c, h, w, _syms("sN sC sH sW")))
    body = f"""        const {ctype} val = ok ? x[{offset}] : neg_inf;
        if (k == 0 || {c_text(G.max_takes(val, best))}) {{ best = val; arg = k; }}"""
    return f"""{_PRELUDE}
extern "C" __global__ void mathflow_max_pool_forward_{ctype}(
    const {ctype}* __restrict__ x, {ctype}* __restrict__ y, int* __restrict__ argmax, const idx_t total,
    {_decl(_GEOMETRY)}, {_decl("sN sC sH sW")}, const {ctype} neg_inf)
{{
  {_GRID_LOOP} {{
{_output_head()}
    {ctype} best = neg_inf;
    int arg = 0;
{_window_loops(body)}
    y[t] = best;
    argmax[t] = arg;
  }}
}}
"""


def max_pool_backward_source(ctype: str) -> str:
    """gx[c,h,w,n] = Σ gy[n,c,i,j] over the windows (i, j) whose recorded arg-max is this pixel."""
    C, N, Ho, Wo, kw = _syms("C N Ho Wo kw")
    c, n, u, v, i, j = _syms("c n u v i j")
    acc = Sym("acc", ctype)
    g_offset = c_text(G.offset4(n, c, i, j, _syms("gN gC gH gW")))
    chosen = c_text(G.ravel((c, i, j, n), (C, Ho, Wo, N)))
    body = f"""        if (argmax[{chosen}] == {c_text(G.window_offset(u, v, kw))})
          acc = {c_text(acc + Sym(f"gy[{g_offset}]", ctype))};"""
    params = (
        f"const {ctype}* __restrict__ gy, const int* __restrict__ argmax, {ctype}* __restrict__ out, "
        f"const idx_t total,\n    {_decl(_GEOMETRY)}, {_decl('gN gC gH gW')}"
    )
    return _pixel_gather_kernel("max_pool_backward", ctype, params, body)


def max_pool_select_source(ctype: str) -> str:
    """out[c,i,j,n] = g[n, c, i·sh+u−ph, j·sw+v−pw] at the recorded arg-max (u, v) (0 in the padding)."""
    H, W, kw, sh, sw, ph, pw = _syms("H W kw sh sw ph pw")
    c, n, i, j, u, v, h, w, k = _syms("c n i j u v h w k")
    strides = _syms("sN sC sH sW")
    return f"""{_PRELUDE}
extern "C" __global__ void mathflow_max_pool_select_{ctype}(
    const {ctype}* __restrict__ g, const int* __restrict__ argmax, {ctype}* __restrict__ out, const idx_t total,
    {_decl(_GEOMETRY)}, {_decl("sN sC sH sW")})
{{
  {_GRID_LOOP} {{
{_output_head()}
    const idx_t k = argmax[t];
    const idx_t u = {c_text(k // kw)}, v = {c_text(k % kw)};
    const idx_t h = {c_text(G.window_pixel(i, u, sh, ph))};
    const idx_t w = {c_text(G.window_pixel(j, v, sw, pw))};
    out[t] = {c_text(G.inside(h, H) & G.inside(w, W))} ? g[{c_text(G.offset4(n, c, h, w, strides))}] : ({ctype})0;
  }}
}}
"""


def avg_pool_forward_source(ctype: str) -> str:
    """y[c,i,j,n] = (Σ over the window's real pixels, row-major) · inv, inv = 1/(kh·kw)."""
    c, n, h, w = _syms("c n h w")
    acc = Sym("acc", ctype)
    offset = c_text(G.offset4(n, c, h, w, _syms("sN sC sH sW")))
    body = f"        if (ok) acc = {c_text(acc + Sym(f'x[{offset}]', ctype))};"
    return f"""{_PRELUDE}
extern "C" __global__ void mathflow_avg_pool_forward_{ctype}(
    const {ctype}* __restrict__ x, {ctype}* __restrict__ y, const idx_t total,
    {_decl(_GEOMETRY)}, {_decl("sN sC sH sW")}, const {ctype} inv)
{{
  {_GRID_LOOP} {{
{_output_head()}
    {ctype} acc = ({ctype})0;
{_window_loops(body)}
    y[t] = {c_text(acc * Sym("inv", ctype))};
  }}
}}
"""


def avg_pool_backward_source(ctype: str) -> str:
    """gx[c,h,w,n] = Σ gy[n,c,i,j]·inv over the windows (i, j) containing the pixel."""
    c, n, i, j = _syms("c n i j")
    acc = Sym("acc", ctype)
    g_offset = c_text(G.offset4(n, c, i, j, _syms("gN gC gH gW")))
    body = f"        acc = {c_text(acc + Sym(f'gy[{g_offset}]', ctype) * Sym('inv', ctype))};"
    params = (
        f"const {ctype}* __restrict__ gy, {ctype}* __restrict__ out, const idx_t total,\n"
        f"    {_decl(_GEOMETRY)}, {_decl('gN gC gH gW')}, const {ctype} inv"
    )
    return _pixel_gather_kernel("avg_pool_backward", ctype, params, body)


def _tree(ctype: str, combine: Callable[[Sym, Sym], Any]) -> str:
    a, b = Sym("buf[k]", ctype), Sym("buf[k + s]", ctype)
    return f"""  buf[k] = acc;
  __syncthreads();
  for (idx_t s = B / 2; s > 0; s >>= 1) {{
    if (k < s) buf[k] = {c_text(combine(a, b))};
    __syncthreads();
  }}"""


def softmax_xent_forward_source(ctype: str) -> str:
    """One block of B (a power of two) threads per row r of z (rows, C):

    m = max_j z, s = Σ_j e^(z−m), log p_j = (z_j − m) − ln s (written to ``logp``), and
    row_loss[r] = gather.xent_row_loss(log p_target, Σ_j log p_j).
    """
    exp, log = _MATH[ctype]["exp"], _MATH[ctype]["log"]
    acc, x = Sym("acc", ctype), Sym("x", ctype)
    p = {name: Sym(name, ctype) for name in ("one_minus_eps", "eps_over_c")}
    lpt = Sym("lp_target", ctype)
    loss_plain = c_text(G.xent_row_loss(lpt, Sym("total", ctype), p, False))
    loss_smooth = c_text(G.xent_row_loss(lpt, Sym("total", ctype), p, True))
    shifted = c_text(x - Sym("m", ctype))
    return f"""{_PRELUDE}
extern "C" __global__ void mathflow_softmax_xent_forward_{ctype}(
    const {ctype}* __restrict__ z, const long long* __restrict__ index, {ctype}* __restrict__ logp,
    {ctype}* __restrict__ row_loss, const idx_t rows, const idx_t C, const {ctype} neg_inf,
    const {ctype} one_minus_eps, const {ctype} eps_over_c, const int smoothing)
{{
  extern __shared__ unsigned char shared_bytes[];
  {ctype}* buf = ({ctype}*)shared_bytes;
  const idx_t r = blockIdx.x;
  if (r >= rows) return;
  const idx_t k = threadIdx.x, B = blockDim.x;
  const {ctype}* zr = z + (long long)r * C;
  {ctype}* lr = logp + (long long)r * C;
  {ctype} acc = neg_inf;
  for (idx_t j = k; j < C; j += B) {{ const {ctype} x = zr[j]; acc = {c_text(G.maximum(acc, x))}; }}
{_tree(ctype, G.maximum)}
  const {ctype} m = buf[0];
  __syncthreads();
  acc = ({ctype})0;
  for (idx_t j = k; j < C; j += B) {{ const {ctype} x = zr[j]; acc = {c_text(acc + Sym(f"{exp}({shifted})", ctype))}; }}
{_tree(ctype, lambda a, b: a + b)}
  const {ctype} ls = {log}(buf[0]);
  __syncthreads();
  acc = ({ctype})0;
  for (idx_t j = k; j < C; j += B) {{
    const {ctype} x = zr[j];
    const {ctype} lp = {c_text(Sym(f"({shifted})", ctype) - Sym("ls", ctype))};
    lr[j] = lp;
    acc = {c_text(acc + Sym("lp", ctype))};
  }}
{_tree(ctype, lambda a, b: a + b)}
  if (k == 0) {{
    const {ctype} x = zr[index[r]];
    const {ctype} lp_target = {c_text(Sym(f"({shifted})", ctype) - Sym("ls", ctype))};
    const {ctype} total = buf[0];
    row_loss[r] = smoothing ? {loss_smooth} : {loss_plain};
  }}
}}
"""


RAW_SOURCES: dict[str, Callable[[str], str]] = {
    "im2col": im2col_source,
    "col2im": col2im_source,
    "max_pool_forward": max_pool_forward_source,
    "max_pool_backward": max_pool_backward_source,
    "max_pool_select": max_pool_select_source,
    "avg_pool_forward": avg_pool_forward_source,
    "avg_pool_backward": avg_pool_backward_source,
    "softmax_xent_forward": softmax_xent_forward_source,
}


def raw_kernel_name(name: str, ctype: str) -> str:
    """The ``extern "C"`` symbol of raw kernel ``name`` for ``ctype``."""
    return f"mathflow_{name}_{ctype}"


# ----------------------------------------------------------------------------- element-wise kernels
@dataclass(frozen=True)
class ElementwiseSpec:
    """Arguments of ``cupy.ElementwiseKernel(in_params, out_params, operation, name)``."""

    in_params: str
    out_params: str
    operation: str
    name: str


@dataclass(frozen=True)
class UpdateRule:
    """An optimizer rule of :mod:`gather`: ``fn(w, g, *state, p, variant)`` → (W, *state)."""

    fn: Callable[..., tuple[Any, ...]]
    state: tuple[str, ...]
    base: tuple[str, ...]
    extra: Callable[[Any], tuple[str, ...]]

    def scalars(self, variant: Any) -> tuple[str, ...]:
        """Names of the launch scalars of ``variant``."""
        return self.base + self.extra(variant)


def _decay_extra(variant: Any) -> tuple[str, ...]:
    return ("wd",) if variant else ()


def _adam_extra(variant: Any) -> tuple[str, ...]:
    return {"l2": ("wd",), "decoupled": ("decay",), "none": ()}[variant]


UPDATE_RULES: dict[str, UpdateRule] = {
    "sgd": UpdateRule(G.sgd_update, (), ("lr",), _decay_extra),
    "momentum": UpdateRule(G.momentum_update, ("velocity",), ("lr", "momentum"), _decay_extra),
    "nesterov": UpdateRule(G.nesterov_update, ("velocity",), ("lr", "momentum"), _decay_extra),
    "adam": UpdateRule(
        G.adam_update, ("m", "v"), ("one_minus_beta1", "beta2", "one_minus_beta2", "eps", "step_size"), _adam_extra
    ),
    "rmsprop": UpdateRule(G.rmsprop_update, ("square_avg",), ("rho", "one_minus_rho", "eps", "lr"), _decay_extra),
    "adagrad": UpdateRule(G.adagrad_update, ("sum",), ("eps", "lr"), _decay_extra),
}
UPDATE_VARIANTS: dict[str, tuple[Any, ...]] = {
    "sgd": (False, True),
    "momentum": (False, True),
    "nesterov": (False, True),
    "adam": ("none", "l2", "decoupled"),
    "rmsprop": (False, True),
    "adagrad": (False, True),
}


def update_spec(kind: str, ctype: str, variant: Any) -> ElementwiseSpec:
    """The fused update kernel of optimizer rule ``kind``: reads W, g, state; writes W and state in place."""
    rule = UPDATE_RULES[kind]
    dname = {"float": "float32", "double": "float64"}[ctype]
    scalars = rule.scalars(variant)
    p = {name: Sym(name, ctype) for name in scalars}
    outs = ("w",) + rule.state
    results = rule.fn(Sym("w", ctype), Sym("g", ctype), *(Sym(s, ctype) for s in rule.state), p, variant)
    lines = [f"const {ctype} new_{name} = {c_text(expr)};" for name, expr in zip(outs, results)]
    lines += [f"{name} = new_{name};" for name in outs]
    tag = {False: "plain", True: "decay"}.get(variant, variant) if not isinstance(variant, str) else variant
    return ElementwiseSpec(
        ", ".join([f"{dname} g"] + [f"{dname} {s}" for s in scalars]),
        ", ".join(f"{dname} {name}" for name in outs),
        "\n".join(lines),
        f"mathflow_{kind}_{tag}_update_{ctype}",
    )


def bias_relu_spec(ctype: str) -> ElementwiseSpec:
    """y ← max(y + b[(i / inner) % channels], 0) in place, mask = [y > 0]."""
    dname = {"float": "float32", "double": "float64"}[ctype]
    z = Sym("z", ctype)
    out, mask = G.bias_relu(z)
    return ElementwiseSpec(
        f"raw {dname} b, int32 inner, int32 channels",
        f"{dname} y, bool mask",
        f"const {ctype} z = {c_text(Sym('y', ctype) + Sym('b[(i / inner) % channels]', ctype))};\n"
        f"const {ctype} r = {c_text(out)};\ny = r;\nmask = {c_text(Sym('r', ctype) > 0)};",
        f"mathflow_bias_relu_{ctype}",
    )


def relu_grad_spec(ctype: str) -> ElementwiseSpec:
    """gz = gy · mask."""
    dname = {"float": "float32", "double": "float64"}[ctype]
    expr = G.relu_grad(Sym("gy", ctype), Sym("mask", "bool"))
    return ElementwiseSpec(
        f"{dname} gy, bool mask", f"{dname} gz", f"gz = {c_text(expr)};", f"mathflow_relu_grad_{ctype}"
    )


def softmax_xent_backward_spec(ctype: str, smoothing: bool) -> ElementwiseSpec:
    """gz = (e^(log p) − q)·(g·s), q = (1−ε)·onehot(index) + ε/C; thread i = r·C + j."""
    dname = {"float": "float32", "double": "float64"}[ctype]
    p = {name: Sym(name, ctype) for name in ("one_minus_eps", "eps_over_c", "scale")}
    expr = G.xent_grad(Sym("e", ctype), Sym("hit", "bool"), Sym("g", ctype), p, smoothing)
    return ElementwiseSpec(
        f"{dname} logp, raw int64 index, {dname} g, {dname} one_minus_eps, {dname} eps_over_c, {dname} scale, int32 C",
        f"{dname} gz",
        f"const bool hit = (i % C) == index[i / C];\nconst {ctype} e = {_MATH[ctype]['exp']}(logp);\n"
        f"gz = {c_text(expr)};",
        f"mathflow_softmax_xent_backward_{'smooth' if smoothing else 'plain'}_{ctype}",
    )


def elementwise_specs(ctype: str) -> dict[str, ElementwiseSpec]:
    """Every element-wise kernel for ``ctype`` by its name."""
    specs = {
        "bias_relu": bias_relu_spec(ctype),
        "relu_grad": relu_grad_spec(ctype),
        "softmax_xent_backward_plain": softmax_xent_backward_spec(ctype, False),
        "softmax_xent_backward_smooth": softmax_xent_backward_spec(ctype, True),
    }
    for kind, variants in UPDATE_VARIANTS.items():
        for variant in variants:
            spec = update_spec(kind, ctype, variant)
            specs[spec.name] = spec
    return specs


# ----------------------------------------------------------------------------- lazy builders
def _cupy() -> Any:
    import cupy  # noqa: PLC0415 - deliberately lazy

    return cupy


@functools.cache
def raw_kernel(name: str, dtype: str) -> Any:
    """``cupy.RawKernel`` ``name`` for ``dtype``, compiled on first use and cached."""
    ctype = ctype_of(dtype)
    return _cupy().RawKernel(RAW_SOURCES[name](ctype), raw_kernel_name(name, ctype))


@functools.cache
def elementwise_kernel(key: str, dtype: str) -> Any:
    """``cupy.ElementwiseKernel`` ``key`` (a name of :func:`elementwise_specs`) for ``dtype``, cached."""
    spec = elementwise_specs(ctype_of(dtype))[key]
    return _cupy().ElementwiseKernel(spec.in_params, spec.out_params, spec.operation, spec.name)


# ----------------------------------------------------------------------------- launchers (CuPy arrays)
def _check_index(op: str, *counts: int) -> None:
    if max(counts, default=0) >= INDEX_LIMIT:
        raise ValueError(f"{op}: {max(counts)} elements exceed the 32-bit index range of the CUDA kernels")


def _strides(a: Any) -> tuple[Any, ...]:
    if any(s < 0 for s in a.strides):
        raise ValueError("CUDA kernels take arrays with non-negative strides")
    return tuple(np.int32(s // a.itemsize) for s in a.strides)


def _span(a: Any) -> int:
    return 1 + sum((d - 1) * (s // a.itemsize) for d, s in zip(a.shape, a.strides)) if a.size else 0


def _launch(name: str, dtype: Any, total: int, args: tuple[Any, ...]) -> None:
    if total == 0:
        return
    blocks = min(-(-total // BLOCK), 65535 * 32)
    raw_kernel(name, np.dtype(dtype).name)((blocks,), (BLOCK,), args)


def _geometry_args(shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> tuple[Any, ...]:
    n, c, h, w = shape
    ho, wo = out_size(h, kernel[0], stride[0], padding[0]), out_size(w, kernel[1], stride[1], padding[1])
    return tuple(np.int32(v) for v in (c, h, w, n, *kernel, *stride, *padding, ho, wo))


def im2col(x: Any, kernel: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0)) -> Any:
    """The (C·kh·kw, Ho·Wo·N) column matrix of an NCHW CuPy array (any non-negative strides)."""
    cp = _cupy()
    geo = _geometry_args(x.shape, kernel, stride, padding)
    c, ho, wo, n = int(geo[0]), int(geo[10]), int(geo[11]), int(geo[3])
    total = c * kernel[0] * kernel[1] * ho * wo * n
    _check_index("im2col", total, _span(x))
    cols = cp.empty((c * kernel[0] * kernel[1], ho * wo * n), dtype=x.dtype)
    _launch("im2col", x.dtype, total, (x, cols, np.int32(total), *geo, *_strides(x)))
    return cols


def col2im(cols: Any, shape: tuple[int, ...], kernel: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0)) -> Any:
    """The adjoint of :func:`im2col` as a gather; an NCHW view of a (C, H, W, N) buffer."""
    cp = _cupy()
    n, c, h, w = shape
    cols = cp.ascontiguousarray(cols)
    total = c * h * w * n
    _check_index("col2im", total, cols.size)
    out = cp.empty((c, h, w, n), dtype=cols.dtype)
    _launch("col2im", cols.dtype, total, (cols, out, np.int32(total), *_geometry_args(shape, kernel, stride, padding)))
    return out.transpose(3, 0, 1, 2)


def max_pool_forward(x: Any, kernel: Pair, stride: Pair, padding: Pair) -> tuple[Any, Any]:
    """(y as an NCHW view of (C, Ho, Wo, N), int32 arg-max offsets (C, Ho, Wo, N))."""
    cp = _cupy()
    geo = _geometry_args(x.shape, kernel, stride, padding)
    c, n, ho, wo = int(geo[0]), int(geo[3]), int(geo[10]), int(geo[11])
    total = c * ho * wo * n
    _check_index("max_pool_forward", total, _span(x))
    y = cp.empty((c, ho, wo, n), dtype=x.dtype)
    arg = cp.empty((c, ho, wo, n), dtype=np.int32)
    neg_inf = x.dtype.type(-np.inf)
    _launch("max_pool_forward", x.dtype, total, (x, y, arg, np.int32(total), *geo, *_strides(x), neg_inf))
    return y.transpose(3, 0, 1, 2), arg


def max_pool_backward(gy: Any, argmax: Any, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """∂L/∂x of max pooling as a gather over the windows whose arg-max each pixel is."""
    cp = _cupy()
    n, c, h, w = shape
    total = c * h * w * n
    _check_index("max_pool_backward", total, _span(gy))
    out = cp.empty((c, h, w, n), dtype=gy.dtype)
    args = (
        gy,
        cp.ascontiguousarray(argmax, dtype=np.int32),
        out,
        np.int32(total),
        *_geometry_args(shape, kernel, stride, padding),
        *_strides(gy),
    )
    _launch("max_pool_backward", gy.dtype, total, args)
    return out.transpose(3, 0, 1, 2)


def max_pool_select(g: Any, argmax: Any, kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """g at every window's recorded arg-max: the adjoint of :func:`max_pool_backward`."""
    cp = _cupy()
    geo = _geometry_args(g.shape, kernel, stride, padding)
    c, n, ho, wo = int(geo[0]), int(geo[3]), int(geo[10]), int(geo[11])
    total = c * ho * wo * n
    _check_index("max_pool_select", total, _span(g))
    out = cp.empty((c, ho, wo, n), dtype=g.dtype)
    args = (g, cp.ascontiguousarray(argmax, dtype=np.int32), out, np.int32(total), *geo, *_strides(g))
    _launch("max_pool_select", g.dtype, total, args)
    return out.transpose(3, 0, 1, 2)


def avg_pool_forward(x: Any, kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """Average pooling (padding counted as zeros); an NCHW view of (C, Ho, Wo, N)."""
    cp = _cupy()
    geo = _geometry_args(x.shape, kernel, stride, padding)
    c, n, ho, wo = int(geo[0]), int(geo[3]), int(geo[10]), int(geo[11])
    total = c * ho * wo * n
    _check_index("avg_pool_forward", total, _span(x))
    y = cp.empty((c, ho, wo, n), dtype=x.dtype)
    inv = x.dtype.type(1.0 / (kernel[0] * kernel[1]))
    _launch("avg_pool_forward", x.dtype, total, (x, y, np.int32(total), *geo, *_strides(x), inv))
    return y.transpose(3, 0, 1, 2)


def avg_pool_backward(gy: Any, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """∂L/∂x of average pooling as a gather."""
    cp = _cupy()
    n, c, h, w = shape
    total = c * h * w * n
    _check_index("avg_pool_backward", total, _span(gy))
    out = cp.empty((c, h, w, n), dtype=gy.dtype)
    inv = gy.dtype.type(1.0 / (kernel[0] * kernel[1]))
    args = (gy, out, np.int32(total), *_geometry_args(shape, kernel, stride, padding), *_strides(gy), inv)
    _launch("avg_pool_backward", gy.dtype, total, args)
    return out.transpose(3, 0, 1, 2)


def bias_relu(y: Any, b: Any, inner: int, channels: int) -> Any:
    """In place on a contiguous ``y``: y ← max(y + b[(i / inner) % channels], 0); returns the mask."""
    cp = _cupy()
    mask = cp.empty(y.shape, dtype=bool)
    elementwise_kernel("bias_relu", y.dtype.name)(b, np.int32(inner), np.int32(channels), y, mask)
    return mask


def relu_grad(gy: Any, mask: Any) -> Any:
    """gy · mask in one pass."""
    return elementwise_kernel("relu_grad", gy.dtype.name)(gy, mask)


def xent_block(classes: int) -> int:
    """Threads per row: the power of two ≥ C, between 32 and :data:`XENT_BLOCK_MAX`."""
    return max(32, min(XENT_BLOCK_MAX, 1 << max(0, math.ceil(math.log2(max(classes, 1))))))


def softmax_xent_forward(z: Any, index: Any, smoothing: float = 0.0, scale: float = 1.0) -> tuple[Any, Any]:
    """(loss as a 0-d array, log-probabilities (N, C)) of softmax cross-entropy with class indices."""
    cp = _cupy()
    z = cp.ascontiguousarray(z)
    rows, classes = z.shape
    _check_index("softmax_xent_forward", z.size)
    logp = cp.empty_like(z)
    row_loss = cp.empty(rows, dtype=z.dtype)
    cast = z.dtype.type
    block = xent_block(classes)
    if rows:
        raw_kernel("softmax_xent_forward", z.dtype.name)(
            (rows,),
            (block,),
            (
                z,
                cp.ascontiguousarray(index, dtype=np.int64),
                logp,
                row_loss,
                np.int32(rows),
                np.int32(classes),
                cast(-np.inf),
                cast(1.0 - smoothing),
                cast(smoothing / classes),
                np.int32(smoothing != 0.0),
            ),
            shared_mem=block * z.dtype.itemsize,
        )
    return (row_loss.sum() * cast(scale)).astype(z.dtype), logp


def softmax_xent_backward(logp: Any, index: Any, g: Any, smoothing: float = 0.0, scale: float = 1.0) -> Any:
    """(softmax(z) − q)·(g·s) from the stored log-probabilities."""
    cp = _cupy()
    rows, classes = logp.shape
    cast = logp.dtype.type
    key = "softmax_xent_backward_smooth" if smoothing else "softmax_xent_backward_plain"
    kernel = elementwise_kernel(key, logp.dtype.name)
    return kernel(
        logp,
        cp.ascontiguousarray(index, dtype=np.int64),
        cp.asarray(g, dtype=logp.dtype),
        cast(1.0 - smoothing),
        cast(smoothing / classes),
        cast(scale),
        np.int32(classes),
    )


# ----------------------------------------------------------------------------- optimizers
def optimizer_rule(optimizer: Any) -> tuple[str, Any]:
    """(rule kind, variant) of a :class:`mathflow.optim.Optimizer` instance."""
    from mathflow.optim import Adagrad, Adam, GradientDescent, RMSProp  # noqa: PLC0415

    if isinstance(optimizer, Adam):
        if not optimizer.weight_decay:
            return "adam", "none"
        return "adam", ("l2" if optimizer.coupled_decay else "decoupled")
    decay = bool(getattr(optimizer, "weight_decay", 0.0))
    if isinstance(optimizer, GradientDescent):
        if optimizer.momentum == 0.0:
            return "sgd", decay
        return ("nesterov" if optimizer.nesterov else "momentum"), decay
    if isinstance(optimizer, RMSProp):
        return "rmsprop", decay
    if isinstance(optimizer, Adagrad):
        return "adagrad", decay
    raise TypeError(f"no fused CUDA update for {type(optimizer).__name__}")


def optimizer_scalars(optimizer: Any, step: int, lr: float) -> dict[str, float]:
    """The launch scalars of one update (as Python floats), computed as the NumPy code computes them."""
    kind, _ = optimizer_rule(optimizer)
    p: dict[str, float] = {"lr": lr, "wd": getattr(optimizer, "weight_decay", 0.0)}
    if kind in ("momentum", "nesterov"):
        p["momentum"] = optimizer.momentum
    elif kind == "adam":
        b1, b2 = optimizer.beta1, optimizer.beta2
        if optimizer.bias_correction:
            root = math.sqrt(1.0 - b2**step)
            p["eps"] = optimizer.eps * root
            p["step_size"] = lr * root / (1.0 - b1**step)
        else:
            p["eps"], p["step_size"] = optimizer.eps, lr
        p.update(one_minus_beta1=1.0 - b1, beta2=b2, one_minus_beta2=1.0 - b2, decay=1.0 - lr * p["wd"])
    elif kind == "rmsprop":
        p.update(rho=optimizer.rho, one_minus_rho=1.0 - optimizer.rho, eps=optimizer.eps)
    elif kind == "adagrad":
        p["eps"] = optimizer.eps
    return p


def fused_update(optimizer: Any, slot: Any, w: Any, g: Any, lr: float) -> None:
    """One fused update of CuPy parameter ``w`` (in place, with its state) for ``optimizer``'s rule."""
    kind, variant = optimizer_rule(optimizer)
    rule = UPDATE_RULES[kind]
    p = optimizer_scalars(optimizer, slot.step, lr)
    cast = w.dtype.type
    ctype = ctype_of(w.dtype)
    kernel = elementwise_kernel(update_spec(kind, ctype, variant).name, w.dtype.name)
    if g.dtype != w.dtype:
        g = g.astype(w.dtype)
    kernel(g, *(cast(p[name]) for name in rule.scalars(variant)), w, *slot.state)
