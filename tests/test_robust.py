"""Robust ML (MLM, MLR, MLMV, MLMVS) against lavaan 0.6 (tests/reference/robust/)."""

import re
import warnings
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from reference_cases import REFERENCE, assert_close, fit_kwargs, keyed, read, read_matrix
from sem_engine import residuals, robust
from sem_engine.errors import DataError, ModelError

FIXTURES = "robust"
# mediation: a fixed.x covariate (X), a mean structure and df = 0 (lavaan leaves the model's
# scaling factor undefined; its baseline model is scaled as usual).
CASES = ["hs_cfa", "poldem", "mediation"]
# hs_cfa_equal: equal loadings (shared labels).  FIML: MLR with missing="ml" and lavaan's EM
# iterated to convergence (em.h1.tol = 1e-12); mimic_fiml has a fixed.x covariate with holes
# (its 39 rows are dropped, with a DataWarning); hs_fiml_saturated has df = 0
FIML = {"hs_fiml": ("hs_cfa/model.lav", "missing/hs_missing.csv"),
        "mimic_fiml": ("missing/mimic_fiml/model.lav", "missing/mimic_missing.csv"),
        "hs_fiml_saturated": ("robust/hs_fiml_saturated.lav", "missing/hs_missing.csv")}
FITS = [(case, est) for case in CASES + ["hs_cfa_orthogonal", "hs_cfa_wishart", "hs_cfa_equal"]
        for est in ("MLM", "MLR")] + [(case, "MLR") for case in FIML]
ROBUST_NAMES = re.compile(r"scaled|robust|scaling")


def model_text(case: str) -> str:
    own = REFERENCE / FIXTURES / f"{case}.lav"  # models of the robust fixtures only
    return (own if own.exists() else REFERENCE / case / "model.lav").read_text()


@lru_cache(maxsize=None)
def robust_fit(case: str, estimator: str) -> se.Fit:
    """A reference case fitted with ``estimator`` and lavaan's default information for it."""
    if case in FIML:
        model, data = (REFERENCE / path for path in FIML[case])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", se.DataWarning)
            return se.sem(model.read_text(), data=pd.read_csv(data), missing="ml", estimator=estimator)
    kwargs = fit_kwargs("hs_cfa" if case == "hs_cfa_equal" else case)
    return se.sem(model_text(case), **kwargs, estimator=estimator)


def lavaan_measures(name: str) -> pd.Series:
    return read(FIXTURES, f"{name}/fit_measures.csv").set_index("measure")["value"]


def lavaan_test(name: str) -> pd.Series:
    return read(FIXTURES, f"{name}/test.csv").iloc[1]


# -- Γ -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_gamma_matches_lavaan(case):
    ref = read_matrix(FIXTURES, f"gamma_{case}.csv")
    names = list(ref.index)
    ov = list(dict.fromkeys(v for n in names for v in re.split("~~|~1", n) if v))
    covariates = {"mediation": ("X",)}.get(case, ())
    data = fit_kwargs(case)["data"][ov].to_numpy()
    meanstructure = any(n.endswith("~1") for n in names)
    ours = robust.gamma(jnp.asarray(data), meanstructure, tuple(ov.index(v) for v in covariates))
    rows, cols = residuals.vech_pairs(len(ov))
    means = [f"{v}~1" for v in ov] if meanstructure else []
    assert means + [f"{ov[c]}~~{ov[r]}" for r, c in zip(rows, cols)] == names
    assert_close(np.asarray(ours), ref.to_numpy(), what=f"{case} gamma")


def test_gamma_is_vmappable():
    """Γ is a pure function of the rows: a vmapped batch of bootstrap samples equals a loop."""
    data = jnp.asarray(fit_kwargs("hs_cfa")["data"][[f"x{i}" for i in range(1, 10)]].to_numpy())
    idx = jax.random.randint(jax.random.PRNGKey(0), (3, data.shape[0]), 0, data.shape[0])
    batch = jax.vmap(lambda i: robust.gamma(data[i], False))(idx)
    loop = np.stack([np.asarray(robust.gamma(data[i], False)) for i in idx])
    np.testing.assert_allclose(np.asarray(batch), loop, rtol=1e-12, atol=1e-12)


