"""The whole pipeline: every section, with defaults filled in."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mathflow.component import SpecModel, component_union
from mathflow.metrics import METRICS
from mathflow.nn.losses import LOSSES
from mathflow.nn.regularizers import REGULARIZERS
from mathflow.optim.optimizer import OPTIMIZERS
from mathflow.optim.schedules import SCHEDULES
from mathflow.schema.data import DataSection
from mathflow.schema.model import ModelSection
from mathflow.schema.sweep import SweepSection
from mathflow.schema.tracking import TrackingSection
from mathflow.schema.train import TrainSection

LossEntry = component_union(LOSSES.family, LOSSES.config_models())
RegularizerEntry = component_union(REGULARIZERS.family, REGULARIZERS.config_models())
OptimizerEntry = component_union(OPTIMIZERS.family, OPTIMIZERS.config_models())
ScheduleEntry = component_union(SCHEDULES.family, SCHEDULES.config_models())
MetricEntry = component_union(METRICS.family, METRICS.config_models())


class PipelineSpec(SpecModel):
    """A declarative ML experiment: data → model → loss + regularizers → optimizer → training."""

    model_config = SpecModel.model_config | {"title": "mathflow pipeline"}

    version: Literal[1] = Field(1, description="the pipeline format's version")
    name: str = Field(min_length=1, description="the pipeline's name; the run's name unless tracking.run_name is set")
    description: str | None = Field(None, description="free text, logged with the run")
    seed: int | None = Field(0, ge=0, description="seeds data generation, splits, initialisation and dropout")
    data: DataSection = Field(description="the samples: source, split, transforms")
    model: ModelSection = Field(description="a list of layers, or a graph of named nodes")
    loss: LossEntry = Field(description="minimised during training (plus the regularizers' penalties)")
    regularizers: list[RegularizerEntry] = Field(default_factory=list, description="penalties added to the loss")
    optimizer: OptimizerEntry = Field(description="updates the parameters after every batch")
    schedule: ScheduleEntry | None = Field(
        None,
        description="the learning rate epoch by epoch: a schedule's step t is the epoch number minus 1 "
        "(t = 0 in the first epoch), so step_size, t_max and warmup_steps count epochs, not batches",
    )
    train: TrainSection = Field(default_factory=TrainSection, description="epochs, batches, early stopping, clipping")
    metrics: list[MetricEntry] = Field(
        default_factory=list,
        description="evaluated on every split each epoch; logged as train_/val_/test_ + the metric's label "
        "(accuracy, top_<k>_accuracy, f1_<average>, ...)",
    )
    tracking: TrackingSection = Field(default_factory=TrackingSection, description="the MLflow experiment and tags")
    vars: dict[str, Any] = Field(
        default_factory=dict, description="free values for ${vars.name} references; not used otherwise"
    )
    sweep: SweepSection | None = Field(None, description="many runs of this pipeline: `mathflow sweep FILE`")

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
        out["metrics"] = [m.to_data() for m in self.metrics]
        out["tracking"] = self.tracking.model_dump(by_alias=True, exclude_none=True, mode="json")
        if self.vars:
            out["vars"] = dict(self.vars)
        return out
