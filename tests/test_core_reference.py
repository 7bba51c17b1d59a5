"""Estimates, standard errors and chi-square against lavaan 0.6 (tests/reference/)."""

import numpy as np
import pytest

from reference_cases import CORE_CASES, assert_close, fitted, keyed, read, read_matrix


@pytest.mark.parametrize("case", CORE_CASES)
def test_estimates_and_se(case):
    fit = fitted(case)
    ours = keyed(fit.estimates())
    ref = keyed(read(case, "estimates.csv"))
    assert sorted(ours.index) == sorted(ref.index)
    ours = ours.loc[ref.index]
    assert_close(ours["est"], ref["est"], what=f"{case} est")
    assert_close(ours["se"], ref["se"], what=f"{case} se")
    for col in ("z", "pvalue", "ci_lower", "ci_upper"):
        assert_close(ours[col], ref[col], abs_tol=1e-4, rel_tol=1e-5, what=f"{case} {col}")
    for col in ("std_lv", "std_all", "std_nox"):
        assert_close(ours[col], ref[col], what=f"{case} {col}")


@pytest.mark.parametrize("case", CORE_CASES)
def test_chisq_df_npar(case):
    fit = fitted(case)
    measures = read(case, "fit_measures.csv").set_index("measure")["value"]
    assert fit.converged
    assert fit.df == int(measures["df"])
    assert fit.npar == int(measures["npar"])
    assert abs(fit.chisq - measures["chisq"]) <= 1e-4 * max(1.0, measures["chisq"])
    assert abs(fit.loglik - measures["logl"]) <= 1e-6 * abs(measures["logl"])
    assert abs(fit.unrestricted_loglik - measures["unrestricted_logl"]) <= 1e-6 * abs(measures["logl"])


@pytest.mark.parametrize("case", CORE_CASES)
def test_implied_moments(case):
    fit = fitted(case)
    ref = read_matrix(case, "implied_cov.csv")
    ours = fit.implied()["cov"].loc[ref.index, ref.columns]
    assert_close(ours.to_numpy(), ref.to_numpy(), what=f"{case} implied cov")
    if fit.spec.meanstructure:
        ref_mean = read(case, "implied_mean.csv")
        ours_mean = fit.implied()["mean"].loc[ref_mean.iloc[:, 0]]
        assert_close(ours_mean.to_numpy(), ref_mean.iloc[:, 1].to_numpy(), what=f"{case} implied mean")
