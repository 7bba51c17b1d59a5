"""Fit measures against lavaan 0.6's fitMeasures() and AMOS's published formulas and numbers."""

import copy
import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ncx2

from reference_cases import CORE_CASES, REFERENCE, assert_close, fitted, read
from sem_engine import baseline, fit_measures as fm, objective, partable, syntax
from sem_engine.moments import Moments
from sem_engine.options import make_options

EXTRA_CASES = [f"fit_measures_extra/{c}" for c in ("mimic_free_x", "mimic_meanstructure",
                                                  "poldem_path_wishart")]
ALL_CASES = CORE_CASES + EXTRA_CASES
# Cases fitted end to end (each new model structure costs seconds of compilation): raw data and
# sample_cov input, both likelihoods, mean structure, fixed and free covariates, df = 0.
FITTED_CASES = ["hs_cfa", "hs_cfa_wishart", "hs_cov", "hs_cfa_meanstructure", "hs_cov_mean", "mimic",
                "mediation", "fit_measures_extra/mimic_free_x"]
# lavaan brackets the RMSEA interval's noncentrality with uniroot(tol = 1.2e-4).
LOOSE = {"rmsea_ci_lower", "rmsea_ci_upper"}
AMOS = ["cmin_df", "pratio", "pcfi", "ncp", "ncp_ci_lower", "ncp_ci_upper", "f0", "f0_ci_lower",
        "f0_ci_upper", "bcc", "caic", "mecvi"]
# AMOS 25 output printed in Sharimova (2020), PhD thesis, Cambridge, Tables 4.5-4.16 (also in
# examples/thesis/published_estimates.json): 14 items, N = 391.
THESIS = {
    "cfa": {"chisq": 121.602, "df": 69, "cfi": 0.97, "rmsea": 0.04, "rmsea_ci": (0.03, 0.06),
            "pcfi": 0.74, "cmin_df": 1.8, "hoelter_cn": {0.05: 287, 0.01: 319}},
    "original": {"chisq": 187.127, "df": 72, "cfi": 0.943, "rmsea": 0.064,
                 "rmsea_ci": (0.053, 0.075), "pcfi": 0.75},
    "revised": {"chisq": 161.207, "df": 71, "cfi": 0.955, "rmsea": 0.057,
                "rmsea_ci": (0.045, 0.069), "pcfi": 0.75},
}


def lavaan_measures(case: str) -> pd.Series:
    return read(case, "fit_measures.csv").set_index("measure")["value"]


def lavaan_inputs(case: str) -> fm.Inputs:
    """fm.Inputs from lavaan's own output: its S, x̄, Σ̂, μ̂, chisq, df, npar and logl."""
    info = json.loads((REFERENCE / case / "case.json").read_text())
    ref = lavaan_measures(case)
    s = read(case, "sample_cov.csv", index_col=0)
    ov = list(s.index)
    sigma = read(case, "implied_cov.csv", index_col=0).loc[ov, ov].to_numpy()
    meanstructure = (REFERENCE / case / "implied_mean.csv").exists()
    xbar = mu = np.zeros(len(ov))
    if meanstructure:
        xbar = read(case, "sample_mean.csv", index_col=0).iloc[:, 0].loc[ov].to_numpy()
        mu = read(case, "implied_mean.csv", index_col=0).iloc[:, 0].loc[ov].to_numpy()
    options = make_options(**info["options"])
    ov_x = partable.build(syntax.parse((REFERENCE / case / "model.lav").read_text()), options).variables.ov_x
    nobs = int(ref["ntotal"])
    return fm.Inputs(s.to_numpy(), xbar, sigma, mu, meanstructure, tuple(ov.index(v) for v in ov_x),
                     options.fixed_x, nobs, nobs - 1 if options.likelihood == "wishart" else nobs,
                     ref["chisq"], int(ref["df"]), int(ref["npar"]), ref["fmin"], ref["logl"],
                     ref["unrestricted_logl"])


def assert_matches_lavaan(ours: pd.Series, ref: pd.Series, case: str) -> None:
    assert set(ref.index) <= set(ours.index), set(ref.index) - set(ours.index)
    for name in ref.index:
        tol = 1e-4 if name in LOOSE else 1e-6
        assert_close(ours[name], ref[name], abs_tol=tol, rel_tol=tol, what=f"{case} {name}")


@pytest.mark.parametrize("case", ALL_CASES)
def test_formulas_match_lavaan_on_lavaan_moments(case):
    """Every index, fed lavaan's own S, Σ̂, chisq and logl, equals lavaan's fitMeasures()."""
    assert_matches_lavaan(pd.Series(fm.measures(lavaan_inputs(case))), lavaan_measures(case), case)


@pytest.mark.parametrize("case", FITTED_CASES)
def test_fit_measures_match_lavaan(case):
    ours = fitted(case).fit_measures()
    assert ours.dtype == np.float64
    assert list(ours.index[:len(lavaan_measures(case))]) == list(lavaan_measures(case).index)
    assert list(ours.index[-len(AMOS):]) == AMOS
    assert_matches_lavaan(ours, lavaan_measures(case), case)


