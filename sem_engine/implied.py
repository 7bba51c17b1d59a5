"""Model-implied moments from the model matrices.

    Σ = Λ (I - B)⁻¹ Ψ (I - B)⁻ᵀ Λᵀ + Θ,    μ = ν + Λ (I - B)⁻¹ α

(Bollen 1989, ch. 8; lavaan's LISREL representation).  ``total`` gives (I - B)⁻¹, the total
effects among the η variables plus the identity (linalg.inverse: no LAPACK call when ``jax.vmap``
batches it, see linalg.py).
"""

from __future__ import annotations

import jax.numpy as jnp

from . import linalg
from .matrices import Matrices


def total(mats: Matrices) -> jnp.ndarray:
    """(I - B)⁻¹."""
    m = mats.beta.shape[0]
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
