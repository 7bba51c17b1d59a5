"""Fit measures of an ML fit: every entry of lavaan's ``fitMeasures()`` ('.' -> '_') and AMOS's extras.

One small function per index, with its formula and source; ``measures`` gathers them and
``fit_measures(fit)`` feeds it a fit.  Nothing refits the model: every index is a closed form in
the chi-square, the sample moments (S, x̄) and the implied moments (Σ̂, μ̂); the baseline model is
in baseline.py.  Edge cases (df = 0, a baseline no worse than the model) follow lavaan 0.6's
``lav_fit_*.R`` so the numbers agree digit by digit.

Sample size (lavaan's ``lav_utils_get_ntotal``, AMOS's n): the indices built from chisq/n (RMSEA, its
interval and tests, NCP and F0 intervals, CN, MFI, ECVI, BCC, MECVI) use n = N under
``likelihood="normal"`` and n = N - 1 under ``"wishart"``, where chisq = (N - 1)·F_ML as in AMOS,
EQS and LISREL; AIC, BIC and the sample-size adjusted BIC use the log-likelihood and N.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from . import distributions, groups, missing
from .baseline import Baseline, baseline
from .inference import inverse

RMSEA_CI_LEVEL = 0.90
RMSEA_CLOSE_H0 = 0.05
RMSEA_NOTCLOSE_H0 = 0.08
# lavaan tests "t == 0" with R's all.equal(t, 0), whose tolerance is sqrt(machine epsilon).
ALL_EQUAL_TOL = 1.5e-8


class Inputs(NamedTuple):
    """What the fit measures are computed from.

    ``s``/``xbar``: the sample moments the model was fitted to (divisor N, or N - 1 under
    "wishart"); ``sigma``/``mu``: the implied moments; ``x_idx``: positions of the exogenous
    observed covariates; ``nobs``: N; ``n``: the chi-square multiplier (N or N - 1).
    """

    s: np.ndarray
    xbar: np.ndarray
    sigma: np.ndarray
    mu: np.ndarray
    meanstructure: bool
    x_idx: tuple[int, ...]
    fixed_x: bool
    nobs: int
    n: float
    chisq: float
    df: int
    npar: int
    fmin: float
    logl: float
    unrestricted_logl: float
    baseline: Baseline | None = None   # None: the independence model fitted to s (baseline.py)


# -- the test statistic ----------------------------------------------------------------------------
def chisq_pvalue(chisq: float, df: int) -> float:
    """P(χ²_df > chisq); undefined (NaN) for a saturated model (df = 0), as in lavaan."""
    return float(distributions.chi2_sf(chisq, df)) if df > 0 else np.nan


# -- incremental indices (lav_fit_cfi.R) -----------------------------------------------------------
def cfi(chisq: float, df: int, chisq0: float, df0: int) -> float:
    """Comparative fit index, 1 - max(χ² - df, 0) / max(χ² - df, χ²₀ - df₀, 0); 1 if both are 0.

    Bentler (1990).
    """
    t1 = max(chisq - df, 0.0)
    t2 = max(chisq - df, chisq0 - df0, 0.0)
    if abs(t1) <= ALL_EQUAL_TOL and abs(t2) <= ALL_EQUAL_TOL:
        return 1.0
    return 1.0 - t1 / t2


def tli(chisq: float, df: int, chisq0: float, df0: int) -> float:
    """Tucker-Lewis index (= NNFI), 1 - (χ² - df) df₀ / ((χ²₀ - df₀) df); 1 when df = 0.

    Tucker & Lewis (1973); Bentler & Bonett (1980).
    """
    t2 = (chisq0 - df0) * df
    if df > 0 and abs(t2) > 0:
        return 1.0 - (chisq - df) * df0 / t2
    return 1.0


def rfi(chisq: float, df: int, chisq0: float, df0: int) -> float:
    """Relative fit index, (χ²₀/df₀ - χ²/df) / (χ²₀/df₀).

    Bollen (1986).  lavaan returns NaN if df > df₀, 1 if df = 0 or if either term is negative.
    """
    if df > df0:
        return np.nan
    if df == 0 or df0 == 0:
        return 1.0
    t1 = chisq0 / df0 - chisq / df
    t2 = chisq0 / df0
    return 1.0 if t1 < 0 or t2 < 0 else t1 / t2


def nfi(chisq: float, df: int, chisq0: float, df0: int) -> float:
    """Normed fit index, (χ²₀ - χ²) / χ²₀; 1 when df = 0.  Bentler & Bonett (1980)."""
    if df > df0 or abs(chisq0) <= ALL_EQUAL_TOL:
        return np.nan
    return (chisq0 - chisq) / chisq0 if df > 0 else 1.0


def pnfi(chisq: float, df: int, chisq0: float, df0: int) -> float:
    """Parsimony normed fit index, (df/df₀)·(χ²₀ - χ²)/χ²₀.  James, Mulaik & Brett (1982)."""
    if df0 > 0 and chisq0 > 0:
        return df / df0 * (chisq0 - chisq) / chisq0
    return np.nan


def ifi(chisq: float, df: int, chisq0: float, df0: int) -> float:
    """Incremental fit index, (χ²₀ - χ²) / (χ²₀ - df); 1 if the denominator is negative.

    Bollen (1989).
    """
    t2 = chisq0 - df
    if t2 < 0:
        return 1.0
    return np.nan if abs(t2) <= ALL_EQUAL_TOL else (chisq0 - chisq) / t2


def rni(chisq: float, df: int, chisq0: float, df0: int) -> float:
    """Relative noncentrality index, 1 - (χ² - df) / (χ²₀ - df₀) (CFI without truncation).

    McDonald & Marsh (1990).
    """
    t2 = chisq0 - df0
    return np.nan if abs(t2) <= ALL_EQUAL_TOL else 1.0 - (chisq - df) / t2


# -- information criteria (lav_fit_aic.R) ------------------------------------------------------
def aic(logl: float, npar: int) -> float:
    """Akaike information criterion, -2 logL + 2q.  Akaike (1974)."""
    return -2.0 * logl + 2.0 * npar


def bic(logl: float, npar: int, nobs: int) -> float:
    """Bayesian information criterion, -2 logL + q log N.  Schwarz (1978)."""
    return -2.0 * logl + npar * np.log(nobs)


def sabic(logl: float, npar: int, nobs: int) -> float:
    """Sample-size adjusted BIC (lavaan's ``bic2``), -2 logL + q log((N + 2)/24).  Sclove (1987)."""
    return -2.0 * logl + npar * np.log((nobs + 2) / 24)


# -- RMSEA (lav_fit_rmsea.R) ---------------------------------------------------------------------
def rmsea(chisq: float, df: int, n: float, groups: int = 1) -> float:
    """Root mean square error of approximation, sqrt(max(χ²/(n df) - 1/n, 0)) · sqrt(G); 0 when
    df = 0.

    Steiger & Lind (1980); n is N ("normal") or N - G ("wishart"); with G groups lavaan (after
    Steiger 1998) multiplies by sqrt(G), and the interval and tests below use the same scale.
    """
    return float(np.sqrt(max(chisq / n / df - 1.0 / n, 0.0) * groups)) if df > 0 else 0.0


def ncp_ci(chisq: float, df: int, n: float, level: float = RMSEA_CI_LEVEL) -> tuple[float, float]:
    """Confidence interval (λ_L, λ_U) of the noncentrality parameter λ of χ².

    λ_L solves P(χ²_df(λ) ≤ chisq) = (1 + level)/2 and λ_U solves it = (1 - level)/2 (Steiger,
    Shapiro & Browne 1985; Browne & Cudeck 1993; AMOS's NCP_LO and NCP_HI).  As in lavaan, a bound
    is 0 when df = 0 or when no root exists at or above 0, and λ_U is searched on
    [0, max(n, 4 chisq)].
    """
    def cdf(lam):
        return distributions.ncx2_cdf(chisq, df, lam)

    upper_p, lower_p = (1 + level) / 2, (1 - level) / 2
    if df < 1:
        return 0.0, 0.0
    lam_l = 0.0 if cdf(0.0) < upper_p else distributions.root(lambda lam: cdf(lam) - upper_p, 0.0, chisq)
    top = max(n, 4 * chisq)
    if cdf(top) > lower_p or cdf(0.0) < lower_p:
        return lam_l, 0.0
    return lam_l, distributions.root(lambda lam: cdf(lam) - lower_p, 0.0, top)


def rmsea_ci(chisq: float, df: int, n: float, level: float = RMSEA_CI_LEVEL, groups: int = 1
             ) -> tuple[float, float]:
    """RMSEA confidence interval, sqrt(λ G/(n df)) at the bounds of ``ncp_ci``.  Browne & Cudeck (1993)."""
    if df < 1:
        return 0.0, 0.0
    return tuple(float(np.sqrt(lam * groups / (n * df))) for lam in ncp_ci(chisq, df, n, level))


def rmsea_close_pvalue(chisq: float, df: int, n: float, h0: float = RMSEA_CLOSE_H0, groups: int = 1) -> float:
    """P-value of the test of close fit, H0: RMSEA ≤ h0: P(χ²_df(n df h0²/G) > chisq).

    Browne & Cudeck (1993); AMOS's PCLOSE.
    """
    return float(distributions.ncx2_sf(chisq, df, n * df * h0**2 / groups)) if df > 0 else np.nan


def rmsea_notclose_pvalue(chisq: float, df: int, n: float, h0: float = RMSEA_NOTCLOSE_H0, groups: int = 1
                          ) -> float:
    """P-value of the test of not-close fit, H0: RMSEA ≥ h0: P(χ²_df(n df h0²/G) ≤ chisq).

    MacCallum, Browne & Sugawara (1996).
    """
    return float(distributions.ncx2_cdf(chisq, df, n * df * h0**2 / groups)) if df > 0 else np.nan


# -- residual-based indices (lav_fit_srmr.R, lav_residuals.R) ------------------------------------
def _rms(cov_part: np.ndarray, mean_part: np.ndarray | None, count: int) -> float:
    total = np.sum(cov_part**2) + (np.sum(mean_part**2) if mean_part is not None else 0.0)
    return float(np.sqrt(total / count))


def _lower(m: np.ndarray, diagonal: bool = True) -> np.ndarray:
    return m[np.tril_indices(m.shape[0], 0 if diagonal else -1)]


def rmr(s, sigma, xbar=None, mu=None) -> float:
    """Root mean square residual: RMS of vech(S - Σ̂) (and x̄ - μ̂ when given).

    Jöreskog & Sörbom (1981); the count is p(p+1)/2 (+ p).
    """
    p = s.shape[0]
    means = None if xbar is None else xbar - mu
    return _rms(_lower(s - sigma), means, p * (p + 1) // 2 + (0 if xbar is None else p))


def srmr_bentler(s, sigma, xbar=None, mu=None) -> float:
    """Standardized RMR: RMS of (s_ij - σ̂_ij)/sqrt(s_ii s_jj) over i ≥ j (and (x̄_i - μ̂_i)/sqrt(s_ii)).

    Bentler (1995, EQS); lavaan's ``srmr``.
    """
    p, sd = s.shape[0], np.sqrt(np.diag(s))
    means = None if xbar is None else (xbar - mu) / sd
    return _rms(_lower((s - sigma) / np.outer(sd, sd)), means,
                p * (p + 1) // 2 + (0 if xbar is None else p))


def crmr(s, sigma, xbar=None, mu=None) -> float:
    """Correlation RMR: RMS of the off-diagonal cor(S) - cor(Σ̂) (and (x̄_i - μ̂_i)/sqrt(s_ii)).

    Bollen (1989, p. 258); the count is p(p-1)/2 (+ p).
    """
    p = s.shape[0]
    means = None if xbar is None else (xbar - mu) / np.sqrt(np.diag(s))
    return _rms(_lower(_cor(s) - _cor(sigma), diagonal=False), means,
                p * (p - 1) // 2 + (0 if xbar is None else p))


def srmr_mplus(s, sigma, xbar=None, mu=None) -> float:
    """Mplus's SRMR: RMS of the off-diagonal cor(S) - cor(Σ̂), the variance terms (s_ii - σ̂_ii)/s_ii
    (and x̄_i/sqrt(s_ii) - μ̂_i/sqrt(σ̂_ii)); the count is p(p+1)/2 (+ p).

    Muthén & Muthén, Mplus technical appendices; lavaan's ``srmr_mplus``.
    """
    p = s.shape[0]
    var_s, var_sigma = np.diag(s), np.diag(sigma)
    cov_part = np.concatenate([_lower(_cor(s) - _cor(sigma), diagonal=False), (var_s - var_sigma) / var_s])
    means = None if xbar is None else xbar / np.sqrt(var_s) - mu / np.sqrt(var_sigma)
    return _rms(cov_part, means, p * (p + 1) // 2 + (0 if xbar is None else p))


def _cor(m: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(m))
    return m / np.outer(sd, sd)


def gfi(s, sigma, xbar=None, mu=None, fixed_idx=()) -> float:
    """Goodness-of-fit index, 1 - q(S - Σ̂, x̄ - μ̂) / q(S, x̄) with the normal-theory weight at Σ̂:

        q(A, a) = ½ tr[(Σ̂⁻¹ A)²] + aᵀ Σ̂⁻¹ a      (the mean term only with a mean structure).

    Jöreskog & Sörbom (1981); Tanaka & Huba (1985).  As in lavaan, the moments of fixed covariates
    (``fixed_idx``: their variances, covariances and means) get zero weight.
    """
    w = inverse(sigma)

    def q(a, m):
        a = a.copy()
        a[np.ix_(fixed_idx, fixed_idx)] = 0.0
        wa = w @ a
        value = 0.5 * np.trace(wa @ wa)
        if m is not None:
            m = m.copy()
            m[list(fixed_idx)] = 0.0
            value += m @ w @ m
        return value

    return 1.0 - q(s - sigma, None if xbar is None else xbar - mu) / q(s, xbar)


def agfi(gfi_value: float, nel: int, df: int) -> float:
    """Adjusted GFI, 1 - (nel/df)(1 - GFI); 1 when df = 0.  nel: sample moments incl. means.

    Jöreskog & Sörbom (1981).
    """
    return 1.0 - nel / df * (1.0 - gfi_value) if df > 0 else 1.0


def pgfi(gfi_value: float, nel: int, df: int) -> float:
    """Parsimony GFI, (df/nel)·GFI.  Mulaik et al. (1989)."""
    return df / nel * gfi_value


# -- other indices (lav_fit_other.R) --------------------------------------------------------------
def cn(chisq: float, df: int, n: float, alpha: float) -> float:
    """Hoelter's critical N, χ²_{1-α}(df) / (χ²/n) + 1.  Hoelter (1983); AMOS's HOELTER.

    For df = 0 the critical value is 0 and CN = 1 (lavaan gives NA instead when its rounding-level
    chi-square of a saturated model happens to fall below machine epsilon); a model that fits
    exactly (χ² ≤ 0 with df > 0) has CN = ∞.
    """
    if df == 0:
        return 1.0
    return float(distributions.chi2_ppf(1 - alpha, df) / (chisq / n) + 1.0) if chisq > 0 else np.inf


def mfi(chisq: float, df: int, n: float) -> float:
    """McDonald's fit index, exp(-½ (χ² - df)/n).  McDonald (1989)."""
    return float(np.exp(-0.5 * (chisq - df) / n))


def ecvi(chisq: float, npar: int, n: float) -> float:
    """Expected cross-validation index, (χ² + 2q)/n.  Browne & Cudeck (1989); AMOS's ECVI."""
    return (chisq + 2.0 * npar) / n


# -- AMOS's indices (Arbuckle, AMOS User's Guide, Appendix C) --------------------------------------
def cmin_df(chisq: float, df: int) -> float:
    """CMIN/DF, χ²/df (NaN for df = 0)."""
    return chisq / df if df > 0 else np.nan


def pratio(df: int, df0: int) -> float:
    """Parsimony ratio, df/df₀.  James, Mulaik & Brett (1982)."""
    return df / df0 if df0 > 0 else np.nan


def pcfi(df: int, df0: int, cfi_value: float) -> float:
    """Parsimony CFI, (df/df₀)·CFI."""
    return pratio(df, df0) * cfi_value


def ncp(chisq: float, df: int) -> float:
    """Estimated noncentrality parameter, max(χ² - df, 0)."""
    return max(chisq - df, 0.0)


def f0(chisq: float, df: int, n: float) -> float:
    """Population discrepancy estimate, max(χ² - df, 0)/n.  Steiger, Shapiro & Browne (1985)."""
    return ncp(chisq, df) / n


def bcc(chisq: float, npar: int, n: float, nobs: int, p: int) -> float:
    """Browne-Cudeck criterion, χ² + 2q·n/(N - p - 2) (one group; p observed variables).

    Browne & Cudeck (1989); AMOS's BCC.
    """
    return chisq + 2.0 * npar * n / (nobs - p - 2)


def mecvi(chisq: float, npar: int, n: float, nobs: int, p: int) -> float:
    """Modified ECVI, BCC/n = χ²/n + 2q/(N - p - 2).  Browne & Cudeck (1989); AMOS's MECVI."""
    return bcc(chisq, npar, n, nobs, p) / n


def caic(chisq: float, npar: int, nobs: int) -> float:
    """Consistent AIC, χ² + q(log N + 1).  Bozdogan (1987); AMOS's CAIC."""
    return chisq + npar * (np.log(nobs) + 1.0)


# -- assembly ------------------------------------------------------------------------------------
def inputs(fit) -> Inputs:
    """The ``Inputs`` of a fitted model (no refit: implied moments at the estimates)."""
    sigma, mu = fit.implied_arrays
    x_idx = tuple(fit.spec.ov.index(v) for v in fit.partable.variables.ov_x)
    s = np.asarray(fit.moments.s)
    return Inputs(s, np.asarray(fit.moments.xbar), sigma, mu,
                  fit.spec.meanstructure, x_idx, fit.options.fixed_x, fit.nobs, fit.n_eff,
                  fit.chisq, fit.df, fit.npar, fit.fmin, fit.loglik, fit.unrestricted_loglik,
                  baseline_of(fit))


def baseline_of(fit) -> Baseline:
    """The baseline model's chi-square and df (baseline.py); with incomplete data (FIML)
    2 (log L_H1 - log L_independence - log L_x): the joint H1 (EM) log-likelihood, the
    independence model of the other variables in closed form (missing.py) and the fixed
    covariates' observed-data log-likelihood at their pairwise-complete moments (lavaan's
    baseline block for them; their saturated log-likelihood when they have no holes).  Free
    covariates (``fixed_x=False``) keep their free block in the baseline, as with complete
    data: the observed-data likelihood of a block-diagonal model factors, so that block adds
    the covariates' own saturated (EM) log-likelihood."""
    s = np.asarray(fit.moments.s)
    x_idx = tuple(fit.spec.ov.index(v) for v in fit.partable.variables.ov_x)
    complete = baseline(s, x_idx, fit.n_eff, fit.options.fixed_x, fit.spec.meanstructure)
    if fit.moments.patterns is None:
        return complete
    rows = fit.data.rows
    y_cols = [i for i in range(s.shape[0]) if i not in x_idx]
    logl = missing.independence_loglik(rows[:, y_cols])
    if fit.options.fixed_x:
        logl += fit.x_pairwise[1]
    elif x_idx:
        x_rows = rows[:, list(x_idx)]
        mu, sigma, _ = missing.em(x_rows)
        logl += missing.observed_loglik(x_rows, mu, sigma)
    h1 = float(fit.moments.patterns.h1_loglik)
    return Baseline(2.0 * (h1 - logl), complete.df)


def measures(inp: Inputs) -> dict[str, float]:
    """Every fit measure, in lavaan's order, then AMOS's."""
    base = inp.baseline or baseline(inp.s, inp.x_idx, inp.n, inp.fixed_x, inp.meanstructure)
    out = _chisq_based(inp, base)
    out.update(_residual(inp))
    out.update(_other(inp))
    out.update(_amos(inp, base, out["cfi"], inp.s.shape[0]))
    return out


def _chisq_based(inp: Inputs, base: Baseline, groups: int = 1) -> dict[str, float]:
    """The test, the incremental indices, the information criteria and RMSEA."""
    out = {"npar": inp.npar, "fmin": inp.fmin, "chisq": inp.chisq, "df": inp.df,
           "pvalue": chisq_pvalue(inp.chisq, inp.df)}
    out.update(_incremental(inp.chisq, inp.df, base))
    out.update({"logl": inp.logl, "unrestricted_logl": inp.unrestricted_logl,
                "aic": aic(inp.logl, inp.npar), "bic": bic(inp.logl, inp.npar, inp.nobs),
                "ntotal": inp.nobs, "bic2": sabic(inp.logl, inp.npar, inp.nobs)})
    out.update(_rmsea(inp.chisq, inp.df, inp.n, groups))
    return out


def _incremental(chisq: float, df: int, base: Baseline) -> dict[str, float]:
    args = (chisq, df, base.chisq, base.df)
    return {"baseline_chisq": base.chisq, "baseline_df": base.df,
            "baseline_pvalue": chisq_pvalue(base.chisq, base.df),
            "cfi": cfi(*args), "tli": tli(*args), "nnfi": tli(*args), "rfi": rfi(*args),
            "nfi": nfi(*args), "pnfi": pnfi(*args), "ifi": ifi(*args), "rni": rni(*args)}


def _rmsea(chisq: float, df: int, n: float, groups: int = 1) -> dict[str, float]:
    lower, upper = rmsea_ci(chisq, df, n, groups=groups)
    return {"rmsea": rmsea(chisq, df, n, groups), "rmsea_ci_lower": lower, "rmsea_ci_upper": upper,
            "rmsea_ci_level": RMSEA_CI_LEVEL,
            "rmsea_pvalue": rmsea_close_pvalue(chisq, df, n, groups=groups), "rmsea_close_h0": RMSEA_CLOSE_H0,
            "rmsea_notclose_pvalue": rmsea_notclose_pvalue(chisq, df, n, groups=groups),
            "rmsea_notclose_h0": RMSEA_NOTCLOSE_H0}


def _residual(inp: Inputs) -> dict[str, float]:
    """RMR, SRMR and CRMR; "_nomean" ones use the covariances only (equal without a mean structure)."""
    s, sigma = inp.s, inp.sigma
    means = (inp.xbar, inp.mu) if inp.meanstructure else (None, None)
    srmr_value = srmr_bentler(s, sigma, *means)
    return {"rmr": rmr(s, sigma, *means), "rmr_nomean": rmr(s, sigma),
            "srmr": srmr_value, "srmr_bentler": srmr_value,
            "srmr_bentler_nomean": srmr_bentler(s, sigma),
            "crmr": crmr(s, sigma, *means), "crmr_nomean": crmr(s, sigma),
            "srmr_mplus": srmr_mplus(s, sigma, *means), "srmr_mplus_nomean": srmr_mplus(s, sigma)}


def _other(inp: Inputs) -> dict[str, float]:
    return _other_with(inp, _gfi(inp), _n_elements(inp.s.shape[0], inp.meanstructure))


def _gfi(inp: Inputs) -> float:
    means = (inp.xbar, inp.mu) if inp.meanstructure else (None, None)
    return gfi(inp.s, inp.sigma, *means, fixed_idx=inp.x_idx if inp.fixed_x else ())


def _n_elements(p: int, meanstructure: bool) -> int:
    return p * (p + 1) // 2 + (p if meanstructure else 0)


def _other_with(inp: Inputs, gfi_value: float, nel: int) -> dict[str, float]:
    return {"cn_05": cn(inp.chisq, inp.df, inp.n, 0.05), "cn_01": cn(inp.chisq, inp.df, inp.n, 0.01),
            "gfi": gfi_value, "agfi": agfi(gfi_value, nel, inp.df), "pgfi": pgfi(gfi_value, nel, inp.df),
            "mfi": mfi(inp.chisq, inp.df, inp.n), "ecvi": ecvi(inp.chisq, inp.npar, inp.n)}


def _amos(inp: Inputs, base: Baseline, cfi_value: float, p: int | None) -> dict[str, float]:
    """AMOS's extras; BCC and MECVI (per-group terms in AMOS) are NaN when ``p`` is None."""
    chisq, df, n = inp.chisq, inp.df, inp.n
    ncp_lower, ncp_upper = ncp_ci(chisq, df, n)
    return {"cmin_df": cmin_df(chisq, df), "pratio": pratio(df, base.df),
            "pcfi": pcfi(df, base.df, cfi_value),
            "ncp": ncp(chisq, df), "ncp_ci_lower": ncp_lower, "ncp_ci_upper": ncp_upper,
            "f0": f0(chisq, df, n), "f0_ci_lower": ncp_lower / n, "f0_ci_upper": ncp_upper / n,
            "bcc": np.nan if p is None else bcc(chisq, inp.npar, n, inp.nobs, p),
            "caic": caic(chisq, inp.npar, inp.nobs),
            "mecvi": np.nan if p is None else mecvi(chisq, inp.npar, n, inp.nobs, p)}


def group_measures(fit) -> dict[str, float]:
    """Fit measures of a multi-group model (lavaan's, G groups): the chi-square tests, baseline
    (the sum of the groups' independence models), information criteria and RMSEA from the
    totals; the residual-based indices and GFI as averages of the groups' weighted by n_g / N.
    AMOS's BCC and MECVI, defined per group in AMOS, are left out (NaN)."""
    per_group = [inputs(v) for v in fit.groups]
    base = Baseline(sum(i.baseline.chisq for i in per_group), sum(i.baseline.df for i in per_group))
    w = [float(wg) for wg in groups.weights(fit.moments)]
    inp = Inputs(None, None, None, None, fit.spec.meanstructure, (), fit.options.fixed_x, fit.nobs,
                 fit.n_eff, fit.chisq, fit.df, fit.npar, fit.fmin, fit.loglik, fit.unrestricted_loglik, base)
    out = _chisq_based(inp, base, fit.n_groups)
    residual = [_residual(i) for i in per_group]
    out.update({k: sum(wg * r[k] for wg, r in zip(w, residual)) for k in residual[0]})
    gfi_value = sum(wg * _gfi(i) for wg, i in zip(w, per_group))
    out.update(_other_with(inp, gfi_value, fit.n_groups * _n_elements(fit.spec.p, fit.spec.meanstructure)))
    out.update(_amos(inp, base, out["cfi"], None))
    return out


def fit_measures(fit) -> pd.Series:
    """All fit measures of ``fit`` as a float Series keyed like lavaan's ``fitMeasures()``."""
    if fit.n_groups > 1:
        return pd.Series(group_measures(fit), dtype=float)
    return pd.Series(measures(inputs(fit)), dtype=float)
