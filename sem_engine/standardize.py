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

import weakref
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import implied, inference
from .errors import ModelError
from .expressions import to_text
from .groups import Groups
from .matrices import Spec, row_values, to_matrices
from .moments import Moments
from .partable import ParameterTable

KINDS = ("std.lv", "std.all", "std.nox")
COLUMNS = ["lhs", "op", "rhs", "label", "est_std", "se", "z", "pvalue", "ci_lower", "ci_upper"]
_EPS = np.finfo(np.float64).eps
# Results per fit (a Fit is immutable); weak keys so a dropped fit frees its entry.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Scaling(NamedTuple):
    """Where each row's scale factors sit in the vector [sd(latent), sd(observed), rv, 1, NaN].

    ``num`` and ``den`` (2 x rows) index that vector; ``var_rows`` are the table's variance rows,
    whose values give rv (in this order).
    """

    num: np.ndarray
    den: np.ndarray
    var_rows: np.ndarray


def make_standardize(pt: ParameterTable, spec: Spec, kind: str) -> Callable[[jax.Array, Moments], jax.Array]:
    """std(x, moments): standardized value of every table row, then of every ``:=`` parameter.

    Pure JAX: jit, ``jax.jacfwd`` (delta method) and ``jax.vmap`` (bootstrap) apply.
    """
    std, sc = _make_scaled(pt, spec), scaling(pt, spec, kind)
    return lambda x, moments: std(x, moments, sc)


def _make_scaled(pt: ParameterTable, spec: Spec | Groups) -> Callable[[jax.Array, Moments, Scaling], jax.Array]:
    """std(x, moments, sc) for any Scaling ``sc`` of this model (arrays, so it can be vmapped);
    for a multi-group model ``moments`` and ``sc`` have one entry per group, and the groups'
    rows are standardized each with their own group's variances."""
    definitions = inference.make_definitions(pt)
    if not isinstance(spec, Groups):
        rows = _make_scaled_rows(spec)
        return lambda x, moments, sc: _with_definitions(rows(x, moments, sc), definitions)
    parts = [(_make_scaled_rows(s), i) for s, i in zip(spec.specs, spec.index)]

    def std(x, moments, sc):
        out = jnp.concatenate([rows(x[i], m, s) for (rows, i), m, s in zip(parts, moments, sc)])
        return _with_definitions(out, definitions)

    return std


def _with_definitions(values, definitions):
    return jnp.concatenate([values, definitions(values)])


def _make_scaled_rows(spec: Spec) -> Callable[[jax.Array, Moments, Scaling], jax.Array]:
    n_lv = spec.n_lv

    def rows(x, moments, sc):
        mats = to_matrices(x, spec, moments)
        lv_var = jnp.diagonal(implied.eta_cov(mats))[:n_lv]
        return scale(row_values(x, spec, moments), lv_var, jnp.diagonal(implied.sigma(mats)), sc)

    return rows


def scale(values, lv_var, ov_var, sc: Scaling):
    """Standardize per-row ``values`` given the model-implied variances of the latent variables
    (in ``spec.eta`` order) and of the observed ones (``spec.ov`` order); rv from ``values``."""
    scales = jnp.concatenate([_sd(lv_var), _sd(ov_var), jnp.sqrt(jnp.abs(values[sc.var_rows])),
                              jnp.array([1.0, jnp.nan])])
    return values * scales[sc.num[0]] * scales[sc.num[1]] / (scales[sc.den[0]] * scales[sc.den[1]])


def _sd(variances: jax.Array) -> jax.Array:
    """sqrt of model-implied variances; NaN for zero or negative ones (as lavaan)."""
    ok = variances > _EPS
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, variances, 1.0)), jnp.nan)


def _variance_rows(pt: ParameterTable) -> np.ndarray:
    t = pt.table
    return np.flatnonzero(((t["op"] == "~~") & (t["lhs"] == t["rhs"])).to_numpy())


def scaling(pt: ParameterTable, spec: Spec | Groups, kind: str) -> Scaling | tuple[Scaling, ...]:
    """The scale factors of every row of ``pt`` under ``kind`` (the rules in the module docstring);
    one Scaling per group for a multi-group model."""
    if isinstance(spec, Groups):
        return tuple(scaling(pt.group_table(g), s, kind) for g, s in enumerate(spec.specs))
    if kind not in KINDS:
        raise ModelError(f"unknown standardization {kind!r}; use one of {', '.join(KINDS)}")
    t = pt.table
    lv, ov = spec.eta[:spec.n_lv], spec.ov
    var_rows = _variance_rows(pt)
    one = len(lv) + len(ov) + len(var_rows)
    unscaled = set() if kind == "std.all" else set(ov) if kind == "std.lv" else set(pt.variables.ov_x)
    sd_pos = {v: i for i, v in enumerate(lv)}
    sd_pos.update({v: len(lv) + i for i, v in enumerate(ov) if v not in unscaled})
    rv_pos = {t["lhs"][r]: len(lv) + len(ov) + k for k, r in enumerate(var_rows)}

    # lavaan scales the outcome of a regression (and an indicator) by its SD under std.nox too
    out_pos = {**sd_pos, **({v: len(lv) + i for i, v in enumerate(ov)} if kind == "std.nox" else {})}

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
    return Scaling(num, den, var_rows)


def standardized_values(fit) -> tuple[np.ndarray, np.ndarray]:
    """Standardized values (rows: ``KINDS``; columns: table rows, then ``:=`` parameters) and their
    delta-method SEs, computed once per fit by one compiled function (vmapped over the kinds)."""
    if fit not in _CACHE:
        std = _make_scaled(fit.partable, fit.spec)
        scs = [scaling(fit.partable, fit.spec, kind) for kind in KINDS]
        if fit.n_groups == 1:
            kinds, axes = _stack(scs), Scaling(0, 0, None)
        else:
            kinds = tuple(_stack([sc[g] for sc in scs]) for g in range(fit.n_groups))
            axes = (Scaling(0, 0, None),) * fit.n_groups

        def all_kinds(x, moments):
            values = jax.vmap(std, in_axes=(None, None, axes))(x, moments, kinds)
            return values, values

        jac, est = jax.jit(jax.jacfwd(all_kinds, has_aux=True))(jnp.asarray(fit.x), fit.moments)
        jac = np.asarray(jac)
        variances = np.einsum("kij,jl,kil->ki", jac, fit.vcov_x, jac)
        with np.errstate(invalid="ignore"):
            se = np.sqrt(np.where(variances < 0, np.nan, variances))
        se[se < _EPS ** 0.25] = 0.0
        _CACHE[fit] = (np.asarray(est), se)
    return _CACHE[fit]


def _stack(scs: list[Scaling]) -> Scaling:
    """Scalings of the kinds along a leading axis (var_rows are the same for every kind)."""
    return Scaling(np.stack([sc.num for sc in scs]), np.stack([sc.den for sc in scs]), scs[0].var_rows)


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
