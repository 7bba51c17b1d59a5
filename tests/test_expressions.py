import jax

jax.config.update("jax_enable_x64", True)

import math  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402

from sem_engine import syntax  # noqa: E402
from sem_engine.expressions import (  # noqa: E402
    ARITY,
    FUNCTIONS,
    Binary,
    Call,
    Name,
    Num,
    Unary,
    format_number,
    names,
    to_function,
    to_text,
)

a, b, c = Name("a"), Name("b"), Name("c")
INDEX = {"a": 0, "b": 1, "c": 2}
X = jnp.array([0.7, -1.3, 2.5])


def parse_expr(text):
    (definition,) = syntax.parse(f"d := {text}")
    return definition.expr


# --- nodes -------------------------------------------------------------------------------------


def test_nodes_are_immutable_hashable_and_compare_by_value():
    tree = Binary("+", Num(1), Call("exp", [a]))
    assert tree == Binary("+", Num(1.0), Call("exp", (Name("a"),)))
    assert hash(tree) == hash(Binary("+", Num(1.0), Call("exp", (Name("a"),))))
    assert isinstance(tree.right.args, tuple)
    with pytest.raises(AttributeError):
        tree.op = "-"


@pytest.mark.parametrize("make", [lambda: Unary("*", a), lambda: Binary("%", a, b)])
def test_nodes_reject_unknown_operators(make):
    with pytest.raises(ValueError):
        make()


def test_function_whitelist_and_arity():
    assert set(FUNCTIONS) == {
        "exp", "log", "log10", "sqrt", "abs", "sin", "cos", "tan", "asin", "acos", "atan",
        "sinh", "cosh", "tanh", "pnorm", "pow", "min", "max",
    }  # fmt: skip
    assert ARITY["pow"] == ARITY["min"] == ARITY["max"] == 2
    assert all(ARITY[name] == 1 for name in FUNCTIONS if name not in ("pow", "min", "max"))


# --- names ---------------------------------------------------------------------------------------


def test_names_in_order_of_first_appearance_without_repeats():
    tree = parse_expr("b*a + exp(c - b) / a^2 + pow(d, b)")
    assert names(tree) == ("b", "a", "c", "d")
    assert names(Num(3)) == ()


# --- text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [(1.0, "1"), (0.1, "0.1"), (-0.5, "-0.5"), (100.0, "100"), (1e-20, "1e-20"), (1e16, "1e+16"),
     (1 / 3, "0.3333333333333333"), (2.5e300, "2.5e+300")],
)  # fmt: skip
def test_format_number_is_short_and_exact(value, text):
    assert format_number(value) == text
    assert float(text) == value


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_format_number_rejects_non_finite(value):
    with pytest.raises(ValueError):
        format_number(value)


@pytest.mark.parametrize(
    "tree, text",
    [
        (Unary("-", Binary("^", a, Num(2))), "-a^2"),
        (Binary("^", Unary("-", a), Num(2)), "(-a)^2"),
        (Binary("^", a, Binary("^", b, c)), "a^b^c"),
        (Binary("^", Binary("^", a, b), c), "(a^b)^c"),
        (Binary("^", a, Unary("-", b)), "a^-b"),
        (Binary("-", Binary("-", a, b), c), "a - b - c"),
        (Binary("-", a, Binary("-", b, c)), "a - (b - c)"),
        (Binary("-", a, Binary("+", b, c)), "a - (b + c)"),
        (Binary("+", a, Binary("*", b, c)), "a + b*c"),
        (Binary("*", Binary("+", a, b), c), "(a + b)*c"),
        (Binary("/", Binary("*", a, b), c), "a*b/c"),
        (Binary("/", a, Binary("*", b, c)), "a/(b*c)"),
        (Binary("*", a, Unary("-", b)), "a*-b"),
        (Binary("-", a, Unary("-", b)), "a - -b"),
        (Unary("-", Unary("-", a)), "- -a"),
        (Unary("-", Binary("+", a, b)), "-(a + b)"),
        (Unary("+", a), "+a"),
        (Binary("^", Call("exp", (a,)), Num(0.5)), "exp(a)^0.5"),
        (Call("pow", (Binary("+", a, b), Num(2))), "pow(a + b, 2)"),
        (Binary("*", Num(2), Num(1e-3)), "2*0.001"),
    ],
)
def test_to_text_uses_minimal_parentheses_and_round_trips(tree, text):
    assert to_text(tree) == text
    assert parse_expr(text) == tree


def test_negative_constant_prints_as_unary_minus():
    # The parser never makes a negative Num; one built by hand reads back as Unary("-", ...).
    assert to_text(Binary("^", Num(-2), Num(2))) == "(-2)^2"
    assert parse_expr("(-2)^2") == Binary("^", Unary("-", Num(2)), Num(2))


def test_to_text_rejects_non_expressions():
    with pytest.raises(TypeError):
        to_text("a")


identifiers = st.from_regex(r"[A-Za-z][A-Za-z0-9_.]{0,5}|\.[A-Za-z_][A-Za-z0-9_.]{0,3}", fullmatch=True)
constants = st.floats(min_value=0, allow_infinity=False, allow_nan=False).filter(
    lambda v: math.copysign(1.0, v) > 0
)


