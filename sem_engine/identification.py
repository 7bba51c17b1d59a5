"""Degrees of freedom and the local identification check (Wald's rank rule).

df = (number of sample moments) - (free parameters - independent equality constraints).  The
moments are the p(p+1)/2 variances and covariances plus p means with a mean structure; with
``fixed_x`` the moments of the exogenous covariates are fitted exactly by fixed parameters and
are not counted (lavaan does the same, so df does not depend on fixed_x).

A model is locally identified at x when the Jacobian Δ of (Σ(x), μ(x)) with respect to the free
coordinates z has full column rank (Bollen 1989, pp. 251-254).  The expected Hessian Δᵀ W Δ (W
positive definite) has the same null space, so the check reuses the compiled Hessian.  It runs
at a perturbed starting point, so a special point (a zero regression, say) cannot fake a
deficiency.
"""

from __future__ import annotations

import numpy as np

from .constraints import Reparam
from .engine import Engine
from .errors import IdentificationError, ModelError
from .inference import null_directions
from .matrices import Spec
from .moments import Moments
from .partable import ParameterTable


def n_moments(p: int, n_x: int, meanstructure: bool) -> int:
    """Sample moments the model must reproduce, excluding those of fixed covariates."""
    return p * (p + 1) // 2 - n_x * (n_x + 1) // 2 + (p - n_x if meanstructure else 0)


def degrees_of_freedom(pt: ParameterTable, spec: Spec, reparam: Reparam, fixed_x: bool) -> int:
    n_x = len(pt.variables.ov_x) if fixed_x else 0
    return pt.n_groups * n_moments(spec.p, n_x, spec.meanstructure) - reparam.basis.shape[1]


def check(pt: ParameterTable, spec: Spec, reparam: Reparam, engine: Engine, moments: Moments,
          x_start: np.ndarray, df: int) -> None:
    """Raise IdentificationError for negative df or a rank-deficient Jacobian."""
    if df < 0:
        raise IdentificationError(
            f"the model has more free parameters ({reparam.basis.shape[1]}) than sample moments "
            f"({df + reparam.basis.shape[1]}): df = {df}; fix or constrain parameters"
        )
    if reparam.basis.shape[1] == 0:
        implied = engine.implied(x_start, moments)
        for sigma, _ in (implied if engine.multi else (implied,)):
            if not np.linalg.eigvalsh(sigma)[0] > 0:
                raise ModelError("the model has no free parameters and its implied covariance matrix is not "
                                 "positive definite (a variance fixed to 0?); free a parameter or change the "
                                 "fixed values")
        return
    rng = np.random.default_rng(20201)
    # The perturbation is relative to the unit-scale model (scaling.py), so it means the same in any units.
    cx = engine.units.cx
    x = (cx * x_start * rng.uniform(0.8, 1.2, len(x_start)) + rng.uniform(0.05, 0.1, len(x_start))) / cx
    # A generic point: Σ(x) must stay positive definite for W, so only perturb if it does.
    z = reparam.to_z(x)
    h = engine.hessian_z(z, moments)
    if not np.all(np.isfinite(h)):
        h = engine.hessian_z(reparam.to_z(x_start), moments)
    if not np.all(np.isfinite(h)):
        raise ModelError("the model-implied covariance matrix is not positive definite at the start values, "
                         "so identification cannot be checked; give start values (start(value)*x) or "
                         "check fixed values and constraints")
    null = null_directions(h)
    if null.size == 0:
        return
    raise IdentificationError(
        f"the model is not identified: {null.shape[1]} direction(s) of the parameters leave the "
        f"implied moments unchanged, involving {', '.join(involved(pt, spec, reparam.basis @ null))}. "
        "Fix a loading or a latent variance to set each factor's scale, or add constraints"
    )


def involved(pt: ParameterTable, spec: Spec, directions: np.ndarray) -> list[str]:
    """Names (lhs op rhs) of the free parameters that move along the given directions in x."""
    rows = spec.free_rows[np.abs(directions).max(axis=1) > 1e-6]
    t = pt.table
    return [f"{t['lhs'][r]}{t['op'][r]}{t['rhs'][r]}" for r in rows]
