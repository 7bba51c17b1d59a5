"""Incomplete data: missing-data patterns, EM moments (the H1 model of FIML) and Little's MCAR test.

Rows are grouped by their pattern of observed variables o_k (n_k rows).  For FIML each pattern
keeps its observed-data mean x̄_k and covariance S_k (divisor n_k), zero-filled where a variable
is missing, so that every pattern has the same shape and the casewise log-likelihood

    log L = -½ Σ_k n_k [p_k log 2π + log|Σ_k| + tr(Σ_k⁻¹ S_k) + (x̄_k - μ_k)ᵀ Σ_k⁻¹ (x̄_k - μ_k)]

(Σ_k, μ_k: the rows and columns of o_k; Arbuckle 1996) is a sum over a batch of equal-sized
terms (objective.py masks Σ).  The unrestricted (H1) estimates of μ and Σ come from the EM
algorithm (Dempster, Laird & Rubin 1977; Little & Rubin 2002, sec. 11.2), iterated until no
entry changes by more than 1e-12 of its scale.  Little's (1988) test:

    d² = Σ_k n_k (x̄_k - μ̂_k)ᵀ Σ̂_k⁻¹ (x̄_k - μ̂_k),   df = Σ_k p_k - p,

with μ̂, Σ̂ the EM estimates.

Compilation (DESIGN.md): the data step compiles once per size class, not once per data set.  The
pattern moments are numpy (per row O(N p²), nothing shaped by N reaches JAX); EM and log L run in
compiled kernels on the pattern moments padded to the latency classes of p and K
(structure.py), exactly: a padded variable is never observed (mask 0, mean 0, Σ row and column
those of the identity, where EM leaves it) and a padded pattern has n_k = 0, so both add exactly
nothing.  ``weighted_patterns`` and ``available_case`` take numpy arrays (numpy moments) or JAX
ones (the bootstrap's traced replicates).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
import pandas as pd

from . import distributions, linalg, size_classes
from .errors import DataError, DataWarning

EM_TOL = 1e-12
COVERAGE_WARNING = 0.1
EM_MAX_ITER = 10_000


class Patterns(NamedTuple):
    """Missing-data patterns of a data set (K patterns, p variables) as arrays.

    ``mask`` (K x p, 1.0 where observed), ``count`` (K), ``mean`` and ``cov`` (zero-filled
    observed-data moments, divisor n_k), and ``h1_loglik``, log L at the EM estimates.  A fit
    holds numpy arrays of its own K and p (structure.pad_moments pads them).
    """

    mask: jnp.ndarray
    count: jnp.ndarray
    mean: jnp.ndarray
    cov: jnp.ndarray
    h1_loglik: jnp.ndarray


def patterns(rows: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> Patterns:
    """The ``Patterns`` of rows with NaN for missing values, given their EM estimates (numpy)."""
    mask, count, mean, cov = pattern_moments(rows)
    return Patterns(mask, count, mean, cov, np.float64(_loglik_padded(sigma, mu, mask, count, mean, cov)))


def independence_loglik(rows: np.ndarray) -> float:
    """log L of the independence model with free means and variances: each variable's
    observed values alone, mean and variance with divisor n_j (its ML solution in closed form)."""
    n = np.sum(np.isfinite(rows), axis=0)
    var = np.nanvar(rows, axis=0)
    return float(np.sum(-0.5 * n * (np.log(2 * np.pi) + np.log(var) + 1.0)))


def pairwise_moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lavaan's pairwise-complete moments of rows with NaN (its sample statistics under missing =
    "ml.x"): each variable's mean over its observed values, and each covariance that of the rows
    observing both variables, centred at the pair's own means, with divisor n_ij - 1 (R's
    ``cov(use = "pairwise")``), times (N - 1) / N for the N rows."""
    observed = np.isfinite(rows).astype(float)
    xbar = np.nanmean(rows, axis=0)
    filled = np.where(observed > 0, rows - xbar, 0.0)    # centring first: no cancellation
    pairs = observed.T @ observed
    sums = filled.T @ observed                            # [i, j]: Σ x_i over rows observing j too
    cross = filled.T @ filled - sums * sums.T / pairs
    n = rows.shape[0]
    return xbar, cross / (pairs - 1.0) * (n - 1) / n


