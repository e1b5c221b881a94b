"""Cross-section checks: the loss fits the model's output and the data's task, metrics fit
the task, regularizers name existing layers, early stopping watches a logged value."""

from __future__ import annotations

import math

from mathflow.compiler.data_info import DataInfo
from mathflow.compiler.graph import Graph, show_shape
from mathflow.config.errors import IssueList, suggest
from mathflow.config.loader import Document
from mathflow.spec.metrics import METRIC_TASKS
from mathflow.spec.pipeline import PipelineSpec


def _loss_path(document: Document) -> tuple[str | int, ...]:
    return ("loss",)


_SHAPE_ONLY = ("dropout", "flatten", "reshape", "identity")


def final_activation(graph: Graph) -> tuple[str | None, int | None]:
    """The non-linearity the model ends with (looking through dropout/flatten/reshape), and its line."""
    name = graph.output
    while name in graph.nodes:
        node = graph[name]
        if node.type in _SHAPE_ONLY and len(node.inputs) == 1:
            name = node.inputs[0]
            continue
        if node.type in ("sigmoid", "softmax", "relu", "tanh", "leaky_relu", "gelu", "elu", "softplus"):
            return node.type, node.line
        activation = getattr(node.spec, "activation", None)
        return (activation if activation not in (None, "identity", "linear") else None), node.line
    return None, None


def check_output_activation(spec: PipelineSpec, graph: Graph, document: Document, issues: IssueList) -> None:
    """Logit losses need raw scores; probability losses need a sigmoid."""
    kind = spec.loss.type  # type: ignore[attr-defined]
    act, line = final_activation(graph)
    where = document.locate(_loss_path(document))
    at = f" (line {line})" if line else ""
    if kind == "cross_entropy" and act in ("softmax", "sigmoid"):
        issues.add(
            where,
            f"cross_entropy takes raw scores (logits) and applies softmax itself; the model ends with {act}{at}",
            hint=f"remove the final {act}",
        )
    elif kind == "binary_cross_entropy":
        from_logits = spec.loss.from_logits  # type: ignore[attr-defined]
        if from_logits and act == "sigmoid":
            issues.add(
                where,
                f"binary_cross_entropy with from_logits: true takes raw scores; the model ends with sigmoid{at}",
                hint="remove the sigmoid or set from_logits: false",
            )
        elif not from_logits and act != "sigmoid":
            ends = f"ends with {act}" if act else "has no final sigmoid"
            issues.add(
                where,
                f"binary_cross_entropy takes probabilities in (0, 1); the model {ends}{at}",
                hint="end with a sigmoid activation or set from_logits: true",
            )


def check_loss(spec: PipelineSpec, graph: Graph, info: DataInfo, document: Document, issues: IssueList) -> None:
    """The loss against the data's task and the model's per-sample output shape."""
    loss = spec.loss
    kind = loss.type  # type: ignore[attr-defined]
    where = document.locate(_loss_path(document))
    out = graph.output_shape
    if out is None:
        return
    units = math.prod(out)
    output_line = graph[graph.output].line if graph.output in graph.nodes else None
    at = f" (output layer '{graph.output}' at line {output_line})" if output_line else ""
    one_hot = info.task == "classification" and info.target_shape not in ((), (1,))

    if loss.task == "regression":
        if info.task != "regression" and not one_hot:
            issues.add(
                where,
                f"{kind} is a regression loss but {info.describe()} has class labels",
                hint="use cross_entropy (or binary_cross_entropy for 2 classes), or one_hot the targets",
            )
        elif tuple(out) != tuple(info.target_shape) and units != math.prod(info.target_shape or (1,)):
            issues.add(
                where,
                f"{kind} compares the model output {show_shape(out)} with targets {show_shape(info.target_shape)}{at}",
                hint=f"end the model with dense units {math.prod(info.target_shape or (1,))}",
            )
        return
    if info.task != "classification":
        issues.add(
            where,
            f"{kind} needs class labels, but {info.name} has a regression target",
            hint="use mse, mae or huber",
        )
        return
    classes = info.num_classes
    if kind == "cross_entropy":
        if len(out) != 1 or units != classes:
            issues.add(
                where,
                f"cross_entropy needs one output unit per class: {info.describe()}, "
                f"but the model outputs {show_shape(out)}{at}",
                hint=f"end the model with dense units {classes}",
            )
    elif kind == "binary_cross_entropy":
        if classes is not None and classes != 2 and not one_hot:
            issues.add(
                where,
                f"binary_cross_entropy is for 2 classes, {info.describe()}",
                hint="use cross_entropy",
            )
        elif units != 1 and not one_hot:
            issues.add(
                where,
                f"binary_cross_entropy needs one output unit, the model outputs {show_shape(out)}{at}",
                hint="end the model with dense units 1 (and a sigmoid, or from_logits: true)",
            )
    elif kind == "hinge":
        ok = (units == 1 and classes == 2) or (len(out) == 1 and units == classes)
        if not ok:
            issues.add(
                where,
                f"hinge needs one score (2 classes) or one score per class: {info.describe()}, "
                f"the model outputs {show_shape(out)}{at}",
            )


def check_metrics(spec: PipelineSpec, info: DataInfo, document: Document, issues: IssueList) -> None:
    for i, name in enumerate(spec.metrics):
        task = METRIC_TASKS.get(name)
        if task is not None and task != info.task:
            issues.add(
                document.locate_value(("metrics", i)),
                f"metric '{name}' is for {task}, but {info.name} is a {info.task} task",
            )


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
    if train.cuda_graph and train.device == "cpu":
        issues.add(document.locate_value(("train", "cuda_graph")), "cuda_graph needs device gpu (or auto)")
    stop = train.early_stopping
    if stop is not None:
        has_val = "val" in spec.data.split_names()
        allowed = ["train_loss", "val_loss", "lr"]
        allowed += [f"{part}_{m}" for part in ("train", "val") for m in spec.metrics]
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
