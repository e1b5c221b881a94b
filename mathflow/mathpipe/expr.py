"""Math expressions written in pipelines, parsed safely into engine operations.

    expr = parse("sum(w**2) + norm(v, 1)")          # raises ExprError at a character offset
    expr.names                                        # {'w': 4, 'v': 17}: variables and their offsets
    value = expr.evaluate({"w": w_tensor, "v": v_tensor})

The text is parsed with Python's :mod:`ast` module and only a whitelist of node kinds is
accepted: numbers, variable names, the constants ``pi`` and ``e``, the operators
``+ - * / ** @`` and unary ``-``/``+``, calls of the functions in :data:`FUNCTIONS`, list
literals ``[a, b]`` and indexing with constant integers or slices (``v[0]``, ``A[:, 1]``).
Nothing is ever evaluated by Python itself: every node becomes a closure calling
:mod:`mathflow.functional`, so the result is differentiable (gradients, Hessians, Taylor).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mathflow.config.errors import suggest
from mathflow.errors import MathflowError

Value = Any  # a Tensor or a Python float
Node = Callable[[Mapping[str, Any]], Value]


class ExprError(MathflowError):
    """A mistake inside an expression, at character ``offset`` of its text."""

    def __init__(self, message: str, offset: int = 0, *, suggestion: str | None = None, hint: str | None = None):
        self.offset = max(0, int(offset))
        self.hint = hint
        self.guess = suggestion
        #: Every mistake found in the expression, this one first.
        self.all: list[ExprError] = [self]
        super().__init__(message, suggestion=f"did you mean '{suggestion}'?" if suggestion else hint)


# ----------------------------------------------------------------------------------------- functions
def _F() -> Any:
    import mathflow.functional as F

    return F


def _tensor(value: Value) -> Any:
    """``value`` as a float64 Tensor when it is a plain number (tensors pass through)."""
    from mathflow.autodiff.tensor import Tensor

    if isinstance(value, Tensor):
        return value
    import numpy as np

    return Tensor(np.asarray(value, dtype=np.float64))


def _norm(x: Value, ord: Any = None) -> Value:
    return _F().norm(_tensor(x), ord)


def _minmax(which: str) -> Callable[..., Value]:
    def apply(*args: Value) -> Value:
        F = _F()
        if len(args) == 1:
            return (F.min if which == "min" else F.max)(_tensor(args[0]))
        pick = F.minimum if which == "min" else F.maximum
        out = _tensor(args[0])
        for other in args[1:]:
            out = pick(out, other)
        return out

    return apply


def _unary(name: str) -> Callable[[Value], Value]:
    def apply(x: Value) -> Value:
        return getattr(_F(), name)(_tensor(x))

    apply.__name__ = name
    return apply


def _binary(name: str) -> Callable[[Value, Value], Value]:
    def apply(a: Value, b: Value) -> Value:
        return getattr(_F(), name)(_tensor(a), _tensor(b))

    apply.__name__ = name
    return apply


@dataclass(frozen=True)
class FunctionInfo:
    """A callable of the expression language: its implementation, arity and a one-line description."""

    apply: Callable[..., Value]
    min_args: int
    max_args: int | None
    doc: str
    #: Positions of arguments that must be written as constants (e.g. the ``ord`` of ``norm``).
    constant_args: tuple[int, ...] = ()


FUNCTIONS: dict[str, FunctionInfo] = {
    "sum": FunctionInfo(_unary("sum"), 1, 1, "Σ of all entries"),
    "mean": FunctionInfo(_unary("mean"), 1, 1, "mean of all entries"),
    "det": FunctionInfo(_unary("det"), 1, 1, "determinant of a square matrix"),
    "trace": FunctionInfo(_unary("trace"), 1, 1, "trace Σ aᵢᵢ of a square matrix"),
    "inv": FunctionInfo(_unary("inv"), 1, 1, "inverse of a square matrix"),
    "transpose": FunctionInfo(_unary("transpose"), 1, 1, "transpose (axes reversed)"),
    "norm": FunctionInfo(_norm, 1, 2, "norm(v) = ‖v‖₂ (Frobenius for matrices); norm(v, ord): 1, 2, inf, 'fro'", (1,)),
    "dot": FunctionInfo(_binary("dot"), 2, 2, "inner product aᵀb"),
    "outer": FunctionInfo(_binary("outer"), 2, 2, "outer product abᵀ"),
    "exp": FunctionInfo(_unary("exp"), 1, 1, "eˣ"),
    "log": FunctionInfo(_unary("log"), 1, 1, "natural logarithm"),
    "sqrt": FunctionInfo(_unary("sqrt"), 1, 1, "√x"),
    "abs": FunctionInfo(_unary("abs"), 1, 1, "|x|"),
    "sin": FunctionInfo(_unary("sin"), 1, 1, "sine"),
    "cos": FunctionInfo(_unary("cos"), 1, 1, "cosine"),
    "tan": FunctionInfo(_unary("tan"), 1, 1, "tangent"),
    "tanh": FunctionInfo(_unary("tanh"), 1, 1, "hyperbolic tangent"),
    "sigmoid": FunctionInfo(_unary("sigmoid"), 1, 1, "1 / (1 + e⁻ˣ)"),
    "relu": FunctionInfo(_unary("relu"), 1, 1, "max(0, x)"),
    "min": FunctionInfo(_minmax("min"), 1, None, "min(v): smallest entry; min(a, b, ...): elementwise"),
    "max": FunctionInfo(_minmax("max"), 1, None, "max(v): largest entry; max(a, b, ...): elementwise"),
}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "inf": math.inf}

#: Names a variable may not take.
RESERVED: frozenset[str] = frozenset(FUNCTIONS) | frozenset(CONSTANTS)

_BINARY: dict[type[ast.operator], tuple[str, Callable[[Value, Value], Value]]] = {
    ast.Add: ("+", lambda a, b: a + b),
    ast.Sub: ("-", lambda a, b: a - b),
    ast.Mult: ("*", lambda a, b: a * b),
    ast.Div: ("/", lambda a, b: a / b),
    ast.Pow: ("**", lambda a, b: a**b),
    ast.MatMult: ("@", lambda a, b: _F().matmul(_tensor(a), _tensor(b))),
}
_OPERATOR_HINTS: dict[type[ast.AST], str] = {
    ast.BitXor: "'^' is not a power here: write x**2",
    ast.FloorDiv: "'//' is not supported: use /",
    ast.Mod: "'%' is not supported",
    ast.BitAnd: "'&' is not supported",
    ast.BitOr: "'|' is not supported",
    ast.LShift: "'<<' is not supported",
    ast.RShift: "'>>' is not supported",
}


# ----------------------------------------------------------------------------------------- parsing
def _char_offsets(text: str) -> list[int]:
    """Start offset (in characters) of every line of ``text``."""
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


@dataclass
class Expression:
    """A parsed expression: its text, the variables it reads (name → first offset) and an evaluator."""

    text: str
    root: Node = field(repr=False)
    names: dict[str, int] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)

    def evaluate(self, env: Mapping[str, Any]) -> Value:
        """The value for variables ``env`` (name → Tensor); engine errors become :class:`ExprError`."""
        return self.root(env)

    def check_names(self, declared: Mapping[str, Any] | set[str] | list[str]) -> list[ExprError]:
        """One error per variable used but not declared, with the closest declared name."""
        known = list(declared)
        errors = []
        for name, offset in self.names.items():
            if name not in declared:
                guess = suggest(name, known + list(FUNCTIONS))
                errors.append(
                    ExprError(
                        f"unknown name '{name}' in '{self.text}'",
                        offset,
                        suggestion=guess,
                        hint=None if guess else f"declared variables: {', '.join(known) or 'none'}",
                    )
                )
        return errors


class _Compiler:
    """Walks an ``ast`` tree, accepting only whitelisted nodes, into evaluator closures."""

    def __init__(self, text: str, base: int) -> None:
        self.text = text
        self.base = base
        self.lines = _char_offsets(text)
        self.names: dict[str, int] = {}
        self.functions: set[str] = set()
        self.errors: list[ExprError] = []

    def position(self, line: int, col: int) -> int:
        """Character offset (plus ``base``) of the ast position ``line`` (1-based), ``col`` (UTF-8 bytes)."""
        start = self.lines[min(max(line, 1), len(self.lines)) - 1]
        row = self.text[start:].split("\n", 1)[0]
        chars = len(row.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return self.base + start + chars

    def offset(self, node: ast.AST) -> int:
        return self.position(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))

    def fail(self, node: ast.AST, message: str, hint: str | None = None, suggestion: str | None = None) -> ExprError:
        return ExprError(message, self.offset(node), hint=hint, suggestion=suggestion)

    def guarded(self, node: ast.AST, what: str, compute: Callable[[Mapping[str, Any]], Value]) -> Node:
        """``compute`` with engine errors reported at ``node`` (inner nodes keep their own position)."""
        where = self.offset(node)

        def run(env: Mapping[str, Any]) -> Value:
            try:
                return compute(env)
            except ExprError:
                raise
            except MathflowError as exc:
                raise ExprError(f"{what}: {exc.message}", where) from None

        return run

    def compile(self, node: ast.AST) -> Node:
        """The evaluator of ``node``; a mistake is recorded in ``errors`` and compiling goes on."""
        method = getattr(self, f"_{type(node).__name__}", None)
        try:
            if method is None:
                raise self.fail(node, f"'{ast.unparse(node)}' is not supported in a math expression", hint=_SUPPORTED)
            return method(node)
        except ExprError as exc:
            self.errors.append(exc)
            return _zero

    def operator_offset(self, node: ast.BinOp) -> int:
        """Offset of the operator token of a binary operation (between its operands)."""
        left_end = self.position(node.left.end_lineno or 1, node.left.end_col_offset or 0)
        right = self.offset(node.right)
        gap = self.text[left_end - self.base : right - self.base]
        return left_end + len(gap) - len(gap.lstrip(" )\t\n"))

    # -- leaves ----------------------------------------------------------------------------------
    def _Constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node, f"{value!r} is not a number", hint=_SUPPORTED)
        number = float(value)
        return lambda env: number

    def _Name(self, node: ast.Name) -> Node:
        name = node.id
        if name in CONSTANTS:
            number = CONSTANTS[name]
            return lambda env: number
        if name in FUNCTIONS:
            raise self.fail(node, f"'{name}' is a function: call it as {name}(...)")
        self.names.setdefault(name, self.offset(node))

        def lookup(env: Mapping[str, Any]) -> Value:
            try:
                return env[name]
            except KeyError:
                raise ExprError(f"unknown name '{name}'", self.offset(node)) from None

        return lookup

    def _List(self, node: ast.List | ast.Tuple) -> Node:
        if not node.elts:
            raise self.fail(node, "an empty list is not a value")
        items = [self.compile(e) for e in node.elts]

        def build(env: Mapping[str, Any]) -> Value:
            return _F().stack([_tensor(item(env)) for item in items])

        return self.guarded(node, "list", build)

    _Tuple = _List

    # -- operators -------------------------------------------------------------------------------
    def _BinOp(self, node: ast.BinOp) -> Node:
        kind = type(node.op)
        left, right = self.compile(node.left), self.compile(node.right)
        if kind not in _BINARY:
            raise ExprError(
                f"operator not supported in '{ast.unparse(node)}'",
                self.operator_offset(node),
                hint=_OPERATOR_HINTS.get(kind, _SUPPORTED),
            )
        symbol, apply = _BINARY[kind]
        return self.guarded(node, f"'{symbol}'", lambda env: apply(left(env), right(env)))

    def _UnaryOp(self, node: ast.UnaryOp) -> Node:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda env: -operand(env)
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.fail(node, f"operator not supported in '{ast.unparse(node)}'", hint=_SUPPORTED)

    def _Compare(self, node: ast.Compare) -> Node:
        raise self.fail(
            node,
            f"comparison in '{ast.unparse(node)}' is not a value",
            hint="constraints go under subject_to, written 'lhs = rhs'",
        )

    # -- calls and indexing ----------------------------------------------------------------------
    def _Call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, f"only named functions can be called, not '{ast.unparse(node.func)}'")
        name = node.func.id
        info = FUNCTIONS.get(name)
        if info is None:
            for arg in node.args:
                self.compile(arg)
            guess = suggest(name, list(FUNCTIONS))
            raise self.fail(
                node.func,
                f"unknown function '{name}'",
                suggestion=guess,
                hint=None if guess else f"known: {', '.join(sorted(FUNCTIONS))}",
            )
        if node.keywords:
            raise self.fail(node.keywords[0].value, f"{name}() takes positional arguments only")
        count = len(node.args)
        if count < info.min_args or (info.max_args is not None and count > info.max_args):
            wanted = (
                str(info.min_args)
                if info.min_args == info.max_args
                else f"{info.min_args} or more"
                if info.max_args is None
                else f"{info.min_args} to {info.max_args}"
            )
            raise self.fail(node, f"{name}() takes {wanted} argument(s), got {count}", hint=info.doc)
        self.functions.add(name)
        args: list[Node] = []
        for i, arg in enumerate(node.args):
            if i in info.constant_args:
                args.append(self._constant_arg(name, arg))
            else:
                args.append(self.compile(arg))
        apply = info.apply
        return self.guarded(node, f"{name}()", lambda env: apply(*(a(env) for a in args)))

    def _constant_arg(self, name: str, arg: ast.AST) -> Node:
        """The ``ord`` of ``norm``: a number, ``inf``, ``-inf`` or the string 'fro' / 'nuc'."""
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value in ("fro", "nuc"):
            text = arg.value
            return lambda env: text
        if isinstance(arg, ast.Name) and arg.id in ("fro", "nuc"):
            text = arg.id
            return lambda env: text
        try:
            value = self._literal_number(arg)
        except ValueError:
            raise self.fail(arg, f"the order of {name}() must be a number, inf, -inf or 'fro'") from None
        return lambda env: value

    def _literal_number(self, node: ast.AST) -> float:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = self._literal_number(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise ValueError("not a literal number")

    def _Subscript(self, node: ast.Subscript) -> Node:
        target = self.compile(node.value)
        index = self._index(node.slice)
        return self.guarded(node, "indexing", lambda env: _tensor(target(env))[index])

    def _index(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Tuple):
            return tuple(self._index(e) for e in node.elts)
        if isinstance(node, ast.Slice):
            parts = []
            for part in (node.lower, node.upper, node.step):
                parts.append(None if part is None else self._int(part))
            return slice(*parts)
        return self._int(node)

    def _int(self, node: ast.AST) -> int:
        try:
            value = self._literal_number(node)
        except ValueError:
            raise self.fail(node, "an index must be a constant integer (v[0], A[1, :])") from None
        if not float(value).is_integer():
            raise self.fail(node, f"an index must be an integer, got {value:g}")
        return int(value)


_SUPPORTED = (
    f"use numbers, variables, + - * / ** @, unary -, v[i], [a, b] and the functions {', '.join(sorted(FUNCTIONS))}"
)


def parse(text: str, *, base: int = 0) -> Expression:
    """Parse ``text`` into an :class:`Expression`; mistakes raise :class:`ExprError` (offsets + ``base``)."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("the expression is empty", base)
    stripped = text.lstrip()
    lead = len(text) - len(stripped)
    body = stripped.rstrip()
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as exc:
        offset = lead + max((exc.offset or 1) - 1, 0)
        if exc.lineno and exc.lineno > 1:
            offset = (
                lead
                + _char_offsets(body)[min(exc.lineno, len(_char_offsets(body))) - 1]
                + max((exc.offset or 1) - 1, 0)
            )
        message = (exc.msg or "invalid syntax").replace("Perhaps you forgot a comma?", "").strip()
        hint = "write powers as x**2" if "^" in body else None
        if "=" in body and "==" not in body:
            hint = "'=' belongs in constraints only (subject_to: ['x + y = 10'])"
        raise ExprError(f"syntax error in '{body}': {message}", base + min(offset, len(text)), hint=hint) from None
    compiler = _Compiler(body, base + lead)
    root = compiler.compile(tree.body)
    if compiler.errors:
        errors = sorted(compiler.errors, key=lambda e: e.offset)
        first = errors[0]
        first.all = errors
        raise first
    return Expression(body, root, compiler.names, compiler.functions)


