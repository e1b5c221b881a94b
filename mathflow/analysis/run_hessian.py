"""``mathflow analyze RUN_ID --hessian top=K``: the curvature of a finished run's training loss.

The run's logged ``pipeline.yaml`` is compiled again, its model built in float64 and loaded with
the logged ``weights.npz``; the training split is prepared as the run prepared it. On that data
(all of the training split, or ``--batch N`` seeded-random samples of it) the objective
L = loss + regularizers is taken in evaluation mode (dropout off, BatchNorm on its running
statistics, so L is deterministic). Logged back to the same run: the metrics ``grad_norm``
(‖∇L‖₂), ``hessian_eigenvalue_1..K`` (descending), ``hessian_min_eigenvalue`` and the artifact
``analysis/hessian.json``.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from mathflow.analysis.hessian import Spectrum, hessian_spectrum
from mathflow.analysis.setup import float64_backend, pipeline_objective, sample_rows
from mathflow.errors import MathflowError

ARTIFACT = "analysis/hessian.json"


@dataclass(frozen=True)
class HessianRequest:
    """What ``--hessian`` asks for: the ``top`` eigenvalues, with ``steps`` Lanczos steps (None: default)."""

    top: int = 5
    steps: int | None = None


_ITEM = re.compile(r"^\s*(top|steps)\s*=\s*(\d+)\s*$")


def parse_hessian(text: str) -> HessianRequest:
    """``"top=5"`` or ``"top=5,steps=60"`` as a :class:`HessianRequest`."""
    values: dict[str, int] = {}
    for item in text.split(","):
        match = _ITEM.match(item)
        if match is None or match.group(1) in values:
            raise MathflowError(
                f"--hessian: cannot read {text!r}", suggestion="write top=K, optionally with ,steps=M (e.g. top=5)"
            )
        values[match.group(1)] = int(match.group(2))
    request = HessianRequest(**values)
    if request.top < 1 or (request.steps is not None and request.steps < 1):
        raise MathflowError(f"--hessian: top and steps must be positive integers, got {text!r}")
    return request


@dataclass
class HessianAnalysis:
    """The spectrum of a run's training loss and what it was computed on."""

    run_id: str
    spectrum: Spectrum
    samples: int
    train_samples: int

    def metrics(self) -> dict[str, float]:
        """The metrics logged to the run."""
        values = {f"hessian_eigenvalue_{i}": v for i, v in enumerate(self.spectrum.top, start=1)}
        values["hessian_min_eigenvalue"] = self.spectrum.smallest
        values["grad_norm"] = self.spectrum.grad_norm
        return values

    def to_data(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "samples": self.samples,
            "train_samples": self.train_samples,
            "mode": "evaluation mode (dropout off, BatchNorm running statistics), float64",
            "objective": "training loss + regularizers",
            **self.spectrum.to_data(),
        }

    def text(self) -> str:
        """The lines ``mathflow analyze`` prints."""
        s = self.spectrum
        lines = [
            f"run {self.run_id}: Hessian of the training loss (+ regularizers) at the trained weights, float64, "
            f"evaluation mode, on {self.samples} of {self.train_samples} training samples",
            f"  parameters     {s.parameters:,}",
            f"  loss           {s.loss:.10g}",
            f"  grad_norm      {s.grad_norm:.6g}",
            f"  method         Lanczos, {s.lanczos_steps} steps with full reorthogonalisation; "
            f"Hessian-vector products by {s.hvp_method} ({s.hvp_calls} products)",
        ]
        for i, (value, residual) in enumerate(zip(s.top, s.top_residuals), start=1):
            lines.append(f"  λ{i:<13} {value:.8g}  (± {residual:.2g})")
        lines.append(f"  λ_min          {s.smallest:.8g}  (± {s.smallest_residual:.2g})")
        lines += [f"  note: {note}" for note in s.notes]
        lines.append(f"  {s.verdict()}")
        return "\n".join(lines) + "\n"


def _download(mlf: Any, run_id: str, path: str, folder: str) -> str:
    """The run's artifact ``path`` downloaded into ``folder``."""
    try:
        return str(mlf.download_artifacts(run_id, path, folder))
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own types for a missing artifact
        raise MathflowError(
            f"run {run_id} has no {path} artifact", suggestion="analyze a run made by `mathflow run`"
        ) from exc


def _finished_run(mlf: Any, run_id: str, uri: str) -> Any:
    """The MLflow run ``run_id``, which must exist and be FINISHED."""
    from mathflow.tracking.store import run_of

    run = run_of(mlf, run_id, uri)
    if run.info.status != "FINISHED":
        raise MathflowError(f"run {run_id} is {run.info.status}; --hessian needs a FINISHED run (its trained weights)")
    return run


def analyze_hessian(
    run_id: str,
    request: HessianRequest = HessianRequest(),
    *,
    batch: int | None = None,
    tracking_uri: str | None = None,
    log: bool = True,
) -> HessianAnalysis:
    """Compute the Hessian spectrum and gradient norm of run ``run_id``'s training loss at its
    trained weights and (``log``) record them in that run."""
    from mathflow.pipeline import load_pipeline
    from mathflow.tracking import resolve_tracking_uri
    from mathflow.tracking.store import add_to_finished_run, client, sqlite_path

    uri = resolve_tracking_uri(tracking_uri)
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise MathflowError(f"no run {run_id}: there is no MLflow store at {db}", suggestion="pass --tracking-uri")
    mlf = client(uri)
    _finished_run(mlf, run_id, uri)
    with tempfile.TemporaryDirectory(prefix="mathflow-analyze-") as tmp:
        pipeline = _download(mlf, run_id, "pipeline.yaml", tmp)
        weights_file = _download(mlf, run_id, "weights.npz", tmp)
        with np.load(weights_file) as archive:
            weights = {k: archive[k] for k in archive.files}
        spec, compiled = load_pipeline(pipeline)
        with float64_backend(spec.seed):
            data = compiled.prepare_data()
            rows = sample_rows(len(data.splits["train"]), batch, spec.seed)
            objective = pipeline_objective(compiled, data, rows, training=False)
            objective.model.load_state_dict(weights)
            spectrum = hessian_spectrum(objective, request.top, steps=request.steps)
    analysis = HessianAnalysis(run_id, spectrum, len(rows), len(data.splits["train"]))
    if log:
        add_to_finished_run(mlf, run_id, analysis.metrics(), analysis.to_data(), ARTIFACT)
    return analysis


