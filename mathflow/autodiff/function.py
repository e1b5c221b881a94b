"""The node of the computation graph.

A :class:`Function` computes its ``forward`` on raw arrays (numpy or cupy) and its
``backward`` with differentiable Tensor operations, so that the backward pass can itself be
recorded and differentiated again (Hessians, Hessian-vector products). A Function may also
define ``backward_raw`` on raw arrays; the engine uses it when no graph of the backward pass
is wanted, which is the common training case.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from mathflow.autodiff import mode, trace
from mathflow.errors import MathflowError

if TYPE_CHECKING:
    from mathflow.autodiff.tensor import Tensor


class Function:
    """Base class of differentiable operations; subclasses set ``forward`` and ``backward``.

    Calling an instance, ``Exp()(x)``, runs ``forward`` on the inputs' arrays and, when any
    input requires a gradient and recording is on, links the outputs to this node.
    """

    #: Subclasses that override ``backward_raw`` set this to True.
    has_raw_backward: ClassVar[bool] = False
    #: The op of the inference program this Function becomes (:mod:`mathflow.export.runtime`
    #: lists them), with :meth:`inference_attrs`; None when it has no single-op form (see :meth:`infer`).
    inference_op: ClassVar[str | None] = None

    inputs: tuple[Tensor, ...]
    needs_input_grad: tuple[bool, ...]
    generation: int
    _outputs: tuple[Callable[[], Tensor | None], ...]

    def forward(self, *xs: Any) -> Any:
        """Compute the output array(s) from input arrays."""
        raise NotImplementedError

    def backward(self, *grad_outputs: Tensor) -> Tensor | None | tuple[Tensor | None, ...]:
        """Gradients of the inputs from gradients of the outputs, in differentiable ops."""
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def backward_raw(self, *grad_outputs: Any) -> Any:
        """Optional fast path: the same as :meth:`backward`, on raw arrays."""
        raise NotImplementedError

    def inference_attrs(self) -> dict[str, Any]:
        """The attributes of :attr:`inference_op` (none by default)."""
        return {}

    def infer(self, builder: Any, *inputs: str) -> str | tuple[str, ...]:
        """Append this op's inference form to ``builder`` (a :class:`mathflow.export.ProgramBuilder`)
        reading the program values ``inputs``; the names of its outputs. Recorded while a model's
        forward pass is traced (:mod:`mathflow.autodiff.trace`)."""
        if self.inference_op is None:
            raise MathflowError(
                f"{type(self).__name__} has no inference op: a model using it cannot be exported",
                suggestion="give the Function an inference_op or an infer method, or the layer an export method",
            )
        return builder.op(self.inference_op, *inputs, **self.inference_attrs())

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def output(self, index: int = 0) -> Tensor:
        """The ``index``-th output tensor, rebuilt on this node if the caller dropped it."""
        tensor = self._outputs[index]()
        if tensor is None:
            # only a multi-output node can lose an output the engine still needs (one nobody used)
            from mathflow.autodiff.tensor import Tensor

            tensor = Tensor._wrap(self._output_arrays[index], True)
            tensor._ctx = self
            tensor._index = index
            tensor._generation = self.generation + 1
        return tensor

    def __call__(self, *inputs: Tensor) -> Any:
        from mathflow.autodiff.tensor import Tensor

        raw = self.forward(*[t.data for t in inputs])
        multi = isinstance(raw, tuple)
        arrays = raw if multi else (raw,)
        record = mode.is_grad_enabled() and any(t.requires_grad for t in inputs)
        outputs = tuple(Tensor._wrap(a, record) for a in arrays)
        if record:
            self.inputs = inputs
            self.needs_input_grad = tuple(t.requires_grad for t in inputs)
            self.generation = max(t._generation for t in inputs)
            self._outputs = tuple(weakref.ref(o) for o in outputs)
            if multi:
                self._output_arrays = arrays
            for index, out in enumerate(outputs):
                out._ctx = self
                out._index = index
                out._generation = self.generation + 1
        if trace.ACTIVE:  # exporting: record this op's inference form
            trace.ACTIVE[-1].record(self, inputs, outputs)
        return outputs if multi else outputs[0]

    def release(self) -> None:
        """Drop references to inputs and saved arrays so memory can be reclaimed."""
        self.__dict__.clear()
        self.released = True
