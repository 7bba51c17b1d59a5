import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sem_engine.errors import ModelSyntaxError
from sem_engine.expressions import ARITY, FUNCTIONS, Binary, Call, Name, Num, Unary
from sem_engine.statements import (
    Constraint,
    Definition,
    Formula,
    Location,
    Term,
    format_model,
    format_statement,
)
from sem_engine.syntax import parse

HOLZINGER_SWINEFORD = """
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"""

POLITICAL_DEMOCRACY = """
  # measurement model
    ind60 =~ x1 + x2 + x3
    dem60 =~ y1 + a*y2 + b*y3 + c*y4
    dem65 =~ y5 + a*y6 + b*y7 + c*y8

  # regressions
    dem60 ~ ind60
    dem65 ~ ind60 + dem60

  # residual correlations
    y1 ~~ y5
    y2 ~~ y4 + y6
    y3 ~~ y7
    y4 ~~ y8
    y6 ~~ y8

  # a derived quantity
    abc := a*b*c
"""

MEDIATION = """
# direct effect
    Y ~ c*X
# mediator
    M ~ a*X
    Y ~ b*M
# indirect effect (a*b)
    ab := a*b
# total effect
    total := c + (a*b)
    Y ~ 1; M ~ 1
    a > 0
"""

CORPUS = [HOLZINGER_SWINEFORD, POLITICAL_DEMOCRACY, MEDIATION]


def formula(lhs, op, *names):
    return Formula(lhs, op, tuple(Term(n) if isinstance(n, str) else n for n in names))


def syntax_error(text) -> ModelSyntaxError:
    with pytest.raises(ModelSyntaxError) as info:
        parse(text)
    return info.value


# --- corpus --------------------------------------------------------------------------------------


def test_holzinger_swineford():
    assert parse(HOLZINGER_SWINEFORD) == (
        formula("visual", "=~", "x1", "x2", "x3"),
        formula("textual", "=~", "x4", "x5", "x6"),
        formula("speed", "=~", "x7", "x8", "x9"),
    )


def test_political_democracy():
    statements = parse(POLITICAL_DEMOCRACY)
    assert len(statements) == 11
    assert statements[1] == formula(
        "dem60", "=~", "y1", Term("y2", label="a"), Term("y3", label="b"), Term("y4", label="c")
    )
    assert statements[4] == formula("dem65", "~", "ind60", "dem60")
    assert statements[6] == formula("y2", "~~", "y4", "y6")
    assert statements[-1] == Definition("abc", Binary("*", Binary("*", Name("a"), Name("b")), Name("c")))


def test_mediation_with_intercepts():
    statements = parse(MEDIATION)
    assert statements[0] == formula("Y", "~", Term("X", label="c"))
    assert statements[4] == Definition("total", Binary("+", Name("c"), Binary("*", Name("a"), Name("b"))))
    assert statements[5:] == (
        formula("Y", "~", "1"),
        formula("M", "~", "1"),
        Constraint(Name("a"), ">", Num(0)),
    )


@pytest.mark.parametrize("model", CORPUS)
def test_format_then_parse_is_idempotent(model):
    statements = parse(model)
    text = format_model(statements)
    assert parse(text) == statements
    assert format_model(parse(text)) == text


def test_format_model_text():
    model = """
    f =~ NA*x1 + start(0.5)*a*x2 + label("b b")*x3 + equal("a")*x4 + c(1, NA, q, 'r s')*x5
    y ~ 0*1 + -0.25*x + 1e-30*z
    d := -a^2 + exp(b)/(1 + b)
    a + b == 1
    """
    assert format_model(parse(model)) == (
        'f =~ NA*x1 + start(0.5)*a*x2 + label("b b")*x3 + equal("a")*x4 + c(1, NA, q, "r s")*x5\n'
        "y ~ 0*1 + -0.25*x + 1e-30*z\n"
        "d := -a^2 + exp(b)/(1 + b)\n"
        "a + b == 1\n"
    )


# --- lines, comments, continuation ---------------------------------------------------------------


