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

Each step costs one implied-moment evaluation, one reverse pass through it for g (its cotangent
is W) and a Cholesky factor of Σ, in linalg.py's plain JAX loops: no LAPACK calls, so a vmapped
batch cannot hit jaxlib's thread-pool deadlock.  The result is an optimize.FitState with the
optimizer's status codes; replicates that end without converging are refitted one at a time by
the modified Newton optimizer (bootstrap.py).
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
                 ) -> Callable[[Moments, jnp.ndarray, jnp.ndarray], FitState]:
    """refit(moments, z_start, h_inv) -> FitState, with h_inv = H₀⁻¹ in z; pure, jit/vmap-able.
    For a multi-group model (groups.Groups; moments a tuple) F and g are the groups' weighted sums."""
    multi = isinstance(spec, Groups)
    specs = spec.specs if multi else (spec,)
    index = spec.index if multi else (slice(None),)
    implied_fns = [make_implied(s) for s in specs]
    x0 = jnp.asarray(reparam.x0)
    basis = jnp.asarray(reparam.basis)

    def bfgs(h_inv, s, y):
        """BFGS update of the inverse Hessian (Nocedal & Wright 2006, eq. 6.17), expanded for a
        symmetric H⁻¹ with u = H⁻¹ y, ρ = 1 / sᵀy:
        H⁻¹ - ρ (s uᵀ + u sᵀ) + (ρ + ρ² yᵀu) s sᵀ.  Kept unchanged when sᵀy ≤ 0."""
        sy = s @ y
        rho = jnp.where(sy > 0, 1.0 / jnp.where(sy > 0, sy, 1.0), 0.0)
        u = h_inv @ y
        return h_inv - rho * (jnp.outer(s, u) + jnp.outer(u, s)) + (rho + rho ** 2 * (y @ u)) * jnp.outer(s, s)

    def parts(sigma, mu, moments, logdet_s, meanstructure):
        """F_ML, Σ⁻¹ and d = x̄ - μ of one group; F = +inf when Σ is not positive definite."""
        p = sigma.shape[0]
        lower = linalg.cholesky(sigma)
        ok = linalg.is_factor(lower)
        inv_l = linalg.inv_lower(jnp.where(ok, lower, jnp.eye(p)))
        sigma_inv = inv_l.T @ inv_l
        d = moments.xbar - mu if meanstructure else jnp.zeros(p)
        f = (2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(lower)))) + jnp.sum(sigma_inv * moments.s)
             - logdet_s - p + d @ sigma_inv @ d)
        return jnp.where(ok, f, jnp.inf), sigma_inv, d

    def refit(moments, z_start: jnp.ndarray, h_inv: jnp.ndarray) -> FitState:
        members = moments if multi else (moments,)
        w = weights(members) if multi else [1.0]
        logdet_s = [2.0 * jnp.sum(jnp.log(jnp.diagonal(linalg.cholesky(m.s)))) for m in members]

        def implied_z(z):
            x = x0 + basis @ z
            return tuple(f(x[i], m) for f, i, m in zip(implied_fns, index, members))

        def groups_parts(implied_all):
            return [parts(sigma, mu, m, ld, sp.meanstructure)
                    for (sigma, mu), m, ld, sp in zip(implied_all, members, logdet_s, specs)]

        def value(z):
            return sum(wg * f for wg, (f, _, _) in zip(w, groups_parts(implied_z(z))))

        def value_and_grad(z):
            implied_all, pullback = jax.vjp(implied_z, z)
            each = groups_parts(implied_all)
            f = sum(wg * fg for wg, (fg, _, _) in zip(w, each))
            cotangent = tuple(
                (wg * sigma_inv @ (sigma - m.s - jnp.outer(d, d)) @ sigma_inv, -2.0 * wg * sigma_inv @ d)
                for wg, (_, sigma_inv, d), (sigma, _), m in zip(w, each, implied_all, members))
            (g,) = pullback(cotangent)
            return f, jnp.where(jnp.isfinite(f), g, jnp.nan)

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
            return (z_new, f_new, g_new, bfgs(h_inv, z_new - z, g_new - g), it + 1,
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
        return FitState(x0 + basis @ z, f, jnp.max(jnp.abs(g)), it, status)

    return refit
