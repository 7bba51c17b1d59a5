"""Units: the fit runs on variables of unit scale and maps back exactly, so no answer depends
on the units of the data.

Rescaling the observed variables, y* = D⁻¹ y, and the latent variables, η* = E⁻¹ η (D, E
diagonal), is an exact reparametrization of the model (Bollen 1989, ch. 4: scale changes of
the variables):

    Λ* = D⁻¹ Λ E,   Θ* = D⁻¹ Θ D⁻¹,   Ψ* = E⁻¹ Ψ E⁻¹,   B* = E⁻¹ B E,   ν* = D⁻¹ ν,   α* = E⁻¹ α,

so that Σ* = D⁻¹ Σ D⁻¹ and μ* = D⁻¹ μ, and F_ML(Σ*, S*) = F_ML(Σ, S) (F_FIML likewise: both
log-likelihoods shift by the same Σ log d_j).  Every table row is multiplied by its factor c_r
(free and fixed values alike), x* = C x, and a linear constraint x = x₀ + K z stays linear:
x* = C x₀ + K* z* with C K = K* M (M the column norms of C K) and z* = M z, so the constraint
coordinates are of unit scale too.  D holds the observed standard deviations, E the scale that makes each latent
variable's identification constraint (a fixed loading, or a fixed variance) read about 1; both
are rounded to powers of two, so the mapping back is exact in floating point.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from . import start
from .constraints import Reparam
from .groups import Groups
from .matrices import NAMES, Spec
from .moments import Moments


class Units(NamedTuple):
    """The scale of the observed variables (d), the factors of every table row (``rows``, per
    group; from d and the latent scales e) and of x (``cx``), and the constraint coordinates in
    unit scale: x* = x₀* + K* z* with z* = M z (``basis``: K*, ``m``: M)."""

    d: np.ndarray
    rows: tuple[np.ndarray, ...]
    cx: np.ndarray
    basis: np.ndarray
    m: np.ndarray


def _power_of_two(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    ok = np.isfinite(v) & (v > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, np.exp2(np.round(np.log2(np.where(ok, v, 1.0)))), 1.0)


def observed_scale(moments) -> np.ndarray:
    """d_j: the standard deviation of every observed variable (pooled over the groups), as a
    power of two; 1 where it is not a positive finite number."""
    members = (moments,) if isinstance(moments, Moments) else tuple(moments)
    var = np.mean([np.diag(np.asarray(m.s, dtype=float)) for m in members], axis=0)
    with np.errstate(invalid="ignore"):
        return _power_of_two(np.sqrt(var))


def latent_scale(spec: Spec, d: np.ndarray) -> np.ndarray:
    """e_k of every latent variable: a phantom its observed variable's d; a latent variable
    d_i / |λ| of its first fixed non-zero loading (on an observed variable, or on a latent
    variable whose scale is known: second-order factors), else √ψ of a fixed variance, else the
    geometric mean of its indicators' scales, else 1."""
    m, n_lv = spec.m, spec.n_lv
    e = np.full(m, np.nan)
    lam = np.asarray(spec.base.lam)
    for k in range(n_lv, m):
        rows = np.flatnonzero(lam[:, k])
        e[k] = d[rows[0]] if rows.size else 1.0
    t, fixed = spec.target, np.ones(len(spec.row_base), bool)
    fixed[spec.free_rows] = False
    fixed[spec.exo_rows] = False
    value = np.asarray(spec.row_base, dtype=float)
    lam_code, beta_code, psi_code = (NAMES.index(k) for k in ("lam", "beta", "psi"))
    for _ in range(m):                          # second-order markers need their indicator's e first
        for k in np.flatnonzero(np.isnan(e[:n_lv])):
            on_ov = fixed & (t.matrix == lam_code) & (t.col == k) & (value != 0)
            if on_ov.any():
                r = np.flatnonzero(on_ov)[0]
                e[k] = d[t.row[r]] / abs(value[r])
                continue
            on_lv = fixed & (t.matrix == beta_code) & (t.col == k) & (value != 0) & (t.row < n_lv)
            known = [r for r in np.flatnonzero(on_lv) if np.isfinite(e[t.row[r]])]
            if known:
                e[k] = e[t.row[known[0]]] / abs(value[known[0]])
    for k in np.flatnonzero(np.isnan(e)):
        var = fixed & (t.matrix == psi_code) & (t.row == k) & (t.col == k) & (value > 0)
        if var.any():
            e[k] = np.sqrt(value[np.flatnonzero(var)[0]])
            continue
        ind = (t.matrix == lam_code) & (t.col == k)
        e[k] = np.exp(np.mean(np.log(d[t.row[ind]]))) if ind.any() else 1.0
    return _power_of_two(e)


