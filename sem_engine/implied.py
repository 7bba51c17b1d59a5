"""Model-implied moments from the model matrices.

    Σ = Λ (I - B)⁻¹ Ψ (I - B)⁻ᵀ Λᵀ + Θ,    μ = ν + Λ (I - B)⁻¹ α

(Bollen 1989, ch. 8; lavaan's LISREL representation).  ``total`` gives (I - B)⁻¹, the total
effects among the η variables plus the identity (linalg.inverse: no LAPACK call when ``jax.vmap``
batches it, see linalg.py).  The functions take JAX arrays inside compiled code and numpy
matrices (a fit's estimates) outside it.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import linalg
from .matrices import Matrices


def total(mats: Matrices) -> jnp.ndarray:
    """(I - B)⁻¹; numpy matrices give numpy (no compiled code outside the kernels)."""
    m = mats.beta.shape[0]
    if isinstance(mats.beta, np.ndarray):
        return np.linalg.inv(np.eye(m) - mats.beta)
    return linalg.inverse(jnp.eye(m) - mats.beta)


def eta_cov(mats: Matrices) -> jnp.ndarray:
    """Covariance of η: (I - B)⁻¹ Ψ (I - B)⁻ᵀ."""
    t = total(mats)
    return t @ mats.psi @ t.T


def eta_mean(mats: Matrices) -> jnp.ndarray:
    """Mean of η: (I - B)⁻¹ α."""
    return total(mats) @ mats.alpha


def sigma(mats: Matrices) -> jnp.ndarray:
    """Model-implied covariance matrix Σ of the observed variables."""
    lam_t = mats.lam @ total(mats)
    return lam_t @ mats.psi @ lam_t.T + mats.theta


def mu(mats: Matrices) -> jnp.ndarray:
    """Model-implied mean vector μ of the observed variables."""
    return mats.nu + mats.lam @ eta_mean(mats)
