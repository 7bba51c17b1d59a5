"""Robust ML for non-normal data: sandwich standard errors, scaled test statistics, robust fit
indices and scaled difference tests.

The estimates are the ML ones; the estimator changes the covariance matrix of the estimates and
adds a scaled test statistic, with lavaan 0.6's defaults:

    estimator  se (meat)              test                   information (bread)
    MLM        "robust.sem"           "satorra.bentler"      expected
    MLMVS      "robust.sem"           "mean.var.adjusted"    expected
    MLMV       "robust.sem"           "scaled.shifted"       expected
    MLR        "robust.huber.white"   "yuan.bentler.mplus"   observed (Hessian of F_ML)

The bread follows ``options.information`` (so it must be "observed" for lavaan's MLR).  All
quantities live in the h1 moments m = (μ, vech Σ) (μ only with a mean structure; vech = lower
triangle column by column, lavaan's order) with Δ = ∂m/∂zᵀ in the constrained coordinates z
(x = x0 + K z, constraints.py): for linear equality constraints K (KᵀAK)⁻¹Kᵀ is lavaan's
augmented inverse.  N: complete rows; n_eff as in objective.py.

    Γ    = (1/N) Σ_i (d_i - d̄)(d_i - d̄)ᵀ,  d_i = (y_i, vech((y_i - ȳ)(y_i - ȳ)ᵀ))
           N·acov of the sample moments (Browne 1984): divisor N, centred at the sample means
           (lavaan's NACOV, gamma.n.minus.one = gamma.unbiased = FALSE).  With fixed.x
           covariates d_i becomes d_i - d̂_i, d̂_i the same statistic of the fitted values of the
           regression of the other variables on the covariates (lavaan's fixed.x Gamma).
    W(Σ) = blockdiag(Σ⁻¹, ½ Dᵀ(Σ⁻¹ ⊗ Σ⁻¹)D), the normal-theory unit information of m.
    A    = Kᵀ H K / 2, the unit information (H: expected or observed Hessian of F_ML).
    B    = Δᵀ W Γ W Δ                   "robust.sem", W at the implied Σ (Satorra 1989)
         = Δᵀ [(1/N) Σ_i s_i s_iᵀ] Δ    "robust.huber.white", s_i = ∂ log φ(y_i; μ, Σ)/∂m at the
           implied moments, μ = ȳ without a mean structure (Huber 1967; White 1982)
    vcov(x) = K A⁻¹ B A⁻¹ Kᵀ / n_eff.

Scaled versions of the ML chi-square T on d degrees of freedom:

    satorra.bentler     U = W - W Δ A⁻¹ Δᵀ W,  c = tr(UΓ)/d,  T/c       (Satorra & Bentler 1994)
    mean.var.adjusted   d' = tr(UΓ)²/tr((UΓ)²),  c = tr(UΓ)/d',  T/c on d' df   (Satterthwaite)
    scaled.shifted      a = √(d/tr((UΓ)²)),  b = d - a tr(UΓ),  a T + b on d df; lavaan reports
                        the factor 1/a and the shift b          (Asparouhov & Muthén 2010)
    yuan.bentler.mplus  c = [tr(W_S Γ) - tr(A⁻¹ B)]/d, W_S = W at the sample moments
                        (unstructured h1), B the Huber-White meat  (Yuan & Bentler 2000; Mplus
                        MLR).  h1 = tr(W_S Γ)/p* (p*: moments other than the fixed.x ones),
                        h0 = tr(A⁻¹ B)/(free parameters before equality constraints) are
                        lavaan's scaling.factor.h1 / .h0.

With d = 0 the scaling factor is undefined (NaN) and the statistic is T, as in lavaan.  The
baseline model (baseline.py: Σ₀ = blockdiag(diag(S_yy), S_xx), μ₀ = ȳ) is scaled the same way;
its information Δ₀ᵀ W(Σ₀) Δ₀ is both expected and observed at its MLE.

Robust CFI/TLI/RNI/RMSEA replace T - d by T - ĉ d in the ML statistic (Brosseau-Liard, Savalei
& Li 2012; Brosseau-Liard & Savalei 2014; ĉ for scaled.shifted: Savalei 2018); under FIML, T
and ĉ are Zhang & Savalei's (2023) corrected ones (``fiml_corrected``).  Nested fits are
compared by ``scaled_difference`` (Satorra 2000; Satorra & Bentler 2001, 2010).

Compilation (DESIGN.md): nothing here compiles per model or per data shape.  Σ, μ, the model
matrices and the bread A come from the fit's engine (the kernels of its size class); Δ is
residuals.moment_jacobian, W and the FIML h1 information residuals.h1_information (summed over
the missing-data patterns), the scores W r_i with residuals.moment_residuals, and Γ numpy (a
JAX array in gives the same function in jax.numpy, which vmaps).  The one kernel of its own,
F_ML at the EM moments (``fiml_corrected``), runs on moments padded to the size class.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.linalg import null_space

from . import distributions, fit_measures as fm, inference, missing, objective, residuals, structure
from .errors import DataError, ModelError
from .identification import n_moments
from .moments import Moments

TESTS = {"MLM": "satorra.bentler", "MLMVS": "mean.var.adjusted", "MLMV": "scaled.shifted",
         "MLR": "yuan.bentler.mplus"}
DIFFERENCE_METHODS = ("satorra.bentler.2001", "satorra.bentler.2010", "satorra.2000")


class ScaledTest(NamedTuple):
    """A scaled test statistic with lavaan's fields (``lavInspect(fit, "test")``)."""

    test: str
    stat: float
    df: float
    pvalue: float
    scaling_factor: float
    shift_parameter: float
    trace_ugamma: float
    trace_ugamma2: float
    scaling_factor_h1: float
    scaling_factor_h0: float