def test_scores_at_saturated_model_give_w_gamma_w():
    """Independent identity: at μ = ȳ, Σ = S the mean outer product of the scores is W Γ W."""
    data = fit_kwargs("poldem")["data"].to_numpy()[:, :5]
    y = jnp.asarray(data)
    s = jnp.cov(y.T, bias=True)
    for meanstructure in (False, True):
        sc = np.asarray(robust.scores(y, jnp.mean(y, axis=0), s, meanstructure))
        w = np.asarray(robust.weight(s, meanstructure))
        g = np.asarray(robust.gamma(y, meanstructure))
        np.testing.assert_allclose(sc.T @ sc / sc.shape[0], w @ g @ w, rtol=1e-10, atol=1e-12)


# -- standard errors, scaled tests and fit measures ---------------------------------------------
@pytest.mark.parametrize("case,estimator", FITS)
def test_robust_se_and_vcov(case, estimator):
    name = f"{case}_{estimator}"
    fit = robust_fit(case, estimator)
    ref = keyed(read(FIXTURES, f"{name}/estimates.csv"))
    ours = keyed(fit.estimates()).loc[ref.index]
    assert_close(ours["est"], ref["est"], what=f"{name} est")  # lavaan's ML estimates
    assert_close(ours["se"], ref["se"], what=f"{name} se")
    for col in ("z", "pvalue", "ci_lower", "ci_upper"):
        assert_close(ours[col], ref[col], abs_tol=1e-4, rel_tol=1e-5, what=f"{name} {col}")
    vcov = read_matrix(FIXTURES, f"{name}/vcov.csv")
    order = _lavaan_free_order(fit, vcov.index)
    assert_close(fit.vcov_x[np.ix_(order, order)], vcov.to_numpy(), what=f"{name} vcov")


def _lavaan_free_order(fit, names) -> list[int]:
    """Our free-parameter index of each of lavaan's vcov names (label, else lhs op rhs; both in
    table order, so a shared label's k-th occurrence is its k-th free row)."""
    table = fit.partable.table
    ours = [table["label"][r] or f"{table['lhs'][r]}{table['op'][r]}{table['rhs'][r]}"
            for r in fit.spec.free_rows]
    assert sorted(ours) == sorted(names)
    taken: list[int] = []
    for n in names:
        taken.append(next(k for k, o in enumerate(ours) if o == n and k not in taken))
    return taken


@pytest.mark.parametrize("case,estimator", FITS)
def test_scaled_test(case, estimator):
    name = f"{case}_{estimator}"
    ours = robust.scaled_test(robust_fit(case, estimator))
    ref = lavaan_test(name)
    assert ours.test == ref["test"]
    for field in ("stat", "df", "pvalue", "scaling_factor", "trace_UGamma", "scaling_factor_h1",
                  "scaling_factor_h0"):
        assert_close(getattr(ours, field.replace("UGamma", "ugamma")), ref[field],
                     what=f"{name} {field}")


@pytest.mark.parametrize("case,estimator", FITS)
def test_fit_measures(case, estimator):
    name = f"{case}_{estimator}"
    ours = robust.fit_measures(robust_fit(case, estimator))
    ref = lavaan_measures(name)
    ref = ref[[bool(ROBUST_NAMES.search(k)) for k in ref.index]]
    ref.index = ref.index.str.replace(".", "_", regex=False)
    assert list(ours.index) == list(ref.index)
    assert_close(ours, ref, what=f"{name} fit measures")


@pytest.mark.parametrize("case", FIML)
def test_fiml_robust_fit_measures_to_1e6(case):
    """Robust CFI/TLI/RNI/RMSEA under FIML (Zhang & Savalei's corrected statistics): relative 1e-6."""
    ours = robust.fit_measures(robust_fit(case, "MLR"))
    ref = lavaan_measures(f"{case}_MLR")
    ref.index = ref.index.str.replace(".", "_", regex=False)
    robust_names = [k for k in ours.index if k.endswith("_robust")]
    assert len(robust_names) == 9
    for k in robust_names:
        assert ours[k] == pytest.approx(ref[k], rel=1e-6, abs=0, nan_ok=True), k


