"""lavaan model syntax: text to statements (:func:`parse`; printed back by statements.format_model).

A model is a sequence of statements, one per line or separated by ``;``::

    f =~ x1 + 0.8*x2 + a*x3        # Formula: =~ (measured by), ~ (regressed on), ~~ (covaries)
    y ~ 1 + start(0.5)*b*x         # '1' is the intercept, allowed with '~' only
    ab := a*b                      # Definition of a derived parameter
    a == 2*b                       # Constraint: ==, < or >

Comments run from ``#`` or ``!`` to the end of the line.  A statement continues on the next line
when its line ends with an operator, ``+``, ``-``, ``*``, ``/``, ``^``, ``(`` or ``,``, or when the
next line starts with ``+``.  Right-hand-side terms carry modifiers joined by ``*``: a number
(fixed value), ``NA`` (free), a label, ``start(v)``, ``label("a")``, ``equal("a")`` and ``c(...)``
(one value per group).

The grammar below is data for lark's LALR parser.  Lark lexes; a small loop here splits the token
stream into statements, applying the continuation rules, and feeds each statement to an interactive
parser so that errors point at the offending token in the original text.  Every failure becomes a
:class:`~sem_engine.errors.ModelSyntaxError`; user text is never evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from lark import Lark, Token, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedToken, VisitError
from lark.visitors import Transformer_NonRecursive

from .errors import ModelSyntaxError
from .expressions import ARITY, FUNCTIONS, Binary, Call, Expr, Name, Num, Unary, format_number
from .statements import (
    IDENTIFIER,
    Constraint,
    Definition,
    Formula,
    Location,
    Statement,
    Term,
)

_GRAMMAR = r"""
?statement: formula | definition | constraint

formula: NAME FORMULA_OP term ("+" term)*
definition: NAME DEFINE expr
constraint: expr COMPARE expr

term: (_modifier "*")* variable
_modifier: signed | word | function
!signed: ("+" | "-")? NUMBER
word: NAME
function: NAME "(" [_argument ("," _argument)*] ")"
_argument: signed | word | STRING
variable: NAME | NUMBER

?expr: product
    | expr "+" product -> add
    | expr "-" product -> sub
?product: unary
    | product "*" unary -> mul
    | product "/" unary -> div
?unary: power
    | "-" unary -> neg
    | "+" unary -> pos
?power: atom
    | atom "^" unary -> pow
?atom: NUMBER -> num
    | NAME -> name
    | NAME "(" [expr ("," expr)*] ")" -> call
    | "(" expr ")"

// Never parsed: keeps these terminals in the lexer.  The statement loop turns OPERATOR into the
// declared FORMULA_OP, DEFINE and COMPARE, and NEWLINE and SEMICOLON into statement ends.
lexer_only: OPERATOR | NEWLINE | SEMICOLON
%declare FORMULA_OP DEFINE COMPARE

NAME: /IDENTIFIER/
NUMBER: /(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/
STRING: /"[^"\n]*"|'[^'\n]*'/
OPERATOR: /~\*~|[=<>~:|%]+/
NEWLINE: "\n"
SEMICOLON: ";"
COMMENT: /[#!][^\n]*/
%ignore COMMENT
%ignore /[^\S\n]+/
""".replace("/IDENTIFIER/", f"/{IDENTIFIER}/")

_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="basic", start=["statement", "lexer_only"])

_OPERATOR_TYPES = {
    "=~": "FORMULA_OP",
    "~": "FORMULA_OP",
    "~~": "FORMULA_OP",
    ":=": "DEFINE",
    "==": "COMPARE",
    "<": "COMPARE",
    ">": "COMPARE",
}
_UNSUPPORTED = {
    "<~": "operator '<~' (formative indicators) is not supported",
    "~*~": "operator '~*~' (scaling factors) is not supported",
    "|": "operator '|' (thresholds) is not supported",
    "%": "operator '%' is not supported",
    ":": "operator ':' (interactions, group or level blocks) is not supported",
}
_HINTS = {
    "<=": "; use '<'",
    ">=": "; use '>'",
    "=": "; use '=~', ':=' or '=='",
}
_STATEMENT_OPERATORS = frozenset(("FORMULA_OP", "DEFINE", "COMPARE"))
_SEPARATORS = frozenset(("NEWLINE", "SEMICOLON"))
# A line ending in one of these continues on the next line.
_CONTINUES_AFTER = _STATEMENT_OPERATORS | {"PLUS", "MINUS", "STAR", "SLASH", "CIRCUMFLEX", "LPAR", "COMMA"}
_ARITHMETIC = frozenset(("PLUS", "MINUS", "STAR", "SLASH", "CIRCUMFLEX", "COMPARE"))
_PHRASES = {
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "CIRCUMFLEX": "'^'",
    "COMPARE": "'==', '<' or '>'",
    "FORMULA_OP": "'=~', '~' or '~~'",
    "DEFINE": "':='",
    "COMMA": "','",
    "RPAR": "')'",
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a quoted string",
    "$END": "the end of the statement",
}
_OPERATOR_LIST = "'=~', '~', '~~', ':=', '==', '<' or '>'"
_MODIFIER_FUNCTIONS = "start(), label(), equal() or c()"
_MAX_DEPTH = 200




def parse(text: str) -> tuple[Statement, ...]:
    """The statements of a lavaan model, in order.

    Raises ModelSyntaxError, with the line and column of the problem in ``text``, for anything
    that is not valid model syntax, and TypeError when ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"the model must be a str, not {type(text).__name__}")
    # Break lines exactly as ModelSyntaxError does, so that line numbers agree.
    source = "\n".join(text.splitlines())
    try:
        statements = tuple(_read(source))
    except _Problem as problem:
        raise ModelSyntaxError(problem.message, text, problem.line, problem.column) from None
    if not statements:
        raise ModelSyntaxError("the model has no statements", text)
    return statements