class ScaledDifference(NamedTuple):
    """Scaled chi-square difference test: lavTestLRT's Chisq diff, Df diff and Pr(>Chisq);
    chisq_diff = (T0 - T1)/scaling_factor + shift_parameter (shift NaN, i.e. 0, but for
    "satorra.2000", whose 1/scaling_factor and shift are lavTestLRT's "scale" and "shift")."""

    method: str
    chisq_diff: float
    df_diff: int
    pvalue: float
    scaling_factor: float
    shift_parameter: float


class _Point(NamedTuple):
    """A model at one parameter value: implied moments, Δ (p* x nz) and unit information A."""

    sigma: np.ndarray
    mu: np.ndarray
    delta: np.ndarray
    info: np.ndarray


# -- h1 moments: pure functions of arrays (numpy; no compiled code) ------------------------------
def _namespace(a):
    """jax.numpy for a JAX array (also when traced, so Γ vmaps over bootstrap samples), else numpy."""
    return jnp if isinstance(a, jax.Array) else np


def _moment_rows(y, meanstructure: bool):
    """d_i = (y_i, vech((y_i - ȳ)(y_i - ȳ)ᵀ)) for every row of y."""
    xp = _namespace(y)
    rows, cols = residuals.vech_pairs(y.shape[1])
    yc = y - xp.mean(y, axis=0)[None, :]
    prods = yc[:, rows] * yc[:, cols]
    return xp.concatenate([y, prods], axis=1) if meanstructure else prods


def gamma(y, meanstructure: bool, x_idx: tuple[int, ...] = ()):
    """Γ of the complete rows y (N x p); ``x_idx``: columns of the fixed.x covariates.

    numpy for numpy rows; a JAX array in gives the same computation in jax.numpy (pure, so it
    jits and vmaps over a batch of resampled rows)."""
    xp = _namespace(y)
    d = _moment_rows(y, meanstructure)
    if x_idx:
        x = xp.concatenate([xp.ones((y.shape[0], 1)), y[:, list(x_idx)]], axis=1)
        fitted = x @ xp.linalg.lstsq(x, y, rcond=None)[0]  # the covariates are reproduced exactly
        d = d - _moment_rows(fitted, meanstructure)
    dc = d - xp.mean(d, axis=0)[None, :]
    return dc.T @ dc / y.shape[0]


def weight(sigma, meanstructure: bool) -> np.ndarray:
    """W(Σ) = blockdiag(Σ⁻¹, ½ Dᵀ(Σ⁻¹ ⊗ Σ⁻¹)D): residuals.h1_information, expected."""
    sigma = np.asarray(sigma, dtype=float)
    p, zero = sigma.shape[0], np.zeros(sigma.shape[0])
    keep = np.ones(n_moments(p, 0, meanstructure), bool)
    return residuals.h1_information(sigma, zero, sigma, zero, meanstructure, False, keep)


def _pattern_information(sigma, mu, o, s, xbar, observed: bool) -> np.ndarray:
    """residuals.h1_information (means first) of the observed variables o (booleans) of one
    missing-data pattern: that of (Σ_oo, μ_o) at the pattern's moments (S_oo, x̄_o), zero in the
    rows and columns of the moments that involve a missing variable."""
    p = sigma.shape[0]
    rows, cols = residuals.vech_pairs(p)
    idx = np.flatnonzero(np.concatenate([o, o[rows] & o[cols]]))  # (μ_o, vech Σ_oo) in order
    sub, q = np.ix_(o, o), int(o.sum())
    a = residuals.h1_information(sigma[sub], mu[o], s[sub], xbar[o], True, observed,
                                 np.ones(n_moments(q, 0, True), bool))
    out = np.zeros((p + rows.size,) * 2)
    out[np.ix_(idx, idx)] = a
    return out


