"""sem_engine.distributions against scipy.stats (the reference here; the package no longer imports it)."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from sem_engine import distributions as d


@settings(max_examples=200, deadline=None)
@given(x=st.floats(1e-3, 5e3), df=st.integers(1, 600), nc=st.floats(1e-6, 2e3))
def test_noncentral_upper_tail_keeps_its_digits(x, df, nc):
    ref = stats.ncx2.sf(x, df, nc)
    ours = d.ncx2_sf(x, df, nc)
    if ref > 1e-100:
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-300)
    elif ref > 1e-200:    # scipy's own far tail carries ~1e-9 error here (see the exact test below)
        assert ours == pytest.approx(ref, rel=1e-8)
    else:                 # below, chdtrc itself works in the subnormal range
        assert ours < 1e-190
    assert d.ncx2_cdf(x, df, nc) == pytest.approx(stats.ncx2.cdf(x, df, nc), rel=1e-12, abs=1e-300)


def _exact_ncx2_sf(x, df, nc):
    """The Poisson mixture summed in 40-digit arithmetic (mpmath), every term from j = 0."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(40):
        half, total, j = mp.mpf(nc) / 2, mp.mpf(0), 0
        while True:
            term = mp.exp(-half + j * mp.log(half) - mp.loggamma(j + 1)) * mp.gammainc(
                mp.mpf(df) / 2 + j, mp.mpf(x) / 2, mp.inf, regularized=True)
            total += term
            j += 1
            if j > half and term < total * mp.mpf(10) ** -30:
                return float(total)


@pytest.mark.parametrize("x, df, nc", [(3880.0, 85, 977.0),   # scipy.stats: 1.6e-9 off here
                                       (150.0, 10, 20.0), (40.0, 3, 1.5), (900.0, 300, 250.0)])
def test_noncentral_upper_tail_is_exact_to_the_last_digits(x, df, nc):
    assert d.ncx2_sf(x, df, nc) == pytest.approx(_exact_ncx2_sf(x, df, nc), rel=1e-11)


def test_upper_tail_far_beyond_one_minus_cdf():
    # 1 - cdf is exactly 0 here; the mixture sum is not
    assert 1.0 - d.ncx2_cdf(300.0, 50, 10.0) == 0.0
    assert d.ncx2_sf(300.0, 50, 10.0) == pytest.approx(stats.ncx2.sf(300.0, 50, 10.0), rel=1e-12)
    assert d.ncx2_sf(12.0, 4, 0.0) == pytest.approx(stats.chi2.sf(12.0, 4), rel=1e-14)


@given(p=st.floats(1e-12, 1 - 1e-12), df=st.integers(1, 500))
def test_central_quantile_inverts_the_tail(p, df):
    x = d.chi2_ppf(p, df)
    assert x == pytest.approx(stats.chi2.ppf(p, df), rel=1e-10)
    assert d.chi2_sf(x, df) == pytest.approx(1 - p, rel=1e-8, abs=1e-15)


@given(z=st.floats(-30, 30))
def test_normal(z):
    assert d.norm_cdf(z) == pytest.approx(stats.norm.cdf(z), rel=1e-14, abs=1e-300)
    assert d.norm_sf(z) == pytest.approx(stats.norm.sf(z), rel=1e-14, abs=1e-300)
    p = float(d.norm_cdf(-abs(z)))     # the lower tail: near 1, cdf itself rounds away the digits
    if p > 1e-300:
        assert d.norm_ppf(p) == pytest.approx(-abs(z), rel=1e-9, abs=1e-9)
        assert d.norm_ppf(p) == pytest.approx(stats.norm.ppf(p), rel=1e-14, abs=1e-300)


def test_root_matches_brent():
    from scipy.optimize import brentq

    for chisq, df in ((30.0, 10), (250.0, 40), (5.0, 1)):
        fn = lambda lam: d.ncx2_cdf(chisq, df, lam) - 0.05   # noqa: E731
        assert d.root(fn, 0.0, 4 * chisq) == pytest.approx(brentq(fn, 0.0, 4 * chisq, xtol=1e-13), abs=1e-10)
    assert np.isnan(d.root(lambda x: np.nan if 0.1 < x < 0.9 else x - 0.95, 0.0, 1.0))
    assert np.isnan(d.root(lambda x: x + 1.0, 0.0, 1.0))      # no sign change
    assert np.isnan(d.ncx2_sf(np.nan, 5, 3.0))                # ends (it used to loop forever)


def test_import_leaves_out_scipy_stats_and_optimize():
    """A fit needs neither; a fresh process pays about a second for them (issue 17)."""
    code = ("import sys, sem_engine; "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('scipy.')} & {'stats', 'optimize'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
