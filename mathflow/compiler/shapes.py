"""Static shape inference: every node's per-sample output shape and parameter count.

Each node's layer is created from its spec (no arrays: parameters are made later by
``build``) and asked for its shape rule ``output_shape``. A mismatch is reported at the
node's YAML line with the shapes; the nodes that depend on a failed node are skipped.
"""

from __future__ import annotations

from typing import Any

from mathflow.compiler.graph import INPUT, Graph, Shape
from mathflow.config.errors import IssueList
from mathflow.errors import MathflowError


def layer_kwargs(spec: Any) -> dict[str, Any]:
    """The constructor arguments of the nn layer for a layer spec."""
    return spec.model_dump(exclude={"type", "inputs", "name"}, exclude_none=True)


def make_layer(spec: Any, name: str) -> Any:
    """The (unbuilt) :mod:`mathflow.nn` layer for ``spec``, named ``name``."""
    from mathflow.nn import LAYERS

    return LAYERS.get(spec.type)(**layer_kwargs(spec), name=name)


def infer_shapes(graph: Graph, input_shape: Shape, issues: IssueList) -> bool:
    """Fill ``output_shape``, ``params`` and ``layer`` of every node; False if any node failed."""
    graph.input_shape = tuple(input_shape)
    shapes: dict[str, Shape | None] = {INPUT: graph.input_shape}
    ok = True
    for node in graph:
        try:
            node.layer = make_layer(node.spec, node.name)
        except MathflowError as exc:
            issues.add(node.location, exc.message, hint=exc.suggestion)
            shapes[node.name] = None
            ok = False
            continue
        inputs = [shapes.get(src) for src in node.inputs]
        if any(s is None for s in inputs):
            shapes[node.name] = None  # an upstream node failed: already reported
            continue
        given: Any = list(inputs) if node.layer.multi_input else inputs[0]
        try:
            out = tuple(node.layer.output_shape(given))
            node.params = int(node.layer.parameter_count(given))
        except MathflowError as exc:
            message = exc.message
            if node.layer.multi_input:
                listed = ", ".join(f"{src} {s}" for src, s in zip(node.inputs, inputs))
                message = f"{message} (inputs: {listed})"
            issues.add(node.location, message, hint=exc.suggestion)
            shapes[node.name] = None
            ok = False
            continue
        node.output_shape = out
        shapes[node.name] = out
    return ok
