"""Full-information ML, EM moments and Little's MCAR test against lavaan 0.6.14
(tests/reference/make_missing_fixtures.R: values deleted completely at random with fixed seeds)."""

import warnings
from functools import lru_cache

import jax
import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from reference_cases import ROOT
from sem_engine import compilation, missing, size_classes

MISSING = ROOT / "tests" / "reference" / "missing"
CASES = {"hs_fiml": ("hs_missing.csv", {}),
         "hs_fiml_expected": ("hs_missing.csv", {"information": "expected"}),
         "poldem_fiml": ("poldem_missing.csv", {}),
         "mimic_fiml": ("mimic_missing.csv", {}),
         "hs_fiml_mlr": ("hs_missing.csv", {"estimator": "MLR"}),
         "mimic_fiml_mlx": ("mimic_missing.csv", {"missing": "ml.x"}),
         "mimic_fiml_mlx_mlr": ("mimic_missing.csv", {"missing": "ml.x", "estimator": "MLR"})}
MEASURES = ["chisq", "df", "pvalue", "logl", "unrestricted_logl", "baseline_chisq", "baseline_df", "cfi",
            "tli", "nfi", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "aic", "bic", "bic2", "npar", "ntotal"]


def data(case: str) -> pd.DataFrame:
    return pd.read_csv(MISSING / CASES[case][0])


@lru_cache(maxsize=None)
def fitted(case: str):
    model = (MISSING / case / "model.lav").read_text()
    with warnings.catch_warnings():  # mimic_fiml: rows missing a fixed covariate are dropped, as lavaan does
        warnings.simplefilter("ignore", se.DataWarning)
        return se.sem(model, data=data(case), **{"missing": "ml", **CASES[case][1]})


def test_rows_missing_a_fixed_covariate_are_dropped_with_a_warning():
    model = (MISSING / "mimic_fiml" / "model.lav").read_text()
    with pytest.warns(se.DataWarning, match="39 of 301 rows"):
        fit = se.sem(model, data=data("mimic_fiml"), missing="ml")
    assert fit.nobs == 262


def test_ml_x_keeps_rows_missing_a_fixed_covariate():
    """missing="ml.x": no row is dropped (lavaan's nobs: all 301), the covariates' fixed.x
    moments are their joint EM estimates, and the bootstrap, whose replicates would need their
    own EM run for them, is refused."""
    model = (MISSING / "mimic_fiml_mlx" / "model.lav").read_text()
    ref = pd.read_csv(MISSING / "mimic_fiml_mlx" / "fit_measures.csv").set_index("measure")["value"]
    fit = se.sem(model, data=data("mimic_fiml_mlx"), missing="ml.x")   # no DataWarning
    assert fit.nobs == fit.data.n_total == ref["ntotal"] == 301
    mean, cov = se.em_moments(data("mimic_fiml_mlx")[list(fit.spec.ov)])
    est = fit.estimates(standardized=False).set_index(["lhs", "op", "rhs"])["est"]
    assert est["ageyr", "~~", "ageyr"] == pytest.approx(cov.loc["ageyr", "ageyr"], rel=1e-10)
    assert est["ageyr", "~1", ""] == pytest.approx(mean["ageyr"], rel=1e-10)
    with pytest.raises(se.ModelError, match="ml.x"):
        fit.bootstrap(10, seed=1)


