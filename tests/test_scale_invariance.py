"""Scale invariance: the answers do not depend on the units of the variables (scaling.py).

Multiplying observed variable j by d_j is an exact reparametrization of every model here (no
fixed value ties two variables' units together), so the fit of the rescaled data must give the
same χ², fit measures, z values, standardized solution and modification indices, an implied
covariance matrix D Σ D and residual variances d_j² θ_j, and log-likelihoods shifted by the
Jacobian of the change of units, -Σ_i Σ_{j observed in row i} log d_j (fixed covariates left
out, as lavaan's log-likelihood leaves out their marginal part).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sem_engine as se

REF = Path(__file__).parent / "reference"
HS = se.datasets.holzinger_swineford_1939()
HS_MISSING = pd.read_csv(REF / "missing" / "hs_missing.csv")

CFA = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
MIMIC = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual ~ ageyr\ntextual ~ ageyr + grade"
CASES = {
    "cfa": (CFA, HS, {}),
    "cfa std_lv, mean structure": (CFA, HS, dict(std_lv=True, meanstructure=True)),
    "sem fixed_x": (MIMIC, HS, {}),
    "sem fixed_x=False": (MIMIC, HS, dict(fixed_x=False)),
    "fiml": ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6", HS_MISSING, dict(missing="ml")),
    "mlr": (CFA, HS, dict(estimator="MLR")),
    "multigroup, equal loadings and intercepts": (CFA, HS, dict(group="school", group_equal=["loadings", "intercepts"])),
}
# Fit measures in the data's units: log-likelihoods and information criteria shift, RMR scales.
UNIT_MEASURES = {"logl", "unrestricted_logl", "aic", "bic", "bic2", "rmr", "rmr_nomean"}
RTOL = 1e-8


@functools.lru_cache(maxsize=None)
def _fit(case: str, factors: tuple = ()):
    model, data, options = CASES[case]
    data = data.copy()
    for name, k in factors:
        data[name] = data[name] * k
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return se.sem(model, data=data, **options)


def _close(a, b, rtol=RTOL, what=""):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.max(np.abs(b[np.isfinite(b)]), initial=1.0)
    assert np.allclose(a, b, rtol=rtol, atol=rtol * scale, equal_nan=True), (what, np.max(np.abs(a - b)))


def _check(case: str, exponents: list[float]) -> None:
    fit0 = _fit(case)
    names = [v for v in fit0.partable.variables.ov]
    factors = tuple(zip(names, 10.0 ** np.asarray(exponents[:len(names)])))
    fit = _fit(case, factors)
    d = np.array([k for _, k in factors])
    assert fit.converged
    assert fit.npar == fit0.npar and fit.df == fit0.df
    m0, m1 = fit0.fit_measures(), fit.fit_measures()
    for key in m0.keys():
        if key not in UNIT_MEASURES:
            _close(m1[key], m0[key], what=key)
    observed = (~_data(case)[names].isna()).to_numpy(float)
    if not fit0.options.fiml:                      # listwise deletion
        observed = observed[observed.all(axis=1)]
    # lavaan's log-likelihood with fixed covariates leaves out their marginal part
    counted = np.array([not (fit0.options.fixed_x and v in fit0.partable.variables.ov_x) for v in names])
    shift = -float(np.sum(observed @ (np.log(d) * counted)))
    _close(m1["logl"], m0["logl"] + shift, what="logl")
    _close(m1["aic"], m0["aic"] - 2 * shift, what="aic")
    e0, e1 = fit0.estimates(), fit.estimates()
    _close(e1["z"], e0["z"], what="z")
    resid = (e0["op"] == "~~") & (e0["lhs"] == e0["rhs"]) & ~e0["lhs"].isin(fit0.partable.variables.ov_x) & e0["lhs"].isin(names)
    est0, est1, lhs = e0["est"].to_numpy(), e1["est"].to_numpy(), e0["lhs"].to_numpy()
    for i in np.flatnonzero(resid.to_numpy()):
        _close(est1[i], est0[i] * d[names.index(lhs[i])] ** 2, what="theta")
    for sigma0, sigma1 in zip(*(_covariances(f) for f in (fit0, fit))):
        _close(sigma1 / np.outer(d, d), sigma0, what="implied cov")
    s0, s1 = fit0.standardized(), fit.standardized()
    for col in ("est_std", "se", "z"):
        if col in s0:
            _close(s1[col], s0[col], what=f"standardized {col}")
    mi0, mi1 = fit0.modification_indices(), fit.modification_indices()
    _close(mi1["mi"], mi0["mi"], rtol=1e-6, what="mi")
    _close(mi1["sepc_all"], mi0["sepc_all"], rtol=1e-6, what="sepc_all")


def _covariances(fit) -> list[np.ndarray]:
    implied = fit.implied()
    groups = implied.values() if fit.n_groups > 1 else [implied]
    return [np.asarray(g["cov"]) for g in groups]


def _data(case):
    return CASES[case][1]


EXPONENTS = st.lists(st.floats(-6, 6, allow_nan=False), min_size=12, max_size=12)


@pytest.mark.parametrize("case", list(CASES))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exponents=EXPONENTS)
def test_rescaled_variables_give_the_same_answers(case, exponents):
    _check(case, exponents)


def test_the_issues_reproductions():
    """The one-factor model on four HS items: χ² = 11.798 at every scale (issue 22's cases:
    ×1e-8 gave χ² = 9937, ×1e8, ×1000 and one column ×30 a false IdentificationError, ×0.005
    NaN standard errors), also from sample_cov and under FIML."""
    model = "f =~ x1 + x2 + x3 + x4"
    items = ["x1", "x2", "x3", "x4"]
    clean = se.cfa(model, data=HS)
    lavaan = pd.read_csv(REF / "scale" / "one_factor_fit.csv").set_index("measure")["value"]
    assert clean.chisq == pytest.approx(lavaan["chisq"], rel=1e-6)    # lavaan 0.6.14: 11.798
    cases = {"1e-8": {v: 1e-8 for v in items}, "1e8": {v: 1e8 for v in items}, "0.005": {v: 0.005 for v in items},
             "x1 times 30": {"x1": 30.0}, "mixed": {"x1": 1e8, "x2": 1e-8}}
    for name, factors in cases.items():
        data = HS.copy()
        for v, k in factors.items():
            data[v] = data[v] * k
        fit = se.cfa(model, data=data)
        assert fit.converged, name
        assert fit.chisq == pytest.approx(clean.chisq, rel=1e-9), name
        assert np.all(np.isfinite(fit.estimates()["se"])), name
        cov = data[items].cov()
        from_cov = se.cfa(model, sample_cov=cov, sample_nobs=len(data))
        assert from_cov.chisq == pytest.approx(clean.chisq, rel=1e-6), name
    rounded = HS.copy()
    rounded[items] = (rounded[items] * 1000).round()
    fit = se.cfa(model, data=rounded)
    assert fit.converged and np.isfinite(fit.chisq)
    nullable = HS.copy()
    nullable[items] = (nullable[items] * 1000).round().astype("Int64")
    assert se.cfa(model, data=nullable).chisq == pytest.approx(fit.chisq, rel=1e-9)
    missing = HS_MISSING.copy()
    fiml0 = se.cfa(model, data=missing, missing="ml")
    missing[items] = missing[items] * 1e-8
    assert se.cfa(model, data=missing, missing="ml").chisq == pytest.approx(fiml0.chisq, rel=1e-8)


@pytest.mark.parametrize("missing", ["listwise", "ml"])
def test_bootstrap_is_scale_free(missing):
    """The same resamples of data in other units: the same χ² draws, standardized intervals and
    failures, and intervals of the estimates rescaled (the refits run in unit scale)."""
    model = "f =~ x1 + x2 + x3 + x4"
    data = HS_MISSING if missing == "ml" else HS
    factors = {"x1": 1e-6, "x2": 1.0, "x3": 3e5, "x4": 1e6}
    scaled = data.copy()
    for v, k in factors.items():
        scaled[v] = scaled[v] * k
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b0 = se.cfa(model, data=data, missing=missing).bootstrap(60, seed=5, ci="perc", progress=False)
        b1 = se.cfa(model, data=scaled, missing=missing).bootstrap(60, seed=5, ci="perc", progress=False)
    assert b0.n_failed == b1.n_failed == 0
    if missing == "listwise":
        _close(b1.chisq, b0.chisq, rtol=1e-7, what="bootstrap chisq")
    s0, s1 = b0.standardized(), b1.standardized()
    for col in ("ci_lower", "ci_upper"):
        _close(s1[col], s0[col], rtol=1e-7, what=f"std {col}")
    e0, e1 = b0.estimates(), b1.estimates()
    ratio = (e1["est"] / e0["est"]).to_numpy()
    free = np.isfinite(ratio) & (e0["boot_se"].to_numpy() > 0)
    for col in ("ci_lower", "ci_upper", "boot_se"):
        _close(e1[col].to_numpy()[free] / ratio[free], e0[col].to_numpy()[free], rtol=1e-7, what=f"est {col}")
