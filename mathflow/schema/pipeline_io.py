"""Validating a loaded pipeline document, and the JSON Schema and catalogues derived from the registries."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from mathflow.component_schema import schema_file
from mathflow.config.errors import ConfigError, Issue, Location
from mathflow.config.loader import Document
from mathflow.schema.errors import Translator
from mathflow.schema.pipeline import PipelineSpec


def registries() -> dict[str, Any]:
    """family (as ``mathflow list`` names it) → registry, for every family a pipeline can name."""
    from mathflow.data import DATASETS, TRANSFORMS
    from mathflow.metrics import METRICS
    from mathflow.nn import ACTIVATIONS, INITIALIZERS, LAYERS, LOSSES, REGULARIZERS
    from mathflow.optim import OPTIMIZERS, SCHEDULES

    return {
        "layers": LAYERS,
        "activations": ACTIVATIONS,
        "losses": LOSSES,
        "regularizers": REGULARIZERS,
        "optimizers": OPTIMIZERS,
        "schedules": SCHEDULES,
        "datasets": DATASETS,
        "transforms": TRANSFORMS,
        "metrics": METRICS,
        "initializers": INITIALIZERS,
    }


def catalogs() -> dict[str, dict[str, Any]]:
    """family → {name: config model} for the families whose components have parameters."""
    return {family: registry.catalog() for family, registry in registries().items() if registry.config_models()}


def families() -> dict[frozenset[str], str]:
    """The set of names of each family's union → the family's word in messages ("unknown loss ...")."""
    from mathflow.schema.base import tags

    families = {}
    for registry in registries().values():
        models = registry.config_models()
        if models:
            families[tags(models)] = models[0].family
    from mathflow.optim.schedules import WarmupSchedule

    after = WarmupSchedule.config_model.model_fields["after"].annotation
    families[tags([m for m in _union_members(after)])] = "schedule"
    return families


def _union_members(annotation: Any) -> list[Any]:
    import typing

    members = []
    for arg in typing.get_args(annotation):
        inner = typing.get_args(arg)
        if inner:
            members += [m for m in typing.get_args(inner[0]) if hasattr(m, "model_fields")]
    return members


def validate_spec(document: Document) -> PipelineSpec:
    """The validated spec of a loaded document; every problem is raised at once as a ConfigError."""
    try:
        return PipelineSpec.model_validate(document.data)
    except ValidationError as exc:
        issues = Translator(PipelineSpec, document, families()).issues(exc)
        raise ConfigError(issues) from None


def spec_from_data(data: dict[str, Any], source: str = "<pipeline>") -> PipelineSpec:
    """Validate plain data (no source positions: errors name ``source`` and the key path)."""
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        document = Document(data, source, "")
        issues = Translator(PipelineSpec, document, families()).issues(exc)
        raise ConfigError([Issue(Location(source), i.message, i.suggestion, i.hint) for i in issues]) from None


def pipeline_json_schema() -> dict[str, Any]:
    """The JSON Schema of a pipeline file (what ``mathflow schema`` writes), generated from the registries."""
    return json.loads(schema_text())


def schema_text() -> str:
    """The schema as the text of ``schemas/pipeline.schema.json``."""
    return schema_file(PipelineSpec.model_json_schema(by_alias=True), "pipeline.schema.json")
