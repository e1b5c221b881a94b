"""Recording a forward pass as a straight-line inference program.

While a :class:`Tracer` is active, every :class:`~mathflow.autodiff.function.Function` that is
called on a traced value appends its inference form to a program builder (its ``infer``), so a
model's inference program is the record of its own forward pass: the maths is written once.
A value that does not depend on the traced input (a parameter, a running statistic, anything
computed from them alone) is not recorded: it enters the program as a constant the first time a
recorded op reads it.

    with Tracer(builder, constant_names={id(p): name for name, p in model.named_parameters()}) as tracer:
        tracer.bind(sample, builder.input)
        y = model(sample)
    output = tracer.name(y)

The builder is duck-typed (``op``, ``constant``, ``scalar``, ``scope``: see
:class:`mathflow.export.ProgramBuilder`), so the engine does not depend on the export package.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from mathflow.backend import to_numpy
from mathflow.errors import MathflowError

#: The tracer recording now, if any (a list, so that the hot path tests it with one truth test).
ACTIVE: list[Tracer] = []


def active() -> Tracer | None:
    """The tracer recording now, or None."""
    return ACTIVE[-1] if ACTIVE else None


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Run a block without recording (a layer that writes its own inference form)."""
    saved = ACTIVE[:]
    ACTIVE.clear()
    try:
        yield
    finally:
        ACTIVE[:] = saved


class Tracer:
    """Maps traced tensors to program value names and records the Functions applied to them."""

    def __init__(
        self,
        builder: Any,
        constant_names: Mapping[int, str] | None = None,
        scopes: Mapping[int, str] | None = None,
    ):
        self.builder = builder
        self._constant_names = dict(constant_names or {})
        self._scopes = dict(scopes or {})
        # id → (tensor, name): the tensor is kept so that its id is not reused while tracing
        self._values: dict[int, tuple[Any, str]] = {}

    def __enter__(self) -> Tracer:
        if ACTIVE:
            raise MathflowError("a trace is already being recorded")
        ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        ACTIVE.remove(self)

    # ------------------------------------------------------------------ values
    def bind(self, tensor: Any, name: str) -> None:
        """Let ``tensor`` stand for the program value ``name``."""
        self._values[id(tensor)] = (tensor, name)

    def traced(self, tensor: Any) -> bool:
        """Whether ``tensor`` depends on the traced input (is a value of the program, not a constant)."""
        entry = self._values.get(id(tensor))
        return entry is not None and entry[0] is tensor

    def name(self, tensor: Any) -> str:
        """The program value of ``tensor``: its recorded name, or a new constant holding its data."""
        entry = self._values.get(id(tensor))
        if entry is not None and entry[0] is tensor:
            return entry[1]
        data = to_numpy(tensor.data)
        if data.ndim == 0:
            name = self.builder.scalar(float(data))
        else:
            hint = self._constant_names.get(id(tensor)) or self._constant_names.get(id(tensor.data)) or "constant"
            name = self.builder.constant(hint, data)
        self.bind(tensor, name)
        return name

    # ------------------------------------------------------------------ recording
    def record(self, function: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        """Append ``function``'s inference ops when one of its ``inputs`` is traced (else its
        outputs are constants, folded at trace time)."""
        if not any(self.traced(t) for t in inputs):
            return
        names = function.infer(self.builder, *(self.name(t) for t in inputs))
        for tensor, name in zip(outputs, names if isinstance(names, tuple) else (names,)):
            self.bind(tensor, name)

    @contextlib.contextmanager
    def scope(self, layer: Any) -> Iterator[None]:
        """Names made inside ``layer`` get its key in the model as a prefix (when it has one)."""
        key = self._scopes.get(id(layer))
        if key is None:
            yield
            return
        with self.builder.scope(key):
            yield
