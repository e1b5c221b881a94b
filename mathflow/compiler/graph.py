"""The graph IR: named nodes with their inputs, inferred per-sample shapes and parameter counts.

Shapes are per sample; the batch axis is symbolic and shown as ``N`` (``(N, 16, 8, 8)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mathflow.config.errors import Location

INPUT = "input"
Shape = tuple[int, ...]


def show_shape(shape: Shape | None, batch: str = "N") -> str:
    """``(N, 16, 8, 8)`` for a per-sample shape ``(16, 8, 8)``; ``?`` when unknown."""
    if shape is None:
        return "?"
    return "(" + ", ".join([batch, *(str(d) for d in shape)]) + ")"


@dataclass
class Node:
    """One layer of the model: its spec, inputs, YAML position, shapes and parameter count."""

    name: str
    type: str
    spec: Any
    inputs: list[str]
    key_path: tuple[str | int, ...]
    location: Location
    output_shape: Shape | None = None
    params: int = 0
    layer: Any = field(default=None, repr=False)

    @property
    def line(self) -> int | None:
        return self.location.line


@dataclass
class Graph:
    """Nodes in topological order, the data's per-sample shape and the output node."""

    input_shape: Shape
    nodes: dict[str, Node]
    output: str
    sequential: bool = True

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    @property
    def total_params(self) -> int:
        return sum(node.params for node in self.nodes.values())

    @property
    def output_shape(self) -> Shape | None:
        return self.nodes[self.output].output_shape if self.output in self.nodes else self.input_shape

    def edges(self) -> list[tuple[str, str]]:
        """(source, target) pairs; ``input`` is the data."""
        return [(src, node.name) for node in self.nodes.values() for src in node.inputs]

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per node (what ``mathflow validate`` prints)."""
        rows = [
            {"name": INPUT, "type": "data", "output_shape": show_shape(self.input_shape), "params": 0, "line": None}
        ]
        for node in self.nodes.values():
            rows.append(
                {
                    "name": node.name,
                    "type": node.type,
                    "inputs": list(node.inputs),
                    "output_shape": show_shape(node.output_shape),
                    "params": node.params,
                    "line": node.line,
                }
            )
        return rows