@pytest.mark.parametrize("case", CASES)
def test_estimates_and_standard_errors_equal_lavaans(case):
    ref = pd.read_csv(MISSING / case / "estimates.csv", keep_default_na=False, na_values=[""])
    ref["rhs"] = ref["rhs"].fillna("")
    got = fitted(case).estimates(standardized=False)
    merged = ref.merge(got, on=["lhs", "op", "rhs"], suffixes=("_ref", ""), validate="one_to_one")
    assert len(merged) == len(ref) == len(got)
    np.testing.assert_allclose(merged["est"], merged["est_ref"], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(merged["se"], merged["se_ref"], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_fit_measures_equal_lavaans(case):
    ref = pd.read_csv(MISSING / case / "fit_measures.csv").set_index("measure")["value"]
    ref.index = ref.index.str.replace(".", "_")
    got = fitted(case).fit_measures()
    for name in MEASURES:
        assert got[name] == pytest.approx(ref[name], rel=1e-6, abs=1e-8), name
    if case.endswith("_mlr"):  # scaled statistics (lavaan's EM tolerance limits agreement to ~1e-7)
        for name in ["chisq_scaled", "chisq_scaling_factor", "scaling_factor_h1", "scaling_factor_h0",
                     "baseline_chisq_scaled", "baseline_chisq_scaling_factor", "cfi_scaled", "tli_scaled",
                     "rmsea_scaled", "rmsea_ci_lower_scaled", "rmsea_ci_upper_scaled"]:
            assert got[name] == pytest.approx(ref[name], rel=1e-6), name
        # robust CFI/TLI/RMSEA (Zhang & Savalei's FIML-corrected statistics) use the EM moments
        # directly, which lavaan's default em.h1.tol = 1e-5 leaves ~5e-6 short: agreement ~2e-5
        # (the close-fit p-value 4e-4); test_robust.py checks them to 1e-6 against lavaan with
        # its EM iterated to convergence
        for name in [k for k in got.index if k.endswith("_robust")]:
            assert got[name] == pytest.approx(ref[name], rel=1e-3 if "pvalue" in name else 1e-4), name
    # SRMR uses the EM moments, which lavaan iterates to a looser tolerance (differences ~1e-6)
    assert got["srmr"] == pytest.approx(ref["srmr"], abs=1e-5)


@pytest.mark.parametrize("case", ["hs_fiml", "poldem_fiml", "mimic_fiml_mlx"])
def test_em_moments_equal_lavaans_h1(case):
    mean, cov = se.em_moments(data(case))
    ref_cov = pd.read_csv(MISSING / case / "h1_cov.csv", index_col=0)
    ref_mean = pd.read_csv(MISSING / case / "h1_mean.csv", index_col=0)["mean"]
    np.testing.assert_allclose(cov.loc[ref_cov.index, ref_cov.index], ref_cov, atol=2e-5)
    np.testing.assert_allclose(mean[ref_mean.index], ref_mean, atol=2e-5)
    fit = fitted(case)
    np.testing.assert_allclose(np.asarray(fit.moments.s), cov.loc[list(fit.spec.ov), list(fit.spec.ov)], atol=1e-12)


@pytest.mark.parametrize("case", ["hs_fiml", "poldem_fiml", "mimic_fiml_mlx"])
def test_little_mcar_equals_the_r_computation(case):
    ref = pd.read_csv(MISSING / case / "little_mcar.csv").iloc[0]
    got = se.little_mcar(data(case))
    assert got["df"] == ref["df"] and got["patterns"] == ref["patterns"]
    assert got["statistic"] == pytest.approx(ref["statistic"], rel=1e-5)
    assert got["pvalue"] == pytest.approx(ref["pvalue"], abs=1e-5)


def test_little_mcar_rejects_missingness_that_depends_on_an_observed_value():
    rng = np.random.default_rng(7)
    full = pd.DataFrame(rng.multivariate_normal(np.zeros(3), [[1, .6, .5], [.6, 1, .4], [.5, .4, 1]], 500),
                        columns=["a", "b", "c"])
    mar = full.copy()
    mar.loc[full["a"] > 0.3, "b"] = np.nan   # missing at random given a, not completely at random
    assert se.little_mcar(mar)["pvalue"] < 1e-6
    complete = se.little_mcar(full)
    assert complete["df"] == 0 and complete["statistic"] == pytest.approx(0, abs=1e-12)


def test_complete_data_fiml_equals_ordinary_ml_with_a_mean_structure():
    hs = se.datasets.holzinger_swineford_1939()
    model = (MISSING / "hs_fiml" / "model.lav").read_text()
    fiml = se.sem(model, data=hs, missing="ml")
    ml = se.sem(model, data=hs, meanstructure=True, information="observed")
    np.testing.assert_allclose(fiml.x, ml.x, atol=1e-8)
    np.testing.assert_allclose(fiml.estimates()["se"], ml.estimates()["se"], atol=1e-8)
    assert fiml.chisq == pytest.approx(ml.chisq, rel=1e-8)
    assert fiml.fit_measures()["cfi"] == pytest.approx(ml.fit_measures()["cfi"], rel=1e-8)


def test_patterns_and_coverage():
    d = data("hs_fiml")
    patterns, coverage = se.missing_patterns(d)
    assert patterns["count"].sum() == len(d) and patterns["count"].is_monotonic_decreasing
    observed = d.notna().to_numpy(float)
    np.testing.assert_allclose(coverage.to_numpy(), observed.T @ observed / len(d))


def test_coverage_is_checked():
    rng = np.random.default_rng(3)
    d = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    never = d.copy()
    never.loc[:99, "a"] = np.nan
    never.loc[100:, "b"] = np.nan
    with pytest.raises(se.DataError, match="never observed together.*a-b"):
        se.sem("a ~~ b\nb ~~ c", data=never, missing="ml")
    low = d.copy()
    low.loc[:94, "a"] = np.nan
    low.loc[110:, "b"] = np.nan
    with pytest.warns(se.DataWarning, match="fewer than 10%.*a-b"):
        se.sem("a ~~ b\nb ~~ c", data=low, missing="ml")


def test_bad_input_is_refused_with_typed_errors():
    d = data("hs_fiml")
    model = (MISSING / "hs_fiml" / "model.lav").read_text()
    with pytest.raises(se.DataError, match="x3"):
        se.sem(model, data=d.assign(x3=np.nan), missing="ml")
    with pytest.raises(se.ModelError, match="FIML"):
        se.sem(model, data=d, missing="ml", likelihood="wishart")
    with pytest.raises(se.ModelError, match="missing"):
        se.sem(model, data=d, missing="pairwise")
    with pytest.warns(se.DataWarning, match="1 of 302 rows have no observed value"):
        se.sem(model, data=pd.concat([d, pd.DataFrame([[np.nan] * 9], columns=d.columns)]), missing="ml")


def _rows(d: pd.DataFrame) -> np.ndarray:
    return missing.check_rows(d.to_numpy(dtype=float), list(d.columns))


def test_em_and_loglik_padded_into_a_larger_class_give_the_same_numbers():
    """The data step's padding is exact (missing.py): a padded variable is never observed and
    keeps the identity's row of Σ, a padded pattern counts 0."""
    rows = _rows(data("hs_fiml"))
    mu, sigma, it = missing.em(rows)
    h1 = float(missing.patterns(rows, mu, sigma).h1_loglik)
    with size_classes.floor(p=64, patterns=96):
        assert missing.size_class(rows.shape[1], len(missing.group_rows(rows)[0])) == (64, 96)
        big_mu, big_sigma, big_it = missing.em(rows)
        big_h1 = float(missing.patterns(rows, mu, sigma).h1_loglik)
        big_ll = missing.observed_loglik(rows, mu * 1.01, sigma * 1.02)
    assert big_it == it
    np.testing.assert_allclose(big_mu, mu, rtol=0, atol=1e-12)
    np.testing.assert_allclose(big_sigma, sigma, rtol=0, atol=1e-12)
    assert big_h1 == pytest.approx(h1, rel=1e-14)
    assert big_ll == pytest.approx(missing.observed_loglik(rows, mu * 1.01, sigma * 1.02), rel=1e-14)


def test_pattern_moments_in_numpy_equal_the_traced_ones():
    """weighted_patterns and available_case give numpy moments for numpy arrays (a fit's data
    step) and the same moments traced under jit and vmap (the bootstrap's replicates)."""
    rows = _rows(data("hs_fiml"))
    masks, which = missing.group_rows(rows)
    mask, filled = masks.astype(float), np.where(np.isfinite(rows), rows, 0.0)
    weights = np.random.default_rng(5).integers(0, 3, size=(2, rows.shape[0])).astype(float)
    traced = jax.jit(jax.vmap(lambda w: (missing.weighted_patterns(filled, which, mask, w),
                                         missing.available_case(filled, mask[which], w))))(weights)
    for r in range(2):
        plain = missing.weighted_patterns(filled, which, mask, weights[r]), \
            missing.available_case(filled, mask[which], weights[r])
        assert all(isinstance(a, np.ndarray) for part in plain for a in part)
        for got, want in zip(jax.tree.leaves(plain), jax.tree.leaves(traced)):
            np.testing.assert_allclose(got, np.asarray(want)[r], rtol=1e-13, atol=1e-13)
    assert (traced[0][0] == 0).any()     # a pattern the weights leave out: count 0, zero moments


def _holes(n: int, fraction: float, seed: int) -> pd.DataFrame:
    hs = se.datasets.holzinger_swineford_1939()[[f"x{i}" for i in range(1, 10)]]
    values = hs.sample(n, random_state=seed).to_numpy(dtype=float).copy()
    values[np.random.default_rng(seed).random(values.shape) < fraction] = np.nan
    return pd.DataFrame(values, columns=hs.columns)


def test_a_new_data_set_of_a_compiled_size_class_compiles_nothing():
    """FIML's data step (EM, the H1 log-likelihood) compiles once per size class of p and K: a
    second data set with other rows and other patterns, fitted with its estimates and fit
    measures, builds no executable (compiled or loaded)."""
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    first_data, second_data = _holes(301, 0.10, 1), _holes(260, 0.10, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", se.DataWarning)
        first = se.cfa(model, data=first_data, missing="ml")
        first.estimates(), first.fit_measures()
        before = compilation.executables()
        second = se.cfa(model, data=second_data, missing="ml")
        second.estimates(), second.fit_measures()
    k1, k2 = (f.moments.patterns.mask.shape[0] for f in (first, second))
    assert k1 != k2 and first.nobs != second.nobs
    assert missing.size_class(9, k1) == missing.size_class(9, k2)
    assert second.engine.sizes == first.engine.sizes
    assert compilation.executables() - before == 0