class _Problem(Exception):
    """A syntax problem at a position; :func:`parse` turns it into a ModelSyntaxError."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column

    @classmethod
    def at(cls, message: str, token: Token) -> _Problem:
        return cls(message, token.line, token.column)


def _read(source: str) -> Iterator[Statement]:
    """Split the token stream into statements and parse each one as soon as it ends."""
    statement: _Statement | None = None
    separators: list[Token] = []
    for token in _tokens(source):
        if token.type in _SEPARATORS:
            separators.append(token)
            continue
        if statement is not None and separators and _ends(statement.last, separators, token):
            yield statement.finish(_terminator(separators))
            statement = None
        separators = []
        if statement is None:
            statement = _Statement()
        statement.feed(token)
    if statement is not None:
        yield statement.finish(None)


def _tokens(source: str) -> Iterator[Token]:
    """lark's tokens, with operators classified and lexer errors turned into problems."""
    try:
        for token in _PARSER.lex(source):
            yield _classify(token) if token.type == "OPERATOR" else token
    except UnexpectedCharacters as error:
        raise _bad_character(source, error) from None


def _classify(token: Token) -> Token:
    """A FORMULA_OP, DEFINE or COMPARE token for a known operator; a problem otherwise."""
    value = str(token)
    if value in _OPERATOR_TYPES:
        return Token.new_borrow_pos(_OPERATOR_TYPES[value], value, token)
    if value in _UNSUPPORTED:
        raise _Problem.at(_UNSUPPORTED[value], token)
    raise _Problem.at(f"unknown operator '{value}'{_HINTS.get(value, '')}", token)


def _bad_character(source: str, error: UnexpectedCharacters) -> _Problem:
    character = source[error.pos_in_stream]
    if character in "\"'":
        return _Problem("unterminated string: the closing quote is missing", error.line, error.column)
    return _Problem(f"unexpected character {character!r}", error.line, error.column)


def _ends(last: Token, separators: list[Token], following: Token) -> bool:
    """Whether the separators between ``last`` and ``following`` end the statement."""
    if any(separator.type == "SEMICOLON" for separator in separators):
        return True
    return last.type not in _CONTINUES_AFTER and following.type != "PLUS"


def _terminator(separators: list[Token]) -> Token:
    """The separator that ended a statement: the first ';' if any, else the first newline."""
    semicolons = [separator for separator in separators if separator.type == "SEMICOLON"]
    return (semicolons or separators)[0]


class _Statement:
    """One statement being parsed, fed a token at a time."""

    def __init__(self):
        self.parser = _PARSER.parse_interactive(start="statement")
        self.tokens: list[Token] = []
        self.last: Token | None = None
        self.operator: Token | None = None

    def feed(self, token: Token) -> None:
        try:
            self.parser.feed_token(token)
        except UnexpectedToken:
            raise _Problem.at(_unexpected(token, self.accepted(), self), token) from None
        self.tokens.append(token)
        self.last = token
        if token.type in _STATEMENT_OPERATORS:
            self.operator = token

    def finish(self, terminator: Token | None) -> Statement:
        """The parsed statement, ended by a separator token or (None) the end of the text."""
        try:
            tree = self.parser.feed_eof(self.last)
        except UnexpectedToken:
            raise self._unexpected_end(terminator, self.accepted()) from None
        return _build(tree, self.tokens[0])

    def accepted(self) -> set[str]:
        """The token types the parser accepts after the tokens fed so far.

        LALR tables merge the look-aheads of similar states, so lark's ``expected`` may list
        tokens that fail one reduction later, and a failed feed leaves the parser half-reduced.
        Replaying the statement on a fresh parser and trying each token type is exact.
        """
        replay = _PARSER.parse_interactive(start="statement")
        for token in self.tokens:
            replay.feed_token(token)
        return set(replay.accepts())

    def _unexpected_end(self, terminator: Token | None, expected: set[str]) -> _Problem:
        if self.operator is None:
            where = f"after {_show(self.last)}: the statement has no operator ({_OPERATOR_LIST})"
        else:
            where = f"after {_show(self.last)}: expected {_expectation(expected, self)}"
        if terminator is not None and terminator.type == "SEMICOLON":
            return _Problem.at(f"unexpected ';' {where}", terminator)
        return _Problem(f"unexpected end of line {where}", self.last.end_line, self.last.end_column)