def _zero(env: Mapping[str, Any]) -> Value:
    return 0.0


#: The relations a constraint may use: ``=`` (``==``), ``<=`` and ``>=``.
RELATIONS = ("=", "<=", ">=")


def _relation_spots(text: str) -> list[tuple[int, str]]:
    """Every relation symbol of ``text`` with its offset: ``<= >= == != = < >``."""
    spots, i = [], 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in ("<=", ">=", "==", "!="):
            spots.append((i, pair))
            i += 2
        elif text[i] in "<>=":
            spots.append((i, text[i]))
            i += 1
        else:
            i += 1
    return spots


def split_relation(text: str) -> tuple[str, tuple[str, int], tuple[str, int]]:
    """``"x + y <= 10"`` → (``"<="``, (``"x + y "``, 0), (``" 10"``, 8)): relation and both sides with offsets.

    The relation is ``=`` (also written ``==``), ``<=`` or ``>=``; strict ``<``, ``>`` and ``!=``
    are refused, as are a missing relation and more than one.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExprError("the constraint is empty (write 'lhs = rhs', 'lhs <= rhs' or 'lhs >= rhs')", 0)
    spots = _relation_spots(text)
    for at, symbol in spots:
        if symbol in ("<", ">", "!="):
            raise ExprError(
                f"'{symbol}' in '{text.strip()}': strict inequalities and '!=' are not supported",
                at,
                hint="write 'lhs <= rhs', 'lhs >= rhs' or 'lhs = rhs'",
            )
    if not spots:
        raise ExprError(
            f"constraint '{text.strip()}' has no '=', '<=' or '>='",
            0,
            hint="write it as 'lhs = rhs', e.g. 'x + y = 10', or 'lhs <= rhs'",
        )
    if len(spots) > 1:
        raise ExprError(
            f"constraint '{text.strip()}' has more than one relation", spots[1][0], hint="one 'lhs = rhs' per entry"
        )
    at, symbol = spots[0]
    relation = "=" if symbol == "==" else symbol
    return relation, (text[:at], 0), (text[at + len(symbol) :], at + len(symbol))


def split_constraint(text: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """``"x + y = 10"`` → ((``"x + y "``, 0), (``" 10"``, 7)): both sides of an equality with their offsets.

    ``==`` is accepted as ``=``; inequalities are refused here (see :func:`split_relation`).
    """
    relation, left, right = split_relation(text)
    if relation != "=":
        at = right[1] - len(relation)
        raise ExprError(
            f"'{relation}' in '{text.strip()}': only equality constraints are supported here",
            at,
            hint="write 'lhs = rhs'",
        )
    return left, right


__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "RELATIONS",
    "RESERVED",
    "ExprError",
    "Expression",
    "FunctionInfo",
    "parse",
    "split_constraint",
    "split_relation",
]