def observed_loglik(rows: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    """The observed-data log-likelihood (``loglik``) of (μ, Σ) for rows with NaN for missing values."""
    return _loglik_padded(sigma, mu, *pattern_moments(rows))


def group_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique observed-variable masks (K x p, booleans, most frequent first) and each row's pattern."""
    observed = np.isfinite(rows)
    masks, inverse, counts = np.unique(observed, axis=0, return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return masks[order], rank[inverse.ravel()]


def pattern_moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mask (K x p floats), count, zero-filled mean (K x p) and covariance (K x p x p, divisor n_k),
    numpy arrays."""
    masks, which = group_rows(rows)
    mask = masks.astype(float)
    filled = np.where(np.isfinite(rows), rows, 0.0)
    return (mask, *weighted_patterns(filled, which, mask, np.ones(rows.shape[0])))


def weighted_patterns(filled, which, mask, weights) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Count n_k = Σ_{i∈k} w_i, zero-filled mean and covariance (divisor n_k) of each pattern k
    (``mask``, K x p) when row i of ``filled`` (0 for a missing value; in pattern ``which[i]``)
    counts w_i times, O(N p²).  A pattern with n_k = 0 gets zero moments, and so adds nothing to
    ``loglik``.  numpy arrays give numpy moments (one pattern's rows at a time: a fit's data step
    compiles nothing), JAX arrays segment sums over the rows (jit/vmap-able: the bootstrap)."""
    if all(isinstance(a, np.ndarray) for a in (filled, which, mask, weights)):
        return _numpy_patterns(filled, which, mask, weights)
    k = mask.shape[0]
    count = jax.ops.segment_sum(weights, which, k)
    safe = jnp.where(count > 0, count, 1.0)
    mean = jax.ops.segment_sum(weights[:, None] * filled, which, k) / safe[:, None]
    centred = (filled - mean[which]) * mask[which]
    cross = jax.ops.segment_sum(weights[:, None, None] * centred[:, :, None] * centred[:, None, :], which, k)
    return count, mean, cross / safe[:, None, None]


def _numpy_patterns(filled, which, mask, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``weighted_patterns`` in numpy: the rows sorted by pattern, each pattern's moments from its
    own rows (memory O(N p), not O(N p²))."""
    k, p = mask.shape
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(k + 1))
    count, mean, cov = np.zeros(k), np.zeros((k, p)), np.zeros((k, p, p))
    for j in range(k):
        idx = order[bounds[j]:bounds[j + 1]]
        w = weights[idx]
        count[j] = w.sum()
        if count[j] > 0:
            mean[j] = w @ filled[idx] / count[j]
            centred = (filled[idx] - mean[j]) * mask[j]
            cov[j] = (centred * w[:, None]).T @ centred / count[j]
    return count, mean, cov


def available_case(filled, observed, weights) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Weighted available-case moments: each variable's mean over the rows observing it, and each
    covariance (divisor: the pair's weight) over the rows observing both; 0 where none does.  For
    variables observed in every row (fixed covariates under FIML) the complete-data moments.
    numpy arrays give numpy moments, JAX arrays JAX ones (jit/vmap-able)."""
    xp = np if all(isinstance(a, np.ndarray) for a in (filled, observed, weights)) else jnp
    wo = weights[:, None] * observed
    n_j = xp.sum(wo, axis=0)
    xbar = xp.sum(wo * filled, axis=0) / xp.where(n_j > 0, n_j, 1.0)
    centred = (filled - xbar[None, :]) * observed
    pairs = wo.T @ observed
    return (wo * centred).T @ centred / xp.where(pairs > 0, pairs, 1.0), xbar


def loglik(sigma: jnp.ndarray, mu: jnp.ndarray, mask, count, mean, cov) -> jnp.ndarray:
    """The observed-data log-likelihood of (μ, Σ) summed over the patterns (module docstring).

    Pattern k's Σ_k is Σ with the rows and columns of its missing variables replaced by those of
    the identity: |Σ_k| and the observed block of Σ_k⁻¹ are those of Σ_oo, and the zero-filled
    moments make the missing entries contribute nothing, so the patterns are one vmapped batch
    (linalg.inverse and linalg.logdet: no LAPACK call when batched).  Σ must be positive definite.
    """
    def pattern(o, n, m, s):
        sig = sigma * jnp.outer(o, o) + jnp.diag(1.0 - o)
        inv = linalg.inverse(sig)
        d = (m - mu) * o
        return n * (jnp.sum(o) * jnp.log(2.0 * jnp.pi) + linalg.logdet(sig) + jnp.sum(inv * s) + d @ inv @ d)

    return -0.5 * jnp.sum(jax.vmap(pattern)(mask, count, mean, cov))


# -- the compiled kernels of the data step: pattern moments padded to a size class ---------------

def size_class(p: int, k: int) -> tuple[int, int]:
    """The padded numbers of variables and patterns: their latency classes (size_classes.py)."""
    return size_classes.rounded(p, "p"), size_classes.rounded(k, "patterns")


def pad_patterns(mask, count, mean, cov) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pattern moments (numpy) padded to their size class, exactly (module docstring)."""
    k, p = np.shape(mask)
    pp, kk = size_class(p, k)
    out = np.zeros((kk, pp)), np.zeros(kk), np.zeros((kk, pp)), np.zeros((kk, pp, pp))
    out[0][:k, :p], out[1][:k], out[2][:k, :p], out[3][:k, :p, :p] = mask, count, mean, cov
    return out


def _pad_moments(mu, sigma, size: int) -> tuple[np.ndarray, np.ndarray]:
    """μ padded with 0 and Σ with the identity (a padded variable's EM estimates)."""
    p = np.shape(mu)[0]
    m, s = np.zeros(size), np.eye(size)
    m[:p], s[:p, :p] = mu, sigma
    return m, s


_loglik_kernel = jax.jit(loglik)


def _loglik_padded(sigma, mu, mask, count, mean, cov) -> float:
    """``loglik`` on the pattern moments padded to their size class (one executable per class)."""
    padded = pad_patterns(mask, count, mean, cov)
    m, s = _pad_moments(np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float), padded[0].shape[1])
    return float(_loglik_kernel(s, m, *padded))


def em(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """EM estimates (μ, Σ with divisor N) from rows with NaN for missing values, and iterations.

    Iterated on the pattern moments (``em_step``, padded to their size class) from the
    available-case means and variances.
    """
    p = rows.shape[1]
    padded = pad_patterns(*pattern_moments(rows))
    mu, sigma = _pad_moments(np.nanmean(rows, axis=0), np.diag(np.nanvar(rows, axis=0)), padded[0].shape[1])
    mu, sigma, it = _em_loop(mu, sigma, *padded)
    if int(it) > EM_MAX_ITER:
        raise DataError(f"the EM algorithm for the unrestricted moments did not converge in {EM_MAX_ITER} "
                        "iterations (is a pair of variables never observed together?)")
    return np.asarray(mu)[:p], np.asarray(sigma)[:p, :p], int(it)


def em_step(mu, sigma, mask, count, mean, cov) -> tuple[jnp.ndarray, jnp.ndarray]:
    """One EM iteration from the pattern moments.  E-step for pattern k (P_k = Σ_oo⁻¹ zero-filled,
    m = 1 - o_k): the missing values' regression on the observed ones, B_k = diag(m) Σ P_k, so the
    completed rows are A_k y + b_k with A_k = diag(o_k) + B_k and b_k = m∘μ - B_k μ, and their
    conditional covariance is Σ_mm - Σ_mo Σ_oo⁻¹ Σ_om.  The pattern's completed mean and cross-
    products are then z_k = A_k x̄_k + b_k and n_k [A_k S_k A_kᵀ + z_k z_kᵀ + (that covariance)];
    M-step: their totals over N (Little & Rubin 2002, sec. 11.2).  A variable no pattern observes
    keeps μ_j = 0 and the identity's row and column of Σ (padding)."""
    def pattern(o, m, s):
        oo = jnp.outer(o, o)
        inv = linalg.inverse(sigma * oo + jnp.diag(1.0 - o)) * oo
        miss = 1.0 - o
        coef = miss[:, None] * (sigma @ inv)
        a = jnp.diag(o) + coef
        z = a @ m + miss * mu - coef @ mu
        return z, a @ s @ a.T + jnp.outer(z, z) + jnp.outer(miss, miss) * (sigma - sigma @ inv @ sigma)

    z, cross = jax.vmap(pattern)(mask, mean, cov)
    n = jnp.sum(count)
    new_mu = count @ z / n
    new_sigma = jnp.einsum("k,kab->ab", count, cross) / n - jnp.outer(new_mu, new_mu)
    return new_mu, (new_sigma + new_sigma.T) / 2


@jax.jit
def _em_loop(mu, sigma, mask, count, mean, cov):
    """``em_step`` until no mean moves by EM_TOL of its SD and no covariance by EM_TOL of
    √(σ_ii σ_jj), or EM_MAX_ITER + 1 iterations (then not converged)."""
    def change(mu, sigma, new_mu, new_sigma):
        sd = jnp.sqrt(jnp.diagonal(new_sigma))
        return jnp.maximum(jnp.max(jnp.abs(new_mu - mu) / sd), jnp.max(jnp.abs(new_sigma - sigma) / jnp.outer(sd, sd)))

    def step(state):
        mu, sigma, _, it = state
        new_mu, new_sigma = em_step(mu, sigma, mask, count, mean, cov)
        return new_mu, new_sigma, change(mu, sigma, new_mu, new_sigma), it + 1

    def going(state):
        return (state[2] >= EM_TOL) & (state[3] <= EM_MAX_ITER)

    mu, sigma, _, it = lax.while_loop(going, step, (mu, sigma, jnp.asarray(jnp.inf), jnp.asarray(0)))
    return mu, sigma, it


def check_rows(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Rows with at least one observed value; DataError for variables never (or once) observed."""
    observed = np.isfinite(values)
    empty = [str(v) for v, k in zip(names, observed.sum(axis=0)) if k < 2]
    if empty:
        raise DataError(f"variables with fewer than two observed values: {', '.join(empty)}")
    return values[observed.any(axis=1)]


def check_coverage(rows: np.ndarray, names: Sequence[str]) -> None:
    """DataError for pairs of variables never observed together (their covariance is not
    identified from the data); DataWarning naming pairs observed together in under
    COVERAGE_WARNING of the rows, as lavaan warns."""
    observed = np.isfinite(rows).astype(float)
    coverage = observed.T @ observed / rows.shape[0]
    i, j = np.triu_indices(len(names), 1)

    def pairs(mask):
        return ", ".join(f"{names[a]}-{names[b]}" for a, b in zip(i[mask], j[mask]))

    never = coverage[i, j] == 0
    if never.any():
        raise DataError(f"pairs of variables never observed together (their covariance cannot be "
                        f"estimated): {pairs(never)}")
    low = coverage[i, j] < COVERAGE_WARNING
    if low.any():
        warnings.warn(f"pairs of variables observed together in fewer than {COVERAGE_WARNING:.0%} of "
                      f"the rows: {pairs(low)}; see se.missing_patterns()", DataWarning, stacklevel=4)


def _numeric(data: pd.DataFrame) -> np.ndarray:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    bad = [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise DataError(f"variables {', '.join(map(str, bad))} are not numeric")
    return check_rows(data.to_numpy(dtype=np.float64), list(map(str, data.columns)))


def em_moments(data: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """EM estimates of the means and covariance matrix (divisor N) of an incomplete data set,
    as lavaan's H1 model under ``missing="ml"`` (``lavInspect(fit, "sampstat")``)."""
    rows = _numeric(data)
    mu, sigma, _ = em(rows)
    names = list(map(str, data.columns))
    return pd.Series(mu, index=names, name="mean"), pd.DataFrame(sigma, index=names, columns=names)


def little_mcar(data: pd.DataFrame) -> pd.Series:
    """Little's (1988) chi-square test that the data are missing completely at random:
    statistic, df, pvalue and the number of patterns (module docstring)."""
    rows = _numeric(data)
    mu, sigma, _ = em(rows)
    mask, count, mean, _ = pattern_moments(rows)
    d2, df = 0.0, -rows.shape[1]
    for o, n, m in zip(mask.astype(bool), count, mean):
        d = m[o] - mu[o]
        d2 += n * d @ np.linalg.solve(sigma[np.ix_(o, o)], d)
        df += int(o.sum())
    return pd.Series({"statistic": d2, "df": df, "pvalue": float(distributions.chi2_sf(d2, df)) if df > 0 else np.nan,
                      "patterns": len(count)})


def missing_patterns(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The patterns (1 observed, 0 missing; a ``count`` column, most frequent first) and the
    coverage matrix: the proportion of rows observing each pair of variables (lavaan's
    ``lavInspect(fit, "coverage")``)."""
    rows = _numeric(data)
    names = list(map(str, data.columns))
    masks, which = group_rows(rows)
    table = pd.DataFrame(masks.astype(int), columns=names)
    table["count"] = np.bincount(which, minlength=len(masks))
    observed = np.isfinite(rows).astype(float)
    coverage = pd.DataFrame(observed.T @ observed / rows.shape[0], index=names, columns=names)
    return table, coverage