def _unexpected(token: Token, expected: set[str], statement: _Statement) -> str:
    """Plain words for a token the parser cannot take here."""
    shown = _show(token)
    if token.type in _STATEMENT_OPERATORS:
        if statement.operator is not None:
            return f"unexpected {shown}: a statement has only one operator"
        if statement.last is None:
            return f"unexpected {shown}: the left-hand side is missing"
        if token.type != "COMPARE" and "COMPARE" in expected:
            return f"the left-hand side of {shown} must be a single name"
    return f"unexpected {shown}: expected {_expectation(expected, statement)}"


def _expectation(expected: set[str], statement: _Statement) -> str:
    """What the parser would have accepted, in words."""
    previous = statement.last
    if "STRING" in expected:
        return "a number, NA, a label or a quoted string"
    if {"NAME", "NUMBER", "LPAR"} <= expected:
        return "a variable name" if previous is None else "a number, a name or '('"
    if {"NAME", "NUMBER"} <= expected:
        return "a variable name" if previous.type == "STAR" else "a term"
    if "FORMULA_OP" in expected:
        return f"an operator ({_OPERATOR_LIST})"
    operator = statement.operator
    return _listing(expected, in_formula=operator is not None and operator.type == "FORMULA_OP")


def _listing(expected: set[str], in_formula: bool) -> str:
    phrases = []
    arithmetic = expected & _ARITHMETIC
    if not in_formula and len(arithmetic) > 1:
        phrases.append("an operator")
        expected = expected - arithmetic
    # '(' only matters where nothing else fits: after a name it would start an unlikely call.
    phrases += [phrase for kind, phrase in _PHRASES.items() if kind in expected and kind != "LPAR"]
    phrases = phrases or ["'('"]
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _show(token: Token) -> str:
    if token.type == "$END":
        return "end of line"
    if token.type == "STRING":
        return str(token)
    return f"'{token}'"


def _build(tree, first: Token) -> Statement:
    """The statement for a parse tree, located at its first token."""
    try:
        statement = _Builder().transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, _Problem):
            raise error.orig_exc from None
        raise
    if isinstance(statement, Definition):
        _check_depth(statement.expr, first)
    elif isinstance(statement, Constraint):
        _check_depth(statement.lhs, first)
        _check_depth(statement.rhs, first)
    return replace(statement, location=_location(first))


def _location(token: Token) -> Location:
    return Location(token.line, token.column)


def _check_depth(expr: Expr, first: Token) -> None:
    """Reject trees too deep for the recursive functions in :mod:`sem_engine.expressions`."""
    stack = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise _Problem.at(f"the expression is nested more than {_MAX_DEPTH} levels deep", first)
        match node:
            case Unary(operand=operand):
                stack.append((operand, depth + 1))
            case Binary(left=left, right=right):
                stack += [(left, depth + 1), (right, depth + 1)]
            case Call(args=args):
                stack += [(arg, depth + 1) for arg in args]


@dataclass(frozen=True)
class _Argument:
    """A bare value inside or before ``*``: a float, a label (str) or None for NA."""

    value: float | str | None
    token: Token


@dataclass(frozen=True)
class _Modifier:
    """One modifier of a term; ``kind`` is value, label, start, equal or group."""

    kind: str
    value: object
    token: Token

    def describe(self) -> str:
        if self.kind == "value":
            return "NA" if self.value is None else f"the fixed value {format_number(self.value)}"
        if self.kind == "label":
            return f"the label '{self.value}'"
        if self.kind == "start":
            return f"start({format_number(self.value)})"
        if self.kind == "equal":
            return f'equal("{self.value}")'
        return "c(...)"


# Modifier kinds that may not appear together on one term.
_CONFLICTS = {
    "value": ("value", "group"),
    "label": ("label", "group"),
    "start": ("start",),
    "equal": ("equal",),
    "group": ("group", "value", "label"),
}


