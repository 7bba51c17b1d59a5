"""Model statements (the parsed form of lavaan syntax) and their canonical text.

``syntax.parse`` turns text into these; ``format_model`` turns them back into text that parses
equal.  ``IDENTIFIER`` is the one definition of a name in model syntax (the grammar uses it too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .expressions import Expr, format_number, to_text

IDENTIFIER = r"(?:[^\W\d_]|\.[^\W\d])[\w.]*"
_IDENTIFIER = re.compile(IDENTIFIER)


@dataclass(frozen=True)
class Location:
    """A 1-based position in the model text; (0, 0) when unknown."""

    line: int
    column: int


@dataclass(frozen=True)
class Term:
    """One right-hand-side term of ``=~``, ``~`` or ``~~`` with its modifiers.

    ``name`` is ``"1"`` for an intercept.  ``fixed`` is a fixed value (``0.8*x``), ``free`` is set
    by ``NA*x``, ``group`` holds ``c(...)`` values: a float (fixed), a str (label) or None (NA).
    """

    name: str
    fixed: float | None = None
    free: bool = False
    label: str | None = None
    start: float | None = None
    equal: str | None = None
    group: tuple | None = None
    location: Location = field(default=Location(0, 0), compare=False)


@dataclass(frozen=True)
class Formula:
    """``lhs op terms`` with op ``"=~"``, ``"~"`` or ``"~~"``."""

    lhs: str
    op: str
    terms: tuple[Term, ...]
    location: Location = field(default=Location(0, 0), compare=False)


@dataclass(frozen=True)
class Definition:
    """``name := expr``, a derived parameter."""

    name: str
    expr: Expr
    location: Location = field(default=Location(0, 0), compare=False)


@dataclass(frozen=True)
class Constraint:
    """``lhs op rhs`` with op ``"=="``, ``"<"`` or ``">"``."""

    lhs: Expr
    op: str
    rhs: Expr
    location: Location = field(default=Location(0, 0), compare=False)


Statement = Formula | Definition | Constraint


def format_model(statements: Iterable[Statement]) -> str:
    """Canonical lavaan syntax for ``statements``, one per line; ``parse`` reads it back equal."""
    return "".join(format_statement(statement) + "\n" for statement in statements)


def format_statement(statement: Statement) -> str:
    """Canonical lavaan syntax for one statement.

    Raises ValueError for what model syntax cannot express: a name that is not an identifier, a
    label with both kinds of quote, a number that is infinite or NaN.
    """
    match statement:
        case Formula(lhs=lhs, op=op, terms=terms):
            return f"{_identifier(lhs)} {op} " + " + ".join(_format_term(term) for term in terms)
        case Definition(name=name, expr=expr):
            return f"{_identifier(name)} := {to_text(expr)}"
        case Constraint(lhs=lhs, op=op, rhs=rhs):
            left = to_text(lhs)
            # A line that starts with '+' would continue the previous statement.
            left = f"({left})" if left.startswith("+") else left
            return f"{left} {op} {to_text(rhs)}"
    raise TypeError(f"not a statement: {statement!r}")


def _format_term(term: Term) -> str:
    """Modifiers in the order c(), start(), equal(), NA or fixed value, label; then the variable."""
    parts = []
    if term.group is not None:
        parts.append("c(" + ", ".join(_format_group_value(value) for value in term.group) + ")")
    if term.start is not None:
        parts.append(f"start({format_number(term.start)})")
    if term.equal is not None:
        parts.append(f"equal({_quote(term.equal)})")
    if term.free:
        parts.append("NA")
    if term.fixed is not None:
        parts.append(format_number(term.fixed))
    if term.label is not None:
        parts.append(_format_label(term.label, wrap="label({})"))
    parts.append("1" if term.name == "1" else _identifier(term.name))
    return "*".join(parts)


def _format_group_value(value: float | str | None) -> str:
    if value is None:
        return "NA"
    if isinstance(value, str):
        return _format_label(value, wrap="{}")
    return format_number(value)


def _format_label(label: str, wrap: str) -> str:
    """A label bare when it reads back as a label, else quoted and put in ``wrap``."""
    if _IDENTIFIER.fullmatch(label) and label != "NA":
        return label
    return wrap.format(_quote(label))


def _identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid name in model syntax")
    return name


def _quote(text: str) -> str:
    if text.splitlines() != [text]:
        raise ValueError(f"{text!r} cannot be written as a quoted label")
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    raise ValueError(f"{text!r} contains both kinds of quote")
