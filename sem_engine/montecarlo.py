"""One chunk of Monte Carlo replicates: simulate, fit, and the Wald inference of every replicate.

A study (``Design``) is fixed by its two models, the analysis options, the non-normality, the seed
and the chunk size.  Replicate r at sample size N draws its data with the key
``fold_in(fold_in(PRNGKey(seed), N), r)`` (simulate.generate), so a chunk's results are a pure
function of (design, N, first replicate, size): any process (a thread, a Dask worker) computes
the same numbers, and a chunk can be recomputed or skipped at will (power.py's results file).

Per chunk, as in the bootstrap (bootstrap.refit and bootstrap.evaluate, reused here with
simulated instead of resampled data sets):

1. the sample moments of every replicate (divisor N, or N - 1 with ``likelihood="wishart"``),
   one jitted ``jax.vmap``;
2. the analysis model refitted by batched quasi-Newton scoring (scoring.py) from its estimate on
   the population moments, whose expected information is the scoring's starting Hessian; the
   few replicates that do not converge are refitted one by one by the modified Newton optimizer;
3. the statistics θ (free parameters, then ``:=`` parameters) and their standard errors from
   the expected information at each replicate's estimate,

       vcov(x) = K [2 (Kᵀ H K)⁻¹ / n_eff] Kᵀ,   se(θ) = √diag(J vcov(x) Jᵀ),  J = ∂θ/∂x

   (inference.py's formulas; H from inference.make_expected_hessian with linalg.py's plain-JAX
   factorization, as nothing under ``jax.vmap`` may call LAPACK, see linalg.py).  A singular
   information matrix gives NaN standard errors.

The analysis model's estimate on the population moments is the "true" value of each statistic:
the population value when the model is correctly specified, the pseudo-true value (the
minimizer of F_ML in the population) when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import bootstrap, inference, linalg, moments, partable, simulate, syntax
from .errors import DataError
from .objective import n_eff
from .options import make_options
from .pipeline import sem

# The analysis model's fit to the population moments uses this N (it changes no estimate).
POPULATION_NOBS = 1000


@dataclass(frozen=True)
class Design:
    """Everything a chunk's numbers depend on (hashable, picklable, JSON-able)."""

    population_model: str
    analysis_model: str
    options: tuple[tuple[str, object], ...]
    skew: tuple[float, ...] | None
    kurtosis: tuple[float, ...] | None
    seed: int
    chunk_size: int

    @property
    def likelihood(self) -> str:
        return dict(self.options).get("likelihood", "normal")


class Chunk(NamedTuple):
    """Replicates [start, start + size) at one N: statistics and SEs (size x k), chi-square and
    optimizer status (size)."""

    est: np.ndarray
    se: np.ndarray
    chisq: np.ndarray
    status: np.ndarray


class Study(NamedTuple):
    """What a process builds once per design: the population, the analysis model's fit to it,
    the positions of the analysis variables among the population's, and the pure
    (x, moments) -> [θ, se(θ)] of a replicate."""

    population: simulate.Population
    fit: object
    columns: np.ndarray
    evaluate: Callable

    def truth(self) -> np.ndarray:
        """θ at the population: the analysis model's estimate on the population moments."""
        fit = self.fit
        return np.asarray(jax.jit(bootstrap.statistic(fit, "raw"))(jnp.asarray(fit.x), fit.moments))

    def replicates(self, n: int, seed: int, likelihood: str) -> "Simulated":
        key = jax.random.key_data(jax.random.fold_in(jax.random.PRNGKey(seed), n))
        arrays = tuple(jnp.asarray(a) for a in (*self.population.arrays(), self.columns))
        return Simulated(arrays, key, n, likelihood)


@lru_cache(maxsize=8)
def study(design: Design) -> Study:
    """The study of ``design``, built once per process."""
    pop = simulate.population(design.population_model, design.skew, design.kurtosis)
    names = list(pop.names)
    analysis = partable.build(syntax.parse(design.analysis_model), make_options(**dict(design.options)))
    missing = [v for v in analysis.variables.ov if v not in names]
    if missing:
        raise DataError(f"variables of the analysis model are not in the population model: {', '.join(missing)}")
    # likelihood="wishart" takes sample_cov as it is: the analysis model is fitted to Σ itself.
    options = {**dict(design.options), "likelihood": "wishart"}
    fit = sem(design.analysis_model, sample_cov=pd.DataFrame(pop.sigma, index=names, columns=names),
              sample_mean=pd.Series(pop.mu, index=names), sample_nobs=POPULATION_NOBS, **options)
    columns = np.array([names.index(v) for v in fit.spec.ov])
    return Study(pop, fit, columns, make_evaluate(fit, design.likelihood))


def make_evaluate(fit, likelihood: str) -> Callable:
    """(x, moments) -> [θ, se(θ)] from the expected information at x; pure and vmap-safe."""
    statistic = bootstrap.statistic(fit, "raw")
    hessian = inference.make_expected_hessian(fit.spec, inference.loop_whitener)
    basis = jnp.asarray(fit.reparam.basis)
    k = basis.shape[1]

    def evaluate(x, m):
        lower = linalg.cholesky(basis.T @ hessian(x, m) @ basis)
        ok = linalg.is_factor(lower)
        inv_l = linalg.inv_lower(jnp.where(ok, lower, jnp.eye(k)))
        vcov_x = basis @ (2.0 * inv_l.T @ inv_l / n_eff(m.n, likelihood)) @ basis.T
        jac = jax.jacfwd(statistic)(x, m)
        se = jnp.sqrt(jnp.maximum(jnp.diagonal(jac @ vcov_x @ jac.T), 0.0))
        return jnp.concatenate([statistic(x, m), jnp.where(ok, se, jnp.nan)])

    return evaluate


class Simulated(NamedTuple):
    """The data sets of one sample size; ``moments(r)`` has bootstrap.Replicates' interface."""

    arrays: tuple
    key: jnp.ndarray
    n: int
    likelihood: str

    def moments(self, r: jnp.ndarray) -> moments.Moments:
        return _moments_of(self.n, self.likelihood)(self.arrays, self.key, r)


@lru_cache(maxsize=64)
def _moments_of(n: int, likelihood: str):
    """jit(vmap): replicate numbers -> sample moments of their simulated data sets."""
    def one(arrays, key, r):
        *population, columns = arrays
        data = simulate.generate(jax.random.fold_in(jax.random.wrap_key_data(key), r), n, *population)
        return moments.compute(data[:, columns], likelihood)

    return jax.jit(jax.vmap(one, in_axes=(None, None, 0)))


def run_chunk(design: Design, n: int, start: int, size: int) -> Chunk:
    """Replicates start .. start + size - 1 at sample size n (module-level: executors pickle it)."""
    s = study(design)
    sims = s.replicates(n, design.seed, design.likelihood)
    numbers = np.arange(start, start + size)
    x, f, status = bootstrap.refit(s.fit, sims, numbers, design.chunk_size, False, "")
    values = bootstrap.evaluate(s.evaluate, sims, numbers, x, design.chunk_size)
    k = values.shape[1] // 2
    return Chunk(values[:, :k], values[:, k:], float(n_eff(n, design.likelihood)) * f, status)
