"""``mathflow run``: a pipeline file → data, training, evaluation and a complete MLflow record.

    from mathflow.run import run_pipeline

    result = run_pipeline("pipelines/cnn.yaml", ["train.epochs=3"], quiet=True)
    result.run_id, result.metrics["test_accuracy"]

Logged per run: the resolved pipeline flattened to dotted params; per-epoch metrics with
``step = epoch``; test metrics at the end (``test_loss``, ``test_<metric>``); tags (the SHA-256 of
the resolved pipeline, versions, device, git commit); the data set; and the artifacts
``pipeline.yaml`` (re-runnable as it is), ``weights.npz``, ``transforms.npz``, ``model_table.txt``,
``learning_curves.png``, ``confusion_matrix.png`` (classification) and the NumPy pyfunc ``model``.
An exception ends the run FAILED; SIGINT (Ctrl-C), SIGTERM or SIGHUP ends it KILLED at the next step
(exit ``128 + signal`` from the CLI); what was logged stays. A ``mathflow.heartbeat`` tag, refreshed at
most every few seconds during training, tells a crashed run (``mathflow runs``: ``DEAD?``) from a live one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from mathflow.errors import MathflowError
from mathflow.run_report import END_METRICS, node_table, print_header
from mathflow.train.progress import ProgressReporter, make_progress

SPARSITY_TOLERANCE = 1e-3
"""A weight counts as zero for the ``weight_sparsity`` metric when |w| < this."""


METRIC_WRITE_SECONDS = 1.0
"""Epoch metrics are written to the store together, at most once per this many seconds."""


@dataclass
class RunResult:
    """What one ``mathflow run`` produced (the ``--json`` line is :meth:`summary`)."""

    run_id: str
    experiment: str
    experiment_id: str
    config_hash: str
    tracking_uri: str
    epochs: int
    steps: int
    train_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "FINISHED"
    model_uri: str | None = None
    device: str = "cpu"
    history: Any = None

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "experiment": self.experiment,
            "experiment_id": self.experiment_id,
            "config_hash": self.config_hash,
            "tracking_uri": self.tracking_uri,
            "status": self.status,
            "device": self.device,
            "epochs": self.epochs,
            "steps": self.steps,
            "train_seconds": round(self.train_seconds, 4),
            "metrics": self.metrics,
            "model_uri": self.model_uri,
        }


# --------------------------------------------------------------------------------------------------
# the resolved pipeline
# --------------------------------------------------------------------------------------------------
def _absolute_paths(resolved: dict[str, Any], spec: Any, base_dir: str) -> None:
    """File paths of the data source(s) made absolute, so the logged pipeline runs from anywhere."""
    sources = spec.data.source
    written = resolved.get("data", {}).get("source")

    def fix(source_spec: Any, entry: Any) -> None:
        fields = getattr(source_spec, "path_fields", ())
        if not fields or not isinstance(entry, dict) or len(entry) != 1:
            return
        params = next(iter(entry.values()))
        if not isinstance(params, dict):
            return
        for name in fields:
            value = params.get(name)
            if isinstance(value, str) and value and not os.path.isabs(value):
                params[name] = os.path.abspath(os.path.join(base_dir, value))

    if isinstance(written, dict) and spec.data.per_split:
        for split_name, source_spec in sources.entries().items():
            fix(source_spec, written.get(split_name))
    else:
        fix(sources, written)


def resolved_pipeline(spec: Any, base_dir: str, device: str | None = None) -> dict[str, Any]:
    """The spec as plain data, with absolute data paths and the device override applied."""
    resolved = spec.to_data()
    _absolute_paths(resolved, spec, base_dir)
    if device is not None:
        resolved.setdefault("train", {})["device"] = device
    return resolved


def config_hash(resolved: Mapping[str, Any]) -> str:
    """SHA-256 of the resolved pipeline in canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------
