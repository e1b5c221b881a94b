"""The pipeline reference (``docs/reference.md``), generated from the schema and the registries.

Every section of a pipeline with its keys (type, default, description) is read from the
section models, every component with its parameters from its config model, and the graph
syntax's example from ``pipelines/residual.yaml``, so the reference cannot drift from the code:
a test regenerates it and compares it with the committed file. ``mathflow docs --out
docs/reference.md`` writes it.
"""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from mathflow.component import Component, SpecModel
from mathflow.component_schema import ComponentSchema
from mathflow.registry import RegistryName, config_names
from mathflow.schema.catalog import _type_label

#: The pipeline whose ``model`` section illustrates the graph syntax.
GRAPH_EXAMPLE = Path(__file__).resolve().parents[2] / "pipelines" / "residual.yaml"

HEADER = """\
# Pipeline reference

<!-- generated from the schema and the component registries by `mathflow docs --out docs/reference.md`;
     do not edit: a test regenerates this file and fails when it differs -->

Every key of a pipeline file and every component it can name. A component is written as a bare
name (`relu`, when its parameters all have defaults), as `{name: {parameters}}` or as
`{type: name, parameters}`; aliases are accepted wherever the name is.
"""


# ------------------------------------------------------------------------------------ values
def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (one line, no bare ``|``)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(info: Any) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, (list, dict)):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def _first_paragraph(model: Any) -> str:
    doc = inspect.cleandoc(model.__doc__ or "")
    return " ".join(doc.split("\n\n")[0].split())