@pytest.mark.parametrize("case", ["hs_cfa", "poldem"])
@pytest.mark.parametrize("estimator", ["MLMV", "MLMVS"])
def test_mean_variance_adjusted_tests(case, estimator):
    """MLMV / MLMVS share MLM's standard errors; their tests as lavTest(fit, test) of the MLM fit."""
    name = f"{case}_{estimator}"
    fit = robust_fit(case, "MLM")
    ref = keyed(read(FIXTURES, f"{name}/estimates.csv"))
    assert_close(keyed(fit.estimates()).loc[ref.index, "se"], ref["se"], what=f"{name} se")
    test = robust.TESTS[estimator]
    ours = robust.scaled_test(fit, test)
    expected = lavaan_test(name)
    for field in ("stat", "df", "pvalue", "scaling_factor", "shift_parameter", "trace_UGamma",
                  "trace_UGamma2"):
        assert_close(getattr(ours, field.replace("UGamma", "ugamma")), expected[field],
                     what=f"{name} {field}")
    measures = robust.fit_measures(fit, test)
    ref_measures = lavaan_measures(name)
    ref_measures = ref_measures[[bool(ROBUST_NAMES.search(k)) for k in ref_measures.index]]
    ref_measures.index = ref_measures.index.str.replace(".", "_", regex=False)
    assert list(measures.index) == list(ref_measures.index)
    assert_close(measures, ref_measures, what=f"{name} fit measures")


# -- scaled chi-square difference tests ---------------------------------------------------------
DIFFERENCES = read(FIXTURES, "differences.csv")


@pytest.mark.parametrize("row", range(len(DIFFERENCES)))
def test_scaled_difference(row):
    ref = DIFFERENCES.iloc[row]
    restricted = robust_fit(ref["restricted"], ref["estimator"])
    free = robust_fit(ref["unrestricted"], ref["estimator"])
    assert (restricted.df, free.df) == (ref["Df_restricted"], ref["Df_unrestricted"])
    shifted = ref["method"] == "satorra.2000"  # lavaan reports the scale a = 1/factor and shift b
    expected = ref[["Chisq_diff", "Pr_gt_Chisq"]].tolist()
    expected += [1 / ref["scale"], ref["shift"]] if shifted else [ref["scaling_factor"], np.nan]
    for a, b in ((restricted, free), (free, restricted)):  # order does not matter
        ours = robust.scaled_difference(a, b, ref["method"])
        assert ours.df_diff == ref["Df_diff"]
        got = [ours.chisq_diff, ours.pvalue, ours.scaling_factor, ours.shift_parameter]
        tol = {"rel": 1e-6, "abs": 1e-12} if shifted else {"rel": 1e-5, "abs": 1e-5}
        assert got == pytest.approx(expected, nan_ok=True, **tol), f"row {row}"


@pytest.mark.parametrize("estimator", ["MLMV", "MLMVS"])
def test_compare_defaults_to_satorra_2000_like_lavtestlrt(estimator):
    """se.compare() of MLMV / MLMVS fits: lavTestLRT's default method, Satorra (2000) scaled and shifted."""
    ref = DIFFERENCES.set_index(["estimator", "method"]).loc[(estimator, "satorra.2000")]
    table = se.compare(robust_fit("hs_cfa", estimator), robust_fit("hs_cfa_equal", estimator),
                       names=["hs_cfa", "hs_cfa_equal"])
    row = table.loc["hs_cfa_equal"]
    assert row["Df_diff"] == ref["Df_diff"]
    assert [row["Chisq_diff"], row["pvalue"]] == pytest.approx([ref["Chisq_diff"], ref["Pr_gt_Chisq"]],
                                                                rel=1e-6, abs=0)


# -- errors --------------------------------------------------------------------------------------
def test_robust_needs_raw_data():
    kwargs = fit_kwargs("hs_cov")
    with pytest.raises(DataError, match="raw data"):
        se.cfa(model_text("hs_cov"), **kwargs, estimator="MLM")


def test_scaled_difference_refuses_bad_input():
    mlm, mlr = robust_fit("hs_cfa", "MLM"), robust_fit("hs_cfa", "MLR")
    with pytest.raises(ModelError, match="method"):
        robust.scaled_difference(mlm, mlm, "satorra.1999")
    with pytest.raises(ModelError, match="same estimator"):
        robust.scaled_difference(mlm, mlr)
    with pytest.raises(ModelError, match="same estimator"):
        robust.scaled_difference(robust_fit("hs_cfa", "MLMV"), robust_fit("hs_cfa_equal", "MLMV"),
                                 "satorra.bentler.2001")
    with pytest.raises(ModelError, match="test="):
        robust.scaled_test(mlm, "browne.residual.adf")


def test_fiml_refuses_what_needs_complete_data():
    fiml = robust_fit("hs_fiml", "MLR")
    with pytest.raises(ModelError, match="complete data"):
        robust.scaled_test(fiml, "satorra.bentler")
    with pytest.raises(ModelError, match="complete data"):
        robust.scaled_difference(fiml, fiml, "satorra.2000")