def test_semicolons_comments_tabs_and_blank_lines():
    text = "\t y ~ x ;; f =~ a  # comment ; not a separator\n\n! another comment\r\n\tz ~~ z;"
    assert parse(text) == (formula("y", "~", "x"), formula("f", "=~", "a"), formula("z", "~~", "z"))


@pytest.mark.parametrize(
    "text",
    [
        "f =~ x1 +\n  x2 + x3",
        "f =~\n x1 + x2 + x3",
        "f =~ x1\n  + x2\n  + x3",
        "f =~ x1 + # first\n\n  # a comment line\n  x2 +\n x3",
        "f =~ x1 + x2 + x3 # trailing comment",
    ],
)
def test_continuation_lines(text):
    assert parse(text) == (formula("f", "=~", "x1", "x2", "x3"),)


def test_continuation_after_modifier_parts_and_expression_operators():
    text = "y ~ start(\n0.5)*c(1,\n 2)*\n x\nd := a -\n b *\n (c /\n 2)^\n 2"
    assert parse(text) == (
        formula("y", "~", Term("x", start=0.5, group=(1.0, 2.0))),
        Definition(
            "d",
            Binary("-", Name("a"), Binary("*", Name("b"), Binary("^", Binary("/", Name("c"), Num(2)), Num(2)))),
        ),
    )


def test_semicolon_is_never_a_continuation():
    assert syntax_error("y ~ x +; z ~ w").reason == "unexpected ';' after '+': expected a term"


def test_line_endings_follow_str_splitlines():
    # \r, \x0c and \u2028 break lines for ModelSyntaxError too, so positions agree.
    error = syntax_error("y ~ x\rz ~ w\x0cf =~ @")
    assert (error.line, error.column) == (3, 6)


def test_locations_of_statements_and_terms():
    text = "# header\n  f =~ x1 +\n\tx2 + 0.5*x3\nd := a ; a == 2"
    f, d, c = parse(text)
    assert f.location == Location(2, 3)
    assert [t.location for t in f.terms] == [Location(2, 8), Location(3, 2), Location(3, 7)]
    assert d.location == Location(4, 1)
    assert c.location == Location(4, 10)


# --- terms and modifiers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, term",
    [
        ("y ~ 0.8*x", Term("x", fixed=0.8)),
        ("y ~ -0.5*x", Term("x", fixed=-0.5)),
        ("y ~ +2*x", Term("x", fixed=2.0)),
        ("y ~ .5*x", Term("x", fixed=0.5)),
        ("y ~ 1e-3*x", Term("x", fixed=0.001)),
        ("y ~ NA*x", Term("x", free=True)),
        ("y ~ a*x", Term("x", label="a")),
        ("y ~ label('a')*x", Term("x", label="a")),
        ('y ~ label("a b")*x', Term("x", label="a b")),
        ("y ~ start(0.5)*x", Term("x", start=0.5)),
        ("y ~ start(-1)*x", Term("x", start=-1.0)),
        ('y ~ equal("a")*x', Term("x", equal="a")),
        ('y ~ equal("f=~x1")*x', Term("x", equal="f=~x1")),
        ("y ~ c(1, NA, a, 'b')*x", Term("x", group=(1.0, None, "a", "b"))),
        ("y ~ c(a1, a2)*x", Term("x", group=("a1", "a2"))),
        ("y ~ a*start(0.5)*x", Term("x", label="a", start=0.5)),
        ("y ~ start(1)*a*x", Term("x", label="a", start=1.0)),
        ("y ~ NA*start(2)*b*x", Term("x", free=True, start=2.0, label="b")),
        ("y ~ 1*a*x", Term("x", fixed=1.0, label="a")),
        ("y ~ c(1, 2)*start(0.5)*x", Term("x", group=(1.0, 2.0), start=0.5)),
        ("y ~ c*x", Term("x", label="c")),
        ("y ~ start*x", Term("x", label="start")),
        ("y ~ c", Term("c")),
        ("y ~ start", Term("start")),
        ("y ~ x.1", Term("x.1")),
        ("y ~ .f_a", Term(".f_a")),
        ("y ~ 1", Term("1")),
        ("y ~ 0*1", Term("1", fixed=0.0)),
        ("y ~ a*1", Term("1", label="a")),
    ],
)
def test_single_terms(text, term):
    assert parse(text) == (Formula("y", "~", (term,)),)


