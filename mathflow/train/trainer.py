"""The training loop: :class:`Trainer` fits a model to a :class:`~mathflow.data.Dataset`.

    trainer = Trainer(model, nn.CrossEntropy(), lambda params: optim.Momentum(params, lr=0.05),
                      metrics=("accuracy",), early_stopping={"patience": 5}, seed=0)
    history = trainer.fit(train, val, epochs=50, batch_size=32)
    trainer.evaluate(test)            # {"loss": ..., "accuracy": ...}

Each epoch:

1. (``schedule_unit="epoch"``) the schedule sets the optimizer's learning rate;
2. the model in training mode takes one step per mini-batch (the last, partial batch included):
   zero the gradients, forward, objective = loss + Σ regularizer penalties, backward, clip, update
   (``schedule_unit="step"``: the rate is set before every step). A non-finite objective stops
   everything with a :class:`DivergenceError` before the update (on a GPU, where steps do not
   read their losses back, when the epoch ends: ``sync_every_step``);
3. the logs get ``train_loss`` (the objective averaged over samples), ``train_penalty``,
   ``train_<metric>`` (from the predictions made during the epoch), ``lr``, and with validation
   data ``val_loss`` (the loss alone) and ``val_<metric>``, computed in evaluation mode without
   a graph;
4. the history records the logs, callbacks see them, early stopping may end training.

The optimizer may be given built, or as a function ``params -> Optimizer``; the latter lets the
trainer build a lazily-shaped model (from the data's sample shape) before making the optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mathflow.autodiff.mode import no_grad
from mathflow.autodiff.tensor import Tensor
from mathflow.backend import Backend, array_module, get_backend, set_backend, to_numpy, using
from mathflow.data.batching import batches, num_batches
from mathflow.errors import MathflowError
from mathflow.metrics import METRICS, MetricConfig, resolve_metric
from mathflow.nn.losses import Loss, get_loss
from mathflow.optim.clip import clip_grad_norm, clip_grad_value
from mathflow.optim.optimizer import Optimizer, check_positive
from mathflow.optim.schedules import Schedule, build_schedule
from mathflow.train.callbacks import CallbackList, EarlyStopping, StopCheck, check_monitor
from mathflow.train.checkpoint import Checkpoint, generator_state, resolve_checkpoint_every, set_generator_state
from mathflow.train.device_watch import NonFiniteWatch
from mathflow.train.history import History, resolve_mode
from mathflow.train.progress import ProgressReporter, make_progress

#: Metrics that compare class labels; their predictions are turned into labels/scores first.
CLASSIFICATION_METRICS = frozenset(name for name, fn in METRICS.items() if fn.task == "classification")  # type: ignore[attr-defined]


class DivergenceError(MathflowError, FloatingPointError):
    """The loss became NaN or infinite: training cannot go on."""

    def __init__(self, message: str, *, epoch: int, step: int, value: float):
        self.epoch = epoch
        self.step = step
        self.value = value
        super().__init__(message)


def _check_finite(what: str, value: float, epoch: int, step: int) -> None:
    """Raise :class:`DivergenceError` when ``value`` (the ``what`` of a step) is NaN or infinite."""
    if not math.isfinite(value):
        raise DivergenceError(
            f"{what} became {value} at epoch {epoch}, step {step}: lower the learning rate or add gradient clipping",
            epoch=epoch,
            step=step,
            value=value,
        )


# ---------------------------------------------------------------------------- metrics
class _Metric:
    """A named metric function with its direction."""

    def __init__(self, name: str, fn: Callable[..., Any], higher_is_better: bool | None, classification: bool):
        self.name = name
        self.fn = fn
        self.higher_is_better = higher_is_better
        self.classification = classification


def _make_metrics(specs: Iterable[Any] | str | None) -> list[_Metric]:
    if specs is None:
        return []
    if isinstance(specs, (str, dict, MetricConfig)) or callable(specs):
        specs = [specs]
    out: list[_Metric] = []
    for spec in specs:
        if isinstance(spec, (str, dict, MetricConfig)):  # a registered metric, with its parameters
            bound = resolve_metric(spec)
            fn, name, flag = bound.fn, bound.name, bound.higher_is_better
            classification = bound.task == "classification"
        elif callable(spec):
            fn = spec
            name = getattr(spec, "__name__", type(spec).__name__)
            flag = getattr(fn, "higher_is_better", True)
            classification = getattr(fn, "task", None) == "classification" or bool(getattr(fn, "classification", False))
        else:
            raise MathflowError(
                f"a metric is a name such as 'accuracy', {{name: {{params}}}} or a function, got {spec!r}"
            )
        if flag is None:
            raise MathflowError(f"metric {name!r} is not a single number and cannot be logged per epoch")
        if any(m.name == name for m in out):
            raise MathflowError(f"metric {name!r} is listed twice")
        out.append(_Metric(name, fn, bool(flag), classification))
    return out


def binary_threshold(loss: Any) -> float:
    """The decision threshold of a one-unit output: 0 on logits (``expects == "logits"``, hinge), else 0.5."""
    if getattr(loss, "expects", "values") == "logits":
        return 0.0
    return 0.5


def classification_pair(outputs: np.ndarray, targets: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` ready for the classification metrics.

    Class scores (N, C) with C ≥ 2 are passed through (the metrics take their argmax). A single
    output per sample is cut at ``threshold`` into labels 0/1, and so are ±1 targets (hinge).
    """
    out = np.asarray(outputs)
    y = np.asarray(targets)
    if out.ndim == 2 and out.shape[1] > 1:
        return y, out
    pred = (out.reshape(len(out)) > threshold).astype(np.int64)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot over two columns for a one-unit model
        return y, pred
    flat = y.reshape(len(y))
    if flat.size and flat.min() < 0:  # ±1 labels
        flat = (flat > 0).astype(np.int64)
    return flat, pred


