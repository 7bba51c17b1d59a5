"""Information matrices, the covariance matrix of the estimates, and Wald inference.

The expected Hessian of F_ML (Lee & Jennrich 1979) is

    H_x[i, j] = tr(Σ⁻¹ Σ_i Σ⁻¹ Σ_j) + 2 μ_iᵀ Σ⁻¹ μ_j           (Σ_i = ∂Σ/∂x_i).

With it, or with the observed Hessian of F_ML, the covariance matrix of the constrained
coordinates z is

    vcov(z) = 2 (Kᵀ H K)⁻¹ / n_eff,   vcov(x) = K vcov(z) Kᵀ

(the log-likelihood is -n/2 F_ML, so the unit information is H / 2; n_eff as in objective.py).
Defined parameters g(x) (``:=``) get delta-method variances J vcov(x) Jᵀ with J = ∂g/∂x from JAX.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
import numpy as np
from scipy import stats

from . import expressions, implied, linalg
from .constraints import Reparam, row_index
from .matrices import NAMES, Spec, to_matrices
from .moments import Moments
from .objective import make_implied
from .partable import ParameterTable


def lapack_whitener(sigma: jnp.ndarray) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """b -> L⁻¹ b with Σ = L Lᵀ, by LAPACK (Cholesky and a triangular solve): one matrix at a time."""
    chol = jnp.linalg.cholesky(sigma)
    return lambda b: solve_triangular(chol, b, lower=True)


def loop_whitener(sigma: jnp.ndarray) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """b -> L⁻¹ b with Σ = L Lᵀ, in linalg.py's plain JAX loops: safe under ``jax.vmap``."""
    inv_l = linalg.inv_lower(linalg.cholesky(sigma))
    return lambda b: inv_l @ b


def make_expected_hessian(spec: Spec, whitener: Callable = lapack_whitener
                          ) -> Callable[[jnp.ndarray, Moments], jnp.ndarray]:
    """hessian(x, moments): the expected Hessian H_x of F_ML (twice the unit information).

    ``whitener(Σ)`` returns b -> L⁻¹ b for the Cholesky factor L of Σ: ``lapack_whitener`` for
    single fits, ``loop_whitener`` for batches under ``jax.vmap`` (see linalg.py).
    """
    implied_moments = make_implied(spec)
    derivatives = make_rank_two(spec)

    def hessian(x, moments):
        if moments.patterns is not None:
            sigma, _ = implied_moments(x, moments)
            d_sigma, d_mu = jax.jacfwd(implied_moments)(x, moments)
            return _patterns_hessian(sigma, d_sigma, d_mu, moments)
        sigma, u, v, d = derivatives(x, moments)
        whiten = whitener(sigma)
        u, v = whiten(u), whiten(v)
        g_uu, g_vv, g_uv = u.T @ u, v.T @ v, u.T @ v
        h = 2.0 * (g_uu * g_vv + g_uv * g_uv.T)
        if spec.meanstructure:
            w = whiten(d)
            h = h + 2.0 * w.T @ w
        return h

    return hessian


def make_rank_two(spec: Spec) -> Callable:
    """derivatives(x, moments) -> (Σ, U, V, D): ∂Σ/∂x_i = u_i v_iᵀ + v_i u_iᵀ and ∂μ/∂x_i = d_i.

    Every free parameter is one entry of Λ, Θ, Ψ, B, ν or α, so with T = (I - B)⁻¹, A = Λ T and
    W = A Ψ Tᵀ (Bollen 1989, ch. 8):

        Λ_jk: u = e_j,  v = W e_k,  d = e_j (Tα)_k       Θ_jl: u = e_j, v = e_l (½ e_j if j = l)
        B_kl: u = A e_k, v = W e_l,  d = A e_k (Tα)_l    Ψ_kl: u = A e_k, v = A e_l (½ if k = l)
        ν_j:  d = e_j                                     α_k:  d = A e_k

    so that tr(Σ⁻¹Σ_iΣ⁻¹Σ_j) = 2[(u_iᵀΣ⁻¹u_j)(v_iᵀΣ⁻¹v_j) + (u_iᵀΣ⁻¹v_j)(u_jᵀΣ⁻¹v_i)]: the expected
    Hessian costs O(p q²) instead of O(p³ q + p² q²) from the dense Jacobian of Σ.
    """
    p, m = spec.p, spec.m
    rows = spec.free_rows
    code = spec.target.matrix[rows]
    a, b = spec.target.row[rows], spec.target.col[rows]
    # columns of [I_p | A | W | 0] (p + 2m + 1 candidates) and a scale for v
    e, lv, w_, zero = 0, p, p + m, p + 2 * m
    lam, theta, psi, beta, nu, alpha = (code == NAMES.index(k) for k in NAMES)
    iu = np.select([lam, theta, psi, beta], [e + a, e + a, lv + a, lv + a], zero)
    iv = np.select([lam, theta, psi, beta], [w_ + b, e + b, lv + b, w_ + b], zero)
    half = np.where((theta | psi) & (a == b), 0.5, 1.0)
    i_d = np.select([lam | nu, beta | alpha], [e + a, lv + a], zero)
    k_ta = np.select([lam, beta], [b, b], -1)   # (Tα)_k scales d; -1: scale 1

    def derivatives(x, moments):
        mats = to_matrices(x, spec, moments)
        t = implied.total(mats)
        big_a = mats.lam @ t
        sigma = big_a @ mats.psi @ big_a.T + mats.theta
        cand = jnp.concatenate([jnp.eye(p), big_a, big_a @ mats.psi @ t.T, jnp.zeros((p, 1))], axis=1)
        t_alpha = jnp.concatenate([t @ mats.alpha, jnp.ones(1)])
        return sigma, cand[:, iu], cand[:, iv] * half[None, :], cand[:, i_d] * t_alpha[k_ta][None, :]

    return derivatives


