"""Expression trees for defined parameters (``:=``) and constraints (``==``, ``<``, ``>``).

Grammar (parsed by :mod:`sem_engine.syntax`; precedence from loosest to tightest)::

    expr    := sum
    sum     := product (("+" | "-") product)*          left-associative
    product := unary (("*" | "/") unary)*              left-associative
    unary   := ("-" | "+") unary | power
    power   := atom ("^" unary)?                       right-associative, binds tighter than
                                                       unary minus: -a^2 is -(a^2)
    atom    := number | name | function "(" expr ("," expr)* ")" | "(" expr ")"

Only the functions in :data:`FUNCTIONS` may be called.  User text is never evaluated: the parser
builds the immutable nodes below, and :func:`to_function` turns a tree into JAX code by recursion on
the nodes, one closure per node.  Trees produced by the parser hold non-negative numbers only; a
negative constant is ``Unary("-", Num(c))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import jax
import jax.numpy as jnp
import jax.scipy.stats
import numpy as np
import scipy.special

UNARY_OPS = ("-", "+")
BINARY_OPS = ("+", "-", "*", "/", "^")


@dataclass(frozen=True)
class Num:
    """A numeric constant."""

    value: float

    def __post_init__(self):
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class Name:
    """A reference to a parameter by its label."""

    id: str


@dataclass(frozen=True)
class Unary:
    """``op operand`` with op ``"-"`` or ``"+"``."""

    op: str
    operand: Expr

    def __post_init__(self):
        if self.op not in UNARY_OPS:
            raise ValueError(f"unknown unary operator {self.op!r}")


@dataclass(frozen=True)
class Binary:
    """``left op right`` with op one of ``+ - * / ^``."""

    op: str
    left: Expr
    right: Expr

    def __post_init__(self):
        if self.op not in BINARY_OPS:
            raise ValueError(f"unknown binary operator {self.op!r}")


@dataclass(frozen=True)
class Call:
    """A call of a whitelisted function, ``func(args...)``."""

    func: str
    args: tuple

    def __post_init__(self):
        object.__setattr__(self, "args", tuple(self.args))


Expr = Num | Name | Unary | Binary | Call

FUNCTIONS: Mapping[str, Callable] = MappingProxyType(
    {
        "exp": jnp.exp,
        "log": jnp.log,
        "log10": jnp.log10,
        "sqrt": jnp.sqrt,
        "abs": jnp.abs,
        "sin": jnp.sin,
        "cos": jnp.cos,
        "tan": jnp.tan,
        "asin": jnp.arcsin,
        "acos": jnp.arccos,
        "atan": jnp.arctan,
        "sinh": jnp.sinh,
        "cosh": jnp.cosh,
        "tanh": jnp.tanh,
        "pnorm": jax.scipy.stats.norm.cdf,
        "pow": jnp.power,
        "min": jnp.minimum,
        "max": jnp.maximum,
    }
)
"""The functions an expression may call, by name."""

ARITY: Mapping[str, int] = MappingProxyType(
    {name: 2 if name in ("pow", "min", "max") else 1 for name in FUNCTIONS}
)
"""The number of arguments each function in :data:`FUNCTIONS` takes."""

_BINARY_FUNCTIONS = {
    "+": jnp.add,
    "-": jnp.subtract,
    "*": jnp.multiply,
    "/": jnp.divide,
    "^": jnp.power,
}

# Precedence levels used by to_text; higher binds tighter.
_SUM, _PRODUCT, _UNARY, _POWER, _ATOM = 1, 2, 3, 4, 5
_LEVEL = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "^": _POWER}
# Minimum level of (left, right) operand that needs no parentheses.
_OPERAND_LEVELS = {
    _SUM: (_SUM, _PRODUCT),
    _PRODUCT: (_PRODUCT, _UNARY),
    _POWER: (_ATOM, _UNARY),
}
_SPACED = ("+", "-")


def names(expr: Expr) -> tuple[str, ...]:
    """The parameter names used in ``expr``, unique, in order of first appearance."""
    found: dict[str, None] = {}
    _collect_names(expr, found)
    return tuple(found)


def _collect_names(expr: Expr, found: dict[str, None]) -> None:
    match expr:
        case Name(id=name):
            found.setdefault(name, None)
        case Unary(operand=operand):
            _collect_names(operand, found)
        case Binary(left=left, right=right):
            _collect_names(left, found)
            _collect_names(right, found)
        case Call(args=args):
            for arg in args:
                _collect_names(arg, found)


def format_number(value: float) -> str:
    """The shortest text that reads back as exactly ``value``: ``1.0`` -> ``"1"``.

    Raises ValueError for infinities and NaN, which the model syntax cannot express.
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written in model syntax")
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def to_text(expr: Expr) -> str:
    """lavaan-style text for ``expr`` with the fewest parentheses that keep its structure."""
    return _text(expr)[0]


