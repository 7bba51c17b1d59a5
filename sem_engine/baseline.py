"""The baseline (independence) model of the incremental fit indices, in closed form.

lavaan's baseline model (``lav_partable_independence``, mimic="lavaan") has a free variance for
every observed variable, free means with a mean structure, and the exogenous covariates' block
(variances, covariances and, with a mean structure, means) either fixed at the sample values
(``fixed_x``) or free.  Every other covariance is zero.  Its ML solution needs no optimizer:

    Σ₀ = blockdiag(diag(S_yy), S_xx),   μ₀ = x̄,

so tr(S Σ₀⁻¹) = p, the mean term vanishes, and

    F₀ = Σ_{i ∉ x} log s_ii + log|S_xx| - log|S|,        chisq₀ = n · F₀

with n = N ("normal") or N - 1 ("wishart"), the multiplier of the model's own chi-square.  Its
degrees of freedom are the sample moments (``identification.n_moments``: fixed covariates' moments
not counted) less its free parameters, which comes to p(p - 1)/2 - n_x(n_x - 1)/2 either way.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .identification import n_moments


class Baseline(NamedTuple):
    chisq: float
    df: int


def f_independence(s: np.ndarray, x_idx: Sequence[int]) -> float:
    """F_ML of the independence model: Σ_{i∉x} log s_ii + log|S_xx| - log|S|."""
    x_idx = list(x_idx)
    y_idx = [i for i in range(s.shape[0]) if i not in x_idx]
    _, logdet_s = np.linalg.slogdet(s)
    _, logdet_x = np.linalg.slogdet(s[np.ix_(x_idx, x_idx)]) if x_idx else (1.0, 0.0)
    return float(np.sum(np.log(np.diag(s)[y_idx])) + logdet_x - logdet_s)


def n_free(p: int, n_x: int, fixed_x: bool, meanstructure: bool) -> int:
    """Free parameters of the independence model.

    Variances (and means) of the p - n_x non-covariates, plus, when the covariates are not fixed,
    their n_x(n_x + 1)/2 variances and covariances (and n_x means).
    """
    per_variable = 2 if meanstructure else 1
    if fixed_x:
        return (p - n_x) * per_variable
    return p * per_variable + n_x * (n_x - 1) // 2


def baseline(s: np.ndarray, x_idx: Sequence[int], n: float, fixed_x: bool,
             meanstructure: bool) -> Baseline:
    """Chi-square and df of the independence model fitted to S (see the module docstring).

    ``x_idx``: positions of the exogenous observed covariates in S; ``n``: the chi-square
    multiplier (N or N - 1).
    """
    p, n_x = s.shape[0], len(x_idx)
    moments = n_moments(p, n_x if fixed_x else 0, meanstructure)
    return Baseline(n * f_independence(np.asarray(s), x_idx),
                    moments - n_free(p, n_x, fixed_x, meanstructure))
