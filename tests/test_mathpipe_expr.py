"""The safe expression parser of math pipelines: whitelist, values, derivatives, error offsets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mathflow as mf
from mathflow.autodiff.tensor import Tensor
from mathflow.mathpipe.expr import FUNCTIONS, RESERVED, ExprError, parse, split_constraint
from mathflow.schema.math_pipeline import RESERVED_NAMES


def t(value):
    return Tensor(np.asarray(value, dtype=np.float64))


def value_of(text, **env):
    out = parse(text).evaluate({k: t(v) for k, v in env.items()})
    return out.numpy() if isinstance(out, Tensor) else out


# ------------------------------------------------------------------------------------------ values
@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("x * y", {"x": 3.0, "y": 4.0}, 12.0),
        ("x**2 * y + 3 * y**2", {"x": 2.0, "y": 3.0}, 39.0),
        ("-x + +y - 2", {"x": 1.0, "y": 5.0}, 2.0),
        ("x / 4", {"x": 2.0}, 0.5),
        ("sin(x**2)", {"x": 1.5}, math.sin(2.25)),
        ("exp(x) + log(y) + sqrt(y) + abs(-x)", {"x": 0.0, "y": 1.0}, 1.0 + 0.0 + 1.0 + 0.0),
        ("cos(pi) + tan(0 * x)", {"x": 1.0}, -1.0),
        ("sum(w**2)", {"w": [1.0, 2.0, 3.0]}, 14.0),
        ("mean(w)", {"w": [1.0, 2.0, 3.0]}, 2.0),
        ("norm(v)", {"v": [3.0, 4.0]}, 5.0),
        ("norm(v, 1)", {"v": [-1.0, 2.0]}, 3.0),
        ("norm(v, inf)", {"v": [-7.0, 2.0]}, 7.0),
        ("norm(A, 'fro')", {"A": [[1.0, 2.0], [3.0, 4.0]]}, math.sqrt(30)),
        ("det(A)", {"A": [[1.0, 2.0], [3.0, 4.0]]}, -2.0),
        ("trace(A)", {"A": [[1.0, 2.0], [3.0, 4.0]]}, 5.0),
        ("dot(a, b)", {"a": [1.0, 2.0], "b": [3.0, 4.0]}, 11.0),
        ("sum(A @ v)", {"A": [[1.0, 2.0], [3.0, 4.0]], "v": [5.0, 6.0]}, 17.0 + 39.0),
        ("A[1, 0] + v[-1]", {"A": [[1.0, 2.0], [3.0, 4.0]], "v": [5.0, 6.0]}, 9.0),
        ("sum(v[0:2])", {"v": [1.0, 2.0, 4.0]}, 3.0),
        ("max(v) - min(v)", {"v": [1.0, -2.0, 4.0]}, 6.0),
        ("max(x, 2)", {"x": 1.0}, 2.0),
        ("sum([x, 2 * x, 3])", {"x": 1.0}, 6.0),
        ("2e-1 * x", {"x": 10.0}, 2.0),
    ],
)
def test_values_match_the_mathematics(text, env, expected):
    assert np.allclose(value_of(text, **env), expected, rtol=1e-12)


def test_matrix_results_keep_their_shape():
    A = [[4.0, 7.0], [2.0, 6.0]]
    assert np.allclose(value_of("inv(A)", A=A), np.array([[6.0, -7.0], [-2.0, 4.0]]) / 10)
    assert np.allclose(value_of("transpose(A)", A=A), np.array(A).T)
    assert np.allclose(value_of("outer(a, b)", a=[1.0, 2.0], b=[3.0, 4.0]), [[3.0, 4.0], [6.0, 8.0]])
    assert np.allclose(value_of("3 * A", A=[[1.0, 2.0], [3.0, 4.0]]), [[3.0, 6.0], [9.0, 12.0]])


def test_float64_stays_float64():
    out = parse("x**2 + exp(x) / 3").evaluate({"x": t(2.0)})
    assert out.dtype == np.float64


def test_names_and_functions_are_recorded():
    expr = parse("sum(w**2) + x * pi")
    assert expr.names == {"w": 4, "x": 12}
    assert expr.functions == {"sum"}


# ------------------------------------------------------------------------------------------ derivatives
def _flat_fn(text, shapes):
    expr = parse(text)

    def f(z):
        env, start = {}, 0
        for name, shape in shapes.items():
            size = int(np.prod(shape)) if shape else 1
            env[name] = z[start] if not shape else mf.functional.reshape(z[start : start + size], shape)
            start += size
        return expr.evaluate(env)

    return f


@pytest.mark.parametrize(
    ("text", "shapes", "point"),
    [
        ("x**2 * y + 3 * y**2", {"x": (), "y": ()}, [2.0, 3.0]),
        ("sin(x**2) + exp(y) * cos(x)", {"x": (), "y": ()}, [0.7, -0.3]),
        ("det(A) + trace(A @ A)", {"A": (2, 2)}, [1.0, 2.0, 3.0, 4.5]),
        ("norm(v) + sum(sqrt(v * v + 1))", {"v": (3,)}, [0.5, -1.0, 2.0]),
    ],
)
def test_gradients_and_hessians_match_finite_differences(text, shapes, point):
    f = _flat_fn(text, shapes)
    z = np.asarray(point, dtype=np.float64)
    mf.gradcheck(f, z)
    mf.gradgradcheck(f, z)


@pytest.mark.torch
def test_hessian_matches_pytorch():
    torch = pytest.importorskip("torch")
    f = _flat_fn("x**3 + y**3 + sin(x * y)", {"x": (), "y": ()})
    point = np.array([1.0, 2.0])
    ours = mf.hessian(f)(Tensor(point)).numpy()

    def g(z):
        return z[0] ** 3 + z[1] ** 3 + torch.sin(z[0] * z[1])

    theirs = torch.autograd.functional.hessian(g, torch.tensor(point, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------------------------------ safety
@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "x.__class__",
        "(lambda: 1)()",
        "[a for a in x]",
        "open('f')",
        "x if x else 1",
        "'text'",
        "True + x",
        "{1: 2}",
        "f'{x}'",
    ],
)
def test_anything_outside_the_whitelist_is_refused(text):
    with pytest.raises(ExprError):
        parse(text)


def test_every_function_name_is_reserved_for_variables():
    assert set(RESERVED_NAMES) == set(RESERVED)
    assert set(FUNCTIONS) <= RESERVED


# ------------------------------------------------------------------------------------------ errors
def test_unknown_function_points_at_its_name_with_a_suggestion():
    with pytest.raises(ExprError) as info:
        parse("x**2 + siin(x)")
    assert info.value.offset == 7
    assert info.value.guess == "sin"


def test_caret_is_reported_at_the_operator():
    with pytest.raises(ExprError) as info:
        parse("x + 2 ^ y")
    assert info.value.offset == 6
    assert "x**2" in info.value.hint


def test_every_mistake_of_an_expression_is_collected():
    with pytest.raises(ExprError) as info:
        parse("foo(x) + bar(y) + x ^ 2")
    assert [e.offset for e in info.value.all] == [0, 9, 20]


def test_syntax_error_offset():
    with pytest.raises(ExprError) as info:
        parse("x * * 2")
    assert info.value.offset == 4
    assert "syntax error" in info.value.message


def test_base_offset_is_added():
    with pytest.raises(ExprError) as info:
        parse(" 1 + nope(x)", base=10)
    assert info.value.offset == 15


def test_undeclared_names_are_found_with_offsets():
    errors = parse("x + yy * z").check_names({"x": 1, "y": 2})
    assert [(e.offset, e.guess) for e in errors] == [(4, "y"), (9, None)]


def test_function_used_as_a_value_and_wrong_arity():
    with pytest.raises(ExprError, match="is a function"):
        parse("sin + 1")
    with pytest.raises(ExprError, match="takes 1 argument"):
        parse("det(A, B)")
    with pytest.raises(ExprError, match="positional"):
        parse("norm(v, ord=1)")
    with pytest.raises(ExprError, match="order of norm"):
        parse("norm(v, x)")


def test_engine_errors_point_at_the_failing_call():
    expr = parse("x + inv(v)")
    with pytest.raises(ExprError) as info:
        expr.evaluate({"x": t(1.0), "v": t([1.0, 2.0])})
    assert info.value.offset == 4
    assert "inv" in info.value.message


# ------------------------------------------------------------------------------------------ constraints
def test_split_constraint_keeps_offsets():
    (lhs, a), (rhs, b) = split_constraint("x + y = 10")
    assert (lhs, a, rhs, b) == ("x + y ", 0, " 10", 7)
    (lhs, a), (rhs, b) = split_constraint("x == 2*y")
    assert (lhs.strip(), rhs.strip(), b) == ("x", "2*y", 4)


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("x + y 10", "no '='", 0),
        ("x <= 3", "only equality", 2),
        ("x = y = 1", "more than one", 6),
        ("  ", "empty", 0),
    ],
)
def test_bad_constraints(text, message, offset):
    with pytest.raises(ExprError, match=message) as info:
        split_constraint(text)
    assert info.value.offset == offset
