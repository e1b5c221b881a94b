"""Building the runnable model from a compiled graph: ``Sequential`` or a DAG of named layers."""

from __future__ import annotations

from typing import Any

from mathflow.autodiff.tensor import Tensor
from mathflow.compiler.graph import INPUT, Graph
from mathflow.compiler.shapes import make_layer
from mathflow.errors import MathflowError, ShapeError
from mathflow.nn.layer import InputShape, Layer, _as_shape, layer_from_config, layer_to_config


class GraphModel(Layer):
    """A directed acyclic graph of named layers: y = f_out(…) with each node reading its inputs.

    ``nodes`` is a list of (name, layer, input names) in topological order; ``"input"`` is the
    model's input. Parameter keys are ``"<node>.<param>"``.
    """

    registry_name = "graph"

    def __init__(self, nodes: list[tuple[str, Layer, list[str]]], output: str, *, name: str | None = None):
        super().__init__(name=name)
        seen = {INPUT}
        for node_name, _, inputs in nodes:
            missing = [s for s in inputs if s not in seen]
            if missing:
                raise MathflowError(f"graph: node {node_name!r} reads {missing} before they are computed")
            seen.add(node_name)
        if output not in seen - {INPUT}:
            raise MathflowError(f"graph: output {output!r} is not a node")
        self.nodes = [(n, layer, list(inputs)) for n, layer, inputs in nodes]
        self.output = output

    def named_children(self) -> list[tuple[str, Layer]]:
        return [(n, layer) for n, layer, _ in self.nodes]

    def _shapes(self, input_shape: InputShape) -> dict[str, Any]:
        shapes: dict[str, Any] = {INPUT: _as_shape(input_shape)}
        for n, layer, inputs in self.nodes:
            given = [shapes[s] for s in inputs] if layer.multi_input else shapes[inputs[0]]
            try:
                shapes[n] = layer.output_shape(given)
            except MathflowError as exc:
                raise type(exc)(f"node {n} ({layer.registry_name}): {exc.message}", suggestion=exc.suggestion) from None
        return shapes

    def output_shape(self, input_shape: InputShape) -> InputShape:
        return self._shapes(input_shape)[self.output]

    def parameter_count(self, input_shape: InputShape) -> int:
        shapes = self._shapes(input_shape)
        total = 0
        for _, layer, inputs in self.nodes:
            given = [shapes[s] for s in inputs] if layer.multi_input else shapes[inputs[0]]
            total += layer.parameter_count(given)
        return total

    def build(self, input_shape: InputShape) -> None:
        shapes = self._shapes(input_shape)
        for _, layer, inputs in self.nodes:
            if not layer.built:
                layer.build([shapes[s] for s in inputs] if layer.multi_input else shapes[inputs[0]])
        self.input_shape = _as_shape(input_shape)
        self._checked_shape = self.input_shape
        self.built = True

    def __call__(self, x: Any) -> Tensor:
        if isinstance(x, (list, tuple)):
            raise ShapeError(f"graph takes one input, got a list of {len(x)}")
        return super().__call__(x)

    def forward(self, x: Tensor) -> Tensor:
        values: dict[str, Any] = {INPUT: x}
        for n, layer, inputs in self.nodes:
            values[n] = layer([values[s] for s in inputs]) if layer.multi_input else layer(values[inputs[0]])
        return values[self.output]

    def get_config(self) -> dict[str, Any]:
        return {
            "nodes": [{"name": n, "layer": layer_to_config(layer), "inputs": list(i)} for n, layer, i in self.nodes],
            "output": self.output,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GraphModel:
        nodes = [(e["name"], layer_from_config(e["layer"]), e["inputs"]) for e in config["nodes"]]
        return cls(nodes, config["output"], name=config.get("name"))


def build_model(graph: Graph, *, build: bool = True) -> Layer:
    """A fresh model for ``graph`` (parameters created on the current backend when ``build``)."""
    from mathflow.nn import Sequential

    if graph.sequential:
        model: Layer = Sequential(*[make_layer(node.spec, node.name) for node in graph])
    else:
        model = GraphModel([(n.name, make_layer(n.spec, n.name), n.inputs) for n in graph], graph.output)
    if build:
        model.build(graph.input_shape)
    return model
