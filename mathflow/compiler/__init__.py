"""Spec → graph IR → shape inference → Model.

    compiled = compile_pipeline(spec, document)   # raises ConfigError with every located issue
    compiled.graph.rows()                          # name, type, output shape, params, YAML line
    model = compiled.build_model()                 # a mathflow.nn layer, parameters created

Errors point at the YAML line of the offending node, loss, metric or data file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mathflow.compiler.checks import (
    build_loss,
    check_loss,
    check_metrics,
    check_output_activation,
    check_regularizers,
    check_train,
)
from mathflow.compiler.data_info import DataInfo, data_info
from mathflow.compiler.graph import INPUT, Graph, Node, show_shape
from mathflow.compiler.render import to_dot, to_mermaid
from mathflow.compiler.shapes import infer_shapes, make_layer
from mathflow.compiler.structure import build_structure
from mathflow.config.errors import IssueList
from mathflow.config.loader import Document
from mathflow.schema.pipeline import PipelineSpec


@dataclass
class CompiledPipeline:
    """A validated spec with its data description and shape-checked graph."""

    spec: PipelineSpec
    document: Document
    data: DataInfo
    graph: Graph

    @property
    def base_dir(self) -> str:
        """The folder of the pipeline file: relative data paths resolve against it."""
        import os

        return os.path.dirname(self.document.path) or "."

    def prepare_data(self) -> Any:
        """Load, split and transform the data as the ``data`` section says (a ``PreparedData``)."""
        from mathflow.config.located import located_at
        from mathflow.data import prepare

        data = self.spec.data
        with located_at(self.document, ("data", "source")):
            return prepare(
                data.source_data(),
                data.split_data(),
                [t.to_data() for t in data.transforms],
                seed=self.spec.seed,
                stratify=data.stratify,
                base_dir=self.base_dir,
            )

    def build_model(self, *, build: bool = True) -> Any:
        """The runnable model (``Sequential`` or ``GraphModel``), parameters on the current backend."""
        from mathflow.compiler.model import build_model

        return build_model(self.graph, build=build)

    def build_loss(self) -> Any:
        return build_loss(self.spec)

    def build_regularizers(self) -> list[Any]:
        from mathflow.nn import REGULARIZERS

        return [REGULARIZERS.get(r.type)(**r.model_dump(exclude={"type"})) for r in self.spec.regularizers]  # type: ignore[attr-defined]

    def build_optimizer(self, params: Any) -> Any:
        from mathflow.config.located import located_at
        from mathflow.optim import OPTIMIZERS

        opt = self.spec.optimizer
        cls = OPTIMIZERS.get(opt.type)
        with located_at(self.document, ("optimizer",), getattr(cls, "registry_name", None)):
            return cls(params, **opt.model_dump(exclude={"type"}))  # type: ignore[attr-defined]

    def build_schedule(self) -> Any:
        from mathflow.config.located import located_at
        from mathflow.optim import build_schedule

        sched = self.spec.schedule
        if sched is None:
            return build_schedule(None)
        with located_at(self.document, ("schedule",), sched.type):
            return build_schedule(_schedule_config(sched))


def _schedule_config(sched: Any) -> dict[str, Any]:
    params = sched.model_dump(exclude={"type", "after"}, exclude_none=True)
    if getattr(sched, "after", None) is not None:
        params["after"] = _schedule_config(sched.after)
    return {"name": sched.type, **params}


def compile_pipeline(spec: PipelineSpec, document: Document) -> CompiledPipeline:
    """Check ``spec`` against its data and build its graph IR; raises ConfigError listing every issue."""
    issues = IssueList()
    info = data_info(spec.data, document, issues, spec.seed)
    graph = build_structure(spec.model, document, issues)
    check_train(spec, document, issues)
    if graph is not None and info is not None and info.sample_shape is not None:
        if infer_shapes(graph, info.sample_shape, issues):
            before = len(issues)
            check_loss(spec, graph, info, document, issues)
            if len(issues) == before:
                check_output_activation(spec, graph, document, issues)
        check_regularizers(spec, graph, document, issues)
    if info is not None:
        check_metrics(spec, info, document, issues)
    issues.raise_if_any()
    assert graph is not None and info is not None
    return CompiledPipeline(spec, document, info, graph)


__all__ = [
    "INPUT",
    "CompiledPipeline",
    "DataInfo",
    "Graph",
    "Node",
    "compile_pipeline",
    "make_layer",
    "show_shape",
    "to_dot",
    "to_mermaid",
]
