"""The ``model`` section: a sequential list of ``layers``, or a graph of named ``nodes``.

Graph form::

    model:
      nodes:
        hidden: {dense: {units: 32}, inputs: [input]}
        act:    {relu: null, inputs: [hidden]}
        skip:   {type: dense, units: 32, inputs: [input]}
        sum:    {add: null, inputs: [act, skip]}
        out:    {dense: {units: 3}, inputs: [sum]}
      output: out

``input`` names the data; every node lists the nodes it reads (merges such as ``add`` and
``concat`` read several).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Union

from pydantic import BeforeValidator, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

from mathflow.component import SpecModel, component_union, split_component
from mathflow.component_schema import ComponentSchema
from mathflow.nn.layer import LAYERS

INPUT = "input"
NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _split_node(value: Any) -> Any:
    """A node is a layer in any of the three forms plus ``inputs``; normalise to one flat mapping."""
    if isinstance(value, dict) and "inputs" in value:
        rest = {k: v for k, v in value.items() if k != "inputs"}
        if not rest:
            raise PydanticCustomError("component_form", "node has 'inputs' but no layer", {})
        inputs = value["inputs"]
        if isinstance(inputs, str):
            inputs = [inputs]
        return {**split_component(rest, "layer"), "inputs": inputs}
    return split_component(value, "layer")


def _with_inputs(member: type) -> type:
    """The node model of a layer model: the same parameters plus ``inputs``."""
    return create_model(
        f"{member.__name__}Node",
        __base__=member,
        __doc__=member.__doc__,
        inputs=(list[str], Field(min_length=1, description="names of the nodes this one reads ('input': the data)")),
    )


LAYER_MODELS = LAYERS.config_models()
#: One entry of ``model.layers``.
LayerEntry = component_union(LAYERS.family, LAYER_MODELS)
NODE_MODELS = [_with_inputs(m) for m in LAYER_MODELS]
for _node, _layer in zip(NODE_MODELS, LAYER_MODELS):
    _node.family = "layer"
    _node.merge = _layer.merge

NodeEntry = Annotated[
    Union[tuple(NODE_MODELS)],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
    BeforeValidator(_split_node),
    ComponentSchema("node", NODE_MODELS, node=True),
]


class ModelSection(SpecModel):
    """Either ``layers`` (applied in order to the data) or ``nodes`` with an ``output`` node."""

    layers: list[LayerEntry] | None = Field(None, min_length=1)
    nodes: dict[str, NodeEntry] | None = Field(None, min_length=1)
    output: str | None = Field(None, description="the node whose output is the model's (default: the last node)")

    @model_validator(mode="after")
    def _one_form(self) -> ModelSection:
        if self.layers is None and self.nodes is None:
            raise ValueError("model needs 'layers' (a list) or 'nodes' (a graph)")
        if self.layers is not None and self.nodes is not None:
            raise ValueError("model has both 'layers' and 'nodes': use one form")
        if self.layers is not None and self.output is not None:
            raise ValueError("'output' belongs to graph models ('nodes'); a sequential model ends at its last layer")
        if self.nodes is not None:
            if self.output is None:
                object.__setattr__(self, "output", list(self.nodes)[-1])
        return self

    @property
    def is_graph(self) -> bool:
        return self.nodes is not None

    def to_data(self) -> dict[str, Any]:
        if self.layers is not None:
            return {"layers": [layer.to_data() for layer in self.layers]}
        nodes = {}
        for name, node in (self.nodes or {}).items():
            params = node.model_dump(by_alias=True, exclude={"type", "inputs"}, exclude_none=True, mode="json")
            nodes[name] = {node.type: params or None, "inputs": list(node.inputs)}
        return {"nodes": nodes, "output": self.output}
