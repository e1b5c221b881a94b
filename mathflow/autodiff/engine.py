"""Reverse-mode differentiation: walks the graph from outputs to inputs by the chain rule.

For every node y = f(x₁, …, xₖ) reached from the outputs, the engine takes the gradient
∂L/∂y (summed over every use of y) and asks the node for ∂L/∂xᵢ = (∂y/∂xᵢ)ᵀ ∂L/∂y. Nodes are
visited in decreasing generation, so each gradient is complete before it is passed on.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mathflow.autodiff import mode
from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor
from mathflow.errors import GradError


def _seed_gradient(output: Tensor, grad: Any, create_graph: bool) -> Any:
    """The gradient the walk starts from at ``output``: ``grad`` checked, or ones for a scalar."""
    xp = output.xp
    if grad is None:
        if output.size != 1:
            raise GradError(
                f"backward of a non-scalar tensor of shape {output.shape} needs an explicit gradient",
                suggestion="reduce it first, e.g. loss.sum() or loss.mean()",
            )
        seed = xp.ones(output.data.shape, dtype=output.dtype)
    else:
        seed = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=output.dtype)
        if tuple(seed.shape) != output.shape:
            raise GradError(f"gradient of shape {tuple(seed.shape)} given for an output of shape {output.shape}")
        if create_graph and isinstance(grad, Tensor):
            return grad
    return Tensor._wrap(seed) if create_graph else seed


def _accumulate(current: Any, new: Any) -> Any:
    """``current + new``, or ``new`` when nothing has arrived yet."""
    return new if current is None else current + new


class _BackwardState:
    """What one backward pass gathers while it walks the graph.

    ``wanted`` maps ``id(input)`` to its position when gradients are returned (``None`` when they
    are accumulated into ``.grad``); ``captured`` holds those returned gradients; ``leaf_grads``
    the leaf gradients to accumulate; ``pending`` the output gradients of the nodes still to run,
    ``holding`` their outputs (kept alive until the node has run) and ``heap`` the nodes
    themselves, ordered by decreasing generation. A plain slotted class: it is built once per
    backward call, so it is kept as cheap to create as the local variables it replaces.
    """

    __slots__ = ("wanted", "captured", "leaf_grads", "pending", "holding", "heap", "counter")

    def __init__(self, inputs: Sequence[Tensor] | None) -> None:
        """An empty walk: gradients returned for ``inputs``, or accumulated into leaves when ``None``."""
        self.wanted: dict[int, int] | None = None if inputs is None else {id(t): i for i, t in enumerate(inputs)}
        self.captured: list[Any] = [] if inputs is None else [None] * len(inputs)
        self.leaf_grads: dict[int, tuple[Tensor, Any]] = {}
        self.pending: dict[int, list[Any]] = {}
        self.holding: dict[int, list[Tensor | None]] = {}
        self.heap: list[tuple[int, int, Function]] = []
        self.counter: Iterator[int] = itertools.count()


def _make_sender(state: _BackwardState) -> Callable[[Tensor, Any], None]:
    """The function that routes a gradient to ``tensor``: to a wanted input, a leaf or its node.

    The state is bound to closure variables once, so each call costs what the inline version did.
    """
    wanted, captured, leaf_grads = state.wanted, state.captured, state.leaf_grads
    pending, holding, heap, counter = state.pending, state.holding, state.heap, state.counter

    def send(tensor: Tensor, grad: Any) -> None:
        """Add ``grad`` to what ``tensor`` has received (queueing its node on first arrival)."""
        if not tensor.requires_grad:
            return
        if wanted is not None and id(tensor) in wanted and tensor._ctx is None:
            index = wanted[id(tensor)]
            captured[index] = _accumulate(captured[index], grad)
            return
        fn = tensor._ctx
        if fn is None:
            key = id(tensor)
            previous = leaf_grads.get(key)
            leaf_grads[key] = (tensor, _accumulate(previous[1] if previous else None, grad))
            return
        if getattr(fn, "released", False):
            raise GradError(
                "the graph was freed by an earlier backward pass",
                suggestion="pass retain_graph=True to the first backward",
            )
        slots = pending.get(id(fn))
        if slots is None:
            slots = pending[id(fn)] = [None] * len(fn._outputs)
            holding[id(fn)] = [None] * len(fn._outputs)
            heapq.heappush(heap, (-fn.generation, next(counter), fn))
        slots[tensor._index] = _accumulate(slots[tensor._index], grad)
        holding[id(fn)][tensor._index] = tensor

    return send


def _seed_outputs(
    outputs: Sequence[Tensor],
    grad_outputs: Sequence[Any],
    create_graph: bool,
    send: Callable[[Tensor, Any], None],
) -> None:
    """Send each output its starting gradient (ones for a scalar output without one)."""
    for out, grad in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise GradError("the tensor does not require a gradient and has no graph")
        send(out, _seed_gradient(out, grad, create_graph))


def _walk_graph(
    state: _BackwardState,
    send: Callable[[Tensor, Any], None],
    retain_graph: bool,
    create_graph: bool,
) -> None:
    """Run the queued nodes in decreasing generation, passing each node's input gradients on."""
    heap, pending, holding = state.heap, state.pending, state.holding
    wanted, captured = state.wanted, state.captured
    while heap:
        _, _, fn = heapq.heappop(heap)
        grads = pending.pop(id(fn))
        held = holding.pop(id(fn))
        if wanted is not None:
            for index, ref in enumerate(fn._outputs):
                out = ref()
                if out is not None and id(out) in wanted and grads[index] is not None:
                    captured[wanted[id(out)]] = _accumulate(captured[wanted[id(out)]], grads[index])
        grads = [g if g is not None else _zeros_like_output(fn, i, create_graph) for i, g in enumerate(grads)]
        input_grads = _call_backward(fn, grads, create_graph)
        for tensor, grad, needed in zip(fn.inputs, input_grads, fn.needs_input_grad):
            if needed and grad is not None:
                send(tensor, grad)
        if not retain_graph:
            fn.release()
        del held


