"""Cross-section checks: the loss fits the model's output and the data's task, metrics fit
the task, regularizers name existing layers, early stopping watches a logged value."""

from __future__ import annotations

from typing import Any

from mathflow.compiler.data_info import DataInfo
from mathflow.compiler.graph import Graph
from mathflow.config.errors import IssueList, suggest
from mathflow.config.loader import Document
from mathflow.metrics import METRICS, metric_task
from mathflow.schema.pipeline import PipelineSpec


def _loss_path(document: Document) -> tuple[str | int, ...]:
    return ("loss",)


def build_loss(spec: PipelineSpec) -> Any:
    """The loss object the ``loss`` section declares."""
    from mathflow.nn import LOSSES

    loss = spec.loss
    return LOSSES.get(loss.type)(**loss.model_dump(exclude={"type"}))  # type: ignore[attr-defined]


def final_activation(graph: Graph) -> tuple[Any, int | None]:
    """The activation class the model ends with (looking through ``transparent`` layers such as
    dropout, flatten and reshape), or None, and the line of the node that has it."""
    from mathflow.nn import ACTIVATIONS, LAYERS

    name = graph.output
    while name in graph.nodes:
        node = graph[name]
        layer = LAYERS.get(node.type)
        if getattr(layer, "is_activation", False) and not layer.transparent:
            return layer, node.line
        if layer.transparent and len(node.inputs) == 1:
            name = node.inputs[0]
            continue
        activation = getattr(node.spec, "activation", None)
        found = ACTIVATIONS.get(activation) if activation is not None else None
        return (found if found is not None and not found.transparent else None), node.line
    return None, None


def _output_at(graph: Graph) -> str:
    line = graph[graph.output].line if graph.output in graph.nodes else None
    return f" (output layer '{graph.output}' at line {line})" if line else ""


def check_output_activation(spec: PipelineSpec, graph: Graph, document: Document, issues: IssueList) -> None:
    """The loss against the model's final activation (``expects`` of the loss, ``output_range``
    of the activation): logit losses need raw scores, probability losses a sigmoid."""
    activation, line = final_activation(graph)
    name = activation.registry_name if activation is not None else None
    output_range = activation.output_range if activation is not None else None
    problem = build_loss(spec).check_final_activation(name, output_range, f" (line {line})" if line else "")
    if problem is not None:
        issues.add(document.locate(_loss_path(document)), problem[0], hint=problem[1])


def check_loss(spec: PipelineSpec, graph: Graph, info: DataInfo, document: Document, issues: IssueList) -> None:
    """The loss against the data's task and the model's per-sample output shape (``check_fit``
    of the loss)."""
    if graph.output_shape is None:
        return
    problem = build_loss(spec).check_fit(tuple(graph.output_shape), info, _output_at(graph))
    if problem is not None:
        issues.add(document.locate(_loss_path(document)), problem[0], hint=problem[1])


def _metric_path(document: Document, index: int) -> tuple[str | int, ...]:
    """The YAML path of the parameters of ``metrics[index]`` (``{name: {params}}`` or ``{type: name, ...}``)."""
    raw = document.get(("metrics", index))
    if isinstance(raw, dict) and "type" not in raw and len(raw) == 1:
        return ("metrics", index, next(iter(raw)))
    return ("metrics", index)


def check_metrics(spec: PipelineSpec, info: DataInfo, document: Document, issues: IssueList) -> None:
    """Each metric against the data's task and class count (its ``check_fit``), and no two metrics
    logged under one name."""
    seen: dict[str, int] = {}
    for i, metric in enumerate(spec.metrics):
        name = metric.type  # type: ignore[attr-defined]
        task = metric_task(name)
        if task is not None and task != info.task:
            issues.add(
                document.locate_value(("metrics", i)),
                f"metric '{name}' is for {task}, but {info.name} is a {info.task} task",
            )
            continue
        if METRICS.get(name).higher_is_better is None:
            issues.add(
                document.locate_value(("metrics", i)),
                f"metric '{name}' is not a single number and cannot be logged per epoch",
                hint="runs log the confusion matrix of classification tasks as a figure",
            )
        problem = metric.check_fit(info.num_classes if info.task == "classification" else None)  # type: ignore[attr-defined]
        if problem is not None:
            param, message = problem
            issues.add(document.locate_value((*_metric_path(document, i), param)), message)
        label = metric.label()  # type: ignore[attr-defined]
        if label in seen:
            issues.add(
                document.locate_value(("metrics", i)),
                f"metric '{label}' is listed twice (also metrics[{seen[label]}])",
            )
        seen.setdefault(label, i)


def check_regularizers(spec: PipelineSpec, graph: Graph, document: Document, issues: IssueList) -> None:
    named = [node.name for node in graph]
    for i, reg in enumerate(spec.regularizers):
        for j, layer in enumerate(reg.layers or []):
            if layer not in named:
                raw = document.get(("regularizers", i))
                base = (
                    ("regularizers", i, reg.type) if isinstance(raw, dict) and reg.type in raw else ("regularizers", i)
                )  # type: ignore[attr-defined]
                guess = suggest(layer, named)
                issues.add(
                    document.locate_value((*base, "layers", j)),
                    f"{reg.type} names layer '{layer}', which the model does not have",  # type: ignore[attr-defined]
                    guess,
                    None if guess else f"layers: {', '.join(named)}",
                )


def check_train(spec: PipelineSpec, document: Document, issues: IssueList) -> None:
    train = spec.train
    stop = train.early_stopping
    if stop is not None:
        has_val = "val" in spec.data.split_names()
        allowed = ["train_loss", "val_loss", "lr"]
        allowed += [f"{part}_{m.label()}" for part in ("train", "val") for m in spec.metrics]  # type: ignore[attr-defined]
        if spec.regularizers:
            allowed.append("train_penalty")
        where = document.locate_value(("train", "early_stopping", "monitor"))
        if stop.monitor not in allowed:
            guess = suggest(stop.monitor, allowed)
            issues.add(
                where,
                f"early_stopping monitors '{stop.monitor}', which is not logged",
                guess,
                None if guess else f"logged: {', '.join(allowed)}",
            )
        elif stop.monitor.startswith("val_") and not has_val:
            part = "data.source has no 'val' entry" if spec.data.per_split else "data.split has no 'val' part"
            issues.add(where, f"early_stopping monitors '{stop.monitor}' but {part}")
