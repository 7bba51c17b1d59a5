"""What is wrong with a fitted solution, said where users look: lavaan's post-estimation checks
(``lav_object_post_check``) and the fit's own verdicts.

Each problem is (warning category, message).  ``sem()`` issues them as warnings, and
``summary()`` and ``print(fit)`` list them as WARNING lines above the results:

- the optimizer did not converge;
- standard errors are not available (a singular or non-finite information matrix);
- negative variance estimates (Heywood case);
- the model-implied covariance matrix of the latent variables, cov(η) = (I - B)⁻¹ Ψ (I - B)⁻ᵀ,
  is not positive definite (lavaan: "covariance matrix of latent variables is not positive
  definite"), with the latent correlations outside [-1, 1] named;
- the residual covariance matrix Θ of the observed variables (over the variables with a
  non-zero residual variance) is not positive definite, with the residual correlations outside
  [-1, 1] named.

A matrix counts as not positive definite when its smallest eigenvalue, relative to its largest,
is below -1e-10 (rounding in the estimates leaves a singular matrix's zero eigenvalue at about
1e-15 either side), so the verdict does not depend on the variables' units.
"""

from __future__ import annotations

import numpy as np

from . import implied
from .errors import ConvergenceWarning, HeywoodWarning

_NEGATIVE = -1e-10


NO_STANDARD_ERRORS = ("standard errors are not available: the information matrix is singular "
                      "(a parameter is not identified at the estimates) or not finite")


def problems(fit) -> tuple[tuple[type, str], ...]:
    """Every problem of ``fit`` (module docstring), in the order summary() lists them."""
    out = []
    if not fit.converged:
        out.append((ConvergenceWarning, f"the optimizer did not converge ({fit.status}) after {fit.n_iter} "
                                        "iterations; results are not trustworthy"))
    if fit.vcov_x.size and not np.all(np.isfinite(np.diag(fit.vcov_x))):
        out.append((ConvergenceWarning, NO_STANDARD_ERRORS))
    if fit.heywood:
        out.append((HeywoodWarning, f"negative variance estimates (Heywood case): {', '.join(fit.heywood)}"))
    for view, label in zip(fit.groups, fit.group_labels or ("",)):
        where = f" in group {label}" if label else ""
        mats = view.matrices
        n_lv = view.spec.n_lv
        names = view.spec.eta[:n_lv]
        if n_lv:
            message = _not_pd(np.asarray(implied.eta_cov(mats))[:n_lv, :n_lv], names, "latent correlations")
            if message:
                out.append((HeywoodWarning, f"the covariance matrix of the latent variables{where} is not "
                                            f"positive definite{message}"))
        theta = np.asarray(mats.theta)
        keep = np.flatnonzero(np.abs(np.diag(theta)) > 0)
        message = _not_pd(theta[np.ix_(keep, keep)], [view.spec.ov[i] for i in keep], "residual correlations")
        if message:
            out.append((HeywoodWarning, f"the residual covariance matrix (theta) of the observed variables{where} "
                                        f"is not positive definite{message}"))
    return tuple(out)


def _not_pd(c: np.ndarray, names, what: str) -> str:
    """'' if c is positive semi-definite; else a clause naming the correlations outside [-1, 1]."""
    if c.size == 0 or not np.all(np.isfinite(c)):
        return ""
    eigenvalues = np.linalg.eigvalsh((c + c.T) / 2)
    if eigenvalues[0] >= _NEGATIVE * max(abs(eigenvalues[-1]), 1e-300):
        return ""
    d = np.diag(c)
    outside = []
    if np.all(d > 0):
        r = c / np.sqrt(np.outer(d, d))
        i, j = np.tril_indices(len(d), -1)
        outside = [f"{names[b]}~~{names[a]} = {r[a, b]:.3f}" for a, b in zip(i, j) if abs(r[a, b]) > 1]
    return f" ({what} outside [-1, 1]: {', '.join(outside)})" if outside else ""
