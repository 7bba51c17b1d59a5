"""One chunk of Monte Carlo replicates: simulate, fit, and the Wald inference of every replicate.

A study (``Design``) is fixed by its two models, the analysis options, the non-normality, the seed
and the chunk size.  Replicate r at sample size N draws its data with the key
``fold_in(fold_in(PRNGKey(seed), N), r)`` (simulate.generate), so a chunk's results are a pure
function of (design, N, first replicate, size): any process (a thread, a Dask worker) computes
the same numbers, and a chunk can be recomputed or skipped at will (power.py's results file).

Per chunk, as in the bootstrap (bootstrap.refit, reused here with simulated instead of resampled
data sets), with kernels compiled once per size class ("throughput" policy, bootstrap.batched_engine)
and batch class, never once per model:

1. the data and sample moments of every replicate (divisor N, or N - 1 with
   ``likelihood="wishart"``), padded to the size class: one jitted ``jax.vmap`` over the data's
   shape (``_simulated_moments``);
2. the analysis model refitted by batched quasi-Newton scoring (scoring.py) from its estimate on
   the population moments, whose expected information is the scoring's starting Hessian; the
   few replicates that do not converge are refitted one by one by the modified Newton optimizer;
3. the statistics θ (free parameters, then ``:=`` parameters) and their standard errors from
   the expected information at each replicate's estimate,

       vcov(x) = K [2 (Kᵀ H K)⁻¹ / n_eff] Kᵀ,   se(θ) = √diag(J vcov(x) Jᵀ),  J = ∂θ/∂x

   (inference.py's formulas).  K [2 (Kᵀ H K)⁻¹] Kᵀ is one kernel of the size class
   (``_vcov_batch``: H from inference.expected_hessian with linalg.py's plain-JAX factorization,
   as nothing under ``jax.vmap`` may call LAPACK, see linalg.py); the ``:=`` parameters and
   their Jacobian J = (∂θ/∂ rows) (∂ rows/∂x) are numpy (inference.definitions,
   partable.values_jacobian).  A singular information matrix gives NaN standard errors.

The analysis model's estimate on the population moments is the "true" value of each statistic:
the population value when the model is correctly specified, the pseudo-true value (the
minimizer of F_ML in the population) when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import bootstrap, inference, linalg, moments, partable, simulate, syntax
from .errors import DataError
from .objective import n_eff
from .options import make_options
from .pipeline import sem
from .structure import Padded, Sizes

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
    and the positions of the analysis variables among the population's."""

    population: simulate.Population
    fit: object
    columns: np.ndarray

    def truth(self) -> np.ndarray:
        """θ at the population: the analysis model's estimate on the population moments."""
        fit = self.fit
        return np.concatenate([fit.x, inference.definitions(fit.partable, fit.row_values)])

    def replicates(self, n: int, seed: int, likelihood: str) -> "Simulated":
        key = jax.random.key_data(jax.random.fold_in(jax.random.PRNGKey(seed), n))
        arrays = tuple(jax.device_put(np.asarray(a)) for a in (*self.population.arrays(), self.columns))
        return Simulated(arrays, key, n, likelihood, bootstrap.batched_engine(self.fit).sizes)

    def wald(self, sims: "Simulated", numbers: np.ndarray, x: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """[θ, se(θ)] of the data sets ``numbers`` at their estimates x, in chunks of ``batch``."""
        fit = self.fit
        eng = bootstrap.batched_engine(fit)
        sz, npar = eng.sizes, fit.spec.npar
        z_mask = (np.arange(sz.npar) < fit.reparam.basis.shape[1]).astype(float)
        scale = float(n_eff(sims.n, sims.likelihood))
        pt = fit.partable
        d_rows = partable.values_jacobian(pt)

        def step(r, xx):
            padded = sims.padded(r)
            vcov, ok = _vcov_batch(eng.structure, padded, bootstrap._pad_x(xx, sz), z_mask, sz)
            vcov = np.asarray(vcov)[:, :npar, :npar] / scale
            se = np.sqrt(np.maximum(np.diagonal(vcov, axis1=1, axis2=2), 0.0))
            est = xx
            if pt.definitions:
                parts = [inference.definitions(pt, v, grad=True) for v in bootstrap.row_values(fit, xx, padded)]
                jac = np.stack([d @ d_rows for _, d in parts])
                variances = np.einsum("bki,bij,bkj->bk", jac, vcov, jac)
                est = np.hstack([xx, np.stack([v for v, _ in parts])])
                se = np.hstack([se, np.sqrt(np.maximum(variances, 0.0))])
            return est, np.where(np.asarray(ok)[:, None], se, np.nan)

        return bootstrap._chunked(step, numbers, x, batch, False, "")


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
              sample_mean=pd.Series(pop.mu, index=names) if analysis.meanstructure else None,
              sample_nobs=POPULATION_NOBS, **options)
    columns = np.array([names.index(v) for v in fit.spec.ov])
    return Study(pop, fit, columns)