def test_intercept_with_other_terms():
    assert parse("y ~ 1 + x") == (formula("y", "~", "1", "x"),)


def test_expressions_and_comparisons():
    assert parse("d := -a^2 + pnorm(b)\na < 2*b\nb > -1") == (
        Definition("d", Binary("+", Unary("-", Binary("^", Name("a"), Num(2))), Call("pnorm", (Name("b"),)))),
        Constraint(Name("a"), "<", Binary("*", Num(2), Name("b"))),
        Constraint(Name("b"), ">", Unary("-", Num(1))),
    )


# --- errors --------------------------------------------------------------------------------------

ERRORS = [
    ("f =~", 1, 5, "unexpected end of line after '=~': expected a term"),
    ("f =~ *x1", 1, 6, "unexpected '*': expected a term"),
    ("y ~ a**x", 1, 7, "unexpected '*': expected a variable name"),
    ("y ~ x1 x2", 1, 8, "unexpected 'x2': expected '+', '*' or the end of the statement"),
    ("f => x", 1, 3, "unknown operator '=>'"),
    ("a <= b", 1, 3, "unknown operator '<='; use '<'"),
    ("f <~ x1 + x2", 1, 3, "operator '<~' (formative indicators) is not supported"),
    ("u | t1 + t2", 1, 3, "operator '|' (thresholds) is not supported"),
    ("x ~*~ x", 1, 3, "operator '~*~' (scaling factors) is not supported"),
    ("y ~ x %% z", 1, 7, "unknown operator '%%'"),
    ("y % x", 1, 3, "operator '%' is not supported"),
    ("y ~ x1:x2", 1, 7, "operator ':' (interactions, group or level blocks) is not supported"),
    ("f1 + f2 =~ x", 1, 9, "the left-hand side of '=~' must be a single name"),
    ("2*a := b", 1, 5, "the left-hand side of ':=' must be a single name"),
    ("=~ x", 1, 1, "unexpected '=~': the left-hand side is missing"),
    ("y ~ x ~ z", 1, 7, "unexpected '~': a statement has only one operator"),
    ("a == b < c", 1, 8, "unexpected '<': a statement has only one operator"),
    ("x", 1, 2, "unexpected end of line after 'x': the statement has no operator"),
    ("x y", 1, 3, "unexpected 'y': expected an operator ('=~', '~', '~~', ':=', '==', '<' or '>')"),
    ("y ~ 0.8*NA*x", 1, 9, "conflicting modifiers: NA after the fixed value 0.8"),
    ("y ~ 1*2*x", 1, 7, "conflicting modifiers: the fixed value 2 after the fixed value 1"),
    ("y ~ a*label('b')*x", 1, 7, "conflicting modifiers: the label 'b' after the label 'a'"),
    ("y ~ start(1)*start(2)*x", 1, 14, "conflicting modifiers: start(2) after start(1)"),
    ("y ~ c(1, 2)*NA*x", 1, 13, "conflicting modifiers: NA after c(...)"),
    ("f =~ 1", 1, 6, "the intercept '1' can only be used with '~', not with '=~'"),
    ("y ~~ a*1", 1, 6, "the intercept '1' can only be used with '~', not with '~~'"),
    ("y ~ 2", 1, 5, "unexpected '2': expected a variable name or '1'"),
    ("y ~ -x", 1, 6, "unexpected 'x': expected a number"),
    ("y ~ start(1)", 1, 13, "unexpected end of line after ')': expected '*'"),
    ("y ~ foo(1)*x", 1, 5, "unknown modifier 'foo(': expected start(), label(), equal() or c()"),
    ("y ~ c()*x", 1, 5, "c() needs at least one value and no empty labels"),
    ("y ~ c(a, '')*x", 1, 5, "c() needs at least one value and no empty labels"),
    ("y ~ c(1,)*x", 1, 9, "unexpected ')': expected a number, NA, a label or a quoted string"),
    ("y ~ c(1 2)*x", 1, 9, "unexpected '2': expected ',' or ')'"),
    ("y ~ start(a)*x", 1, 5, "start() takes one argument, a number"),
    ("y ~ start(1, 2)*x", 1, 5, "start() takes one argument, a number"),
    ("y ~ label(1)*x", 1, 5, "label() takes one argument, a quoted label"),
    ("y ~ label('')*x", 1, 5, "label() needs a non-empty label"),
    ("y ~ 1e999*x", 1, 5, "the number 1e999 is too large"),
    ('y ~ label("a)*x', 1, 11, "unterminated string: the closing quote is missing"),
    ("y ~ x @ z", 1, 7, "unexpected character '@'"),
    ("d := foo(a)", 1, 6, "unknown function 'foo': allowed functions are exp, log, log10"),
    ("d := c(a)", 1, 6, "unknown function 'c'"),
    ("d := pow(a)", 1, 6, "function 'pow' takes 2 argument(s), got 1"),
    ("d := a +", 1, 9, "unexpected end of line after '+': expected a number, a name or '('"),
    ("d := (a", 1, 8, "unexpected end of line after 'a': expected an operator or ')'"),
    ("d := a)", 1, 7, "unexpected ')': expected an operator or the end of the statement"),
    ("d := 2 3", 1, 8, "unexpected '3': expected an operator or the end of the statement"),
    ("a < b\n\tf =~ 3x", 2, 8, "unexpected 'x': expected '+', '*' or the end of the statement"),
    ("y ~ x\n *z", 2, 2, "unexpected '*': expected a variable name"),
    ("f =~ x1 +\n  x2 +\n  # note\n x3 x4", 4, 5, "unexpected 'x4'"),
]


