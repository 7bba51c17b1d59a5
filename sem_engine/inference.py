"""Information matrices, the covariance matrix of the estimates, and Wald inference.

The expected Hessian of F_ML (Lee & Jennrich 1979) is

    H_x[i, j] = tr(Σ⁻¹ Σ_i Σ⁻¹ Σ_j) + 2 μ_iᵀ Σ⁻¹ μ_j           (Σ_i = ∂Σ/∂x_i).

With it, or with the observed Hessian of F_ML, the covariance matrix of the constrained
coordinates z is

    vcov(z) = 2 (Kᵀ H K)⁻¹ / n_eff,   vcov(x) = K vcov(z) Kᵀ

(the log-likelihood is -n/2 F_ML, so the unit information is H / 2; n_eff as in objective.py).
Defined parameters g(x) (``:=``) get delta-method variances J vcov(x) Jᵀ with J = ∂g/∂x, evaluated
in numpy outside compiled code (``definitions``).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
import numpy as np

from . import distributions, expressions, implied, linalg, structure
from .constraints import Reparam, row_index
from .moments import Moments
from .objective import group_moments, weights
from .partable import ParameterTable
from .structure import Padded, Sizes, Structure


def lapack_whitener(sigma: jnp.ndarray) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """b -> L⁻¹ b with Σ = L Lᵀ, by LAPACK (Cholesky and a triangular solve): one matrix at a time."""
    chol = jnp.linalg.cholesky(sigma)
    return lambda b: solve_triangular(chol, b, lower=True)


def loop_whitener(sigma: jnp.ndarray) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """b -> L⁻¹ b with Σ = L Lᵀ, in linalg.py's plain JAX loops: safe under ``jax.vmap``."""
    inv_l = linalg.inv_lower(linalg.cholesky(sigma))
    return lambda b: inv_l @ b


def expected_hessian(x, st: Structure, moments: Padded, sz: Sizes, whitener: Callable = lapack_whitener):
    """The expected Hessian H_x of F at the padded x (twice the unit information): the groups'
    Hessians weighted by n_g / N (groups.py); under FIML each group's at the implied Σ
    (``_patterns_hessian``).

    ``whitener(Σ)`` returns b -> L⁻¹ b for the Cholesky factor L of Σ: ``lapack_whitener`` for
    single fits, ``loop_whitener`` for batches under ``jax.vmap`` (see linalg.py).
    """
    w = weights(st, moments)
    total = jnp.zeros((sz.npar, sz.npar))
    for g, (st_g, s, xbar, n, pat) in enumerate(group_moments(st, moments, sz)):
        if pat is not None:
            def pair(xx, st_g=st_g, s=s, xbar=xbar):
                mats = structure.matrices(xx, st_g, s, xbar, sz.p, sz.m)
                return implied.sigma(mats), implied.mu(mats)

            sigma, _ = pair(x)
            d_sigma, d_mu = jax.jacfwd(pair)(x)
            h = _patterns_hessian(sigma, d_sigma, d_mu, n, pat)
        else:
            sigma, u, v, d = rank_two(structure.matrices(x, st_g, s, xbar, sz.p, sz.m), st_g.deriv)
            whiten = whitener(sigma)
            u, v, d = whiten(u), whiten(v), whiten(d)
            g_uu, g_vv, g_uv = u.T @ u, v.T @ v, u.T @ v
            h = 2.0 * (g_uu * g_vv + g_uv * g_uv.T) + 2.0 * st.meanstructure * d.T @ d
        total = total + jnp.where(w[g] > 0, w[g] * h, 0.0)
    return total


def rank_two(mats, deriv):
    """(Σ, U, V, D): ∂Σ/∂x_i = u_i v_iᵀ + v_i u_iᵀ and ∂μ/∂x_i = d_i.

    Every free parameter is one entry of Λ, Θ, Ψ, B, ν or α, so with T = (I - B)⁻¹, A = Λ T and
    W = A Ψ Tᵀ (Bollen 1989, ch. 8):

        Λ_jk: u = e_j,  v = W e_k,  d = e_j (Tα)_k       Θ_jl: u = e_j, v = e_l (½ e_j if j = l)
        B_kl: u = A e_k, v = W e_l,  d = A e_k (Tα)_l    Ψ_kl: u = A e_k, v = A e_l (½ if k = l)
        ν_j:  d = e_j                                     α_k:  d = A e_k

    so that tr(Σ⁻¹Σ_iΣ⁻¹Σ_j) = 2[(u_iᵀΣ⁻¹u_j)(v_iᵀΣ⁻¹v_j) + (u_iᵀΣ⁻¹v_j)(u_jᵀΣ⁻¹v_i)]: the expected
    Hessian costs O(p q²) instead of O(p³ q + p² q²) from the dense Jacobian of Σ.  The columns of
    each parameter in the candidates [I_p | A | W | 0] are data (structure.Derivatives).
    """
    xp = np if isinstance(mats.lam, np.ndarray) else jnp   # numpy outside compiled code
    p = mats.lam.shape[0]
    t = implied.total(mats)
    big_a = mats.lam @ t
    sigma = big_a @ mats.psi @ big_a.T + mats.theta
    cand = xp.concatenate([xp.eye(p), big_a, big_a @ mats.psi @ t.T, xp.zeros((p, 1))], axis=1)
    t_alpha = xp.concatenate([t @ mats.alpha, xp.ones(1)])
    return (sigma, cand[:, deriv.iu], cand[:, deriv.iv] * deriv.half[None, :],
            cand[:, deriv.i_d] * t_alpha[deriv.k_ta][None, :])


