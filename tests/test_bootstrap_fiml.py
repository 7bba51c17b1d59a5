"""The bootstrap of FIML fits (missing="ml"): rows resampled with their holes.  Each replicate
against a single FIML fit of its resampled rows, bootstrap SEs against the observed-information
SEs of simulated normal data, and the intervals against the draws."""

import warnings
from functools import lru_cache

import jax
import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from sem_engine import bootstrap as boot_module, missing
from reference_cases import ROOT
from test_bootstrap import slow_interval

MISSING = ROOT / "tests" / "reference" / "missing"
HS_MODEL = """visual =~ x1 + a*x2 + x3
textual =~ x4 + b*x5 + x6
speed =~ x7 + x8 + x9
ab := a*b"""
SEED = 4


@lru_cache(maxsize=None)
def hs():
    return se.cfa(HS_MODEL, data=pd.read_csv(MISSING / "hs_missing.csv"), missing="ml")


@lru_cache(maxsize=None)
def boot():
    return hs().bootstrap(100, seed=SEED, ci="perc", progress=False)


@lru_cache(maxsize=None)
def mimic():
    model = (MISSING / "mimic_fiml" / "model.lav").read_text()
    with warnings.catch_warnings():  # rows missing a fixed covariate are dropped
        warnings.simplefilter("ignore", se.DataWarning)
        return model, se.sem(model, data=pd.read_csv(MISSING / "mimic_missing.csv"), missing="ml")


def single_fit(model, fit, rows):
    """A FIML fit of the resampled rows (a data frame of the model's variables)."""
    return se.sem(model, data=pd.DataFrame(fit.data.rows[rows], columns=fit.spec.ov), missing="ml")


def test_replicates_equal_single_fiml_fits_of_their_resampled_rows():
    fit, b = hs(), boot()
    assert b.n_failed == 0 and b.rows.shape == fit.data.rows.shape and np.isnan(b.rows).any()
    for r in range(4):
        np.testing.assert_allclose(single_fit(HS_MODEL, fit, b.indices(r)[0]).x, b.x[r], rtol=1e-6, atol=1e-6)


