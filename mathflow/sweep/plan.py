"""What a sweep will run: its section (from the file and the command line), checked before anything runs.

Every parameter path and value is tried on the pipeline as a ``--set`` override would be (schema,
shapes, cross-section checks): a wrong path, a value of the wrong type or a value that breaks a shape
is reported at ``file:line:col`` of its sweep entry (or at ``--param TEXT``), all at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mathflow.config.errors import ConfigError, Issue, IssueList, Location, suggest
from mathflow.errors import MathflowError
from mathflow.schema.sweep import SweepParameter, SweepSection

MAX_PROBES = 400
"""At most this many compiled variants are tried when a sweep is checked."""


def param_location(text: str) -> Location:
    return Location(f"--param {text}")


def parse_param(text: str) -> tuple[str, SweepParameter]:
    """``PATH=LOW:HIGH[:log]`` (a range), ``PATH=A,B,C`` (values) or ``PATH=V``: one command-line parameter."""
    from mathflow.config.loader import parse_value

    where = param_location(text)
    path, sep, spec = text.partition("=")
    path, spec = path.strip(), spec.strip()
    if not sep or not path or not spec:
        raise ConfigError([Issue(where, "expected PATH=LOW:HIGH[:log] or PATH=A,B,...")])
    try:
        if ":" in spec and "," not in spec and not spec.startswith(("[", "{", '"', "'")):
            parts = spec.split(":")
            log = parts[-1].strip() == "log"
            ends = parts[:-1] if log else parts
            if len(ends) != 2:
                raise ValueError("a range is LOW:HIGH or LOW:HIGH:log")
            low, high = (parse_value(p.strip(), str(where)) for p in ends)
            return path, SweepParameter.model_validate({"range": [low, high], "log": log})
        values = [parse_value(p.strip(), str(where)) for p in spec.split(",")]
        return path, SweepParameter.model_validate({"values": values})
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError([Issue(where, _pydantic_text(exc))]) from None


def override_text(path: str, value: Any) -> str:
    """``PATH=VALUE`` with VALUE written so that the YAML reader gives ``value`` back."""
    return f"{path}={json.dumps(value)}"


@dataclass
class SweepPlan:
    """A checked sweep: the pipeline, the command line's overrides and the effective section."""

    path: str
    overrides: list[str]
    section: SweepSection
    base_seed: int
    name: str
    experiment: str
    locations: dict[str, Location] = field(default_factory=dict)

    @property
    def goal(self) -> str:
        return self.section.resolved_goal()

    @property
    def runs(self) -> int:
        return self.section.points() * self.section.seeds

    def definition(self) -> dict[str, Any]:
        """The effective sweep section as plain data (logged on the parent run)."""
        return self.section.model_dump(mode="json", exclude_none=True)

    def digest(self) -> str:
        text = json.dumps({"sweep": self.definition(), "overrides": self.overrides, "path": self.path}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def trial_overrides(self, params: Mapping[str, Any], seed: int) -> list[str]:
        """The ``--set`` overrides of one trial run: the command line's, the point's, its seed."""
        point = [override_text(path, value) for path, value in params.items()]
        return [*self.overrides, *point, f"seed={seed}", "sweep=null"]


def _effective_section(
    section: SweepSection | None, cli: Mapping[str, Any], params: Iterable[str]
) -> tuple[SweepSection, dict[str, Location]]:
    """The file's section with the command line's settings and ``--param`` entries on top."""
    data = section.model_dump(mode="python", exclude_none=True) if section is not None else {}
    issues = IssueList()
    extra: dict[str, Location] = {}
    parameters = dict(section.parameters) if section is not None else {}
    for path, given in dict(cli.get("parameters") or {}).items():
        parameters[path] = SweepParameter.model_validate(given, strict=False)
    for text in params:
        try:
            path, parameter = parse_param(text)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        parameters[path] = parameter
        extra[path] = param_location(text)
    issues.raise_if_any()
    data.update({k: v for k, v in cli.items() if v is not None and k != "parameters"})
    data["parameters"] = {k: v.model_dump(exclude_none=True) for k, v in parameters.items()}
    try:
        return SweepSection.model_validate(data, strict=False), extra
    except ValueError as exc:
        raise MathflowError(f"the sweep settings are not valid: {_pydantic_text(exc)}") from None


def _pydantic_text(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(_error_text(e) for e in errors())
    return str(exc)


def _error_text(error: Mapping[str, Any]) -> str:
    where = ".".join(map(str, error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def metric_names(spec: Any) -> set[str]:
    """The final metrics every run of ``spec`` logs (what a sweep may rank by)."""
    names = ["loss", *(_metric_name(m) for m in spec.metrics)]
    out = {f"{prefix}{name}" for prefix in ("train_", "val_", "test_") for name in names}
    out.update({"train_penalty", "train_seconds", "weight_sparsity", "best_epoch", "stopped_epoch"})
    return out


def _metric_name(entry: Any) -> str:
    for attribute in ("label", "logged_name"):
        value = getattr(entry, attribute, None)
        if value is not None:
            return str(value() if callable(value) else value)
    return str(entry)


def epoch_metric(name: str) -> bool:
    """Whether ``name`` is logged after every epoch (so a pruner can watch it)."""
    return name.startswith(("train_", "val_"))


def _check_metric(plan: SweepPlan, spec: Any, where: Location, issues: IssueList) -> None:
    metric, prune = plan.section.metric, plan.section.prune
    if metric is None:
        return
    known = metric_names(spec)
    if metric not in known:
        issues.add(where, f"sweep metric {metric!r} is not a metric this pipeline logs", suggest(metric, known))
    elif prune is not None and not epoch_metric(metric):
        issues.add(
            where,
            f"pruning watches the metric every epoch, but {metric!r} is only logged at the end",
            hint=f"rank by {'val_' + metric[5:] if metric.startswith('test_') else 'a val_ metric'}",
        )


def _probe(path: str, overrides: list[str]) -> list[Issue]:
    """The issues of the pipeline with ``overrides`` (schema, shapes, cross-section); [] when it compiles."""
    from mathflow.pipeline import load_pipeline

    try:
        load_pipeline(path, overrides)
    except ConfigError as exc:
        return list(exc.issues)
    except MathflowError as exc:
        return [Issue(Location(path), exc.format())]
    return []


def _relocated(issues: list[Issue], param: str, value: Any, where: Location) -> list[Issue]:
    """Issues found with ``param = value`` set, located at the sweep entry (or ``--param``)."""
    out = []
    for issue in issues:
        at = f" (at {issue.location})" if not issue.location.file.startswith("--set ") else ""
        message = f"sweep parameter '{param}' = {json.dumps(value)}: {issue.message}{at}"
        out.append(Issue(where, message, issue.suggestion, issue.hint))
    return out


def _check_parameters(plan: SweepPlan, issues: IssueList) -> None:
    """Try each parameter's values (others at the pipeline's own) and, for a small grid, every point."""
    budget = MAX_PROBES
    for param, parameter in plan.section.parameters.items():
        where = plan.locations.get(param, Location(plan.path))
        for value in parameter.probe_values()[: max(budget, 0)]:
            budget -= 1
            found = _probe(plan.path, [*plan.overrides, override_text(param, value), "sweep=null"])
            if found:
                issues.extend(_relocated(found, param, value, where))
                break  # one bad value per parameter is enough to show the problem
    if issues or plan.section.method != "grid" or plan.section.grid_size() > budget:
        return
    from mathflow.sweep.search import grid_points

    for point in grid_points(plan.section):
        found = _probe(plan.path, plan.trial_overrides(point, plan.base_seed))
        if found:
            first = next(iter(point))
            where = plan.locations.get(first, Location(plan.path))
            shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in point.items())
            issues.add(where, f"the grid point {shown} does not compile: {found[0].message}")
            return


def make_plan(
    path: str | os.PathLike[str],
    overrides: Iterable[str] = (),
    *,
    params: Iterable[str] = (),
    settings: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    file_section: bool = True,
) -> SweepPlan:
    """Load ``path``, merge its ``sweep:`` section (unless not ``file_section``) with the command
    line's ``settings`` and ``params``, and check every parameter; raises ConfigError with every
    mistake located."""
    from mathflow.config import load_config
    from mathflow.schema import validate_spec

    path = str(path)
    overrides = list(overrides)
    document = load_config(path, overrides)
    spec = validate_spec(document)
    params = list(params)
    settings = dict(settings or {})
    section = spec.sweep if file_section else None
    if section is None and not params and not settings.get("seeds") and not settings.get("parameters"):
        raise MathflowError(
            f"{path} has no 'sweep:' section and no --param was given",
            suggestion="add a sweep: section (see README, 'Sweeps') or pass --param PATH=VALUES",
        )
    section, extra = _effective_section(section, settings, params)
    locations = {name: document.locate(("sweep", "parameters", name)) for name in section.parameters}
    locations.update(extra)
    plan = SweepPlan(
        path=path,
        overrides=overrides,
        section=section,
        base_seed=spec.seed or 0,
        name=spec.name,
        experiment=experiment or spec.tracking.experiment,
        locations=locations,
    )
    issues = IssueList()
    metric_where = document.locate(("sweep", "metric")) if spec.sweep is not None else Location("--metric")
    _check_metric(plan, spec, metric_where, issues)
    _check_parameters(plan, issues)
    issues.raise_if_any()
    return plan


def describe_plan(plan: SweepPlan) -> str:
    """A few lines on what the sweep will run (for ``validate``/``show`` and the sweep's start)."""
    s = plan.section
    lines = [
        f"sweep: {s.method}, {s.points()} point(s) × {s.seeds} seed(s) = {plan.runs} run(s)"
        + (f", ranked by {s.metric} ({plan.goal})" if s.metric else ""),
    ]
    for name, parameter in s.parameters.items():
        if parameter.values is not None:
            lines.append(f"  {name}: {', '.join(json.dumps(v) for v in parameter.values)}")
        else:
            low, high = parameter.range  # type: ignore[misc]
            scale = " (log)" if parameter.log else f" step {parameter.step}" if parameter.step else ""
            lines.append(f"  {name}: {low} … {high}{scale}")
    if s.prune is not None:
        lines.append(f"  pruning: median, after {s.prune.after_epochs} epoch(s)")
    return "\n".join(lines)
