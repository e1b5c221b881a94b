"""The pipeline DSL as pydantic models: one module per section.

    from mathflow.config import load_config
    from mathflow.schema import validate_spec

    spec = validate_spec(load_config("pipelines/cnn.yaml"))   # raises ConfigError
    spec.model.layers[0]                                        # Conv2DConfig(filters=16, ...)
    spec.to_data()                                              # plain data, YAML-ready

The sections (``data``, ``model``, ``train``, ...) live here; the config model of each
component (a layer, a loss, an optimizer, a data set, ...) is derived from the component's own
constructor (:mod:`mathflow.component`) and the sections' unions are built from the registries
(:mod:`mathflow.registry`). The math
pipelines' models are in :mod:`mathflow.schema.math_pipeline`.

Names are resolved on first use (PEP 562): importing the package does not fill the registries.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DataSection": "mathflow.schema.data",
    "Split": "mathflow.schema.data",
    "EarlyStopping": "mathflow.schema.train",
    "TrainSection": "mathflow.schema.train",
    "INPUT": "mathflow.schema.model",
    "NODE_MODELS": "mathflow.schema.model",
    "ModelSection": "mathflow.schema.model",
    "PipelineSpec": "mathflow.schema.pipeline",
    "catalogs": "mathflow.schema.pipeline_io",
    "registries": "mathflow.schema.pipeline_io",
    "pipeline_json_schema": "mathflow.schema.pipeline_io",
    "schema_text": "mathflow.schema.pipeline_io",
    "spec_from_data": "mathflow.schema.pipeline_io",
    "validate_spec": "mathflow.schema.pipeline_io",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mathflow.schema' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
