"""Data from a model with population values: lavaan's ``simulateData``.

The population model is lavaan syntax whose fixed values are the population parameters
(``f =~ 0.7*x1``, ``x1 ~~ 0.51*x1``, ``y ~ 1.5*1``).  It is read with ``simulateData``'s
options (``std.lv = TRUE``, ``auto.fix.first = FALSE``, ``auto.fix.single = FALSE``,
``fixed.x = FALSE``), and every parameter the text leaves free takes lavaan's default population
value: its ``start()`` value if it has one, else 1 for loadings and (residual) variances and 0 for
everything else (regressions, covariances, intercepts).  A regression left free is 0 in the
population, almost certainly not what a power analysis means, so it is warned about (as lavaan
does).  The data are drawn from the implied moments Σ and μ (implied.py's formulas, in numpy).

Normal data: X = μ + Z Lᵀ with Z standard normal and L Lᵀ = Σ.  Non-normal data (Vale & Maurelli
1983), given the skewness γ₁ and excess kurtosis γ₂ of each variable:

1. Fleishman (1978) coefficients with Y = a + bZ + cZ² + dZ³, a = -c, E Y = 0, Var Y = 1:

       b² + 6bd + 2c² + 15d² = 1
       2c (b² + 24bd + 105d² + 2) = γ₁
       24 [bd + c² (1 + b² + 28bd) + d² (12 + 48bd + 141c² + 225d²)] = γ₂

   solved from (b, c, d) = (1, 0, 0), as lavaan does;
2. for each pair of variables with target correlation r, the intermediate correlation ρ of their
   normal sources, the root in [-1, 1] (nearest r) of

       ρ (b₁b₂ + 3b₁d₂ + 3d₁b₂ + 9d₁d₂) + ρ² (2c₁c₂) + ρ³ (6d₁d₂) = r;

3. Z ~ N(0, P) with P the matrix of the ρ, each column put through its polynomial, then scaled by
   the standard deviations √Σ_ii and shifted by μ.

Normal data take the same path with (a, b, c, d) = (0, 1, 0, 0) and P the correlation matrix.
``generate`` is pure JAX without LAPACK calls, so power.py can ``jax.vmap`` it over replicates.
Nothing is compiled per model: the population's moments are numpy, and ``generate`` takes the
population as arrays (compiled for the data's shape n x p, on which the random draws depend).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import matrices, partable, syntax
from .errors import DataError, ModelError, SemWarning
from .moments import Moments
from .options import Options

# simulateData's model options (lavaan 0.6): factor variances 1, no marker loadings, single
# indicators' residual variances and exogenous covariates' (co)variances are model parameters.
POPULATION_OPTIONS = Options(std_lv=True, auto_fix_first=False, auto_fix_single=False, fixed_x=False)
# A Fleishman solution counts when every equation holds to this (lavaan accepts 1e-5 in the sum
# of squares).
FLEISHMAN_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class Population:
    """Implied moments of a population model and the transform that draws data from them.

    ``chol`` is the Cholesky factor of the intermediate correlation matrix P (the correlation
    matrix itself for normal data) and ``coef`` the 4 x p Fleishman coefficients (a, b, c, d).
    """

    names: tuple[str, ...]
    sigma: np.ndarray
    mu: np.ndarray
    chol: np.ndarray
    coef: np.ndarray

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.diag(self.sigma))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(chol, coef, sd, mu): the arguments of ``generate``."""
        return self.chol, self.coef, self.sd, self.mu


def population(model: str, skew=None, kurtosis=None) -> Population:
    """The population moments of ``model`` and, with ``skew``/``kurtosis``, the Vale-Maurelli
    transform (each a number for every variable, a sequence in the order of the model's
    observed variables, or a mapping from variable names; unnamed variables get 0)."""
    pt = population_table(model)
    spec = matrices.build_spec(pt)
    values = population_values(pt)
    sigma, mu = implied_moments(matrices.to_matrices(values[spec.free_rows], spec, _no_moments(spec.p)))
    _check_population(sigma, spec.ov)
    sd = np.sqrt(np.diag(sigma))
    corr = sigma / np.outer(sd, sd)
    coef = np.array([fleishman(s, k) for s, k in zip(per_variable(skew, spec.ov, "skew"),
                                                      per_variable(kurtosis, spec.ov, "kurtosis"))]).T
    inter = intermediate_correlations(corr, coef, spec.ov)
    return Population(spec.ov, sigma, mu, _cholesky(inter, spec.ov), coef)


