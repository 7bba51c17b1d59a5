"""Small dense linear algebra written in plain JAX operations (no LAPACK custom calls).

jaxlib's CPU LAPACK kernels split a batch of matrices over XLA's intra-op thread pool and block
until the pieces finish.  Under ``jax.vmap`` inside a compiled loop they can run on that pool's own
threads; with few cores every thread then waits for work that no free thread can take, and the
process hangs with no CPU use (observed with jaxlib 0.10.2 on 2 cores: a batch of 200 bootstrap
refits hung in ``lapack_dtrsm_ffi``).  The batched code paths (the bootstrap, implied moments)
therefore use these loops, which XLA compiles to ordinary fused array operations over the batch.
``inverse`` dispatches: LAPACK for a single matrix (fast, and differentiable twice for the
optimizer's Hessian), Gauss-Jordan here when ``jax.vmap`` batches it.

Algorithms (Golub & Van Loan 2013): Cholesky-Banachiewicz (sec. 4.2), forward substitution for
the inverse of a lower-triangular matrix (sec. 3.1), Gauss-Jordan elimination with partial
pivoting (sec. 3.4).  Each is O(n³) in ``lax.fori_loop`` over the n columns or rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def cholesky(a: jnp.ndarray) -> jnp.ndarray:
    """Lower-triangular L with L Lᵀ = a, column by column:

        v = a[:, j] - L L[j, :]ᵀ,   L[i, j] = v[i] / √v[j]  (i ≥ j).

    If ``a`` is not positive definite some entries are NaN or infinite (see ``is_factor``).
    """
    n = a.shape[-1]
    rows = jnp.arange(n)

    def column(j, lower):
        v = a[:, j] - lower @ lower[j, :]
        return lower.at[:, j].set(jnp.where(rows >= j, v / jnp.sqrt(v[j]), 0.0))

    return lax.fori_loop(0, n, column, jnp.zeros_like(a))


def is_factor(lower: jnp.ndarray) -> jnp.ndarray:
    """True when ``cholesky`` succeeded: all entries finite and a positive diagonal."""
    return jnp.all(jnp.isfinite(lower)) & jnp.all(jnp.diagonal(lower) > 0)


def inv_lower(lower: jnp.ndarray) -> jnp.ndarray:
    """L⁻¹ of a lower-triangular L, row by row:  X[i, :] = (e_i - L[i, :i] X[:i, :]) / L[i, i]."""
    n = lower.shape[-1]
    eye = jnp.eye(n, dtype=lower.dtype)

    def row(i, x):
        return x.at[i, :].set((eye[i] - lower[i, :] @ x) / lower[i, i])

    return lax.fori_loop(0, n, row, jnp.zeros_like(lower))


def solve(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """X with a X = b (a square, b a matrix), by Gauss-Jordan elimination with partial pivoting.

    Step k swaps the row with the largest |a[i, k]| (i ≥ k) into row k, scales it to a[k, k] = 1 and
    subtracts multiples of it from every other row; after n steps a is I and b is X.  A singular a
    gives infinite or NaN entries.
    """
    n = a.shape[0]
    rows = jnp.arange(n)

    def step(k, ab):
        a, b = ab
        pivot = jnp.argmax(jnp.where(rows >= k, jnp.abs(a[:, k]), -1.0))
        order = jnp.where(rows == k, pivot, jnp.where(rows == pivot, k, rows))
        a, b = a[order], b[order]
        a_row, b_row = a[k] / a[k, k], b[k] / a[k, k]
        factor = jnp.where(rows == k, 0.0, a[:, k])
        a = (a - jnp.outer(factor, a_row)).at[k].set(a_row)
        b = (b - jnp.outer(factor, b_row)).at[k].set(b_row)
        return a, b

    return lax.fori_loop(0, n, step, (a, b))[1]


@jax.custom_jvp
def inverse(a: jnp.ndarray) -> jnp.ndarray:
    """a⁻¹ for a square a; d(a⁻¹) = -a⁻¹ da a⁻¹.  Batched under ``jax.vmap`` by ``solve``."""
    return _inverse(a)


@inverse.defjvp
def _inverse_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    inv = inverse(a)
    return inv, -inv @ da @ inv


@jax.custom_batching.custom_vmap
def _inverse(a):
    return jnp.linalg.solve(a, jnp.eye(a.shape[0], dtype=a.dtype))


@_inverse.def_vmap
def _inverse_batched(axis_size, in_batched, a):
    eye = jnp.eye(a.shape[-1], dtype=a.dtype)
    if not in_batched[0]:
        return _inverse(a), False
    return jax.vmap(lambda one: solve(one, eye))(a), True


@jax.custom_jvp
def logdet(a: jnp.ndarray) -> jnp.ndarray:
    """log|a| of a positive definite a; d log|a| = tr(a⁻¹ da).  Batched under ``jax.vmap`` by
    ``cholesky``; derivatives of any order need only ``inverse``."""
    return _logdet(a)


@logdet.defjvp
def _logdet_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    return logdet(a), jnp.sum(inverse(a).T * da)


@jax.custom_batching.custom_vmap
def _logdet(a):
    return jnp.linalg.slogdet(a)[1]


@_logdet.def_vmap
def _logdet_batched(axis_size, in_batched, a):
    if not in_batched[0]:
        return _logdet(a), False
    lower = jax.vmap(cholesky)(a)
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(lower, axis1=-2, axis2=-1)), axis=-1), True
