"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A :class:`Checkpoint` is a nested record of plain values and NumPy arrays, stored as two files
and nothing pickled:

- ``state.npz``: every array (weights and buffers, optimizer moments, early stopping's best
  weights, the predictions of an epoch in progress), read back with ``allow_pickle=False``;
- ``state.json``: everything else, with each array replaced by ``{"__array__": key}`` (its key in
  the ``.npz``), plus the format version and the SHA-256 of the ``.npz`` so that a torn or mixed
  pair of files is refused instead of being resumed from.

What :meth:`Trainer.checkpoint <mathflow.train.Trainer.checkpoint>` records (:func:`capture_trainer`):
the completed epoch, the global step, the model's ``state_dict``, the optimizer's ``state_dict``
(moments and step counters), the schedule's configuration, the history, early stopping's state, the
state of every callback with ``state_dict`` and ``load_state_dict`` (e.g. ``ModelCheckpoint``), the
states of the random generators (shuffling; initialisation and dropout) and, for a run stopped in
the middle of an epoch, how far that epoch got (``partial``). :func:`restore_trainer` puts all of it
back into a trainer.

``checkpoint_every`` (``train.checkpoint_every``) says how often a run writes one: ``0`` never,
``N`` after every N-th epoch, ``None`` (the default) :func:`auto_checkpoint_every`.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mathflow.errors import MathflowError

if TYPE_CHECKING:
    from mathflow.train.trainer import Trainer

#: The format version written into ``state.json``; a different one is refused.
CHECKPOINT_VERSION = 1
ARRAYS_FILE = "state.npz"
META_FILE = "state.json"
#: The artifact folder of a run that holds its latest checkpoint.
ARTIFACT_DIR = "checkpoint"

#: Runs with at least this many epochs checkpoint periodically by default.
AUTO_MIN_EPOCHS = 50
#: By default a long run writes about this many periodic checkpoints.
AUTO_CHECKPOINTS = 10

_ARRAY_REF = "__array__"


def auto_checkpoint_every(epochs: int) -> int:
    """The default period: ``epochs // 10`` for runs of 50 epochs or more, else 0 (no periodic
    checkpoint; a run stopped by a signal still writes one)."""
    return epochs // AUTO_CHECKPOINTS if epochs >= AUTO_MIN_EPOCHS else 0


def resolve_checkpoint_every(every: int | None, epochs: int) -> int:
    """The period in epochs for ``train.checkpoint_every = every`` (None: :func:`auto_checkpoint_every`)."""
    if every is None:
        return auto_checkpoint_every(epochs)
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 0:
        raise MathflowError(f"checkpoint_every must be an integer >= 0 or None, got {every!r}")
    return int(every)