def _captured_gradients(captured: list[Any]) -> list[Tensor | None]:
    """The returned gradients, one Tensor (or ``None``) per requested input."""
    return [None if g is None else (g if isinstance(g, Tensor) else Tensor._wrap(g)) for g in captured]


def _store_leaf_grads(leaf_grads: dict[int, tuple[Tensor, Any]], create_graph: bool) -> None:
    """Accumulate each leaf's gradient into its ``.grad`` (recorded when ``create_graph``)."""
    for tensor, grad in leaf_grads.values():
        grad_tensor = grad if isinstance(grad, Tensor) else Tensor._wrap(grad)
        if tensor.grad is None:
            tensor.grad = grad_tensor
        elif create_graph:
            tensor.grad = tensor.grad + grad_tensor
        else:
            tensor.grad = Tensor._wrap(tensor.grad.data + grad_tensor.data)


def run_backward(
    outputs: Sequence[Tensor],
    grad_outputs: Sequence[Any],
    *,
    retain_graph: bool = False,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> list[Tensor | None] | None:
    """Backpropagate from ``outputs``.

    Without ``inputs`` the gradients are accumulated into the ``.grad`` of every leaf that
    requires one. With ``inputs`` they are returned instead, one per input (``None`` where an
    input does not influence the outputs), and no ``.grad`` is touched.
    """
    state = _BackwardState(inputs)
    send = _make_sender(state)
    keep_alive = list(outputs)  # outputs must outlive the walk
    with mode.set_grad_enabled(create_graph):
        _seed_outputs(outputs, grad_outputs, create_graph, send)
        _walk_graph(state, send, retain_graph, create_graph)
    del keep_alive

    if inputs is not None:
        return _captured_gradients(state.captured)
    _store_leaf_grads(state.leaf_grads, create_graph)
    return None


def _zeros_like_output(fn: Function, index: int, create_graph: bool) -> Any:
    """Zeros for an output of ``fn`` that received no gradient."""
    out = fn.output(index)
    zeros = out.xp.zeros_like(out.data)
    return Tensor._wrap(zeros) if create_graph else zeros


def _call_backward(fn: Function, grads: list[Any], create_graph: bool) -> tuple[Any, ...]:
    """Run a node's backward on raw arrays (fast path) or on Tensors (recordable path)."""
    if not create_graph and fn.has_raw_backward:
        result = fn.backward_raw(*grads)
        return result if isinstance(result, tuple) else (result,)
    if create_graph:
        result = fn.backward(*grads)
        result = result if isinstance(result, tuple) else (result,)
        return tuple(None if r is None else _as_grad_tensor(r) for r in result)
    result = fn.backward(*[Tensor._wrap(g) for g in grads])
    result = result if isinstance(result, tuple) else (result,)
    return tuple(None if r is None else (r.data if isinstance(r, Tensor) else r) for r in result)


def _as_grad_tensor(value: Any) -> Tensor:
    """``value`` as a Tensor (wrapped when it is a raw array)."""
    return value if isinstance(value, Tensor) else Tensor._wrap(value)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    *,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of accumulated."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        gouts = [None] * len(outs)
    elif isinstance(grad_outputs, (list, tuple)):
        gouts = list(grad_outputs)
    else:
        gouts = [grad_outputs]
    result = run_backward(
        outs,
        gouts,
        retain_graph=create_graph if retain_graph is None else retain_graph,
        create_graph=create_graph,
        inputs=ins,
    )
    assert result is not None
    if not allow_unused:
        for tensor, g in zip(ins, result):
            if g is None and not tensor.requires_grad:
                raise GradError("an input does not require a gradient", suggestion="create it with requires_grad=True")
    return tuple(result)
