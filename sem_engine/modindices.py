"""Modification indices (univariate score tests of fixed parameters) and score tests of constraints.

Both use, per observation, the score s = Δᵀ A1 r of the log-likelihood and the expected
information I = Δᵀ A1 Δ (Δ = ∂(μ, vech Σ)/∂θ, A1 the expected h1 information at the model
moments, r = (x̄ - μ, vech(S + ddᵀ - Σ)); see residuals.py), with N the number of observations
under either likelihood, as in lavaan.  With incomplete data (FIML) both are the observed-data
likelihood's, summed over the missing-data patterns (residuals.fiml_score_information).

Modification indices, as lavaan's ``modindices()`` (lav_modindices.R, lavaan 0.6).  The model is
extended by every parameter ``lav_partable_full`` lists (loadings of each factor on every observed
non-covariate outside the regressions, covariances among indicators, among covariates and among
factors, regressions among all variables in regressions, intercepts with a mean structure) and by
every fixed parameter of the table set free.  With "2" the free parameters (equality-constraint
basis K) and "1" the others, at the estimates:

    V   = I₁₁ - I₁₂ K (Kᵀ I₂₂ K)⁻¹ Kᵀ I₂₁           (only its diagonal is used)
    MI  = N s₁² / V,    EPC = s₁ / V

Moments among fixed covariates (``fixed_x``) carry no information (lavaan's x.idx).  Parameters
with V < ε^⅓ are dropped as redundant with the free ones (e.g. a marker loading beside the factor
variance; lavaan reports them as NA and removes them).  Standardized EPCs (sepc_lv, sepc_all,
sepc_nox): the EPC standardized like an estimate (standardize.py), covariances scaled by the
square roots of the estimated (residual) variances; a variance EPC below √ε gives 0.

Score tests of equality constraints, as ``lavTestScore(fit)`` (lav_test_score.R): with the
constraints A θ = b (constraints.linear_system: shared labels, then ``==``) and s, I at the
constrained estimates, releasing constraint r alone gives

    X²_r = N sᵀ K₋ᵣ (K₋ᵣᵀ I K₋ᵣ)⁻¹ K₋ᵣᵀ s           (df 1),

K₋ᵣ a basis of the null space of A without row r (lavaan: N·sᵀ [Z⁺]₁₁ s with the bordered
information Z).  Releasing all of them gives the total test N sᵀ I⁻¹ s on rank(A) df.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import linalg

from . import constraints, distributions, groups, implied, memo, residuals, standardize
from .errors import ModelError
from .expressions import to_text
from .inference import inverse
from .matrices import Spec, build_spec, to_matrices
from .partable import ParameterTable

COLUMNS = ["lhs", "op", "rhs", "mi", "epc", "sepc_lv", "sepc_all", "sepc_nox"]
_EPS = np.finfo(np.float64).eps


def modification_indices(fit, minimum_value: float = 0.0, sort: bool = False) -> pd.DataFrame:
    """lavaan's ``modindices(fit)``: lhs op rhs mi epc sepc_lv sepc_all sepc_nox.

    ``minimum_value`` keeps rows with mi above it; ``sort`` orders by mi, largest first.  For a
    multi-group model every group's candidates, with a ``group`` column; the information of the
    fitted parameters is the groups' weighted sum under the model's equality constraints, so
    the indices of a constrained model are lavaan's.
    """
    basis = fit.reparam.basis
    parts = [_parts(view) for view in fit.groups]
    weights, blocks = _group_weights(fit), _group_blocks(fit)
    _, info = _in_x(fit, [p[3][:len(i)] for p, i in zip(parts, blocks)],
                    [p[4][:len(i), :len(i)] for p, i in zip(parts, blocks)])
    i22_inv = basis @ inverse(basis.T @ info @ basis) @ basis.T
    frames = [_indices(view, w, i22_inv[np.ix_(index, index)], fit.nobs, part)
              for view, w, index, part in zip(fit.groups, weights, blocks, parts)]
    out = frames[0] if fit.n_groups == 1 else fit._by_group(frames)[["lhs", "op", "rhs", "group", *COLUMNS[3:]]]
    if sort:
        out = out.sort_values("mi", ascending=False, kind="stable").reset_index(drop=True)
    if minimum_value > 0:
        out = out.loc[out["mi"] > minimum_value].reset_index(drop=True)
    return out[COLUMNS] if fit.n_groups == 1 else out


def _parts(fit) -> tuple:
    """The extended model of a (single-group) fit and its score and information at the estimates."""
    ext, candidate, spec = _extended(fit)
    freed = candidate["row"].to_numpy()[~candidate["new"].to_numpy()]
    x_ext = np.concatenate([fit.x, fit.row_values[freed], np.zeros(int(candidate["new"].sum()))])
    score, info = _score_and_information(fit, spec, to_matrices(x_ext, spec, fit.moments))
    return ext, candidate, spec, score, info


def _indices(fit, w: float, i22_inv: np.ndarray, nobs: int, parts: tuple) -> pd.DataFrame:
    """mi = N s² / v and epc = s / v of the candidates of one group, with s = w s_new and
    v = w I_new,new - w² I_new,θ I⁻¹ I_θ,new (I⁻¹: the fitted parameters' constrained inverse
    information, ``i22_inv``; w = n_g / N, 1 for a single group); a candidate with
    v < ε^(1/3) w I_new,new is not identified when freed and is left out."""
    ext, candidate, spec, score, info = parts
    npar = fit.spec.npar
    i12 = w * info[npar:, :npar]
    i11 = w * np.diag(info)[npar:]
    v = i11 - np.einsum("ij,jk,ik->i", i12, i22_inv, i12)
    # lavaan drops candidates with v < ε^(1/3) (not identified when freed); relative to I_new,new,
    # so that the verdict does not depend on the candidate's units
    keep = v >= _EPS ** (1 / 3) * np.where(i11 > 0, i11, 1.0)
    v = np.where(keep, v, np.nan)
    s = w * score[npar:]
    mi, epc = nobs * s**2 / v, s / v
    out = candidate.loc[:, ["lhs", "op", "rhs"]].assign(mi=mi, epc=epc)
    out = pd.concat([out, _sepc(fit, ext, spec, candidate, epc)], axis=1)
    return out.loc[keep].reset_index(drop=True)[COLUMNS]


def candidate_parameters(pt: ParameterTable) -> list[tuple[str, str, str]]:
    """Every parameter lavaan's ``lav_partable_full`` lists (strict.exo = FALSE), in its order."""
    v, t = pt.variables, pt.table
    ov, lv, ov_x, ind = v.ov, v.lv, set(v.ov_x), set(v.indicators)
    ov_nox = [o for o in ov if o not in ov_x]
    reg = t.loc[t["op"] == "~"]
    eqs = list(dict.fromkeys([*reg["lhs"], *reg["rhs"]]))
    out = [(f, "=~", o) for f in lv for o in ov_nox if o not in eqs]
    out += [(a, "~~", b) for a, b in _lower_pairs(ov_nox) if a in ind and b in ind]
    out += [(a, "~~", b) for a, b in _lower_pairs([o for o in ov if o in ov_x])]
    out += [(a, "~~", b) for a, b in _lower_pairs(lv)]
    out += [(y, "~", x) for y in eqs for x in eqs if y != x and not (y in ind and x in lv)]
    if pt.meanstructure:
        out += [(name, "~1", "") for name in (*ov, *lv)]
    return out


