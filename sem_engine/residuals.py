"""Residual moments S - Σ and x̄ - μ: raw, correlation, normalized and standardized (lavaan's).

lavaan's ``residuals(fit, type=...)`` / ``lavResiduals`` (lav_residuals.R, lavaan 0.6), single group,
complete data, with S, x̄ the sample moments the fit used and Σ, μ the model-implied ones:

- ``raw``: S - Σ, x̄ - μ.
- ``cor`` (``cor.bollen``): S and Σ each scaled to correlations by their own diagonal,
  s_ij / sqrt(s_ii s_jj) - σ_ij / sqrt(σ_ii σ_jj); means x̄_i / sqrt(s_ii) - μ_i / sqrt(s_ii).
- ``normalized``: raw / sqrt(diag Γ_obs), Γ_obs = A1(S, x̄)⁻¹ / N the asymptotic covariance of
  the sample moments (unstructured h1 information at the sample moments);
- ``standardized``: raw / sqrt(diag Γ_res), the asymptotic covariance of the residuals
  (Ogasawara 2001; lavaan's ``lav_residuals_acov``)

      Γ_res = Q Γ_obs Qᵀ,   Q = I - Δ A0⁻ Δᵀ A1,

  Δ = ∂(μ, vech Σ)/∂x, A1 the structured h1 information at (Σ, μ) (expected; with
  ``information="observed"`` the observed one), A0⁻ = K (Kᵀ Δᵀ A1 Δ K)⁻¹ Kᵀ the inverse unit
  information under the equality constraints x = x0 + K z.

The h1 information of one observation (elements ordered means, then vech by columns) is

    A1 = blockdiag(Σ⁻¹, ½ Dᵀ (Σ⁻¹ ⊗ Σ⁻¹) D)                                  (expected)
    A1 = [[Σ⁻¹, (Σ⁻¹d ⊗ Σ⁻¹)ᵀD], [Dᵀ(Σ⁻¹d ⊗ Σ⁻¹), ½ Dᵀ (Σ⁻¹ ⊗ Σ⁻¹(2W - Σ)Σ⁻¹) D]]   (observed)

with D the duplication matrix, d = x̄ - μ and W = S + d dᵀ.  With fixed exogenous covariates
(``fixed_x``) the rows and columns of the moments among them are zero, and inverses are taken over
the other elements only.  Elements with |residual| < 1e-5 are not divided (lavaan's rule), so
standardized and normalized residuals of exactly fitted moments are the raw ones (~1e-8 noise).

The same pieces give the expected information Δᵀ A1 Δ and the score Δᵀ A1 r of one observation,
r = (d, vech(S + d dᵀ - Σ)), used by modindices.py; with incomplete data (FIML) their sums over
the missing-data patterns (``fiml_score_information``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import inference, structure
from .errors import ModelError
from .matrices import Matrices, Spec

KINDS = ("raw", "cor", "cor.bollen", "normalized", "standardized")
_NEAR_ZERO = 1e-5


def residuals(fit, kind: str = "raw") -> dict:
    """{"cov": DataFrame, "mean": Series (with a mean structure)} of residuals of type ``kind``."""
    if kind not in KINDS:
        raise ModelError(f"unknown residual type {kind!r}; use one of {', '.join(KINDS)}")
    s, xbar = np.asarray(fit.moments.s), np.asarray(fit.moments.xbar)
    sigma, mu = fit.implied_arrays
    if kind in ("cor", "cor.bollen"):
        d_cov = _rescale(s, np.diag(s)) - _rescale(sigma, np.diag(sigma))
        d_mean = _rescale(xbar, np.diag(s)) - _rescale(mu, np.diag(s))
    else:
        d_cov, d_mean = s - sigma, xbar - mu
    if kind in ("normalized", "standardized"):
        acov = _acov_obs(fit) if kind == "normalized" else _acov_residuals(fit)
        se = np.sqrt(np.where(np.diag(acov) < 0, np.nan, np.diag(acov)))
        se_mean, se_cov = _unpack(se, len(fit.spec.ov), fit.spec.meanstructure)
        d_cov = d_cov / np.where(np.abs(d_cov) < _NEAR_ZERO, 1.0, se_cov)
        if fit.spec.meanstructure:
            d_mean = d_mean / np.where(np.abs(d_mean) < _NEAR_ZERO, 1.0, se_mean)
    names = list(fit.spec.ov)
    out = {"cov": pd.DataFrame(d_cov, index=names, columns=names)}
    if fit.spec.meanstructure:
        out["mean"] = pd.Series(d_mean, index=names)
    return out


def _rescale(values: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """values / sqrt(v_i v_j) (matrix) or values / sqrt(v_i) (vector); near-zero values unscaled."""
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_sd = 1.0 / np.sqrt(np.where(variances < np.finfo(float).eps, np.nan, variances))
    scale = np.outer(inv_sd, inv_sd) if values.ndim == 2 else inv_sd
    return values * np.where(np.abs(values) < _NEAR_ZERO, 1.0, scale)


def vech_pairs(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each vech element (lower triangle, by columns, as lavaan's vech)."""
    cols, rows = np.triu_indices(p)
    return rows, cols


