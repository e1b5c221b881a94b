"""Sweep sections and --param entries: checked before anything runs, every mistake located."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sweep_helpers import tiny_iris

from mathflow.config import ConfigError
from mathflow.errors import MathflowError
from mathflow.schema.sweep import SweepParameter, SweepSection
from mathflow.sweep.plan import make_plan, parse_param
from mathflow.sweep.search import Search, grid_points

IRIS = tiny_iris()
SWEEP_LINE = IRIS.count("\n") + 1


def pipeline(tmp_path: Path, sweep: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(IRIS + textwrap.dedent(sweep))
    return str(path)


def errors(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return exc.value.format().splitlines()


def test_a_valid_section_gives_its_plan(tmp_path: Path) -> None:
    path = pipeline(
        tmp_path,
        """\
        sweep:
          method: grid
          metric: val_accuracy
          seeds: 2
          parameters:
            optimizer.sgd.lr: {values: [0.01, 0.1]}
            model.layers.0.dense.units: {range: [4, 12], step: 4}
        """,
    )
    plan = make_plan(path)
    assert plan.section.points() == 6 and plan.runs == 12
    assert plan.goal == "maximize" and plan.base_seed == 7
    assert plan.trial_overrides({"optimizer.sgd.lr": 0.1}, 8) == ["optimizer.sgd.lr=0.1", "seed=8", "sweep=null"]


def test_every_bad_parameter_is_reported_at_its_entry_at_once(tmp_path: Path) -> None:
    path = pipeline(
        tmp_path,
        """\
        sweep:
          metric: val_accuracy
          parameters:
            optimizer.sgd.lrr: {values: [0.1]}
            model.layers.0.dense.units: {values: [8, wide]}
            model.layers.1.dense.units: {values: [3, 5]}
        """,
    )
    with pytest.raises(ConfigError) as exc:
        make_plan(path)
    lines = errors(exc)
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"{path}:{SWEEP_LINE + 3}:5: sweep parameter 'optimizer.sgd.lrr' = 0.1:")
    assert "lrr" in lines[0] and "did you mean 'lr'" in lines[0]
    assert lines[1].startswith(f"{path}:{SWEEP_LINE + 4}:5: sweep parameter 'model.layers.0.dense.units' = \"wide\":")
    assert lines[2].startswith(f"{path}:{SWEEP_LINE + 5}:5: sweep parameter 'model.layers.1.dense.units' = 5:")
    assert "3" in lines[2]  # the loss needs 3 outputs for 3 classes


def test_a_grid_point_that_breaks_only_in_combination_is_found(tmp_path: Path) -> None:
    # each value works alone; the combination of a list-valued layer stack and a width does not exist
    path = pipeline(
        tmp_path,
        """\
        sweep:
          method: grid
          metric: val_loss
          parameters:
            model.layers: {values: [[{dense: {units: 3}}], [{dense: {units: 8}}, {dense: {units: 3}}]]}
            model.layers.1.dense.units: {values: [3]}
        """,
    )
    with pytest.raises(ConfigError) as exc:
        make_plan(path)
    assert "the grid point" in exc.value.format() or "model.layers.1" in exc.value.format()


def test_unknown_metric_gets_a_suggestion_and_pruning_needs_an_epoch_metric(tmp_path: Path) -> None:
    path = pipeline(tmp_path, "sweep: {metric: val_acuracy, parameters: {optimizer.sgd.lr: {values: [0.1]}}}\n")
    with pytest.raises(ConfigError, match=r"p.yaml:\d+:\d+: sweep metric 'val_acuracy' .*did you mean 'val_accuracy'"):
        make_plan(path)
    path = pipeline(
        tmp_path, "sweep: {metric: test_accuracy, prune: {}, parameters: {optimizer.sgd.lr: {values: [0.1]}}}\n"
    )
    with pytest.raises(ConfigError, match="only logged at the end.*val_accuracy"):
        make_plan(path)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{parameters: {optimizer.sgd.lr: {values: [0.1]}}}", "needs a 'metric'"),
        ("{metric: val_loss, parameters: {optimizer.sgd.lr: {range: [0.1, 0.01]}}}", "low < high"),
        ("{metric: val_loss, parameters: {optimizer.sgd.lr: {range: [0, 1], log: true}}}", "low > 0"),
        ("{metric: val_loss, parameters: {optimizer.sgd.lr: {values: [0.1], range: [0.1, 1]}}}", "either"),
        ("{method: grid, metric: val_loss, parameters: {optimizer.sgd.lr: {range: [0.01, 1]}}}", "needs 'values'"),
        ("{metric: val_loss, trials: 0, parameters: {optimizer.sgd.lr: {values: [0.1]}}}", "must be ≥ 1"),
        ("{metric: val_loss, methd: grid}", "methd"),
        ("{metric: val_loss, seeds: 101}", "must be ≤ 100"),
    ],
)
def test_schema_mistakes_in_the_section_are_located(tmp_path: Path, section: str, message: str) -> None:
    path = pipeline(tmp_path, f"sweep: {section}\n")
    with pytest.raises(ConfigError, match=message) as exc:
        make_plan(path)
    assert exc.value.format().startswith(f"{path}:{SWEEP_LINE}:")


def test_resources_are_bounded() -> None:
    big = {f"p{i}": {"values": list(range(10))} for i in range(5)}
    with pytest.raises(ValueError, match="at most 10000"):
        SweepSection.model_validate({"method": "grid", "metric": "val_loss", "parameters": big})
    with pytest.raises(ValueError, match="more than 1000 values"):
        SweepParameter.model_validate({"range": [0, 100000], "step": 1})


def test_command_line_params_parse_and_are_located(tmp_path: Path) -> None:
    name, p = parse_param("optimizer.sgd.lr=1e-4:1e-1:log")
    assert name == "optimizer.sgd.lr" and p.range == [1e-4, 1e-1] and p.log
    assert parse_param("train.batch_size=16,32").__getitem__(1).values == [16, 32]
    assert parse_param("model.layers.0.dense.units=4:64").__getitem__(1).is_int
    with pytest.raises(ConfigError, match=r"^--param lr: expected PATH="):
        parse_param("lr")
    with pytest.raises(ConfigError, match=r"--param a=1:2:3: a range is LOW:HIGH"):
        parse_param("a=1:2:3")
    path = pipeline(tmp_path, "")
    with pytest.raises(ConfigError) as exc:
        make_plan(path, params=["optimizer.sgd.momentun=0.5,0.9"], settings={"metric": "val_loss"})
    assert exc.value.format().startswith("--param optimizer.sgd.momentun=0.5,0.9: sweep parameter")
    with pytest.raises(MathflowError, match="no 'sweep:' section and no --param"):
        make_plan(path)


def test_the_grid_is_enumerated_once_in_order_and_random_draws_are_reproducible() -> None:
    section = SweepSection.model_validate(
        {
            "method": "grid",
            "metric": "val_loss",
            "parameters": {"a": {"values": [1, 2]}, "b": {"values": [[1], {"x": 2}]}},
        }
    )
    assert list(grid_points(section)) == [
        {"a": 1, "b": [1]},
        {"a": 1, "b": {"x": 2}},
        {"a": 2, "b": [1]},
        {"a": 2, "b": {"x": 2}},
    ]
    search = Search(section, "minimize")
    asked = [search.ask()[1] for _ in range(4)]
    assert asked == list(grid_points(section)) and search.exhausted()
    section = SweepSection.model_validate(
        {
            "method": "random",
            "metric": "val_loss",
            "trials": 5,
            "parameters": {"lr": {"range": [1e-4, 1e-1], "log": True}, "n": {"range": [4, 64], "step": 4}},
        }
    )
    first = [Search(section, "minimize").ask()[1] for _ in range(2)]
    assert first[0] == first[1]  # the sampler is seeded
    draws = [p for p in (Search(section, "minimize").ask()[1],)]
    assert 1e-4 <= draws[0]["lr"] <= 1e-1 and draws[0]["n"] % 4 == 0


def test_resume_skips_done_points_and_retries_started_ones() -> None:
    section = SweepSection.model_validate(
        {"method": "grid", "metric": "val_loss", "parameters": {"a": {"values": [1, 2, 3]}}}
    )
    search = Search(section, "minimize")
    search.resume([({"a": 2}, 0.5, "COMPLETE")], retry=[{"a": 1}])
    rest = []
    while not search.exhausted():
        rest.append(search.ask()[1])
    assert rest == [{"a": 1}, {"a": 3}]
    section = SweepSection.model_validate(
        {"method": "tpe", "metric": "val_loss", "trials": 3, "parameters": {"a": {"range": [0.0, 1.0]}}}
    )
    search = Search(section, "minimize")
    search.resume([({"a": 0.25}, 0.5, "COMPLETE")], retry=[{"a": 0.75}])
    assert search.ask()[1] == {"a": 0.75}
    search.ask()
    assert search.exhausted()


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[1] / "pipelines" / "sweeps").glob("*.yaml")), ids=lambda p: p.name
)
def test_the_example_sweeps_are_valid(path: Path) -> None:
    plan = make_plan(str(path))
    assert plan.runs >= 2 and plan.section.metric is not None
