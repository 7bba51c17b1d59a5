"""Bootstrap standard errors, confidence intervals and p-values from a matrix of draws.

Every function takes ``draws`` (B x k: B bootstrap replicates of k statistics), the full-sample
estimates ``est`` (k) and, for BCa, the leave-one-out jackknife values ``jack`` (N x k).
Non-finite draws of a statistic are left out of that statistic's summaries.

- Standard error: the standard deviation of the draws (divisor B - 1).
- Quantile of the draws at probability α (``quantile``): the order statistic t_(k) at
  k = (B + 1) α, interpolated on the normal scale between neighbours when k is not a whole
  number, t_(1) or t_(B) beyond the ends (Davison & Hinkley 1997, eq. 5.8; ``boot:::norm.inter``
  in R, which lavaan uses).
- Percentile interval ("perc"): quantiles at α/2 and 1 - α/2, α = 1 - level.
- Bias-corrected interval ("bc", AMOS's default): quantiles at Φ(2 z0 + z_{α/2}) and
  Φ(2 z0 + z_{1-α/2}) with z0 = Φ⁻¹(#{t* < t̂} / B) (Efron 1981; lavaan's "bca.simple").
- BCa ("bca"): quantiles at Φ(z0 + (z0 + z_q) / (1 - a (z0 + z_q))) for q = α/2, 1 - α/2, with
  the jackknife acceleration a = Σ d_i³ / (6 (Σ d_i²)^{3/2}), d_i = mean_j(θ_(j)) - θ_(i)
  (Efron 1987, eq. 6.6; Davison & Hinkley 1997, eq. 5.24).
- Bootstrap p-value (two-tailed, as AMOS reports it next to its bias-corrected intervals): the
  smallest α at which the two-sided 1 - α interval of the same method excludes 0.  With
  u = #{t* < 0} / B the interval's lower (upper) end reaches 0 at the nominal tail probability
  q = Φ(w) solved from u = Φ(z0 + (z0 + w)/(1 - a (z0 + w))):
  w = Q / (1 + a Q) - z0 with Q = Φ⁻¹(u) - z0, and p = 2 min(Φ(w), 1 - Φ(w)).  For "perc"
  (z0 = a = 0) this is p = 2 min(u, 1 - u).  p = 0 means no draw fell on the other side of 0
  (p < 1/B); where no nominal level moves the BCa end to 0, p = 0 as well.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import distributions

METHODS = ("perc", "bc", "bca")


class Summary(NamedTuple):
    """Bootstrap summaries of k statistics (arrays of length k)."""

    boot_se: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    pvalue: np.ndarray
    n_draws: np.ndarray


def summarize(draws: np.ndarray, est: np.ndarray, method: str, level: float,
              jack: np.ndarray | None = None) -> Summary:
    """SE, the ``method`` interval at ``level`` and the p-value of every column of ``draws``."""
    draws = np.asarray(draws, dtype=float)
    est = np.asarray(est, dtype=float)
    z0, a = _corrections(draws, est, method, jack)
    alpha = 1.0 - level
    tails = np.array([alpha / 2, 1 - alpha / 2])
    probs = adjusted_probabilities(z0, a, tails)
    bounds = quantile(draws, probs)
    se, n_draws = standard_error(draws)
    p = pvalue(draws, z0, a)
    constant = se == 0
    bounds[constant] = est[constant, None]
    p[constant] = np.nan
    return Summary(se, bounds[:, 0], bounds[:, 1], p, n_draws)


def standard_error(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviation (divisor B - 1) of the finite draws of each column, and their count."""
    finite = np.isfinite(draws)
    n = finite.sum(axis=0)
    values = np.where(finite, draws, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = values.sum(axis=0) / n
        ss = np.sum(np.where(finite, (values - mean[None, :]) ** 2, 0.0), axis=0)
        return np.where(n > 1, np.sqrt(ss / (n - 1)), np.nan), n


def _corrections(draws, est, method, jack) -> tuple[np.ndarray, np.ndarray]:
    k = draws.shape[1]
    if method == "perc":
        return np.zeros(k), np.zeros(k)
    z0 = bias_correction(draws, est)
    if method == "bc":
        return z0, np.zeros(k)
    return z0, acceleration(jack)


def bias_correction(draws: np.ndarray, est: np.ndarray) -> np.ndarray:
    """z0 = Φ⁻¹(#{t* < t̂} / B) per column, over the finite draws."""
    finite = np.isfinite(draws)
    below = np.sum(finite & (draws < est[None, :]), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return distributions.norm_ppf(below / finite.sum(axis=0))


def acceleration(jack: np.ndarray) -> np.ndarray:
    """a = Σ d³ / (6 (Σ d²)^{3/2}), d = mean(θ_(·)) - θ_(i), over the finite jackknife values."""
    jack = np.asarray(jack, dtype=float)
    d = np.nanmean(jack, axis=0)[None, :] - jack
    d = np.where(np.isfinite(d), d, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.sum(d ** 3, axis=0) / (6.0 * np.sum(d ** 2, axis=0) ** 1.5)
    return np.where(np.isfinite(a), a, 0.0)


def adjusted_probabilities(z0: np.ndarray, a: np.ndarray, tails: np.ndarray) -> np.ndarray:
    """Φ(z0 + (z0 + z_q) / (1 - a (z0 + z_q))) for each column (rows) and tail q (columns)."""
    t = z0[:, None] + distributions.norm_ppf(tails)[None, :]
    with np.errstate(invalid="ignore"):  # z0 = ±inf (every draw on one side): NaN, an undefined bound
        return distributions.norm_cdf(z0[:, None] + t / (1.0 - a[:, None] * t))


def quantile(draws: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Normal-interpolated order statistics (Davison & Hinkley eq. 5.8), per column.

    ``probs`` is k x m (m probabilities for each of the k columns); returns k x m.  NaN where a
    probability is NaN (an undefined bias correction).
    """
    ordered = np.sort(np.where(np.isfinite(draws), draws, np.inf), axis=0)
    r = np.isfinite(draws).sum(axis=0)[:, None]
    rk = (r + 1) * probs
    k = np.floor(np.where(np.isfinite(rk), rk, 0)).astype(int)
    k = np.clip(k, 0, r)
    lower = _order_statistic(ordered, np.clip(k, 1, r))
    upper = _order_statistic(ordered, np.clip(k + 1, 1, r))
    with np.errstate(divide="ignore", invalid="ignore"):
        z_k = distributions.norm_ppf(k / (r + 1))
        z_k1 = distributions.norm_ppf((k + 1) / (r + 1))
        weight = (distributions.norm_ppf(probs) - z_k) / (z_k1 - z_k)
    inner = lower + weight * (upper - lower)
    out = np.where(k == rk, lower, inner)
    out = np.where(k == 0, _order_statistic(ordered, np.ones_like(k)), out)
    out = np.where(k == r, _order_statistic(ordered, r + 0 * k), out)
    return np.where(np.isfinite(probs) & (r > 0), out, np.nan)


def _order_statistic(ordered: np.ndarray, k: np.ndarray) -> np.ndarray:
    """t_(k) (1-based) of each column: ``ordered`` is B x c sorted, ``k`` is c x m."""
    cols = np.arange(ordered.shape[1])[:, None]
    return ordered[np.maximum(k, 1) - 1, cols]


def pvalue(draws: np.ndarray, z0: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Smallest α whose two-sided 1 - α interval excludes 0 (see the module docstring)."""
    finite = np.isfinite(draws)
    u = np.sum(finite & (draws < 0), axis=0) / finite.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = distributions.norm_ppf(u) - z0
        denominator = 1.0 + a * q
        # Q / (1 + a Q) tends to 1/a as Q -> ±inf; where 1 + a Q <= 0 no level reaches 0.
        t = np.where(np.isinf(q) & (a != 0), 1.0 / np.where(a != 0, a, 1.0), q / denominator)
        w = np.where(denominator > 0, t - z0, np.where(q < 0, -np.inf, np.inf))
    tail = distributions.norm_cdf(w)
    return 2.0 * np.minimum(tail, 1.0 - tail)
