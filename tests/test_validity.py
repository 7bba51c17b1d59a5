"""Reliability, HTMT and discriminant validity against semTools 0.5 / lavaan 0.6 output.

Fixtures: tests/reference/validity/ (make_fixtures.R) and tests/reference/validity_extra/
(make_validity_fixtures.R).  The Fornell–Larcker AVE and CR are computed here from lavaan's
standardized solution (std_all.csv), independently of sem_engine's standardization.
"""

import dataclasses
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from reference_cases import REFERENCE, fitted, read, read_matrix
from sem_engine import validity
from sem_engine.moments import Moments

TOL = 1e-6
HS_CASES = ["hs_cfa", "hs_cfa_rescov"]
EXTRA = REFERENCE / "validity_extra"
EXTRA_CASES = ["thesis4", "crossload_single", "two_outcomes", "mimic"]


def close(actual, expected, what, tol=TOL):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, what
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), (what, actual, expected)
    ok = np.isnan(expected) | (np.abs(actual - expected) <= tol)
    assert ok.all(), f"{what}: {actual} vs {expected}"


def semtools(path) -> pd.Series:
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    return frame.set_index("factor")["value"]


@lru_cache(maxsize=None)
def extra_fit(case: str) -> se.Fit:
    if case in ("two_outcomes", "mimic"):
        return fitted(case)
    model = (EXTRA / case / "model.lav").read_text()
    data = (pd.read_csv(EXTRA / case / "data.csv") if (EXTRA / case / "data.csv").exists()
            else se.datasets.holzinger_swineford_1939())
    return se.sem(model, data=data)


def fornell_larcker_from_lavaan(std: pd.DataFrame) -> pd.DataFrame:
    """AVE and CR of Fornell & Larcker (1981) from lavaan's std.all loadings and residual variances."""
    loads = std[std["op"] == "=~"]
    theta = std[(std["op"] == "~~") & (std["lhs"] == std["rhs"])].set_index("lhs")["est_std"]
    out = {}
    for factor, rows in loads.groupby("lhs", sort=False):
        lam = rows["est_std"].to_numpy()
        err = theta.loc[rows["rhs"]].sum()
        out[factor] = {"ave": np.sum(lam ** 2) / (np.sum(lam ** 2) + err),
                       "cr": np.sum(lam) ** 2 / (np.sum(lam) ** 2 + err)}
    return pd.DataFrame(out).T


# -- Holzinger–Swineford, with and without residual covariances ---------------------------------
@pytest.mark.parametrize("case", HS_CASES)
def test_semtools_omega_ave_alpha(case):
    fit = fitted(case)
    ref = REFERENCE / "validity"
    rel = read("validity", f"{case}_reliability.csv").set_index("measure")
    obs = fit.reliability(cr_method="omega")
    implied = fit.reliability(cr_method="omega_implied")
    close(obs["ave"], semtools(ref / f"{case}_AVE.csv").loc[obs.index], "AVE()")
    close(obs["cr"], semtools(ref / f"{case}_compRelSEM.csv").loc[obs.index], "compRelSEM()")
    close(obs["omega"], semtools(ref / f"{case}_compRelSEM.csv").loc[obs.index], "omega column")
    close(implied["cr"], semtools(ref / f"{case}_compRelSEM_obs_var_false.csv").loc[obs.index],
          "compRelSEM(obs.var=FALSE)")
    close(implied["cr"], rel.loc["omega", obs.index], "reliability() omega")
    close(obs["cr"], rel.loc["omega3", obs.index], "reliability() omega3")
    close(implied["ave"], rel.loc["avevar", obs.index], "reliability() avevar")
    close(obs["alpha"], semtools(ref / f"{case}_compRelSEM_tau_eq.csv").loc[obs.index], "tau.eq alpha")
    psych = read("validity", "psych_alpha.csv").set_index("factor")
    close(obs["alpha"], psych.loc[obs.index, "raw_alpha"], "psych alpha")
    assert (obs["n_indicators"] == 3).all()


