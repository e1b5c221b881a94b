"""A sweep as the command line drives it (``mathflow sweep``, ``mathflow run --seeds N``): check the
plan (every mistake located), run it, print the best point and where the sweep's record is.

The closing lines go to standard output, or to standard error when standard output carries the
``--json`` line (which the command line prints: :func:`drive` returns it, in a list).
"""

from __future__ import annotations

from typing import Any

from mathflow.errors import MathflowError


def sweep(
    file: str | None,
    overrides: list[str],
    params: list[str],
    settings: dict[str, Any],
    tracking_uri: str | None,
    experiment: str | None,
    json_out: bool,
    resume_id: str | None = None,
    **options: Any,
) -> list[str]:
    """``mathflow sweep``: the sweep of ``file``, or (``resume_id``) the stopped sweep with that parent
    run id taken up again with its own pipeline, overrides, definition and experiment. The ``--json``
    line (none without ``json_out``)."""
    if resume_id is not None:
        from mathflow.sweep.runner import stopped_sweep

        if file is not None:
            raise MathflowError("--resume takes the stopped sweep's own pipeline; give no FILE with it")
        file, overrides, settings, experiment = stopped_sweep(resume_id, tracking_uri)
    elif file is None:
        raise MathflowError("give a pipeline FILE to sweep, or --resume PARENT_RUN_ID")
    return drive(
        file,
        overrides,
        params,
        settings,
        tracking_uri,
        experiment,
        json_out,
        file_section=resume_id is None,
        resume=resume_id,
        **options,
    )


def drive(
    file: str,
    overrides: list[str],
    params: list[str],
    settings: dict[str, Any],
    tracking_uri: str | None,
    experiment: str | None,
    json_out: bool,
    file_section: bool = True,
    **options: Any,
) -> list[str]:
    """Check the sweep, run it, print where its record is; the ``--json`` line (none without ``json_out``).
    ``options`` go to :func:`~mathflow.sweep.runner.run_sweep` (executor, parallel, address, ...)."""
    import json
    import sys

    from mathflow.sweep import make_plan, run_sweep

    plan = make_plan(
        file, overrides, params=params, settings=settings, experiment=experiment, file_section=file_section
    )
    out = sys.stderr if json_out else sys.stdout
    result = run_sweep(plan, tracking_uri=tracking_uri, out=out, **options)
    best = result.best
    if best is not None:
        shown = " ".join(f"{k}={json.dumps(v)}" for k, v in best["params"].items())
        print(
            f"best: {result.metric} {best['value']:.4f} ± {best['std']:.4f} at {shown or '(base)'} "
            f"(run {best['run_id']})",
            file=out,
        )
    print(
        f"sweep {result.parent_run_id} {result.status} in {result.seconds:.1f} s; "
        f"mathflow runs --sweep {result.parent_run_id}",
        file=out,
    )
    return [json.dumps(result.summary())] if json_out else []
