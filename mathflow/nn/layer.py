"""The Layer base class and the layer/activation registries.

A layer is built lazily: its parameters are created on the first call (or by an explicit
``build``) from the PER-SAMPLE input shape, i.e. without the batch axis. Its static shape rule
``output_shape(input_shape)`` is pure Python, so a compiler can infer and check every shape of
a model before a single array is allocated.

Every layer serialises to a plain config (``get_config`` / ``from_config``) and its state
(parameters and buffers) to a dict of NumPy arrays (``state_dict`` / ``load_state_dict``).
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np

from mathflow.autodiff import trace
from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.backend import array_module, get_backend, to_numpy
from mathflow.component import Component
from mathflow.errors import MathflowError, ShapeError
from mathflow.nn.parameter import Parameter
from mathflow.registry import Registry, RegistryName

Shape = tuple[int, ...]
InputShape = Shape | list[Shape]


class LayerConfig(Component):
    """Base of the config models derived from the layers' constructors."""

    #: True for layers that take several inputs (graph models only).
    merge: ClassVar[bool] = False

    @classmethod
    def adopt(cls, component: Any) -> None:
        super().adopt(component)
        cls.merge = bool(component.multi_input)


#: Every layer; its modules are those of :mod:`mathflow.nn.layers`; its config is its constructor.
LAYERS: Registry[type[Layer]] = Registry("layer", discover=("mathflow.nn.layers",), config_base=LayerConfig)
#: The layers usable as ``activation:`` of another layer (``is_activation``), aliases included.
ACTIVATIONS: Registry[type[Layer]] = LAYERS.view("activation", lambda cls: getattr(cls, "is_activation", False))

#: A pipeline field naming an activation (validated against :data:`ACTIVATIONS`).
ActivationName = Annotated[str, RegistryName(ACTIVATIONS)]
#: The node name parameter every layer constructor ends with.
NodeName = Annotated[str | None, "node name (sequential models); unique, no dots"]


@dataclass(frozen=True)
class ParameterSpec:
    """What ``build`` creates: a parameter's name, shape, role, initialiser and fans."""

    name: str
    shape: Shape
    role: str
    init: Callable[..., Any]
    fan_in: int = 1
    fan_out: int = 1


@dataclass(frozen=True)
class BufferSpec:
    """A non-trainable state array (e.g. BatchNorm running statistics) and its fill value."""

    name: str
    shape: Shape
    fill: float