def duplication(p: int) -> np.ndarray:
    """Duplication matrix D: vec(A) = D vech(A) for symmetric A (column-major vec)."""
    rows, cols = vech_pairs(p)
    d = np.zeros((p * p, rows.size))
    k = np.arange(rows.size)
    d[cols * p + rows, k] = 1.0
    d[rows * p + cols, k] = 1.0
    return d


def not_x(fit) -> np.ndarray:
    """Mask of the moment elements (means, then vech) that are not moments among fixed covariates."""
    p = len(fit.spec.ov)
    fixed = np.zeros(p, dtype=bool)
    if fit.options.fixed_x:
        fixed[[fit.spec.ov.index(v) for v in fit.partable.variables.ov_x]] = True
    rows, cols = vech_pairs(p)
    keep = ~(fixed[rows] & fixed[cols])
    return np.concatenate([~fixed, keep]) if fit.spec.meanstructure else keep


def h1_information(sigma, mu, s, xbar, meanstructure: bool, observed: bool, keep: np.ndarray) -> np.ndarray:
    """A1: the information of one observation on the moments (module docstring), x rows zeroed."""
    p = sigma.shape[0]
    dup = duplication(p)
    inv = inference.inverse(sigma)
    if observed:
        d = xbar - mu if meanstructure else np.zeros(p)
        w = s + np.outer(d, d)
        a22 = 0.5 * dup.T @ np.kron(inv, inv @ (2 * w - sigma) @ inv) @ dup
        a21 = dup.T @ np.kron((inv @ d)[:, None], inv)
    else:
        a22 = 0.5 * dup.T @ np.kron(inv, inv) @ dup
        a21 = np.zeros((dup.shape[1], p))
    a1 = np.block([[inv, a21.T], [a21, a22]]) if meanstructure else a22
    return a1 * np.outer(keep, keep)


