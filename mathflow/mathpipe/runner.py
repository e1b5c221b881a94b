"""Run a math pipeline and record it in MLflow; validate one; describe a result in words.

    result = run_math("pipelines/math/lagrange_xy.yaml", [], tracking_uri="sqlite:///runs/mlflow.db")
    result["solution"], result["multipliers"], result["run_id"]

A run logs the pipeline as parameters (dotted keys), one metric row per step (objective,
variables, gradient norm or Newton residual, multipliers; runs longer than
:data:`MAX_LOGGED_STEPS` steps log evenly spaced steps and the last), the result as ``result.json``, the
resolved pipeline as ``config/resolved.yaml`` and the figures as PNG files under ``plots/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

from mathflow.config import dump
from mathflow.errors import MathflowError
from mathflow.mathpipe.problem import MathProblem, load_problem
from mathflow.schema.math_pipeline import AnalyzeSpec, OptimizeSpec


def _variables_text(values: dict[str, Any]) -> str:
    from mathflow.mathpipe.variables import VariableSet

    variables = VariableSet(values)
    return ", ".join(f"{n} ({variables.describe(n)}) = {values[n]}" for n in variables.names)


def summary(problem: MathProblem) -> str:
    """A few lines saying what the pipeline will compute."""
    spec = problem.spec
    lines = [f"{problem.path}: valid {spec.kind} pipeline" + (f" '{spec.name}'" if spec.name else "")]
    if isinstance(spec, OptimizeSpec):
        lines.append(f"  {spec.goal} {spec.objective}")
        for constraint in problem.constraints:
            lines.append(f"  subject to {constraint.text}")
        lines.append(f"  variables: {_variables_text(spec.variables)}")
        name = spec.method_name
        if name in ("lagrange", "newton"):
            if any(c.inequality for c in problem.constraints):
                how = "KKT conditions: augmented Lagrangian with globalised Newton, polished on the active set"
            elif problem.constraints:
                how = "globalised Newton's method on the stationarity system of the Lagrangian"
            else:
                how = "globalised Newton's method on ∇f = 0"
            lines.append(f"  method: {name} ({how}), up to {spec.steps} steps, tolerance {spec.tolerance:g}")
        else:
            options = spec.solver.model_dump(exclude={"type"}) if spec.solver is not None else {}
            shown = ", ".join(f"{k}={v}" for k, v in options.items())
            lines.append(f"  method: optimizer {name}({shown}), up to {spec.steps} steps, tolerance {spec.tolerance:g}")
    else:
        assert isinstance(spec, AnalyzeSpec)
        subject = spec.subject
        if subject == "function":
            lines.append(f"  function: {spec.function}")
            if spec.at is not None:
                lines.append(f"  at: {_variables_text(spec.at)}")
            if spec.taylor is not None:
                around = spec.taylor.around if spec.taylor.around is not None else spec.at
                lines.append(f"  Taylor polynomial of order {spec.taylor.order} around {around}")
        elif subject == "matrix":
            lines.append(f"  matrix: {spec.matrix}")
        elif subject == "vector":
            lines.append(f"  vector: {spec.vector}")
        else:
            assert spec.data is not None
            components = spec.pca.components if spec.pca is not None else 2
            lines.append(f"  data: {spec.data.source.to_data()}, PCA with {components} components")
    lines.append(f"  tracking: experiment '{spec.tracking.experiment}'")
    return "\n".join(lines)


def validate_math(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> str:
    """The validated pipeline described in words; raises ConfigError listing every located issue."""
    problem = load_problem(path, overrides)
    check_optimizer(problem)
    return summary(problem)


def check_optimizer(problem: MathProblem) -> None:
    """Build the pipeline's optimizer once on a dummy parameter, so that a combination of options it
    refuses (e.g. ``nesterov`` without ``momentum``) is reported at the optimizer entry's line."""
    spec = problem.spec
    if not isinstance(spec, OptimizeSpec) or spec.solver is None or spec.method_name in ("lagrange", "newton"):
        return
    import numpy as np

    from mathflow.autodiff.tensor import Tensor
    from mathflow.config.located import located_at
    from mathflow.optim import OPTIMIZERS

    key = "optimizer" if "optimizer" in problem.document.data else "method"
    cls = OPTIMIZERS.get(spec.method_name)
    with located_at(problem.document, (key,), getattr(cls, "registry_name", None)):
        cls([Tensor(np.zeros(1), requires_grad=True)], **spec.solver.model_dump(exclude={"type"}))