# ---------------------------------------------------------------------------- an epoch in progress
@dataclass
class EpochState:
    """How far an epoch got: the steps done and what they summed up (its part of a checkpoint).

    ``order_state`` is the shuffling generator's state before the epoch drew its permutation (None
    without shuffling), so a resumed epoch draws the same order and skips the ``step`` batches done.
    """

    epoch: int
    order_state: dict[str, Any] | None
    step: int = 0
    loss_total: Any = 0.0  # float, or a float64 device scalar between the steps of an epoch on a GPU
    penalty_total: Any = 0.0
    seen: int = 0
    outputs: list[np.ndarray] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        """Plain values and (at most two) arrays: the predictions and targets seen so far."""
        return {
            "epoch": self.epoch,
            "order_state": self.order_state,
            "step": self.step,
            "loss_total": float(self.loss_total),  # a device scalar while steps do not synchronise
            "penalty_total": float(self.penalty_total),
            "seen": self.seen,
            "outputs": np.concatenate([to_numpy(o) for o in self.outputs]) if self.outputs else None,
            "targets": np.concatenate(self.targets) if self.targets else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EpochState:
        outputs, targets = state.get("outputs"), state.get("targets")
        return cls(
            epoch=int(state["epoch"]),
            order_state=state.get("order_state"),
            step=int(state["step"]),
            loss_total=float(state["loss_total"]),
            penalty_total=float(state["penalty_total"]),
            seen=int(state["seen"]),
            outputs=[] if outputs is None else [outputs],
            targets=[] if targets is None else [targets],
        )


# ---------------------------------------------------------------------------- trainer
class Trainer:
    """Fits ``model`` by minimising ``loss`` (+ ``regularizers``) with ``optimizer``.

    Args:
        model: a layer (e.g. ``nn.Sequential``); built from the data if it is not yet.
        loss: a :class:`~mathflow.nn.Loss` or a loss spec (``"mse"``, ``{"name": ...}``).
        optimizer: an :class:`~mathflow.optim.Optimizer`, or ``params -> Optimizer``.
        regularizers: callables ``model -> scalar Tensor`` (``nn.L2(1e-4)``, ...) added to the loss.
        metrics: metric names (``"accuracy"``, ``"r2"``, ...) or functions ``fn(y_true, y_pred)``.
        schedule: a :class:`~mathflow.optim.Schedule` or spec; ``schedule_unit`` says whether its
            step counts epochs (``"epoch"``) or batches (``"step"``), both from 0.
        clip_norm / clip_value: clip gradients by global norm / by value before each update.
        early_stopping: an :class:`EarlyStopping`, or a dict of its arguments.
        seed: reseeds the backend's generator (initialisation, dropout) and seeds the shuffling,
            so the same seed gives the same run.
        backend: a :class:`~mathflow.Backend` or device name made current; default: the current one.
        progress: ``None``/``"auto"``, ``"rich"``, ``"plain"``, ``"quiet"`` or a ProgressReporter.
        callbacks: objects with ``on_epoch_end(epoch, logs)`` and friends, or functions ``fn(epoch, logs)``.
        stop_flag: an object whose ``check()`` raises to stop training (e.g. the
            :class:`~mathflow.tracking.signals.StopFlag` a signal handler sets); checked before every
            step, so a stop request ends training at the next step with that exception.
        checkpoint_every / on_checkpoint: with ``on_checkpoint`` (a function of a
            :class:`~mathflow.train.checkpoint.Checkpoint`) and ``checkpoint_every`` N > 0, a
            checkpoint is handed over after every N-th epoch (unless training stops there) and when
            the stop flag ends training (then it holds the epoch in progress, taken between two steps).
            ``checkpoint_every=None`` picks N from the epochs
            (:func:`~mathflow.train.checkpoint.auto_checkpoint_every`; 0 for short runs, which then
            checkpoint only when stopped); 0 never checkpoints.
            :meth:`resume_from` makes the next :meth:`fit` continue from one, bit for bit on CPU.
        sync_every_step: read each step's loss back to the host (and stop at once on a non-finite
            one, before the update). ``False`` keeps the losses, the first non-finite step and the
            predictions on the device and reads them once per epoch (no host synchronisation inside
            a step; a non-finite loss then stops training when its epoch ends, with the same step
            and message). Default: ``True`` on CPU, ``False`` on a GPU. Both give the same numbers.
    """

    def __init__(
        self,
        model: Any,
        loss: Loss | str | dict[str, Any],
        optimizer: Optimizer | Callable[[list[Any]], Optimizer],
        *,
        regularizers: Sequence[Callable[[Any], Tensor]] | Callable[[Any], Tensor] = (),
        metrics: Iterable[Any] | str | None = ("accuracy",),
        schedule: Schedule | str | dict[str, Any] | None = None,
        schedule_unit: str = "epoch",
        clip_norm: float | None = None,
        clip_value: float | None = None,
        early_stopping: EarlyStopping | dict[str, Any] | None = None,
        seed: int | None = None,
        backend: Backend | str | None = None,
        progress: ProgressReporter | str | bool | None = None,
        callbacks: Iterable[Any] = (),
        stop_flag: StopCheck | None = None,
        checkpoint_every: int | None = 0,
        on_checkpoint: Callable[[Checkpoint], Any] | None = None,
        sync_every_step: bool | None = None,
    ):
        if not callable(model):
            raise MathflowError(f"the model must be a layer (callable on a batch), got {type(model).__name__}")
        self.model = model
        self.loss = loss if callable(loss) and not isinstance(loss, Loss) else get_loss(loss)
        if isinstance(optimizer, Optimizer):
            self.optimizer: Optimizer | None = optimizer
            self._optimizer_factory = None
        elif callable(optimizer):
            self.optimizer, self._optimizer_factory = None, optimizer
        else:
            raise MathflowError(
                f"optimizer must be an Optimizer or a function params -> Optimizer, got {type(optimizer).__name__}"
            )
        if callable(regularizers) and not isinstance(regularizers, (list, tuple)):
            regularizers = (regularizers,)
        self.regularizers = list(regularizers)
        for reg in self.regularizers:
            if not callable(reg):
                raise MathflowError(f"a regularizer must be callable on the model, got {reg!r}")
        self.metrics = _make_metrics(metrics)
        self.schedule = None if schedule is None else build_schedule(schedule)
        if schedule_unit not in ("epoch", "step"):
            raise MathflowError(f"schedule_unit must be 'epoch' or 'step', got {schedule_unit!r}")
        self.schedule_unit = schedule_unit
        self.clip_norm = None if clip_norm is None else check_positive("trainer", "clip_norm", clip_norm)
        self.clip_value = None if clip_value is None else check_positive("trainer", "clip_value", clip_value)
        self.early_stopping = EarlyStopping.from_spec(early_stopping)
        self.callbacks = CallbackList(callbacks)
        self.stop_flag = stop_flag
        self.progress = make_progress(progress)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise MathflowError(f"seed must be an integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        if backend is not None:
            self.backend = set_backend(backend, seed=self.seed) if isinstance(backend, str) else set_backend(backend)
        else:
            self.backend = get_backend()
        if self.seed is not None:
            self.backend.reseed(self.seed)
        self.sync_every_step = self.backend.device != "gpu" if sync_every_step is None else bool(sync_every_step)
        self._shuffle_rng = np.random.default_rng(self.seed)
        self.history = History()
        self.stop_training = False
        self.stop_reason: str | None = None
        self.has_validation = False
        self.log_keys: frozenset[str] = frozenset()
        self.global_step = 0
        self.samples_seen = 0
        resolve_checkpoint_every(checkpoint_every, 0)  # validates
        self.checkpoint_every = checkpoint_every
        self._every = 0
        self.on_checkpoint = on_checkpoint
        self._resume: Checkpoint | None = None
        self._epoch_state: EpochState | None = None
        self._at_safe_point = False

    # ------------------------------------------------------------------ helpers for callbacks
    def add_callbacks(self, callbacks: Iterable[Any]) -> None:
        """Call ``callbacks`` too, after the ones given at construction."""
        self.callbacks = CallbackList([*self.callbacks, *callbacks])

    def stop(self, reason: str = "stopped by a callback") -> None:
        """End training after the current epoch."""
        self.stop_training = True
        self.stop_reason = reason

    def higher_is_better(self, name: str) -> bool:
        """Whether a larger value of metric ``name`` (a trainer metric or a registered one) is better."""
        for metric in self.metrics:
            if metric.name == name:
                return bool(metric.higher_is_better)
        from mathflow.metrics import higher_is_better

        return higher_is_better(name)

    def _check_stop(self) -> None:
        """Raise the stop flag's exception when a stop was requested (before each step)."""
        if self.stop_flag is not None:
            self.stop_flag.check()

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, epoch: int | None = None) -> Checkpoint:
        """The training state now: after epoch ``epoch`` (default: the last in the history), plus the
        epoch in progress when training stopped between two of its steps."""
        opt = self.optimizer
        if opt is None or (hasattr(self.model, "built") and not self.model.built):
            raise MathflowError("nothing to checkpoint yet: the model is built by fit")
        partial = self._epoch_state
        done = len(self.history) if epoch is None else int(epoch)
        es = self.early_stopping
        state: dict[str, Any] = {
            "epoch": done,
            "global_step": self.global_step,
            "samples_seen": self.samples_seen,
            "model": self.model.state_dict(),
            "optimizer": opt.state_dict(),
            "schedule": None if self.schedule is None else self.schedule.state_dict(),
            "schedule_unit": self.schedule_unit,
            "history": self.history.to_dict(),
            "early_stopping": None if es is None else es.state_dict(),
            "callbacks": [{"type": type(cb).__name__, "state": cb.state_dict()} for cb in self._stateful_callbacks()],
            "rng": {
                "device": self.backend.device,
                "shuffle": generator_state(self._shuffle_rng),
                "backend": generator_state(self.backend.rng),
            },
            "partial": None if partial is None else partial.state_dict(),
        }
        return Checkpoint(state)

    def _stateful_callbacks(self) -> list[Any]:
        """The callbacks with ``state_dict`` and ``load_state_dict``: checkpoints carry their state."""
        methods = ("state_dict", "load_state_dict")
        return [cb for cb in self.callbacks if all(callable(getattr(cb, m, None)) for m in methods)]

    def _checkpoint_on_stop(self) -> None:
        """Hand over a checkpoint when the stop flag ended training between two steps (never after an
        interrupt that may have cut a step short)."""
        if not (self._at_safe_point and self.on_checkpoint is not None and self.checkpoint_every != 0):
            return
        self._at_safe_point = False
        try:
            self.on_checkpoint(self.checkpoint())
        except Exception as exc:  # noqa: BLE001 - the stop must go on; the last periodic checkpoint stays
            import warnings

            warnings.warn(f"no checkpoint was written when training stopped: {exc}", stacklevel=2)

    def resume_from(self, checkpoint: Checkpoint) -> None:
        """Make the next :meth:`fit` continue from ``checkpoint`` (same model, data and settings)."""
        if not isinstance(checkpoint, Checkpoint):
            raise MathflowError(f"resume_from needs a Checkpoint, got {type(checkpoint).__name__}")
        self._resume = checkpoint

    def _restore(self, checkpoint: Checkpoint, epochs: int, shuffle: bool) -> tuple[int, EpochState | None]:
        """Load ``checkpoint`` into the built model, optimizer, history, early stopping, the callbacks
        with state and the generators; returns the first epoch to run and the epoch in progress (if any)."""
        state = checkpoint.state
        done = checkpoint.epoch
        partial = state.get("partial")
        if done > epochs or (done == epochs and partial is not None):
            raise MathflowError(f"the checkpoint is at {checkpoint.where()}, past the {epochs} epochs of this run")
        same_schedule = (state.get("schedule") is None) == (self.schedule is None)
        if not same_schedule or state.get("schedule_unit") != self.schedule_unit:
            raise MathflowError("the checkpoint was made with another learning-rate schedule")
        if (state.get("early_stopping") is None) != (self.early_stopping is None):
            raise MathflowError("the checkpoint was made with other early-stopping settings")
        stateful = self._stateful_callbacks()
        saved = state.get("callbacks", [])
        kinds = [type(cb).__name__ for cb in stateful]
        if [entry["type"] for entry in saved] != kinds:
            made = ", ".join(entry["type"] for entry in saved) or "none"
            now = ", ".join(kinds) or "none"
            raise MathflowError(f"the checkpoint holds the state of the callbacks {made}; this run has {now}")
        assert self.optimizer is not None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        self.history.load_dict(state["history"])
        if self.early_stopping is not None:
            self.early_stopping.load_state_dict(state["early_stopping"])
        for callback, entry in zip(stateful, saved, strict=True):
            callback.load_state_dict(entry["state"])
        self._restore_generators(state["rng"])
        self.global_step = int(state["global_step"])
        self.samples_seen = int(state["samples_seen"])
        if partial is not None and (partial["order_state"] is not None) != bool(shuffle):
            raise MathflowError("the checkpoint was made with another train.shuffle setting")
        return done + 1, None if partial is None else EpochState.from_state(partial)

    def _restore_generators(self, saved: dict[str, Any]) -> None:
        """Put the shuffling and backend generators back (the backend's only on the same device)."""
        if saved.get("shuffle") is not None:
            set_generator_state(self._shuffle_rng, saved["shuffle"], "shuffling")
        backend_state = saved.get("backend")
        if backend_state is None or saved.get("device") != self.backend.device:
            import warnings

            warnings.warn(
                "the checkpoint's random state for initialisation and dropout cannot be restored here "
                f"(saved on {saved.get('device')}, resumed on {self.backend.device}): dropout masks will differ",
                stacklevel=3,
            )
            return
        set_generator_state(self.backend.rng, backend_state, "backend")

    # ------------------------------------------------------------------ setup
    def _build_model(self, x: Any) -> None:
        """Build a not-yet-built model from the per-sample shape of the inputs ``x``."""
        model = self.model
        if hasattr(model, "built") and not model.built and hasattr(model, "build"):
            model.build(tuple(int(d) for d in np.shape(x)[1:]))

    def _prepare(self, train: Any) -> None:
        """Build the model from the data's sample shape and make the optimizer if needed."""
        model = self.model
        self._build_model(train.x)
        if self.optimizer is None:
            assert self._optimizer_factory is not None
            opt = self._optimizer_factory(model.parameters())
            if not isinstance(opt, Optimizer):
                raise MathflowError(f"the optimizer function returned {type(opt).__name__}, not an Optimizer")
            self.optimizer = opt
        if hasattr(model, "parameters"):
            mine = {id(p) for p in model.parameters()}
            if mine and not any(id(p) in mine for p in self.optimizer.params):
                raise MathflowError(
                    "the optimizer updates none of the model's parameters",
                    suggestion="make it from model.parameters() after the model is built, "
                    "or pass a function params -> Optimizer",
                )

    def _expected_keys(self, validation: bool) -> frozenset[str]:
        keys = {"epoch", "lr", "train_loss"}
        if self.regularizers:
            keys.add("train_penalty")
        keys.update(f"train_{m.name}" for m in self.metrics)
        if validation:
            keys.add("val_loss")
            keys.update(f"val_{m.name}" for m in self.metrics)
        return frozenset(keys)

    def _history_for(self, validation: bool) -> History:
        es = self.early_stopping
        if es is not None:
            check_monitor("early_stopping", es.monitor, self)
            mode = resolve_mode(es.monitor, es.mode, self.higher_is_better)
            return History(monitor=es.monitor, mode=mode, min_delta=es.min_delta)
        return History(monitor="val_loss" if validation else "train_loss", mode="min")

    def _inputs(self, xb: np.ndarray) -> Tensor:
        if np.issubdtype(xb.dtype, np.floating) or xb.dtype == np.bool_:
            return Tensor._wrap(self.backend.asarray(xb))
        return Tensor._wrap(self.backend.to_device(xb))

    def _targets(self, yb: np.ndarray) -> Any:
        return self.backend.to_device(yb)

    def _read(self, loss: Tensor) -> Any:
        """A scalar loss as float64: a Python float (read back now), or a 0-d device array when
        steps do not synchronise."""
        if self.sync_every_step:
            return float(loss.item())
        return loss.data.astype(np.float64)

    def _batch_loss(self, value: Any, size: int) -> Any:
        """The sum over the batch's samples of the per-sample loss."""
        return value if getattr(self.loss, "reduction", "mean") == "sum" else value * size

    def _compute_metrics(self, prefix: str, task: str, outputs: list[np.ndarray], targets: list[np.ndarray]) -> dict:
        if not self.metrics or not outputs:
            return {}
        out = np.concatenate(outputs)
        y = np.concatenate(targets)
        pair = None
        logs = {}
        for metric in self.metrics:
            if metric.classification:
                if pair is None:
                    pair = classification_pair(out, y, binary_threshold(self.loss))
                value = metric.fn(*pair)
            else:
                value = metric.fn(y, out)
            logs[f"{prefix}{metric.name}"] = float(value)
        return logs

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        train: Any,
        val: Any | None = None,
        epochs: int = 10,
        batch_size: int = 32,
        shuffle: bool = True,
    ) -> History:
        """Train for ``epochs`` epochs (fewer if stopped) and return the :class:`History`.

        Each call starts a new history (epochs numbered from 1); the model and the optimizer's
        state carry over, so a second call continues training.

        ``trainer.history`` holds the history so far even when training ends with an error or
        a ``KeyboardInterrupt`` (which propagate).

        After :meth:`resume_from`, the call continues the checkpoint's run instead: its history,
        weights, optimizer, early stopping and random states come back and training goes on from
        the step after the checkpoint's (``epochs`` counts the whole run, the restored epochs too).
        """
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise MathflowError(f"epochs must be a positive integer, got {epochs!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise MathflowError(f"batch_size must be a positive integer, got {batch_size!r}")
        _check_dataset("train", train)
        if val is not None:
            _check_dataset("val", val)
        epochs, batch_size = int(epochs), int(batch_size)
        with using(self.backend):
            self._prepare(train)
            self.has_validation = val is not None
            self.log_keys = self._expected_keys(val is not None)
            self.history = self._history_for(val is not None)
            self.stop_training, self.stop_reason = False, None
            callbacks = CallbackList([*self.callbacks, *([self.early_stopping] if self.early_stopping else [])])
            callbacks.call("on_train_begin", self)
            first, partial = 1, None
            if self._resume is not None:
                first, partial = self._restore(self._resume, epochs, shuffle)
                self._resume = None
            self._epoch_state, self._at_safe_point = None, False
            self._every = resolve_checkpoint_every(self.checkpoint_every, epochs)
            progress = self.progress
            progress.start(epochs, num_batches(len(train), batch_size))
            try:
                for epoch in range(first, epochs + 1):
                    callbacks.call("on_epoch_begin", epoch)
                    progress.epoch_start(epoch)
                    logs = self._run_epoch(epoch, train, val, batch_size, shuffle, partial)
                    partial = None
                    self.history.append(logs)
                    progress.epoch_end(epoch, logs)
                    callbacks.call("on_epoch_end", epoch, logs)
                    if self.stop_training:
                        self.history.stopped_epoch = epoch
                        self.history.stop_reason = self.stop_reason
                        break
                    if self.on_checkpoint is not None and self._every and epoch % self._every == 0:
                        self.on_checkpoint(self.checkpoint(epoch))
            except KeyboardInterrupt:
                self.history.stop_reason = "interrupted"
                self._checkpoint_on_stop()
                raise
            except DivergenceError as exc:
                self.history.stopped_epoch = exc.epoch
                self.history.stop_reason = "diverged"
                raise
            finally:
                progress.close()
                if hasattr(self.model, "eval"):
                    self.model.eval()
            callbacks.call("on_train_end", self.history)
        return self.history

    def _run_epoch(
        self,
        epoch: int,
        train: Any,
        val: Any | None,
        batch_size: int,
        shuffle: bool,
        partial: EpochState | None = None,
    ) -> dict[str, float]:
        model, opt, loss_fn = self.model, self.optimizer, self.loss
        assert opt is not None
        if self.schedule is not None and self.schedule_unit == "epoch":
            self.schedule.apply(opt, epoch - 1)
        if hasattr(model, "train"):
            model.train()
        params = opt.params
        keep = bool(self.metrics)
        rng = self._shuffle_rng if shuffle else None
        if partial is not None:  # a resumed epoch: the same order, the steps done skipped
            if partial.order_state is not None:
                set_generator_state(self._shuffle_rng, partial.order_state, "shuffling")
            state = partial
        else:
            state = EpochState(epoch, generator_state(rng) if rng is not None else None)
        self._epoch_state = state
        outputs, targets = state.outputs, state.targets
        task = getattr(train, "task", "classification")
        watch: NonFiniteWatch | None = None
        for step, (xb, yb) in enumerate(batches(train.x, train.y, batch_size, shuffle=shuffle, rng=rng), start=1):
            if step <= state.step:
                continue
            self._at_safe_point = True  # a stop raised here leaves a consistent state behind
            self._check_stop()
            self._at_safe_point = False
            if self.schedule is not None and self.schedule_unit == "step":
                self.schedule.apply(opt, self.global_step)
            if hasattr(model, "zero_grad"):
                model.zero_grad()
            opt.zero_grad()
            out = model(self._inputs(xb))
            data_loss = loss_fn(out, self._targets(yb))
            penalty = None
            if self.regularizers:
                penalty = self.regularizers[0](model)
                for reg in self.regularizers[1:]:
                    penalty = penalty + reg(model)
            objective = data_loss if penalty is None else data_loss + penalty
            data_value, penalty_value = self._read(data_loss), 0.0 if penalty is None else self._read(penalty)
            value = data_value + penalty_value  # float64, on the host or (not synchronising) the device
            if self.sync_every_step:
                _check_finite("loss", value, epoch, step)
            else:
                watch = watch or NonFiniteWatch(value)
                watch.see(value, step)
            objective.backward()
            if self.clip_norm is not None:
                clip_grad_norm(params, self.clip_norm, sync=self.sync_every_step)
            if self.clip_value is not None:
                clip_grad_value(params, self.clip_value)
            opt.step()
            size = len(xb)
            state.loss_total += self._batch_loss(data_value, size)
            state.penalty_total += penalty_value * size
            state.seen += size
            self.global_step += 1
            if keep:
                outputs.append(to_numpy(out.data) if self.sync_every_step else out.data)
                targets.append(np.asarray(yb))
            state.step = step
            self.progress.step(step, value if self.sync_every_step else None)
        self._epoch_state = None
        if watch is not None and (found := watch.first()) is not None:
            _check_finite("loss", found[1], epoch, found[0])
        state.loss_total, state.penalty_total = float(state.loss_total), float(state.penalty_total)
        seen = state.seen
        self.samples_seen += seen
        logs: dict[str, float] = {"epoch": epoch}
        logs["train_loss"] = (state.loss_total + state.penalty_total) / seen
        if self.regularizers:
            logs["train_penalty"] = state.penalty_total / seen
        if outputs and not self.sync_every_step:  # the epoch's predictions, read back in one piece
            outputs = [to_numpy(array_module(outputs[0]).concatenate(outputs))]
        logs.update(self._compute_metrics("train_", task, outputs, targets))
        if val is not None:
            val_loss, val_out, val_y = self._evaluate_arrays(val, max(batch_size, 256))
            _check_finite("validation loss", val_loss, epoch, state.step)
            logs["val_loss"] = val_loss
            logs.update(self._compute_metrics("val_", getattr(val, "task", task), val_out, val_y))
        logs["lr"] = float(opt.lr)
        return logs

    # ------------------------------------------------------------------ evaluation
    def _evaluate_arrays(self, data: Any, batch_size: int) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Mean loss over ``data`` in evaluation mode without a graph, and the outputs/targets."""
        model = self.model
        if hasattr(model, "eval"):
            model.eval()
        total, seen = 0.0, 0
        outputs: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        with no_grad():
            for xb, yb in batches(data.x, data.y, batch_size):
                out = model(self._inputs(xb))
                total += self._batch_loss(self._read(self.loss(out, self._targets(yb))), len(xb))
                seen += len(xb)
                if self.metrics:
                    outputs.append(out.data)
                    targets.append(np.asarray(yb))
        if seen == 0:
            raise MathflowError("cannot evaluate on an empty data set")
        return float(total) / seen, [to_numpy(o) for o in outputs], targets

    def evaluate(self, dataset: Any, batch_size: int = 256) -> dict[str, float]:
        """``{"loss": ..., <metric>: ...}`` on ``dataset`` (evaluation mode, no graph, no penalty)."""
        _check_dataset("evaluate", dataset)
        with using(self.backend):
            self._build_model(dataset.x)
            loss, outputs, targets = self._evaluate_arrays(dataset, batch_size)
            logs = {"loss": loss}
            logs.update(self._compute_metrics("", getattr(dataset, "task", "classification"), outputs, targets))
        return logs

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """The model's outputs for inputs ``x`` (a Dataset or an array) as a NumPy array."""
        x = getattr(x, "x", x)
        x = to_numpy(x.data if isinstance(x, Tensor) else x)
        if x.ndim == 0:
            raise MathflowError("predict needs a batch of inputs (first axis = samples), got a scalar")
        with using(self.backend):
            model = self.model
            self._build_model(x)
            if hasattr(model, "eval"):
                model.eval()
            parts = []
            with no_grad():
                for xb, _ in batches(x, None, batch_size):
                    parts.append(to_numpy(model(self._inputs(xb)).data))
        if not parts:
            raise MathflowError("predict got no samples")
        return np.concatenate(parts)


def _check_dataset(role: str, data: Any) -> None:
    if not (hasattr(data, "x") and hasattr(data, "y")):
        raise MathflowError(f"{role}: expected a Dataset (with x and y), got {type(data).__name__}")
    if len(data.x) == 0:
        raise MathflowError(f"{role}: the data set is empty")


__all__ = ["CLASSIFICATION_METRICS", "DivergenceError", "Trainer", "binary_threshold", "classification_pair"]
