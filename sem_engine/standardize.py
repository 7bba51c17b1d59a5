"""Standardized parameters (std.lv, std.all, std.nox), their delta-method SEs, and R².

lavaan's definitions (``lav_standardize_lv`` / ``_all`` / ``_all_nox``, lavaan 0.6).  With sd(v) the
model-implied standard deviation of a variable — sqrt(diag Var(η)) for a latent variable,
sqrt(diag Σ) for an observed one — and rv(v) = sqrt(|θ_vv|) the square root of the variable's own
(residual) variance parameter, every table row is scaled as

    lhs =~ rhs   est · sd(lhs) / sd(rhs)
    lhs ~  rhs   est · sd(rhs) / sd(lhs)
    v ~~ v       est / sd(v)²
    a ~~ b       est / (rv(a) · rv(b))          (a residual correlation; lavaan's cov.std = TRUE)
    v ~1         est / sd(v)

where the scale of a variable that the kind does not standardize is 1:

    std.lv    latent variables only;
    std.all   latent and observed variables;
    std.nox   as std.all, except the exogenous observed covariates (``ov_x``) as predictors and
              in their own variances, covariances and means (lavaan still divides by sd(lhs)
              when one is the outcome of a regression or an indicator, as in the extended
              models of modification indices).

Defined parameters (``:=``) are their expressions evaluated on the standardized row values, as in
lavaan's ``standardizedSolution``.  Standard errors come from the delta method, J vcov(x) Jᵀ with
J = ∂std/∂x by ``jax.jacfwd``; like lavaan, an SE below ε^¼ (ε the float64 machine epsilon) is
reported as 0 with no z, p.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import implied, inference, memo, structure
from .errors import ModelError
from .expressions import to_text
from .groups import Groups
from .matrices import Spec
from .objective import group_moments
from .partable import ParameterTable

KINDS = ("std.lv", "std.all", "std.nox")
COLUMNS = ["lhs", "op", "rhs", "label", "est_std", "se", "z", "pvalue", "ci_lower", "ci_upper"]
_EPS = np.finfo(np.float64).eps


class Scaling(NamedTuple):
    """Where each row's scale factors sit in its group's vector

        [sd(η) (m) | sd(observed) (p) | rv: sqrt|v_r| of every row r (R) | 1 | NaN]

    ``num`` and ``den`` (G x 2 x R) index that vector (sizes m, p, R: the model's own, or a
    size class's for compiled code)."""

    num: np.ndarray
    den: np.ndarray


def scale_vector(values, lv_var, ov_var, xp=jnp):
    """[sd(η) | sd(observed) | sqrt|values| | 1 | NaN] (``Scaling``); ``xp``: jax.numpy inside
    compiled code, numpy outside."""
    return xp.concatenate([_sd(lv_var, xp), _sd(ov_var, xp), xp.sqrt(xp.abs(values)), xp.array([1.0, np.nan])])


def scale(values, scales, num, den):
    """Standardize per-row ``values`` by the scale factors at positions ``num``, ``den`` (2 x R)."""
    return values * scales[num[0]] * scales[num[1]] / (scales[den[0]] * scales[den[1]])


def _sd(variances, xp=jnp):
    """sqrt of model-implied variances; NaN for zero or negative ones (as lavaan)."""
    ok = variances > _EPS
    return xp.where(ok, xp.sqrt(xp.where(ok, variances, 1.0)), np.nan)


def rows(x, st, moments, sc: Scaling, sz):
    """Standardized value of every (padded) table row at the padded x, for the scalings ``sc``
    (a leading axis of kinds); pure JAX over the structure arrays (structure.py), so jit,
    ``jax.jacfwd`` (delta method) and ``jax.vmap`` (bootstrap) apply once per size class."""
    out = jnp.zeros(sc.num.shape[:1] + (sz.rows,))
    for g, (st_g, s, xbar, _, _) in enumerate(group_moments(st, moments, sz)):
        mats = structure.matrices(x, st_g, s, xbar, sz.p, sz.m)
        v = structure.values(x, st_g, s, xbar)
        scales = scale_vector(v, jnp.diagonal(implied.eta_cov(mats)), jnp.diagonal(implied.sigma(mats)))
        std = jax.vmap(lambda num, den: scale(v, scales, num, den))(sc.num[:, g], sc.den[:, g])
        out = out + jnp.where(st_g.own, std, 0.0)
    return out


@partial(jax.jit, static_argnames="sz")
def _rows_and_jacobian(x, st, moments, sc: Scaling, sz):
    return rows(x, st, moments, sc, sz), jax.jacfwd(rows)(x, st, moments, sc, sz)


def _variance_rows(pt: ParameterTable) -> np.ndarray:
    t = pt.table
    return np.flatnonzero(((t["op"] == "~~") & (t["lhs"] == t["rhs"])).to_numpy())


def scaling(pt: ParameterTable, spec: Spec | Groups, kind: str, sz=None) -> Scaling:
    """The scale factors of every row of ``pt`` under ``kind`` (the rules in the module
    docstring), laid out for the size class ``sz`` (structure.Sizes; None: the model's own sizes)."""
    if kind not in KINDS:
        raise ModelError(f"unknown standardization {kind!r}; use one of {', '.join(KINDS)}")
    multi = isinstance(spec, Groups)
    specs = spec.specs if multi else (spec,)
    n_rows = len(pt.table)
    m, p, n_groups, width = ((spec.m, spec.p, len(specs), n_rows) if sz is None
                             else (sz.m, sz.p, sz.groups, sz.rows))
    one = m + p + width
    num = np.full((n_groups, 2, width), one)
    den = np.full((n_groups, 2, width), one)
    offset = 0
    for g, s in enumerate(specs):
        group_pt = pt.group_table(g) if multi else pt
        n = len(group_pt.table)
        rows = slice(offset, offset + n)
        num[g, :, rows], den[g, :, rows] = _group_scaling(group_pt, s, kind, m, m + p, offset, one)
        offset += n
    return Scaling(num, den)


def _group_scaling(pt: ParameterTable, spec: Spec, kind: str, m: int, rv_start: int, offset: int, one: int):
    """num, den (2 x rows) of one group's rows; rv of its rows at ``rv_start + offset + row``."""
    t = pt.table
    lv, ov = spec.eta[:spec.n_lv], spec.ov
    unscaled = set() if kind == "std.all" else set(ov) if kind == "std.lv" else set(pt.variables.ov_x)
    sd_pos = {v: i for i, v in enumerate(lv)}
    sd_pos.update({v: m + i for i, v in enumerate(ov) if v not in unscaled})
    rv_pos = {t["lhs"][r]: rv_start + offset + r for r in _variance_rows(pt)}

    # lavaan scales the outcome of a regression (and an indicator) by its SD under std.nox too
    out_pos = {**sd_pos, **({v: m + i for i, v in enumerate(ov)} if kind == "std.nox" else {})}

    def sd(v):
        return sd_pos.get(v, one)

    def sd_out(v):
        return out_pos.get(v, one)

    def rv(v):  # NaN (lavaan's NA) for a variable without a variance parameter
        return one if v in unscaled else rv_pos.get(v, one + 1)

    num = np.full((2, len(t)), one)
    den = np.full((2, len(t)), one)
    for i, (lhs, op, rhs) in enumerate(zip(t["lhs"], t["op"], t["rhs"])):
        if op == "=~":
            num[0, i], den[0, i] = sd(lhs), sd_out(rhs)
        elif op == "~":
            num[0, i], den[0, i] = sd(rhs), sd_out(lhs)
        elif op == "~~" and lhs == rhs:
            den[:, i] = sd(lhs)
        elif op == "~~":
            den[0, i], den[1, i] = rv(lhs), rv(rhs)
        elif op == "~1":
            den[0, i] = sd(lhs)
    return num, den


@memo.per_object
def rows_and_jacobian(fit) -> tuple[np.ndarray, np.ndarray]:
    """Every table row's standardized value (rows: ``KINDS``) and its Jacobian in x
    (kinds x rows x npar), by one compiled function of the fit's size class."""
    engine = fit.engine
    sz = engine.sizes
    scs = [scaling(fit.partable, fit.spec, kind, sz) for kind in KINDS]
    sc = Scaling(*(np.stack(a) for a in zip(*scs)))
    est, jac = _rows_and_jacobian(engine._vector(fit.x), engine.structure, engine.pad(fit.moments), sc, sz)
    n_rows, npar = len(fit.partable.table), fit.spec.npar
    return np.asarray(est)[:, :n_rows], np.asarray(jac)[:, :n_rows, :npar]


@memo.per_object
def standardized_values(fit) -> tuple[np.ndarray, np.ndarray]:
    """Standardized values (rows: ``KINDS``; columns: table rows, then ``:=`` parameters) and their
    delta-method SEs, computed once per fit."""
    est, jac = rows_and_jacobian(fit)
    if fit.partable.definitions:
        parts = [inference.definitions(fit.partable, e, grad=True) for e in est]
        est = np.hstack([est, np.stack([v for v, _ in parts])])
        jac = np.concatenate([jac, np.stack([d @ j for (_, d), j in zip(parts, jac)])], axis=1)
    variances = np.einsum("kij,jl,kil->ki", jac, fit.vcov_x, jac)
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.where(variances < 0, np.nan, variances))
    se[se < _EPS ** 0.25] = 0.0
    return est, se


