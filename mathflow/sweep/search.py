"""The search: Optuna's samplers and pruner behind ask/tell, and the grid's points.

Grid points are enqueued in order (every point once); random and TPE points come from Optuna's
``RandomSampler`` / ``TPESampler`` seeded with ``sampler_seed``. A parameter whose values are not
all plain scalars (lists, mappings) is suggested by its index and mapped back.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any

from mathflow.schema.sweep import SweepParameter, SweepSection

_SCALARS = (bool, int, float, str, type(None))


def _plain(values: list[Any]) -> bool:
    return all(isinstance(v, _SCALARS) for v in values)


def _key(point: Mapping[str, Any]) -> str:
    import json

    return json.dumps(point, sort_keys=True, default=str)


def grid_points(section: SweepSection) -> Iterator[dict[str, Any]]:
    """Every point of the grid, the last parameter varying fastest."""
    names = list(section.parameters)
    axes = [section.parameters[n].grid_values() or [] for n in names]
    for combo in itertools.product(*axes):
        yield dict(zip(names, combo))


def _suggest(trial: Any, name: str, parameter: SweepParameter, method: str) -> Any:
    values = parameter.grid_values() if method == "grid" else parameter.values
    if values is not None:
        if _plain(values):
            return trial.suggest_categorical(name, values)
        return values[trial.suggest_categorical(name, list(range(len(values))))]
    low, high = parameter.range  # type: ignore[misc]
    if parameter.is_int:
        return trial.suggest_int(name, low, high, step=int(parameter.step or 1), log=parameter.log)
    return trial.suggest_float(name, float(low), float(high), step=parameter.step, log=parameter.log)


def _stored(parameter: SweepParameter, value: Any, method: str) -> Any:
    """The value as Optuna stores it for ``parameter`` (the index for non-scalar values)."""
    values = parameter.grid_values() if method == "grid" else parameter.values
    if values is not None and not _plain(values):
        return values.index(value)
    return value


class Search:
    """One Optuna study (in memory) over a sweep section; the MLflow record is the lasting one."""

    def __init__(self, section: SweepSection, goal: str):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.section = section
        self.optuna = optuna
        if section.method == "tpe":
            sampler: Any = optuna.samplers.TPESampler(seed=section.sampler_seed, constant_liar=True)
        else:
            sampler = optuna.samplers.RandomSampler(seed=section.sampler_seed)
        pruner: Any = optuna.pruners.NopPruner()
        if section.prune is not None:
            pruner = optuna.pruners.MedianPruner(
                n_startup_trials=section.prune.startup_trials, n_warmup_steps=section.prune.after_epochs
            )
        self.study = optuna.create_study(direction=goal, sampler=sampler, pruner=pruner)
        self.asked = 0
        grid = section.method == "grid" or not section.parameters
        self.queue: list[dict[str, Any]] = list(grid_points(section)) if grid else []

    def _stored_point(self, point: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _stored(self.section.parameters[k], v, self.section.method) for k, v in point.items()}

    @property
    def total(self) -> int:
        return self.section.points()

    def exhausted(self) -> bool:
        return self.asked >= self.total

    def ask(self) -> tuple[Any, dict[str, Any]]:
        """The next point: (Optuna trial, path → value); queued points (the grid, retried ones) first."""
        if self.queue:
            self.study.enqueue_trial(self._stored_point(self.queue.pop(0)))
        trial = self.study.ask()
        self.asked += 1
        params = {
            name: _suggest(trial, name, parameter, self.section.method)
            for name, parameter in self.section.parameters.items()
        }
        return trial, params

    def resume(self, done: list[tuple[dict[str, Any], float | None, str]], retry: list[dict[str, Any]]) -> None:
        """Take up a stopped sweep: ``done`` points (params, value, state) count and inform the sampler;
        ``retry`` points (started, not finished) are tried again first."""
        keys = [_key(p) for p, _, _ in done]
        self.queue = [p for p in self.queue if _key(p) not in keys]
        for point, value, state in done:
            self.study.enqueue_trial(self._stored_point(point))
            trial = self.study.ask()
            for name, parameter in self.section.parameters.items():
                _suggest(trial, name, parameter, self.section.method)
            self.asked += 1
            self.tell(trial, value, state)
        if self.section.method != "grid":
            self.queue = [dict(p) for p in retry] + self.queue

    def report(self, trial: Any, epoch: int, value: float) -> bool:
        """Report an epoch's metric; True when the pruner says to stop the trial."""
        if not math.isfinite(value):
            return False
        trial.report(value, epoch)
        return bool(trial.should_prune())

    def tell(self, trial: Any, value: float | None, state: str) -> None:
        states = self.optuna.trial.TrialState
        if state == "COMPLETE" and value is not None and math.isfinite(value):
            self.study.tell(trial, value)
        elif state == "PRUNED":
            self.study.tell(trial, state=states.PRUNED)
        else:
            self.study.tell(trial, state=states.FAIL)
