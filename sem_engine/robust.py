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
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import null_space

from . import fit_measures as fm, linalg, objective
from .baseline import baseline
from .errors import DataError, ModelError
from .identification import n_moments

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


# -- h1 moments: pure functions of arrays ------------------------------------------------------
@lru_cache(maxsize=None)
def vech_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every vech element: lower triangle, column by column (lavaan's order)."""
    cols, rows = np.triu_indices(p)
    return rows, cols


@lru_cache(maxsize=None)
def duplication(p: int) -> np.ndarray:
    """Duplication matrix D (p² x p*): vec(S) = D vech(S) for symmetric S."""
    rows, cols = vech_index(p)
    d = np.zeros((p * p, rows.size))
    d[rows * p + cols, np.arange(rows.size)] = 1.0
    d[cols * p + rows, np.arange(rows.size)] = 1.0
    return d


def h1_vector(sigma: jnp.ndarray, mu: jnp.ndarray, meanstructure: bool) -> jnp.ndarray:
    """m = (μ, vech Σ), μ only with a mean structure."""
    rows, cols = vech_index(sigma.shape[0])
    return jnp.concatenate([mu, sigma[rows, cols]]) if meanstructure else sigma[rows, cols]


def _moment_rows(y: jnp.ndarray, meanstructure: bool) -> jnp.ndarray:
    """d_i = (y_i, vech((y_i - ȳ)(y_i - ȳ)ᵀ)) for every row of y."""
    rows, cols = vech_index(y.shape[1])
    yc = y - jnp.mean(y, axis=0)[None, :]
    prods = yc[:, rows] * yc[:, cols]
    return jnp.concatenate([y, prods], axis=1) if meanstructure else prods


def gamma(y: jnp.ndarray, meanstructure: bool, x_idx: tuple[int, ...] = ()) -> jnp.ndarray:
    """Γ of the complete rows y (N x p); ``x_idx``: columns of the fixed.x covariates."""
    d = _moment_rows(y, meanstructure)
    if x_idx:
        x = jnp.concatenate([jnp.ones((y.shape[0], 1)), y[:, list(x_idx)]], axis=1)
        fitted = x @ jnp.linalg.lstsq(x, y)[0]  # the covariates are reproduced exactly
        d = d - _moment_rows(fitted, meanstructure)
    dc = d - jnp.mean(d, axis=0)[None, :]
    return dc.T @ dc / y.shape[0]


_gamma = jax.jit(gamma, static_argnames=("meanstructure", "x_idx"))


def weight(sigma: jnp.ndarray, meanstructure: bool) -> jnp.ndarray:
    """W(Σ) = blockdiag(Σ⁻¹, ½ Dᵀ(Σ⁻¹ ⊗ Σ⁻¹)D)."""
    p = sigma.shape[0]
    inv = jnp.linalg.inv(sigma)
    d = jnp.asarray(duplication(p))
    w = 0.5 * d.T @ jnp.kron(inv, inv) @ d
    if not meanstructure:
        return w
    zeros = jnp.zeros((p, w.shape[0]))
    return jnp.block([[inv, zeros], [zeros.T, w]])


def scores(y: jnp.ndarray, mu: jnp.ndarray, sigma: jnp.ndarray, meanstructure: bool) -> jnp.ndarray:
    """Casewise scores ∂ log φ(y_i; μ, Σ)/∂m = (c_i, ½ Dᵀ vec(c_i c_iᵀ - P_i)), c_i = P_i (y_i - μ).

    P_i = Σ⁻¹ for a complete row; for a row with missing values (NaN) P_i is (Σ_oo)⁻¹ of its
    observed variables, zero-filled, so its scores are those of its observed-data likelihood
    (zero for the moments of its missing variables).
    """
    n, p = y.shape
    observed = jnp.isfinite(y)
    if bool(jnp.all(observed)):
        inv = jnp.broadcast_to(jnp.linalg.inv(sigma), (n, p, p))
    else:
        inv = _observed_inverses(sigma, observed)
    c = jnp.einsum("nab,nb->na", inv, jnp.where(observed, y - mu[None, :], 0.0))
    outer = (c[:, :, None] * c[:, None, :]).reshape(n, p * p) - inv.reshape(n, p * p)
    s = 0.5 * outer @ jnp.asarray(duplication(p))
    return jnp.concatenate([c, s], axis=1) if meanstructure else s


@jax.jit
def _observed_inverses(sigma: jnp.ndarray, observed: jnp.ndarray) -> jnp.ndarray:
    """(Σ_oo)⁻¹ of each row's observed variables o, zero-filled (n x p x p; compiled)."""
    o = observed.astype(sigma.dtype)
    masks = o[:, :, None] * o[:, None, :]
    return jax.vmap(lambda m, oi: linalg.inverse(sigma * m + jnp.diag(1.0 - oi)) * m)(masks, o)


# -- the model and the baseline model at a parameter value --------------------------------------
@lru_cache(maxsize=64)  # bounded like engine.MAX_ENGINES
def _jacobian(engine, meanstructure: bool):
    """Compiled ∂m/∂xᵀ of one model structure (cached with its engine)."""

    def m_of_x(x, moments):
        sigma, mu = engine.implied(x, moments)
        return h1_vector(sigma, mu, meanstructure)

    return jax.jit(jax.jacfwd(m_of_x))


def _model_point(fit, x: np.ndarray) -> _Point:
    z = fit.reparam.to_z(x)
    xj = jnp.asarray(fit.reparam.to_x(z))
    observed = fit.options.information == "observed"
    hessian = fit.engine.observed_hessian_z if observed else fit.engine.hessian_z
    sigma, mu = fit.engine.implied(xj, fit.moments)
    mu = mu if fit.spec.meanstructure else fit.moments.xbar
    info = np.asarray(hessian(jnp.asarray(z), fit.moments)) / 2
    return _Point(np.asarray(sigma), np.asarray(mu), _delta(fit, xj), info)


def _delta(fit, x: jnp.ndarray) -> np.ndarray:
    """Δ = ∂m/∂zᵀ at the parameters x (which satisfy the constraints)."""
    jac = np.asarray(_jacobian(fit.engine, fit.spec.meanstructure)(x, fit.moments))
    return jac @ fit.reparam.basis


def _covariates(fit) -> np.ndarray:
    """Mask of the exogenous observed covariates in ``spec.ov``."""
    return np.isin(fit.spec.ov, fit.partable.variables.ov_x)


def _model_moments(fit) -> np.ndarray:
    """Mask of the h1 moments m that are not the fixed.x covariates' own (their means,
    variances and covariances, which every model reproduces exactly)."""
    fixed = _covariates(fit) & fit.options.fixed_x
    rows, cols = vech_index(fit.spec.p)
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
    rows, cols = vech_index(fit.spec.p)
    free = (rows == cols) | (is_x[rows] & is_x[cols])
    if fit.spec.meanstructure:
        free = np.concatenate([np.ones(fit.spec.p, bool), free])
    free &= _model_moments(fit)
    delta = np.eye(free.size)[:, free]
    if fit.moments.patterns is None:
        info = delta.T @ np.asarray(weight(jnp.asarray(sigma), fit.spec.meanstructure)) @ delta
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


def _gamma_of(fit) -> np.ndarray:
    return np.asarray(_gamma(jnp.asarray(fit.data.rows), fit.spec.meanstructure, _fixed_x_idx(fit)))


def _meat(fit, point: _Point, gam: np.ndarray, huber_white: bool) -> np.ndarray:
    """B = Δᵀ M Δ with M = W Γ W ("robust.sem") or the scores' mean outer product (Huber-White);
    M itself when ``point.delta`` is None."""
    if huber_white:
        sc = np.asarray(scores(jnp.asarray(fit.data.rows), jnp.asarray(point.mu),
                               jnp.asarray(point.sigma), fit.spec.meanstructure))
        middle = sc.T @ sc / sc.shape[0]
    else:
        w = np.asarray(weight(jnp.asarray(point.sigma), fit.spec.meanstructure))
        middle = w @ gam @ w
    return middle if point.delta is None else point.delta.T @ middle @ point.delta


def robust_vcov(fit) -> np.ndarray:
    """Sandwich covariance matrix of the free parameters x: K A⁻¹ B A⁻¹ Kᵀ / n_eff."""
    _check(fit)
    point = _model_point(fit, fit.x)
    b = _meat(fit, point, _gamma_of(fit), huber_white=fit.options.estimator == "MLR")
    a_inv = np.linalg.inv(point.info)
    v_z = a_inv @ b @ a_inv / fit.n_eff
    return fit.reparam.basis @ ((v_z + v_z.T) / 2) @ fit.reparam.basis.T


# -- scaled test statistics --------------------------------------------------------------------
def _traces(fit, point: _Point, gam: np.ndarray, test: str) -> tuple[float, float, float, float]:
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
    w = np.asarray(weight(jnp.asarray(point.sigma), fit.spec.meanstructure))
    wd = w @ point.delta
    ug = (w - wd @ np.linalg.solve(point.info, wd.T)) @ gam
    return float(np.trace(ug)), float(np.sum(ug * ug.T)), np.nan, np.nan


def _h1_information(fit, point: _Point) -> np.ndarray:
    """Observed unit information of the unrestricted moments m = (μ, vech Σ) under incomplete
    data, -(1/N) ∂² log L/∂m ∂mᵀ = ½ ∂² F_FIML/∂m ∂mᵀ, at the point's moments."""
    m0 = h1_vector(jnp.asarray(point.sigma), jnp.asarray(point.mu), True)
    return np.asarray(_fiml_h1_hessian(m0, fit.moments))


@jax.jit
def _fiml_h1_hessian(m0: jnp.ndarray, moments) -> jnp.ndarray:
    """½ ∂² F_FIML/∂m ∂mᵀ at m0 (compiled once per data shape)."""
    p = moments.s.shape[0]
    rows, cols = vech_index(p)

    def half_f(m):
        sigma = jnp.zeros((p, p)).at[rows, cols].set(m[p:]).at[cols, rows].set(m[p:])
        return objective.f_fiml(sigma, m[:p], moments) / 2.0

    return jax.hessian(half_f)(m0)


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


def baseline_scaled_test(fit, test: str | None = None) -> ScaledTest:
    """The same scaled test for the baseline (independence) model of ``fit``."""
    test = _check(fit, test)
    return _baseline_test(fit, test, _gamma_of(fit), _baseline_point(fit))


def _model_test(fit, test: str, gam: np.ndarray, point: _Point) -> ScaledTest:
    traces = _traces(fit, point, gam, test)
    return _scale(test, fit.chisq, fit.df, traces, _n_h1(fit), fit.n_free)


def _baseline_test(fit, test: str, gam: np.ndarray, point: _Point) -> ScaledTest:
    base = _baseline_of(fit)
    traces = _traces(fit, point, gam, test)
    return _scale(test, base.chisq, base.df, traces, _n_h1(fit), point.delta.shape[1])


def _baseline_of(fit):
    """ML chi-square and df of the baseline model (baseline.py; FIML: fit_measures.baseline_of)."""
    return fm.baseline_of(fit)


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
    x20, df0 = _baseline_of(fit)
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
    wm_inv = np.linalg.inv(wm)
    gam = wm_inv @ _meat(fit, em, None, huber_white=True)[keep] @ wm_inv
    middle = wm_inv @ np.asarray(weight(jnp.asarray(em.sigma), True))[keep] @ wm_inv
    complete = fit.moments._replace(patterns=None)

    def corrected(at: _Point, df: int) -> tuple[float, float]:
        stat = fit.n_eff * float(objective.f_ml(jnp.asarray(at.sigma), jnp.asarray(at.mu), complete, True))
        delta = at.delta[rows]
        wd = wm @ delta
        u = wm - wd @ np.linalg.solve(delta.T @ wd, wd.T)
        return stat, float(np.sum((u @ middle @ u) * gam)) / df if df > 0 else np.inf

    return (*corrected(point, fit.df), *corrected(base, _baseline_of(fit).df))


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
        return ScaledDifference(method, stat, r0 - r1, float(stats.chi2.sf(stat, r0 - r1)), factor, shift)
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
    return ScaledDifference(method, stat, r0 - r1, float(stats.chi2.sf(stat, r0 - r1)), cd, np.nan)


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
    h = np.linalg.pinv(point.delta) @ _delta(restricted, jnp.asarray(restricted.x))
    a = null_space(h.T).T
    pa = np.linalg.solve(point.info, a.T)
    wd = np.asarray(weight(jnp.asarray(point.sigma), free.spec.meanstructure)) @ point.delta
    wdpa = wd @ pa
    ug = wdpa @ np.linalg.pinv(a @ pa) @ wdpa.T @ _gamma_of(free)
    m = restricted.df - free.df
    scale = np.sqrt(m / np.sum(ug * ug.T))
    return 1.0 / scale, m - scale * np.trace(ug)
