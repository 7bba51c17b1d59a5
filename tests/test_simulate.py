"""simulate_data against lavaan's simulateData: the population moments it draws from and the
Vale-Maurelli constants (tests/reference/simulate/, make_simulate_fixtures.R); the drawn data
against those moments, with tolerances from their Monte Carlo error."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

import sem_engine as se
from sem_engine import simulate
from sem_engine.errors import SemWarning

REF = Path(__file__).parent / "reference" / "simulate"
CASES = ["cfa_fixed", "defaults", "mediation", "structural", "orthogonal_exo"]
CFA = (REF / "cfa_fixed" / "model.lav").read_text()


@pytest.mark.parametrize("case", CASES)
def test_population_moments_match_lavaan(case):
    pop = simulate.population((REF / case / "model.lav").read_text())
    cov = pd.read_csv(REF / case / "implied_cov.csv", index_col=0)
    mean = pd.read_csv(REF / case / "implied_mean.csv", index_col=0)["mean"]
    assert list(pop.names) == list(pd.read_csv(REF / case / "names.csv")["variable"])
    ours = pd.DataFrame(pop.sigma, index=pop.names, columns=pop.names).loc[cov.index, cov.columns]
    np.testing.assert_allclose(ours.to_numpy(), cov.to_numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(pd.Series(pop.mu, index=pop.names)[mean.index], mean, rtol=0, atol=1e-14)


@pytest.mark.parametrize("case", CASES)
def test_population_values_match_lavaan(case):
    pt = simulate.population_table((REF / case / "model.lav").read_text())
    ours = pt.table[["lhs", "op", "rhs", "free"]].assign(value=simulate.population_values(pt))
    ref = pd.read_csv(REF / case / "partable.csv", keep_default_na=False)
    merged = ref.merge(ours, on=["lhs", "op", "rhs"], how="outer", validate="one_to_one", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    np.testing.assert_allclose(merged["value"], merged["ustart"], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(merged["free_x"] > 0, merged["free_y"] > 0)


def test_fleishman_coefficients_match_lavaan():
    ref = pd.read_csv(REF / "fleishman.csv")
    ours = np.array([simulate.fleishman(s, k) for s, k in zip(ref["skewness"], ref["kurtosis"])])
    # lavaan's nlminb stops at a sum of squared residuals below 1e-5 or so; ours solves to 1e-10.
    np.testing.assert_allclose(ours, ref[["a", "b", "c", "d"]].to_numpy(), rtol=0, atol=1e-8)


def test_intermediate_correlations_match_lavaan():
    ref = pd.read_csv(REF / "intermediate.csv")
    for row in ref.itertuples():
        coef = np.stack([simulate.fleishman(row.skew1, row.kurt1), simulate.fleishman(row.skew2, row.kurt2)], 1)
        inter = simulate.intermediate_correlations(np.array([[1, row.r], [row.r, 1]]), coef, ("a", "b"))
        assert inter[0, 1] == pytest.approx(row.rho, abs=1e-8)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.floats(-2, 2), st.floats(0, 6))
def test_fleishman_polynomial_has_the_target_moments(skew, excess):
    """Moments of a + bZ + cZ² + dZ³ by Gauss-Hermite quadrature (exact for polynomials)."""
    kurtosis = max(excess, 1.7 * skew ** 2 - 0.9)  # inside the region Fleishman polynomials reach
    a, b, c, d = simulate.fleishman(skew, kurtosis)
    z, w = np.polynomial.hermite_e.hermegauss(20)
    w = w / w.sum()
    y = a + b * z + c * z ** 2 + d * z ** 3
    assert w @ y == pytest.approx(0, abs=1e-9)
    assert w @ y ** 2 == pytest.approx(1, abs=1e-9)
    assert w @ y ** 3 == pytest.approx(skew, abs=1e-8)
    assert w @ y ** 4 - 3 == pytest.approx(kurtosis, abs=1e-8)


def test_normal_data_have_the_population_moments():
    n = 20_000
    data = se.simulate_data(CFA, n, seed=5)
    pop = simulate.population(CFA)
    assert list(data.columns) == list(pop.names)
    assert data.equals(se.simulate_data(CFA, n, seed=5))
    assert not data.equals(se.simulate_data(CFA, n, seed=6))
    # Var(s_ij) = (σ_ii σ_jj + σ_ij²) / n under normality; 5 SE over 21 entries.
    s = np.cov(data.to_numpy(), rowvar=False)
    d = np.diag(pop.sigma)
    se_cov = np.sqrt((np.outer(d, d) + pop.sigma ** 2) / n)
    assert np.all(np.abs(s - pop.sigma) < 5 * se_cov)
    assert np.all(np.abs(data.mean().to_numpy() - pop.mu) < 5 * np.sqrt(d / n))


def test_vale_maurelli_data_have_the_target_moments():
    n = 100_000
    skew, kurt = [0, 1, -1, 1.5, 0.5, 0], [0, 3, 3, 4, 1, 2]
    data = se.simulate_data(CFA, n, seed=9, skew=skew, kurtosis=kurt)
    pop = simulate.population(CFA)
    # Sample skewness and kurtosis converge slowly under heavy tails: SE(g1) ≈ √(6/n)·(1 + γ₂)^½ is
    # about 0.016 here at most, SE(g2) several times that; the tolerances are about 5 such SEs.
    np.testing.assert_allclose(stats.skew(data), skew, atol=0.08)
    np.testing.assert_allclose(stats.kurtosis(data), kurt, atol=0.5)
    np.testing.assert_allclose(np.cov(data.to_numpy(), rowvar=False), pop.sigma, atol=0.03)


def test_unspecified_regression_warns_and_is_zero():
    with pytest.warns(SemWarning, match="y ~ z"):
        pop = simulate.population("f =~ 0.7*x1 + 0.7*x2 + 0.7*x3\ny ~ 0.4*f + z")
    names = list(pop.names)
    assert pop.sigma[names.index("y"), names.index("z")] == 0


def test_single_indicator_keeps_residual_variance_as_lavaan():
    pop = simulate.population("f =~ 0.5*x1\ng =~ 0.6*x2 + 0.6*x3 + 0.6*x4")
    assert pop.sigma[0, 0] == pytest.approx(0.25 + 1.0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 0}, se.DataError, "positive whole number"),
    ({"n": 2.5}, se.DataError, "positive whole number"),
    ({"skew": [1, 2]}, se.DataError, "2 values for 6 variables"),
    ({"skew": {"x9": 1}}, se.DataError, "not in the model: x9"),
    ({"skew": 2.0, "kurtosis": 0.0}, se.DataError, "no Fleishman polynomial"),
    ({"kurtosis": float("nan")}, se.DataError, "finite"),
])
def test_bad_arguments_raise_typed_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        se.simulate_data(CFA, **{"n": 10, **kwargs})


def test_impossible_population_raises_model_error():
    with pytest.raises(se.ModelError, match="variance of zero or less"):
        se.simulate_data("f =~ 0.7*x1 + 0.7*x2\nx1 ~~ -1*x1", 10)
    with pytest.raises(se.ModelError, match="not positive definite"):
        se.simulate_data("x1 ~~ 1*x1\nx2 ~~ 1*x2\nx1 ~~ 1.5*x2", 10)
