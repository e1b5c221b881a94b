"""The whole pipeline: every section, with defaults filled in."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mathflow.metrics import MetricName
from mathflow.nn.losses import LOSSES
from mathflow.nn.regularizers import REGULARIZERS
from mathflow.optim.optimizer import OPTIMIZERS
from mathflow.optim.schedules import SCHEDULES
from mathflow.schema.base import SpecModel, component_union
from mathflow.schema.data import DataSection
from mathflow.schema.model import ModelSection
from mathflow.schema.tracking import TrackingSection
from mathflow.schema.train import TrainSection

LossEntry = component_union(LOSSES.family, LOSSES.config_models())
RegularizerEntry = component_union(REGULARIZERS.family, REGULARIZERS.config_models())
OptimizerEntry = component_union(OPTIMIZERS.family, OPTIMIZERS.config_models())
ScheduleEntry = component_union(SCHEDULES.family, SCHEDULES.config_models())


class PipelineSpec(SpecModel):
    """A declarative ML experiment: data → model → loss + regularizers → optimizer → training."""

    model_config = SpecModel.model_config | {"title": "mathflow pipeline"}

    version: Literal[1] = 1
    name: str = Field(min_length=1)
    description: str | None = None
    seed: int | None = Field(0, ge=0, description="seeds data generation, splits, initialisation and dropout")
    data: DataSection
    model: ModelSection
    loss: LossEntry
    regularizers: list[RegularizerEntry] = Field(default_factory=list)
    optimizer: OptimizerEntry
    schedule: ScheduleEntry | None = None
    train: TrainSection = Field(default_factory=TrainSection)
    metrics: list[MetricName] = Field(default_factory=list)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    vars: dict[str, Any] = Field(
        default_factory=dict, description="free values for ${vars.name} references; not used otherwise"
    )

    def to_data(self) -> dict[str, Any]:
        """Plain data in the written form (components as ``name`` or ``{name: {params}}``)."""
        out: dict[str, Any] = {"version": self.version, "name": self.name}
        if self.description is not None:
            out["description"] = self.description
        if self.seed is not None:
            out["seed"] = self.seed
        skip = {"source", "split", "transforms"} if self.data.per_split else {"source", "transforms"}
        data = self.data.model_dump(by_alias=True, exclude_none=True, mode="json", exclude=skip)
        out["data"] = {
            "source": self.data.source.to_data(),
            **data,
            "transforms": [t.to_data() for t in self.data.transforms],
        }
        out["model"] = self.model.to_data()
        out["loss"] = self.loss.to_data()
        out["regularizers"] = [r.to_data() for r in self.regularizers]
        out["optimizer"] = self.optimizer.to_data()
        if self.schedule is not None:
            out["schedule"] = self.schedule.to_data()
        out["train"] = self.train.model_dump(by_alias=True, exclude_none=True, mode="json")
        out["metrics"] = list(self.metrics)
        out["tracking"] = self.tracking.model_dump(by_alias=True, exclude_none=True, mode="json")
        if self.vars:
            out["vars"] = dict(self.vars)
        return out
