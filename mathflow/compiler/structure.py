"""From the ``model`` section to graph nodes: names, inputs, dangling inputs, cycles, order."""

from __future__ import annotations

from mathflow.compiler.graph import INPUT, Graph, Node
from mathflow.config.errors import IssueList, suggest
from mathflow.config.loader import Document
from mathflow.schema.model import NODE_NAME, ModelSection


def build_structure(model: ModelSection, document: Document, issues: IssueList) -> Graph | None:
    """The nodes in topological order (shapes not yet inferred); None when the graph is broken."""
    if model.layers is not None:
        return _sequential(model, document, issues)
    return _graph(model, document, issues)


def _sequential(model: ModelSection, document: Document, issues: IssueList) -> Graph | None:
    nodes: dict[str, Node] = {}
    counts: dict[str, int] = {}
    previous = INPUT
    ok = True
    for i, layer in enumerate(model.layers or []):
        path = ("model", "layers", i)
        where = document.locate(path)
        kind = layer.type  # type: ignore[attr-defined]
        counts[kind] = counts.get(kind, 0) + 1
        name = layer.name or f"{kind}_{counts[kind]}"
        if layer.merge:
            issues.add(where, f"{kind} merges several inputs; a list of layers has one path", hint="use model.nodes")
            ok = False
        if layer.name is not None and not NODE_NAME.match(layer.name):
            issues.add(where, f"layer name '{layer.name}' must be letters, digits, '_' or '-' (no dots)")
            ok = False
        if name in nodes or name == INPUT:
            issues.add(where, f"two layers are named '{name}'", hint="give the layers unique names")
            ok = False
            continue
        nodes[name] = Node(name, kind, layer, [previous], path, where)
        previous = name
    if not ok:
        return None
    return Graph((), nodes, previous, sequential=True)


def _graph(model: ModelSection, document: Document, issues: IssueList) -> Graph | None:
    specs = model.nodes or {}
    ok = True
    names = list(specs)
    for name, spec in specs.items():
        path = ("model", "nodes", name)
        if name == INPUT:
            issues.add(document.locate(path), "'input' is the name of the data; choose another node name")
            ok = False
        elif not NODE_NAME.match(name):
            issues.add(document.locate(path), f"node name '{name}' must be letters, digits, '_' or '-' (no dots)")
            ok = False
        if spec.name is not None and spec.name != name:
            issues.add(document.locate(path), f"node '{name}' has name '{spec.name}': a node is named by its key")
            ok = False
        for j, src in enumerate(spec.inputs):
            if src != INPUT and src not in specs:
                guess = suggest(src, [INPUT, *names])
                hint = None if guess else f"nodes: {', '.join([INPUT, *names])}"
                issues.add(
                    document.locate_value((*path, "inputs", j)),
                    f"node '{name}' reads '{src}', which is not a node",
                    guess,
                    hint,
                )
                ok = False
            elif src == name and name != INPUT:
                issues.add(document.locate_value((*path, "inputs", j)), f"node '{name}' reads itself (a cycle)")
                ok = False
        merge = spec.merge
        if merge and len(spec.inputs) < 2:
            issues.add(
                document.locate((*path, "inputs")), f"{spec.type} needs at least 2 inputs, got {len(spec.inputs)}"
            )
            ok = False
        if not merge and len(spec.inputs) != 1:
            issues.add(
                document.locate((*path, "inputs")),
                f"{spec.type} takes one input, got {len(spec.inputs)}",
                hint="combine them first with an add or concat node",
            )
            ok = False
    if model.output not in specs:
        guess = suggest(str(model.output), names)
        issues.add(
            document.locate_value(("model", "output")),
            f"output '{model.output}' is not a node",
            guess,
            None if guess else f"nodes: {', '.join(names)}",
        )
        ok = False
    if not ok:
        return None
    order = _topological(specs, document, issues)
    if order is None:
        return None
    used = _ancestors(specs, str(model.output))
    for name in names:
        if name not in used:
            issues.add(
                document.locate(("model", "nodes", name)),
                f"node '{name}' does not lead to the output '{model.output}'",
                hint="connect it or remove it",
            )
            ok = False
    if not ok:
        return None
    nodes = {}
    for name in order:
        path = ("model", "nodes", name)
        spec = specs[name]
        nodes[name] = Node(name, spec.type, spec, list(spec.inputs), path, document.locate(path))
    return Graph((), nodes, str(model.output), sequential=False)


def _topological(specs: dict, document: Document, issues: IssueList) -> list[str] | None:
    """Depth-first order; a cycle is reported at the input entry that closes it."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    order: list[str] = []
    stack: list[str] = []
    reported = False

    def visit(name: str) -> bool:
        nonlocal reported
        state[name] = 1
        stack.append(name)
        for j, src in enumerate(specs[name].inputs):
            if src == INPUT:
                continue
            if state.get(src) == 1:
                loop = stack[stack.index(src) :] + [src]
                if not reported:
                    issues.add(
                        document.locate_value(("model", "nodes", name, "inputs", j)),
                        f"cycle: {' -> '.join(reversed(loop))}",
                        hint="a node cannot depend on its own output",
                    )
                reported = True
                return False
            if state.get(src) is None and not visit(src):
                return False
        stack.pop()
        state[name] = 2
        order.append(name)
        return True

    for name in specs:
        if state.get(name) is None and not visit(name):
            return None
    return order


def _ancestors(specs: dict, output: str) -> set[str]:
    seen: set[str] = set()
    todo = [output]
    while todo:
        name = todo.pop()
        if name in seen or name == INPUT:
            continue
        seen.add(name)
        todo.extend(specs[name].inputs)
    return seen
