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

:meth:`Trainer.train_step` is step 2 for one batch (it returns a
:class:`~mathflow.train.accumulator.StepResult`); an
:class:`~mathflow.train.accumulator.EpochAccumulator` sums an epoch's steps into its ``train_*``
logs; resuming from a checkpoint is :func:`~mathflow.train.checkpoint.restore_trainer`.

The optimizer may be given built, or as a function ``params -> Optimizer``; the latter lets the
trainer build a lazily-shaped model (from the data's sample shape) before making the optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from mathflow.autodiff.mode import no_grad
from mathflow.autodiff.tensor import Tensor
from mathflow.backend import Backend, get_backend, set_backend, to_numpy, using
from mathflow.data.batching import batches, num_batches
from mathflow.errors import MathflowError
from mathflow.metrics import METRICS, MetricConfig, resolve_metric
from mathflow.nn.losses import Loss, get_loss
from mathflow.optim.clip import clip_grad_norm, clip_grad_value
from mathflow.optim.optimizer import Optimizer, check_positive
from mathflow.optim.schedules import Schedule, build_schedule
from mathflow.train.accumulator import EpochAccumulator, StepResult, sample_sum
from mathflow.train.callbacks import CallbackList, EarlyStopping, StopCheck, check_monitor
from mathflow.train.checkpoint import (
    Checkpoint,
    capture_trainer,
    generator_state,
    resolve_checkpoint_every,
    restore_trainer,
    set_generator_state,
)
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
    """The trainer's metrics from names, ``{name: params}`` dicts, metric configs or functions
    (one spec or several); refuses unknown kinds, metrics that are not one number, and duplicates."""
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



# ---------------------------------------------------------------------------- constructor arguments
def _optimizer_or_factory(
    optimizer: Optimizer | Callable[[list[Any]], Optimizer],
) -> tuple[Optimizer | None, Callable[[list[Any]], Optimizer] | None]:
    """``(optimizer, None)`` for a built optimizer, ``(None, factory)`` for a function ``params -> Optimizer``."""
    if isinstance(optimizer, Optimizer):
        return optimizer, None
    if callable(optimizer):
        return None, optimizer
    raise MathflowError(
        f"optimizer must be an Optimizer or a function params -> Optimizer, got {type(optimizer).__name__}"
    )


def _regularizer_list(regularizers: Sequence[Callable[[Any], Tensor]] | Callable[[Any], Tensor]) -> list[Any]:
    """The regularizers as a list (one callable becomes a list of one); each must be callable."""
    if callable(regularizers) and not isinstance(regularizers, (list, tuple)):
        regularizers = (regularizers,)
    out = list(regularizers)
    for reg in out:
        if not callable(reg):
            raise MathflowError(f"a regularizer must be callable on the model, got {reg!r}")
    return out


def _check_seed(seed: Any) -> int | None:
    """``seed`` as an int (None stays None); anything else (a bool, a float) is refused."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise MathflowError(f"seed must be an integer or None, got {seed!r}")
    return None if seed is None else int(seed)


def _use_backend(backend: Backend | str | None, seed: int | None) -> Backend:
    """Make ``backend`` current (default: keep the current one) and reseed it with ``seed`` if given."""
    if backend is not None:
        chosen = set_backend(backend, seed=seed) if isinstance(backend, str) else set_backend(backend)
    else:
        chosen = get_backend()
    if seed is not None:
        chosen.reseed(seed)
    return chosen


def _check_fit_args(train: Any, val: Any | None, epochs: Any, batch_size: Any) -> tuple[int, int]:
    """Validate :meth:`Trainer.fit`'s data and sizes; returns ``(epochs, batch_size)`` as ints."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise MathflowError(f"epochs must be a positive integer, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise MathflowError(f"batch_size must be a positive integer, got {batch_size!r}")
    _check_dataset("train", train)
    if val is not None:
        _check_dataset("val", val)
    return int(epochs), int(batch_size)


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
        self.optimizer: Optimizer | None
        self.optimizer, self._optimizer_factory = _optimizer_or_factory(optimizer)
        self.regularizers = _regularizer_list(regularizers)
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
        self.seed = _check_seed(seed)
        self.backend = _use_backend(backend, self.seed)
        self.sync_every_step = self.backend.device != "gpu" if sync_every_step is None else bool(sync_every_step)
        self._shuffle_rng = np.random.default_rng(self.seed)
        resolve_checkpoint_every(checkpoint_every, 0)  # validates
        self.checkpoint_every = checkpoint_every
        self.on_checkpoint = on_checkpoint
        self._init_run_state()

    def _init_run_state(self) -> None:
        """The state of a run before any: an empty history, no step taken, nothing to resume."""
        self.history = History()
        self.stop_training = False
        self.stop_reason: str | None = None
        self.has_validation = False
        self.log_keys: frozenset[str] = frozenset()
        self.global_step = 0
        self.samples_seen = 0
        self._every = 0
        self._resume: Checkpoint | None = None
        self._epoch_state: EpochAccumulator | None = None
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
        """Raise the stop flag's exception when a stop was requested (before each step). The state is
        consistent here, so a checkpoint taken on that stop may hold the epoch in progress."""
        self._at_safe_point = True
        if self.stop_flag is not None:
            self.stop_flag.check()
        self._at_safe_point = False

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, epoch: int | None = None) -> Checkpoint:
        """The training state now: after epoch ``epoch`` (default: the last in the history), plus the
        epoch in progress when training stopped between two of its steps
        (:func:`~mathflow.train.checkpoint.capture_trainer`)."""
        return capture_trainer(self, epoch)

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

    # ------------------------------------------------------------------ setup
    def _build_model(self, x: Any) -> None:
        """Build a not-yet-built model from the per-sample shape of the inputs ``x``."""
        model = self.model
        if hasattr(model, "built") and not model.built and hasattr(model, "build"):
            model.build(tuple(int(d) for d in np.shape(x)[1:]))

    def _prepare(self, x: Any) -> None:
        """Build the model from the sample shape of the inputs ``x`` and make the optimizer if needed."""
        model = self.model
        self._build_model(x)
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
        """The keys every epoch's logs will hold (with ``validation`` data: the ``val_*`` ones too)."""
        keys = {"epoch", "lr", "train_loss"}
        if self.regularizers:
            keys.add("train_penalty")
        keys.update(f"train_{m.name}" for m in self.metrics)
        if validation:
            keys.add("val_loss")
            keys.update(f"val_{m.name}" for m in self.metrics)
        return frozenset(keys)

    def _history_for(self, validation: bool) -> History:
        """A new history judging the best epoch as early stopping does (else by the validation loss,
        or the training loss without validation data)."""
        es = self.early_stopping
        if es is not None:
            check_monitor("early_stopping", es.monitor, self)
            mode = resolve_mode(es.monitor, es.mode, self.higher_is_better)
            return History(monitor=es.monitor, mode=mode, min_delta=es.min_delta)
        return History(monitor="val_loss" if validation else "train_loss", mode="min")

    def _inputs(self, xb: np.ndarray) -> Tensor:
        """A batch of inputs on the backend: floats (and bools) in its dtype, integers (ids) as they are."""
        if np.issubdtype(xb.dtype, np.floating) or xb.dtype == np.bool_:
            return Tensor._wrap(self.backend.asarray(xb))
        return Tensor._wrap(self.backend.to_device(xb))

    def _targets(self, yb: np.ndarray) -> Any:
        """A batch of targets moved to the backend's device, dtype unchanged."""
        return self.backend.to_device(yb)

    def _read(self, loss: Tensor) -> Any:
        """A scalar loss as float64: a Python float (read back now), or a 0-d device array when
        steps do not synchronise."""
        if self.sync_every_step:
            return float(loss.item())
        return loss.data.astype(np.float64)

    def _summed_loss(self) -> bool:
        """Whether the loss is a sum over the batch (``reduction="sum"``) rather than a mean."""
        return getattr(self.loss, "reduction", "mean") == "sum"

    def _compute_metrics(self, prefix: str, outputs: list[np.ndarray], targets: list[np.ndarray]) -> dict[str, float]:
        """``{prefix + metric name: value}`` of the trainer's metrics on the predictions ``outputs``
        of the samples with ``targets`` (the classification metrics see labels/scores)."""
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

    # ------------------------------------------------------------------ one step
    def train_step(
        self, xb: np.ndarray, yb: np.ndarray, *, epoch: int | None = None, step: int | None = None
    ) -> StepResult:
        """One optimisation step on the batch ``(xb, yb)``; returns what it computed.

        With ``schedule_unit="step"`` the schedule first sets the rate of step ``global_step``; then
        the gradients are zeroed, the model runs forward, objective = loss + Σ regularizer
        penalties, backward, the gradients are clipped, the optimizer updates, ``global_step``
        counts the step. When every step synchronises, a NaN or infinite objective raises
        :class:`DivergenceError` before the update, naming ``epoch`` and ``step`` (default: the
        epoch after the history's last, the step after ``global_step``); otherwise nothing is read
        back and the caller watches ``StepResult.objective`` (as :meth:`fit` does, once per epoch).
        The model should be in training mode (``fit`` puts it there each epoch); a model or
        optimizer not made yet is made from ``xb``.
        """
        if self.optimizer is None:
            self._prepare(xb)
        opt = self.optimizer
        assert opt is not None
        if self.schedule is not None and self.schedule_unit == "step":
            self.schedule.apply(opt, self.global_step)
        if hasattr(self.model, "zero_grad"):
            self.model.zero_grad()
        opt.zero_grad()
        out = self.model(self._inputs(xb))
        data_loss = self.loss(out, self._targets(yb))
        penalty = self._penalty()
        objective = data_loss if penalty is None else data_loss + penalty
        loss_value, penalty_value = self._read(data_loss), 0.0 if penalty is None else self._read(penalty)
        value = loss_value + penalty_value  # float64, on the host or (not synchronising) the device
        if self.sync_every_step:
            at_epoch = len(self.history) + 1 if epoch is None else epoch
            _check_finite("loss", value, at_epoch, self.global_step + 1 if step is None else step)
        objective.backward()
        self._clip(opt.params)
        opt.step()
        self.global_step += 1
        return StepResult(loss=loss_value, penalty=penalty_value, size=len(xb), outputs=out.data, objective=value)

    def _penalty(self) -> Tensor | None:
        """The sum of the regularizers' penalties on the model (None without regularizers)."""
        if not self.regularizers:
            return None
        penalty = self.regularizers[0](self.model)
        for reg in self.regularizers[1:]:
            penalty = penalty + reg(self.model)
        return penalty

    def _clip(self, params: list[Any]) -> None:
        """Clip the gradients of ``params`` by global norm, then by value, as configured."""
        if self.clip_norm is not None:
            clip_grad_norm(params, self.clip_norm, sync=self.sync_every_step)
        if self.clip_value is not None:
            clip_grad_value(params, self.clip_value)

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
        epochs, batch_size = _check_fit_args(train, val, epochs, batch_size)
        with using(self.backend):
            callbacks, first, partial = self._begin_fit(train, val, epochs, shuffle)
            progress = self.progress
            progress.start(epochs, num_batches(len(train), batch_size))
            try:
                self._fit_epochs(callbacks, range(first, epochs + 1), train, val, batch_size, shuffle, partial)
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

    def _begin_fit(
        self, train: Any, val: Any | None, epochs: int, shuffle: bool
    ) -> tuple[CallbackList, int, dict[str, Any] | None]:
        """Set a run up: the model and optimizer made, a new history, the callbacks (early stopping
        last) told, a pending checkpoint restored. Returns the callbacks, the first epoch to run and
        the state of the epoch in progress to resume (None if none)."""
        self._prepare(train.x)
        self.has_validation = val is not None
        self.log_keys = self._expected_keys(val is not None)
        self.history = self._history_for(val is not None)
        self.stop_training, self.stop_reason = False, None
        callbacks = CallbackList([*self.callbacks, *([self.early_stopping] if self.early_stopping else [])])
        callbacks.call("on_train_begin", self)
        first, partial = 1, None
        if self._resume is not None:
            first, partial = restore_trainer(self, self._resume, epochs, shuffle)
            self._resume = None
        self._epoch_state, self._at_safe_point = None, False
        self._every = resolve_checkpoint_every(self.checkpoint_every, epochs)
        return callbacks, first, partial

    def _fit_epochs(
        self,
        callbacks: CallbackList,
        epochs: range,
        train: Any,
        val: Any | None,
        batch_size: int,
        shuffle: bool,
        partial: dict[str, Any] | None,
    ) -> None:
        """Run ``epochs`` (the first resuming the epoch in progress ``partial``, if any): each one's
        logs go to the history, the progress display and the callbacks; stop when asked to; hand
        over a checkpoint after every ``checkpoint_every``-th epoch."""
        for epoch in epochs:
            callbacks.call("on_epoch_begin", epoch)
            self.progress.epoch_start(epoch)
            logs = self._run_epoch(epoch, train, val, batch_size, shuffle, partial)
            partial = None
            self.history.append(logs)
            self.progress.epoch_end(epoch, logs)
            callbacks.call("on_epoch_end", epoch, logs)
            if self.stop_training:
                self.history.stopped_epoch = epoch
                self.history.stop_reason = self.stop_reason
                break
            if self.on_checkpoint is not None and self._every and epoch % self._every == 0:
                self.on_checkpoint(self.checkpoint(epoch))

    def _run_epoch(
        self,
        epoch: int,
        train: Any,
        val: Any | None,
        batch_size: int,
        shuffle: bool,
        partial: dict[str, Any] | None = None,
    ) -> dict[str, float]:
        """Epoch ``epoch``: set its rate, take a step on every batch (on a resumed epoch, those not
        done yet), check the epoch's objectives were finite, and return its logs: the training sums
        and metrics, validation (``val_loss``, ``val_<metric>``) and ``lr``."""
        opt = self.optimizer
        assert opt is not None
        if self.schedule is not None and self.schedule_unit == "epoch":
            self.schedule.apply(opt, epoch - 1)
        if hasattr(self.model, "train"):
            self.model.train()
        rng = self._shuffle_rng if shuffle else None
        acc = self._start_epoch(epoch, rng, partial)
        self._epoch_state = acc
        for step, (xb, yb) in enumerate(batches(train.x, train.y, batch_size, shuffle=shuffle, rng=rng), start=1):
            if step <= acc.step:
                continue  # done before the checkpoint this run resumed from
            self._check_stop()
            result = self.train_step(xb, yb, epoch=epoch, step=step)
            acc.add(result, yb, step)
            self.progress.step(step, result.objective if self.sync_every_step else None)
        self._epoch_state = None
        if (found := acc.first_non_finite()) is not None:
            _check_finite("loss", found[1], epoch, found[0])
        self.samples_seen += acc.seen
        logs = acc.logs(penalty=bool(self.regularizers), metrics=self._train_metrics)
        if val is not None:
            logs.update(self._validate(val, epoch, acc.step, batch_size))
        logs["lr"] = float(opt.lr)
        return logs

    def _start_epoch(
        self, epoch: int, rng: np.random.Generator | None, partial: dict[str, Any] | None
    ) -> EpochAccumulator:
        """The accumulator of epoch ``epoch``: a fresh one (noting the shuffling state its order is
        drawn from), or the resumed epoch in progress ``partial`` with the shuffling state it drew
        its order from put back."""
        keep, sync, summed = bool(self.metrics), self.sync_every_step, self._summed_loss()
        if partial is None:
            order_state = generator_state(rng) if rng is not None else None
            return EpochAccumulator(epoch, order_state, keep_outputs=keep, sync=sync, summed=summed)
        acc = EpochAccumulator.from_state(partial, keep_outputs=keep, sync=sync, summed=summed)
        if acc.order_state is not None:
            set_generator_state(self._shuffle_rng, acc.order_state, "shuffling")
        return acc

    def _train_metrics(self, outputs: list[np.ndarray], targets: list[np.ndarray]) -> dict[str, float]:
        """``train_<metric>`` of the predictions made during an epoch."""
        return self._compute_metrics("train_", outputs, targets)

    def _validate(self, val: Any, epoch: int, step: int, batch_size: int) -> dict[str, float]:
        """``val_loss`` and ``val_<metric>`` on ``val``; a non-finite loss is a divergence at
        ``epoch``, ``step``."""
        val_loss, outputs, targets = self._evaluate_arrays(val, max(batch_size, 256))
        _check_finite("validation loss", val_loss, epoch, step)
        return {"val_loss": val_loss, **self._compute_metrics("val_", outputs, targets)}

    # ------------------------------------------------------------------ evaluation
    def _evaluate_arrays(self, data: Any, batch_size: int) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Mean loss over ``data`` in evaluation mode without a graph, and the outputs/targets."""
        model = self.model
        if hasattr(model, "eval"):
            model.eval()
        total, seen, summed = 0.0, 0, self._summed_loss()
        outputs: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        with no_grad():
            for xb, yb in batches(data.x, data.y, batch_size):
                out = model(self._inputs(xb))
                total += sample_sum(self._read(self.loss(out, self._targets(yb))), len(xb), summed)
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
            logs.update(self._compute_metrics("", outputs, targets))
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
    """Refuse ``data`` (the ``role`` data set) unless it is a non-empty Dataset with ``x`` and ``y``."""
    if not (hasattr(data, "x") and hasattr(data, "y")):
        raise MathflowError(f"{role}: expected a Dataset (with x and y), got {type(data).__name__}")
    if len(data.x) == 0:
        raise MathflowError(f"{role}: the data set is empty")


__all__ = [
    "CLASSIFICATION_METRICS",
    "DivergenceError",
    "StepResult",
    "Trainer",
    "binary_threshold",
    "classification_pair",
]
