"""Issue 22's reproductions: every bad input gets a typed error (SemError) that names the problem,
every model lavaan fits is fitted, and what is not estimable is said as a warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from sem_engine.errors import SemError

HS = se.datasets.holzinger_swineford_1939()
ONE = "f =~ x1 + x2 + x3"
COV = HS[["x1", "x2", "x3"]].cov()


def lavaan(case: str) -> tuple[pd.DataFrame, dict]:
    """lavaan 0.6.14's estimates and fit of a case (tests/reference/make_scale_fixtures.R)."""
    folder = Path(__file__).parent / "reference" / "scale"
    fit = pd.read_csv(folder / f"{case}_fit.csv")
    return pd.read_csv(folder / f"{case}_estimates.csv"), dict(zip(fit["measure"], fit["value"]))


def test_fixed_x_false_covariates_fit_as_lavaan():
    """lavaan fits this model (χ² = 50.25 on 17 df); sem_engine raised numpy's LinAlgError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", se.DataWarning)
        fit = se.sem("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; visual ~ ageyr; textual ~ ageyr + grade",
                     data=HS, fixed_x=False)
    estimates, measures = lavaan("mimic_free_x")
    assert fit.converged and fit.df == measures["df"] and fit.npar == measures["npar"]
    for key in ("chisq", "cfi", "rmsea", "srmr"):
        assert fit.fit_measures()[key] == pytest.approx(measures[key], rel=1e-5, abs=1e-7), key
    ours = fit.estimates().merge(estimates, on=["lhs", "op", "rhs"], suffixes=("", "_lavaan"))
    assert len(ours) == len(estimates)
    np.testing.assert_allclose(ours["est"], ours["est_lavaan"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours["se"], ours["se_lavaan"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("model, match", [
    (ONE + "\nf ~~ -1*f", "not positive definite at the start values"),
    ("g =~ f\nf =~ g", "no observed variables"),
    (ONE + "\na := 1\na == 1", "defined parameter"),
])
def test_models_that_cannot_be_fitted_say_why(model, match):
    with pytest.raises(se.ModelError, match=match):
        se.cfa(model, data=HS)


@pytest.mark.parametrize("scale", [1e-150, 1e200])
def test_data_beyond_float64_is_a_data_error(scale):
    d = pd.DataFrame({"a": HS.x1 * scale, "b": HS.x1 * scale, "c": HS.x2 * scale})
    d.loc[:5, "c"] = np.nan
    with pytest.raises(se.DataError, match="outside the range"):
        se.sem("a ~~ b\nb ~~ c", data=d, missing="ml")


@pytest.mark.parametrize("nobs", [float("nan"), float("inf"), [301], -5, 2.5, "301", None, True])
def test_sample_nobs_is_validated(nobs):
    with pytest.raises(se.DataError, match="sample_nobs must be a whole number"):
        se.cfa(ONE, sample_cov=COV, sample_nobs=nobs)


def test_huge_sample_nobs_gives_numbers_not_a_scipy_error():
    fit = se.cfa("f =~ x1 + x2 + x3 + x4", sample_cov=HS[["x1", "x2", "x3", "x4"]].cov(), sample_nobs=10**12)
    measures = fit.fit_measures()
    assert np.isfinite(measures["chisq"]) and np.isfinite(measures["rmsea"])


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.set_axis(["x1", "x1", "x3"], axis=1), "several columns named x1"),
    (lambda d: d.assign(x2=d.x2.where(d.index != 3, np.inf)), "x2 have infinite values"),
    (lambda d: d.astype(complex), "complex-valued"),
    (lambda d: d.iloc[:0], "0 complete rows"),
])
def test_bad_data_columns_are_named(mutate, match):
    data = mutate(HS[["x1", "x2", "x3"]].copy())
    model = "f =~ x1 + x3" if "x2" not in data.columns else ONE
    with pytest.raises(se.DataError, match=match):
        se.cfa(model, data=data)


def test_infinite_value_under_fiml_is_named():
    data = HS.copy()
    data.loc[3, "x2"] = np.inf
    with pytest.raises(se.DataError, match="x2 have infinite values"):
        se.cfa(ONE, data=data, missing="ml")


def test_nullable_integer_columns_with_missing_values():
    data = (HS[["x1", "x2", "x3", "x4"]] * 1000).round().astype("Int64")
    data.loc[5, "x2"] = pd.NA
    plain = data.astype("float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", se.DataWarning)
        a = se.cfa("f =~ x1 + x2 + x3 + x4", data=data)
        b = se.cfa("f =~ x1 + x2 + x3 + x4", data=plain)
    assert a.nobs == b.nobs == 300
    assert a.chisq == pytest.approx(b.chisq, rel=1e-12)


@pytest.mark.parametrize("cov, match", [
    (COV.to_numpy().tolist(), "list of rows"),
    (COV.astype(str), "must hold numbers"),
])
def test_bad_sample_cov(cov, match):
    with pytest.raises(se.DataError, match=match):
        se.cfa(ONE, sample_cov=cov, sample_nobs=301)


def test_a_tiny_group_is_named():
    data = pd.concat([HS, HS.iloc[:3].assign(school="Tiny")])
    with pytest.raises(se.DataError, match="group Tiny: .*not positive definite"):
        se.cfa(ONE, data=data, group="school")


@pytest.mark.parametrize("options, match", [
    (dict(std_lv="false"), "std_lv='false' must be True or False"),
    (dict(std_lv="yes"), "must be True or False"),
    (dict(max_iter=-1), "max_iter=-1 must be a whole number of at least 1"),
    (dict(max_iter="abc"), "max_iter"),
    (dict(level="abc"), "level='abc' must be a finite number"),
    (dict(grad_tol=0.0), "grad_tol"),
    (dict(missing=3), "missing=3 must be a string"),
])
def test_options_are_validated(options, match):
    with pytest.raises(se.ModelError, match=match):
        se.cfa(ONE, data=HS, **options)


def test_numpy_booleans_are_booleans():
    assert se.cfa(ONE, data=HS, std_lv=np.bool_(True)).options.std_lv is True


def test_a_huge_user_start_value_is_not_a_false_convergence():
    """start(1e6) used to 'converge' to χ² = 111 for a saturated model (a loading running off
    to infinity with the factor variance to 0).  lavaan converges from it; sem_engine's search
    stops short, refits from the default start values and says so."""
    with pytest.warns(se.ConvergenceWarning, match="did not converge from the start values given"):
        fit = se.cfa("f =~ x1 + start(1e6)*x2 + x3", data=HS)
    clean = se.cfa(ONE, data=HS)
    assert fit.converged and fit.chisq == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(fit.x, clean.x, rtol=1e-8)


def test_improper_solutions_are_reported_where_users_look():
    """A latent correlation above 1 (lavaan: the covariance matrix of latent variables is not
    positive definite) is a warning at fit time and a WARNING line in summary() and print()."""
    with pytest.warns(se.HeywoodWarning, match=r"latent variables is not positive definite.*a~~b = 1\.0"):
        fit = se.cfa("a =~ x4 + x5\nb =~ x6 + x7", data=HS)
    assert "latent variables is not positive definite" in str(fit.summary())
    assert "latent variables is not positive definite" in str(fit)


def test_no_raw_numpy_warning_from_a_heywood_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", se.HeywoodWarning)
        fit = se.cfa("a =~ x4 + x5\nb =~ x6 + x7", data=HS)
        str(fit.summary())
        fit.estimates()
        fit.standardized()
        fit.fit_measures()
        fit.modification_indices()


def test_errors_are_sem_errors():
    for exc in (se.ModelError, se.DataError, se.IdentificationError, se.ModelSyntaxError):
        assert issubclass(exc, SemError)


def test_unavailable_standard_errors_are_said_in_every_table():
    """Two 2-indicator factors whose covariance is estimated at 0 (empirical underidentification:
    each loading then rests on one covariance): the information is singular at the estimates.
    The SEs are NaN in estimates(), "NA" (lavaan's) in summary() and the APA tables, and a
    WARNING line in summary(), print(fit) and the tables' note, never a blank cell."""
    s = np.array([[1, .5, 0, 0], [.5, 1, 0, 0], [0, 0, 1, .4], [0, 0, .4, 1.]])
    names = ["x1", "x2", "x3", "x4"]
    with pytest.warns(se.ConvergenceWarning, match="standard errors are not available; parameters involved: f1=~x2"):
        fit = se.cfa("f1 =~ x1 + x2; f2 =~ x3 + x4", sample_cov=pd.DataFrame(s, names, names), sample_nobs=200)
    est = fit.estimates()
    assert est.set_index(["lhs", "op", "rhs"]).loc[[("f1", "=~", "x2"), ("f2", "=~", "x4")], "se"].isna().all()
    summary = str(fit.summary())
    assert "** WARNING ** standard errors are not available" in summary and "** WARNING **" in str(fit)
    loading = next(line for line in summary.splitlines() if line.strip().startswith("x2"))
    assert loading.split()[1:3] == ["0.943", "NA"]
    tables = fit.to_markdown()
    assert "| x2 | 0.943 | NA | 0.687 | NA |" in tables
    assert "WARNING: standard errors are not available" in tables
