"""Weight initialisers.

Every initialiser is a function ``(shape, fan_in, fan_out, rng, dtype) -> array`` that draws
from the backend's seeded generator (``get_backend().rng``), so a model built twice from the
same seed has the same weights. ``fan_in`` is the number of inputs feeding one output unit
(``in_features`` for a dense layer, ``channels·kh·kw`` for a convolution) and ``fan_out`` the
number of outputs one input feeds (``units``, ``filters·kh·kw``).

The variance-scaling rules keep the variance of activations (Glorot/Xavier: of activations
and gradients) roughly constant from layer to layer:

=============== ================================== ===========================
name            distribution                       variance
=============== ================================== ===========================
glorot_normal   N(0, 2/(fan_in+fan_out))           2/(fan_in+fan_out)
glorot_uniform  U(−√(6/(fan_in+fan_out)), +…)      2/(fan_in+fan_out)
he_normal       N(0, 2/fan_in)                     2/fan_in
he_uniform      U(−√(6/fan_in), +…)                2/fan_in
lecun_normal    N(0, 1/fan_in)                     1/fan_in
lecun_uniform   U(−√(3/fan_in), +…)                1/fan_in
=============== ================================== ===========================
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Annotated, Any, Protocol

import numpy as np

from mathflow.errors import MathflowError
from mathflow.registry import Registry, RegistryName

Shape = tuple[int, ...]


class Initializer(Protocol):
    def __call__(self, shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any) -> Any: ...


INITIALIZERS: Registry[Callable[..., Any]] = Registry("initializer")

#: A pipeline field naming an initialiser (validated against :data:`INITIALIZERS`).
InitializerName = Annotated[str, RegistryName(INITIALIZERS)]


# ----------------------------------------------------------------------------- helpers
def _xp_of(rng: Any) -> Any:
    """The array module that matches the generator (cupy's generator lives in cupy)."""
    if type(rng).__module__.startswith("cupy"):
        import cupy  # noqa: PLC0415 - only reached on a GPU backend

        return cupy
    return np


def _uniform(shape: Shape, limit: float, rng: Any, dtype: Any) -> Any:
    """U(−limit, limit) drawn as limit·(2u − 1) with u ~ U[0, 1) in ``dtype``."""
    u = rng.random(tuple(shape), dtype=dtype)
    return (u * 2.0 - 1.0) * float(limit)


def _normal(shape: Shape, std: float, rng: Any, dtype: Any) -> Any:
    """N(0, std²) drawn as std·z with z ~ N(0, 1) in ``dtype``."""
    return rng.standard_normal(tuple(shape), dtype=dtype) * float(std)


def _fan(value: int, what: str) -> int:
    if value <= 0:
        raise MathflowError(f"initializer: {what} must be positive, got {value}")
    return value


# ----------------------------------------------------------------------------- constants
@INITIALIZERS.register("zeros")
def zeros(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any) -> Any:
    """w = 0."""
    return _xp_of(rng).zeros(tuple(shape), dtype=dtype)


@INITIALIZERS.register("ones")
def ones(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any) -> Any:
    """w = 1."""
    return _xp_of(rng).ones(tuple(shape), dtype=dtype)


# ----------------------------------------------------------------------------- fixed scale
@INITIALIZERS.register("normal")
def normal(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any, std: float = 0.05) -> Any:
    """w ~ N(0, std²); Var w = std²."""
    if std < 0:
        raise MathflowError(f"initializer normal: std must be non-negative, got {std}")
    return _normal(shape, std, rng, dtype)


@INITIALIZERS.register("uniform")
def uniform(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any, limit: float = 0.05) -> Any:
    """w ~ U(−limit, limit); Var w = limit²/3."""
    if limit < 0:
        raise MathflowError(f"initializer uniform: limit must be non-negative, got {limit}")
    return _uniform(shape, limit, rng, dtype)


# ----------------------------------------------------------------------------- variance scaling
@INITIALIZERS.register("glorot_normal", "xavier_normal")
def glorot_normal(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any) -> Any:
    """Glorot/Xavier normal: w ~ N(0, σ²) with σ = √(2 / (fan_in + fan_out))."""
    return _normal(shape, math.sqrt(2.0 / (_fan(fan_in, "fan_in") + _fan(fan_out, "fan_out"))), rng, dtype)


@INITIALIZERS.register("glorot_uniform", "xavier_uniform")
def glorot_uniform(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any) -> Any:
    """Glorot/Xavier uniform: w ~ U(−a, a) with a = √(6 / (fan_in + fan_out)); Var w = 2/(fan_in + fan_out)."""
    return _uniform(shape, math.sqrt(6.0 / (_fan(fan_in, "fan_in") + _fan(fan_out, "fan_out"))), rng, dtype)


@INITIALIZERS.register("he_normal", "kaiming_normal")
def he_normal(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any) -> Any:
    """He/Kaiming normal: w ~ N(0, σ²) with σ = √(2 / fan_in)."""
    return _normal(shape, math.sqrt(2.0 / _fan(fan_in, "fan_in")), rng, dtype)


@INITIALIZERS.register("he_uniform", "kaiming_uniform")
def he_uniform(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any) -> Any:
    """He/Kaiming uniform: w ~ U(−a, a) with a = √(6 / fan_in); Var w = 2/fan_in."""
    return _uniform(shape, math.sqrt(6.0 / _fan(fan_in, "fan_in")), rng, dtype)


@INITIALIZERS.register("lecun_normal")
def lecun_normal(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any) -> Any:
    """LeCun normal: w ~ N(0, σ²) with σ = √(1 / fan_in)."""
    return _normal(shape, math.sqrt(1.0 / _fan(fan_in, "fan_in")), rng, dtype)


@INITIALIZERS.register("lecun_uniform")
def lecun_uniform(shape: Shape, fan_in: int, fan_out: int, rng: Any, dtype: Any) -> Any:
    """LeCun uniform: w ~ U(−a, a) with a = √(3 / fan_in); Var w = 1/fan_in."""
    return _uniform(shape, math.sqrt(3.0 / _fan(fan_in, "fan_in")), rng, dtype)


# ----------------------------------------------------------------------------- choosing one
def default_initializer(activation: str | None) -> str:
    """The kernel initialiser that suits ``activation``: its ``init_family`` (He for the ReLU
    family, LeCun for self-normalising units, Glorot uniform for sigmoid, tanh, softmax, linear)."""
    from mathflow.nn.layer import ACTIVATIONS

    if activation is None or activation not in ACTIVATIONS:
        return "glorot_uniform"
    return ACTIVATIONS.get(activation).init_family  # type: ignore[attr-defined]


InitSpec = str | dict | Callable[..., Any]


def resolve(spec: InitSpec, *, what: str = "initializer") -> Callable[..., Any]:
    """The initialiser function named by ``spec``.

    ``spec`` is a registered name (``"he_normal"``), a dict with ``name`` and keyword
    arguments (``{"name": "normal", "std": 0.01}``) or a callable with the initialiser signature.
    """
    if callable(spec):
        return spec
    if isinstance(spec, str):
        return _get(spec, what)
    if isinstance(spec, dict):
        if "name" not in spec:
            raise MathflowError(f"{what}: an initializer given as a mapping needs a 'name' key, got {sorted(spec)}")
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        fn = _get(spec["name"], what)
        try:
            fn((1,), 1, 1, np.random.default_rng(0), np.float32, **kwargs)
        except TypeError as exc:
            raise MathflowError(f"{what}: bad arguments {kwargs} for initializer {spec['name']!r}: {exc}") from None
        return functools.partial(fn, **kwargs)
    raise MathflowError(f"{what}: expected an initializer name, mapping or function, got {type(spec).__name__}")


def _get(name: str, what: str) -> Callable[..., Any]:
    try:
        return INITIALIZERS.get(name)
    except MathflowError as exc:
        raise MathflowError(f"{what}: {exc.message}", suggestion=exc.suggestion) from None


__all__ = [
    "INITIALIZERS",
    "InitializerName",
    "Initializer",
    "default_initializer",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "resolve",
    "uniform",
    "zeros",
]
