"""A trained model (and its fitted input transforms) as one exported program.

    program = export_program(model, pipeline)          # raw inputs → transforms → layers → output
    description = describe(program, output="argmax", threshold=0.0, classes=["a", "b"])

Every layer and transform appends its own inference ops (``export``); nothing here knows a
layer or transform by name.
"""

from __future__ import annotations

from typing import Any

from mathflow.errors import MathflowError
from mathflow.export.program import Program, ProgramBuilder
from mathflow.export.runtime import MODEL_FORMAT


def export_program(model: Any, pipeline: Any = None, *, input_shape: Any = None) -> Program:
    """The program of ``pipeline``'s feature transforms (when given and fitted) followed by
    ``model`` (a built layer, ``Sequential`` or ``GraphModel``) in evaluation mode."""
    transforms = [t for t in (pipeline.transforms if pipeline is not None else []) if not t.target]
    if input_shape is None:
        input_shape = pipeline.input_shape if transforms else model.input_shape
    if input_shape is None:
        raise MathflowError("export: the model is not built yet", suggestion="call model.build(input_shape) first")
    builder = ProgramBuilder(input_shape)
    x = builder.input
    for index, transform in enumerate(transforms):
        with builder.scope(f"transform_{index}"):
            x = transform.export(builder, x)
    model.eval()
    x = model.export(builder, x)
    return builder.finish(x)


def describe(
    program: Program, *, output: str = "identity", threshold: float | None = None, classes: Any = None
) -> dict:
    """``model.json`` of the NumPy pyfunc: the program and how its result is post-processed."""
    description: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "program": program.to_data(),
        "output": output,
        "dtype": program.dtype,
    }
    if threshold is not None:
        description["threshold"] = float(threshold)
    if classes:
        description["classes"] = list(classes)
    return description
