"""Training: the :class:`Trainer` loop, its callbacks, progress display and history.

from mathflow.train import Trainer, EarlyStopping

trainer = Trainer(model, nn.CrossEntropy(), lambda params: optim.Adam(params, lr=1e-3),
                  metrics=("accuracy",), early_stopping=EarlyStopping(patience=5), seed=0)
history = trainer.fit(train, val, epochs=50, batch_size=32)
history.best_epoch, history["val_accuracy"]
"""

from mathflow.train.accumulator import EpochAccumulator, StepResult
from mathflow.train.best import BestTracker
from mathflow.train.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    load_state,
    save_state,
)
from mathflow.train.checkpoint import Checkpoint
from mathflow.train.history import History, Monitor, resolve_mode
from mathflow.train.progress import (
    PlainProgress,
    ProgressReporter,
    QuietProgress,
    RichProgress,
    format_logs,
    make_progress,
)
from mathflow.train.trainer import DivergenceError, Trainer, binary_threshold, classification_pair

__all__ = [
    "BestTracker",
    "Callback",
    "CallbackList",
    "Checkpoint",
    "DivergenceError",
    "EarlyStopping",
    "EpochAccumulator",
    "History",
    "LambdaCallback",
    "ModelCheckpoint",
    "Monitor",
    "PlainProgress",
    "ProgressReporter",
    "QuietProgress",
    "RichProgress",
    "StepResult",
    "Trainer",
    "binary_threshold",
    "classification_pair",
    "format_logs",
    "load_state",
    "make_progress",
    "resolve_mode",
    "save_state",
]