def scores(y, mu, sigma, meanstructure: bool) -> np.ndarray:
    """Casewise scores ∂ log φ(y_i; μ, Σ)/∂m = W_i r_i, r_i = (y_i - μ, vech((y_i - μ)(y_i - μ)ᵀ - Σ))
    the moment residuals of the one observation (residuals.moment_residuals) and W_i = W(Σ), i.e.
    (c_i, ½ Dᵀ vec(c_i c_iᵀ - Σ⁻¹)) with c_i = Σ⁻¹(y_i - μ).

    A row with missing values (NaN) takes W of its observed variables (``_pattern_information``),
    so its scores are those of its observed-data likelihood (zero for the moments of its missing
    variables)."""
    y, mu, sigma = (np.asarray(a, dtype=float) for a in (y, mu, sigma))
    p = sigma.shape[0]
    masks, which = missing.group_rows(y)
    out = np.zeros((y.shape[0], n_moments(p, 0, True)))
    zero = np.zeros((p, p))
    for k, o in enumerate(masks):
        w = _pattern_information(sigma, mu, o, zero, mu, observed=False)
        sel = which == k
        d = np.where(o, y[sel], mu) - mu           # each row's residual x̄ - μ (moment_residuals)
        rows, cols = residuals.vech_pairs(p)
        out[sel] = np.hstack([d, d[:, rows] * d[:, cols] - sigma[rows, cols]]) @ w
    return out if meanstructure else out[:, p:]  # W is block diagonal: the vech part is the same


# -- the model and the baseline model at a parameter value --------------------------------------
def _model_point(fit, x: np.ndarray) -> _Point:
    """Σ, μ (x̄ without a mean structure), Δ and A at x (projected onto the constraints); Σ, μ and
    the Hessian from the fit's engine, i.e. the compiled kernels of its size class."""
    z = fit.reparam.to_z(np.asarray(x, dtype=float))
    x = fit.reparam.to_x(z)
    observed = fit.options.information == "observed"
    hessian = fit.engine.observed_hessian_z if observed else fit.engine.hessian_z
    sigma, mu = fit.engine.implied(x, fit.moments)
    mu = mu if fit.spec.meanstructure else np.asarray(fit.moments.xbar)
    info = np.asarray(hessian(z, fit.moments)) / 2
    return _Point(np.asarray(sigma), np.asarray(mu), _delta(fit, x), info)


def _delta(fit, x: np.ndarray) -> np.ndarray:
    """Δ = ∂m/∂zᵀ at the parameters x (which satisfy the constraints): residuals.moment_jacobian
    (closed form) times the constraint basis K."""
    mats = fit.engine.matrices(np.asarray(x, dtype=float), fit.moments)
    return residuals.moment_jacobian(fit.spec, mats) @ fit.reparam.basis


def _covariates(fit) -> np.ndarray:
    """Mask of the exogenous observed covariates in ``spec.ov``."""
    return np.isin(fit.spec.ov, fit.partable.variables.ov_x)


def _model_moments(fit) -> np.ndarray:
    """Mask of the h1 moments m that are not the fixed.x covariates' own (their means,
    variances and covariances, which every model reproduces exactly)."""
    fixed = _covariates(fit) & fit.options.fixed_x
    rows, cols = residuals.vech_pairs(fit.spec.p)
    keep = ~(fixed[rows] & fixed[cols])
    return np.concatenate([~fixed, keep]) if fit.spec.meanstructure else keep


def _fixed_x_idx(fit) -> tuple[int, ...]:
    return tuple(np.flatnonzero(_covariates(fit))) if fit.options.fixed_x else ()


def _baseline_point(fit) -> _Point:
    """baseline.py's independence model: variances (and means) free, the covariates' block free
    unless fixed.x."""
    s, xbar = np.asarray(fit.moments.s), np.asarray(fit.moments.xbar)
    if fit.moments.patterns is not None:  # FIML: each variable's observed mean and variance
        xbar, s = np.nanmean(fit.data.rows, axis=0), s.copy()
        s[np.diag_indices_from(s)] = np.nanvar(fit.data.rows, axis=0)
    is_x = _covariates(fit)
    sigma = np.diag(np.diag(s))
    sigma[np.ix_(is_x, is_x)] = s[np.ix_(is_x, is_x)]
    rows, cols = residuals.vech_pairs(fit.spec.p)
    free = (rows == cols) | (is_x[rows] & is_x[cols])
    if fit.spec.meanstructure:
        free = np.concatenate([np.ones(fit.spec.p, bool), free])
    free &= _model_moments(fit)
    delta = np.eye(free.size)[:, free]
    if fit.moments.patterns is None:
        info = delta.T @ weight(sigma, fit.spec.meanstructure) @ delta
    else:
        info = delta.T @ _h1_information(fit, _Point(sigma, xbar, None, None)) @ delta
    return _Point(sigma, xbar, delta, info)


# -- robust standard errors --------------------------------------------------------------------
def _check(fit, test: str | None = None) -> str:
    """The scaled test to compute (default: the estimator's), after checking the fit has raw data."""
    test = TESTS.get(fit.options.estimator) if test is None else test
    if test not in TESTS.values():
        raise ModelError(f"no scaled test for estimator={fit.options.estimator!r}; choose test= "
                         f"one of {', '.join(map(repr, TESTS.values()))}")
    if fit.moments.patterns is not None and test != "yuan.bentler.mplus":
        raise ModelError(f"test={test!r} needs complete data; with missing='ml' the scaled test is "
                         "'yuan.bentler.mplus' (estimator='MLR')")
    if fit.data.rows is None:
        raise DataError(f"estimator={fit.options.estimator!r} needs the raw data (data=...): a "
                        "covariance matrix does not carry the fourth-order moments")
    return test