@pytest.mark.parametrize("text, line, column, message", ERRORS)
def test_error_positions_and_messages(text, line, column, message):
    error = syntax_error(text)
    assert (error.line, error.column) == (line, column)
    assert error.reason.startswith(message)


def test_error_renders_line_and_caret():
    error = syntax_error("y ~ x\n\tf =~ x1 x2")
    assert str(error) == (
        "line 2, column 10: unexpected 'x2': expected '+', '*' or the end of the statement\n"
        "     f =~ x1 x2\n"
        "             ^"
    )


@pytest.mark.parametrize("text", ["", "   \n\t\n", "# only a comment\n! and another", ";;\n;"])
def test_empty_model(text):
    error = syntax_error(text)
    assert error.reason == "the model has no statements"
    assert error.line == 0


@pytest.mark.parametrize("value", [None, b"y ~ x", ["y ~ x"]])
def test_non_str_model_is_a_type_error(value):
    with pytest.raises(TypeError):
        parse(value)


def test_first_error_in_text_order_wins():
    assert syntax_error("y ~ a*b*x\nz ~ @").line == 1
    assert syntax_error("y ~ x x\nd := foo(a)").line == 1


def test_deeply_nested_expressions_are_errors_not_crashes():
    assert parse("d := " + "(" * 150 + "a" + ")" * 150)[0].expr == Name("a")
    assert parse("d := " + "-" * 150 + "a")
    error = syntax_error("x := 1\nd := " + "-(" * 300 + "a" + ")" * 300)
    assert (error.line, error.column) == (2, 1)
    assert "nested more than" in error.reason


# --- format_statement edge cases -----------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        Formula("bad name", "~", (Term("x"),)),
        Formula("y", "~", (Term("x y"),)),
        Formula("y", "~", (Term("x", label="a\"b'c"),)),
        Formula("y", "~", (Term("x", fixed=math.inf),)),
        Definition("1d", Name("a")),
    ],
)
def test_format_rejects_what_syntax_cannot_express(statement):
    with pytest.raises(ValueError):
        format_statement(statement)


def test_format_quotes_labels_that_are_not_bare_names():
    statement = Formula("y", "~", (Term("x", label="NA"), Term("z", label="a'b", group=None)))
    assert format_statement(statement) == "y ~ label(\"NA\")*x + label(\"a'b\")*z"
    statement = Formula("y", "~", (Term("x", label='a"b', group=None),))
    assert format_statement(statement) == "y ~ label('a\"b')*x"


