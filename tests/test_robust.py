"""Robust ML (MLM, MLR, MLMV, MLMVS) against lavaan 0.6 (tests/reference/robust/)."""

import re
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from reference_cases import REFERENCE, assert_close, fit_kwargs, keyed, read, read_matrix
from sem_engine import robust
from sem_engine.errors import DataError, ModelError

FIXTURES = "robust"
# mediation: a fixed.x covariate (X), a mean structure and df = 0 (lavaan leaves the model's
# scaling factor undefined; its baseline model is scaled as usual).
CASES = ["hs_cfa", "poldem", "mediation"]
FITS = [(case, est) for case in CASES + ["hs_cfa_orthogonal", "hs_cfa_wishart"]
        for est in ("MLM", "MLR")]
ROBUST_NAMES = re.compile(r"scaled|robust|scaling")


def model_text(case: str) -> str:
    return (REFERENCE / case / "model.lav").read_text()


@lru_cache(maxsize=None)
def robust_fit(case: str, estimator: str) -> se.Fit:
    """A core reference case fitted with ``estimator`` and lavaan's default information for it."""
    return se.sem(model_text(case), **fit_kwargs(case), estimator=estimator)


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
    rows, cols = robust.vech_index(len(ov))
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
    for a, b in ((restricted, free), (free, restricted)):  # order does not matter
        ours = robust.scaled_difference(a, b, ref["method"])
        assert ours.df_diff == ref["Df_diff"]
        assert_close([ours.chisq_diff, ours.pvalue, ours.scaling_factor],
                     ref[["Chisq_diff", "Pr_gt_Chisq", "scaling_factor"]].to_numpy(dtype=float),
                     what=f"row {row}")


# -- errors --------------------------------------------------------------------------------------
def test_robust_needs_raw_data():
    kwargs = fit_kwargs("hs_cov")
    with pytest.raises(DataError, match="raw data"):
        se.cfa(model_text("hs_cov"), **kwargs, estimator="MLM")


def test_scaled_difference_refuses_bad_input():
    mlm, mlr = robust_fit("hs_cfa", "MLM"), robust_fit("hs_cfa", "MLR")
    with pytest.raises(ModelError, match="method"):
        robust.scaled_difference(mlm, mlm, "satorra.2000")
    with pytest.raises(ModelError, match="same estimator"):
        robust.scaled_difference(mlm, mlr)
    with pytest.raises(ModelError, match="test="):
        robust.scaled_test(mlm, "browne.residual.adf")