def _gamma_of(fit) -> np.ndarray | None:
    """Γ of the fit's rows; None under FIML, whose statistics take the scores instead."""
    if fit.moments.patterns is not None:
        return None
    return gamma(np.asarray(fit.data.rows, dtype=float), fit.spec.meanstructure, _fixed_x_idx(fit))


def _meat(fit, point: _Point, gam: np.ndarray | None, huber_white: bool) -> np.ndarray:
    """B = Δᵀ M Δ with M = W Γ W ("robust.sem") or the scores' mean outer product (Huber-White);
    M itself when ``point.delta`` is None."""
    if huber_white:
        sc = scores(fit.data.rows, point.mu, point.sigma, fit.spec.meanstructure)
        middle = sc.T @ sc / sc.shape[0]
    else:
        w = weight(point.sigma, fit.spec.meanstructure)
        middle = w @ gam @ w
    return middle if point.delta is None else point.delta.T @ middle @ point.delta


def robust_vcov(fit) -> np.ndarray:
    """Sandwich covariance matrix of the free parameters x: K A⁻¹ B A⁻¹ Kᵀ / n_eff."""
    _check(fit)
    point = _model_point(fit, fit.x)
    b = _meat(fit, point, _gamma_of(fit), huber_white=fit.options.estimator == "MLR")
    a_inv = inference.inverse(point.info)
    v_z = a_inv @ b @ a_inv / fit.n_eff
    return fit.reparam.basis @ ((v_z + v_z.T) / 2) @ fit.reparam.basis.T


# -- scaled test statistics --------------------------------------------------------------------
def _traces(fit, point: _Point, gam: np.ndarray | None, test: str) -> tuple[float, float, float, float]:
    """(tr UΓ, tr (UΓ)², tr W_S Γ, tr A⁻¹B); for yuan.bentler.mplus the first is h1 - h0."""
    if test == "yuan.bentler.mplus":
        b = _meat(fit, point, gam, huber_white=True)
        h0 = float(np.trace(np.linalg.solve(point.info, b)))
        if fit.moments.patterns is None:
            h1 = float(np.sum(np.asarray(weight(fit.moments.s, fit.spec.meanstructure)) * gam))
        else:  # FIML: observed information and scores of the unrestricted model at the EM
            # moments, without the fixed covariates' own moments
            em = point._replace(sigma=np.asarray(fit.moments.s), mu=np.asarray(fit.moments.xbar), delta=None)
            rows = _model_moments(fit)
            keep = np.ix_(rows, rows)
            info, meat = _h1_information(fit, em)[keep], _meat(fit, em, gam, True)[keep]
            h1 = float(np.trace(np.linalg.solve(info, meat)))
        return h1 - h0, np.nan, h1, h0
    w = weight(point.sigma, fit.spec.meanstructure)
    wd = w @ point.delta
    ug = (w - wd @ np.linalg.solve(point.info, wd.T)) @ gam
    return float(np.trace(ug)), float(np.sum(ug * ug.T)), np.nan, np.nan


def _h1_information(fit, point: _Point) -> np.ndarray:
    """Observed unit information of the unrestricted moments m = (μ, vech Σ) under incomplete
    data, -(1/N) ∂² log L/∂m ∂mᵀ = ½ ∂² F_FIML/∂m ∂mᵀ, at the point's moments: in closed form,
    Σ_k (n_k/N) A1_k with A1_k the observed h1 information (residuals.h1_information) of
    pattern k's observed variables at its moments (missing.py), as F_FIML sums over the patterns."""
    pat = fit.moments.patterns
    mask, count, mean, cov = (np.asarray(a, dtype=float) for a in pat[:4])
    sigma, mu = np.asarray(point.sigma, dtype=float), np.asarray(point.mu, dtype=float)
    total = sum(n * _pattern_information(sigma, mu, o > 0, c, m, observed=True)
                for o, n, m, c in zip(mask, count, mean, cov) if n > 0)
    return total / float(fit.moments.n)


def _scale(test: str, stat: float, df: int, traces, n_h1: int, n_free: int) -> ScaledTest:
    """The scaled statistic from the traces (module docstring); for df = 0 lavaan's unscaled T."""
    if df <= 0:
        return ScaledTest(test, stat, df, fm.chisq_pvalue(stat, df), *[np.nan] * 6)
    tr, tr2, h1, h0 = traces
    shift = np.nan
    scaled_df = tr**2 / tr2 if test == "mean.var.adjusted" else df
    if test == "scaled.shifted":
        a = np.sqrt(df / tr2)
        factor, shift = 1 / a, df - a * tr
        scaled = a * stat + shift
    else:
        factor = tr / scaled_df
        scaled = stat / factor
    return ScaledTest(test, scaled, scaled_df, fm.chisq_pvalue(scaled, scaled_df), factor, shift,
                      tr, tr2, h1 / n_h1, h0 / n_free)