class Layer:
    """Base class of all layers.

    Subclasses implement ``output_shape`` (the static shape rule), ``forward`` and, when they
    own parameters or buffers, ``parameter_specs`` / ``buffer_specs``. Parameters are stored as
    plain attributes (``self.weight``) so ``forward`` reads naturally.
    """

    registry_name: ClassVar[str] = "layer"
    #: The pipeline entry of this layer, derived from its constructor when it is registered
    #: (containers, ``configurable = False``, have none: a pipeline cannot name them).
    config_model: ClassVar[type[LayerConfig]]
    #: True for layers that take a list of inputs (Add, Concat).
    multi_input: ClassVar[bool] = False
    #: True for layers that only move or keep values at inference (dropout, flatten, reshape,
    #: identity): checks look through them for the model's final activation.
    transparent: ClassVar[bool] = False
    #: A per-sample input shape the layer accepts (docs and contract tests); a list for merges.
    example_input: ClassVar[Any] = (4,)

    def __init__(self, *, name: NodeName = None):
        if name is not None and (not isinstance(name, str) or not name or "." in name):
            raise MathflowError(
                f"{self.registry_name}: layer name must be a non-empty string without dots, got {name!r}"
            )
        self.name = name
        self.training = True
        self.built = False
        self.input_shape: InputShape | None = None
        self._param_names: list[str] = []
        self._buffer_names: list[str] = []
        self._checked_shape: Any = None

    # ------------------------------------------------------------------ shape rules
    def output_shape(self, input_shape: InputShape) -> InputShape:
        """The per-sample output shape for a per-sample input shape (raises ShapeError)."""
        raise NotImplementedError(f"{type(self).__name__} has no output_shape")

    def parameter_specs(self, input_shape: InputShape) -> list[ParameterSpec]:
        """The parameters this layer creates for ``input_shape`` (none by default)."""
        return []

    def buffer_specs(self, input_shape: InputShape) -> list[BufferSpec]:
        """The buffers (non-trainable state) this layer creates for ``input_shape``."""
        return []

    def parameter_count(self, input_shape: InputShape) -> int:
        """Number of trainable scalars the layer has for ``input_shape`` (no arrays are made)."""
        self.output_shape(input_shape)
        return sum(math.prod(spec.shape) for spec in self.parameter_specs(_as_shape(input_shape)))

    # ------------------------------------------------------------------ building and calling
    def build(self, input_shape: InputShape) -> None:
        """Create the parameters and buffers for the per-sample ``input_shape``."""
        input_shape = _as_shape(input_shape)
        self.output_shape(input_shape)  # validates, with a helpful message
        backend = get_backend()
        for spec in self.parameter_specs(input_shape):
            data = spec.init(spec.shape, spec.fan_in, spec.fan_out, backend.rng, backend.dtype)
            self._set_parameter(spec.name, Parameter(data, name=spec.name, role=spec.role))
        for buf in self.buffer_specs(input_shape):
            data = backend.xp.full(buf.shape, buf.fill, dtype=backend.dtype)
            self._set_buffer(buf.name, data)
        self.input_shape = input_shape
        self._checked_shape = input_shape
        self.built = True

    def forward(self, x: Any) -> Tensor:
        """The layer's computation on a batch (first axis = samples)."""
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def __call__(self, x: Any) -> Tensor:
        if self.multi_input:
            if not isinstance(x, (list, tuple)) or not x:
                raise ShapeError(f"{self._label()} takes a non-empty list of inputs, got {type(x).__name__}")
            x = [as_tensor(v) for v in x]
            shape: InputShape = [_sample_shape(self, v) for v in x]
        else:
            if isinstance(x, (list, tuple)):
                raise ShapeError(f"{self._label()} takes one input, got a list of {len(x)}")
            x = as_tensor(x)
            shape = _sample_shape(self, x)
        if not self.built:
            self.build(shape)
        elif shape != self._checked_shape:
            self.output_shape(shape)
            self._checked_shape = shape
        tracer = trace.active()
        return self.forward(x) if tracer is None else self._traced_forward(tracer, x)

    def _traced_forward(self, tracer: trace.Tracer, x: Any) -> Tensor:
        """The forward pass while it is recorded as an inference program (export): the layer's own
        ops under its key; a layer that overrides :meth:`export` writes its inference form itself."""
        with tracer.scope(self):
            if type(self).export is Layer.export:
                return self.forward(x)
            with trace.paused():
                y = self.forward(x)
            inputs = [tracer.name(v) for v in x] if self.multi_input else tracer.name(x)
            tracer.bind(y, self.export(tracer.builder, inputs))
            return y

    # ------------------------------------------------------------------ export
    def export(self, builder: Any, x: Any) -> str:
        """Only for a layer whose inference form differs from its forward pass (BatchNorm with its
        running statistics folded, say): append that form to ``builder`` (a
        :class:`mathflow.export.ProgramBuilder`) reading ``x`` (a value name, a list of names for
        multi-input layers) and return the output's name. Every other layer is exported by
        recording its forward pass (:mod:`mathflow.autodiff.trace`), so it defines no ``export``."""
        raise NotImplementedError(f"{type(self).__name__} is exported by tracing its forward pass")

    # ------------------------------------------------------------------ training mode
    def train(self, mode: bool = True) -> Layer:
        """Switch this layer and its children to training (``True``) or evaluation mode."""
        self.training = bool(mode)
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> Layer:
        """Evaluation mode: dropout off, BatchNorm uses running statistics."""
        return self.train(False)

    # ------------------------------------------------------------------ structure
    def named_children(self) -> list[tuple[str, Layer]]:
        """Direct sub-layers with their keys (empty for a leaf layer)."""
        return []

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, own parameters first, then the children's."""
        for name in self._param_names:
            yield prefix + name, getattr(self, name)
        for key, child in self.named_children():
            yield from child.named_parameters(f"{prefix}{key}.")

    def parameters(self) -> list[Parameter]:
        """All trainable parameters, recursively."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """(dotted name, raw array) pairs of the non-trainable state, recursively."""
        for name in self._buffer_names:
            yield prefix + name, getattr(self, name)
        for key, child in self.named_children():
            yield from child.named_buffers(f"{prefix}{key}.")

    def zero_grad(self) -> None:
        """Forget the accumulated gradients of every parameter."""
        for p in self.parameters():
            p.grad = None

    def _set_parameter(self, name: str, param: Parameter) -> None:
        if name not in self._param_names:
            self._param_names.append(name)
        setattr(self, name, param)

    def _set_buffer(self, name: str, array: Any) -> None:
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        setattr(self, name, array)

    def _unbuilt(self) -> list[str]:
        """Dotted keys of layers in this tree that still need ``build``."""
        missing = [] if self.built or not self._needs_build() else [""]
        for key, child in self.named_children():
            missing += [f"{key}.{m}" if m else key for m in child._unbuilt()]
        return missing

    def _needs_build(self) -> bool:
        """Whether this layer creates parameters or buffers (a built-free layer needs no shape)."""
        return (
            type(self).parameter_specs is not Layer.parameter_specs or type(self).buffer_specs is not Layer.buffer_specs
        )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """name → NumPy copy of every parameter and buffer (e.g. BatchNorm running stats)."""
        targets: dict[str, tuple[Layer, str, bool]] = {}
        self._collect_targets("", targets)
        state = {}
        for key, (owner, attr, is_param) in targets.items():
            value = getattr(owner, attr)
            state[key] = to_numpy(value.data if is_param else value).copy()
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy the arrays of ``state`` into the parameters and buffers of the same name.

        The layer must be built. A shape mismatch is always an error; missing or unexpected
        keys are errors when ``strict`` (the default).
        """
        unbuilt = self._unbuilt()
        if unbuilt:
            where = ", ".join(repr(u) for u in unbuilt) if unbuilt != [""] else repr(self._label())
            raise MathflowError(
                f"load_state_dict: layer {where} is not built yet",
                suggestion="call model.build(input_shape) with the per-sample input shape, or run one batch first",
            )
        targets: dict[str, tuple[Layer, str, bool]] = {}
        self._collect_targets("", targets)
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise MathflowError(f"load_state_dict: {'; '.join(parts)}")
        for key, (owner, attr, is_param) in targets.items():
            if key not in state:
                continue
            value = state[key]
            value = value.data if isinstance(value, Tensor) else value
            current = getattr(owner, attr)
            current_data = current.data if is_param else current
            if tuple(value.shape) != tuple(current_data.shape):
                raise MathflowError(
                    f"load_state_dict: {key!r} has shape {tuple(value.shape)} in the state dict "
                    f"but {tuple(current_data.shape)} in the model"
                )
            xp = array_module(current_data)
            new = xp.array(value if xp is not np else to_numpy(value), dtype=current_data.dtype, copy=True)
            if is_param:
                current.data = new
            else:
                setattr(owner, attr, new)

    def _collect_targets(self, prefix: str, out: dict[str, tuple[Layer, str, bool]]) -> None:
        for name in self._param_names:
            out[prefix + name] = (self, name, True)
        for name in self._buffer_names:
            out[prefix + name] = (self, name, False)
        for key, child in self.named_children():
            child._collect_targets(f"{prefix}{key}.", out)

    @contextlib.contextmanager
    def substituted(self, params: dict[str, Any]) -> Iterator[Layer]:
        """Temporarily replace parameters by the given tensors (keys as in ``named_parameters``).

        Lets a layer be called as a pure function of its parameters, e.g. for ``mf.gradcheck``
        or ``mf.hessian`` with respect to the weights.
        """
        targets: dict[str, tuple[Layer, str, bool]] = {}
        self._collect_targets("", targets)
        saved = []
        try:
            for key, value in params.items():
                if key not in targets or not targets[key][2]:
                    raise MathflowError(f"substituted: {key!r} is not a parameter of {self._label()}")
                owner, attr, _ = targets[key]
                saved.append((owner, attr, getattr(owner, attr)))
                setattr(owner, attr, as_tensor(value))
            yield self
        finally:
            for owner, attr, old in reversed(saved):
                setattr(owner, attr, old)

    def functional_call(self, params: dict[str, Any], x: Any) -> Tensor:
        """``self(x)`` with the parameters replaced by ``params`` for this one call."""
        with self.substituted(params):
            return self(x)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments as a plain dict (``type(self).from_config(cfg)`` rebuilds it)."""
        config: dict[str, Any] = {}
        for pname, param in inspect.signature(type(self).__init__).parameters.items():
            if pname == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            config[pname] = _plain(getattr(self, pname))
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """A new, unbuilt layer from ``get_config()`` output."""
        return cls(**config)

    # ------------------------------------------------------------------ display
    def _label(self) -> str:
        return f"{self.registry_name} {self.name!r}" if self.name else self.registry_name

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name" or v is not None)
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------------------- helpers
def _as_shape(shape: Any) -> InputShape:
    """A per-sample shape as a tuple of ints, or a list of such tuples for multi-input layers."""
    if isinstance(shape, list) and shape and isinstance(shape[0], (tuple, list)):
        return [tuple(int(n) for n in s) for s in shape]
    if isinstance(shape, int):
        return (shape,)
    return tuple(int(n) for n in shape)


def _sample_shape(layer: Layer, x: Tensor) -> Shape:
    if x.ndim == 0:
        raise ShapeError(f"{layer._label()} needs a batch (first axis = samples), got a scalar")
    return tuple(x.shape[1:])


def _plain(value: Any) -> Any:
    """Config values as plain Python data (tuples become lists, like YAML would give them)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def layer_to_config(layer: Layer) -> dict[str, Any]:
    """``{"type": registry name, "config": {...}}`` for any registered layer."""
    return {"type": layer.registry_name, "config": layer.get_config()}


def layer_from_config(entry: dict[str, Any]) -> Layer:
    """Inverse of :func:`layer_to_config`."""
    try:
        kind, config = entry["type"], entry.get("config", {})
    except (KeyError, TypeError):
        raise MathflowError(f"a layer config needs 'type' and 'config' keys, got {entry!r}") from None
    return LAYERS.get(kind).from_config(config)


__all__ = [
    "ACTIVATIONS",
    "ActivationName",
    "LayerConfig",
    "BufferSpec",
    "LAYERS",
    "Layer",
    "ParameterSpec",
    "layer_from_config",
    "layer_to_config",
]