# ---------------------------------------------------------------------------- plain values <-> arrays
def split_arrays(value: Any, arrays: dict[str, np.ndarray], key: str = "") -> Any:
    """``value`` with every array moved into ``arrays`` (under its dotted path) and replaced by a
    reference; NumPy scalars become Python numbers. Dict keys must be strings."""
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy"):
        from mathflow.backend import to_numpy

        arrays[key] = np.array(to_numpy(value), copy=True)
        return {_ARRAY_REF: key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise MathflowError(f"checkpoint: key {name!r} under {key or 'the root'} is not a string")
            out[name] = split_arrays(item, arrays, f"{key}/{name}" if key else name)
        return out
    if isinstance(value, (list, tuple)):
        return [split_arrays(item, arrays, f"{key}/{i}" if key else str(i)) for i, item in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise MathflowError(f"checkpoint: cannot store a {type(value).__name__} at {key or 'the root'}")


def join_arrays(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The inverse of :func:`split_arrays`: references replaced by their arrays."""
    if isinstance(value, dict):
        if set(value) == {_ARRAY_REF}:
            ref = value[_ARRAY_REF]
            if ref not in arrays:
                raise MathflowError(f"checkpoint: the array {ref!r} is missing from {ARRAYS_FILE}")
            return arrays[ref]
        return {name: join_arrays(item, arrays) for name, item in value.items()}
    if isinstance(value, list):
        return [join_arrays(item, arrays) for item in value]
    return value


# ---------------------------------------------------------------------------- random generators
def generator_state(generator: Any) -> dict[str, Any] | None:
    """The state of a NumPy ``Generator`` as plain values (None for a generator without a readable
    state, such as CuPy's)."""
    state = getattr(getattr(generator, "bit_generator", None), "state", None)
    return state if isinstance(state, dict) else None


def set_generator_state(generator: Any, state: dict[str, Any], what: str) -> None:
    """Put ``generator`` back into ``state`` (from :func:`generator_state`)."""
    bit_generator = getattr(generator, "bit_generator", None)
    kind = type(bit_generator).__name__
    if bit_generator is None or not isinstance(getattr(bit_generator, "state", None), dict):
        raise MathflowError(f"checkpoint: the {what} generator ({kind}) cannot be restored")
    if state.get("bit_generator") != kind:
        saved = state.get("bit_generator")
        raise MathflowError(f"checkpoint: the {what} generator was a {saved}, this one is a {kind}")
    bit_generator.state = state


# ---------------------------------------------------------------------------- the checkpoint
@dataclass
class Checkpoint:
    """A training state: ``state`` (plain values and NumPy arrays, see the module docstring)."""

    state: dict[str, Any]

    @property
    def epoch(self) -> int:
        """The last completed epoch (numbered from 1; 0 before the first)."""
        return int(self.state["epoch"])

    @property
    def partial_steps(self) -> int:
        """The steps done in epoch ``epoch + 1`` when the run stopped in its middle (else 0)."""
        partial = self.state.get("partial")
        return 0 if partial is None else int(partial["step"])

    def where(self) -> str:
        """``"epoch 3"`` or ``"epoch 3 + 12 steps of epoch 4"``: the point the state was taken at."""
        steps = self.partial_steps
        text = f"epoch {self.epoch}"
        return text if not steps else f"{text} + {steps} step{'s' if steps != 1 else ''} of epoch {self.epoch + 1}"

    def save(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write ``state.npz`` then ``state.json`` into ``folder``; returns both paths."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        meta = split_arrays(self.state, arrays)
        npz = target / ARRAYS_FILE
        with open(npz, "wb") as handle:
            np.savez(handle, **arrays)
        record = {"version": CHECKPOINT_VERSION, "arrays_sha256": _sha256(npz), "state": meta}
        text = json.dumps(record, allow_nan=True, indent=1, sort_keys=True)
        path = target / META_FILE
        path.write_text(text, encoding="utf-8")
        return [npz, path]

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Checkpoint:
        """Read a checkpoint written by :meth:`save`; a missing, corrupt or mismatched pair of files
        is a :class:`MathflowError`."""
        source = Path(folder)
        meta_path, npz = source / META_FILE, source / ARRAYS_FILE
        try:
            record = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MathflowError(f"cannot read the checkpoint file {meta_path.name}: {exc}") from None
        if not isinstance(record, dict) or record.get("version") != CHECKPOINT_VERSION:
            version = record.get("version") if isinstance(record, dict) else None
            raise MathflowError(f"checkpoint format version {version!r} is not {CHECKPOINT_VERSION}")
        try:
            digest = _sha256(npz)
        except OSError as exc:
            raise MathflowError(f"cannot read the checkpoint file {npz.name}: {exc}") from None
        if digest != record.get("arrays_sha256"):
            raise MathflowError(
                f"the checkpoint's {npz.name} does not match its {meta_path.name} (a torn write?)",
                suggestion="resume from an earlier run's checkpoint, or run the pipeline again",
            )
        try:
            with np.load(npz, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as exc:
            raise MathflowError(f"cannot read the checkpoint file {npz.name}: {exc}") from None
        state = join_arrays(record.get("state"), arrays)
        if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
            raise MathflowError("the checkpoint holds no training state")
        return cls(state)


# ---------------------------------------------------------------------------- trainer state
def stateful_callbacks(callbacks: Iterable[Any]) -> list[Any]:
    """The callbacks with ``state_dict`` and ``load_state_dict``: checkpoints carry their state."""
    methods = ("state_dict", "load_state_dict")
    return [cb for cb in callbacks if all(callable(getattr(cb, m, None)) for m in methods)]


def capture_trainer(trainer: Trainer, epoch: int | None = None) -> Checkpoint:
    """``trainer``'s state now: after epoch ``epoch`` (default: the last in its history), plus the
    epoch in progress when training stopped between two of its steps."""
    opt = trainer.optimizer
    if opt is None or (hasattr(trainer.model, "built") and not trainer.model.built):
        raise MathflowError("nothing to checkpoint yet: the model is built by fit")
    partial = trainer._epoch_state
    es = trainer.early_stopping
    state: dict[str, Any] = {
        "epoch": len(trainer.history) if epoch is None else int(epoch),
        "global_step": trainer.global_step,
        "samples_seen": trainer.samples_seen,
        "model": trainer.model.state_dict(),
        "optimizer": opt.state_dict(),
        "schedule": None if trainer.schedule is None else trainer.schedule.state_dict(),
        "schedule_unit": trainer.schedule_unit,
        "history": trainer.history.to_dict(),
        "early_stopping": None if es is None else es.state_dict(),
        "callbacks": [
            {"type": type(cb).__name__, "state": cb.state_dict()} for cb in stateful_callbacks(trainer.callbacks)
        ],
        "rng": {
            "device": trainer.backend.device,
            "shuffle": generator_state(trainer._shuffle_rng),
            "backend": generator_state(trainer.backend.rng),
        },
        "partial": None if partial is None else partial.state_dict(),
    }
    return Checkpoint(state)


def restore_trainer(
    trainer: Trainer, checkpoint: Checkpoint, epochs: int, shuffle: bool
) -> tuple[int, dict[str, Any] | None]:
    """Load ``checkpoint`` into ``trainer`` (its built model, optimizer, schedule, history, early
    stopping, the callbacks with state, the generators and step counters) for a run of ``epochs``
    epochs; returns the first epoch to run and the state of the epoch in progress (None if none)."""
    state = checkpoint.state
    stateful = _check_resumable(trainer, checkpoint, epochs)
    assert trainer.optimizer is not None
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.schedule is not None:
        trainer.schedule.load_state_dict(state["schedule"])
    trainer.history.load_dict(state["history"])
    if trainer.early_stopping is not None:
        trainer.early_stopping.load_state_dict(state["early_stopping"])
    for callback, entry in zip(stateful, state.get("callbacks", []), strict=True):
        callback.load_state_dict(entry["state"])
    _restore_generators(trainer, state["rng"])
    trainer.global_step = int(state["global_step"])
    trainer.samples_seen = int(state["samples_seen"])
    partial = state.get("partial")
    if partial is not None and (partial["order_state"] is not None) != bool(shuffle):
        raise MathflowError("the checkpoint was made with another train.shuffle setting")
    return checkpoint.epoch + 1, partial


def _check_resumable(trainer: Trainer, checkpoint: Checkpoint, epochs: int) -> list[Any]:
    """Refuse a checkpoint past ``epochs`` or made with another schedule, early stopping or set of
    stateful callbacks; returns ``trainer``'s stateful callbacks (in the checkpoint's order)."""
    state = checkpoint.state
    done = checkpoint.epoch
    if done > epochs or (done == epochs and state.get("partial") is not None):
        raise MathflowError(f"the checkpoint is at {checkpoint.where()}, past the {epochs} epochs of this run")
    same_schedule = (state.get("schedule") is None) == (trainer.schedule is None)
    if not same_schedule or state.get("schedule_unit") != trainer.schedule_unit:
        raise MathflowError("the checkpoint was made with another learning-rate schedule")
    if (state.get("early_stopping") is None) != (trainer.early_stopping is None):
        raise MathflowError("the checkpoint was made with other early-stopping settings")
    stateful = stateful_callbacks(trainer.callbacks)
    saved = state.get("callbacks", [])
    kinds = [type(cb).__name__ for cb in stateful]
    if [entry["type"] for entry in saved] != kinds:
        made = ", ".join(entry["type"] for entry in saved) or "none"
        now = ", ".join(kinds) or "none"
        raise MathflowError(f"the checkpoint holds the state of the callbacks {made}; this run has {now}")
    return stateful


def _restore_generators(trainer: Trainer, saved: dict[str, Any]) -> None:
    """Put the shuffling and backend generators back (the backend's only on the same device)."""
    if saved.get("shuffle") is not None:
        set_generator_state(trainer._shuffle_rng, saved["shuffle"], "shuffling")
    backend_state = saved.get("backend")
    if backend_state is None or saved.get("device") != trainer.backend.device:
        warnings.warn(
            "the checkpoint's random state for initialisation and dropout cannot be restored here "
            f"(saved on {saved.get('device')}, resumed on {trainer.backend.device}): dropout masks will differ",
            stacklevel=4,
        )
        return
    set_generator_state(trainer.backend.rng, backend_state, "backend")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


__all__ = [
    "ARRAYS_FILE",
    "ARTIFACT_DIR",
    "CHECKPOINT_VERSION",
    "META_FILE",
    "Checkpoint",
    "auto_checkpoint_every",
    "capture_trainer",
    "generator_state",
    "join_arrays",
    "resolve_checkpoint_every",
    "restore_trainer",
    "set_generator_state",
    "split_arrays",
    "stateful_callbacks",
]
