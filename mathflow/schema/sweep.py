"""The ``sweep`` section: many runs of one pipeline, its values varied by a search.

    sweep:
      method: tpe                 # grid | random | tpe (Optuna's samplers)
      metric: val_accuracy        # a final metric of every trial
      goal: maximize              # default: minimize losses and errors, maximize the rest
      trials: 40                  # random / tpe; grid runs every point
      seeds: 3                    # each point with seeds seed, seed+1, ...: mean ± std
      parallel: 2                 # concurrent trials (default: the CPU count)
      prune: {after_epochs: 5}    # Optuna's median pruner on the per-epoch metric
      parameters:
        optimizer.adam.lr: {range: [1.0e-4, 1.0e-2], log: true}
        model.layers.0.dense.units: {values: [32, 64, 128]}

A parameter path is a ``--set`` key: dots between mapping keys and list indices.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, StrictInt, model_validator

from mathflow.component import Flag, SpecModel

MAX_GRID_POINTS = 10_000
"""The most points a grid may have (the product of the value counts)."""

MAX_RUNS = 10_000
"""The most trial runs one sweep may start (points × seeds)."""

MAX_VALUES = 1_000
"""The most values one parameter may list."""


class SweepParameter(SpecModel):
    """One varied value: a list of ``values``, or a numeric ``range`` (``log`` spacing, ``step``)."""

    values: list[Any] | None = Field(None, min_length=1, max_length=MAX_VALUES, description="the values to try")
    range: list[StrictInt | float] | None = Field(
        None, min_length=2, max_length=2, description="[low, high], both included; integers when both ends are"
    )
    log: Flag = Field(False, description="sample the range on a log scale (low > 0)")
    step: StrictInt | float | None = Field(None, gt=0, description="spacing of the range's values (grid needs it)")

    @model_validator(mode="after")
    def _one_kind(self) -> SweepParameter:
        if (self.values is None) == (self.range is None):
            raise ValueError("give either 'values' or 'range'")
        if self.values is not None and (self.log or self.step is not None):
            raise ValueError("'log' and 'step' go with 'range', not with 'values'")
        if self.range is not None:
            low, high = self.range
            if not low < high:
                raise ValueError(f"range needs low < high, got [{low}, {high}]")
            if self.log and low <= 0:
                raise ValueError(f"a log range needs low > 0, got {low}")
            if self.log and self.step is not None:
                raise ValueError("'step' and 'log' cannot both be given")
            if self.step is not None and self.is_int and not float(self.step).is_integer():
                raise ValueError("an integer range needs an integer step")
            if self.step is not None and (high - low) / self.step + 1 > MAX_VALUES:
                raise ValueError(f"range/step gives more than {MAX_VALUES} values")
        return self

    @property
    def is_int(self) -> bool:
        return self.range is not None and all(isinstance(v, int) for v in self.range)

    def grid_values(self) -> list[Any] | None:
        """Every value of a grid over this parameter, or None for a continuous range."""
        if self.values is not None:
            return list(self.values)
        if self.step is None:
            return None
        low, high = self.range  # type: ignore[misc]
        count = int(math.floor((high - low) / self.step + 1e-9)) + 1
        points = [low + i * self.step for i in range(count)]
        return [int(p) for p in points] if self.is_int else [float(p) for p in points]

    def probe_values(self) -> list[Any]:
        """The values tried when the sweep is checked: every listed value, or a range's ends."""
        if self.values is not None:
            return list(self.values)
        return list(self.range)  # type: ignore[arg-type]


class Pruning(SpecModel):
    """Stop poor trials early: Optuna's median pruner on the sweep metric's per-epoch value."""

    after_epochs: StrictInt = Field(5, ge=0, description="epochs every trial runs before it may be pruned")
    startup_trials: StrictInt = Field(3, ge=0, description="trials that finish before pruning starts")


class SweepSection(SpecModel):
    """Many runs of this pipeline: a search over ``parameters``, each point with ``seeds`` seeds."""

    method: Literal["grid", "random", "tpe"] = Field("random", description="grid: every point; tpe: Optuna's TPE")
    metric: str | None = Field(None, description="the final metric that ranks trials, e.g. val_accuracy")
    goal: Literal["maximize", "minimize"] | None = Field(
        None, description="default: minimize a metric named *loss* or *error*, maximize others"
    )
    trials: StrictInt = Field(20, ge=1, le=MAX_RUNS, description="points tried by random and tpe")
    seeds: StrictInt = Field(1, ge=1, le=100, description="runs per point, with seeds seed, seed+1, ...")
    parallel: StrictInt | None = Field(None, ge=1, le=256, description="concurrent trials (default: CPU count)")
    prune: Pruning | None = None
    sampler_seed: StrictInt = Field(0, ge=0, description="seed of the random and TPE samplers")
    parameters: dict[str, SweepParameter] = Field(default_factory=dict, max_length=64)

    @model_validator(mode="after")
    def _consistent(self) -> SweepSection:
        if self.parameters and self.metric is None:
            raise ValueError("a sweep over parameters needs a 'metric' to rank its trials")
        if self.prune is not None and self.metric is None:
            raise ValueError("'prune' needs a 'metric'")
        if self.method == "grid":
            for path, parameter in self.parameters.items():
                if parameter.grid_values() is None:
                    raise ValueError(f"grid parameter '{path}' needs 'values' or a range with 'step'")
            if self.grid_size() > MAX_GRID_POINTS:
                raise ValueError(f"the grid has {self.grid_size()} points; at most {MAX_GRID_POINTS}")
        if self.points() * self.seeds > MAX_RUNS:
            raise ValueError(f"{self.points()} points × {self.seeds} seeds is more than {MAX_RUNS} runs")
        return self

    def grid_size(self) -> int:
        size = 1
        for parameter in self.parameters.values():
            size *= len(parameter.grid_values() or [0])
        return size

    def points(self) -> int:
        """How many points the sweep tries: the grid's size, or ``trials``."""
        if self.method == "grid" or not self.parameters:
            return self.grid_size()
        return self.trials

    def resolved_goal(self) -> str:
        """``goal``, or inferred from the metric's name."""
        if self.goal is not None:
            return self.goal
        name = (self.metric or "").lower()
        return "minimize" if ("loss" in name or "error" in name) else "maximize"