def implied_moments(mats: matrices.Matrices) -> tuple[np.ndarray, np.ndarray]:
    """Σ = Λ T Ψ Tᵀ Λᵀ + Θ and μ = ν + Λ T α with T = (I - B)⁻¹ (implied.py's formulas) in numpy:
    a population is computed once, outside compiled code."""
    mats = matrices.Matrices(*(np.asarray(a, dtype=float) for a in mats))
    lam_t = mats.lam @ np.linalg.inv(np.eye(mats.beta.shape[0]) - mats.beta)
    return lam_t @ mats.psi @ lam_t.T + mats.theta, mats.nu + lam_t @ mats.alpha


def population_table(model: str) -> partable.ParameterTable:
    """The parameter table of a population model, under simulateData's options."""
    return partable.build(syntax.parse(model), POPULATION_OPTIONS)


def population_values(pt: partable.ParameterTable) -> np.ndarray:
    """The population value of every table row: the fixed value, else the ``start()`` value, else
    lavaan's default (1 for loadings and variances, 0 otherwise)."""
    table = pt.table
    fixed = table["free"].to_numpy() == 0
    ustart = table["ustart"].to_numpy(dtype=float)
    start = table["start"].to_numpy(dtype=float)
    variance = (table["op"] == "~~").to_numpy() & (table["lhs"] == table["rhs"]).to_numpy()
    default = np.where((table["op"] == "=~").to_numpy() | variance, 1.0, 0.0)
    values = np.where(fixed, ustart, np.where(np.isfinite(start), start, default))
    unset = (table["op"] == "~").to_numpy() & ~fixed & ~np.isfinite(start)
    if unset.any():
        names = [f"{l} ~ {r}" for l, r in zip(table["lhs"][unset], table["rhs"][unset])]
        warnings.warn(f"regression coefficients without a population value are set to 0: {', '.join(names)}",
                      SemWarning, stacklevel=4)
    return values


def fleishman(skew: float, kurtosis: float) -> np.ndarray:
    """Fleishman's (a, b, c, d) for skewness ``skew`` and excess kurtosis ``kurtosis``."""
    if skew == 0 and kurtosis == 0:
        return np.array([0.0, 1.0, 0.0, 0.0])

    def equations(v):
        b, c, d = v
        return [b * b + 6 * b * d + 2 * c * c + 15 * d * d - 1,
                2 * c * (b * b + 24 * b * d + 105 * d * d + 2) - skew,
                24 * (b * d + c * c * (1 + b * b + 28 * b * d) + d * d * (12 + 48 * b * d + 141 * c * c + 225 * d * d))
                - kurtosis]

    from scipy import optimize   # here: scipy.optimize costs a fresh process ~0.3 s, and only non-normal data need it

    sol = optimize.root(equations, [1.0, 0.0, 0.0], method="hybr", options={"xtol": 1e-14})
    if not np.all(np.abs(equations(sol.x)) < FLEISHMAN_TOL):
        raise DataError(
            f"no Fleishman polynomial has skewness {skew} and excess kurtosis {kurtosis}; the kurtosis "
            "must be larger for this skewness (roughly kurtosis > 1.6 skew² - 1.1)")
    b, c, d = sol.x
    return np.array([-c, b, c, d])