def compute(problem: MathProblem) -> tuple[dict[str, Any], list[dict[str, float]], dict[str, Any]]:
    """(result, per-step metrics, figures) of a loaded problem, without tracking.

    A function analysed at a point where its value is not finite raises (located at ``at``) instead
    of reporting a gradient and a verdict; a diverged optimisation is reported by :func:`require_finite`.
    A solver that finds no answer (no stationary point, unbounded) raises located at the objective.
    """
    import numpy as np

    from mathflow.config.located import located_at

    with np.errstate(all="ignore"):
        if problem.kind == "optimize":
            from mathflow.mathpipe.optimize import figures, solve

            _require_start(problem)
            assert isinstance(problem.spec, OptimizeSpec)
            with located_at(problem.document, (problem.spec.goal,)):
                result, trace = solve(problem)
            return result, trace.metrics, figures(problem, trace)
        from mathflow.mathpipe.analyze import analyze

        _require_defined(problem)
        result, figs = analyze(problem)
    return result, [], figs


def _point_text(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in values.items())


def _value_at(problem: MathProblem, values: dict[str, Any]) -> float:
    """The objective (or analysed function) at the point ``values``, as a float (nan when not real)."""
    import numpy as np

    from mathflow.autodiff.tensor import Tensor
    from mathflow.mathpipe.variables import tensors

    assert problem.objective is not None
    value = problem.objective.evaluate(tensors(values))
    array = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
    return float(array.reshape(-1)[0]) if np.isrealobj(array) and array.size == 1 else float("nan")


def _require_defined(problem: MathProblem) -> None:
    """Raise, located at ``at`` (or ``taylor.around``), when the analysed function is not finite there."""
    import math

    spec = problem.spec
    if not isinstance(spec, AnalyzeSpec) or problem.objective is None:
        return
    points = [(("at",), spec.at)]
    if spec.taylor is not None and spec.taylor.around is not None:
        points.append((("taylor", "around"), spec.taylor.around))
    for key, values in points:
        if values is None:
            continue
        value = _value_at(problem, values)
        if not math.isfinite(value):
            raise MathflowError(
                f"{problem.objective.text} is {value} at {_point_text(values)}: the function is not defined "
                "(or not finite) there, so it has no gradient, Hessian or convexity verdict",
                location=str(problem.document.locate(key)),
                suggestion="choose a point inside the function's domain",
            )


def _require_start(problem: MathProblem) -> None:
    """Raise, located at the objective, when it is not finite at the starting values (every method)."""
    import math

    spec = problem.spec
    if isinstance(spec, OptimizeSpec) and problem.objective is not None:
        value = _value_at(problem, spec.variables)
        if not math.isfinite(value):
            require_finite(problem, {"objective": value, "steps": 0})


def require_finite(problem: MathProblem, result: dict[str, Any]) -> None:
    """Raise, located at the objective, when an optimisation ended on a value that is not finite:
    it started where the objective is undefined, or it diverged."""
    import math

    spec = problem.spec
    if not isinstance(spec, OptimizeSpec):
        return
    objective = result.get("objective")
    finite = isinstance(objective, (int, float)) and math.isfinite(objective)
    if finite and not result.get("diverged"):
        return
    where = str(problem.document.locate((spec.goal,)))
    steps = int(result.get("steps", 0))
    if steps == 0:
        raise MathflowError(
            f"{spec.objective} is {objective} at the starting point {_point_text(spec.variables)}: the objective "
            "is not defined (or not finite) there, so the optimisation cannot start",
            location=where,
            suggestion="choose starting values in 'variables' inside the objective's domain",
        )
    gradient = result.get("gradient_norm")
    raise MathflowError(
        f"the optimisation diverged at step {steps}: the objective reached {objective:.6g}"
        + (f" and its gradient norm {gradient:.6g}" if isinstance(gradient, float) else "")
        + "; the run is marked FAILED",
        location=where,
        suggestion="lower the learning rate, start elsewhere, or check that the objective is bounded",
    )


#: At most about this many steps of a run are logged as metric rows (evenly spread, last included).
MAX_LOGGED_STEPS = 200


