"""Sequential: layers applied one after another."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.errors import MathflowError, ShapeError
from mathflow.nn.layer import LAYERS, InputShape, Layer, _as_shape, layer_from_config, layer_to_config


@LAYERS.register("sequential")
class Sequential(Layer):
    """y = fₖ(…f₂(f₁(x))). Children are keyed by their name when they have one, else by position.

    ``named_parameters`` gives dotted keys such as ``"0.weight"`` or ``"hidden.bias"``.
    """

    #: Containers are built in Python, not named in a pipeline: no config model.
    configurable = False

    def __init__(self, *layers: Layer, name: str | None = None):
        super().__init__(name=name)
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        self.layers: list[Layer] = []
        for layer in layers:
            self.add(layer)

    def add(self, layer: Layer) -> Sequential:
        """Append ``layer``; its name (or position) must be unique among the children."""
        if not isinstance(layer, Layer):
            raise MathflowError(f"sequential: expected a Layer, got {type(layer).__name__}")
        if layer.multi_input:
            raise MathflowError(f"sequential: {layer.registry_name} takes several inputs and cannot be chained")
        key = layer.name if layer.name is not None else str(len(self.layers))
        if key in {k for k, _ in self.named_children()}:
            raise MathflowError(f"sequential: two layers are keyed {key!r}", suggestion="give the layers unique names")
        self.layers.append(layer)
        self.built = False
        return self

    def named_children(self) -> list[tuple[str, Layer]]:
        return [(layer.name if layer.name is not None else str(i), layer) for i, layer in enumerate(self.layers)]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __getitem__(self, index: int | str) -> Layer:
        if isinstance(index, str):
            for key, layer in self.named_children():
                if key == index:
                    return layer
            raise KeyError(index)
        return self.layers[index]

    # ------------------------------------------------------------------ shapes
    def shapes(self, input_shape: InputShape) -> list[tuple[str, Layer, InputShape]]:
        """(key, layer, output shape) of every child for ``input_shape``; errors name the layer."""
        rows = []
        shape = _as_shape(input_shape)
        for key, layer in self.named_children():
            try:
                shape = layer.output_shape(shape)
            except MathflowError as exc:
                raise type(exc)(
                    f"layer {key} ({layer.registry_name}): {exc.message}", suggestion=exc.suggestion
                ) from None
            rows.append((key, layer, shape))
        return rows

    def output_shape(self, input_shape: InputShape) -> InputShape:
        rows = self.shapes(input_shape)
        return rows[-1][2] if rows else _as_shape(input_shape)

    def parameter_count(self, input_shape: InputShape) -> int:
        total = 0
        shape = _as_shape(input_shape)
        for _, layer, out in self.shapes(shape):
            total += layer.parameter_count(shape)
            shape = out
        return total

    def build(self, input_shape: InputShape) -> None:
        shape = _as_shape(input_shape)
        for _key, layer, out in self.shapes(shape):
            if not layer.built:
                layer.build(shape)
            shape = out
        self.input_shape = _as_shape(input_shape)
        self._checked_shape = self.input_shape
        self.built = True

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def __call__(self, x: Any) -> Tensor:
        if isinstance(x, (list, tuple)):
            raise ShapeError(f"sequential takes one input, got a list of {len(x)}")
        x = as_tensor(x)
        if x.ndim == 0:
            raise ShapeError("sequential needs a batch (first axis = samples), got a scalar")
        shape = tuple(x.shape[1:])
        if not self.built or shape != self._checked_shape:
            self.build(shape)  # validates every layer's shape rule before computing
        return self.forward(x)

    def summary(self, input_shape: InputShape) -> str:
        """A table of every layer with its output shape and parameter count."""
        shape = _as_shape(input_shape)
        lines = [f"{'layer':<16}{'type':<18}{'output shape':<20}{'params':>10}"]
        total = 0
        for key, layer, out in self.shapes(shape):
            count = layer.parameter_count(shape)
            total += count
            lines.append(f"{key:<16}{layer.registry_name:<18}{str(out):<20}{count:>10,}")
            shape = out
        lines.append(f"{'total':<54}{total:>10,}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        return {"layers": [layer_to_config(layer) for layer in self.layers], "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        layers = [layer_from_config(entry) for entry in config.get("layers", [])]
        return cls(*layers, name=config.get("name"))

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({key}): {layer!r}" for key, layer in self.named_children())
        return f"Sequential(\n{inner}\n)" if inner else "Sequential()"