def _lower_pairs(names):
    """(names[j], names[i]) for i >= j, by columns: lavaan's lower.tri order."""
    return [(names[j], names[i]) for j in range(len(names)) for i in range(j, len(names))]


def extended_table(pt: ParameterTable) -> tuple[ParameterTable, pd.DataFrame]:
    """The table with fixed rows freed and candidate parameters added, and the candidate list.

    In the extended table the original free parameters keep their numbers 1..npar; freed rows
    (table order) and then added parameters follow.  ``candidate`` has lhs op rhs, ``row`` (the
    original row of a freed parameter, -1 for an added one) and ``new``.
    """
    t = pt.table
    fixed = np.flatnonzero(t["free"].to_numpy() == 0)
    have = {_key(a, op, b) for a, op, b in zip(t["lhs"], t["op"], t["rhs"])}
    added = []
    for lhs, op, rhs in candidate_parameters(pt):
        if _key(lhs, op, rhs) not in have:
            have.add(_key(lhs, op, rhs))
            added.append((lhs, op, rhs))
    npar = pt.npar
    table = t.copy()
    table.loc[fixed, "free"] = npar + 1 + np.arange(len(fixed))
    table["exo"] = 0
    extra = pd.DataFrame(added, columns=["lhs", "op", "rhs"]).assign(
        user=10, free=npar + len(fixed) + 1 + np.arange(len(added)), ustart=np.nan, exo=0, label="",
        equal="", start=np.nan, line=0)
    table = pd.concat([table, extra], ignore_index=True)
    table["id"] = np.arange(1, len(table) + 1)
    candidate = pd.concat([
        t.loc[fixed, ["lhs", "op", "rhs"]].assign(row=fixed, new=False),
        extra[["lhs", "op", "rhs"]].assign(row=-1, new=True)], ignore_index=True)
    ext = ParameterTable(table, pt.variables, pt.meanstructure)
    return ext, candidate


