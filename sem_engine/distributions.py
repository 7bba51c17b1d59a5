"""The distribution functions of the tests and intervals: normal, χ² and noncentral χ².

One definition of each, on scipy.special's kernels (cephes and Boost, the same ones scipy.stats
calls), so that ``import sem_engine`` does not load scipy.stats and scipy.optimize (about a
second of a fresh process, issue 17).  R's ``pnorm``/``qnorm``/``pchisq``/``qchisq`` are what
lavaan uses; scipy.special agrees with them to rounding.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def norm_cdf(x):
    """Φ(x)."""
    return special.ndtr(x)


def norm_sf(x):
    """1 - Φ(x), without cancellation in the upper tail."""
    return special.ndtr(-np.asarray(x, dtype=np.float64))


def norm_ppf(p):
    """Φ⁻¹(p)."""
    return special.ndtri(p)


def chi2_sf(x, df):
    """P(χ²_df > x) (cephes ``chdtrc``)."""
    return special.chdtrc(df, x)


def chi2_ppf(p, df):
    """The p-quantile of χ²_df, 2 P⁻¹(df/2, p) with P the regularized lower incomplete gamma."""
    return 2.0 * special.gammaincinv(np.asarray(df, dtype=np.float64) / 2.0, p)


def ncx2_cdf(x, df, nc):
    """P(χ²_df(λ) ≤ x), λ = nc the noncentrality (Boost's ``non_central_chi_squared``)."""
    return special.chndtr(x, df, nc)


def ncx2_sf(x: float, df: float, nc: float) -> float:
    """P(χ²_df(λ) > x).

    Where that probability is below ½ it is summed as the Poisson mixture of central upper tails,
    Σ_j e^{-λ/2} (λ/2)^j / j! · P(χ²_{df+2j} > x) (Johnson, Kotz & Balakrishnan 1995, 29.2), whose
    terms are all positive, so that small tail probabilities keep their digits (1 - cdf would
    round them to 0); elsewhere it is 1 - cdf.
    """
    x, df, nc = float(x), float(df), float(nc)
    if nc <= 0.0:
        return float(chi2_sf(x, df))
    cdf = float(ncx2_cdf(x, df, nc))
    if not np.isfinite(cdf):          # NaN input: NaN, as scipy.stats gives (the sum would not end)
        return float("nan")
    if cdf < 0.5:
        return 1.0 - cdf
    half = nc / 2.0
    start = max(0.0, np.floor(half - 12.0 * np.sqrt(half) - 40.0))   # weights below ~1e-30 before
    total, chunk = 0.0, 256
    while True:     # upwards until the Poisson weights have decayed past the tail's terms
        j = start + np.arange(chunk, dtype=np.float64)
        terms = np.exp(-half + j * np.log(half) - special.gammaln(j + 1.0)) * special.chdtrc(df + 2.0 * j, x)
        total += float(np.sum(terms))
        start += chunk
        if start > half and terms[-1] <= 1e-17 * total:
            return total


def root(fn, lo: float, hi: float, xtol: float = 1e-12) -> float:
    """A root of fn on [lo, hi], by bisection to xtol; NaN where fn(lo) and fn(hi) do not
    bracket one or fn is not finite on the way (a noncentral χ² in the millions: the series lose
    the sign change).

    Bisection rather than Brent: the functions here (noncentral χ² probabilities in λ) are
    monotone, cost microseconds, and ~50 halvings reach 1e-12 on the widest bracket used.
    """
    f_lo, f_hi = fn(lo), fn(hi)
    if not (np.isfinite(f_lo) and np.isfinite(f_hi) and f_lo * f_hi <= 0):
        return float("nan")
    if f_lo == 0.0:
        return float(lo)
    while hi - lo > xtol * max(1.0, abs(lo)):
        mid = 0.5 * (lo + hi)
        f_mid = fn(mid)
        if not np.isfinite(f_mid):
            return float("nan")
        if f_mid == 0.0:
            return float(mid)
        if (f_mid < 0.0) == (f_lo < 0.0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return float(0.5 * (lo + hi))
