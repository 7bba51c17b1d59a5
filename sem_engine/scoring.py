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

from . import implied, linalg, structure
from .objective import group_moments, weights
from .optimize import ROUNDING, CONVERGED, MAX_ITER, NO_DESCENT, NOT_PD, FitState
from .structure import Padded, Sizes, Structure


def refit(st: Structure, moments: Padded, z_start, h_inv, max_steps, grad_tol, sz: Sizes) -> FitState:
    """FitState of the iteration above from ``z_start`` with h_inv = H₀⁻¹ (in z), at most
    ``max_steps`` steps; pure, jit/vmap-able, the structure and sizes as structure.py gives them.
    F is the groups' sum weighted by n_g / N, and so are its cotangents."""
    w = weights(st, moments)
    groups = list(group_moments(st, moments, sz))
    objectives = [(_fiml if pat is not None else _ml)(s, xbar, n, pat, st.meanstructure)
                  for _, s, xbar, n, pat in groups]

    def implied_z(z):
        x = st.x0 + st.basis @ z
        out = []
        for st_g, s, xbar, _, _ in groups:
            mats = structure.matrices(x, st_g, s, xbar, sz.p, sz.m)
            out.append((implied.sigma(mats), implied.mu(mats)))
        return tuple(out)

    def combine(values):
        return sum(jnp.where(w[g] > 0, w[g] * f, 0.0) for g, f in enumerate(values))

    def value(z):
        return combine([objective(*pair)[0] for objective, pair in zip(objectives, implied_z(z))])

    def value_and_grad(z):
        pairs, pullback = jax.vjp(implied_z, z)
        each = [objective(*pair) for objective, pair in zip(objectives, pairs)]
        f = combine([fg for fg, _ in each])
        (g,) = pullback(tuple(jax.tree.map(lambda c, wg=w[k]: wg * c, cot) for k, (_, cot) in enumerate(each)))
        return f, jnp.where(jnp.isfinite(f), g, jnp.nan)

    z, f, g, it, status = quasi_newton(value, value_and_grad, z_start, h_inv, max_steps, grad_tol)
    return FitState(st.x0 + st.basis @ z, f, jnp.max(jnp.abs(g)), it, status)


def _normal_terms(sigma, mu, s, xbar, meanstructure):
    """log|Σ| + tr(S Σ⁻¹) + dᵀ Σ⁻¹ d (d = x̄ - μ, with a mean structure), Σ⁻¹ and d from one
    Cholesky factor; the value is +inf when Σ is not positive definite."""
    p = sigma.shape[0]
    lower = linalg.cholesky(sigma)
    ok = linalg.is_factor(lower)
    inv_l = linalg.inv_lower(jnp.where(ok, lower, jnp.eye(p)))
    sigma_inv = inv_l.T @ inv_l
    d = (xbar - mu) * meanstructure
    f = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(lower)))) + jnp.sum(sigma_inv * s) + d @ sigma_inv @ d
    return jnp.where(ok, f, jnp.inf), sigma_inv, d


def _ml(s, xbar, n, pat, meanstructure):
    """(Σ, μ) -> F_ML, and its cotangents (W, -2 Σ⁻¹ d) (module docstring)."""
    chol_s = linalg.cholesky(s)
    const = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol_s))) + s.shape[0]

    def objective(sigma, mu):
        f, sigma_inv, d = _normal_terms(sigma, mu, s, xbar, meanstructure)
        w = sigma_inv @ (sigma - s - jnp.outer(d, d)) @ sigma_inv
        return f - const, (w, -2.0 * sigma_inv @ d)

    return objective


def _fiml(s, xbar, n, pat, meanstructure):
    """(Σ, μ) -> F_FIML = -2 (log L - log L_H1) / N (objective.f_fiml) and its cotangents: the
    complete-data terms of each pattern k (Σ_k as in missing.loglik, P_k = Σ_k⁻¹ zero-filled
    outside its observed variables, d_k = (x̄_k - μ)∘o_k) weighted by n_k / N,

        W = Σ_k (n_k/N) P_k (Σ - S_k - d_k d_kᵀ) P_k,   ∂F/∂μ = -2 Σ_k (n_k/N) P_k d_k.
    """
    def objective(sigma, mu):
        def pattern(o, s, xbar):
            oo = jnp.outer(o, o)
            f, inv, d = _normal_terms(sigma * oo + jnp.diag(1.0 - o), mu * o, s, xbar, 1.0)
            inv = inv * oo
            return f + jnp.sum(o) * jnp.log(2.0 * jnp.pi), inv @ (sigma - s - jnp.outer(d, d)) @ inv, inv @ d

        f, w, g_mu = jax.vmap(pattern)(pat.mask, pat.cov, pat.mean)
        weight = pat.count / n
        pd = linalg.is_factor(linalg.cholesky(sigma))
        return (jnp.where(pd, weight @ f + 2.0 * pat.h1_loglik / n, jnp.inf),
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
    z, f, g, h_inv, it, status = lax.while_loop(not_done, step, init)
    # One more quasi-Newton step from the converged point, kept when it shrinks the gradient: the
    # estimates then rest on rounding, not on where the tolerance happened to stop the iteration
    # (a model padded into a larger size class gives the same digits, tests/test_compilation.py).
    z_polish = z - h_inv @ g
    f_polish, g_polish = value_and_grad(z_polish)
    better = (jnp.max(jnp.abs(g_polish)) < jnp.max(jnp.abs(g))) & (f_polish <= f + ROUNDING * (1.0 + jnp.abs(f)))
    better = better & optimal(g)
    z, f, g = (jnp.where(better, new, old) for new, old in ((z_polish, z), (f_polish, f), (g_polish, g)))
    status = jnp.where(~jnp.isfinite(f), NOT_PD, jnp.where(
        optimal(g), CONVERGED, jnp.where(status == NO_DESCENT, NO_DESCENT, MAX_ITER)))
    return z, f, g, it, status
