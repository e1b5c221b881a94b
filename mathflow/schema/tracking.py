"""The ``tracking`` section: where a run is logged in MLflow."""

from __future__ import annotations

from pydantic import Field

from mathflow.component import SpecModel


class TrackingSection(SpecModel):
    """MLflow experiment, run name and tags."""

    experiment: str = Field("default", min_length=1)
    run_name: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
