"""The compiled functions of one model, built once per model structure and cached.

A fit, its standard errors, the bootstrap and ``compare()`` all call the same jitted functions,
so a model compiles once per process however often it is refitted (a new data set of the same
shape reuses the compiled code).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import groups
from .constraints import Reparam
from .groups import Groups
from .matrices import Spec, to_matrices
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
    implied: Callable          # (x, moments) -> (Σ, μ); one pair per group for a multi-group model
    matrices: Callable         # (x, moments) -> Matrices (a tuple of them for a multi-group model)
    row_values: Callable       # (x, moments) -> value of every parameter-table row


def fingerprint(spec: Spec | Groups, reparam: Reparam, extra: tuple) -> str:
    """A digest of everything the compiled code depends on."""
    h = hashlib.sha256()
    multi = isinstance(spec, Groups)
    specs = spec.specs if multi else (spec,)
    for part in (spec.ov, spec.eta, spec.meanstructure, extra, multi):
        h.update(repr(part).encode())
    arrays = [a for s in specs for a in (*s.base, *s.target, s.free_rows, s.exo_rows, s.exo_moment, s.row_base)]
    arrays += [*(spec.index if multi else ()), reparam.x0, reparam.basis]
    for a in arrays:
        a = np.asarray(a)
        h.update(repr((a.shape, a.dtype)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


# The most recently used engines.  Bounded: every compiled executable holds memory mappings, and a
# process that keeps hundreds (a long session fitting many different models) reaches Linux's
# per-process limit (vm.max_map_count, 65,530 by default), where jaxlib aborts mid-compile.
MAX_ENGINES = 64
_CACHE: OrderedDict[str, Engine] = OrderedDict()


def get(spec: Spec | Groups, reparam: Reparam, max_iter: int, grad_tol: float) -> Engine:
    """The cached engine of this model structure, built on first use."""
    key = fingerprint(spec, reparam, (max_iter, grad_tol))
    if key not in _CACHE:
        _CACHE[key] = _build(spec, reparam, max_iter, grad_tol)
        while len(_CACHE) > MAX_ENGINES:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]


def _build(spec: Spec | Groups, reparam: Reparam, max_iter: int, grad_tol: float) -> Engine:
    x0, basis = jnp.asarray(reparam.x0), jnp.asarray(reparam.basis)
    multi = isinstance(spec, Groups)
    loss = groups.make_loss(spec) if multi else make_loss(spec)
    hessian = groups.make_expected_hessian(spec) if multi else make_expected_hessian(spec)
    implied = groups.make_implied(spec) if multi else make_implied(spec)
    matrices = groups.matrices if multi else to_matrices

    def hessian_z(z, moments):
        return basis.T @ hessian(x0 + basis @ z, moments) @ basis

    def observed_hessian_z(z, moments):
        return jax.hessian(lambda zz: loss(x0 + basis @ zz, moments))(z)

    return Engine(
        fit_moments=jax.jit(make_fit(loss, reparam, max_iter, grad_tol)),
        refit_moments=jax.jit(make_scoring(spec, reparam, max_iter, grad_tol * 1e-2)),
        hessian_z=jax.jit(hessian_z),
        observed_hessian_z=jax.jit(observed_hessian_z),
        implied=jax.jit(implied),
        matrices=jax.jit(lambda x, moments: matrices(x, spec, moments)),
        row_values=jax.jit(spec.values),
    )
