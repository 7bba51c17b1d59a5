"""KMO, Bartlett, describe, Mardia and coefficient alpha against psych 2.2.9, and KMO and Bartlett
against independent textbook computations (partial correlations from regression residuals; |R| as
a product of 1 - R² of successive regressions)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sem_engine as se
from reference_cases import read
from sem_engine import descriptives as ds

ITEMS = [f"x{i}" for i in range(1, 10)]
FACTORS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
TOL = 1e-6


@pytest.fixture(scope="module")
def hs():
    return se.datasets.holzinger_swineford_1939()[ITEMS]


def measure(name: str) -> pd.Series:
    return read("validity", name).set_index("measure")["value"]


def residuals(x: np.ndarray, on: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(x)), on])
    return x - design @ np.linalg.lstsq(design, x, rcond=None)[0]


def test_kmo_against_psych(hs):
    k = ds.kmo(hs)
    assert k.overall == pytest.approx(measure("psych_kmo_overall.csv")["MSA"], abs=TOL)
    ref = read("validity", "psych_kmo_items.csv").set_index("variable")["MSAi"]
    np.testing.assert_allclose(k.items.loc[ref.index], ref, atol=TOL)
    assert k.label == "middling" and "0.752" in str(k)


def test_kmo_against_partial_correlations_from_regressions(hs):
    """Partial correlation of i and j given the rest = correlation of their residuals after
    regressing each on the other p - 2 variables (Kaiser 1970's definition of the anti-image)."""
    x = hs.to_numpy(dtype=float)
    p = x.shape[1]
    r = np.corrcoef(x, rowvar=False)
    partial = np.zeros((p, p))
    for i in range(p):
        for j in range(i + 1, p):
            rest = np.delete(x, [i, j], axis=1)
            partial[i, j] = partial[j, i] = np.corrcoef(residuals(x[:, i], rest), residuals(x[:, j], rest))[0, 1]
    r2 = r ** 2 - np.eye(p)
    items = r2.sum(0) / (r2.sum(0) + (partial ** 2).sum(0))
    overall = r2.sum() / (r2.sum() + (partial ** 2).sum())
    k = ds.kmo(hs)
    assert k.overall == pytest.approx(overall, abs=1e-10)
    np.testing.assert_allclose(k.items.to_numpy(), items, atol=1e-10)


def test_bartlett_against_psych_and_sequential_regressions(hs):
    b = ds.bartlett(hs)
    ref = measure("psych_bartlett.csv")
    assert b.chisq == pytest.approx(ref["chisq"], rel=TOL)
    assert b.df == ref["df"] and b.n == 301
    assert b.pvalue == pytest.approx(ref["p_value"], rel=1e-6)
    # |R| = Π_j (1 - R²_j), R²_j of x_j regressed on x_1..x_{j-1} (the Cholesky factor of R, squared)
    x = hs.to_numpy(dtype=float)
    log_det = sum(np.log(np.var(residuals(x[:, j], x[:, :j])) / np.var(x[:, j])) for j in range(1, 9))
    chisq = -(301 - 1 - (2 * 9 + 5) / 6) * log_det
    assert b.chisq == pytest.approx(chisq, rel=1e-10)
    assert b.pvalue == pytest.approx(stats.chi2.sf(chisq, 36), rel=1e-8)


def test_kmo_and_bartlett_from_a_covariance_matrix(hs):
    cov = hs.cov()
    assert ds.kmo(sample_cov=cov).overall == pytest.approx(ds.kmo(hs).overall, abs=1e-12)
    assert ds.bartlett(sample_cov=hs.corr(), sample_nobs=301).chisq == pytest.approx(ds.bartlett(hs).chisq, rel=1e-12)
    with pytest.raises(se.DataError, match="sample_nobs"):
        ds.bartlett(sample_cov=cov)
    with pytest.raises(se.DataError, match="either data"):
        ds.kmo()


@pytest.mark.parametrize("type_, name", [(3, "psych_describe.csv"), (1, "psych_describe_type1.csv"),
                                         (2, "psych_describe_type2.csv")])
def test_describe_against_psych(hs, type_, name):
    ref = read("validity", name).set_index("variable")[ds.DESCRIBE_COLUMNS]
    ours = ds.describe(hs, type=type_).items.loc[ref.index]
    np.testing.assert_allclose(ours.to_numpy(dtype=float), ref.to_numpy(dtype=float), atol=1e-10)


def test_skew_kurtosis_types_against_scipy(hs):
    """Types 1 and 2 are scipy's biased and bias-corrected estimators."""
    for v in ITEMS:
        x = hs[v].to_numpy(dtype=float)
        assert ds.skew_kurtosis(x, 1) == pytest.approx((stats.skew(x), stats.kurtosis(x)), abs=1e-12)
        assert ds.skew_kurtosis(x, 2) == pytest.approx(
            (stats.skew(x, bias=False), stats.kurtosis(x, bias=False)), abs=1e-12)


def test_mardia_against_psych(hs):
    description = ds.describe(hs)
    ref = measure("psych_mardia.csv")
    for key in ref.index:
        assert description.mardia[key] == pytest.approx(ref[key], rel=1e-8, abs=1e-300), key
    d = read("validity", "psych_mardia_d.csv")["d"].to_numpy()
    np.testing.assert_allclose(np.sqrt(ds.mahalanobis(hs).to_numpy()), d, atol=1e-10)
    assert description.mardia["df_skew"] == 9 * 10 * 11 / 6
    assert "Mardia" in str(description)


@pytest.mark.parametrize("factor", list(FACTORS))
def test_cronbach_alpha_against_psych(hs, factor):
    ref = read("validity", "psych_alpha.csv").set_index("factor").loc[factor]
    ours = ds.cronbach_alpha(hs[FACTORS[factor]])
    names = {"std_alpha": "std_alpha", "g6_smc": "G6_smc", "s_n": "S_N"}
    for column in ds.ALPHA_COLUMNS:
        assert ours[column] == pytest.approx(float(ref[names.get(column, column)]), abs=1e-10), column


def test_missing_values_and_bad_input(hs):
    holes = hs.copy()
    holes.iloc[[3, 10], [0, 4]] = np.nan
    with pytest.warns(se.DataWarning, match="2 of 301 rows"):
        k = ds.kmo(holes)
    assert k.overall == pytest.approx(ds.kmo(hs.drop(index=[3, 10])).overall, abs=1e-12)
    with pytest.warns(se.DataWarning):
        description = ds.describe(holes)
    assert description.items.loc["x1", "n"] == 299 and description.items.loc["x2", "n"] == 301
    assert description.mardia["n_obs"] == 299
    with pytest.raises(se.DataError, match="not numeric"):
        ds.kmo(hs.assign(x1="a"))
    with pytest.raises(se.DataError, match="singular"):
        ds.kmo(hs.assign(x10=hs["x1"] + hs["x2"]))
    with pytest.raises(se.DataError, match="two items"):
        ds.cronbach_alpha(hs[["x1"]])
