"""Statements -> parameter table, with lavaan's defaults for ``sem()``/``cfa()`` applied.

The table has lavaan's columns (``id lhs op rhs user free ustart exo label``) plus ``start``.
``free`` numbers the free rows 1..npar in table order (0: fixed); ``exo=1`` marks moments of
fixed exogenous covariates, whose values come from the sample at fit time.  Equality of
parameters that share a label, and ``==`` constraints, are kept as constraints (as lavaan does),
not by merging rows.

Defaults added (lavaan's ``auto.*`` rules, see ``?lavOptions``):
- the first loading of each factor fixed to 1 (``auto.fix.first``) unless ``std_lv``, which fixes
  every latent (residual) variance to 1 instead;
- residual variances of every observed and latent variable (``auto.var``); the residual variance
  of a factor's only indicator fixed to 0 (``auto.fix.single``);
- covariances among exogenous latent variables (``auto.cov.lv.x``; fixed to 0 if ``orthogonal``,
  as is every other default covariance of two latent variables);
- covariances among purely endogenous variables, latent then observed: dependent in a regression,
  never a predictor, never an indicator (``auto.cov.y``);
- with ``fixed_x``, variances, covariances (and means) of exogenous observed covariates fixed to
  their sample values;
- with a mean structure, free intercepts of observed variables and latent means fixed to 0.

Multi-group models (``group=``): the rows are built once per group (``c(...)`` modifiers give each
group its own value or label; a plain label is shared by all groups, so it makes the parameter
equal across groups), in group blocks with the ``group`` column numbering them from 1.
``group_equal`` gives rows of the named kinds in every group the label of the first group's row
(lavaan's ``.pK.`` plabel, K its id), so they are equal, except the rows named in
``group_partial``.  lavaan's identification rules follow: with equal intercepts (but free means)
the latent means are free in all groups but the first; with ``std_lv`` and equal loadings the
latent variances are free in all groups but the first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from . import expressions
from .errors import ModelError
from .options import Options
from .statements import Constraint, Definition, Formula, Term

COLUMNS = ["id", "lhs", "op", "rhs", "user", "group", "free", "ustart", "exo", "label", "equal", "start"]
# group_equal kinds (lavaan's names) -> does a row (op, lhs is latent, lhs == rhs) belong to it
EQUAL_KINDS = {
    "loadings": lambda op, lv, same: op == "=~",
    "intercepts": lambda op, lv, same: op == "~1" and not lv,
    "means": lambda op, lv, same: op == "~1" and lv,
    "residuals": lambda op, lv, same: op == "~~" and not lv and same,
    "residual.covariances": lambda op, lv, same: op == "~~" and not lv and not same,
    "lv.variances": lambda op, lv, same: op == "~~" and lv and same,
    "lv.covariances": lambda op, lv, same: op == "~~" and lv and not same,
    "regressions": lambda op, lv, same: op == "~",
}


@dataclass(frozen=True)
class Variables:
    """Names of the model's variables by role, in lavaan's order."""

    ov: tuple[str, ...]
    lv: tuple[str, ...]
    ov_x: tuple[str, ...]
    indicators: tuple[str, ...]
    lv_x: tuple[str, ...]
    endogenous: tuple[str, ...]


@dataclass(frozen=True)
class ParameterTable:
    """The parameter table plus what cannot live in a flat table: expression trees."""

    table: pd.DataFrame
    variables: Variables
    meanstructure: bool
    definitions: tuple[Definition, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    labels: dict = field(default_factory=dict)
    n_groups: int = 1

    @property
    def npar(self) -> int:
        return int(self.table["free"].max()) if len(self.table) else 0

    def group_table(self, g: int) -> "ParameterTable":
        """The rows of group ``g`` (0-based) as a single-group table, ``free`` renumbered 1..n_g in
        order; its ``global_free`` column keeps the multi-group numbering."""
        table = self.table[self.table["group"] == g + 1].reset_index(drop=True)
        free = table["free"].to_numpy()
        table["global_free"] = free
        table["free"] = np.where(free > 0, np.cumsum(free > 0), 0)
        return ParameterTable(table, self.variables, self.meanstructure)


def values_jacobian(pt: ParameterTable) -> np.ndarray:
    """∂(row values)/∂x: 1 where a row is the free parameter x_i (the ``free`` column)."""
    free = pt.table["free"].to_numpy()
    out = np.zeros((len(free), pt.npar))
    rows = np.flatnonzero(free > 0)
    out[rows, free[rows] - 1] = 1.0
    return out


def build(statements: Sequence, options: Options, n_groups: int = 1) -> ParameterTable:
    """Parameter table of ``statements`` under ``options`` (lavaan's ``lavaanify``), with
    ``n_groups`` groups."""
    formulas = [s for s in statements if isinstance(s, Formula)]
    definitions = tuple(s for s in statements if isinstance(s, Definition))
    constraints = tuple(s for s in statements if isinstance(s, Constraint))
    if not formulas:
        raise ModelError("the model has no =~, ~ or ~~ statements: nothing to estimate")
    variables = _classify(formulas, _user_rows(formulas, 0, n_groups))
    rows = []
    for g in range(n_groups):
        group_rows = _user_rows(formulas, g, n_groups)
        meanstructure = bool(options.meanstructure) or any(r["op"] == "~1" for r in group_rows)
        group_rows = _apply_first_loading_rule(group_rows, variables, options)
        group_rows += _default_rows(group_rows, variables, options, meanstructure)
        if g > 0:
            _free_across_groups(group_rows, variables, options)
        rows += [dict(r, group=g + 1) for r in group_rows]
    _check_partial(options.group_partial, rows)
    _apply_group_equal(rows, variables, options)
    _apply_shared_fixed_labels(rows)
    table = _to_frame(rows)
    labels = _label_index(table)
    _check_expressions(definitions, constraints, labels)
    return ParameterTable(table, variables, meanstructure, definitions, constraints, labels, n_groups)


def _row(lhs, op, rhs, *, user=1, free=True, ustart=np.nan, exo=0, label="", equal="", start=np.nan,
         line=0):
    return dict(lhs=lhs, op=op, rhs=rhs, user=user, free=free, ustart=ustart, exo=exo, label=label,
                equal=equal, start=start, explicit=False, line=line)


def _user_rows(formulas: Sequence[Formula], g: int, n_groups: int) -> list[dict]:
    rows, seen = [], {}
    for formula in formulas:
        for term in formula.terms:
            row = _term_row(formula, term, g, n_groups)
            key = _key(row["lhs"], row["op"], row["rhs"])
            if key in seen:
                raise ModelError(
                    f"line {term.location.line}: {row['lhs']} {row['op']} {row['rhs']} is specified "
                    f"twice (first on line {seen[key]}); keep one statement"
                )
            seen[key] = term.location.line
            rows.append(row)
    return rows


def _term_row(formula: Formula, term: Term, g: int, n_groups: int) -> dict:
    line = term.location.line or formula.location.line
    if term.group is not None:
        if len(term.group) != n_groups:
            raise ModelError(
                f"line {line}: c(...) on {term.name} gives {len(term.group)} value(s) but the model "
                f"has {n_groups} group(s); give one value per group (group= names the grouping column)"
            )
        value = term.group[g]
        fixed = value if isinstance(value, float) else None
        term = dataclasses.replace(term, group=None, fixed=fixed if fixed is not None else term.fixed,
                                   free=term.free or value is None,
                                   label=value if isinstance(value, str) else term.label)
    if formula.op == "~" and term.name == "1":
        op, rhs = "~1", ""
    else:
        op, rhs = formula.op, term.name
    if formula.lhs == rhs and op in ("=~", "~"):
        raise ModelError(f"line {line}: {formula.lhs} {op} {rhs} relates a variable to itself")
    row = _row(formula.lhs, op, rhs, line=line, label=term.label or "", equal=term.equal or "")
    if term.fixed is not None:
        row.update(free=False, ustart=float(term.fixed), explicit=True)
    if term.free:
        row["explicit"] = True
    if term.start is not None:
        row["start"] = float(term.start)
    return row


def _key(lhs, op, rhs):
    return (op, *sorted((lhs, rhs))) if op == "~~" else (op, lhs, rhs)


def _classify(formulas: Sequence[Formula], rows: list[dict]) -> Variables:
    lv = _unique(r["lhs"] for r in rows if r["op"] == "=~")
    eqs_y = _unique(r["lhs"] for r in rows if r["op"] == "~")
    eqs_x = _unique(r["rhs"] for r in rows if r["op"] == "~")
    indicators = _unique(r["rhs"] for r in rows if r["op"] == "=~" and r["rhs"] not in lv)
    lv_indicators = {r["rhs"] for r in rows if r["op"] == "=~" and r["rhs"] in lv}
    mentioned = _unique(n for r in rows for n in (r["lhs"], r["rhs"]) if n and n not in lv)
    ov_x = tuple(v for v in eqs_x if v not in lv and v not in eqs_y and v not in indicators)
    others = tuple(v for v in mentioned if v not in indicators and v not in ov_x)
    lv_x = tuple(v for v in lv if v not in eqs_y and v not in lv_indicators)
    # lavaan's lv.y then ov.y (lav_partable_vnames.R): dependent variables that are neither
    # predictors nor indicators of a factor; an indicator regressed on a covariate is not one
    not_y = set(eqs_x) | set(indicators) | lv_indicators
    endogenous = (tuple(v for v in lv if v in eqs_y and v not in not_y)
                  + tuple(v for v in indicators + others if v in eqs_y and v not in not_y))
    return Variables(indicators + others + ov_x, lv, ov_x, indicators, lv_x, endogenous)


def _unique(names) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _apply_first_loading_rule(rows: list[dict], variables: Variables, options: Options) -> list[dict]:
    """Fix the first loading of each factor to 1 unless it carries an explicit modifier or std_lv."""
    if options.std_lv or not options.auto_fix_first:
        return rows
    first = {}
    for i, r in enumerate(rows):
        if r["op"] == "=~":
            first.setdefault(r["lhs"], i)
    for i in first.values():
        if not rows[i]["explicit"]:
            rows[i].update(free=False, ustart=1.0)
    return rows


def _default_rows(rows, variables: Variables, options: Options, meanstructure: bool) -> list[dict]:
    have = {_key(r["lhs"], r["op"], r["rhs"]) for r in rows}
    added = []

    def add(lhs, op, rhs, **kw):
        if _key(lhs, op, rhs) not in have:
            have.add(_key(lhs, op, rhs))
            added.append(_row(lhs, op, rhs, user=0, **kw))

    single = _single_indicators(rows, variables)
    exo = options.fixed_x
    ov_x = set(variables.ov_x)
    if options.auto_var:
        for v in variables.ov:
            if v in ov_x:
                add(v, "~~", v, free=not exo, exo=int(exo))
            elif v in single and options.auto_fix_single:
                add(v, "~~", v, free=False, ustart=0.0)
            else:
                add(v, "~~", v)
        for v in variables.lv:
            add(v, "~~", v, **({"free": False, "ustart": 1.0} if options.std_lv else {}))
    fixed_zero = {"free": False, "ustart": 0.0} if options.orthogonal else {}
    if options.auto_cov_lv_x:
        for a, b in _pairs(variables.lv_x):
            add(a, "~~", b, **fixed_zero)
    if options.auto_cov_y:
        lv = set(variables.lv)
        for a, b in _pairs(variables.endogenous):
            # lavaan's orthogonal fixes every default covariance between two latent variables
            add(a, "~~", b, **(fixed_zero if a in lv and b in lv else {}))
    for a, b in _pairs(variables.ov_x):
        add(a, "~~", b, free=not exo, exo=int(exo))
    if meanstructure:
        for v in variables.ov:
            add(v, "~1", "", **({"free": False, "exo": 1} if v in ov_x and exo else {}))
        for v in variables.lv:
            add(v, "~1", "", free=options.int_lv_free, **({} if options.int_lv_free else {"ustart": 0.0}))
    return added


def _free_across_groups(rows: list[dict], variables: Variables, options: Options) -> None:
    """lavaan's identification rules for groups after the first: latent means free when the
    intercepts are equal (and the means are not); latent variances free under ``std_lv`` when the
    loadings are equal.  Explicit user values are kept."""
    lv = set(variables.lv)
    equal = set(options.group_equal)
    for r in rows:
        if r["explicit"] or r["lhs"] not in lv:
            continue
        if r["op"] == "~1" and "intercepts" in equal and "means" not in equal:
            r.update(free=True, ustart=np.nan)
        if r["op"] == "~~" and r["lhs"] == r["rhs"] and options.std_lv and "loadings" in equal:
            r.update(free=True, ustart=np.nan)


def _apply_group_equal(rows: list[dict], variables: Variables, options: Options) -> None:
    """Label the rows of the ``group_equal`` kinds alike across groups (the first group's plabel)."""
    if not options.group_equal:
        return
    lv = set(variables.lv)
    kinds = [EQUAL_KINDS[k] for k in options.group_equal]
    partial = {_partial_key(p) for p in options.group_partial}
    first: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        key = _key(r["lhs"], r["op"], r["rhs"])
        if r["group"] == 1:
            first[key] = i
            continue
        j = first.get(key)
        if (j is None or key in partial or not (r["free"] and rows[j]["free"]) or r["exo"]
                or not any(k(r["op"], r["lhs"] in lv, r["lhs"] == r["rhs"]) for k in kinds)):
            continue
        if not rows[j]["label"]:
            rows[j]["label"] = f".p{j + 1}."
        if not r["label"]:
            r["label"] = rows[j]["label"]


def _partial_key(text: str) -> tuple:
    """(op, lhs, rhs) key of a ``group_partial`` entry such as "visual=~x2", "x3~1", "x1~~x2"."""
    compact = "".join(str(text).split())
    for op in ("=~", "~~", "~1", "~"):
        lhs, sep, rhs = compact.partition(op)
        if sep and lhs and (rhs == "" if op == "~1" else rhs):
            if op == "~" and rhs == "1":
                op, rhs = "~1", ""
            return _key(lhs, op, rhs)
    raise ModelError(f"group_partial entry {text!r} is not a parameter such as 'f1=~x2', 'x3~1' or 'x1~~x2'")


def _check_partial(partial, rows) -> None:
    keys = {_key(r["lhs"], r["op"], r["rhs"]) for r in rows}
    for text in partial:
        if _partial_key(text) not in keys:
            raise ModelError(f"group_partial entry {text!r} names no parameter of the model")


def _pairs(names):
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def _single_indicators(rows, variables: Variables) -> set[str]:
    counts: dict[str, list[str]] = {}
    for r in rows:
        if r["op"] == "=~":
            counts.setdefault(r["lhs"], []).append(r["rhs"])
    return {ind[0] for ind in counts.values() if len(ind) == 1 and ind[0] in variables.indicators}


def _apply_shared_fixed_labels(rows: list[dict]) -> None:
    """A label shared with a fixed parameter fixes every parameter with that label to its value."""
    fixed = {}
    for r in rows:
        if r["label"] and not r["free"]:
            fixed.setdefault(r["label"], r["ustart"])
    for r in rows:
        group = r["label"] or r["equal"]
        if group in fixed and r["free"]:
            r.update(free=False, ustart=fixed[group])


def _to_frame(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    if "group" not in table:
        table["group"] = 1
    table["free"] = np.where(table["free"], np.cumsum(table["free"].to_numpy()), 0).astype(int)
    table.insert(0, "id", np.arange(1, len(table) + 1))
    return table[COLUMNS + ["line"]].reset_index(drop=True)


def _label_index(table: pd.DataFrame) -> dict[str, list[int]]:
    """Label -> row positions carrying it (``equal("a")`` rows join label a's group)."""
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(table["label"]):
        if label:
            groups.setdefault(label, []).append(i)
    for i, equal in enumerate(table["equal"]):
        if equal:
            if equal not in groups:
                raise ModelError(
                    f"line {table['line'][i]}: equal(\"{equal}\") refers to a label that no parameter has"
                )
            groups[equal].append(i)
    return groups


def _check_expressions(definitions, constraints, labels) -> None:
    known = set(labels)
    defined = set()
    for d in definitions:
        _check_names(expressions.names(d.expr), known | defined, d.location.line, f"{d.name} :=")
        if d.name in known or d.name in defined:
            raise ModelError(f"line {d.location.line}: {d.name} := redefines an existing label")
        defined.add(d.name)
    for c in constraints:
        used = expressions.names(c.lhs) + expressions.names(c.rhs)
        _check_names(used, known | defined, c.location.line, "constraint")
        on_defined = [n for n in used if n in defined]
        if on_defined:
            raise ModelError(f"line {c.location.line}: the constraint uses {', '.join(dict.fromkeys(on_defined))}, "
                             "a defined parameter (:=); constraints on defined parameters are not supported "
                             "yet: write the constraint with the labels the definition uses")
        if not used:
            raise ModelError(f"line {c.location.line}: the constraint involves no parameter label")


def _check_names(used, known, line, what) -> None:
    unknown = [n for n in used if n not in known]
    if unknown:
        raise ModelError(
            f"line {line}: {what} uses {', '.join(unknown)}, which is not a parameter label; "
            "label a parameter with a*x and use the label"
        )