def _patterns_hessian(sigma, d_sigma, d_mu, n, pat) -> jnp.ndarray:
    """The expected Hessian under incomplete data (FIML), at the implied Σ (lavaan's
    h1.information="structured"): the patterns' terms weighted by n_k / N,

        Σ_k (n_k / N) [tr(P_k Σ_i P_k Σ_j) + 2 μ_iᵀ P_k μ_j],   P_k = (Σ_oo)⁻¹ zero-filled.
    """
    def pattern(o, count):
        inner = linalg.inverse(sigma * jnp.outer(o, o) + jnp.diag(1.0 - o)) * jnp.outer(o, o)
        a = jnp.einsum("ab,bcq->acq", inner, d_sigma)
        return count * (jnp.einsum("abi,baj->ij", a, a) + 2.0 * d_mu.T @ inner @ d_mu)

    return jnp.sum(jax.vmap(pattern)(pat.mask, pat.count), axis=0) / n


def _equilibrate(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s, R) with h = diag(s) R diag(s), R of unit diagonal (s = √diag h; 1 where the diagonal
    is not positive): R does not change when the parameters are rescaled, so a rank test on R
    is free of the parameters' units."""
    h = (h + h.T) / 2
    diag = np.diag(h)
    s = np.where(np.isfinite(diag) & (diag > 0), np.sqrt(np.abs(diag)), 1.0)
    return s, h / np.outer(s, s)


def inverse(h: np.ndarray) -> np.ndarray:
    """h⁻¹ of a symmetric positive definite h through its equilibrated form,
    diag(s)⁻¹ R⁻¹ diag(s)⁻¹ (``_equilibrate``), which keeps full precision when the parameters
    have very different units."""
    s, r = _equilibrate(h)
    return np.linalg.inv(r) / np.outer(s, s)


def pseudo_inverse(h: np.ndarray) -> np.ndarray:
    """The pseudo-inverse of a symmetric h through its equilibrated form (as ``inverse``): a
    plain pinv would drop, as numerically zero, the directions of parameters in small units."""
    s, r = _equilibrate(h)
    return np.linalg.pinv(r, hermitian=True) / np.outer(s, s)


def null_directions(h: np.ndarray) -> np.ndarray:
    """Directions z with h z = 0 for a symmetric positive semi-definite h: the eigenvectors of
    the equilibrated R (``_equilibrate``) with eigenvalues below 1e-9 of the largest, mapped back
    (diag(s)⁻¹ v, normalized).  A non-finite h has no answer: ValueError."""
    if h.size == 0:
        return np.zeros((0, 0))
    if not np.all(np.isfinite(h)):
        raise ValueError("the information matrix is not finite")
    s, r = _equilibrate(h)
    eigval, eigvec = np.linalg.eigh(r)
    null = eigvec[:, eigval < 1e-9 * max(np.abs(eigval).max(), 1e-300)] / s[:, None]
    return null / np.maximum(np.linalg.norm(null, axis=0), 1e-300)


class Wald(NamedTuple):
    se: np.ndarray
    z: np.ndarray
    pvalue: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray


def vcov(h_z: np.ndarray, reparam: Reparam, n_eff: float) -> tuple[np.ndarray, np.ndarray]:
    """vcov(x) from the Hessian of F_ML in z, V_z = 2 H⁻¹ / N (inverted in its equilibrated
    form, so that parameters of very different units lose no precision); NaN, with the null
    directions in x, if it is singular (every direction if it is not finite)."""
    if not np.all(np.isfinite(h_z)):
        return np.full((reparam.basis.shape[0],) * 2, np.nan), reparam.basis
    null = null_directions(h_z)
    if null.size:
        return np.full((reparam.basis.shape[0],) * 2, np.nan), reparam.basis @ null
    v_z = 2.0 * inverse(h_z) / n_eff
    return reparam.basis @ v_z @ reparam.basis.T, null


def wald(est: np.ndarray, se: np.ndarray, level: float) -> Wald:
    """z = est / se, two-sided normal p-value and level CI (NaN where se is 0 or undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, np.nan)
    crit = distributions.norm_ppf(0.5 + level / 2)
    pvalue = 2 * distributions.norm_sf(np.abs(z))
    return Wald(se, z, pvalue, est - crit * se, est + crit * se)


def definitions(pt: ParameterTable, values: np.ndarray, grad: bool = False):
    """The ``:=`` parameters from the value of every table row (numpy; ``values`` may carry
    leading batch axes), each definition possibly using earlier ones; with ``grad`` also their
    Jacobian with respect to the row values (expressions.evaluate: forward mode, exact).

    ``values`` may be any per-row values (the estimates, or the standardized values as lavaan's
    ``standardizedSolution`` uses them).
    """
    index = dict(row_index(pt))
    values = np.asarray(values, dtype=float)
    n_rows = values.shape[-1]
    extended, jac = values, np.eye(n_rows)
    for k, d in enumerate(pt.definitions):
        out = expressions.evaluate(d.expr, extended, index, grad)
        value, d_ext = out if grad else (out, None)
        extended = np.concatenate([extended, value[..., None]], axis=-1)
        if grad:
            jac = np.vstack([jac, d_ext @ jac])
        index[d.name] = n_rows + k
    if grad:
        return extended[..., n_rows:], jac[n_rows:]
    return extended[..., n_rows:]
