"""The ``train`` section: epochs, batches, device, early stopping, gradient clipping, checkpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mathflow.component import Flag, SpecModel
from mathflow.constraints import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt


class EarlyStopping(SpecModel):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    monitor: str = Field(
        "val_loss",
        description="an epoch log key: val_loss, train_loss, or val_/train_ + a metric's logged name "
        "(val_accuracy, val_top_3_accuracy, val_f1_macro, ...)",
    )
    patience: NonNegativeInt = 5
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: minimise losses, maximise scores")
    min_delta: NonNegativeFloat = 0.0
    restore_best: Flag = True


class TrainSection(SpecModel):
    """How the model is fitted."""

    epochs: PositiveInt = Field(10, description="passes over the training split; a schedule steps once per epoch")
    batch_size: PositiveInt = 32
    device: Literal["cpu", "gpu", "auto"] = "auto"
    shuffle: Flag = True
    early_stopping: EarlyStopping | None = None
    clip_norm: PositiveFloat | None = Field(None, description="rescale gradients to this global L2 norm at most")
    clip_value: PositiveFloat | None = Field(None, description="clip every gradient entry to [-v, v]")
    checkpoint_every: NonNegativeInt | None = Field(
        None,
        description="log a resumable checkpoint (mathflow resume) every N epochs and when a signal stops "
        "the run; 0: never; null (default): every epochs/10 epochs for runs of 50 epochs or more, "
        "otherwise only when stopped",
    )
