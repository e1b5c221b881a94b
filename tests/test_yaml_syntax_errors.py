"""YAML syntax errors are explained in plain words at the place to fix, with a hint, never in
PyYAML's parser terms ("mapping values are not allowed here", "<block mapping start>")."""

from __future__ import annotations

from pathlib import Path

import pytest

from mathflow.config import ConfigError, load_config

PARSER_WORDS = ("<block", "while parsing", "while scanning", "not allowed here", "expected <", "simple key")

IRIS = (Path(__file__).resolve().parents[1] / "pipelines" / "iris.yaml").read_text(encoding="utf-8")


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert len(info.value.issues) == 1, info.value.format()
    line = info.value.format().replace(str(path), "p.yaml")
    assert not any(word in line for word in PARSER_WORDS), line
    return line


def _iris(old: str, new: str) -> str:
    """iris.yaml with one mistake made in it."""
    assert IRIS.count(old) == 1, old
    return IRIS.replace(old, new)


CASES = {
    "indented more than the key above": (
        _iris("  batch_size: 16\n", "    batch_size: 16\n"),
        "p.yaml:20:5: the line is indented more than the key above it, 'epochs' on line 19, which already has "
        "a value (YAML uses indentation to nest: start the line in column 3 to make it a sibling, "
        "or put it under a key that ends with ':')",
    ),
    "indented to no column above": (
        "data:\n    source: iris\n  split: {train: 0.8, test: 0.2}\n",
        "p.yaml:3:3: the line starts in column 3, which lines up with no key or list item above it "
        "(YAML uses indentation to nest: the keys of a mapping, and the items of a list, start in one column, "
        "here column 1 or 5)",
    ),
    "first line indented": (
        "  name: a\nseed: 1\n",
        "p.yaml:2:1: the line is indented less than the first line of the file "
        "(YAML uses indentation to nest: top-level keys start in column 1)",
    ),
    "tab in the indentation": (
        _iris("  batch_size: 16\n", "\tbatch_size: 16\n"),
        "p.yaml:20:1: a tab character in the indentation (YAML indents with spaces only: replace the tab with spaces)",
    ),
    "tab after a colon": (
        "name: a\nseed:\t1\n",
        "p.yaml:2:6: a tab character where YAML expects spaces "
        "(YAML separates with spaces only: replace the tab with a space)",
    ),
    "unclosed double quote": (
        _iris("name: iris-mlp\n", 'name: "iris-mlp\n'),
        'p.yaml:3:7: the quote " opened here is never closed (end the text with a matching ")',
    ),
    "unclosed single quote": (
        "name: 'iris\nseed: 1\n",
        "p.yaml:1:7: the quote ' opened here is never closed (end the text with a matching ')",
    ),
    "text after a closing quote": (
        "name: 'iris' mlp\n",
        "p.yaml:1:14: text after the closing quote of a value (put the whole value inside the quotes)",
    ),
    "unknown escape": (
        'name: "a\\qb"\n',
        "p.yaml:1:9: unknown escape '\\q' in a double-quoted string "
        "(write \\\\ for a backslash, or use single quotes, which keep backslashes as written)",
    ),
    "unclosed bracket": (
        _iris("metrics: [accuracy]\n", "metrics: [accuracy\n"),
        "p.yaml:22:10: the '[' opened here is never closed "
        "(end the list with ']'; it may go on over several lines, but must be closed)",
    ),
    "unclosed brace": (
        _iris("  sgd: {lr: 0.05, momentum: 0.9}\n", "  sgd: {lr: 0.05, momentum: 0.9\n"),
        "p.yaml:17:8: the '{' opened here is never closed "
        "(end the mapping with '}'; it may go on over several lines, but must be closed)",
    ),
    "bracket closed by a brace": (
        "metrics: [accuracy}\n",
        "p.yaml:1:19: the list opened by '[' at line 1 is closed by '}' "
        "(close a list with ']' and a mapping with '}'; this one needs ']')",
    ),
    "missing comma": (
        "metrics: [{top_k: {k: 2}} {f1: {average: micro}}]\n",
        "p.yaml:1:27: a ',' is missing between two items of the list opened at column 10 "
        "(separate the items with ', ')",
    ),
    "stray closing bracket": (
        "metrics: [accuracy]]\n",
        "p.yaml:1:20: a ']' with no '[' open (remove it, or add the '[')",
    ),
    "missing colon": (
        _iris("seed: 0\n", "seed 0\n"),
        "p.yaml:5:1: 'seed 0' is not 'key: value': the ':' after the key is missing "
        "(write 'key: value', or '- item' for a list item)",
    ),
    "missing colon before a block": (
        _iris("data:\n", "data\n"),
        "p.yaml:6:1: 'data' is not 'key: value': the ':' after the key is missing "
        "(write 'key: value', or '- item' for a list item)",
    ),
    "missing space after the colon": (
        _iris("seed: 0\n", "seed:0\n"),
        "p.yaml:5:1: 'seed:0' has no space after its ':' (write 'seed: 0'; a key's ':' must be followed by a space)",
    ),
    "colon inside a value": (
        _iris("description: one hidden", "description: note: one hidden"),
        "p.yaml:4:18: the value of 'description' holds ': ', which YAML reads as another key "
        "(put the value in quotes: description: \"note: one hidden tanh layer on Fisher's iris, "
        'trained by SGD with momentum")',
    ),
    "list item inside a mapping": (
        "data:\n  source: iris\n  - standardize\n",
        "p.yaml:3:3: a list item ('- ') in the middle of a mapping "
        "(a list goes under a key of its own that ends with ':', its items indented below it)",
    ),
    "duplicate key": (
        _iris("seed: 0\n", "seed: 0\nseed: 1\n"),
        "p.yaml:6:1: duplicate key 'seed' (first defined at line 5) (a mapping holds each key once)",
    ),
    "undefined alias": (
        "name: *base\n",
        "p.yaml:1:7: '*base' refers to no anchor: no '&base' is defined above it "
        "(define it first as 'key: &base value', or quote a value that starts with '*')",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_syntax_error_is_explained(tmp_path, case):
    text, expected = CASES[case]
    assert _error(tmp_path, text) == expected


def test_unrecognised_errors_keep_the_parser_words_with_a_hint(tmp_path):
    from mathflow.config.yaml_errors import explain

    class Mark:
        line, column = 0, 3

    class Odd:
        problem, context, problem_mark, context_mark = "something new", None, Mark(), None

    issue = explain(Odd(), "p.yaml", "abc: 1\n")
    assert str(issue) == "p.yaml:1:4: something new (a YAML syntax error: check the indentation, quotes and brackets)"