def _key(lhs, op, rhs):
    return (op, *sorted((lhs, rhs))) if op == "~~" else (op, lhs, rhs)


class _Extended(NamedTuple):
    table: ParameterTable
    candidate: pd.DataFrame
    spec: Spec


@memo.per_object(key=lambda fit: fit.spec)
def _extended(fit) -> _Extended:
    """The extended table of ``fit``, once per model structure (refits of one model share it)."""
    ext, candidate = extended_table(fit.partable)
    return _Extended(ext, candidate, build_spec(ext))


def _score_and_information(fit, spec: Spec, mats) -> tuple[np.ndarray, np.ndarray]:
    """Score Δᵀ A1 r and expected information Δᵀ A1 Δ of one observation (residuals.py) in the
    parameters of ``spec``, at its model matrices ``mats`` (which imply the fitted Σ, μ).

    Moments among fixed covariates carry no information (their rows of A1 are zero), but
    enter the score.
    """
    s, xbar = np.asarray(fit.moments.s), np.asarray(fit.moments.xbar)
    sigma, mu = fit.implied_arrays
    meanstructure = spec.meanstructure
    delta = residuals.moment_jacobian(spec, mats)
    keep = residuals.not_x(fit)
    if fit.moments.patterns is not None:
        score, info = residuals.fiml_score_information(np.asarray(sigma), np.asarray(mu),
                                                       fit.moments.patterns, keep)
        return delta.T @ score, delta.T @ info @ delta
    a1 = residuals.h1_information(sigma, mu, s, xbar, meanstructure, False, np.ones_like(keep))
    score = delta.T @ a1 @ residuals.moment_residuals(s, xbar, sigma, mu, meanstructure)
    return score, delta.T @ (a1 * np.outer(keep, keep)) @ delta


def _sepc(fit, ext: ParameterTable, spec, candidate: pd.DataFrame, epc: np.ndarray) -> pd.DataFrame:
    """sepc_lv, sepc_all, sepc_nox: sign(epc) · |epc| standardized as an estimate (lavaan's rules).

    Covariances are scaled by the square roots of the (residual) variance estimates, except that
    a variance of a fixed covariate contributes its own EPC (lavaan); variances below √ε of
    their variable's total variance give 0 (lavaan's √ε, made relative to the variable's units).
    """
    t = ext.table
    n_rows = len(fit.partable.table)
    rows = np.where(candidate["new"], n_rows + np.cumsum(candidate["new"]) - 1, candidate["row"])
    values = np.concatenate([fit.row_values, np.zeros(len(t) - n_rows)])
    exo = np.concatenate([fit.partable.table["exo"].to_numpy() == 1, np.zeros(len(t) - n_rows, dtype=bool)])
    is_var = ((t["op"] == "~~") & (t["lhs"] == t["rhs"])).to_numpy()
    magnitude = values.copy()
    magnitude[rows] = np.abs(epc)
    magnitude[is_var & ~exo] = values[is_var & ~exo]
    mats = fit.matrices
    lv_var = np.zeros(spec.m)   # the extended model's η: only its latent variables are scaled
    lv_var[:fit.spec.n_lv] = np.diag(np.asarray(implied.eta_cov(mats)))[:fit.spec.n_lv]
    total = dict(zip(fit.spec.ov, np.diag(fit.implied_arrays[0])))
    total.update(zip(spec.eta[:fit.spec.n_lv], lv_var[:fit.spec.n_lv]))
    unit = np.array([abs(total.get(v, 1.0)) or 1.0 for v in t["lhs"]])
    small = is_var & ~(np.abs(magnitude) >= np.sqrt(_EPS) * unit)
    magnitude[small] = np.nan
    scales = standardize.scale_vector(magnitude, lv_var, np.diag(fit.implied_arrays[0]), xp=np)
    out = {}
    for kind in standardize.KINDS:
        sc = standardize.scaling(ext, spec, kind)
        std = standardize.scale(magnitude, scales, sc.num[0], sc.den[0])
        std[small] = 0.0
        out["sepc_" + kind[4:]] = np.sign(epc) * std[rows]
    return pd.DataFrame(out)