def logged_steps(count: int, limit: int = MAX_LOGGED_STEPS) -> list[int]:
    """Every step when there are at most ``limit``, else every k-th one plus the last."""
    if count <= limit:
        return list(range(count))
    stride = -(-count // limit)
    chosen = list(range(0, count, stride))
    if chosen[-1] != count - 1:
        chosen.append(count - 1)
    return chosen


def _scalar_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The result's top-level numbers (and norms) as final metrics."""
    out: dict[str, float] = {}
    for key in ("objective", "value", "trace", "det", "residual", "gradient_norm"):
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    for name, value in (result.get("norms") or {}).items():
        out[f"norm.{name}"] = float(value)
    for i, value in enumerate(result.get("multipliers") or []):
        out[f"lambda.{i}"] = float(value)
    for i, value in enumerate(result.get("explained_variance_ratio") or []):
        out[f"explained_variance_ratio.{i}"] = float(value)
    return out


def run_math(
    path: str | os.PathLike[str],
    overrides: Iterable[str] = (),
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Load, compute and log a math pipeline to MLflow; returns the JSON-ready result (with ``run_id``).

    SIGINT, SIGTERM and SIGHUP end the run KILLED (see :mod:`mathflow.tracking.signals`): at once while
    loading or computing, between two store writes while logging.
    """
    from mathflow.tracking.signals import stop_on_signals

    with stop_on_signals() as stop:
        result = _run_math(path, overrides, tracking_uri, experiment, stop)
    if not quiet:
        print(format_result(result), file=sys.stdout)
    return result


def _run_math(
    path: str | os.PathLike[str],
    overrides: Iterable[str],
    tracking_uri: str | None,
    experiment: str | None,
    stop: Any,
) -> dict[str, Any]:
    """:func:`run_math` under the stop flag ``stop``: the tracked run, checked between its steps."""
    from mathflow.tracking import Tracker

    with stop.interruptible():
        problem = load_problem(path, overrides)
        check_optimizer(problem)
    spec = problem.spec
    data = problem.document.data
    resolved = dump(data)
    sha = hashlib.sha256(resolved.encode("utf-8")).hexdigest()
    tracker = Tracker(tracking_uri)
    run_name = spec.tracking.run_name or spec.name or os.path.splitext(os.path.basename(os.fspath(path)))[0]
    tags = {"mathflow.kind": spec.kind, **spec.tracking.tags}
    with tracker.start(
        experiment or spec.tracking.experiment,
        run_name=run_name,
        tags=tags,
        config_sha256=sha,
        pipeline_path=path,
        description=spec.description,
    ) as run:
        stop.check()
        run.log_params(data)
        run.log_text(resolved, "config/resolved.yaml")
        with stop.interruptible():
            result, steps, figs = compute(problem)
        run.heartbeat(force=True)
        for step in logged_steps(len(steps)):
            stop.check()
            run.log_metrics(steps[step], step=step)
        require_finite(problem, result)
        final = _scalar_metrics(result)
        if final and not steps:
            run.log_metrics(final, step=0)
        elif "multipliers" in result or "explained_variance_ratio" in result:
            run.log_metrics({k: v for k, v in final.items() if k.startswith(("lambda.", "explained"))}, step=len(steps))
        for artifact, fig in figs.items():
            stop.check()
            run.log_figure(fig, artifact)
        result = {"run_id": run.run_id, "kind": spec.kind, **result}
        run.log_dict(result, "result.json")
        if "convexity" in result:
            run.set_tags({"mathflow.convexity": result["convexity"]})
        if "stationary_point" in result:
            run.set_tags({"mathflow.stationary_point": result["stationary_point"]})
    return result


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


_SKIP = {"run_id", "kind", "svd", "matrix", "variables_order", "curvature"}


def format_result(result: dict[str, Any]) -> str:
    """The result as ``key: value`` lines (numbers to 6 significant digits)."""
    lines = [f"{result.get('kind', 'math')} run {result.get('run_id', '')}".rstrip()]
    for key, value in result.items():
        if key in _SKIP:
            continue
        if key == "taylor" and isinstance(value, dict):
            lines.append(f"  taylor (order {value.get('order')}): {value.get('polynomial')}")
            continue
        lines.append(f"  {key}: {_fmt(value)}")
    return "\n".join(lines)


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False, allow_nan=True)
