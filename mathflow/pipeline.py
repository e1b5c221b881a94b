"""The one-call API: a pipeline file → validated spec and compiled graph.

    from mathflow.pipeline import load_pipeline

    spec, compiled = load_pipeline("pipelines/cnn.yaml", ["train.epochs=3"])
    model = compiled.build_model()

Every mistake of the file (YAML, schema, shapes, cross-section) is raised as one
:class:`~mathflow.config.ConfigError` whose lines read ``file:line:col: message``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from mathflow.compiler import CompiledPipeline, compile_pipeline
from mathflow.config import load_config
from mathflow.schema import validate_spec
from mathflow.schema.pipeline import PipelineSpec


def load_spec(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> PipelineSpec:
    """Load and validate ``path`` (with ``--set`` style ``overrides``) without compiling it."""
    return validate_spec(load_config(path, overrides))


def load_pipeline(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> tuple[PipelineSpec, CompiledPipeline]:
    """The validated spec and compiled graph of the pipeline at ``path``; raises ConfigError."""
    document = load_config(path, overrides)
    spec = validate_spec(document)
    return spec, compile_pipeline(spec, document)


__all__ = ["load_pipeline", "load_spec"]
