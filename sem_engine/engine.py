"""The compiled functions of one model, built once per model structure and cached.

A fit, its standard errors, the bootstrap and ``compare()`` all call the same jitted functions,
so a model compiles once per process however often it is refitted (a new data set of the same
shape reuses the compiled code).
"""

from __future__ import annotations

import hashlib
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .constraints import Reparam
from .matrices import Spec, row_values, to_matrices
from .objective import make_implied, make_loss
from .inference import make_expected_hessian
from .optimize import make_fit
from .scoring import make_scoring


class Engine(NamedTuple):
    """Jitted functions of (x or z, moments)."""

    fit_moments: Callable      # (moments, z_start) -> FitState
    refit_moments: Callable    # (moments, z_start, H₀⁻¹) -> FitState, quasi-Newton scoring (scoring.py)
    hessian_z: Callable        # (z, moments) -> Kᵀ H K, expected Hessian of F_ML
    observed_hessian_z: Callable  # (z, moments) -> observed Hessian of F_ML in z
    implied: Callable          # (x, moments) -> (Σ, μ)
    matrices: Callable         # (x, moments) -> Matrices
    row_values: Callable       # (x, moments) -> value of every parameter-table row


def fingerprint(spec: Spec, reparam: Reparam, extra: tuple) -> str:
    """A digest of everything the compiled code depends on."""
    h = hashlib.sha256()
    for part in (spec.ov, spec.eta, spec.meanstructure, extra):
        h.update(repr(part).encode())
    arrays = [*spec.base, *spec.target, spec.free_rows, spec.exo_rows, spec.exo_moment, spec.row_base,
              reparam.x0, reparam.basis]
    for a in arrays:
        a = np.asarray(a)
        h.update(repr((a.shape, a.dtype)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


_CACHE: dict[str, Engine] = {}


def get(spec: Spec, reparam: Reparam, max_iter: int, grad_tol: float) -> Engine:
    """The cached engine of this model structure, built on first use."""
    key = fingerprint(spec, reparam, (max_iter, grad_tol))
    if key not in _CACHE:
        _CACHE[key] = _build(spec, reparam, max_iter, grad_tol)
    return _CACHE[key]


def _build(spec: Spec, reparam: Reparam, max_iter: int, grad_tol: float) -> Engine:
    x0, basis = jnp.asarray(reparam.x0), jnp.asarray(reparam.basis)
    loss = make_loss(spec)
    hessian = make_expected_hessian(spec)

    def hessian_z(z, moments):
        return basis.T @ hessian(x0 + basis @ z, moments) @ basis

    def observed_hessian_z(z, moments):
        return jax.hessian(lambda zz: loss(x0 + basis @ zz, moments))(z)

    return Engine(
        fit_moments=jax.jit(make_fit(spec, reparam, max_iter, grad_tol)),
        refit_moments=jax.jit(make_scoring(spec, reparam, max_iter, grad_tol * 1e-2)),
        hessian_z=jax.jit(hessian_z),
        observed_hessian_z=jax.jit(observed_hessian_z),
        implied=jax.jit(make_implied(spec)),
        matrices=jax.jit(lambda x, moments: to_matrices(x, spec, moments)),
        row_values=jax.jit(lambda x, moments: row_values(x, spec, moments)),
    )