def intermediate_correlations(corr: np.ndarray, coef: np.ndarray, names) -> np.ndarray:
    """P: the correlations of the normal sources that give ``corr`` after the polynomials."""
    p = corr.shape[0]
    inter = np.eye(p)
    _, b, c, d = coef
    for i in range(p):
        for j in range(i):
            r = corr[i, j]
            cubic = [6 * d[i] * d[j], 2 * c[i] * c[j],
                     b[i] * b[j] + 3 * b[i] * d[j] + 3 * d[i] * b[j] + 9 * d[i] * d[j], -r]
            roots = np.roots(cubic)
            real = roots[(np.abs(roots.imag) < 1e-9) & (np.abs(roots.real) <= 1 + 1e-12)].real
            if r != 0 and real.size == 0:
                raise DataError(f"the correlation {r:.3f} of {names[i]} and {names[j]} cannot be reached "
                                "with their skewness and kurtosis; choose milder values")
            inter[i, j] = inter[j, i] = 0.0 if r == 0 else real[np.argmin(np.abs(real - r))]
    return inter


def generate(key, n: int, chol, coef, sd, mu) -> jnp.ndarray:
    """n x p data: Z Pᵀ-correlated standard normals through the Fleishman polynomials, scaled and
    shifted (pure JAX; ``key`` a PRNG key)."""
    z = jax.random.normal(key, (n, chol.shape[0])) @ chol.T
    a, b, c, d = (row[None, :] for row in coef)
    y = a + z * (b + z * (c + z * d))
    return y * sd[None, :] + mu[None, :]


# Jitted on the data's shape (n rows, p variables): the draws depend on it; the population is data.
_generate = jax.jit(generate, static_argnums=1)


def simulate_data(model: str, n: int = 500, seed: int | None = None, skew=None, kurtosis=None) -> pd.DataFrame:
    """``n`` rows drawn from the population ``model`` (lavaan's ``simulateData``).

    Multivariate normal by default; with ``skew`` and/or ``kurtosis`` (excess kurtosis; a number
    for all variables, a sequence in the model's variable order, or a dict by name), Vale-Maurelli
    non-normal data with those marginal moments and the model's covariance matrix.  ``seed``
    makes the draw reproducible.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise DataError(f"n={n!r} must be a positive whole number of rows")
    pop = population(model, skew, kurtosis)
    seed = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else int(seed)
    data = _generate(jax.random.PRNGKey(seed), int(n), *(jnp.asarray(a) for a in pop.arrays()))
    return pd.DataFrame(np.asarray(data), columns=list(pop.names))


def _no_moments(p: int) -> Moments:
    """Sample moments are not used: the population model has no fixed.x rows."""
    return Moments(np.eye(p), np.zeros(p), np.asarray(1.0))


def per_variable(value, names, what: str) -> list[float]:
    """One value per variable of ``names`` from a number, a sequence or a mapping by name (0 for
    names it leaves out)."""
    if value is None:
        return [0.0] * len(names)
    if isinstance(value, Mapping):
        unknown = sorted(set(map(str, value)) - set(names))
        if unknown:
            raise DataError(f"{what} is given for variables not in the model: {', '.join(unknown)}")
        out = [float(value.get(v, 0.0)) for v in names]
    elif np.ndim(value) == 0:
        out = [float(value)] * len(names)
    else:
        out = [float(v) for v in value]
        if len(out) != len(names):
            raise DataError(f"{what} has {len(out)} values for {len(names)} variables ({', '.join(names)})")
    if not all(np.isfinite(out)):
        raise DataError(f"{what} values must be finite numbers")
    return out


def _check_population(sigma: np.ndarray, names) -> None:
    bad = [v for v, s in zip(names, np.diag(sigma)) if not s > 0]
    if bad:
        raise ModelError(f"the population model gives {', '.join(bad)} a variance of zero or less; "
                         "give residual variances (x ~~ 0.5*x) that make every variance positive")
    if np.linalg.eigvalsh(sigma)[0] <= 1e-12 * np.max(np.diag(sigma)):
        raise ModelError("the population covariance matrix implied by the model's values is not positive "
                         "definite; check the (residual) variances and covariances")


def _cholesky(p: np.ndarray, names) -> np.ndarray:
    try:
        return np.linalg.cholesky(p)
    except np.linalg.LinAlgError:
        raise DataError(
            "the intermediate correlation matrix of the Vale-Maurelli method is not positive definite "
            f"for these skewness and kurtosis values ({', '.join(names)}); choose milder values") from None
