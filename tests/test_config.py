"""The YAML layer of the pipeline DSL: positions, scalar rules, errors, extends, overrides, references, dump."""

from __future__ import annotations

import ast
import math
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mathflow.config as cfg
from mathflow.config import (
    ConfigError,
    Issue,
    Location,
    apply_overrides,
    dump,
    interpolate,
    load,
    load_config,
    parse_value,
    suggest,
)
from mathflow.errors import MathflowError

PIPELINE = """\
model:
  hidden: 64
  layers:
    - dense:
        units: 32
    - dropout: {rate: 0.5}
train:
  epochs: 10
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder so that error messages cite short relative paths."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(name: str, text: str) -> str:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return name


def errors_of(fn, *args) -> list[str]:
    with pytest.raises(ConfigError) as info:
        fn(*args)
    return str(info.value).splitlines()


def only_error(fn, *args) -> str:
    lines = errors_of(fn, *args)
    assert len(lines) == 1, lines
    return lines[0]


def where(loc: Location) -> tuple[str, int | None, int | None]:
    return loc.file, loc.line, loc.col


# ------------------------------------------------------------------------------------------ positions
class TestPositions:
    def test_data_is_plain(self, workdir):
        doc = load(write("p.yaml", PIPELINE))
        assert doc.data == {
            "model": {"hidden": 64, "layers": [{"dense": {"units": 32}}, {"dropout": {"rate": 0.5}}]},
            "train": {"epochs": 10},
        }
        assert doc.path == "p.yaml"
        assert doc.text == PIPELINE

    @pytest.mark.parametrize(
        ("path", "line", "col"),
        [
            (("model",), 1, 1),
            (("model", "hidden"), 2, 3),
            (("model", "layers"), 3, 3),
            (("model", "layers", 0), 4, 7),
            (("model", "layers", 0, "dense"), 4, 7),
            (("model", "layers", 0, "dense", "units"), 5, 9),
            (("model", "layers", 1), 6, 7),
            (("model", "layers", 1, "dropout", "rate"), 6, 17),
            (("train",), 7, 1),
            (("train", "epochs"), 8, 3),
        ],
    )
    def test_key_and_item_positions(self, workdir, path, line, col):
        doc = load(write("p.yaml", PIPELINE))
        assert where(doc.locate(path)) == ("p.yaml", line, col)

    @pytest.mark.parametrize(
        ("path", "line", "col"),
        [
            (("model", "hidden"), 2, 11),
            (("model", "layers"), 4, 5),
            (("model", "layers", 0, "dense", "units"), 5, 16),
            (("model", "layers", 1, "dropout"), 6, 16),
            (("model", "layers", 1, "dropout", "rate"), 6, 23),
        ],
    )
    def test_value_positions(self, workdir, path, line, col):
        doc = load(write("p.yaml", PIPELINE))
        assert where(doc.locate_value(path)) == ("p.yaml", line, col)

    def test_missing_path_falls_back_to_nearest_parent(self, workdir):
        doc = load(write("p.yaml", PIPELINE))
        assert where(doc.locate(("model", "layers", 0, "dense", "activation"))) == ("p.yaml", 4, 7)
        assert where(doc.locate(("model", "layers", 7, "x"))) == ("p.yaml", 3, 3)
        assert where(doc.locate(("nope", "deeper"))) == ("p.yaml", 1, 1)
        assert where(doc.locate(())) == ("p.yaml", 1, 1)

    def test_document_issue_and_get(self, workdir):
        doc = load(write("p.yaml", PIPELINE))
        assert str(doc.issue(("train", "epochs"), "must be positive")) == "p.yaml:8:3: must be positive"
        assert str(doc.issue(("train", "epochs"), "bad", at_value=True)) == "p.yaml:8:11: bad"
        assert doc.get(("model", "layers", 1, "dropout", "rate")) == 0.5
        assert doc.get(("model", "layers", 5), "missing") == "missing"

    def test_alias_item_locates_where_written(self, workdir):
        write(
            "a.yaml",
            """\
            shared: &act {kind: relu}
            layers:
              - *act
              - {kind: tanh}
            defaults: &d
              lr: 0.1
              momentum: 0.9
            opt:
              <<: *d
              lr: 0.5
            """,
        )
        doc = load("a.yaml")
        assert doc.data["layers"] == [{"kind": "relu"}, {"kind": "tanh"}]
        assert doc.data["opt"] == {"lr": 0.5, "momentum": 0.9}
        assert where(doc.locate(("layers", 0))) == ("a.yaml", 3, 5)
        assert where(doc.locate(("layers", 0, "kind"))) == ("a.yaml", 1, 15)
        assert where(doc.locate(("opt", "lr"))) == ("a.yaml", 10, 3)
        assert where(doc.locate(("opt", "momentum"))) == ("a.yaml", 7, 3)


# ------------------------------------------------------------------------------------------ scalars
class TestScalars:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1e-3", 1e-3),
            ("1.0e-4", 1e-4),
            ("-2E5", -2e5),
            ("+1e3", 1000.0),
            (".5", 0.5),
            ("-.5", -0.5),
            ("3.", 3.0),
            ("1_000.5", 1000.5),
            ("1.5e+2", 150.0),
            (".inf", math.inf),
            ("-.Inf", -math.inf),
        ],
    )
    def test_float_forms(self, text, expected):
        value = parse_value(text)
        assert isinstance(value, float)
        assert value == expected

    def test_nan(self):
        assert math.isnan(parse_value(".nan"))

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("1_000", 1000), ("-42", -42), ("+7", 7), ("012", 12), ("0x1F", 31), ("0o17", 15), ("0b101", 5)],
    )
    def test_int_forms(self, text, expected):
        value = parse_value(text)
        assert type(value) is int
        assert value == expected

    @pytest.mark.parametrize("text", ["on", "off", "yes", "no", "y", "n", "On", "YES", "No", "Off"])
    def test_yaml11_booleans_stay_strings(self, text):
        assert parse_value(text) == text

    @pytest.mark.parametrize(("text", "expected"), [("true", True), ("false", False), ("True", True), ("FALSE", False)])
    def test_true_false_are_booleans(self, text, expected):
        assert parse_value(text) is expected

    @pytest.mark.parametrize("text", ["null", "~", "Null", ""])
    def test_null(self, text):
        assert parse_value(text) is None

    @pytest.mark.parametrize(
        "text", ["1.2.3", "1e", "e3", "12:30", "2024-01-01", "1_000x", ".", "-x", "'1e-3'", '"on"']
    )
    def test_look_alikes_stay_strings(self, text):
        assert isinstance(parse_value(text), str)

    def test_quoted_number_is_string(self):
        assert parse_value("'1e-3'") == "1e-3"

    def test_keys_are_strings(self, workdir):
        doc = load(write("k.yaml", "1: a\ntrue: b\nnull: c\non: d\n"))
        assert doc.data == {"1": "a", "true": "b", "null": "c", "on": "d"}

    def test_explicit_tags(self):
        assert parse_value("!!str 12") == "12"
        assert parse_value("!!float 3") == 3.0
        assert parse_value("!!int '7'") == 7


# ------------------------------------------------------------------------------------------ errors
class TestErrors:
    def test_config_error_is_a_mathflow_error(self):
        err = ConfigError([Issue(Location("f.yaml", 3, 4), "bad", "dense")])
        assert isinstance(err, MathflowError)
        assert str(err) == "f.yaml:3:4: bad (did you mean 'dense'?)"
        assert err.location == "f.yaml:3:4"

    def test_issues_sorted_by_line(self):
        err = ConfigError(
            [
                Issue(Location("f.yaml", 9, 1), "late"),
                Issue(Location("f.yaml", 2, 5), "early"),
                Issue(Location("f.yaml", 2, 1), "earliest"),
            ]
        )
        assert str(err).splitlines() == ["f.yaml:2:1: earliest", "f.yaml:2:5: early", "f.yaml:9:1: late"]

    def test_duplicate_key_at_second_occurrence(self, workdir):
        write("d.yaml", "model:\n  hidden: 64\n  units: 3\n  hidden: 32\n")
        assert only_error(load, "d.yaml") == (
            "d.yaml:4:3: duplicate key 'hidden' (first defined at line 2) (a mapping holds each key once)"
        )

    def test_all_errors_of_a_file_at_once(self, workdir):
        write(
            "many.yaml",
            """\
            train:
              epochs: 3
              epochs: 4
            model:
              act: !fancy relu
            train:
              lr: 1
            """,
        )
        assert errors_of(load, "many.yaml") == [
            "many.yaml:3:3: duplicate key 'epochs' (first defined at line 2) (a mapping holds each key once)",
            "many.yaml:5:8: unsupported tag '!fancy' (use plain strings, numbers, booleans, null, lists and mappings)",
            "many.yaml:6:1: duplicate key 'train' (first defined at line 1) (a mapping holds each key once)",
        ]

    def test_malformed_yaml_reports_parser_position(self, workdir):
        write("bad.yaml", "model:\n  name: foo: bar\n")
        assert only_error(load, "bad.yaml").startswith("bad.yaml:2:12: the value of 'name' holds ': '")

    def test_unclosed_flow_list(self, workdir):
        write("bad.yaml", "model:\n  layers: [1, 2\ntrain: 3\n")
        line = only_error(load, "bad.yaml")
        assert line.startswith("bad.yaml:2:11: the '[' opened here is never closed")

    def test_tab_indentation(self, workdir):
        write("tab.yaml", "model:\n\thidden: 3\n")
        assert only_error(load, "tab.yaml") == (
            "tab.yaml:2:1: a tab character in the indentation "
            "(YAML indents with spaces only: replace the tab with spaces)"
        )

    def test_bad_explicit_tag_value(self, workdir):
        write("t.yaml", "a: !!int abc\n")
        assert only_error(load, "t.yaml") == "t.yaml:1:4: cannot read 'abc' as an integer"

    @pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n"])
    def test_empty_file(self, workdir, text):
        Path("e.yaml").write_text(text)
        assert only_error(load, "e.yaml") == "e.yaml:1:1: file is empty (expected a mapping of sections)"

    def test_missing_file(self, workdir):
        assert only_error(load, "nowhere.yaml") == "nowhere.yaml: no such file"

    def test_directory(self, workdir):
        Path("sub").mkdir()
        assert only_error(load, "sub") == "sub: is a directory, not a YAML file"

    @pytest.mark.parametrize(
        ("text", "kind"), [("- 1\n- 2\n", "a list"), ("\n  hello\n", "a string"), ("3\n", "an integer")]
    )
    def test_top_level_must_be_mapping(self, workdir, text, kind):
        Path("top.yaml").write_text(text)
        line = only_error(load, "top.yaml")
        assert line.startswith("top.yaml:")
        assert line.endswith(f"top level must be a mapping of sections (key: value lines), not {kind}")
        assert only_error(load, write("l.yaml", "- 1\n")).startswith("l.yaml:1:1: ")

    def test_second_document(self, workdir):
        write("m.yaml", "a: 1\n---\nb: 2\n")
        assert only_error(load, "m.yaml") == (
            "m.yaml:2:1: a pipeline file holds a single YAML document (found a second '---')"
        )

    def test_not_utf8(self, workdir):
        Path("b.yaml").write_bytes(b"a: 1\nb: \xff\n")
        assert only_error(load, "b.yaml") == "b.yaml:2:4: not UTF-8 text (invalid byte 0xff)"

    def test_forbidden_character(self, workdir):
        Path("c.yaml").write_text("a: 1\nb: x\x07y\n")
        assert only_error(load, "c.yaml").startswith("c.yaml:2:5: character '\\x07' (U+0007) is not allowed")

    def test_non_scalar_key(self, workdir):
        write("k.yaml", "? [a, b]\n: 1\n")
        assert only_error(load, "k.yaml") == "k.yaml:1:3: a mapping key must be a plain scalar, not a list"


class TestSuggest:
    def test_close_match(self):
        assert suggest("dens", ["dense", "dropout", "conv2d"]) == "dense"

    def test_case_only(self):
        assert suggest("Dense", ["dense", "dropout"]) == "dense"

    def test_nothing_close(self):
        assert suggest("zzz", ["dense", "dropout"]) is None
        assert suggest("dense", []) is None

    def test_ignores_non_strings(self):
        assert suggest("lr", [1, None, "lr_"]) == "lr_"


# ------------------------------------------------------------------------------------------ extends
class TestExtends:
    BASE = """\
        model:
          hidden: 64
          layers: [1, 2, 3]
          act: relu
        train:
          epochs: 10
          lr: 1e-3
        """

    def test_deep_merge_and_locations(self, workdir):
        write("base.yaml", self.BASE)
        write(
            "child.yaml",
            """\
            extends: base.yaml
            model:
              layers: [9]
            train:
              epochs: 3
            """,
        )
        doc = load("child.yaml")
        assert doc.data == {
            "model": {"hidden": 64, "layers": [9], "act": "relu"},
            "train": {"epochs": 3, "lr": 1e-3},
        }
        assert "extends" not in doc.data
        assert where(doc.locate(("model", "hidden"))) == ("base.yaml", 2, 3)
        assert where(doc.locate(("train", "lr"))) == ("base.yaml", 7, 3)
        assert where(doc.locate(("model", "layers"))) == ("child.yaml", 3, 3)
        assert where(doc.locate(("model", "layers", 0))) == ("child.yaml", 3, 12)
        assert where(doc.locate(("train", "epochs"))) == ("child.yaml", 5, 3)
        # a replaced list leaves no stale positions behind: item 2 falls back to the child's key
        assert where(doc.locate(("model", "layers", 2))) == ("child.yaml", 3, 3)
        assert set(doc.sources) == {"child.yaml", "base.yaml"}

    def test_chained_extends_in_other_folders(self, workdir):
        write("bases/root.yaml", "model: {hidden: 8, act: relu}\ntrain: {epochs: 1}\n")
        write("bases/mid.yaml", "extends: root.yaml\nmodel:\n  hidden: 16\n")
        write("exp/leaf.yaml", "extends: ../bases/mid.yaml\ntrain:\n  epochs: 5\n")
        doc = load("exp/leaf.yaml")
        assert doc.data == {"model": {"hidden": 16, "act": "relu"}, "train": {"epochs": 5}}
        assert where(doc.locate(("model", "act"))) == ("bases/root.yaml", 1, 20)
        assert where(doc.locate(("model", "hidden"))) == ("bases/mid.yaml", 3, 3)
        assert where(doc.locate(("train", "epochs"))) == ("exp/leaf.yaml", 3, 3)

    def test_list_of_bases_later_wins(self, workdir):
        write("a.yaml", "x: 1\ny: 1\n")
        write("b.yaml", "y: 2\nz: 2\n")
        write("c.yaml", "extends: [a.yaml, b.yaml]\nz: 3\n")
        assert load("c.yaml").data == {"x": 1, "y": 2, "z": 3}

    def test_cycle(self, workdir):
        write("one.yaml", "extends: two.yaml\na: 1\n")
        write("two.yaml", "b: 2\nextends: one.yaml\n")
        assert only_error(load, "one.yaml") == "two.yaml:2:10: 'extends' cycle: one.yaml -> two.yaml -> one.yaml"

    def test_self_extends(self, workdir):
        write("me.yaml", "extends: me.yaml\n")
        assert only_error(load, "me.yaml") == "me.yaml:1:10: 'extends' cycle: me.yaml -> me.yaml"

    def test_missing_base(self, workdir):
        write("child.yaml", "model:\n  hidden: 3\nextends: base.yaml\n")
        assert only_error(load, "child.yaml") == (
            "child.yaml:3:10: base file 'base.yaml' not found (looked for base.yaml)"
        )

    def test_bad_extends_value(self, workdir):
        write("child.yaml", "extends: {a: 1}\nb: 2\n")
        assert only_error(load, "child.yaml") == (
            "child.yaml:1:10: 'extends' must be a file name or a list of file names, not a mapping"
        )

    def test_errors_in_base_cite_the_base_and_child_errors_come_too(self, workdir):
        write("base.yaml", "model:\n  hidden: 1\n  hidden: 2\n")
        write("child.yaml", "extends: base.yaml\ntrain: 1\ntrain: 2\n")
        assert errors_of(load, "child.yaml") == [
            "child.yaml:3:1: duplicate key 'train' (first defined at line 2) (a mapping holds each key once)",
            "base.yaml:3:3: duplicate key 'hidden' (first defined at line 2) (a mapping holds each key once)",
        ]

    def test_inherited_key_error_cites_base(self, workdir):
        write("base.yaml", self.BASE)
        write("child.yaml", "extends: base.yaml\nmodel:\n  hidden: 32\n")
        doc = load("child.yaml")
        assert str(doc.issue(("model", "act"), "unknown activation")) == "base.yaml:4:3: unknown activation"
        assert str(doc.issue(("model", "hidden"), "too small")) == "child.yaml:3:3: too small"


# ------------------------------------------------------------------------------------------ interpolation
class TestInterpolation:
    def resolve(self, text: str) -> dict:
        return interpolate(load(write("i.yaml", text))).data

    def test_whole_value_keeps_type(self, workdir):
        data = self.resolve(
            "model:\n  hidden: 64\nhead:\n  units: ${model.hidden}\n  rate: '${train.lr}'\ntrain: {lr: 1e-3}\n"
        )
        assert data["head"]["units"] == 64 and type(data["head"]["units"]) is int
        assert data["head"]["rate"] == 1e-3

    def test_whole_value_copies_containers(self, workdir):
        data = self.resolve("a:\n  layers: [{units: 3}, {units: 4}]\nb: ${a.layers}\nc: ${a.layers[1]}\n")
        assert data["b"] == [{"units": 3}, {"units": 4}]
        assert data["c"] == {"units": 4}
        data["b"][0]["units"] = 99
        assert data["a"]["layers"][0]["units"] == 3

    def test_embedded_formats_into_text(self, workdir):
        data = self.resolve(
            "train: {epochs: 10, lr: 0.5, on: true, none: null}\n"
            "name: run-${train.epochs}-lr${train.lr}-${train.on}-${train.none}\n"
        )
        assert data["name"] == "run-10-lr0.5-true-null"

    def test_nested_references(self, workdir):
        data = self.resolve("a: ${b}\nb: ${c.x}\nc: {x: 5}\nd: ${e.y}\ne: ${c2}\nc2: {y: 'ok-${b}'}\n")
        assert data["a"] == 5 and data["b"] == 5
        assert data["d"] == "ok-5"
        assert data["e"] == {"y": "ok-5"}

    def test_reference_inside_lists(self, workdir):
        data = self.resolve("w: 3\nlayers: ['${w}', '${w}x', {n: '${w}'}]\n")
        assert data["layers"] == [3, "3x", {"n": 3}]

    def test_escape(self, workdir):
        assert self.resolve("a: cost $${HOME} and ${b}\nb: 1\n")["a"] == "cost ${HOME} and 1"

    def test_unknown_reference_with_suggestion(self, workdir):
        write("u.yaml", "model:\n  hidden: 64\nhead:\n  units: ${model.hiden}\n")
        assert only_error(lambda: interpolate(load("u.yaml"))) == (
            "u.yaml:4:10: unknown reference '${model.hiden}': no key 'hiden' in 'model' (did you mean 'model.hidden'?)"
        )

    def test_unknown_top_level_and_index(self, workdir):
        write("u.yaml", "model:\n  layers: [1]\na: ${modl.layers}\nb: ${model.layers.3}\nc: ${model.layers.0.x}\n")
        assert errors_of(lambda: interpolate(load("u.yaml"))) == [
            "u.yaml:3:4: unknown reference '${modl.layers}': no key 'modl' at the top level (did you mean 'model'?)",
            "u.yaml:4:4: unknown reference '${model.layers.3}': index 3 is out of range, 'model.layers' has 1 item",
            "u.yaml:5:4: unknown reference '${model.layers.0.x}': 'model.layers.0' is an integer, it has no 'x'",
        ]

    def test_error_reported_once_where_it_is(self, workdir):
        write("u.yaml", "a: ${b}\nb: ${nope}\n")
        assert only_error(lambda: interpolate(load("u.yaml"))).startswith("u.yaml:2:4: unknown reference '${nope}'")

    def test_cycle(self, workdir):
        write("c.yaml", "a:\n  x: ${b.y}\nb:\n  y: pre-${a.x}\nok: 1\n")
        assert only_error(lambda: interpolate(load("c.yaml"))) == "c.yaml:2:6: reference cycle: a.x -> b.y -> a.x"

    def test_self_containing_reference(self, workdir):
        write("c.yaml", "a:\n  x: 1\n  me: ${a}\n")
        assert only_error(lambda: interpolate(load("c.yaml"))) == "c.yaml:3:7: reference cycle: a.me -> a.me"

    def test_sibling_reference_is_not_a_cycle(self, workdir):
        assert self.resolve("a:\n  x: 1\n  y: ${a.x}\n")["a"] == {"x": 1, "y": 1}

    def test_cannot_embed_a_mapping(self, workdir):
        write("c.yaml", "a: {x: 1}\nb: see ${a}\n")
        assert only_error(lambda: interpolate(load("c.yaml"))) == (
            "c.yaml:2:4: cannot embed '${a}' (a mapping) in text; make the reference the whole value"
        )

    def test_unclosed_reference(self, workdir):
        write("c.yaml", "a: ${b\n")
        assert only_error(lambda: interpolate(load("c.yaml"))) == "c.yaml:1:4: unclosed '${' in '${b'"

    def test_unquoted_reference_in_flow_collection_gets_a_hint(self, workdir):
        write("f.yaml", "w: 3\nlayers: [${w}]\n")
        line = only_error(load, "f.yaml")
        assert line.startswith("f.yaml:2:11: expected ',' or ']', but got '{'")
        assert line.endswith("(quote values holding ${...} references inside [ ] or { })")

    def test_error_in_overridden_value_cites_the_override(self, workdir):
        write("o.yaml", "model: {hidden: 4}\n")
        assert only_error(load_config, "o.yaml", ["name=net-${model.hiddn}"]) == (
            "--set name=net-${model.hiddn}: unknown reference '${model.hiddn}': no key 'hiddn' in 'model' "
            "(did you mean 'model.hidden'?)"
        )

    def test_error_in_inherited_value_cites_base(self, workdir):
        write("base.yaml", "x: 1\nname: n-${missing}\n")
        write("child.yaml", "extends: base.yaml\ny: 2\n")
        assert only_error(lambda: interpolate(load("child.yaml"))).startswith(
            "base.yaml:2:7: unknown reference '${missing}'"
        )


# ------------------------------------------------------------------------------------------ overrides
class TestOverrides:
    CONFIG = """\
        train:
          epochs: 10
        optimizer:
          adam: {lr: 0.001}
        data:
          split: {train: 0.7, test: 0.3}
        model:
          layers:
            - dense: {units: 16}
            - dense: {units: 4}
        """

    def test_typed_values(self, workdir):
        doc = load(write("o.yaml", self.CONFIG))
        new = apply_overrides(
            doc,
            ["train.epochs=3", "optimizer.adam.lr=1e-2", "data.split.train=0.8", "model.layers.0.dense.units=32"],
        )
        assert new.data["train"]["epochs"] == 3 and type(new.data["train"]["epochs"]) is int
        assert new.data["optimizer"]["adam"]["lr"] == 0.01
        assert new.data["data"]["split"] == {"train": 0.8, "test": 0.3}
        assert new.data["model"]["layers"][0] == {"dense": {"units": 32}}
        assert doc.data["train"]["epochs"] == 10  # the original is untouched

    def test_values_read_as_yaml(self, workdir):
        doc = load(write("o.yaml", self.CONFIG))
        new = apply_overrides(
            doc, ["a=[1, 2]", "b={x: 1}", "c=on", "d=true", "e=null", "f=hello world", "g=x=y", "h=#1", "i="]
        )
        assert new.data["a"] == [1, 2]
        assert new.data["b"] == {"x": 1}
        assert new.data["c"] == "on"
        assert new.data["d"] is True
        assert new.data["e"] is None and new.data["i"] is None
        assert new.data["f"] == "hello world"
        assert new.data["g"] == "x=y"
        assert new.data["h"] == "#1"

    def test_new_keys_and_locations(self, workdir):
        doc = load(write("o.yaml", self.CONFIG))
        new = apply_overrides(doc, ["scheduler.cosine.warmup=5", "model.layers[1].dense.units=8", "train.epochs=2"])
        assert new.data["scheduler"] == {"cosine": {"warmup": 5}}
        assert new.data["model"]["layers"][1]["dense"]["units"] == 8
        assert str(new.locate(("scheduler", "cosine", "warmup"))) == "--set scheduler.cosine.warmup=5"
        assert str(new.locate(("scheduler",))) == "--set scheduler.cosine.warmup=5"
        assert str(new.locate(("model", "layers", 1, "dense", "units"))) == "--set model.layers[1].dense.units=8"
        assert str(new.locate(("train", "epochs"))) == "--set train.epochs=2"
        assert where(new.locate(("model", "layers", 1, "dense"))) == ("o.yaml", 10, 7)
        assert where(new.locate(("train",))) == ("o.yaml", 1, 1)

    def test_replacing_a_subtree_drops_its_old_positions(self, workdir):
        doc = load(write("o.yaml", self.CONFIG))
        new = apply_overrides(doc, ["model.layers=[{dense: {units: 1}}]"])
        assert new.data["model"]["layers"] == [{"dense": {"units": 1}}]
        assert str(new.locate(("model", "layers", 0, "dense", "units"))) == "--set model.layers=[{dense: {units: 1}}]"

    def test_malformed_overrides_all_reported(self, workdir):
        doc = load(write("o.yaml", self.CONFIG))
        assert errors_of(apply_overrides, doc, ["train.epochs", "=3", "a..b=1", "x=[1,"]) == [
            "--set train.epochs: expected KEY=VALUE",
            "--set =3: empty key before '='",
            "--set a..b=1: empty segment in key 'a..b'",
            "--set x=[1,: cannot read the value: expected the node content, but found '<stream end>' "
            "(while parsing a flow node)",
        ]

    def test_index_errors(self, workdir):
        doc = load(write("o.yaml", self.CONFIG))
        assert errors_of(
            apply_overrides, doc, ["model.layers.5.dense.units=1", "train.epochs.0=1", "model.layers.first=1"]
        ) == [
            "--set model.layers.5.dense.units=1: index 5 is out of range: 'model.layers' has 2 items",
            "--set train.epochs.0=1: 'train.epochs' is an integer, not a mapping or a list; cannot set '0' in it",
            "--set model.layers.first=1: 'model.layers' is a list; expected an index, got 'first'",
        ]

    def test_order_load_overrides_interpolation(self, workdir):
        write("base.yaml", "model:\n  hidden: 64\n")
        write("run.yaml", "extends: base.yaml\nhead:\n  units: ${model.hidden}\n")
        doc = load_config("run.yaml", ["model.hidden=128"])
        assert doc.data == {"model": {"hidden": 128}, "head": {"units": 128}}
        raw = load_config("run.yaml", resolve=False)
        assert raw.data["head"]["units"] == "${model.hidden}"


# ------------------------------------------------------------------------------------------ dump
class TestDump:
    def test_block_style_round_trip(self, workdir):
        doc = load(write("p.yaml", PIPELINE))
        text = dump(doc.data)
        assert "{" not in text and "[" not in text
        assert text.startswith("model:\n  hidden: 64\n  layers:\n    - dense:\n        units: 32\n")
        Path("back.yaml").write_text(text)
        assert load("back.yaml").data == doc.data

    @pytest.mark.parametrize(
        "value",
        [
            "1e-3",
            "on",
            "yes",
            "y",
            "N",
            "2024-01-01",
            "12:30",
            "1_000",
            "${a.b}",
            "",
            " x",
            "a: b",
            "# c",
            "-",
            "<<",
            "null",
            "~",
            "True",
            ".5",
            "0x10",
            "multi\nline\n",
            "trailing\n\n",
            "tab\tin",
            1e-5,
            1e300,
            -0.0,
            math.inf,
            10**30,
            True,
            None,
            [],
            {},
        ],
    )
    def test_tricky_scalars_round_trip(self, value):
        data = {"k": value, str(value): [value]}
        assert cfg.loader.parse_value(dump(data)) == data

    def test_strings_that_look_typed_are_quoted(self):
        text = dump({"a": "1e-3", "b": "on", "c": 1e-3})
        assert text == "a: '1e-3'\nb: 'on'\nc: 0.001\n"


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
    | st.sampled_from(["1e-3", "on", "off", "yes", "~", "null", "1_000", "${x.y}", "<<", "- a", "a: b", " ", "\n"])
)
_keys = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8) | st.sampled_from(["1", "true", "on", "<<"])
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=16,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=5))
def test_dump_load_round_trip(data):
    assert parse_value(dump(data)) == data


def test_package_imports_neither_numpy_nor_pydantic():
    folder = Path(cfg.__file__).parent
    for source in folder.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in {"numpy", "pydantic", "cupy"}, (source.name, name)