@pytest.mark.parametrize("case", HS_CASES)
def test_fornell_larcker_default(case):
    fit = fitted(case)
    ours = fit.reliability()
    expected = fornell_larcker_from_lavaan(read(case, "std_all.csv"))
    close(ours["ave"], expected.loc[ours.index, "ave"], "AVE (Fornell-Larcker)")
    close(ours["cr"], expected.loc[ours.index, "cr"], "CR (Fornell-Larcker)")
    assert ours.attrs["cr_method"] == "fornell_larcker"
    assert ours["cr_method"].str.contains("Fornell-Larcker").all()


def test_methods_differ_on_visual_and_are_named():
    """The issue's example: compRelSEM .612 (observed), .625 (implied), Fornell-Larcker .626."""
    fit = fitted("hs_cfa")
    ref = REFERENCE / "validity"
    crs = {m: fit.reliability(cr_method=m).loc["visual", "cr"] for m in validity.CR_METHODS}
    assert crs["omega"] == pytest.approx(semtools(ref / "hs_cfa_compRelSEM.csv")["visual"], abs=TOL)
    assert crs["omega_implied"] == pytest.approx(
        semtools(ref / "hs_cfa_compRelSEM_obs_var_false.csv")["visual"], abs=TOL)
    assert len({round(v, 4) for v in crs.values()}) == 3
    names = {fit.reliability(cr_method=m)["cr_method"].iloc[0] for m in validity.CR_METHODS}
    assert len(names) == 3
    with pytest.raises(se.ModelError, match="cr_method"):
        fit.reliability(cr_method="raykov")


def test_residual_covariance_note():
    rel = fitted("hs_cfa_rescov").reliability()
    assert "x2~~x3" in rel.loc["visual", "note"] and "x7~~x8" in rel.loc["speed", "note"]
    assert rel.loc["textual", "note"] == ""
    assert fitted("hs_cfa").reliability()["note"].eq("").all()


@pytest.mark.parametrize("case", HS_CASES)
def test_htmt_against_semtools(case):
    fit = fitted(case)
    for suffix, kwargs in [("htmt", {}), ("htmt_htmt2", {"htmt2": True}), ("htmt_htmt2_false", {"htmt2": False})]:
        ref = read_matrix("validity", f"{case}_{suffix}.csv")
        ours = fit.htmt(**kwargs)
        close(ours.loc[ref.index, ref.columns].to_numpy(), ref.to_numpy(), f"{case} {suffix}")


def test_htmt_from_data_and_from_covariance():
    model = (REFERENCE / "hs_cfa" / "model.lav").read_text()
    hs = se.datasets.holzinger_swineford_1939()
    s = read_matrix("hs_cfa", "sample_cov.csv")
    for htmt2, suffix in [(True, ""), (False, "_htmt2_false")]:
        ref = read_matrix("validity", f"hs_cfa_htmt{suffix}.csv")
        ours = validity.htmt_from_data(model, hs, htmt2=htmt2)
        close(ours.loc[ref.index, ref.columns].to_numpy(), ref.to_numpy(), f"data{suffix}")
        ref = read_matrix("validity", f"hs_cfa_htmt_sample_cov{suffix}.csv")
        ours = validity.htmt_from_data(model, sample_cov=s, htmt2=htmt2)
        close(ours.loc[ref.index, ref.columns].to_numpy(), ref.to_numpy(), f"sample_cov{suffix}")
    with pytest.raises(se.DataError, match="x9"):
        validity.htmt_from_data(model, hs.drop(columns="x9"))