def _n_h1(fit) -> int:
    """Sample moments that are not fixed.x moments (lavaan's ndat)."""
    return n_moments(fit.spec.p, len(_fixed_x_idx(fit)), fit.spec.meanstructure)


def scaled_test(fit, test: str | None = None) -> ScaledTest:
    """Scaled version of the ML chi-square of ``fit``, like ``lavTest(fit, test)``.

    ``test`` defaults to the estimator's (MLM: "satorra.bentler", MLMVS: "mean.var.adjusted",
    MLMV: "scaled.shifted", MLR: "yuan.bentler.mplus"); any of them can be asked of any fit
    to raw data.
    """
    test = _check(fit, test)
    return _model_test(fit, test, _gamma_of(fit), _model_point(fit, fit.x))


def _model_test(fit, test: str, gam: np.ndarray, point: _Point) -> ScaledTest:
    traces = _traces(fit, point, gam, test)
    return _scale(test, fit.chisq, fit.df, traces, _n_h1(fit), fit.n_free)


def _baseline_test(fit, test: str, gam: np.ndarray, point: _Point) -> ScaledTest:
    base = fm.baseline_of(fit)
    traces = _traces(fit, point, gam, test)
    return _scale(test, base.chisq, base.df, traces, _n_h1(fit), point.delta.shape[1])


# -- robust fit measures -----------------------------------------------------------------------
def _corrected(c: float, c0: float) -> bool:
    """lavaan applies the c-corrections only when both scaling factors differ from 1."""
    return c != 1 and c0 != 1


def cfi_robust(chisq, df, chisq0, df0, c, c0) -> float:
    """Robust CFI, 1 - max(T - c d, 0)/max(T - c d, T₀ - c₀ d₀, 0) with the ML statistics T, T₀.

    Brosseau-Liard & Savalei (2014); lavaan's cfi.robust.  Plain CFI when c or c₀ is 1.
    """
    if np.isnan([chisq, df, chisq0, df0, c, c0]).any():
        return np.nan
    if not (df > 0 and _corrected(c, c0)):
        return fm.cfi(chisq, df, chisq0, df0)
    t1 = max(chisq - c * df, 0.0)
    t2 = max(chisq - c * df, chisq0 - c0 * df0, 0.0)
    return 1.0 if max(abs(t1), abs(t2)) <= fm.ALL_EQUAL_TOL else 1.0 - t1 / t2


def tli_robust(chisq, df, chisq0, df0, c, c0) -> float:
    """Robust TLI (= NNFI), 1 - (T - c d) d₀ / ((T₀ - c₀ d₀) d).  Brosseau-Liard & Savalei (2014)."""
    if np.isnan([chisq, df, chisq0, df0, c, c0]).any():
        return np.nan
    if not (df > 0 and _corrected(c, c0)):
        return fm.tli(chisq, df, chisq0, df0)
    t2 = (chisq0 - c0 * df0) * df
    return 1.0 - (chisq - c * df) * df0 / t2 if abs(t2) > 0 else 1.0


def rni_robust(chisq, df, chisq0, df0, c, c0) -> float:
    """Robust RNI, 1 - (T - c d)/(T₀ - c₀ d₀).  Brosseau-Liard & Savalei (2014)."""
    if np.isnan([chisq, df, chisq0, df0, c, c0]).any():
        return np.nan
    if not (df > 0 and _corrected(c, c0)):
        return fm.rni(chisq, df, chisq0, df0)
    t2 = chisq0 - c0 * df0
    return np.nan if abs(t2) <= fm.ALL_EQUAL_TOL else 1.0 - (chisq - c * df) / t2


def rmsea_robust(chisq: float, df: int, n: float, c: float) -> float:
    """Robust RMSEA, sqrt(max(T/(n d) - c/n, 0)) with the ML statistic T; 0 when d = 0.

    Brosseau-Liard, Savalei & Li (2012); lavaan's rmsea.robust.
    """
    return float(np.sqrt(max(chisq / (n * df) - c / n, 0.0))) if df > 0 else 0.0


def _robust_c(t: ScaledTest, df: int) -> float:
    """lavaan's c-hat of the robust indices: the scaling factor, a(d - b)/d for scaled.shifted."""
    if t.test == "scaled.shifted":
        return t.scaling_factor * (df - t.shift_parameter) / df if df > 0 else np.nan
    return t.scaling_factor


