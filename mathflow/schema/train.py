"""The ``train`` section: epochs, batches, device, early stopping, gradient clipping."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mathflow.schema.base import Flag, SpecModel
from mathflow.schema.types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt


class EarlyStopping(SpecModel):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    monitor: str = Field("val_loss", description="an epoch log key: val_loss, val_<metric>, train_loss, train_<metric>")
    patience: NonNegativeInt = 5
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: minimise losses, maximise scores")
    min_delta: NonNegativeFloat = 0.0
    restore_best: Flag = True


class TrainSection(SpecModel):
    """How the model is fitted."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    device: Literal["cpu", "gpu", "auto"] = "auto"
    shuffle: Flag = True
    early_stopping: EarlyStopping | None = None
    clip_norm: PositiveFloat | None = Field(None, description="rescale gradients to this global L2 norm at most")
    clip_value: PositiveFloat | None = Field(None, description="clip every gradient entry to [-v, v]")
    cuda_graph: Flag = Field(False, description="capture the training step as a CUDA graph (GPU only)")
