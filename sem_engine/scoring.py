"""Quasi-Newton scoring: every fit's first optimizer (pipeline.py, from the start values) and
the bootstrap's batched refits (from the full-sample estimate ẑ, within a few standard errors of
each replicate's).  From a start z₀ it iterates

    z ← z - t A g(z),    g_i = tr(W Σ_i) - 2 dᵀ Σ⁻¹ μ_i,   W = Σ⁻¹ (Σ - S - d dᵀ) Σ⁻¹

(d = x̄ - μ; the mean terms only with a mean structure; Σ_i = ∂Σ/∂z_i).  A starts as H₀⁻¹, the
inverse expected Hessian of F_ML at the start (inference.make_expected_hessian; Fisher
scoring, Lee & Jennrich 1979), and takes a BFGS update after every step (Nocedal & Wright 2006,
eq. 6.17), so the iteration is superlinear near the optimum: for the thesis model 12-23 steps
for a bootstrap replicate, 29 from the start values.  t is halved until the Armijo condition
holds up to rounding in F.  A fit stops when max |g| < grad_tol; the engine asks for 1/100 of the optimizer's tolerance, because
without Newton's quadratic last step the estimates are only as precise as the gradient.

With incomplete data (FIML, ``moments.patterns``) F is F_FIML, a sum over the missing-data
patterns k of the same terms for the observed variables, weighted by n_k / N, and so are W and
∂F/∂μ (``_fiml``); H₀ is the expected FIML Hessian.  A bootstrap replicate of the 3-factor
Holzinger-Swineford model with 12% of its values missing (59 patterns) takes 15-45 steps.

Each step costs one implied-moment evaluation, one reverse pass through it for g (its cotangent
is W) and a Cholesky factor of Σ (of each pattern's Σ_k under FIML), in linalg.py's plain JAX
loops: no LAPACK calls, so a vmapped batch cannot hit jaxlib's thread-pool deadlock.  The result
is an optimize.FitState with the optimizer's status codes; replicates that end without
converging are refitted one at a time by the modified Newton optimizer (bootstrap.py).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from . import linalg
from .constraints import Reparam
from .groups import Groups, weights
from .matrices import Spec
from .moments import Moments
from .objective import make_implied
from .optimize import ROUNDING, CONVERGED, MAX_ITER, NO_DESCENT, NOT_PD, FitState


def make_scoring(spec: Spec | Groups, reparam: Reparam, max_iter: int = 100, grad_tol: float = 1e-9
                 ) -> Callable[..., FitState]:
    """refit(moments, z_start, h_inv, max_steps=None) -> FitState, with h_inv = H₀⁻¹ in z and at
    most ``max_steps`` steps (default: ``max_iter``; may be traced); pure, jit/vmap-able.
    F_ML for complete data, F_FIML for incomplete data (``moments.patterns``).  For a multi-group
    model (groups.Groups; moments a tuple) F, and so its cotangents, are the groups' sums weighted
    by n_g / N."""
    multi = isinstance(spec, Groups)
    specs = spec.specs if multi else (spec,)
    index = spec.index if multi else (slice(None),)
    implied_fns = [make_implied(s) for s in specs]
    x0 = jnp.asarray(reparam.x0)
    basis = jnp.asarray(reparam.basis)

    def refit(moments, z_start: jnp.ndarray, h_inv: jnp.ndarray, max_steps=None) -> FitState:
        members = moments if multi else (moments,)
        w = weights(members) if multi else [1.0]
        objectives = [(_fiml if m.patterns is not None else _ml)(m, s.meanstructure, s.p)
                      for m, s in zip(members, specs)]

        def implied_z(z):
            x = x0 + basis @ z
            return tuple(f(x[i], m) for f, i, m in zip(implied_fns, index, members))

        def value(z):
            return sum(wg * objective(*pair)[0] for wg, objective, pair in zip(w, objectives, implied_z(z)))

        def value_and_grad(z):
            pairs, pullback = jax.vjp(implied_z, z)
            each = [objective(*pair) for objective, pair in zip(objectives, pairs)]
            f = sum(wg * fg for wg, (fg, _) in zip(w, each))
            (g,) = pullback(tuple(jax.tree.map(lambda c, wg=wg: wg * c, cot) for wg, (_, cot) in zip(w, each)))
            return f, jnp.where(jnp.isfinite(f), g, jnp.nan)

        z, f, g, it, status = quasi_newton(value, value_and_grad, z_start, h_inv,
                                          max_iter if max_steps is None else max_steps, grad_tol)
        return FitState(x0 + basis @ z, f, jnp.max(jnp.abs(g)), it, status)

    return refit


def _normal_terms(sigma, mu, s, xbar, meanstructure: bool, p: int):
    """log|Σ| + tr(S Σ⁻¹) + dᵀ Σ⁻¹ d (d = x̄ - μ, with a mean structure), Σ⁻¹ and d from one
    Cholesky factor; the value is +inf when Σ is not positive definite."""
    lower = linalg.cholesky(sigma)
    ok = linalg.is_factor(lower)
    inv_l = linalg.inv_lower(jnp.where(ok, lower, jnp.eye(p)))
    sigma_inv = inv_l.T @ inv_l
    d = xbar - mu if meanstructure else jnp.zeros(p)
    f = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(lower)))) + jnp.sum(sigma_inv * s) + d @ sigma_inv @ d
    return jnp.where(ok, f, jnp.inf), sigma_inv, d


def _ml(moments: Moments, meanstructure: bool, p: int):
    """(Σ, μ) -> F_ML, and its cotangents (W, -2 Σ⁻¹ d) (module docstring)."""
    chol_s = linalg.cholesky(moments.s)
    const = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol_s))) + p

    def objective(sigma, mu):
        f, sigma_inv, d = _normal_terms(sigma, mu, moments.s, moments.xbar, meanstructure, p)
        w = sigma_inv @ (sigma - moments.s - jnp.outer(d, d)) @ sigma_inv
        return f - const, (w, -2.0 * sigma_inv @ d)

    return objective


def _fiml(moments: Moments, meanstructure: bool, p: int):
    """(Σ, μ) -> F_FIML = -2 (log L - log L_H1) / N (objective.f_fiml) and its cotangents: the
    complete-data terms of each pattern k (Σ_k as in missing.loglik, P_k = Σ_k⁻¹ zero-filled
    outside its observed variables, d_k = (x̄_k - μ)∘o_k) weighted by n_k / N,

        W = Σ_k (n_k/N) P_k (Σ - S_k - d_k d_kᵀ) P_k,   ∂F/∂μ = -2 Σ_k (n_k/N) P_k d_k.
    """
    pat = moments.patterns

    def objective(sigma, mu):
        def pattern(o, s, xbar):
            oo = jnp.outer(o, o)
            f, inv, d = _normal_terms(sigma * oo + jnp.diag(1.0 - o), mu * o, s, xbar, True, p)
            inv = inv * oo
            return f + jnp.sum(o) * jnp.log(2.0 * jnp.pi), inv @ (sigma - s - jnp.outer(d, d)) @ inv, inv @ d

        f, w, g_mu = jax.vmap(pattern)(pat.mask, pat.cov, pat.mean)
        weight = pat.count / moments.n
        pd = linalg.is_factor(linalg.cholesky(sigma))
        return (jnp.where(pd, weight @ f + 2.0 * pat.h1_loglik / moments.n, jnp.inf),
                (jnp.einsum("k,kab->ab", weight, w), -2.0 * weight @ g_mu))

    return objective


def _bfgs(h_inv, s, y):
    """BFGS update of the inverse Hessian (Nocedal & Wright 2006, eq. 6.17), expanded for a
    symmetric H⁻¹ with u = H⁻¹ y, ρ = 1 / sᵀy:
    H⁻¹ - ρ (s uᵀ + u sᵀ) + (ρ + ρ² yᵀu) s sᵀ.  Kept unchanged when sᵀy ≤ 0."""
    sy = s @ y
    rho = jnp.where(sy > 0, 1.0 / jnp.where(sy > 0, sy, 1.0), 0.0)
    u = h_inv @ y
    return h_inv - rho * (jnp.outer(s, u) + jnp.outer(u, s)) + (rho + rho ** 2 * (y @ u)) * jnp.outer(s, s)


def quasi_newton(value: Callable, value_and_grad: Callable, z_start, h_inv, max_iter: int, grad_tol: float):
    """The iteration of the module docstring: (z, f, g, iterations, status) from z_start."""

    def step(state):
        z, f, g, h_inv, it, _ = state
        d = -h_inv @ g
        slope = g @ d

        def shrink(carry):
            t, _ = carry
            return t / 2.0, value(z + (t / 2.0) * d)

        def sufficient(t, f_new):  # Armijo, up to rounding in F
            return f_new <= f + 1e-4 * t * slope + ROUNDING * (1.0 + jnp.abs(f))

        def keep_shrinking(carry):
            return ~sufficient(*carry) & (carry[0] > 1e-10)

        t, f_new = lax.while_loop(keep_shrinking, shrink, (1.0, value(z + d)))
        accepted = sufficient(t, f_new)
        z_new = jnp.where(accepted, z + t * d, z)
        f_new, g_new = value_and_grad(z_new)
        return (z_new, f_new, g_new, _bfgs(h_inv, z_new - z, g_new - g), it + 1,
                jnp.where(accepted, CONVERGED, NO_DESCENT))

    def optimal(g):
        return jnp.max(jnp.abs(g)) < grad_tol

    def not_done(state):
        _, f, g, _, it, status = state
        return ~optimal(g) & (it < max_iter) & (status == CONVERGED) & jnp.isfinite(f)

    f0, g0 = value_and_grad(z_start)
    init = (z_start, f0, g0, h_inv, jnp.asarray(0), jnp.asarray(CONVERGED))
    z, f, g, _, it, status = lax.while_loop(not_done, step, init)
    status = jnp.where(~jnp.isfinite(f), NOT_PD, jnp.where(
        optimal(g), CONVERGED, jnp.where(status == NO_DESCENT, NO_DESCENT, MAX_ITER)))
    return z, f, g, it, status