def fit_measures(fit, test: str | None = None) -> pd.Series:
    """The scaled and robust entries of lavaan's ``fitMeasures()`` ('.' -> '_'), in its order.

    The ML entries (chisq, cfi, rmsea, srmr, ...) are unchanged by the estimator and come from
    fit_measures.py.  "robust" entries exist for satorra.bentler, yuan.bentler.mplus and
    scaled.shifted (as in lavaan); the RMSEA interval and tests at level 0.90, h0 0.05 and 0.08.
    With incomplete data (FIML) they use the corrected statistics of ``fiml_corrected``.
    """
    test = _check(fit, test)
    gam = _gamma_of(fit)  # once for the model and its baseline
    point, base = _model_point(fit, fit.x), _baseline_point(fit)
    t, t0 = _model_test(fit, test, gam, point), _baseline_test(fit, test, gam, base)
    x2, df, n = fit.chisq, fit.df, fit.n_eff
    x20, df0 = fm.baseline_of(fit)
    robust = t.test in ("satorra.bentler", "yuan.bentler.mplus", "scaled.shifted")
    scaled = (t.stat, t.df, t0.stat, t0.df)
    out = {"chisq_scaled": t.stat, "df_scaled": t.df, "pvalue_scaled": t.pvalue,
           "chisq_scaling_factor": t.scaling_factor,
           "baseline_chisq_scaled": t0.stat, "baseline_df_scaled": t0.df,
           "baseline_pvalue_scaled": t0.pvalue, "baseline_chisq_scaling_factor": t0.scaling_factor,
           "cfi_scaled": fm.cfi(*scaled), "tli_scaled": fm.tli(*scaled)}
    if fit.moments.patterns is not None:  # T, T₀ at the EM moments, c-hats of Zhang & Savalei
        x2, c, x20, c0 = fiml_corrected(fit, point, base)
        rmsea_scaled_stat, c_ci = x2 / c, c
    elif robust:
        c, c0 = _robust_c(t, df), _robust_c(t0, df0)
        rmsea_scaled_stat, c_ci = t.stat, t.scaling_factor
    if robust:
        out.update(cfi_robust=cfi_robust(x2, df, x20, df0, c, c0),
                   tli_robust=tli_robust(x2, df, x20, df0, c, c0))
    out.update(nnfi_scaled=fm.tli(*scaled), rfi_scaled=fm.rfi(*scaled), nfi_scaled=fm.nfi(*scaled),
               pnfi_scaled=fm.pnfi(*scaled), ifi_scaled=fm.ifi(*scaled), rni_scaled=fm.rni(*scaled))
    if robust:
        out.update(nnfi_robust=out["tli_robust"], rni_robust=rni_robust(x2, df, x20, df0, c, c0))
    if t.test == "yuan.bentler.mplus" and df > 0:  # lavaan leaves them out when df = 0
        out.update(scaling_factor_h1=t.scaling_factor_h1, scaling_factor_h0=t.scaling_factor_h0)
    out.update(_rmsea_scaled(t, fit.chisq, df, n))
    if robust:
        out.update(_rmsea_robust(x2, df, n, c, rmsea_scaled_stat, c_ci))
    return pd.Series(out, dtype=float)


def _rmsea_scaled(t: ScaledTest, x2: float, df: int, n: float) -> dict[str, float]:
    """lavaan's "scaled" RMSEA: T on tr(UΓ) df (scaled.shifted: the shifted statistic on d df)."""
    names = ("rmsea_scaled", "rmsea_ci_lower_scaled", "rmsea_ci_upper_scaled", "rmsea_pvalue_scaled",
             "rmsea_notclose_pvalue_scaled")
    if t.test == "scaled.shifted":
        x2s, dfs = t.stat, df
    elif np.isfinite(t.trace_ugamma) and t.trace_ugamma != 0:
        x2s, dfs = x2, t.trace_ugamma
    else:  # no trace (df = 0)
        return dict.fromkeys(names, np.nan)
    return dict(zip(names, (fm.rmsea(x2s, dfs, n), *fm.rmsea_ci(x2s, dfs, n),
                            fm.rmsea_close_pvalue(x2s, dfs, n), fm.rmsea_notclose_pvalue(x2s, dfs, n))))


def _rmsea_robust(x2: float, df: int, n: float, c: float, scaled: float, c_ci: float) -> dict[str, float]:
    """Robust RMSEA of T with ĉ = ``c``, and its interval and tests from the scaled statistic
    ``scaled`` on n/``c_ci``: λ bounds of ``scaled`` give sqrt(c_ci λ/(n d)) (Savalei 2018)."""
    if np.isfinite(scaled):
        lower, upper = fm.rmsea_ci(scaled, df, n)  # (0, 0) when df < 1, whatever ĉ
    else:
        lower = upper = np.nan
    root = np.sqrt(c_ci) if df >= 1 else 1.0
    return {"rmsea_robust": rmsea_robust(x2, df, n, c), "rmsea_ci_lower_robust": root * lower,
            "rmsea_ci_upper_robust": root * upper,
            "rmsea_pvalue_robust": fm.rmsea_close_pvalue(scaled, df, n / c_ci),
            "rmsea_notclose_pvalue_robust": fm.rmsea_notclose_pvalue(scaled, df, n / c_ci)}


