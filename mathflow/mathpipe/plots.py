"""Figures of math pipelines: optimisation paths over contours, Taylor polynomials, PCA projections.

Every function returns a matplotlib ``Figure`` made with :func:`mathflow.tracking.new_figure`
(off-screen, no pyplot); the runner logs it as a PNG artifact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mathflow.autodiff.mode import no_grad
from mathflow.autodiff.tensor import Tensor

Grid = Callable[[dict[str, np.ndarray]], np.ndarray]


def evaluate_grid(
    expr: Any, names: Sequence[str], axes: Sequence[np.ndarray], fixed: dict[str, Any] | None = None
) -> np.ndarray:
    """``expr`` on the mesh of ``axes`` for the scalar variables ``names`` (other variables ``fixed``).

    Elementwise expressions are evaluated once on whole mesh arrays; anything else (reductions,
    matrix functions) point by point.
    """
    mesh = np.meshgrid(*axes, indexing="xy")
    fixed = dict(fixed or {})
    with no_grad():
        try:
            env = {**fixed, **{n: Tensor(m.astype(np.float64)) for n, m in zip(names, mesh)}}
            out = np.asarray(_number(expr.evaluate(env)), dtype=np.float64)
            if out.shape == mesh[0].shape:
                return out
        except Exception:  # noqa: BLE001 - fall back to the point-by-point evaluation
            pass
        out = np.empty(mesh[0].shape, dtype=np.float64)
        for index in np.ndindex(out.shape):
            env = {**fixed, **{n: Tensor(np.float64(m[index])) for n, m in zip(names, mesh)}}
            try:
                out[index] = float(np.asarray(_number(expr.evaluate(env))).reshape(-1)[0])
            except Exception:  # noqa: BLE001 - outside the domain: leave a hole in the plot
                out[index] = np.nan
    return out


def resolution(expr: Any, names: Sequence[str], fine: int = 120, coarse: int = 40) -> int:
    """Grid points per axis: ``fine`` when ``expr`` evaluates elementwise on mesh arrays, else ``coarse``."""
    probe = [np.array([0.5, 1.5])] * len(names)
    mesh = np.meshgrid(*probe, indexing="xy")
    with no_grad():
        try:
            env = {n: Tensor(m.astype(np.float64)) for n, m in zip(names, mesh)}
            out = np.asarray(_number(expr.evaluate(env)))
            return fine if out.shape == mesh[0].shape else coarse
        except Exception:  # noqa: BLE001 - not elementwise
            return coarse


def _number(value: Any) -> Any:
    return value.numpy() if isinstance(value, Tensor) else value


def _span(values: Sequence[float], extra: Sequence[float] = ()) -> tuple[float, float]:
    points = np.asarray([*values, *extra], dtype=np.float64)
    points = points[np.isfinite(points)]
    if points.size == 0:
        return -1.0, 1.0
    low, high = float(points.min()), float(points.max())
    pad = 0.25 * (high - low) + 0.5
    return low - pad, high + pad


def path_contour(
    objective: Any,
    names: Sequence[str],
    path: np.ndarray,
    *,
    constraints: Sequence[Any] = (),
    title: str = "",
) -> Any:
    """Contours of the objective over two scalar variables with the iterates drawn on top."""
    from mathflow.tracking import new_figure

    fig = new_figure(figsize=(6, 5))
    ax = fig.add_subplot()
    points = resolution(objective, names)
    xs = np.linspace(*_span(path[:, 0]), points)
    ys = np.linspace(*_span(path[:, 1]), points)
    z = evaluate_grid(objective, names, [xs, ys])
    if np.isfinite(z).any():
        filled = ax.contourf(xs, ys, z, levels=30, cmap="viridis", alpha=0.8)
        ax.contour(xs, ys, z, levels=15, colors="k", linewidths=0.3, alpha=0.5)
        fig.colorbar(filled, ax=ax, label="objective")
    for constraint in constraints:
        g = evaluate_grid(constraint, names, [xs, ys])
        if np.isfinite(g).any() and np.nanmin(g) <= 0 <= np.nanmax(g):
            ax.contour(xs, ys, g, levels=[0.0], colors="red", linewidths=1.5)
    ax.plot(path[:, 0], path[:, 1], "o-", color="white", markeredgecolor="black", markersize=3, linewidth=1)
    ax.plot(path[-1, 0], path[-1, 1], "*", color="red", markersize=14, markeredgecolor="black", label="solution")
    ax.plot(path[0, 0], path[0, 1], "s", color="orange", markersize=7, markeredgecolor="black", label="start")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(title)
    ax.legend(loc="best")
    return fig


def path_curve(objective: Any, name: str, path: np.ndarray, values: np.ndarray, *, title: str = "") -> Any:
    """The objective of one scalar variable with the iterates marked on the curve."""
    from mathflow.tracking import new_figure

    fig = new_figure(figsize=(6, 4))
    ax = fig.add_subplot()
    xs = np.linspace(*_span(path), resolution(objective, [name], 200, 80))
    ys = _curve(objective, name, xs)
    ax.plot(xs, ys, color="tab:blue", label="objective")
    ax.plot(path, values, "o-", color="tab:red", markersize=3, linewidth=0.8, label="iterates")
    ax.set_xlabel(name)
    ax.set_ylabel("objective")
    ax.set_title(title)
    ax.legend(loc="best")
    return fig


def _curve(expr: Any, name: str, xs: np.ndarray) -> np.ndarray:
    return evaluate_grid(expr, [name], [xs])


def taylor_plot(function: Any, name: str, polynomial: Any, center: float, at: float, order: int) -> Any:
    """f and its Taylor polynomial of ``order`` around ``center`` over an interval around both points."""
    from mathflow.tracking import new_figure

    fig = new_figure(figsize=(6, 4))
    ax = fig.add_subplot()
    radius = max(2.0, 1.5 * abs(at - center))
    xs = np.linspace(center - radius, center + radius, 200)
    ys = _curve(function, name, xs)
    ps = np.asarray(polynomial(xs.reshape(-1, 1)).numpy(), dtype=np.float64).reshape(-1)
    ax.plot(xs, ys, color="tab:blue", label="f")
    ax.plot(xs, ps, "--", color="tab:orange", label=f"Taylor polynomial, order {order}")
    finite = ys[np.isfinite(ys)]
    if finite.size:
        span = finite.max() - finite.min()
        ax.set_ylim(finite.min() - 0.2 * span - 0.1, finite.max() + 0.2 * span + 0.1)
    ax.axvline(center, color="gray", linewidth=0.5)
    ax.set_xlabel(name)
    ax.legend(loc="best")
    ax.set_title(f"Taylor expansion around {name} = {center:g}")
    return fig


def pca_plot(projection: np.ndarray, labels: np.ndarray | None, ratios: Sequence[float], title: str) -> Any:
    """The samples on the first two principal axes (one axis: against the sample index)."""
    from mathflow.tracking import new_figure

    fig = new_figure(figsize=(6, 5))
    ax = fig.add_subplot()
    xs = projection[:, 0]
    ys = projection[:, 1] if projection.shape[1] > 1 else np.zeros_like(xs)
    colour = labels if labels is not None and labels.ndim == 1 and np.issubdtype(labels.dtype, np.number) else None
    points = ax.scatter(xs, ys, c=colour, cmap="tab10", s=8, alpha=0.8)
    if colour is not None:
        fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel(f"PC1 ({100 * ratios[0]:.1f}% of variance)")
    if projection.shape[1] > 1:
        ax.set_ylabel(f"PC2 ({100 * ratios[1]:.1f}% of variance)")
    ax.set_title(title)
    return fig