def test_fit_measures_do_not_refit():
    fit = fitted("hs_cfa")

    def refit(*args):
        raise AssertionError("fit_measures called the optimizer")

    engine = copy.copy(fit.engine)
    engine.fit_moments = engine.refit_moments = refit
    frozen = dataclasses.replace(fit, engine=engine)
    pd.testing.assert_series_equal(frozen.fit_measures(), fit.fit_measures())


@pytest.mark.parametrize("case", ALL_CASES)
def test_amos_measures_by_the_published_formulas(case):
    """AMOS's extras (User's Guide, Appendix C) recomputed here from lavaan's chisq, df, N, npar."""
    ref, inp = lavaan_measures(case), lavaan_inputs(case)
    ours = fm.measures(inp)
    chisq, df, df0, q, nobs, n, p = (ref["chisq"], ref["df"], ref["baseline_df"], ref["npar"],
                                     ref["ntotal"], inp.n, inp.s.shape[0])
    expected = {
        "cmin_df": chisq / df if df else np.nan, "pratio": df / df0, "pcfi": df / df0 * ref["cfi"],
        "ncp": max(chisq - df, 0.0), "f0": max(chisq - df, 0.0) / n,
        # RMSEA = sqrt(F0 / df) at the interval's bounds too (AMOS's RMSEA_LO, RMSEA_HI)
        "ncp_ci_lower": ref["rmsea_ci_lower"] ** 2 * n * df,
        "ncp_ci_upper": ref["rmsea_ci_upper"] ** 2 * n * df,
        "f0_ci_lower": ref["rmsea_ci_lower"] ** 2 * df, "f0_ci_upper": ref["rmsea_ci_upper"] ** 2 * df,
        "bcc": chisq + 2 * q * n / (nobs - p - 2), "caic": chisq + q * (math.log(nobs) + 1),
        "mecvi": chisq / n + 2 * q / (nobs - p - 2),
    }
    for name, value in expected.items():
        tol = 1e-3 if "ci" in name else 1e-9
        assert_close(ours[name], value, abs_tol=tol, rel_tol=tol, what=f"{case} {name}")
    for bound, prob in (("ncp_ci_lower", 0.95), ("ncp_ci_upper", 0.05)):
        if ours[bound] > 0:   # the bound solves P(χ²_df(λ) ≤ chisq) = prob
            assert abs(ncx2.cdf(chisq, df, ours[bound]) - prob) < 1e-9


@pytest.mark.parametrize("model", THESIS)
def test_published_amos_numbers(model):
    """The thesis's AMOS output (n = N - 1 = 390; baseline df 91) to its printed digits."""
    published, n, df0 = THESIS[model], 390, 91
    chisq, df = published["chisq"], published["df"]

    def agrees(value, printed):
        decimals = len(repr(printed).split(".")[1])
        return abs(value - printed) <= 0.5 * 10.0 ** -decimals + 1e-12

    assert agrees(fm.rmsea(chisq, df, n), published["rmsea"])
    assert all(map(agrees, fm.rmsea_ci(chisq, df, n), published["rmsea_ci"]))
    assert agrees(fm.pcfi(df, df0, published["cfi"]), published["pcfi"])
    if "cmin_df" in published:
        assert agrees(fm.cmin_df(chisq, df), published["cmin_df"])
    for alpha, printed in published.get("hoelter_cn", {}).items():
        assert math.floor(fm.cn(chisq, df, n, alpha)) == printed   # AMOS truncates
    assert baseline.baseline(np.eye(14), (), n, True, False).df == df0


def test_independence_closed_form_is_the_ml_fit():
    """χ²₀/n equals F_ML at Σ₀ = blockdiag(diag S_yy, S_xx), μ₀ = x̄, and no Σ near it fits better."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(6, 6))
    s = a @ a.T + 6 * np.eye(6)
    xbar = rng.normal(size=6)
    x_idx = (4, 5)
    sigma0 = np.diag(np.diag(s))
    sigma0[4:, 4:] = s[4:, 4:]
    moments = Moments(s, xbar, np.asarray(100.0))

    def f(sigma):
        return float(objective.f_ml(sigma, xbar, moments.s, moments.xbar, 1.0))

    assert abs(baseline.f_independence(s, x_idx) - f(sigma0)) < 1e-12
    for _ in range(5):   # perturb the free variances: F_ML only grows
        d = np.diag(np.r_[rng.normal(scale=0.05, size=4), 0, 0])
        assert f(sigma0 + d * np.diag(sigma0)) > f(sigma0)
    result = baseline.baseline(s, x_idx, 100.0, True, True)
    assert result.df == 6 * 5 // 2 - 2 * 1 // 2
    assert abs(result.chisq - 100.0 * f(sigma0)) < 1e-9
