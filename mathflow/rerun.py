"""``mathflow rerun RUN_ID``: run a logged pipeline again and compare its final metrics."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from mathflow.errors import MathflowError
from mathflow.run import RunResult, run_pipeline

#: Final metrics a rerun does not compare (timings).
NOT_COMPARED = ("train_seconds",)


@dataclass
class RerunResult:
    """The new run and each compared metric as (original, rerun)."""

    original_run_id: str
    result: RunResult
    compared: dict[str, tuple[float, float]]

    @property
    def matches(self) -> bool:
        return all(a == b for a, b in self.compared.values())

    @property
    def differences(self) -> dict[str, tuple[float, float]]:
        return {k: v for k, v in self.compared.items() if v[0] != v[1]}


def rerun(
    run_id: str,
    *,
    tracking_uri: str | None = None,
    device: str | None = None,
    quiet: bool = False,
    progress: Any = None,
    figures_may_fork: bool = False,
) -> RerunResult:
    """Run the pipeline logged by ``run_id`` again (same store and experiment) and compare the
    final metrics (timings left out)."""
    from mathflow.tracking import resolve_tracking_uri
    from mathflow.tracking.store import client

    uri = resolve_tracking_uri(tracking_uri)
    mlf = client(uri)
    try:
        original = mlf.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own exception type
        raise MathflowError(f"no run {run_id!r} in {uri}") from exc
    experiment = mlf.get_experiment(original.info.experiment_id).name
    with tempfile.TemporaryDirectory(prefix="mathflow-rerun-") as tmp:
        local = mlf.download_artifacts(run_id, "pipeline.yaml", tmp)
        result = run_pipeline(
            local,
            device=device,
            tracking_uri=uri,
            experiment=experiment,
            quiet=quiet,
            progress=progress,
            extra_tags={"mathflow.rerun_of": run_id},
            figures_may_fork=figures_may_fork,
        )
    before = dict(original.data.metrics)
    after = dict(mlf.get_run(result.run_id).data.metrics)
    compared = {k: (float(before[k]), float(after[k])) for k in sorted(after) if k in before and k not in NOT_COMPARED}
    return RerunResult(run_id, result, compared)
