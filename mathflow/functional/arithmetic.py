"""Element-wise arithmetic and elementary functions with NumPy broadcasting.

For a broadcast binary op the gradient of each operand is summed back to its own shape.
"""

from __future__ import annotations

from typing import Any

from mathflow.autodiff import mode
from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.errors import DomainError, ShapeError
from mathflow.functional._util import operands, raw_sum_to
from mathflow.functional.shape import sum_to


def _broadcast_check(op: str, a: Any, b: Any) -> None:
    try:
        _xp(a).broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not broadcast") from None


def _xp(array: Any) -> Any:
    from mathflow.backend import array_module

    return array_module(array)


def _check_domain(op: str, ok: Any, what: str) -> None:
    if mode.is_checked() and not bool(ok.all()):
        raise DomainError(f"{op}: {what}")


class Add(Function):
    """y = a + b; ∂L/∂a = ∂L/∂y, ∂L/∂b = ∂L/∂y (summed over broadcast axes)."""

    inference_op = "Add"

    has_raw_backward = True

    def forward(self, a: Any, b: Any) -> Any:
        self.shapes = (a.shape, b.shape)
        if a.shape != b.shape:
            _broadcast_check("add", a, b)
        return a + b

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor]:
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])

    def backward_raw(self, gy: Any) -> tuple[Any, Any]:
        return raw_sum_to(gy, self.shapes[0]), raw_sum_to(gy, self.shapes[1])


class Sub(Function):
    """y = a − b; ∂L/∂a = ∂L/∂y, ∂L/∂b = −∂L/∂y."""

    inference_op = "Sub"

    has_raw_backward = True

    def forward(self, a: Any, b: Any) -> Any:
        self.shapes = (a.shape, b.shape)
        if a.shape != b.shape:
            _broadcast_check("sub", a, b)
        return a - b

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor]:
        return sum_to(gy, self.shapes[0]), sum_to(-gy, self.shapes[1])

    def backward_raw(self, gy: Any) -> tuple[Any, Any]:
        return raw_sum_to(gy, self.shapes[0]), raw_sum_to(-gy, self.shapes[1])