def weight_sparsity(model: Any, tolerance: float = SPARSITY_TOLERANCE) -> float:
    """Fraction of the weight entries (biases and norm parameters left out) with |w| < tolerance."""
    from mathflow.backend import to_numpy

    total = small = 0
    for name, p in model.named_parameters():
        if not name.endswith("weight"):
            continue
        values = np.abs(to_numpy(p.data))
        total += values.size
        small += int((values < tolerance).sum())
    return small / total if total else 0.0


class _MetricLogger:
    """Trainer callback: each epoch's logs become MLflow metrics at ``step = epoch``. The first epoch
    is written at once, later ones together at most every :data:`METRIC_WRITE_SECONDS` (a store
    write costs more than a short epoch) and the rest by :meth:`flush` when training ends or stops."""

    def __init__(self, run: Any, model: Any, sparsity: bool):
        self.run = run
        self.model = model
        self.sparsity = sparsity
        self.seconds = 0.0  # spent logging, left out of the training time
        self.pending: list[tuple[int, dict[str, float], float]] = []
        self._written: float | None = None  # perf_counter() of the last write

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        started = time.perf_counter()
        values = {k: v for k, v in logs.items() if k != "epoch"}
        if self.sparsity:
            values["weight_sparsity"] = weight_sparsity(self.model)
        self.pending.append((epoch, values, time.time()))
        if self._written is None or started - self._written >= METRIC_WRITE_SECONDS:
            self._write()
        self.seconds += time.perf_counter() - started

    def flush(self) -> None:
        """Write the epochs not written yet."""
        started = time.perf_counter()
        self._write()
        self.seconds += time.perf_counter() - started

    def _write(self) -> None:
        if self.pending:
            entries, self.pending = self.pending, []
            self.run.log_metric_steps(entries)
        self._written = time.perf_counter()


class _LoggedProgress(ProgressReporter):
    """The progress display with the metric logging in front of it: the first epoch's line appears once
    its metrics are in the store, later ones within :data:`METRIC_WRITE_SECONDS` of theirs, and all
    are written when training ends or a signal stops it (so what the user saw is what an interrupted
    run keeps)."""

    def __init__(self, inner: Any, logger: _MetricLogger):
        self.inner = inner
        self.logger = logger

    def start(self, epochs: int, steps_per_epoch: int) -> None:
        self.inner.start(epochs, steps_per_epoch)

    def epoch_start(self, epoch: int) -> None:
        self.inner.epoch_start(epoch)

    def step(self, step: int, loss: float | None) -> None:
        self.logger.run.heartbeat()
        self.inner.step(step, loss)

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.logger.on_epoch_end(epoch, logs)
        self.inner.epoch_end(epoch, logs)

    def close(self) -> None:
        try:
            self.logger.flush()
        finally:
            self.inner.close()


def _select_backend(device: str, seed: int | None) -> Any:
    """Make the ``device`` backend (seeded) the current one; raises when a GPU is asked for but absent."""
    from mathflow.backend import Backend, gpu_available, set_backend

    if device == "gpu" and not gpu_available():
        raise MathflowError(
            "train.device is gpu but no GPU is available (CuPy with a CUDA device is needed)",
            suggestion="use --device cpu or --device auto",
        )
    return set_backend(Backend(device, seed=seed))


def _progress(logger: _MetricLogger, spec: Any) -> ProgressReporter:
    """The progress display for ``spec``, logging each epoch's metrics before showing them."""
    return _LoggedProgress(make_progress(spec), logger)


def _dataset_digest(x: np.ndarray, y: np.ndarray) -> str:
    """A short SHA-256 of the arrays' dtypes, shapes and bytes (the MLflow dataset digest)."""
    h = hashlib.sha256()
    for arr in (x, y):
        a = np.ascontiguousarray(arr)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


#: MLflow dataset context of each split's input.
_SPLIT_CONTEXT = {"train": "training", "val": "validation", "test": "testing"}


def _source_text(source: Any) -> str:
    """A data source as text: a path as it is, a mapping as canonical JSON."""
    return source if isinstance(source, str) else json.dumps(source, sort_keys=True, default=str)