# -- further models: thesis-like 4-factor CFA, cross-loading, structural, MIMIC -------------------
@pytest.mark.parametrize("case", EXTRA_CASES)
def test_extra_cases_against_semtools(case):
    fit = extra_fit(case)
    ref = pd.read_csv(EXTRA / case / "fit.csv").set_index("measure")["value"]
    assert fit.chisq == pytest.approx(ref["chisq"], rel=1e-5)
    obs = fit.reliability(cr_method="omega")
    implied = fit.reliability(cr_method="omega_implied")
    factors = semtools(EXTRA / case / "compRelSEM.csv").index
    close(obs.loc[factors, "ave"], semtools(EXTRA / case / "AVE.csv").loc[factors], f"{case} AVE")
    close(implied.loc[factors, "ave"], semtools(EXTRA / case / "AVE_obs_var_false.csv").loc[factors],
          f"{case} AVE(obs.var=FALSE)")
    close(obs.loc[factors, "cr"], semtools(EXTRA / case / "compRelSEM.csv"), f"{case} compRelSEM")
    close(implied.loc[factors, "cr"], semtools(EXTRA / case / "compRelSEM_obs_var_false.csv"),
          f"{case} compRelSEM(obs.var=FALSE)")
    close(obs.loc[factors, "alpha"], semtools(EXTRA / case / "compRelSEM_tau_eq.csv"), f"{case} alpha")
    if (EXTRA / case / "htmt.csv").exists():
        for name, htmt2 in [("htmt.csv", True), ("htmt_htmt2_false.csv", False)]:
            expected = pd.read_csv(EXTRA / case / name, index_col=0)
            ours = fit.htmt(htmt2=htmt2).loc[expected.index, expected.columns]
            close(ours.to_numpy(), expected.to_numpy(), f"{case} {name}")


@pytest.mark.parametrize("case", EXTRA_CASES)
def test_extra_cases_fornell_larcker(case):
    fit = extra_fit(case)
    expected = fornell_larcker_from_lavaan(pd.read_csv(EXTRA / case / "std_all.csv"))
    ours = fit.reliability().loc[expected.index]
    expected = expected[ours["n_indicators"] >= 2]
    ours = ours.loc[expected.index]
    pure = ~ours["note"].str.contains("cross-loading")
    close(ours.loc[pure, "ave"], expected.loc[pure, "ave"], f"{case} AVE")
    close(ours.loc[pure, "cr"], expected.loc[pure, "cr"], f"{case} CR")
    assert ours.loc[~pure, ["ave", "cr"]].isna().all().all()


def test_discriminant_validity_thesis4():
    fit = extra_fit("thesis4")
    dv = fit.discriminant_validity()
    cor = pd.read_csv(EXTRA / "thesis4" / "cor_lv.csv", index_col=0)
    htmt = pd.read_csv(EXTRA / "thesis4" / "htmt.csv", index_col=0)
    fl = fornell_larcker_from_lavaan(pd.read_csv(EXTRA / "thesis4" / "std_all.csv"))
    names = list(cor.index)
    table = dv.fornell_larcker.loc[names, names].to_numpy()
    close(np.diag(table), np.sqrt(fl.loc[names, "ave"]), "sqrt(AVE) diagonal")
    low = np.tril_indices(len(names), -1)
    close(table[low], cor.to_numpy()[low], "factor correlations")
    assert np.isnan(table[np.triu_indices(len(names), 1)]).all()
    assert len(dv.pairs) == len(names) * (len(names) - 1) // 2
    for _, row in dv.pairs.iterrows():
        a, b = row["factor_a"], row["factor_b"]
        r, h = cor.loc[a, b], htmt.loc[a, b]
        assert row["cor"] == pytest.approx(r, abs=TOL) and row["htmt"] == pytest.approx(h, abs=TOL)
        fl_ok = abs(r) < min(np.sqrt(fl.loc[a, "ave"]), np.sqrt(fl.loc[b, "ave"]))
        assert bool(row["fornell_larcker"]) == fl_ok
        assert bool(row["htmt_below_085"]) == (h < 0.85) and bool(row["htmt_below_090"]) == (h < 0.90)
        assert (row["flag"] == "") == (fl_ok and h < 0.85)
    text = str(dv)
    assert "Fornell-Larcker" in text and "att" in text


