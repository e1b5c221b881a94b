"""What ``validate``, ``show``, ``graph`` and ``schema`` print: a pipeline checked, resolved or drawn,
and the JSON Schema of pipeline files. Nothing here trains or imports MLflow.

``say`` prints one line to standard output and ``say_error`` one to standard error (the command
line passes ``typer.echo``); the other functions return the text to print, ending in a newline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mathflow.errors import MathflowError

Say = Callable[[str], Any]


def validate_files(files: list[str], overrides: list[str], debug: bool, say: Say, say_error: Say) -> int:
    """Check each file in turn, printing its table or its errors (each line naming its file); the exit
    code: 1 if any failed. A single file's errors are raised (as are all errors with ``debug``)."""
    if len(files) == 1:
        validate_file(files[0], overrides, say)
        return 0
    failed = 0
    for file in files:
        try:
            validate_file(file, overrides, say)
        except MathflowError as exc:
            if debug:
                raise
            for line in exc.format().splitlines():  # every line names its file
                say_error(line if line.startswith(f"{file}:") else f"{file}: {line}")
            failed += 1
    say(f"{len(files) - failed} of {len(files)} files valid")
    return 1 if failed else 0


def validate_file(file: str, overrides: list[str], say: Say) -> None:
    """Check one pipeline file and print its layer table (ML, with its sweep plan) or its summary (math)."""
    from mathflow.config.kind import is_math_pipeline

    if is_math_pipeline(file):
        from mathflow.mathpipe import validate_math

        say(validate_math(file, overrides))
        return

    from mathflow.compiler.report import print_graph_table
    from mathflow.pipeline import load_pipeline

    spec, compiled = load_pipeline(file, overrides)
    print_graph_table(file, spec, compiled)
    if spec.sweep is not None:
        from mathflow.sweep import describe_plan, make_plan

        say(describe_plan(make_plan(file, overrides)))


def schema_output(kind: str, output: str | None) -> str:
    """The JSON Schema of ``kind`` (pipeline or math): its text, or with ``output`` written to that file
    and the line that says so."""
    if kind not in ("pipeline", "math"):
        raise MathflowError(f"unknown schema kind {kind!r}", suggestion="use pipeline or math")
    if kind == "math":
        from mathflow.schema.math_pipeline import math_schema_text as schema_text
    else:
        from mathflow.schema import schema_text

    text = schema_text()
    if not output:
        return text
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    return f"wrote {output}\n"


def resolved_yaml(file: str, overrides: list[str]) -> str:
    """The fully resolved pipeline (extends, overrides, references and defaults applied) as YAML."""
    from mathflow.config import dump
    from mathflow.pipeline import load_spec

    spec = load_spec(file, overrides)
    data = spec.to_data()
    if spec.sweep is not None:
        data["sweep"] = spec.sweep.model_dump(mode="json", exclude_none=True)
    return dump(data)


def graph_text(file: str, format: str, overrides: list[str]) -> str:
    """The model graph with per-node output shapes, as Mermaid (``mermaid``) or Graphviz DOT (``dot``)."""
    from mathflow.compiler import to_dot, to_mermaid
    from mathflow.pipeline import load_pipeline

    renderers = {"mermaid": to_mermaid, "dot": to_dot}
    if format not in renderers:
        raise MathflowError(f"unknown graph format {format!r}", suggestion="use mermaid or dot")
    _, compiled = load_pipeline(file, overrides)
    return renderers[format](compiled.graph)
