"""The graph as text: Mermaid and Graphviz DOT."""

from __future__ import annotations

from mathflow.compiler.graph import INPUT, Graph, show_shape


def _label(graph: Graph, name: str) -> str:
    if name == INPUT:
        return f"input {show_shape(graph.input_shape)}"
    node = graph[name]
    return f"{name}: {node.type} {show_shape(node.output_shape)}"


def _id(name: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


def to_mermaid(graph: Graph) -> str:
    """``flowchart TD`` with one box per node labelled by name, type and output shape."""
    lines = ["flowchart TD"]
    for name in [INPUT, *graph.nodes]:
        text = _label(graph, name).replace('"', "'")
        lines.append(f'    {_id(name)}["{text}"]')
    for src, dst in graph.edges():
        lines.append(f"    {_id(src)} --> {_id(dst)}")
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph) -> str:
    """A ``digraph`` with one box per node labelled by name, type and output shape."""
    lines = ["digraph model {", "    rankdir=TB;", '    node [shape=box, fontname="monospace"];']
    for name in [INPUT, *graph.nodes]:
        text = _label(graph, name).replace('"', '\\"')
        lines.append(f'    {_id(name)} [label="{text}"];')
    for src, dst in graph.edges():
        lines.append(f"    {_id(src)} -> {_id(dst)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
