"""The inference program of a model and the builder layers export themselves through.

A :class:`Program` is a straight-line list of primitive ops (see :mod:`mathflow.export.runtime` for the
op set) over one input named ``"input"`` and named constant arrays. Layers append their ops with
:meth:`ProgramBuilder.op` and register their parameters with :meth:`ProgramBuilder.constant`, inside
a :meth:`ProgramBuilder.scope` that gives the names a readable prefix::

    builder = ProgramBuilder(input_shape=[4])
    with builder.scope("dense_1"):
        w = builder.constant("weight", weight)          # "dense_1.weight"
        h = builder.op("MatMul", builder.input, w)      # "dense_1/matmul_1"
        h = builder.op("Relu", h)                       # "dense_1/relu_1"
    program = builder.finish(h)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mathflow.errors import MathflowError
from mathflow.export import runtime

PROGRAM_FORMAT = runtime.PROGRAM_FORMAT


def _plain(value: Any) -> Any:
    """An attribute value as plain JSON-able Python: tuples → lists, NumPy scalars/arrays → numbers/lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _node_copy(node: Mapping[str, Any]) -> dict[str, Any]:
    """A node as a fresh ``{"op", "inputs", "output", "attrs"}`` dict."""
    return {
        "op": str(node["op"]),
        "inputs": list(node.get("inputs") or []),
        "output": str(node["output"]),
        "attrs": dict(node.get("attrs") or {}),
    }


@dataclass
class Program:
    """Straight-line ops over the input ``"input"`` (batch axis 0 plus ``input_shape``) and ``constants``."""

    input_shape: list[int]
    nodes: list[dict]
    output: str
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    dtype: str = "float32"

    def to_data(self) -> dict[str, Any]:
        """The program as JSON-able data, without the constant arrays (only their sorted names)."""
        return {
            "format": PROGRAM_FORMAT,
            "input": runtime.INPUT_NAME,
            "input_shape": [int(d) for d in self.input_shape],
            "nodes": [_plain(dict(node)) for node in self.nodes],
            "output": self.output,
            "dtype": self.dtype,
            "constants": sorted(self.constants),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], constants: Mapping[str, Any]) -> Program:
        """The program described by ``data`` (:meth:`to_data`'s output) over ``constants``, checked."""
        arrays = {str(k): np.asarray(v) for k, v in constants.items()}
        try:
            runtime.check_program(data, arrays)
        except runtime.ProgramError as exc:
            raise MathflowError(f"invalid program: {exc}") from exc
        nodes = [_node_copy(n) for n in data["nodes"]]
        return cls(
            input_shape=[int(d) for d in data["input_shape"]],
            nodes=nodes,
            output=str(data["output"]),
            constants=arrays,
            dtype=str(data.get("dtype", "float32")),
        )

    def run(self, x: np.ndarray) -> np.ndarray:
        """The program applied to the batch ``x`` by the NumPy runtime."""
        return runtime.run_program(self.to_data(), self.constants, x)


class ProgramBuilder:
    """Collects ops and constants into a :class:`Program`, checking each op as it is added."""

    def __init__(self, input_shape: Sequence[int], dtype: str = "float32") -> None:
        self.input_shape = [int(d) for d in input_shape]
        self.dtype = str(np.dtype(dtype))
        self.input = runtime.INPUT_NAME
        self._nodes: list[dict[str, Any]] = []
        self._constants: dict[str, np.ndarray] = {}
        self._names: set[str] = {self.input}
        self._scopes: list[str] = []
        self._counts: dict[str, int] = {}

    @property
    def prefix(self) -> str:
        """The current scope: the open scopes joined with "." ("" at top level)."""
        return ".".join(self._scopes)

    @contextmanager
    def scope(self, prefix: str) -> Iterator[str]:
        """Names made inside get ``prefix`` (nested scopes join with "."); yields the full scope."""
        if not prefix or "/" in prefix:
            raise MathflowError(f"a scope must be a non-empty name without '/', got {prefix!r}")
        self._scopes.append(str(prefix))
        try:
            yield self.prefix
        finally:
            self._scopes.pop()

    def _unique(self, base: str, separator: str, start: int | None) -> str:
        """``base`` itself when ``start`` is None and it is free, else ``base<separator><n>`` for the first free n."""
        if start is None and base not in self._names:
            return base
        n = self._counts.get(base, start or 2)
        while f"{base}{separator}{n}" in self._names:
            n += 1
        self._counts[base] = n + 1
        return f"{base}{separator}{n}"

    def constant(self, hint: str, array: Any) -> str:
        """Register ``array`` (cast to the program dtype unless it holds integers) as "<scope>.<hint>"
        (made unique with a "_<n>" suffix); returns the name."""
        value = np.asarray(array)
        value = value if value.dtype.kind in "iu" else value.astype(self.dtype)
        base = f"{self.prefix}.{hint}" if self.prefix else str(hint)
        name = self._unique(base, "_", None)
        self._constants[name] = value
        self._names.add(name)
        return name

    def scalar(self, value: float) -> str:
        """A 0-d constant holding ``value`` (one per distinct value and program)."""
        name = f"scalar.{float(value)!r}"
        if name not in self._constants:
            self._constants[name] = np.asarray(value, dtype=self.dtype)
            self._names.add(name)
        return name

    def _check_op(self, op: str, inputs: Sequence[str], attrs: Mapping[str, Any]) -> None:
        if op not in runtime.OPS:
            raise MathflowError(f"unknown op {op!r}", suggestion=f"use one of {', '.join(sorted(runtime.OPS))}")
        for name in inputs:
            if name not in self._names:
                raise MathflowError(
                    f"{op}: unknown input {name!r}",
                    suggestion="pass the program input, a constant or the output of an earlier op",
                )
        unknown = sorted(set(attrs) - runtime.OP_ATTRS[op])
        if unknown:
            accepted = ", ".join(sorted(runtime.OP_ATTRS[op])) or "none"
            raise MathflowError(f"{op}: unknown attribute(s) {unknown}", suggestion=f"accepted: {accepted}")
        missing = sorted(runtime.OP_REQUIRED_ATTRS[op] - set(attrs))
        if missing:
            raise MathflowError(f"{op}: missing attribute(s) {missing}")
        try:
            runtime.check_arity(op, len(inputs), op)
        except runtime.ProgramError as exc:
            raise MathflowError(str(exc)) from exc

    def op(self, op: str, *inputs: str, **attrs: Any) -> str:
        """Append ``op`` applied to ``inputs`` with ``attrs`` (None values dropped); returns its fresh output
        "<scope>/<op lowercase>_<n>"."""
        plain = {k: _plain(v) for k, v in attrs.items() if v is not None}
        self._check_op(op, inputs, plain)
        base = f"{self.prefix}/{op.lower()}" if self.prefix else op.lower()
        output = self._unique(base, "_", 1)
        self._nodes.append({"op": op, "inputs": list(inputs), "output": output, "attrs": plain})
        self._names.add(output)
        return output

    def finish(self, output: str) -> Program:
        """The program computing ``output``, checked by the runtime."""
        if output not in self._names:
            raise MathflowError(f"the program output {output!r} is never computed")
        program = Program(
            input_shape=list(self.input_shape),
            nodes=[dict(node) for node in self._nodes],
            output=output,
            constants=dict(self._constants),
            dtype=self.dtype,
        )
        try:
            runtime.check_program(program.to_data(), program.constants)
        except runtime.ProgramError as exc:
            raise MathflowError(f"invalid program: {exc}") from exc
        return program