@dataclass
class _RunContext:
    """The loaded pipeline and the MLflow run it is recorded in, shared by the steps of a run."""

    spec: Any
    compiled: Any
    backend: Any
    resolved: dict[str, Any]
    digest: str
    experiment: str
    tracker: Any
    run: Any


@dataclass
class _Training:
    """The model, loss and trainer of a run; ``history`` and ``train_seconds`` once it has trained."""

    model: Any
    loss: Any
    trainer: Any
    logger: _MetricLogger
    sparsity: bool
    history: Any = None
    train_seconds: float = 0.0


def run_pipeline(
    path: str | os.PathLike[str],
    overrides: Iterable[str] = (),
    *,
    device: str | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    quiet: bool = False,
    progress: Any = None,
    extra_tags: Mapping[str, Any] | None = None,
    console: TextIO | None = None,
    callbacks: Iterable[Any] = (),
    resume_from: Any = None,
    figures_may_fork: bool = False,
) -> RunResult:
    """Load, validate and compile ``path``, train it and record everything in MLflow. With a
    ``console``, :func:`~mathflow.run_report.run_header` is written to it once the data is ready (``quiet`` silences
    the progress only). ``callbacks`` are extra trainer callbacks (a sweep's pruner, say).
    ``resume_from`` (a :class:`~mathflow.train.checkpoint.Checkpoint`) continues a stopped run from it
    (see :mod:`mathflow.resume`). ``figures_may_fork``: the process may fork its figure helper (the
    daemon's child; :class:`mathflow.process.Host`).

    SIGINT, SIGTERM and SIGHUP (main thread only) stop the run at the next safe point: training at its
    next step, logging between two store writes. The run ends KILLED with what was logged so far and
    :class:`~mathflow.tracking.signals.RunInterrupted` propagates (``exit_code`` is ``128 + signal``).
    """
    from mathflow.tracking.figure_worker import FigureWorker
    from mathflow.tracking.signals import stop_on_signals

    with stop_on_signals() as stop, FigureWorker.start(figures_may_fork) as figures:
        ctx = _open_run(
            path,
            overrides,
            device=device,
            tracking_uri=tracking_uri,
            experiment=experiment,
            extra_tags=extra_tags,
            stop=stop,
        )
        with ctx.run:
            stop.check()
            _log_pipeline(ctx)
            data = _prepare_data(ctx, stop)
            print_header(console, ctx, data, path)
            training = _build_training(ctx, "quiet" if quiet else progress, stop, resume_from)
            training.trainer.add_callbacks(callbacks)
            _train(ctx, training, data)
            with stop.interruptible():
                final = _final_metrics(ctx, training, data)
            _log_final_metrics(ctx.run, final, training)
            _log_artifacts(ctx.run, training, data, stop, figures)
            result = _run_result(ctx, training, final)
    return result


def _requested_device(device: str | None, spec: Any) -> str:
    """The device asked for: ``device`` (checked) when given, else the pipeline's ``train.device``."""
    if device is not None and device not in ("cpu", "gpu", "auto"):
        raise MathflowError(f"--device must be cpu, gpu or auto, got {device!r}")
    return device or spec.train.device