def score_tests(fit) -> pd.DataFrame:
    """Univariate score tests of the equality constraints, like ``lavTestScore(fit)$uni``.

    Columns lhs op rhs (readable: ``visual=~x2 == visual=~x3`` for a shared label), plabel_lhs
    and plabel_rhs (lavaan's naming: ``.p2.`` for table row 2, user text without spaces for ``==``
    constraints), X2, df, p_value.
    """
    a, origins, score, info = _constraint_system(fit)
    x2 = [_released(score, info, np.delete(a, r, axis=0), fit.nobs) for r in range(a.shape[0])]
    t = fit.partable.table
    names = [_constraint_names(o, t) for o in origins]
    out = pd.DataFrame(names, columns=["lhs", "op", "rhs", "plabel_lhs", "plabel_rhs"])
    return out.assign(X2=x2, df=1, p_value=distributions.chi2_sf(x2, 1))


def score_test_total(fit) -> pd.Series:
    """The joint score test of all equality constraints, like ``lavTestScore(fit)$test``."""
    a, _, score, info = _constraint_system(fit)
    x2 = _released(score, info, np.zeros((0, a.shape[1])), fit.nobs)
    df = int(np.linalg.matrix_rank(a))
    return pd.Series({"X2": x2, "df": df, "p_value": distributions.chi2_sf(x2, df)})


def _constraint_system(fit) -> tuple[np.ndarray, list, np.ndarray, np.ndarray]:
    """A and the origins of its rows, and the score and expected information at the estimates."""
    a, _, origins = constraints.linear_system(fit.partable, fit.spec)
    if a.shape[0] == 0:
        raise ModelError("the model has no equality constraints to test; score tests need "
                         "shared labels or == constraints")
    each = [_score_and_information(view, view.spec, view.matrices) for view in fit.groups]
    return (a, origins, *_in_x(fit, [s for s, _ in each], [i for _, i in each]))


def _group_weights(fit) -> list[float]:
    """n_g / N of every group (1 for a single-group model)."""
    return [float(w) for w in groups.weights(fit.moments)] if fit.n_groups > 1 else [1.0]


def _group_blocks(fit) -> list[np.ndarray]:
    """Positions in x of every group's free parameters."""
    return list(fit.spec.index) if fit.n_groups > 1 else [np.arange(fit.spec.npar)]


def _in_x(fit, scores: list, infos: list) -> tuple[np.ndarray, np.ndarray]:
    """The groups' scores and informations (each in its own parameters) summed into x with the
    weights n_g / N, as the multi-group objective weighs them (groups.py)."""
    n = fit.spec.npar
    score, info = np.zeros(n), np.zeros((n, n))
    for w, index, s_g, i_g in zip(_group_weights(fit), _group_blocks(fit), scores, infos):
        score[index] += w * s_g
        info[np.ix_(index, index)] += w * i_g
    return score, info


def _released(score: np.ndarray, info: np.ndarray, a_kept: np.ndarray, n: int) -> float:
    """N sᵀ K (Kᵀ I K)⁻¹ Kᵀ s with K a basis of the null space of the kept constraints."""
    k = linalg.null_space(a_kept) if a_kept.shape[0] else np.eye(score.size)
    ks = k.T @ score
    return float(n * ks @ np.linalg.solve(k.T @ info @ k, ks))


def _constraint_names(origin, t: pd.DataFrame) -> tuple[str, str, str, str, str]:
    if isinstance(origin, tuple):
        first, other = origin
        return (_row_text(t, first), "==", _row_text(t, other),
                f".p{t['id'][first]}.", f".p{t['id'][other]}.")
    lhs, rhs = to_text(origin.lhs), to_text(origin.rhs)
    return lhs, "==", rhs, lhs.replace(" ", ""), rhs.replace(" ", "")


def _row_text(t: pd.DataFrame, row: int) -> str:
    return f"{t['lhs'][row]}{t['op'][row]}{t['rhs'][row]}"