def test_replicates_with_fixed_covariates_use_their_own_covariate_moments():
    """MIMIC: the fixed.x variances, covariances and means of ageyr and sex are the replicate's."""
    model, fit = mimic()
    b = fit.bootstrap(20, seed=1, ci="perc", progress=False)
    assert b.n_failed == 0
    std_all = boot_module.statistic(fit, "std.all")
    for r in range(3):
        one = single_fit(model, fit, b.indices(r)[0])
        np.testing.assert_allclose(one.x, b.x[r], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(std_all(b.x[r], replicate_moments(b, r)),
                                   one.standardized("std.all")["est_std"], atol=1e-6)


def replicate_moments(b, r: int):
    """The moments the bootstrap built for replicate r."""
    return jax.tree.map(lambda a: a[0], b.replicates("resample").moments(np.array([r])))


def test_pattern_moments_of_a_replicate_equal_those_of_its_resampled_rows():
    """The weighted segment sums over the original rows equal the moments of the drawn rows."""
    fit, b = hs(), boot()
    m = replicate_moments(b, 7)
    rows = fit.data.rows[b.indices(7)[0]]
    masks, count, mean, cov = missing.pattern_moments(rows)
    drawn = {tuple(o): k for k, o in enumerate(masks)}
    mask = np.asarray(m.patterns.mask)
    got = np.asarray(m.patterns.count)
    for k, o in enumerate(mask):
        j = drawn.get(tuple(o))
        if j is None:  # a pattern the replicate did not draw: no rows, zero moments
            assert got[k] == 0 and not np.asarray(m.patterns.mean)[k].any()
            continue
        assert got[k] == count[j]
        np.testing.assert_allclose(np.asarray(m.patterns.mean)[k], mean[j], atol=1e-12)
        np.testing.assert_allclose(np.asarray(m.patterns.cov)[k], cov[j], atol=1e-12)
    assert float(m.n) == rows.shape[0] == got.sum()


def test_same_seed_same_numbers_whatever_the_batch_size():
    fit, b = hs(), boot()
    again = fit.bootstrap(100, seed=SEED, ci="perc", batch_size=32, progress=False)
    np.testing.assert_allclose(again.x, b.x, rtol=1e-10, atol=1e-12)
    assert not np.allclose(fit.bootstrap(20, seed=SEED + 1, ci="perc", progress=False).x, b.x[:20])


def test_percentile_interval_of_a_defined_parameter_and_standardized_values():
    fit, b = hs(), boot()
    table = b.estimates()
    label = dict(zip(fit.partable.table["label"], fit.partable.table["free"] - 1))
    ab = b.x[:, label["a"]] * b.x[:, label["b"]]
    row = table.iloc[int(np.flatnonzero(table["label"] == "ab")[0])]
    est = fit.x[label["a"]] * fit.x[label["b"]]
    (lower, upper), _, _ = slow_interval(ab, est, None, "perc", 0.95)
    assert row["est"] == pytest.approx(est, rel=1e-12)
    assert row["boot_se"] == pytest.approx(np.std(ab, ddof=1), rel=1e-9)
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx((lower, upper), rel=1e-9)
    std = b.standardized("std.all")
    np.testing.assert_allclose(std["est_std"], fit.standardized("std.all")["est_std"], rtol=1e-9, atol=1e-12)
    free = (fit.partable.table["free"] > 0).to_numpy()
    assert (std["boot_se"].to_numpy()[:len(free)][free] > 0).all()


def test_bca_jackknife_leaves_one_row_out():
    fit, b = hs(), boot()
    x, ok = b.jackknife
    assert ok.all() and x.shape == (fit.data.rows.shape[0], fit.n_free)
    rows = np.delete(np.arange(fit.data.rows.shape[0]), 5)
    np.testing.assert_allclose(single_fit(HS_MODEL, fit, rows).x, x[5], rtol=1e-6, atol=1e-6)
    table = b.estimates(ci="bca")
    assert np.all(table["ci_lower"] <= table["ci_upper"])


@pytest.mark.timeout(300, method="thread")
def test_hundreds_of_replicates_in_one_batch_give_ses_near_the_observed_information():
    """Normal data (N = 1000) simulated from the fitted model, 12% of the values deleted at random:
    bootstrap SEs of 300 replicates in one batch approximate the observed-information SEs (Monte
    Carlo error of an SE from 300 draws: about 4%).  The thread-method timeout ends a hang (see
    test_bootstrap.py) instead of stalling CI."""
    ref = hs()
    sigma, mu = ref.implied_arrays
    rng = np.random.default_rng(12)
    data = rng.multivariate_normal(mu, sigma, size=1000)
    data[rng.uniform(size=data.shape) < 0.12] = np.nan
    frame = pd.DataFrame(data, columns=ref.spec.ov).dropna(how="all")
    fit = se.cfa(HS_MODEL, data=frame, missing="ml")
    b = fit.bootstrap(300, seed=1, ci="perc", batch_size=300, progress=False)
    assert b.n_failed == 0
    free = (fit.partable.table["free"] > 0).to_numpy()
    boot_se = b.estimates()["boot_se"].to_numpy()[:len(free)]
    np.testing.assert_allclose(boot_se[free], fit.estimates()["se"].to_numpy()[:len(free)][free], rtol=0.2)


def test_spread_of_the_draws_matches_lavaans_bootstrap():
    """lavaan's 1,000 draws (make_fiml_bootstrap_fixtures.R) against 500 of ours: per parameter
    the interquartile range and the 5-95% width agree within Monte Carlo error (measured ratios
    0.82-1.17 over three seeds) and the medians within a quarter of lavaan's IQR."""
    ref = pd.read_csv(MISSING / "hs_fiml_bootstrap" / "quantiles.csv", keep_default_na=False)
    fit = hs()
    with warnings.catch_warnings():  # about 1 in 1,000 resamples of HS is empirically underidentified
        warnings.simplefilter("ignore", se.ConvergenceWarning)
        b = fit.bootstrap(500, seed=1, ci="perc", progress=False)
    assert b.n_failed <= 2
    table = fit.partable.table
    free = table[table["free"] > 0]
    merged = ref.merge(free.assign(k=free["free"] - 1), on=["lhs", "op", "rhs"], validate="one_to_one")
    assert len(merged) == len(free) == fit.n_free
    q05, q25, q50, q75, q95 = np.quantile(b.x[b.ok][:, merged["k"]], [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    iqr = (merged["q75"] - merged["q25"]).to_numpy()
    assert np.all(np.abs((q75 - q25) / iqr - 1) < 0.25)
    assert np.all(np.abs((q95 - q05) / (merged["q95"] - merged["q05"]).to_numpy() - 1) < 0.2)
    assert np.all(np.abs(q50 - merged["q50"].to_numpy()) < 0.25 * iqr)


def test_bollen_stine_and_replicate_chisquare_are_refused():
    with pytest.raises(se.ModelError, match="Bollen-Stine"):
        hs().bootstrap(10, kind="bollen_stine")
    with pytest.raises(se.ModelError, match="EM"):
        _ = boot().chisq