def test_validity_report_thesis4():
    """The thesis setting: a 4-factor CFA with residual covariances among one factor's items."""
    fit = extra_fit("thesis4")
    report = fit.validity_report()
    fl = fornell_larcker_from_lavaan(pd.read_csv(EXTRA / "thesis4" / "std_all.csv"))
    cor = pd.read_csv(EXTRA / "thesis4" / "cor_lv.csv", index_col=0).abs()
    htmt = pd.read_csv(EXTRA / "thesis4" / "htmt.csv", index_col=0)
    names = list(cor.index)
    assert list(report.index) == names
    close(report["ave"], fl.loc[names, "ave"], "ave")
    close(report["sqrt_ave"], np.sqrt(fl.loc[names, "ave"]), "sqrt_ave")
    close(report["cr"], fl.loc[names, "cr"], "cr")
    close(report["omega"], semtools(EXTRA / "thesis4" / "compRelSEM.csv").loc[names], "omega")
    off = ~np.eye(len(names), dtype=bool)
    max_cor = cor.where(off).max(axis=1)
    max_htmt = htmt.where(off).max(axis=1)
    close(report["max_abs_cor"], max_cor, "max |r|")
    close(report["max_htmt"], max_htmt, "max HTMT")
    assert (report["ave_ok"] == (fl.loc[names, "ave"] >= 0.5)).all()
    assert (report["cr_ok"] == (fl.loc[names, "cr"] >= 0.7)).all()
    assert (report["fornell_larcker_ok"] == (np.sqrt(fl.loc[names, "ave"]) > max_cor)).all()
    assert (report["htmt_ok"] == (max_htmt < 0.85)).all()
    assert "a1~~a2" in report.loc["att", "note"] and "a3~~a4" in report.loc["att", "note"]
    assert report.attrs["thresholds"] == {"ave": 0.5, "cr": 0.7, "htmt": 0.85}
    assert "att" in report.to_string()
    strict = fit.validity_report(htmt_max=0.5)
    assert (strict["htmt_ok"] == (max_htmt < 0.5)).all()


def test_cross_loading_and_single_indicator_notes():
    fit = extra_fit("crossload_single")
    report = fit.validity_report()
    assert report.loc[["visual", "speed"], ["ave", "cr", "sqrt_ave"]].isna().all().all()
    assert "x9 (also on speed)" in report.loc["visual", "note"]
    assert "x9 (also on visual)" in report.loc["speed", "note"]
    assert report.loc[["visual", "speed"], "omega"].notna().all()
    assert report.loc["single", ["ave", "cr", "omega", "alpha"]].isna().all()
    assert "one indicator (x6)" in report.loc["single", "note"]
    assert report.loc["single", ["ave_ok", "cr_ok", "fornell_larcker_ok", "htmt_ok"]].isna().all()
    assert np.isfinite(report.loc["textual", ["ave", "cr", "omega", "alpha"]].astype(float)).all()
    assert report.loc["textual", "note"] == ""
    pairs = fit.discriminant_validity().pairs
    assert pairs.loc[pairs["factor_b"] == "single", "flag"].str.contains("HTMT not defined").all()
    assert pairs["flag"].str.contains("Fornell-Larcker not defined").all()


def test_second_order_factor():
    """hs_second_order is equivalent to hs_cfa: the first-order factors keep semTools' values."""
    rel = fitted("hs_second_order").reliability(cr_method="omega")
    ref = REFERENCE / "validity"
    first = ["visual", "textual", "speed"]
    close(rel.loc[first, "cr"], semtools(ref / "hs_cfa_compRelSEM.csv").loc[first], "first-order omega")
    close(rel.loc[first, "ave"], semtools(ref / "hs_cfa_AVE.csv").loc[first], "first-order AVE")
    assert rel.loc["general", ["ave", "cr", "omega", "alpha"]].isna().all()
    assert "higher-order" in rel.loc["general", "note"]
    dv = fitted("hs_second_order").discriminant_validity()
    assert list(dv.htmt.index) == first


# -- the numeric core is pure JAX -----------------------------------------------------------------
def test_reliability_values_follow_the_sample_covariance():
    """With x held fixed, S -> 1.1 S divides the observed-variance measures (ave_obs, omega_obs) by
    1.1 and leaves the others unchanged (numpy at the estimates: nothing compiled per model)."""
    fit = fitted("hs_cfa")
    m = fit.moments
    scaled = dataclasses.replace(fit, moments=Moments(1.1 * np.asarray(m.s), m.xbar, m.n))
    values, values_scaled = validity.reliability_values(fit), validity.reliability_values(scaled)
    obs = [validity.MEASURES.index(k) for k in ("ave_obs", "omega_obs")]
    scale = np.ones(len(validity.MEASURES))
    scale[obs] = 1 / 1.1
    reported = fit.reliability(cr_method="omega")
    np.testing.assert_allclose(values[:, obs], reported[["ave", "cr"]].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(values_scaled, values * scale[None, :], atol=1e-12)
