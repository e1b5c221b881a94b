"""A trained model (and its fitted input transforms) as one exported program.

    program = export_program(model, pipeline)          # raw inputs → transforms → layers → output
    description = describe(program, output="argmax", threshold=0.0, classes=["a", "b"])

The transforms append their own inference ops (``export``); the model's ops are recorded from
its own forward pass on a sample batch (:mod:`mathflow.autodiff.trace`), each primitive writing
its inference op, and the recorded program is checked against the forward pass on a batch of
another size. Nothing here knows a layer or transform by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mathflow.autodiff.mode import no_grad
from mathflow.autodiff.tensor import Tensor
from mathflow.autodiff.trace import Tracer
from mathflow.backend import get_backend, to_numpy
from mathflow.errors import MathflowError
from mathflow.export.program import Program, ProgramBuilder
from mathflow.export.runtime import MODEL_FORMAT

#: Rows of the batches the forward pass is recorded on and checked against (two sizes, so that
#: a value that depends on the batch size cannot pass as a constant).
TRACE_ROWS, CHECK_ROWS = 2, 3


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
    features = model.input_shape or (pipeline.output_shape() if transforms else input_shape)
    check_recording(model, features)
    return builder.finish(record_forward(model, features, builder, x))


def _sample(shape: Any, rows: int, seed: int) -> Tensor:
    """A standard-normal batch of ``rows`` samples of per-sample ``shape``, on the current backend."""
    backend = get_backend()
    data = np.random.default_rng(seed).standard_normal((rows, *shape))
    return Tensor._wrap(backend.xp.asarray(data, dtype=backend.dtype))


def _keys(layer: Any) -> Iterator[tuple[int, str]]:
    """(id, key) of every layer below ``layer``: the scopes of the recorded ops."""
    for key, child in layer.named_children():
        yield id(child), key
        yield from _keys(child)


def record_forward(model: Any, shape: Any, builder: ProgramBuilder, x: str) -> str:
    """Append ``model``'s inference ops reading the program value ``x`` (samples of ``shape``): its
    forward pass recorded on a sample batch; the name of the output value."""
    constants = {id(p): name for name, p in model.named_parameters()}
    sample = _sample(shape, TRACE_ROWS, seed=0)
    with no_grad(), Tracer(builder, constants, dict(_keys(model))) as tracer:
        tracer.bind(sample, x)
        output = model(sample)
        return tracer.name(output)


def check_recording(model: Any, shape: Any) -> None:
    """The model's recorded program computes its forward pass on a batch of another size, or a
    MathflowError says that the recording froze a value that depends on the batch."""
    scratch = ProgramBuilder(shape)
    program = scratch.finish(record_forward(model, shape, scratch, scratch.input))
    sample = _sample(shape, CHECK_ROWS, seed=1)
    with no_grad():
        expected = to_numpy(model(sample).data)
    got = program.run(to_numpy(sample.data))
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
        raise MathflowError(
            f"export: the recorded inference program of {type(model).__name__} does not reproduce its "
            "forward pass on a batch of another size (a value that depends on the batch was recorded as a constant)",
            suggestion="compute it with mathflow's functional ops from the input, or give the layer an export method",
        )


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