def _text(expr: Expr) -> tuple[str, int]:
    """The text of ``expr`` and the precedence level of its outermost operator."""
    match expr:
        case Num(value=value):
            text = format_number(value)
            return text, _UNARY if text.startswith("-") else _ATOM
        case Name(id=name):
            return name, _ATOM
        case Call(func=func, args=args):
            return f"{func}({', '.join(to_text(arg) for arg in args)})", _ATOM
        case Unary(op=op, operand=operand):
            inner = _wrapped(operand, _UNARY)
            spacer = " " if inner.startswith(UNARY_OPS) else ""
            return f"{op}{spacer}{inner}", _UNARY
        case Binary(op=op, left=left, right=right):
            level = _LEVEL[op]
            left_min, right_min = _OPERAND_LEVELS[level]
            joiner = f" {op} " if op in _SPACED else op
            return _wrapped(left, left_min) + joiner + _wrapped(right, right_min), level
    raise TypeError(f"not an expression: {expr!r}")


def _wrapped(expr: Expr, minimum: int) -> str:
    """The text of ``expr``, in parentheses if it binds more loosely than ``minimum``."""
    text, level = _text(expr)
    return text if level >= minimum else f"({text})"


def to_function(expr: Expr, index: Mapping[str, int]) -> Callable[[jax.Array], jax.Array]:
    """A pure function ``f(x)`` giving the value of ``expr`` for the parameter vector ``x``.

    ``index`` maps each parameter name to its position in ``x``.  The result is a scalar of
    ``x``'s dtype; ``f`` can be jitted, differentiated and vmapped.  Raises ValueError when the
    expression names a parameter missing from ``index``.
    """
    body = _compile(expr, index)

    def function(x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.asarray(body(x), dtype=x.dtype)

    return function


def _compile(expr: Expr, index: Mapping[str, int]) -> Callable:
    """One closure per node; the tree is walked once, here, never at call time."""
    match expr:
        case Num(value=value):
            return lambda x: value
        case Name(id=name):
            return _parameter(name, index)
        case Unary(op="-", operand=operand):
            inner = _compile(operand, index)
            return lambda x: -inner(x)
        case Unary(operand=operand):
            return _compile(operand, index)
        case Binary(op="^", left=left, right=Num(value=value)) if _small_integer(value):
            base = _compile(left, index)
            # An integral exponent stays exact and differentiable for a negative base.
            exponent = int(value)
            return lambda x: jnp.power(base(x), exponent)
        case Binary(op=op, left=left, right=right):
            apply, first, second = _BINARY_FUNCTIONS[op], _compile(left, index), _compile(right, index)
            return lambda x: apply(first(x), second(x))
        case Call(func=func, args=args):
            return _call(func, [_compile(arg, index) for arg in args])
    raise TypeError(f"not an expression: {expr!r}")


def _small_integer(value: float) -> bool:
    return value.is_integer() and abs(value) <= 64


def _parameter(name: str, index: Mapping[str, int]) -> Callable:
    if name not in index:
        raise ValueError(f"unknown parameter {name!r}")
    position = int(index[name])
    return lambda x: x[position]


def _call(func: str, arguments: list[Callable]) -> Callable:
    if func not in FUNCTIONS:
        raise ValueError(f"unknown function {func!r}")
    if len(arguments) != ARITY[func]:
        raise ValueError(f"function {func!r} takes {ARITY[func]} argument(s), got {len(arguments)}")
    apply = FUNCTIONS[func]
    return lambda x: apply(*(argument(x) for argument in arguments))


# -- numeric evaluation with forward-mode derivatives, outside compiled code --------------------

_SQRT_2PI = math.sqrt(2.0 * math.pi)
# d f(v) / dv of the one-argument functions, from v and f(v)
_DERIVATIVES: Mapping[str, Callable] = MappingProxyType({
    "exp": lambda v, f: f,
    "log": lambda v, f: 1.0 / v,
    "log10": lambda v, f: 1.0 / (v * math.log(10.0)),
    "sqrt": lambda v, f: 0.5 / f,
    "abs": lambda v, f: np.sign(v),
    "sin": lambda v, f: np.cos(v),
    "cos": lambda v, f: -np.sin(v),
    "tan": lambda v, f: 1.0 + f * f,
    "asin": lambda v, f: 1.0 / np.sqrt(1.0 - v * v),
    "acos": lambda v, f: -1.0 / np.sqrt(1.0 - v * v),
    "atan": lambda v, f: 1.0 / (1.0 + v * v),
    "sinh": lambda v, f: np.cosh(v),
    "cosh": lambda v, f: np.sinh(v),
    "tanh": lambda v, f: 1.0 - f * f,
    "pnorm": lambda v, f: np.exp(-0.5 * v * v) / _SQRT_2PI,
})
_NUMPY = {"exp": np.exp, "log": np.log, "log10": np.log10, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin,
          "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
          "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "pnorm": scipy.special.ndtr}


def evaluate(expr: Expr, values: np.ndarray, index: Mapping[str, int], grad: bool = False):
    """The value of ``expr`` at ``values`` (numpy; ``index`` maps each name to its position on
    the last axis), and with ``grad`` its derivative with respect to ``values`` (forward mode,
    exact: the chain rule through each node).  ``values`` may carry leading batch axes (the
    bootstrap's replicates); the value has their shape, the derivative theirs plus one.  Used
    for defined parameters and constraints, so no model's expressions are ever compiled."""
    values = np.asarray(values, dtype=float)
    with np.errstate(all="ignore"):
        value, derivative = _evaluate(expr, values, index, grad)
    value = np.broadcast_to(value, values.shape[:-1]).astype(float)
    if not grad:
        return value
    if derivative is None:
        derivative = np.zeros(values.shape)
    return value, np.broadcast_to(derivative, values.shape).astype(float)


def _evaluate(expr: Expr, values, index, grad: bool):
    """(value, derivative or None for a constant) of one node."""
    match expr:
        case Num(value=value):
            return np.float64(value), None
        case Name(id=name):
            if name not in index:
                raise ValueError(f"unknown parameter {name!r}")
            position = int(index[name])
            d = None
            if grad:
                d = np.zeros(values.shape)
                d[..., position] = 1.0
            return values[..., position], d
        case Unary(op="-", operand=operand):
            v, d = _evaluate(operand, values, index, grad)
            return -v, None if d is None else -d
        case Unary(operand=operand):
            return _evaluate(operand, values, index, grad)
        case Binary(op=op, left=left, right=right):
            return _binary(op, _evaluate(left, values, index, grad), _evaluate(right, values, index, grad),
                           exact_power=isinstance(right, Num) and _small_integer(right.value))
        case Call(func=func, args=args):
            if func not in FUNCTIONS:
                raise ValueError(f"unknown function {func!r}")
            if len(args) != ARITY[func]:
                raise ValueError(f"function {func!r} takes {ARITY[func]} argument(s), got {len(args)}")
            parts = [_evaluate(arg, values, index, grad) for arg in args]
            if func == "pow":
                return _binary("^", *parts, exact_power=False)
            if func in ("min", "max"):
                (a, da), (b, db) = parts
                pick = (a <= b) if func == "min" else (a >= b)
                return np.where(pick, a, b), _select(pick, da, db)
            (v, d), = parts
            f = _NUMPY[func](v)
            return f, None if d is None else _scale(_DERIVATIVES[func](v, f), d)
    raise TypeError(f"not an expression: {expr!r}")


def _scale(factor, d):
    return np.asarray(factor)[..., None] * d


def _add(*terms):
    terms = [t for t in terms if t is not None]
    return sum(terms) if terms else None


def _select(pick, da, db):
    if da is None and db is None:
        return None
    shape = (da if da is not None else db).shape
    da = np.zeros(shape) if da is None else da
    db = np.zeros(shape) if db is None else db
    return np.where(np.asarray(pick)[..., None], da, db)


def _binary(op: str, left, right, exact_power: bool):
    (a, da), (b, db) = left, right
    if op == "+":
        return a + b, _add(da, db)
    if op == "-":
        return a - b, _add(da, None if db is None else -db)
    if op == "*":
        return a * b, _add(None if da is None else _scale(b, da), None if db is None else _scale(a, db))
    if op == "/":
        return a / b, _add(None if da is None else _scale(1.0 / b, da),
                           None if db is None else _scale(-a / (b * b), db))
    if exact_power:   # an integral exponent: exact, and differentiable for a negative base
        n = int(b)
        return a ** n, None if da is None else _scale(n * a ** (n - 1), da)
    f = np.power(a, b)
    d_base = None if da is None else _scale(b * np.power(a, b - 1.0), da)
    d_exp = None if db is None else _scale(np.where(np.asarray(db).any(axis=-1), f * np.log(a), 0.0), db)
    return f, _add(d_base, d_exp)