@v_args(inline=True)
class _Builder(Transformer_NonRecursive):
    """Parse tree to statements; the parse tree is walked without recursion."""

    def formula(self, lhs: Token, op: Token, *terms: Term) -> Formula:
        for term in terms:
            if term.name == "1" and op != "~":
                message = f"the intercept '1' can only be used with '~', not with '{op}'"
                raise _Problem(message, term.location.line, term.location.column)
        return Formula(str(lhs), str(op), terms)

    def definition(self, name: Token, _op: Token, expr: Expr) -> Definition:
        return Definition(str(name), expr)

    def constraint(self, lhs: Expr, op: Token, rhs: Expr) -> Constraint:
        return Constraint(lhs, str(op), rhs)

    def term(self, *children) -> Term:
        *modifiers, (name, token) = children
        modifiers = [_as_modifier(modifier) for modifier in modifiers]
        first = modifiers[0].token if modifiers else token
        return Term(name, **_merge(modifiers), location=_location(first))

    def variable(self, token: Token) -> tuple[str, Token]:
        if token.type == "NAME":
            return str(token), token
        if _number(token) != 1.0:
            raise _Problem.at(f"unexpected '{token}': expected a variable name or '1'", token)
        return "1", token

    def signed(self, *tokens: Token) -> _Argument:
        value = _number(tokens[-1])
        return _Argument(-value if tokens[0] == "-" else value, tokens[0])

    def word(self, token: Token) -> _Argument:
        return _Argument(None if token == "NA" else str(token), token)

    def STRING(self, token: Token) -> _Argument:
        return _Argument(token[1:-1], token)

    def function(self, name: Token, *arguments: _Argument | None) -> _Modifier:
        values = [argument.value for argument in arguments if argument is not None]
        if name == "c":
            if not values or "" in values:
                raise _Problem.at("c() needs at least one value and no empty labels", name)
            return _Modifier("group", tuple(values), name)
        if name == "start":
            return _Modifier("start", _single(name, values, float, "a number"), name)
        if name in ("label", "equal"):
            return _Modifier(str(name), _single(name, values, str, "a quoted label"), name)
        raise _Problem.at(f"unknown modifier '{name}(': expected {_MODIFIER_FUNCTIONS}", name)

    def num(self, token: Token) -> Num:
        return Num(_number(token))

    def name(self, token: Token) -> Name:
        return Name(str(token))

    def call(self, func: Token, *args: Expr | None) -> Call:
        args = tuple(arg for arg in args if arg is not None)
        if func not in FUNCTIONS:
            allowed = ", ".join(FUNCTIONS)
            raise _Problem.at(f"unknown function '{func}': allowed functions are {allowed}", func)
        if len(args) != ARITY[func]:
            message = f"function '{func}' takes {ARITY[func]} argument(s), got {len(args)}"
            raise _Problem.at(message, func)
        return Call(str(func), args)

    def add(self, left: Expr, right: Expr) -> Binary:
        return Binary("+", left, right)

    def sub(self, left: Expr, right: Expr) -> Binary:
        return Binary("-", left, right)

    def mul(self, left: Expr, right: Expr) -> Binary:
        return Binary("*", left, right)

    def div(self, left: Expr, right: Expr) -> Binary:
        return Binary("/", left, right)

    def pow(self, left: Expr, right: Expr) -> Binary:
        return Binary("^", left, right)

    def neg(self, operand: Expr) -> Unary:
        return Unary("-", operand)

    def pos(self, operand: Expr) -> Unary:
        return Unary("+", operand)


def _number(token: Token) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _Problem.at(f"the number {token} is too large", token)
    return value


def _single(name: Token, values: list, kind: type, wanted: str):
    """The one argument of start(), label() or equal(), checked to be of ``kind``."""
    if len(values) != 1 or not isinstance(values[0], kind):
        raise _Problem.at(f"{name}() takes one argument, {wanted}", name)
    if values[0] == "":
        raise _Problem.at(f"{name}() needs a non-empty label", name)
    return values[0]


def _as_modifier(child: _Argument | _Modifier) -> _Modifier:
    """A bare number is a fixed value, NA frees the parameter, a name is a label."""
    if isinstance(child, _Modifier):
        return child
    kind = "label" if isinstance(child.value, str) else "value"
    return _Modifier(kind, child.value, child.token)


def _merge(modifiers: list[_Modifier]) -> dict:
    """Term fields from a term's modifiers, rejecting contradictory ones."""
    seen: dict[str, _Modifier] = {}
    for modifier in modifiers:
        for kind in _CONFLICTS[modifier.kind]:
            if kind in seen:
                message = f"conflicting modifiers: {modifier.describe()} after {seen[kind].describe()}"
                raise _Problem.at(message, modifier.token)
        seen[modifier.kind] = modifier
    fields = {kind: seen[kind].value for kind in ("label", "start", "equal", "group") if kind in seen}
    if "value" in seen and seen["value"].value is None:
        fields["free"] = True
    elif "value" in seen:
        fields["fixed"] = seen["value"].value
    return fields