def _inverse_kept(a: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Inverse over the kept rows and columns, zero elsewhere (lavaan drops zero rows)."""
    out = np.zeros_like(a)
    out[np.ix_(keep, keep)] = inference.inverse(a[np.ix_(keep, keep)])
    return out


def _acov_obs(fit) -> np.ndarray:
    """Γ_obs = A1(S, x̄)⁻¹ / N: unstructured h1 information at the sample moments."""
    s, xbar = np.asarray(fit.moments.s), np.asarray(fit.moments.xbar)
    keep = not_x(fit)
    a1 = h1_information(s, xbar, s, xbar, fit.spec.meanstructure, False, keep)
    return _inverse_kept(a1, keep) / fit.nobs


def moment_jacobian(spec: Spec, mats: Matrices) -> np.ndarray:
    """Δ = ∂(μ, vech Σ)/∂x at the model matrices ``mats`` (the means only with a mean structure),
    in closed form (numpy, no compiled code): ∂Σ/∂x_i = u_i v_iᵀ + v_i u_iᵀ and ∂μ/∂x_i = d_i with
    the rank-two columns of inference.rank_two (Bollen 1989, ch. 8)."""
    p, m = spec.p, spec.m
    sz = structure.Sizes(p, m, max(spec.npar, 1), len(spec.row_base), 1, 0)
    cols = structure.Derivatives(**structure.rank_two_columns(spec, np.arange(spec.npar), sz))
    _, u, v, d = inference.rank_two(Matrices(*(np.asarray(a, dtype=float) for a in mats)), cols)
    rows, vcols = vech_pairs(p)
    ds = u[rows] * v[vcols] + v[rows] * u[vcols]
    ds, d = ds[:, :spec.npar], d[:, :spec.npar]
    return np.vstack([d, ds]) if spec.meanstructure else ds


def fiml_score_information(sigma, mu, patterns, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The FIML score and expected information of one observation on (μ, vech Σ) at (Σ, μ).

    Each missing-data pattern k (n_k rows observing o_k) contributes its complete-data pieces on
    the observed moments, A1_k = A1(Σ_oo, μ_o) and r_k = (x̄_k - μ_o, vech(S_k + d dᵀ - Σ_oo)),
    placed by the selection E_k of (μ_o, vech Σ_oo) from (μ, vech Σ):

        score = Σ_k (n_k / N) E_kᵀ A1_k r_k,     I = Σ_k (n_k / N) E_kᵀ A1_k E_k

    (the expected information of the observed-data likelihood, lavaan's
    ``lav_mvnorm_missing_information_expected``; the score is the gradient of its
    log-likelihood, ``lav_mvnorm_missing_dlogl_dmu``/``_dvechSigma``, over N).  ``keep`` zeroes
    the information of moments among fixed covariates, as ``h1_information``.
    """
    p = sigma.shape[0]
    rows, cols = vech_pairs(p)
    position = np.zeros((p, p), dtype=int)
    position[rows, cols] = p + np.arange(rows.size)
    mask, count = np.asarray(patterns.mask) > 0, np.asarray(patterns.count, dtype=float)
    score, info = np.zeros(p + rows.size), np.zeros((p + rows.size, p + rows.size))
    for observed, n_k, mean, cov in zip(mask, count, np.asarray(patterns.mean), np.asarray(patterns.cov)):
        o = np.flatnonzero(observed)
        if n_k == 0 or o.size == 0:
            continue
        sub = np.ix_(o, o)
        a1 = h1_information(sigma[sub], mu[o], cov[sub], mean[o], True, False, np.ones(o.size + o.size * (o.size + 1) // 2))
        r = moment_residuals(cov[sub], mean[o], sigma[sub], mu[o], True)
        r_o, c_o = vech_pairs(o.size)
        index = np.concatenate([o, position[o[r_o], o[c_o]]])
        score[index] += n_k * (a1 @ r)
        info[np.ix_(index, index)] += n_k * a1
    total = count.sum()
    return score / total, info * np.outer(keep, keep) / total


def moment_residuals(s, xbar, sigma, mu, meanstructure: bool) -> np.ndarray:
    """r = (x̄ - μ, vech(S + d dᵀ - Σ)), d = x̄ - μ: the score of one observation is Δᵀ A1 r."""
    d = xbar - mu if meanstructure else np.zeros_like(xbar)
    rows, cols = vech_pairs(len(xbar))
    vech = (s + np.outer(d, d) - sigma)[rows, cols]
    return np.concatenate([d, vech]) if meanstructure else vech


def _acov_residuals(fit) -> np.ndarray:
    """Γ_res = Q Γ_obs Qᵀ with Q = I - Δ A0⁻ Δᵀ A1 (module docstring)."""
    s, xbar = np.asarray(fit.moments.s), np.asarray(fit.moments.xbar)
    sigma, mu = fit.implied_arrays
    observed = fit.options.information == "observed"
    a1 = h1_information(sigma, mu, s, xbar, fit.spec.meanstructure, observed, not_x(fit))
    delta, basis = moment_jacobian(fit.spec, fit.matrices), fit.reparam.basis
    a0_inv = basis @ inference.inverse(basis.T @ delta.T @ a1 @ delta @ basis) @ basis.T
    q = np.eye(a1.shape[0]) - delta @ a0_inv @ delta.T @ a1
    return q @ _acov_obs(fit) @ q.T


def _unpack(values: np.ndarray, p: int, meanstructure: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """(mean part, symmetric p x p matrix) from a vector ordered means, then vech."""
    mean = values[:p] if meanstructure else None
    vech = values[p:] if meanstructure else values
    rows, cols = vech_pairs(p)
    out = np.zeros((p, p))
    out[rows, cols] = vech
    out[cols, rows] = vech
    return mean, out
