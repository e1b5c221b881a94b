"""The optimizer base class: parameter bookkeeping, per-parameter state and checkpoints.

An optimizer holds a list of parameters and, for each one, a few state arrays of the
parameter's shape (velocity, moment estimates, ...) allocated once on the parameter's device.
``step()`` reads each parameter's gradient and updates ``p.data`` in place; a parameter whose
``grad`` is ``None`` is skipped (its state and step count do not move).

The update rules work on raw arrays with ufuncs writing into preallocated buffers, so one step
allocates nothing: ``p.grad.data`` is only read (it may alias other arrays), ``p.data`` is only
written in place (layers keep references to it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar

import numpy as np

from mathflow.autodiff.tensor import Tensor
from mathflow.backend import array_module, to_numpy
from mathflow.component import Component, check_argument
from mathflow.constraints import NonNegativeFloat, PositiveFloat
from mathflow.errors import MathflowError, ShapeError
from mathflow.registry import Registry

#: Every optimizer by the name a pipeline uses (``sgd``, ``adam``, ...); its config is its constructor.
OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer", discover=("mathflow.optim",), config_base=Component)


class _Slot:
    """Everything the optimizer keeps for one parameter."""

    __slots__ = ("param", "state", "scratch", "step", "xp")

    def __init__(self, param: Tensor, state: tuple[Any, ...], scratch: tuple[Any, ...], xp: Any):
        self.param = param
        self.state = state
        self.scratch = scratch
        self.step = 0
        self.xp = xp


class Optimizer:
    """Base class: ``step()`` applies one update to every parameter that has a gradient.

    Subclasses name their per-parameter state arrays in ``state_names`` (each starts as zeros
    of the parameter's shape and dtype, or as ``_initial_state``), name their hyper-parameters
    in ``hyper_names`` and implement ``_update(slot, w, g, lr)`` on raw arrays.

    ``lr`` is a plain attribute: a learning-rate schedule sets it between steps;
    ``base_lr`` keeps the value given at construction. A subclass's constructor is its config
    (see :mod:`mathflow.component`): it re-lists ``lr`` and ``weight_decay`` with its own
    defaults, and their descriptions come from here.
    """

    registry_name: ClassVar[str] = "optimizer"
    config_model: ClassVar[type[Component]]
    python_only: ClassVar[tuple[str, ...]] = ("params",)
    state_names: ClassVar[tuple[str, ...]] = ()
    hyper_names: ClassVar[tuple[str, ...]] = ()
    #: How many scratch buffers of each parameter's shape ``_update`` may use.
    scratch_count: ClassVar[int] = 2

    def __init__(
        self,
        params: Any,
        lr: Annotated[PositiveFloat, "learning rate η"] = 0.01,
        weight_decay: Annotated[NonNegativeFloat, "L2 penalty λ: λW is added to the gradient"] = 0.0,
    ):
        self.params: list[Tensor] = collect_parameters(params, self.registry_name)
        self.lr = float(lr)
        self.base_lr = self.lr
        self.weight_decay = float(weight_decay)
        self._slots: list[_Slot] = []

    def _build_slots(self) -> None:
        """Allocate state and scratch arrays; subclasses call it after validating hyper-parameters."""
        pools: dict[tuple[int, str], list[Any]] = {}
        for p in self.params:
            w = p.data
            xp = array_module(w)
            key = (id(xp), w.dtype.str)
            size = int(w.size)
            pool = pools.get(key)
            if pool is None or pool[0].size < size:
                # One flat scratch array per (device, dtype) shared by every parameter: the
                # updates run one parameter at a time, so they never overlap.
                grown = max(size, pool[0].size if pool else 0)
                pools[key] = [xp.empty(grown, dtype=w.dtype) for _ in range(self.scratch_count)]
        for p in self.params:
            w = p.data
            xp = array_module(w)
            pool = pools[(id(xp), w.dtype.str)]
            scratch = tuple(buf[: w.size].reshape(w.shape) for buf in pool)
            state = tuple(self._initial_state(name, w, xp) for name in self.state_names)
            self._slots.append(_Slot(p, state, scratch, xp))

    def _initial_state(self, name: str, w: Any, xp: Any) -> Any:
        """The starting value of state array ``name`` for parameter data ``w`` (zeros)."""
        return xp.zeros_like(w)

    # ------------------------------------------------------------------ the hot path
    def step(self) -> None:
        """Update every parameter whose ``grad`` is set, in place."""
        lr = self.lr
        update = self._update
        for slot in self._slots:
            grad = slot.param.grad
            if grad is None:
                continue
            w = slot.param.data
            g = grad.data
            if g.shape != w.shape:
                raise ShapeError(
                    f"{self.registry_name}: gradient of shape {tuple(g.shape)} "
                    f"for a parameter of shape {tuple(w.shape)}"
                )
            slot.step += 1
            update(slot, w, g, lr)

    def _update(self, slot: _Slot, w: Any, g: Any, lr: float) -> None:
        raise NotImplementedError

    def _with_weight_decay(self, slot: _Slot, w: Any, g: Any, weight_decay: float) -> Any:
        """g + λW in the second scratch buffer (L2 penalty folded into the gradient)."""
        d = slot.scratch[1]
        slot.xp.multiply(w, weight_decay, out=d)
        d += g
        return d

    def zero_grad(self) -> None:
        """Forget the gradients (``p.grad = None``) so the next backward starts afresh."""
        for p in self.params:
            p.grad = None

    # ------------------------------------------------------------------ introspection
    def hyperparameters(self) -> dict[str, Any]:
        """The learning rate and every hyper-parameter, as plain Python values."""
        values: dict[str, Any] = {"lr": self.lr}
        values.update({name: getattr(self, name) for name in self.hyper_names})
        return values

    @property
    def steps(self) -> list[int]:
        """How many updates each parameter has received."""
        return [slot.step for slot in self._slots]

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {body})"

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A checkpoint of the optimizer as plain Python values and NumPy arrays (copies)."""
        return {
            "optimizer": self.registry_name,
            "lr": self.lr,
            "base_lr": self.base_lr,
            "hyperparameters": {name: getattr(self, name) for name in self.hyper_names},
            "steps": [slot.step for slot in self._slots],
            "state": [
                {name: np.array(to_numpy(array), copy=True) for name, array in zip(self.state_names, slot.state)}
                for slot in self._slots
            ],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` checkpoint; state arrays are copied in place."""
        name = self.registry_name
        saved_kind = state.get("optimizer", name)
        if saved_kind != name:
            raise MathflowError(f"{name}: cannot load the state of a {saved_kind!r} optimizer")
        entries = state.get("state", [])
        steps = state.get("steps", [])
        if len(entries) != len(self._slots) or len(steps) != len(self._slots):
            raise MathflowError(
                f"{name}: the checkpoint holds state for {len(entries)} parameters, "
                f"this optimizer has {len(self._slots)}"
            )
        for index, (slot, entry) in enumerate(zip(self._slots, entries)):
            missing = [key for key in self.state_names if key not in entry]
            if missing:
                raise MathflowError(f"{name}: parameter {index} of the checkpoint lacks state {missing}")
            for key, array in zip(self.state_names, slot.state):
                saved = entry[key]
                if tuple(np.shape(saved)) != tuple(array.shape):
                    raise ShapeError(
                        f"{name}: state {key!r} of parameter {index} has shape {tuple(np.shape(saved))}, "
                        f"expected {tuple(array.shape)}"
                    )
        previous = {key: getattr(self, key) for key in self.hyper_names}
        declared = self.config_model.model_fields
        try:
            for key, value in state.get("hyperparameters", {}).items():
                if key in self.hyper_names:
                    checked = check_argument(self.config_model, name, key, value) if key in declared else value
                    setattr(self, key, checked)
            self._check_hyperparameters()
        except MathflowError:
            for key, value in previous.items():
                setattr(self, key, value)
            raise
        for slot, entry, count in zip(self._slots, entries, steps):
            for key, array in zip(self.state_names, slot.state):
                array[...] = slot.xp.asarray(entry[key], dtype=array.dtype)
            slot.step = int(count)
        self.lr = float(state.get("lr", self.lr))
        self.base_lr = float(state.get("base_lr", self.base_lr))

    def _check_hyperparameters(self) -> None:
        """Rules between hyper-parameters that no single declaration states; subclasses override."""


# ---------------------------------------------------------------------- helpers
def collect_parameters(params: Any, owner: str) -> list[Tensor]:
    """The distinct trainable tensors in ``params`` (a Tensor, an iterable, or an object with ``parameters()``)."""
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    if isinstance(params, dict):
        params = list(params.values())
    if not isinstance(params, Iterable):
        raise MathflowError(f"{owner}: params must be an iterable of tensors, got {type(params).__name__}")
    collected: list[Tensor] = []
    seen: set[int] = set()
    for index, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise MathflowError(f"{owner}: parameter {index} is a {type(p).__name__}, not a Tensor")
        if not p.requires_grad:
            raise MathflowError(
                f"{owner}: parameter {index} of shape {p.shape} does not require a gradient",
                suggestion="use mathflow.nn.Parameter or requires_grad=True",
            )
        if id(p) in seen:
            raise MathflowError(f"{owner}: parameter {index} of shape {p.shape} appears twice")
        seen.add(id(p))
        collected.append(p)
    if not collected:
        raise MathflowError(f"{owner}: got an empty parameter list")
    return collected


def check_positive(owner: str, name: str, value: Any) -> float:
    """``value`` as a float, or a MathflowError unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise MathflowError(f"{owner}: {name} must be a number, got {value!r}")
    number = float(value)
    if not (number > 0.0 and math.isfinite(number)):
        raise MathflowError(f"{owner}: {name} must be > 0, got {value!r}")
    return number