def row_factors(spec: Spec, d: np.ndarray, e: np.ndarray) -> np.ndarray:
    """c_r of every table row (module docstring); 1 for rows outside the matrices."""
    t = spec.target

    def at(v, i):                               # clipped: rows outside the matrices have index -1
        return v[np.clip(i, 0, len(v) - 1)] if len(v) else np.ones(len(i))

    d_r, d_c, e_r, e_c = at(d, t.row), at(d, t.col), at(e, t.row), at(e, t.col)
    lam, theta, psi, beta, nu, alpha = (t.matrix == NAMES.index(k) for k in NAMES)
    return np.select([lam, theta, psi, beta, nu, alpha],
                     [e_c / d_r, 1.0 / (d_r * d_c), 1.0 / (e_r * e_c), e_c / e_r, 1.0 / d_r, 1.0 / e_r], 1.0)


def units(spec: Spec | Groups, reparam: Reparam, moments) -> Units:
    """The units of a model and its data (module docstring)."""
    d = observed_scale(moments)
    multi = isinstance(spec, Groups)
    specs = spec.specs if multi else (spec,)
    index = spec.index if multi else (np.arange(spec.npar),)
    rows = tuple(row_factors(s, d, latent_scale(s, d)) for s in specs)
    cx = np.full(spec.npar, np.nan)
    for s, c, idx in zip(specs, rows, index):
        new = np.isnan(cx[idx])
        cx[np.asarray(idx)[new]] = c[s.free_rows][new]
    cx = np.where(np.isnan(cx), 1.0, cx)
    basis, m = _unit_basis(cx[:, None] * reparam.basis, reparam.n_eq == 0)
    return Units(d, rows, cx, basis, m)


def _unit_basis(ck: np.ndarray, unconstrained: bool) -> tuple[np.ndarray, np.ndarray]:
    """(K*, M) with C K = K* M: M = diag of the column norms of C K (exact, powers of two,
    without constraints, where K = I).  Every column of K touches only parameters that
    constraints tie together (constraints.py), so its entries share units and K* is well
    conditioned."""
    if unconstrained:
        return np.eye(ck.shape[0]), ck
    norms = np.sqrt(np.sum(ck ** 2, axis=0))
    norms = np.where(norms > 0, norms, 1.0)
    return ck / norms[None, :], np.diag(norms)


def spec_in(spec: Spec | Groups, u: Units) -> Spec | Groups:
    """The model in unit scale: every fixed value multiplied by its row's factor."""
    if isinstance(spec, Groups):
        return dataclasses.replace(spec, specs=tuple(dataclasses.replace(s, row_base=s.row_base * c)
                                                     for s, c in zip(spec.specs, u.rows)))
    return dataclasses.replace(spec, row_base=spec.row_base * u.rows[0])


def reparam_in(reparam: Reparam, u: Units) -> Reparam:
    """x* = C x₀ + K* z*."""
    return Reparam(reparam.x0 * u.cx, u.basis, reparam.n_eq)


def moments_in(moments, d: np.ndarray):
    """S* = D⁻¹ S D⁻¹, x̄* = D⁻¹ x̄ (and the missing-data patterns likewise, log L_H1 shifted
    by Σ_k n_k Σ_{j observed} log d_j)."""
    if not isinstance(moments, Moments):
        return tuple(moments_in(m, d) for m in moments)
    s = np.asarray(moments.s, dtype=float) / np.outer(d, d)
    xbar = np.asarray(moments.xbar, dtype=float) / d
    pat = moments.patterns
    if pat is not None:
        mask = np.asarray(pat.mask, dtype=float)
        shift = float(np.asarray(pat.count, dtype=float) @ (mask @ np.log(d)))
        pat = pat._replace(mean=np.asarray(pat.mean) / d, cov=np.asarray(pat.cov) / np.outer(d, d),
                           h1_loglik=np.asarray(pat.h1_loglik) + shift)
    return Moments(s, xbar, moments.n, pat)


def start_in(pt, spec: Spec, moments: Moments, c_rows: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Start values (start.py) computed on the model in unit scale (fixed values and the user's
    ``start()`` values multiplied by their rows' factors) and mapped back, so that the starting
    point, and its floors, do not depend on the data's units."""
    table = pt.table.copy()
    for column in ("ustart", "start"):
        table[column] = table[column].to_numpy(dtype=float) * c_rows
    x = start.start_values(dataclasses.replace(pt, table=table), spec, moments_in(moments, d))
    return x / c_rows[spec.free_rows]


def padded_in(padded, d: np.ndarray):
    """Padded moments (structure.Padded, any leading axes; ``d`` of the padded length, 1 on the
    padding) in unit scale, as ``moments_in``."""
    s = np.asarray(padded.s) / np.outer(d, d)
    xbar = np.asarray(padded.xbar) / d
    pat = padded.patterns
    if pat is not None:
        mask, count = np.asarray(pat.mask), np.asarray(pat.count)
        shift = np.sum(count * (mask @ np.log(d)), axis=-1)
        pat = pat._replace(mean=np.asarray(pat.mean) / d, cov=np.asarray(pat.cov) / np.outer(d, d),
                           h1_loglik=np.asarray(pat.h1_loglik) + shift)
    return padded._replace(s=s, xbar=xbar, patterns=pat)