class Mul(Function):
    """y = a ⊙ b; ∂L/∂a = ∂L/∂y ⊙ b, ∂L/∂b = ∂L/∂y ⊙ a."""

    inference_op = "Mul"

    def forward(self, a: Any, b: Any) -> Any:
        if a.shape != b.shape:
            _broadcast_check("mul", a, b)
        return a * b

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        ga = sum_to(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b; ∂L/∂a = ∂L/∂y / b, ∂L/∂b = −∂L/∂y ⊙ a / b²."""

    inference_op = "Div"

    def forward(self, a: Any, b: Any) -> Any:
        if a.shape != b.shape:
            _broadcast_check("div", a, b)
        _check_domain("div", b != 0, "division by zero")
        return a / b

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        ga = sum_to(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class PowScalar(Function):
    """y = xᶜ for a constant c; ∂L/∂x = ∂L/∂y ⊙ c·xᶜ⁻¹."""

    def infer(self, builder: Any, x: str) -> str:
        """xᵖ as ``Pow`` with the exponent as a scalar constant."""
        return builder.op("Pow", x, builder.scalar(self.exponent))

    def __init__(self, exponent: float):
        self.exponent = exponent

    def forward(self, x: Any) -> Any:
        if self.exponent != int(self.exponent):
            _check_domain("pow", x >= 0, f"negative base to the non-integer power {self.exponent}")
        return x**self.exponent

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        c = self.exponent
        if c == 1:
            return gy
        if c == 2:
            return gy * x * 2.0
        return gy * c * pow(x, c - 1)


class Pow(Function):
    """y = aᵇ; ∂L/∂a = ∂L/∂y ⊙ b·aᵇ⁻¹, ∂L/∂b = ∂L/∂y ⊙ aᵇ·ln a."""

    inference_op = "Pow"

    def forward(self, a: Any, b: Any) -> Any:
        if a.shape != b.shape:
            _broadcast_check("pow", a, b)
        return a**b

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        ga = sum_to(gy * b * a ** (b - 1.0), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * self.output() * log(a), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """y = −x; ∂L/∂x = −∂L/∂y."""

    inference_op = "Neg"

    has_raw_backward = True

    def forward(self, x: Any) -> Any:
        return -x

    def backward(self, gy: Tensor) -> Tensor:
        return -gy

    def backward_raw(self, gy: Any) -> Any:
        return -gy


class Exp(Function):
    """y = eˣ; ∂L/∂x = ∂L/∂y ⊙ y."""

    inference_op = "Exp"

    def forward(self, x: Any) -> Any:
        return _xp(x).exp(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy * self.output()


class Log(Function):
    """y = ln x; ∂L/∂x = ∂L/∂y / x."""

    inference_op = "Log"

    def forward(self, x: Any) -> Any:
        _check_domain("log", x > 0, "logarithm of a non-positive value")
        return _xp(x).log(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy / self.inputs[0]


class Log1p(Function):
    """y = ln(1 + x), accurate for small x; ∂L/∂x = ∂L/∂y / (1 + x)."""

    def forward(self, x: Any) -> Any:
        _check_domain("log1p", x > -1, "logarithm of a non-positive value")
        return _xp(x).log1p(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy / (self.inputs[0] + 1.0)


class Sqrt(Function):
    """y = √x; ∂L/∂x = ∂L/∂y / (2y)."""

    inference_op = "Sqrt"

    def forward(self, x: Any) -> Any:
        _check_domain("sqrt", x >= 0, "square root of a negative value")
        return _xp(x).sqrt(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy / (self.output() * 2.0)


class Abs(Function):
    """y = |x|; ∂L/∂x = ∂L/∂y ⊙ sign(x) (0 at x = 0)."""

    inference_op = "Abs"

    def forward(self, x: Any) -> Any:
        return _xp(x).abs(x)

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        return gy * Tensor._wrap(x.xp.sign(x.data))


class Sin(Function):
    """y = sin x; ∂L/∂x = ∂L/∂y ⊙ cos x."""

    def forward(self, x: Any) -> Any:
        return _xp(x).sin(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy * cos(self.inputs[0])


class Cos(Function):
    """y = cos x; ∂L/∂x = −∂L/∂y ⊙ sin x."""

    def forward(self, x: Any) -> Any:
        return _xp(x).cos(x)

    def backward(self, gy: Tensor) -> Tensor:
        return -gy * sin(self.inputs[0])


class Tan(Function):
    """y = tan x; ∂L/∂x = ∂L/∂y ⊙ (1 + y²)."""

    def forward(self, x: Any) -> Any:
        return _xp(x).tan(x)

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output()
        return gy * (y * y + 1.0)


class Where(Function):
    """y = a where ``condition`` else b (condition constant); gradients route by the mask."""

    def __init__(self, condition: Any):
        self.condition = condition

    def forward(self, a: Any, b: Any) -> Any:
        return _xp(a).where(self.condition, a, b)

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        zero = Tensor._wrap(gy.xp.zeros((), dtype=gy.dtype))
        mask = self.condition
        ga = sum_to(where(mask, gy, zero), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(where(mask, zero, gy), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Maximum(Where):
    """y = max(a, b) as :class:`Where` on a ≥ b, so that at ties the gradient goes to a."""

    inference_op = "Max"


class Minimum(Where):
    """y = min(a, b) as :class:`Where` on a ≤ b, so that at ties the gradient goes to a."""

    inference_op = "Min"


# ------------------------------------------------------------------------- public API
def add(a: Any, b: Any) -> Tensor:
    """a + b (broadcasting)."""
    return Add()(*operands(a, b))


def sub(a: Any, b: Any) -> Tensor:
    """a − b (broadcasting)."""
    return Sub()(*operands(a, b))


def mul(a: Any, b: Any) -> Tensor:
    """a ⊙ b, the element-wise (Hadamard) product; a scalar times a tensor scales it."""
    return Mul()(*operands(a, b))


def div(a: Any, b: Any) -> Tensor:
    """a / b element-wise."""
    return Div()(*operands(a, b))


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors the math name
    """aᵇ element-wise; a constant exponent takes the cheaper path."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return PowScalar(float(b))(a)
    return Pow()(*operands(a, b))


def neg(x: Any) -> Tensor:
    """−x."""
    return Neg()(as_tensor(x))


def exp(x: Any) -> Tensor:
    """eˣ element-wise."""
    return Exp()(as_tensor(x))


def log(x: Any) -> Tensor:
    """Natural logarithm element-wise (checked mode rejects x ≤ 0)."""
    return Log()(as_tensor(x))


def log1p(x: Any) -> Tensor:
    """ln(1 + x) element-wise."""
    return Log1p()(as_tensor(x))


def sqrt(x: Any) -> Tensor:
    """√x element-wise (checked mode rejects x < 0)."""
    return Sqrt()(as_tensor(x))


def abs(x: Any) -> Tensor:  # noqa: A001 - mirrors the math name
    """|x| element-wise."""
    return Abs()(as_tensor(x))


def sin(x: Any) -> Tensor:
    """sin x element-wise."""
    return Sin()(as_tensor(x))


def cos(x: Any) -> Tensor:
    """cos x element-wise."""
    return Cos()(as_tensor(x))


def tan(x: Any) -> Tensor:
    """tan x element-wise."""
    return Tan()(as_tensor(x))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Element-wise choice: a where ``condition`` holds, else b."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    ta, tb = operands(a, b)
    return Where(cond)(ta, tb)


def maximum(a: Any, b: Any) -> Tensor:
    """max(a, b) element-wise; at ties the gradient goes to a."""
    ta, tb = operands(a, b)
    return Maximum(ta.data >= tb.data)(ta, tb)


def minimum(a: Any, b: Any) -> Tensor:
    """min(a, b) element-wise; at ties the gradient goes to a."""
    ta, tb = operands(a, b)
    return Minimum(ta.data <= tb.data)(ta, tb)


def clip(x: Any, low: float | None = None, high: float | None = None) -> Tensor:
    """x limited to [low, high]; the gradient is zero where x was clipped."""
    x = as_tensor(x)
    if low is not None:
        x = maximum(x, low)
    if high is not None:
        x = minimum(x, high)
    return x


def square(x: Any) -> Tensor:
    """x² element-wise."""
    return PowScalar(2.0)(as_tensor(x))


def sign(x: Any) -> Tensor:
    """sign(x) element-wise, a constant (no gradient)."""
    x = as_tensor(x)
    return Tensor._wrap(x.xp.sign(x.data))