def _component_family(annotation: Any) -> tuple[str, str] | None:
    """(how the field holds components, family) when ``annotation`` holds components, else None."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        for meta in typing.get_args(annotation)[1:]:
            if isinstance(meta, ComponentSchema):
                return "one", meta.family
        return _component_family(typing.get_args(annotation)[0])
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is list and args:
        found = _component_family(args[0])
        return ("list", found[1]) if found else None
    if origin is dict and len(args) == 2:
        found = _component_family(args[1])
        return ("mapping", found[1]) if found else None
    for arg in args:  # Optional[...] and unions
        found = _component_family(arg)
        if found:
            return found
    return None


def _section_model(annotation: Any) -> type[SpecModel] | None:
    """The section model (a SpecModel that is not a component) a field holds, if any."""
    if inspect.isclass(annotation) and issubclass(annotation, SpecModel) and not issubclass(annotation, Component):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_model(arg)
        if found is not None:
            return found
    return None


def _type(info: Any, schema: dict[str, Any]) -> str:
    held = next((("one", m.family) for m in info.metadata if isinstance(m, ComponentSchema)), None)
    held = held or _component_family(info.annotation)
    if held is not None:
        how, family = held
        article = "an" if family[:1] in "aeiou" else "a"
        return {"one": f"{article} {family}", "list": f"list of {family}s", "mapping": f"mapping: name → {family}"}[how]
    section = _section_model(info.annotation)
    if section is not None:
        return "section"
    named = next((str(m.registry.family) for m in info.metadata if isinstance(m, RegistryName)), None)
    named = named or _registry_name(info.annotation)
    if named is not None:
        return f"{named} name"
    return _type_label(schema)


def _registry_name(annotation: Any) -> str | None:
    """The family of a ``RegistryName`` field (``activation``, ``initializer``), if it is one."""
    if typing.get_origin(annotation) is Annotated:
        for meta in typing.get_args(annotation)[1:]:
            if isinstance(meta, RegistryName):
                return str(meta.registry.family)
    for arg in typing.get_args(annotation):
        found = _registry_name(arg)
        if found is not None:
            return found
    return None


# ------------------------------------------------------------------------------------ sections
def _sections(model: type[SpecModel], path: str, out: list[str], seen: set[type]) -> None:
    """The table of ``model``'s keys under the heading ``path``, then its sub-sections."""
    seen.add(model)
    properties = model.model_json_schema(by_alias=True).get("properties", {})
    out += [f"### `{path}`" if path else "### top level", "", _first_paragraph(model), ""]
    out += ["| key | type | default | description |", "|---|---|---|---|"]
    nested: list[tuple[str, type[SpecModel]]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        schema = properties.get(key, {})
        out.append(
            f"| `{key}` | {_cell(_type(info, schema))} | {_cell(_default(info))} | {_cell(info.description or '')} |"
        )
        section = _section_model(info.annotation)
        if section is not None and section not in seen:
            nested.append((f"{path}.{key}" if path else key, section))
    out.append("")
    for sub_path, section in nested:
        _sections(section, sub_path, out, seen)


# ------------------------------------------------------------------------------------ components
def _params(model: type[Component]) -> str:
    properties = model.model_json_schema(by_alias=True).get("properties", {})
    parts = []
    for key, info in model.params().items():
        if key == "name" and model.family == "layer":
            continue  # every layer's optional node name, described once under model.layers
        text = f"`{key}`: {_type(info, properties.get(key, {}))} = {_default(info)}"
        if info.description:
            text += f" ({info.description})"
        parts.append(_cell(text))
    return "<br>".join(parts) or "-"


def _family_table(family: str, registry: Any, out: list[str]) -> None:
    out += [f"### {family}", ""]
    models = registry.config_models()
    if models:
        out += ["| name | aliases | parameters | description |", "|---|---|---|---|"]
        for model in sorted(models, key=lambda m: m.component_name()):
            aliases = ", ".join(f"`{a}`" for a in config_names(model)[1:]) or "-"
            out.append(
                f"| `{model.component_name()}` | {aliases} | {_params(model)} | {_cell(_first_paragraph(model))} |"
            )
    else:
        out += ["| name | aliases | description |", "|---|---|---|"]
        for fn in registry.components():
            aliases = ", ".join(f"`{n}`" for n, f in registry.items() if f is fn and n != fn.registry_name) or "-"
            out.append(f"| `{fn.registry_name}` | {aliases} | {_cell(_first_paragraph(fn))} |")
    out.append("")


def _metric_names(out: list[str]) -> None:
    from mathflow.metrics import METRICS

    out += [
        "### logged metric names",
        "",
        "Each entry of `metrics` is logged per epoch as `train_<name>` and `val_<name>`, and at the end as "
        "`test_<name>`; the name says the parameters, so two entries never share one "
        "(`early_stopping.monitor` uses these names):",
        "",
        "| entry | logged as |",
        "|---|---|",
    ]
    for metric in METRICS.components():
        if metric.higher_is_better is None:
            continue  # not a number: not logged per epoch
        model = metric.config_model
        name = model.component_name()
        out.append(f"| `{name}` | `{model.model_validate({'type': name}).label()}` |")
        if model.example:
            entry = model.model_validate({"type": name, **model.example})
            written = json.dumps(entry.to_data()).replace('"', "")
            out.append(f"| `{written}` | `{entry.label()}` |")
    out.append("")


# ------------------------------------------------------------------------------------ graph syntax
def _model_block(text: str) -> str:
    """The ``model:`` section of a pipeline file, as written."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model:"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "")), len(lines))
    return "\n".join(lines[start:end]).rstrip()


def _graph(out: list[str]) -> None:
    from mathflow.nn.layer import LAYERS

    merges = [f"`{m.component_name()}`" for m in LAYERS.config_models() if getattr(m, "merge", False)]
    example = GRAPH_EXAMPLE.read_text(encoding="utf-8")
    out += [
        "## Graph models (`model.nodes`)",
        "",
        "`model.layers` applies layers one after another. `model.nodes` instead names each node and "
        "says which nodes it reads, which allows skip connections and merges:",
        "",
        "- a node is any layer (in any of the three written forms) plus `inputs:`, the list of the "
        "nodes it reads (a single name may be written without the list);",
        "- `input` is the data;",
        f"- merges read several nodes: {', '.join(merges)}; every other layer reads exactly one;",
        "- `output` names the node whose output is the model's (default: the last node written);",
        "- nodes may be written in any order; a cycle, an unknown input or an unused node is an error "
        "located at the node.",
        "",
        f"`pipelines/{GRAPH_EXAMPLE.name}` (a residual MLP; `mathflow graph pipelines/{GRAPH_EXAMPLE.name}` draws it):",
        "",
        "```yaml",
        _model_block(example),
        "```",
        "",
    ]


# ------------------------------------------------------------------------------------ the page
def reference_markdown() -> str:
    """The text of ``docs/reference.md``."""
    from mathflow.schema.pipeline import PipelineSpec
    from mathflow.schema.pipeline_io import registries

    out = [HEADER, "## Sections", ""]
    _sections(PipelineSpec, "", out, set())
    _graph(out)
    out += ["## Components", ""]
    for family, registry in registries().items():
        _family_table(family, registry, out)
        if family == "metrics":
            _metric_names(out)
    return "\n".join(out).rstrip() + "\n"


def write_reference(path: str | Path) -> Path:
    """Write the reference to ``path`` (folders created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(reference_markdown(), encoding="utf-8")
    return target