def _patterns_hessian(sigma, d_sigma, d_mu, moments: Moments) -> jnp.ndarray:
    """The expected Hessian under incomplete data (FIML), at the implied Σ (lavaan's
    h1.information="structured"): the patterns' terms weighted by n_k / N,

        Σ_k (n_k / N) [tr(P_k Σ_i P_k Σ_j) + 2 μ_iᵀ P_k μ_j],   P_k = (Σ_oo)⁻¹ zero-filled.
    """
    def pattern(o, n):
        inner = linalg.inverse(sigma * jnp.outer(o, o) + jnp.diag(1.0 - o)) * jnp.outer(o, o)
        a = jnp.einsum("ab,bcq->acq", inner, d_sigma)
        return n * (jnp.einsum("abi,baj->ij", a, a) + 2.0 * d_mu.T @ inner @ d_mu)

    pat = moments.patterns
    return jnp.sum(jax.vmap(pattern)(pat.mask, pat.count), axis=0) / moments.n


def null_directions(h: np.ndarray) -> np.ndarray:
    """Eigenvectors of a symmetric positive semi-definite h with (relatively) zero eigenvalues."""
    eigval, eigvec = np.linalg.eigh((h + h.T) / 2)
    return eigvec[:, eigval < 1e-9 * max(np.abs(eigval).max(), 1e-300)]


class Wald(NamedTuple):
    se: np.ndarray
    z: np.ndarray
    pvalue: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray


def vcov(h_z: np.ndarray, reparam: Reparam, n_eff: float) -> tuple[np.ndarray, np.ndarray]:
    """vcov(x) from the Hessian of F_ML in z; NaN, with the null directions in x, if it is singular."""
    null = null_directions(h_z)
    if null.size:
        return np.full((reparam.basis.shape[0],) * 2, np.nan), reparam.basis @ null
    v_z = 2.0 * np.linalg.inv((h_z + h_z.T) / 2) / n_eff
    return reparam.basis @ v_z @ reparam.basis.T, null


def wald(est: np.ndarray, se: np.ndarray, level: float) -> Wald:
    """z = est / se, two-sided normal p-value and level CI (NaN where se is 0 or undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, np.nan)
    crit = stats.norm.ppf(0.5 + level / 2)
    pvalue = 2 * stats.norm.sf(np.abs(z))
    return Wald(se, z, pvalue, est - crit * se, est + crit * se)


def make_definitions(pt: ParameterTable) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """definitions(values): the ``:=`` parameters from the value of every table row.

    Each definition may use earlier ones.  ``values`` may be any per-row values (the estimates, or
    the standardized values as lavaan's ``standardizedSolution`` uses them).
    """
    index = dict(row_index(pt))
    n_rows = len(pt.table)
    funcs = []
    for k, d in enumerate(pt.definitions):
        funcs.append(expressions.to_function(d.expr, index))
        index[d.name] = n_rows + k

    def definitions(values):
        for f in funcs:
            values = jnp.concatenate([values, f(values)[None]])
        return values[n_rows:]

    return definitions


def make_defined(pt: ParameterTable, spec) -> Callable[[jnp.ndarray, Moments], jnp.ndarray]:
    """defined(x, moments): values of the ``:=`` parameters at the free parameters x (``spec``:
    a Spec or a multi-group groups.Groups)."""
    definitions = make_definitions(pt)

    def defined(x, moments):
        return definitions(spec.values(x, moments))

    return defined


def delta_vcov(func, x, moments: Moments, vcov_x: np.ndarray) -> np.ndarray:
    """Delta-method covariance J vcov(x) Jᵀ of func(x, moments)."""
    jac = np.asarray(jax.jit(jax.jacfwd(func))(jnp.asarray(x), moments))
    return jac @ vcov_x @ jac.T