# --- properties ----------------------------------------------------------------------------------

RESERVED = {"NA", "start", "label", "equal", "c"}
identifiers = st.from_regex(
    r"[A-Za-z][A-Za-z0-9_.]{0,5}|\.[A-Za-z_][A-Za-z0-9_.]{0,3}", fullmatch=True
).filter(lambda s: s not in RESERVED)
numbers = st.floats(allow_nan=False, allow_infinity=False)
constants = st.floats(min_value=0, allow_nan=False, allow_infinity=False).filter(
    lambda v: math.copysign(1.0, v) > 0
)
texts = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\"'"), min_size=1
)
quoted = st.one_of(texts, texts.map(lambda s: s + "'"), texts.map(lambda s: '"' + s))


@st.composite
def terms(draw, op):
    name = draw(st.sampled_from(["1"]) | identifiers) if op == "~" else draw(identifiers)
    value = draw(st.sampled_from(["none", "fixed", "free", "group"]))
    fields = {
        "start": draw(st.none() | numbers),
        "equal": draw(st.none() | quoted),
    }
    if value == "group":
        fields["group"] = tuple(draw(st.lists(st.none() | numbers | identifiers | quoted, min_size=1, max_size=4)))
    else:
        fields["label"] = draw(st.none() | identifiers | quoted)
        fields["fixed"] = draw(numbers) if value == "fixed" else None
        fields["free"] = value == "free"
    return Term(name, **fields)


def extend(children):
    return st.one_of(
        st.builds(Unary, st.sampled_from(["-", "+"]), children),
        st.builds(Binary, st.sampled_from(["+", "-", "*", "/", "^"]), children, children),
        st.sampled_from(sorted(FUNCTIONS)).flatmap(
            lambda f: st.tuples(*[children] * ARITY[f]).map(lambda args: Call(f, args))
        ),
    )


expressions = st.recursive(st.builds(Num, constants) | st.builds(Name, identifiers), extend, max_leaves=8)
formulas = st.sampled_from(["=~", "~", "~~"]).flatmap(
    lambda op: st.builds(Formula, identifiers, st.just(op), st.lists(terms(op), min_size=1, max_size=4).map(tuple))
)
statements = st.one_of(
    formulas,
    st.builds(Definition, identifiers, expressions),
    st.builds(Constraint, expressions, st.sampled_from(["==", "<", ">"]), expressions),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statements, min_size=1, max_size=5).map(tuple))
def test_format_parse_round_trip(model):
    assert parse(format_model(model)) == model


def assert_parses_or_syntax_error(text):
    try:
        assert all(isinstance(s, (Formula, Definition, Constraint)) for s in parse(text))
    except ModelSyntaxError as error:
        lines = text.splitlines()
        if error.line:
            assert 1 <= error.line <= len(lines)
            assert 1 <= error.column <= len(lines[error.line - 1]) + 1
        assert str(error)


SYNTAX_CHARACTERS = list("abcxyz019.,;:=~<>+-*/^()\"'#!|%_ \t\n") + ["NA", "start(", "label(", "c(", "exp("]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SYNTAX_CHARACTERS), max_size=40).map("".join))
def test_syntax_like_garbage_parses_or_raises_syntax_error(text):
    assert_parses_or_syntax_error(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_syntax_error(text):
    assert_parses_or_syntax_error(text)


@st.composite
def mutated_models(draw):
    text = draw(st.sampled_from(CORPUS + [format_model(parse(m)) for m in CORPUS]))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        piece = draw(st.sampled_from(SYNTAX_CHARACTERS))
        if kind == "insert":
            text = text[:at] + piece + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)):]
        elif kind == "replace":
            text = text[:at] + piece + text[at + 1:]
        else:
            text = text[:at] + text[at:at + draw(st.integers(1, 20))] + text[at:]
    return text


@settings(max_examples=200, deadline=None)
@given(mutated_models())
def test_mutated_models_parse_or_raise_syntax_error(text):
    assert_parses_or_syntax_error(text)