@partial(jax.jit, static_argnames="sz")
def _vcov_batch(st, padded: Padded, x, z_mask, sz: Sizes):
    """K [2 (Kᵀ H K)⁻¹] Kᵀ at every (x, moments) of a batch, H the expected Hessian (padded z
    coordinates get a unit diagonal, which K's zero columns drop again), and whether Kᵀ H K is
    positive definite."""
    def one(m, xx):
        h = st.basis.T @ inference.expected_hessian(xx, st, m, sz, inference.loop_whitener) @ st.basis
        lower = linalg.cholesky(h + jnp.diag(1.0 - z_mask))
        ok = linalg.is_factor(lower)
        inv_l = linalg.inv_lower(jnp.where(ok, lower, jnp.eye(sz.npar)))
        return st.basis @ (2.0 * inv_l.T @ inv_l) @ st.basis.T, ok

    return jax.vmap(one)(padded, x)


class Simulated(NamedTuple):
    """The data sets of one sample size, padded to the size class ``sz``; ``padded``, ``unpad``
    and ``moments`` as bootstrap.Replicates'."""

    arrays: tuple
    key: jnp.ndarray
    n: int
    likelihood: str
    sz: Sizes

    def padded(self, r) -> Padded:
        return _simulated_moments(self.arrays, self.key, np.asarray(r), self.n, self.likelihood,
                                  bootstrap._moment_sizes(self.sz))

    def unpad(self, padded: Padded) -> moments.Moments:
        return bootstrap._unpad(padded, self.arrays[-1].shape[0], 0, None)

    def moments(self, r, batch: int | None = None) -> moments.Moments:
        return bootstrap.moments_of(self, r, batch)


@partial(jax.jit, static_argnames=("n", "likelihood", "sz"))
def _simulated_moments(arrays, key, r, n: int, likelihood: str, sz: Sizes) -> Padded:
    """Replicate numbers -> padded sample moments of their simulated data sets (jitted on the
    data's shape: the draws depend on N)."""
    def one(rr):
        *population, columns = arrays
        data = simulate.generate(jax.random.fold_in(jax.random.wrap_key_data(key), rr), n, *population)
        return bootstrap._pad((moments.compute(data[:, columns], likelihood),), sz)

    return jax.vmap(one)(r)


def run_chunk(design: Design, n: int, start: int, size: int) -> Chunk:
    """Replicates start .. start + size - 1 at sample size n (module-level: executors pickle it)."""
    s = study(design)
    sims = s.replicates(n, design.seed, design.likelihood)
    numbers = np.arange(start, start + size)
    x, f, status = bootstrap.refit(s.fit, sims, numbers, design.chunk_size, False, "")
    est, se = s.wald(sims, numbers, x, design.chunk_size)
    return Chunk(est, se, float(n_eff(n, design.likelihood)) * f, status)
