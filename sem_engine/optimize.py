"""θ̂ = argmin F_ML by a modified Newton method, as one pure, jit-able function of the sample
moments.

Each iteration solves  |H| d = -g  in the constrained coordinates z (x = x0 + K z, see
constraints.py), where H is the Hessian of F_ML (from JAX) and |H| replaces its eigenvalues by
their absolute values, floored at 1e-8 of the largest: Newton's step where H is positive definite
(quadratic convergence near the optimum), a descent direction where it is not (Nocedal & Wright
2006, sec. 3.4).  The step is halved until the Armijo condition holds.  It stops when max |g| <
grad_tol, or when the Newton decrement -gᵀd says no decrease above rounding is left.  It never
raises: the result carries a status code, so a vmapped bootstrap can record which replicates
failed.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


CONVERGED, MAX_ITER, NOT_PD, NO_DESCENT = 0, 1, 2, 3
# A Newton decrement below this (relative to F) is a decrease no float64 evaluation can resolve.
ROUNDING = 1e-14
# max |g| (in the unit-scale model, scaling.py) below which rounding may end the search.
STATIONARY = 1e-6
# Newton steps after the search stops, each kept when it shrinks the gradient.
POLISH_STEPS = 3
STATUS_TEXT = {
    CONVERGED: "converged",
    MAX_ITER: "iteration limit reached",
    NOT_PD: "implied covariance matrix not positive definite",
    NO_DESCENT: "line search failed to reduce the objective",
}


class FitState(NamedTuple):
    """Result of one optimization: estimates, F_ML, max |gradient|, iterations, status code."""

    x: jnp.ndarray
    f: jnp.ndarray
    grad_norm: jnp.ndarray
    n_iter: jnp.ndarray
    status: jnp.ndarray


def newton(f_of: Callable, z_start: jnp.ndarray, max_iter, grad_tol) -> FitState:
    """FitState of the modified Newton iteration on ``f_of(z)`` from ``z_start``; pure and
    jit-able (``max_iter`` and ``grad_tol`` may be traced).  Its ``x`` is z: the caller maps it.
    Coordinates on which F does not depend (padding, structure.py) have zero gradient and a
    floored eigenvalue, so they never move."""
    value_and_grad = jax.value_and_grad(f_of)

    def newton_matrix(z):
        w, v = jnp.linalg.eigh(jax.hessian(f_of)(z))
        w = jnp.maximum(jnp.abs(w), 1e-8 * jnp.max(jnp.abs(w)))
        return (v * w[None, :]) @ v.T

    def step(state):
        z, f, g, it, _, _ = state
        d = -jnp.linalg.solve(newton_matrix(z), g)
        d = jnp.where(jnp.all(jnp.isfinite(d)), d, -g)
        slope = g @ d

        def shrink(carry):
            t, _ = carry
            return t / 2.0, f_of(z + (t / 2.0) * d)

        def keep_shrinking(carry):
            t, f_new = carry
            return (~(f_new <= f + 1e-4 * t * slope)) & (t > 1e-10)

        t, f_new = lax.while_loop(keep_shrinking, shrink, (1.0, f_of(z + d)))
        accepted = f_new <= f + 1e-4 * t * slope
        z_new = jnp.where(accepted, z + t * d, z)
        f_new, g_new = value_and_grad(z_new)
        status = jnp.where(accepted, CONVERGED, NO_DESCENT)
        return z_new, f_new, g_new, it + 1, status, -slope

    def not_done(state):
        _, f, g, it, status, decrement = state
        small = (jnp.max(jnp.abs(g)) < grad_tol) | (decrement < ROUNDING * (1.0 + jnp.abs(f)))
        return ~small & (it < max_iter) & (status == CONVERGED) & jnp.isfinite(f)

    f0, g0 = value_and_grad(z_start)
    init = (z_start, f0, g0, jnp.asarray(0), jnp.asarray(CONVERGED), jnp.asarray(jnp.inf))
    z, f, g, it, status, decrement = lax.while_loop(not_done, step, init)

    def polish(_, carry):
        # Where F can no longer resolve a decrease (the decrement below rounding), full Newton
        # steps still shrink the gradient: each kept when it does and F does not rise.
        z, f, g = carry
        z_new = z - jnp.linalg.solve(newton_matrix(z), g)
        f_new, g_new = value_and_grad(z_new)
        better = (jnp.all(jnp.isfinite(z_new)) & (jnp.max(jnp.abs(g_new)) < jnp.max(jnp.abs(g)))
                  & (f_new <= f + ROUNDING * (1.0 + jnp.abs(f))) & (jnp.max(jnp.abs(g)) >= grad_tol))
        return tuple(jnp.where(better, new, old) for new, old in ((z_new, z), (f_new, f), (g_new, g)))

    z, f, g = lax.fori_loop(0, POLISH_STEPS, polish, (z, f, g))
    grad_norm = jnp.max(jnp.abs(g))
    # Rounding ends the search only near a stationary point: an ill-conditioned Hessian (a
    # parameter running off to infinity) also gives a tiny decrement, far from one.
    optimal = (grad_norm < grad_tol) | ((decrement < ROUNDING * (1.0 + jnp.abs(f))) & (grad_norm < STATIONARY))
    status = jnp.where(
        ~jnp.isfinite(f), NOT_PD,
        jnp.where(optimal, CONVERGED, jnp.where(status == NO_DESCENT, NO_DESCENT, MAX_ITER)))
    return FitState(z, f, grad_norm, it, status)
