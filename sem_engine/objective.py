"""The maximum-likelihood discrepancy function, and the one place its scaling is stated.

    F_ML(θ) = log|Σ| + tr(S Σ⁻¹) - log|S| - p + (x̄ - μ)ᵀ Σ⁻¹ (x̄ - μ)

(Jöreskog 1969; Bollen 1989, eq. 4.67; the mean term only with a mean structure).  Conventions used
by every other module:

- ``fmin`` reported in the fit measures is F_ML / 2, as lavaan reports it;
- chi-square = n_eff · F_ML with n_eff = N for ``likelihood="normal"`` (S with divisor N) and
  n_eff = N - 1 for ``"wishart"`` (S with divisor N - 1; AMOS, EQS and LISREL);
- the log-likelihood is -N/2 [p log 2π + log|Σ| + tr(S Σ⁻¹) + (x̄ - μ)ᵀ Σ⁻¹ (x̄ - μ)] with S of
  divisor N.

Σ is factored by Cholesky; when it is not positive definite F is +inf (never NaN), so an
optimizer's line search simply rejects the step.  The functions take the model's structure as
arrays (structure.py), so one compilation serves every model of a size class.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import cho_solve

from . import implied, missing, structure
from .structure import Padded, Sizes, Structure


def n_eff(n, likelihood: str, n_groups: int = 1):
    """Multiplier of F_ML in the chi-square: N ("normal") or N - G ("wishart"; G groups)."""
    return n - float(n_groups) if likelihood == "wishart" else n


def f_ml(sigma: jnp.ndarray, mu: jnp.ndarray, s: jnp.ndarray, xbar: jnp.ndarray, meanstructure) -> jnp.ndarray:
    """F_ML of the implied moments (Σ, μ) against (S, x̄); the mean term times ``meanstructure``
    (1.0 or 0.0, data rather than a Python branch); +inf if Σ is not PD."""
    p = sigma.shape[0]
    chol = jnp.linalg.cholesky(sigma)
    diag = jnp.diagonal(chol)
    ok = jnp.all(jnp.isfinite(chol)) & jnp.all(diag > 0)
    safe = jnp.where(ok, chol, jnp.eye(p))
    logdet_sigma = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(safe))))
    trace = jnp.trace(cho_solve((safe, True), s))
    _, logdet_s = jnp.linalg.slogdet(s)
    d = xbar - mu
    f = logdet_sigma + trace - logdet_s - p + meanstructure * (d @ cho_solve((safe, True), d))
    return jnp.where(ok, f, jnp.inf)


def f_fiml(sigma: jnp.ndarray, mu: jnp.ndarray, n, pat: missing.Patterns) -> jnp.ndarray:
    """F_FIML = -2 (log L - log L_H1) / N, log L the casewise log-likelihood over the
    missing-data patterns (missing.loglik), so that chi-square = N F as under complete data;
    +inf if Σ is not PD."""
    chol = jnp.linalg.cholesky(lax.stop_gradient(sigma))
    ok = jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.diagonal(chol) > 0)
    safe = jnp.where(ok, sigma, jnp.eye(sigma.shape[0]))
    logl = missing.loglik(safe, mu, pat.mask, pat.count, pat.mean, pat.cov)
    return jnp.where(ok, -2.0 * (logl - pat.h1_loglik) / n, jnp.inf)


def weights(st: Structure, moments: Padded) -> jnp.ndarray:
    """w_g = n_g / N over the real groups (0 for a padded group)."""
    n = jnp.where(st.valid, moments.n, 0.0)
    return n / jnp.sum(n)


def group_moments(st: Structure, moments: Padded, sz: Sizes):
    """(group structure, S, x̄, N, patterns) of every group, padded groups included."""
    for g in range(sz.groups):
        pat = None if moments.patterns is None else jax.tree.map(lambda a, g=g: a[g], moments.patterns)
        yield structure.group(st, g), moments.s[g], moments.xbar[g], moments.n[g], pat


def implied_moments(x, st: Structure, moments: Padded, sz: Sizes):
    """Every group's (matrices, Σ, μ) at the padded free parameters x."""
    out = []
    for st_g, s, xbar, _, _ in group_moments(st, moments, sz):
        mats = structure.matrices(x, st_g, s, xbar, sz.p, sz.m)
        out.append((mats, implied.sigma(mats), implied.mu(mats)))
    return out


def loss(x, st: Structure, moments: Padded, sz: Sizes) -> jnp.ndarray:
    """F(x) = Σ_g w_g F_g(x): F_ML, or F_FIML for incomplete data (groups.py)."""
    w = weights(st, moments)
    total = 0.0
    for g, ((_, sigma, mu), (_, s, xbar, n, pat)) in enumerate(
            zip(implied_moments(x, st, moments, sz), group_moments(st, moments, sz))):
        f = f_ml(sigma, mu, s, xbar, st.meanstructure) if pat is None else f_fiml(sigma, mu, n, pat)
        total = total + jnp.where(w[g] > 0, w[g] * f, 0.0)
    return total