def extend(children):
    return st.one_of(
        st.builds(Unary, st.sampled_from(["-", "+"]), children),
        st.builds(Binary, st.sampled_from(["+", "-", "*", "/", "^"]), children, children),
        st.sampled_from(sorted(FUNCTIONS)).flatmap(
            lambda f: st.tuples(*[children] * ARITY[f]).map(lambda args: Call(f, args))
        ),
    )


expression_trees = st.recursive(
    st.one_of(st.builds(Num, constants), st.builds(Name, identifiers)), extend, max_leaves=12
)


@settings(max_examples=200, deadline=None)
@given(expression_trees)
def test_text_round_trip_property(tree):
    assert parse_expr(to_text(tree)) == tree


# --- functions -----------------------------------------------------------------------------------


def value(text, x=X):
    return float(to_function(parse_expr(text), INDEX)(x))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a*b", 0.7 * -1.3),
        ("a - b - c", 0.7 + 1.3 - 2.5),
        ("a/b/c", 0.7 / -1.3 / 2.5),
        ("-a^2", -(0.7**2)),
        ("2^3^2", 2.0**9),
        ("b^2", 1.69),
        ("b^3", -2.197),
        ("c^0.5", math.sqrt(2.5)),
        ("+a", 0.7),
        ("exp(a) + log(c) + log10(c) + sqrt(c) + abs(b)",
         math.exp(0.7) + math.log(2.5) + math.log10(2.5) + math.sqrt(2.5) + 1.3),
        ("sin(a) + cos(a) + tan(a)", math.sin(0.7) + math.cos(0.7) + math.tan(0.7)),
        ("asin(a) + acos(a) + atan(b)", math.asin(0.7) + math.acos(0.7) + math.atan(-1.3)),
        ("sinh(b) + cosh(b) + tanh(b)", math.sinh(-1.3) + math.cosh(-1.3) + math.tanh(-1.3)),
        ("pnorm(b)", stats.norm.cdf(-1.3)),
        ("pow(c, a) + min(a, b) + max(a, b)", 2.5**0.7 - 1.3 + 0.7),
        ("3", 3.0),
    ],
)  # fmt: skip
def test_values_match_hand_computation(text, expected):
    assert value(text) == pytest.approx(expected, rel=1e-14, abs=1e-15)


def test_result_is_a_scalar_of_the_vector_dtype():
    out = to_function(Num(3), INDEX)(X)
    assert out.shape == () and out.dtype == jnp.float64
    assert to_function(a, INDEX)(X.astype(jnp.float32)).dtype == jnp.float32


def test_gradient_matches_hand_derivative():
    f = to_function(parse_expr("a*b + exp(c)/a - b^2"), INDEX)
    x0, x1, x2 = (float(v) for v in X)
    expected = [x1 - math.exp(x2) / x0**2, x0 - 2 * x1, math.exp(x2) / x0]
    np.testing.assert_allclose(jax.grad(f)(X), expected, rtol=1e-13)
    np.testing.assert_allclose(jax.jacfwd(f)(X), expected, rtol=1e-13)


def test_integer_power_of_negative_base_has_finite_gradient():
    grad = jax.grad(to_function(parse_expr("b^2 + b^-1"), INDEX))(X)
    np.testing.assert_allclose(grad, [0.0, 2 * -1.3 - 1 / 1.3**2, 0.0], rtol=1e-13)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_gradient_matches_finite_differences(point):
    f = to_function(parse_expr("pnorm(a*b) + tanh(c - a)^2 + sin(a)*cos(b)/(2 + c^2)"), INDEX)
    x = jnp.array(point)
    step = 1e-6
    numeric = [(f(x + step * e) - f(x - step * e)) / (2 * step) for e in jnp.eye(3)]
    np.testing.assert_allclose(jax.grad(f)(x), numeric, rtol=1e-6, atol=1e-8)


def test_jit_and_vmap_agree_with_python_loop():
    f = to_function(parse_expr("a*b - pow(c, 2)/max(a, 0.5)"), INDEX)
    batch = jnp.array([[0.7, -1.3, 2.5], [1.0, 2.0, 3.0], [-0.2, 0.4, 0.1]])
    looped = jnp.stack([f(row) for row in batch])
    np.testing.assert_allclose(jax.vmap(f)(batch), looped, rtol=1e-15)
    np.testing.assert_allclose(jax.jit(jax.vmap(f))(batch), looped, rtol=1e-15)
    assert float(jax.jit(f)(X)) == pytest.approx(float(f(X)), rel=1e-15)


def test_index_positions_are_used():
    f = to_function(parse_expr("a - b"), {"a": 2, "b": 0})
    assert float(f(X)) == pytest.approx(2.5 - 0.7)


def test_unknown_parameter_fails_when_built():
    with pytest.raises(ValueError, match="unknown parameter 'q'"):
        to_function(parse_expr("a + q"), INDEX)


@pytest.mark.parametrize("tree", [Call("eval", (a,)), Call("exp", (a, b))])
def test_bad_calls_built_by_hand_are_rejected(tree):
    with pytest.raises(ValueError):
        to_function(tree, INDEX)
