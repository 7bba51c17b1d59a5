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
optimizer's line search simply rejects the step.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import cho_solve

from . import implied, missing
from .matrices import Spec, to_matrices
from .moments import Moments


def n_eff(n, likelihood: str, n_groups: int = 1):
    """Multiplier of F_ML in the chi-square: N ("normal") or N - G ("wishart"; G groups)."""
    return n - float(n_groups) if likelihood == "wishart" else n


def f_ml(sigma: jnp.ndarray, mu: jnp.ndarray, moments: Moments, meanstructure: bool) -> jnp.ndarray:
    """F_ML of the implied moments (σ, μ) against the sample moments; +inf if Σ is not PD."""
    p = sigma.shape[0]
    chol = jnp.linalg.cholesky(sigma)
    diag = jnp.diagonal(chol)
    ok = jnp.all(jnp.isfinite(chol)) & jnp.all(diag > 0)
    safe = jnp.where(ok, chol, jnp.eye(p))
    logdet_sigma = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(safe))))
    trace = jnp.trace(cho_solve((safe, True), moments.s))
    _, logdet_s = jnp.linalg.slogdet(moments.s)
    f = logdet_sigma + trace - logdet_s - p
    if meanstructure:
        d = moments.xbar - mu
        f = f + d @ cho_solve((safe, True), d)
    return jnp.where(ok, f, jnp.inf)


def f_fiml(sigma: jnp.ndarray, mu: jnp.ndarray, moments: Moments) -> jnp.ndarray:
    """F_FIML = -2 (log L - log L_H1) / N, log L the casewise log-likelihood over the
    missing-data patterns (missing.loglik), so that chi-square = N F as under complete data;
    +inf if Σ is not PD."""
    pat = moments.patterns
    chol = jnp.linalg.cholesky(lax.stop_gradient(sigma))
    ok = jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.diagonal(chol) > 0)
    safe = jnp.where(ok, sigma, jnp.eye(sigma.shape[0]))
    logl = missing.loglik(safe, mu, pat.mask, pat.count, pat.mean, pat.cov)
    return jnp.where(ok, -2.0 * (logl - pat.h1_loglik) / moments.n, jnp.inf)


def make_loss(spec: Spec) -> Callable[[jnp.ndarray, Moments], jnp.ndarray]:
    """loss(x, moments) = F_ML at the free parameters x (F_FIML for incomplete data)."""

    def loss(x, moments):
        mats = to_matrices(x, spec, moments)
        if moments.patterns is not None:
            return f_fiml(implied.sigma(mats), implied.mu(mats), moments)
        return f_ml(implied.sigma(mats), implied.mu(mats), moments, spec.meanstructure)

    return loss


def make_implied(spec: Spec) -> Callable[[jnp.ndarray, Moments], tuple[jnp.ndarray, jnp.ndarray]]:
    """implied_moments(x, moments) = (Σ(x), μ(x))."""

    def implied_moments(x, moments):
        mats = to_matrices(x, spec, moments)
        return implied.sigma(mats), implied.mu(mats)

    return implied_moments