@jax.jit
def _f_ml_kernel(sigma, mu, s, xbar):
    """objective.f_ml with a mean structure, compiled once per padded size."""
    return objective.f_ml(sigma, mu, s, xbar, 1.0)


def _f_ml(fit, sigma, mu, s, xbar) -> float:
    """F_ML (with the mean term) of (Σ, μ) against (S, x̄), padded to the fit's size class
    (structure.pad_moments; exact: a padded variable has S = Σ = 1, x̄ = μ = 0 and adds 0)."""
    implied, sample = (structure.pad_moments(Moments(np.asarray(a), np.asarray(b), 1.0), fit.engine.sizes)
                       for a, b in ((sigma, mu), (s, xbar)))
    return float(_f_ml_kernel(implied.s[0], implied.xbar[0], sample.s[0], sample.xbar[0]))


def fiml_corrected(fit, point: _Point, base: _Point) -> tuple[float, float, float, float]:
    """(T, ĉ, T₀, ĉ₀) of the robust fit measures under incomplete data (FIML; Zhang & Savalei
    2023, "FIML-corrected" version 3, lavaan's choice when a scaled test is reported).

    With the EM moments (S̃, μ̃) of the unrestricted model as if they were complete-data sample
    moments: T = N F_ML(S̃, μ̃; Σ̂, μ̂) at the FIML estimates (T₀: baseline model), and

        W_m = observed unit information of m under the incomplete data, at (S̃, μ̃)
        J_m = mean outer product of the casewise scores at (S̃, μ̃)
        W_c = W(S̃) (complete-data information at S̃),  Γ = W_m⁻¹ J_m W_m⁻¹
        U   = W_m - W_m Δ (Δᵀ W_m Δ)⁻¹ Δᵀ W_m
        ĉ   = tr(U W_m⁻¹ W_c W_m⁻¹ U Γ)/d

    Δ, d: the model's (or the baseline model's) Jacobian at its estimates and df; with fixed.x
    covariates every matrix drops the rows and columns of their own moments.  With d = 0, ĉ is
    k/0 = inf as in lavaan (k ≥ 0 is rounding noise there), so that the indices take their ML
    forms (CFI = TLI = RNI = 1, RMSEA 0 with interval (0, 0), no p-values).  Zhang, X. &
    Savalei, V. (2023), New computations for RMSEA and CFI following FIML and TS estimation
    with missing data, Psychological Methods 28(2), 263-283.
    """
    em = _Point(np.asarray(fit.moments.s), np.asarray(fit.moments.xbar), None, None)
    rows = _model_moments(fit)
    keep = np.ix_(rows, rows)
    wm = _h1_information(fit, em)[keep]
    wm_inv = inference.inverse(wm)
    gam = wm_inv @ _meat(fit, em, None, huber_white=True)[keep] @ wm_inv
    middle = wm_inv @ weight(em.sigma, True)[keep] @ wm_inv

    def corrected(at: _Point, df: int) -> tuple[float, float]:
        stat = fit.n_eff * _f_ml(fit, at.sigma, at.mu, em.sigma, em.mu)
        delta = at.delta[rows]
        wd = wm @ delta
        u = wm - wd @ np.linalg.solve(delta.T @ wd, wd.T)
        return stat, float(np.sum((u @ middle @ u) * gam)) / df if df > 0 else np.inf

    return (*corrected(point, fit.df), *corrected(base, fm.baseline_of(fit).df))


# -- scaled chi-square difference tests --------------------------------------------------------
def _row_key(lhs: str, op: str, rhs: str) -> tuple[str, str, str]:
    return (min(lhs, rhs), op, max(lhs, rhs)) if op == "~~" else (lhs, op, rhs)


def m10_parameters(free, restricted) -> np.ndarray:
    """The free model's parameters at the restricted model's estimates (lavaan's M10).

    Every free row of ``free`` takes the value of the same (lhs, op, rhs) row of ``restricted``,
    0 where ``restricted`` has no such row (a path it leaves out), as lav_test_diff_m10 does.
    """
    table = restricted.partable.table
    values = {_row_key(*k): v for k, v in zip(zip(table["lhs"], table["op"], table["rhs"]),
                                              restricted.row_values)}
    table = free.partable.table
    keys = [_row_key(table["lhs"][r], table["op"][r], table["rhs"][r]) for r in free.spec.free_rows]
    return np.array([values.get(k, 0.0) for k in keys])


def default_difference_method(estimator: str) -> str:
    """lavTestLRT's default method: "satorra.2000" for the mean-and-variance adjusted tests
    (MLMV, MLMVS), "satorra.bentler.2001" otherwise."""
    return "satorra.2000" if estimator in ("MLMV", "MLMVS") else "satorra.bentler.2001"