def _run_tags(spec: Any, chosen: str, extra_tags: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's tags: pipeline name, requested device, the pipeline's own tags, then ``extra_tags``."""
    tags = {"mathflow.pipeline_name": spec.name, "mathflow.device_request": chosen, **spec.tracking.tags}
    tags.update(extra_tags or {})
    return tags


def _open_run(
    path: str | os.PathLike[str],
    overrides: Iterable[str],
    *,
    device: str | None,
    tracking_uri: str | None,
    experiment: str | None,
    extra_tags: Mapping[str, Any] | None,
    stop: Any,
) -> _RunContext:
    """Load and compile the pipeline (a stop signal interrupts this at once), select the backend and
    start its MLflow run (not entered yet)."""
    from mathflow.pipeline import load_pipeline
    from mathflow.tracking import Tracker

    with stop.interruptible():
        spec, compiled = load_pipeline(path, list(overrides))
        chosen = _requested_device(device, spec)
        backend = _select_backend(chosen, spec.seed)
    resolved = resolved_pipeline(spec, compiled.base_dir, device)
    digest = config_hash(resolved)
    exp_name = experiment or spec.tracking.experiment
    tracker = Tracker(tracking_uri)
    run = tracker.start(
        exp_name,
        run_name=spec.tracking.run_name or spec.name,
        tags=_run_tags(spec, chosen, extra_tags),
        config_sha256=digest,
        pipeline_path=path,
        device=backend.device_name,
        description=spec.description,
    )
    return _RunContext(spec, compiled, backend, resolved, digest, exp_name, tracker, run)


def _log_pipeline(ctx: _RunContext) -> None:
    """Log the resolved pipeline as params and as ``pipeline.yaml``, and the node table."""
    from mathflow.config import dump

    ctx.run.log_params(ctx.resolved)
    ctx.run.log_text(dump(ctx.resolved), "pipeline.yaml")
    ctx.run.log_text(node_table(ctx.compiled), "model_table.txt")


def _prepare_data(ctx: _RunContext, stop: Any) -> Any:
    """Read, split and transform the data (interruptible), and log what was read as the run's input(s)."""
    with stop.interruptible():
        data = ctx.compiled.prepare_data()
    _log_inputs(ctx, data)
    return data


def _dataset_input(raw: Any, source: Any, profile: dict[str, Any]) -> dict[str, Any]:
    """The ``log_input`` arguments for the data set ``raw`` read from ``source``."""
    return {
        "dataset_name": str(getattr(raw, "name", "data")).split("[")[0],
        "digest": _dataset_digest(raw.x, raw.y),
        "source": _source_text(source),
        "features": raw.x,
        "targets": raw.y,
        "profile": profile,
    }


def _log_inputs(ctx: _RunContext, data: Any) -> None:
    """One MLflow input per split when each split has its own source, else the training data."""
    train = data.splits["train"]
    source = ctx.resolved["data"]["source"]
    profile = {"splits": {k: len(v) for k, v in data.splits.items()}, "task": train.task}
    if ctx.spec.data.per_split:  # one input per split, each with its own source and context
        for name, raw in data.raw.items():
            inputs = _dataset_input(raw, source[name], {**profile, "split": name})
            ctx.run.log_input(**inputs, context=_SPLIT_CONTEXT[name])
    else:
        ctx.run.log_input(**_dataset_input(data.raw.get("train", train), source, profile))


def _uses_sparsity(spec: Any) -> bool:
    """Whether a regularizer that drives weights to zero (``sparsifies``) is used: then runs log the sparsity."""
    from mathflow.nn import REGULARIZERS

    return any(REGULARIZERS.get(r.type).sparsifies for r in spec.regularizers)


def _build_training(ctx: _RunContext, progress: Any, stop: Any, resume_from: Any = None) -> _Training:
    """Seed, build the model and loss, and the trainer whose progress logs each epoch's metrics, whose
    steps check the ``stop`` flag and whose checkpoints are logged (``resume_from``: continue one)."""
    from mathflow.tracking.checkpoints import checkpoint_logger, log_restored_epochs
    from mathflow.train import Trainer

    spec, compiled, tc = ctx.spec, ctx.compiled, ctx.spec.train
    ctx.backend.reseed(spec.seed)  # the initial weights depend on the seed alone
    model = compiled.build_model()
    loss = compiled.build_loss()
    sparsity = _uses_sparsity(spec)
    logger = _MetricLogger(ctx.run, model, sparsity)
    trainer = Trainer(
        model,
        loss,
        compiled.build_optimizer,
        regularizers=compiled.build_regularizers(),
        metrics=list(spec.metrics),
        schedule=compiled.build_schedule() if spec.schedule is not None else None,
        clip_norm=tc.clip_norm,
        clip_value=tc.clip_value,
        early_stopping=tc.early_stopping.model_dump() if tc.early_stopping is not None else None,
        seed=spec.seed,
        backend=ctx.backend,
        progress=_progress(logger, progress),
        stop_flag=stop,
        checkpoint_every=tc.checkpoint_every,
        on_checkpoint=checkpoint_logger(ctx.run, logger),
    )
    if resume_from is not None:
        trainer.resume_from(resume_from)
        log_restored_epochs(ctx.run, resume_from)
    return _Training(model, loss, trainer, logger, sparsity)


def _train(ctx: _RunContext, training: _Training, data: Any) -> None:
    """Fit on the train split (validating on val); the time spent logging is not counted."""
    tc = ctx.spec.train
    train, val = data.splits["train"], data.splits.get("val")
    started = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported by the trainer
        history = training.trainer.fit(train, val, epochs=tc.epochs, batch_size=tc.batch_size, shuffle=tc.shuffle)
    training.train_seconds = time.perf_counter() - started - training.logger.seconds
    training.history = history


def _final_metrics(ctx: _RunContext, training: _Training, data: Any) -> dict[str, float]:
    """The last epoch's metrics, val metrics of restored best weights, test metrics, sparsity, time."""
    history, trainer = training.history, training.trainer
    batch_size = max(ctx.spec.train.batch_size, 256)
    val, test = data.splits.get("val"), data.splits.get("test")
    final: dict[str, float] = {}
    last = history[-1] if len(history) else {}
    for key, value in dict(last).items():
        if key not in ("epoch", "lr"):
            final[key] = float(value)
    if getattr(history, "restored_epoch", None) is not None and val is not None:
        # early stopping put the best weights back: report what those weights give
        for key, value in trainer.evaluate(val, batch_size).items():
            final[f"val_{key}"] = float(value)
    if test is not None:
        for key, value in trainer.evaluate(test, batch_size).items():
            final[f"test_{key}"] = float(value)
    if training.sparsity:
        final["weight_sparsity"] = weight_sparsity(training.model)
    if trainer.early_stopping is not None:
        final.update(trainer.early_stopping.metrics())
    final["train_seconds"] = training.train_seconds
    return final


"""Final metrics logged once at the end, besides the ``test_*`` ones."""


def _log_final_metrics(run: Any, final: dict[str, float], training: _Training) -> None:
    """Log the test metrics, the training time and early stopping's epochs (and the final sparsity)
    at ``step = epochs done``. When early stopping put an earlier epoch's weights back, the ``val_*``
    metrics of those weights follow at ``step = epochs done + 1``: MLflow's latest values are then those of the
    logged model, as the console's end block says."""
    epochs_done = len(training.history)
    logged = {k: v for k, v in final.items() if k.startswith("test_") or k in END_METRICS}
    run.log_metrics(logged, step=epochs_done)
    if training.sparsity:
        run.log_metrics({"weight_sparsity": final["weight_sparsity"]}, step=epochs_done)
    if getattr(training.history, "restored_epoch", None) not in (None, epochs_done):
        restored = {k: v for k, v in final.items() if k.startswith("val_")}
        if restored:
            run.log_metrics(restored, step=epochs_done + 1)


def _run_result(ctx: _RunContext, training: _Training, final: dict[str, float]) -> RunResult:
    """The :class:`RunResult` of the finished run."""
    return RunResult(
        run_id=ctx.run.run_id,
        experiment=ctx.experiment,
        experiment_id=ctx.run.experiment_id,
        config_hash=ctx.digest,
        tracking_uri=ctx.tracker.tracking_uri,
        epochs=len(training.history),
        steps=int(training.trainer.global_step),
        train_seconds=training.train_seconds,
        metrics=final,
        model_uri=ctx.run.model_uri,
        device=ctx.backend.device,
        history=training.history,
    )


def _log_artifacts(run: Any, training: _Training, data: Any, stop: Any, figures: Any = None) -> None:
    """Log the weights, transforms, figures and the NumPy pyfunc model of the trained run; a stop
    signal takes effect between two of them (those already logged are kept). The figures are drawn
    by the ``figures`` helper (:class:`~mathflow.tracking.figure_worker.FigureWorker`) while the
    model is logged, those it did not draw here."""
    from mathflow.tracking.figure_worker import FigureWorker, draw

    _log_state_files(run, training.model, data)
    stop.check()
    wanted = {"learning_curves.png": ("learning_curves", {"history": list(training.history)})}
    test = data.splits.get("test")
    if data.splits["train"].task == "classification" and test is not None:
        wanted["confusion_matrix.png"] = ("confusion", _confusion_arguments(training, data.splits["train"], test))
    worker = figures if figures is not None else FigureWorker(None)
    with tempfile.TemporaryDirectory(prefix="mathflow-figures-") as tmp:
        worker.submit(tmp, wanted)
        _log_pyfunc_model(run, training, data)
        stop.check()
        for name, path in worker.collect().items():
            if path is not None:
                run.log_artifact(path)
            else:
                run.log_figure(draw(*wanted[name]), name)
            stop.check()


def _log_state_files(run: Any, model: Any, data: Any) -> None:
    """Log ``weights.npz`` (the model's state) and ``transforms.npz`` (the fitted data transforms)."""
    with tempfile.TemporaryDirectory(prefix="mathflow-run-") as tmp:
        weights_file = Path(tmp) / "weights.npz"
        state = model.state_dict()
        with open(weights_file, "wb") as handle:
            np.savez(handle, **state)
        run.log_artifact(weights_file)
        transforms_file = Path(tmp) / "transforms.npz"
        data.pipeline.save(transforms_file)
        run.log_artifact(transforms_file)


def _confusion_arguments(training: _Training, train: Any, test: Any) -> dict[str, Any]:
    """The arguments of :func:`~mathflow.tracking.figures.confusion_figure` for the test split of a
    classification run."""
    from mathflow.metrics import confusion_matrix
    from mathflow.train import binary_threshold, classification_pair

    out = training.trainer.predict(test)
    y_true, y_pred = classification_pair(out, test.y, binary_threshold(training.loss))
    k = train.num_classes or None
    matrix = confusion_matrix(y_true, y_pred, num_classes=k)
    return {"matrix": np.asarray(matrix).tolist(), "class_names": train.class_names}


def _log_pyfunc_model(run: Any, training: _Training, data: Any) -> None:
    """Log the exported program (data transforms + model) as the NumPy pyfunc ``model`` with an
    input example, and as ``model.onnx`` when the onnx extra is installed. A classifier returns the
    data set's class labels and records whether its output is logits or probabilities."""
    from mathflow.predictor import class_labels, export_model, output_mode

    train = data.splits["train"]
    mode, threshold = output_mode(train.task, training.loss)
    classes = class_labels(train.class_names) if mode == "argmax" else None
    expects = getattr(training.loss, "expects", None) if mode == "argmax" else None
    raw = {"columns": train.metadata.get("columns"), "target": train.metadata.get("target")}  # a CSV's own form
    description, constants = export_model(
        training.model, data.pipeline, output=mode, threshold=threshold, classes=classes, expects=expects, **raw
    )
    example = data.raw["train"].x[:5] if "train" in data.raw else None
    run.log_model(constants, description, input_example=example)
    _log_onnx(run, description, constants)


def _log_onnx(run: Any, description: dict[str, Any], constants: dict[str, Any]) -> None:
    """``model.onnx`` of the exported program, logged with the run when onnx is installed."""
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        return
    from mathflow.export.onnx import save_onnx
    from mathflow.export.program import Program

    with tempfile.TemporaryDirectory(prefix="mathflow-onnx-") as tmp:
        path = save_onnx(Program.from_data(description["program"], constants), os.path.join(tmp, "model.onnx"))
        run.log_artifact(path)


__all__ = [
    "RunResult",
    "config_hash",
    "resolved_pipeline",
    "run_pipeline",
    "weight_sparsity",
]
