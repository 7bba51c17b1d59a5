"""lavaan's parameter-table defaults and FIML score pieces on issue 24's cases (fixtures:
tests/reference/make_defaults_fixtures.R, lavaan 0.6.14).

Each case first compares the set of free parameters with lavaan's (a different model fails by
itself), then estimates, standard errors, fit measures and, under FIML, modification indices.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from reference_cases import REFERENCE, assert_close, keyed

HS = se.datasets.holzinger_swineford_1939()
DEFAULTS = REFERENCE / "defaults"
CASES = {
    "mimic_direct": ("visual =~ x1 + x2 + x3\nvisual ~ ageyr + agemo\nx3 ~ ageyr",
                     dict(data=HS, std_lv=True, fixed_x=False)),
    "indicator_regression": ("visual =~ x1 + x2 + x3\nvisual ~ ageyr\nx3 ~ ageyr", dict(data=HS)),
    "fiml_one_df": ("visual =~ x1 + x2 + 0.5*x3", dict(data="hs_missing", missing="ml")),
    "fiml_three_factor": ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9",
                          dict(data="hs_missing", missing="ml")),
    "fiml_free_x": ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual ~ ageyr + sex\ntextual ~ ageyr",
                    dict(data="mimic_missing", missing="ml", fixed_x=False)),
    "correlated_covariates": ("x1 ~ x5 + x6", dict(data=HS, fixed_x=False)),
}


def _fit(name: str) -> se.Fit:
    model, kwargs = CASES[name]
    kwargs = dict(kwargs)
    if isinstance(kwargs["data"], str):
        kwargs["data"] = pd.read_csv(REFERENCE / "missing" / f"{kwargs['data']}.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", se.DataWarning)
        return se.sem(model, **kwargs)


def _lavaan(name: str, what: str) -> pd.DataFrame:
    return pd.read_csv(DEFAULTS / f"{name}_{what}.csv", keep_default_na=False, na_values=[""])


def _free_keys(frame: pd.DataFrame) -> set:
    return set(keyed(frame).index)


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    return request.param, _fit(request.param)


def test_free_parameters_are_lavaans(case):
    name, fit = case
    lavaan = _lavaan(name, "estimates")
    theirs = _free_keys(lavaan.loc[lavaan["free"]])
    t = fit.partable.table
    ours = _free_keys(t.loc[(t["free"] > 0) & (t["op"] != ":=")])
    assert ours == theirs, f"extra: {sorted(ours - theirs)}, missing: {sorted(theirs - ours)}"


def test_estimates_and_standard_errors(case):
    name, fit = case
    lavaan = keyed(_lavaan(name, "estimates"))
    ours = keyed(fit.estimates()).reindex(lavaan.index)
    assert_close(ours["est"], lavaan["est"], what=f"{name} est")
    assert_close(ours["se"], lavaan["se"], what=f"{name} se")


def test_fit_measures(case):
    name, fit = case
    lavaan = _lavaan(name, "fit").set_index("measure")["value"]
    ours = fit.fit_measures().rename(lambda k: k.replace("_", "."))
    assert_close(ours[lavaan.index], lavaan, what=f"{name} fit measures")


@pytest.mark.parametrize("name", ["fiml_one_df", "fiml_three_factor"])
def test_fiml_modification_indices(name):
    """The observed-data likelihood's score and expected information (lavaan's modindices under
    missing = "ml"); in the one-df model every candidate's index is the same number."""
    lavaan = keyed(_lavaan(name, "mi"))
    ours = keyed(_fit(name).modification_indices())
    assert set(ours.index) == set(lavaan.index)
    ours = ours.reindex(lavaan.index)
    # lavaan's own one-df indices, equal in theory, spread by 3.6e-6 of their value (14.572098 to
    # 14.572150); its three-factor indices differ from these by up to 7e-5 relative, half that in
    # the EPCs (its score, not its information), so the comparison is relative at 1e-4
    rel = np.abs(ours["mi"] / lavaan["mi"] - 1)
    assert rel.max() < 1e-4, rel.sort_values().tail()
    assert_close(ours["epc"], lavaan["epc"], what=f"{name} epc")
    if name == "fiml_one_df":
        mi = ours["mi"].to_numpy()
        np.testing.assert_allclose(mi, mi[0], rtol=1e-9)


def test_sample_means_give_a_mean_structure():
    """lavaan: sample.mean given with sample.cov sets meanstructure = TRUE (free intercepts)."""
    data = HS[["x1", "x2", "x3"]]
    fit = se.cfa("f =~ x1 + x2 + x3", sample_cov=data.cov(), sample_mean=data.mean(), sample_nobs=len(data))
    explicit = se.cfa("f =~ x1 + x2 + x3", sample_cov=data.cov(), sample_mean=data.mean(),
                      sample_nobs=len(data), meanstructure=True)
    assert fit.spec.meanstructure and fit.npar == explicit.npar == 9
    np.testing.assert_allclose(fit.x, explicit.x, rtol=1e-12)


def test_orthogonal_fixes_the_covariances_of_endogenous_factors_too():
    """lavaan's orthogonal = TRUE fixes every default covariance of two latent variables, the
    residual covariance of two endogenous factors included (lav_partable_flat.R)."""
    fit = se.sem("a =~ x1 + x2 + x3\nb =~ x4 + x5 + x6\nc =~ x7 + x8 + x9\nb ~ a\nc ~ a", data=HS,
                 orthogonal=True)
    t = keyed(fit.partable.table)
    assert t.loc[("b", "~~", "c"), "free"] == 0 and t.loc[("b", "~~", "c"), "ustart"] == 0