def scaled_difference(fit_a, fit_b, method: str | None = None) -> ScaledDifference:
    """Scaled chi-square difference test of two nested robust fits to the same data.

    Like ``lavTestLRT(fit_a, fit_b, method=method)`` (default: ``default_difference_method``);
    the model with more df is the restricted one (M0, statistic T0, df r0, scaling factor c0),
    the other M1 (T1, r1, c1).  For MLM and MLR fits:

        cd = (r0 c0 - r1 c1)/(r0 - r1),   T_d = (T0 - T1)/cd  on r0 - r1 df

    "satorra.bentler.2001": c1 is M1's scaling factor (1 if r1 = 0): Satorra & Bentler (2001).
    "satorra.bentler.2010": c1 is M1's scaling factor evaluated at M0's estimates (M10, see
    ``m10_parameters``), which keeps cd positive: Satorra & Bentler (2010).  As in lavaan, it is
    NaN when M1 is saturated, a negative cd gives NaN, and equal df give T0 - T1 with no p-value.
    "satorra.2000" (any robust estimator; complete data): see ``_satorra_2000``.
    The caller checks that both were fitted to the same data (compare.py does).
    """
    estimators = {fit_a.options.estimator, fit_b.options.estimator}
    method = default_difference_method(fit_a.options.estimator) if method is None else method
    if method not in DIFFERENCE_METHODS:
        raise ModelError(f"method={method!r} is not supported; choose one of "
                         f"{', '.join(map(repr, DIFFERENCE_METHODS))}")
    allowed = set(TESTS) if method == "satorra.2000" else {"MLM", "MLR"}
    if len(estimators) != 1 or not estimators <= allowed:
        raise ModelError(f"method={method!r} needs two fits with the same estimator, one of "
                         f"{', '.join(map(repr, sorted(allowed)))} (got {' and '.join(sorted(estimators))}); "
                         "refit both")
    if method == "satorra.2000" and fit_a.moments.patterns is not None:
        raise ModelError("method='satorra.2000' needs complete data (Γ of the raw rows); with "
                         "missing='ml' use 'satorra.bentler.2001'")
    free, restricted = sorted((fit_a, fit_b), key=lambda f: f.df)
    r0, r1 = restricted.df, free.df
    diff = restricted.chisq - free.chisq
    if r0 == r1:
        return ScaledDifference(method, diff, 0, np.nan, np.nan, np.nan)
    if method == "satorra.2000":
        factor, shift = _satorra_2000(free, restricted)
        stat = diff / factor + shift
        return ScaledDifference(method, stat, r0 - r1, float(distributions.chi2_sf(stat, r0 - r1)), factor, shift)
    c0 = scaled_test(restricted).scaling_factor
    if method == "satorra.bentler.2001":
        c1 = 1.0 if r1 == 0 else scaled_test(free).scaling_factor
    else:
        test = TESTS[free.options.estimator]
        point = _model_point(free, m10_parameters(free, restricted))
        traces = _traces(free, point, _gamma_of(free), test)
        c1 = _scale(test, np.nan, r1, traces, _n_h1(free), free.n_free).scaling_factor
    cd = (r0 * c0 - r1 * c1) / (r0 - r1)
    cd = cd if cd >= 0 else np.nan
    stat = diff / cd
    return ScaledDifference(method, stat, r0 - r1, float(distributions.chi2_sf(stat, r0 - r1)), cd, np.nan)


def _satorra_2000(free, restricted) -> tuple[float, float]:
    """Scale 1/a and shift b of Satorra's (2000) scaled-and-shifted difference test,
    T_d = a (T0 - T1) + b on m = r0 - r1 df (lavTestLRT's method "satorra.2000" with its default
    scaled.shifted = TRUE).  Satorra, A. (2000), Scaled and adjusted restricted tests in
    multi-sample analysis of moment structures, in Heijmans, Pollock & Satorra (eds.),
    Innovations in Multivariate Statistical Analysis, 233-247; the shift as in Asparouhov &
    Muthén (2010).

    At M1's estimates (Δ₁, information P, W = W(Σ̂₁), Γ): the restrictions are the rows of A,
    an orthonormal basis of the orthogonal complement of the columns of H = Δ₁⁺ Δ₀ (Δ₀: M0's
    Jacobian at its own estimates; the "delta" method of lavaan's lav_test_diff_A), and

        U = W Δ₁ P⁻¹Aᵀ (A P⁻¹ Aᵀ)⁺ A P⁻¹ Δ₁ᵀ W,  a = sqrt(m/tr((UΓ)²)),  b = m - a tr(UΓ).

    Δ's are in the constrained coordinates z (invariant to the choice of basis).
    """
    _check(free)
    point = _model_point(free, free.x)
    h = np.linalg.pinv(point.delta) @ _delta(restricted, restricted.x)
    a = null_space(h.T).T
    pa = np.linalg.solve(point.info, a.T)
    wd = weight(point.sigma, free.spec.meanstructure) @ point.delta
    wdpa = wd @ pa
    ug = wdpa @ np.linalg.pinv(a @ pa) @ wdpa.T @ _gamma_of(free)
    m = restricted.df - free.df
    scale = np.sqrt(m / np.sum(ug * ug.T))
    return 1.0 / scale, m - scale * np.trace(ug)