def standardized_solution(fit, kind: str = "std.all") -> pd.DataFrame:
    """lavaan's ``standardizedSolution(fit, type=kind)``: est_std, delta-method se, z, p, CI."""
    if kind not in KINDS:
        raise ModelError(f"unknown standardization {kind!r}; use one of {', '.join(KINDS)}")
    values, ses = standardized_values(fit)
    est, se = values[KINDS.index(kind)], ses[KINDS.index(kind)]
    w = inference.wald(est, se, fit.options.level)
    out = pd.DataFrame({**_row_names(fit.partable), "est_std": est, **w._asdict()})
    out.loc[se == 0, ["z", "pvalue"]] = np.nan
    if fit.n_groups == 1:
        return out[COLUMNS]
    out["group"] = [*fit.partable.table["group"], *(0 for _ in fit.partable.definitions)]
    return out[COLUMNS[:3] + ["group"] + COLUMNS[3:]]


def std_columns(fit) -> pd.DataFrame:
    """Columns std_lv, std_all, std_nox aligned with the rows of ``fit.estimates()``."""
    values, _ = standardized_values(fit)
    return pd.DataFrame({kind.replace(".", "_"): v for kind, v in zip(KINDS, values)})


def r2(fit) -> pd.Series:
    """R² = 1 - std.all (residual) variance of every indicator and regression outcome.

    As ``lavInspect(fit, "r2")``: variables in table order of their variance rows; NaN where the
    standardized residual variance is negative (R² > 1).  For a multi-group model the groups'
    values one after another, indexed by (group label, variable).
    """
    if fit.n_groups > 1:
        return pd.concat([r2(view) for view in fit.groups], keys=list(fit.group_labels), names=["group"])
    t = fit.partable.table
    est = standardized_values(fit)[0][KINDS.index("std.all")]
    outcomes = set(t.loc[t["op"] == "=~", "rhs"]) | set(t.loc[t["op"] == "~", "lhs"])
    rows = [r for r in _variance_rows(fit.partable) if t["lhs"][r] in outcomes]
    values = 1.0 - est[rows]
    values[values > 1] = np.nan
    return pd.Series(values, index=pd.Index(t["lhs"][rows].to_list(), name="variable"), name="r2")


def _row_names(pt: ParameterTable) -> dict:
    t, defs = pt.table, pt.definitions
    return {
        "lhs": [*t["lhs"], *(d.name for d in defs)],
        "op": [*t["op"], *(":=" for _ in defs)],
        "rhs": [*t["rhs"], *(to_text(d.expr) for d in defs)],
        "label": [*t["label"], *(d.name for d in defs)],
    }
