"""The pipeline DSL as pydantic models: one module per section, no arrays here.

    from mathflow.config import load_config
    from mathflow.spec import validate_spec

    spec = validate_spec(load_config("pipelines/cnn.yaml"))   # raises ConfigError
    spec.model.layers[0]                                        # Conv2D(filters=16, ...)
    spec.to_data()                                              # plain data, YAML-ready

Component models mirror the registries of :mod:`mathflow.nn`, :mod:`mathflow.optim` and
:mod:`mathflow.data` as light descriptions (names, parameters, defaults, ranges), so that
validating a file needs neither arrays nor the implementations; a test keeps both in step.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from mathflow.config.errors import ConfigError, Issue, Location
from mathflow.config.loader import Document
from mathflow.spec.base import tags
from mathflow.spec.data import SOURCE_SPECS, TRANSFORM_SPECS, DataSection, Split
from mathflow.spec.errors import Translator
from mathflow.spec.layers import LAYER_SPECS, LayerSpec
from mathflow.spec.losses import LOSS_SPECS, LossSpec
from mathflow.spec.metrics import METRIC_TASKS
from mathflow.spec.model import INPUT, NODE_MODELS, ModelSection
from mathflow.spec.optimizer import OPTIMIZER_SPECS
from mathflow.spec.pipeline import PipelineSpec
from mathflow.spec.regularizers import REGULARIZER_SPECS
from mathflow.spec.schedule import SCHEDULE_SPECS
from mathflow.spec.train import EarlyStopping, TrainSection

#: family → {name: component model}; what ``mathflow list`` shows.
CATALOGS: dict[str, dict[str, Any]] = {
    "layers": LAYER_SPECS,
    "losses": LOSS_SPECS,
    "regularizers": REGULARIZER_SPECS,
    "optimizers": OPTIMIZER_SPECS,
    "schedules": SCHEDULE_SPECS,
    "datasets": SOURCE_SPECS,
    "transforms": TRANSFORM_SPECS,
}

_FAMILIES: dict[frozenset[str], str] = {
    tags(LAYER_SPECS): "layer",
    tags(LOSS_SPECS): "loss",
    tags(REGULARIZER_SPECS): "regularizer",
    tags(OPTIMIZER_SPECS): "optimizer",
    tags(SCHEDULE_SPECS): "schedule",
    tags([m for n, m in SCHEDULE_SPECS.items() if n != "warmup"]): "schedule",
    tags(SOURCE_SPECS): "data set",
    tags(TRANSFORM_SPECS): "transform",
}


def validate_spec(document: Document) -> PipelineSpec:
    """The validated spec of a loaded document; every problem is raised at once as a ConfigError."""
    try:
        return PipelineSpec.model_validate(document.data)
    except ValidationError as exc:
        issues = Translator(PipelineSpec, document, _FAMILIES).issues(exc)
        raise ConfigError(issues) from None


def spec_from_data(data: dict[str, Any], source: str = "<pipeline>") -> PipelineSpec:
    """Validate plain data (no source positions: errors name ``source`` and the key path)."""
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        document = Document(data, source, "")
        issues = Translator(PipelineSpec, document, _FAMILIES).issues(exc)
        raise ConfigError([Issue(Location(source), i.message, i.suggestion, i.hint) for i in issues]) from None


def pipeline_json_schema() -> dict[str, Any]:
    """The JSON Schema of a pipeline file (what ``mathflow schema`` writes)."""
    schema = PipelineSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mathflow.dev/schemas/pipeline.schema.json"
    return schema


def schema_text() -> str:
    """The schema as the text of ``schemas/pipeline.schema.json``."""
    return json.dumps(pipeline_json_schema(), indent=2, ensure_ascii=False) + "\n"


__all__ = [
    "CATALOGS",
    "DataSection",
    "EarlyStopping",
    "INPUT",
    "LayerSpec",
    "LossSpec",
    "METRIC_TASKS",
    "ModelSection",
    "NODE_MODELS",
    "PipelineSpec",
    "Split",
    "TrainSection",
    "pipeline_json_schema",
    "schema_text",
    "spec_from_data",
    "validate_spec",
]
