"""Nonparametric bootstrap: resample rows, refit every replicate with the model's compiled optimizer.

Replicate r draws N row indices with ``jax.random.randint`` from ``fold_in(PRNGKey(seed), r)``,
so its sample depends only on the seed and r (not on ``batch_size``) and ``Bootstrap.indices``
regenerates it.  For a chunk of replicates the resampled data, their sample moments
(``moments.compute``, the fit's divisor) and the refits (``engine.fit_moments`` started at the
full-sample estimate) run as one jitted ``jax.vmap``; chunks keep memory bounded.  The last chunk
is padded to the chunk size, so one compiled function serves every chunk.

Replicates whose optimizer status is not "converged" (iteration limit, non-positive-definite
implied covariance matrix, failed line search) or whose estimates are not finite are counted,
reported (``Bootstrap.failures()``, a ``ConvergenceWarning``) and left out of every summary.

Under FIML (``missing="ml"``) a replicate resamples rows with their holes, as lavaan's
``bootstrapLavaan`` does.  It holds only missing-data patterns of the original data, so the
pattern masks stay fixed and a replicate is the number of times w_i it draws each original row:
its pattern counts, means and covariances are weighted segment sums over the rows
(missing.weighted_patterns, O(N p²)), a pattern it does not draw has n_k = 0 and adds nothing, and
every replicate has the same shapes, one batch under ``jax.vmap``.  The refit is the same
quasi-Newton scoring on F_FIML (scoring.py), started from the full-sample estimate with the
inverse expected FIML Hessian there.  A replicate's EM (H1) moments are not computed: its ``s``
and ``xbar`` are the available-case moments (exactly the sample moments of the fixed covariates,
which are observed in every row), its F is -2 log L / N, and it has no chi-square.

``kind="bollen_stine"`` resamples the transformed data  Z = (Y - ȳ) S^{-1/2} Σ̂^{1/2} (+ μ̂ with a
mean structure), whose sample covariance is Σ̂: the model holds exactly in the resampled
population (Bollen & Stine 1992).  The bootstrap p-value of the model test is
#{T*_b > T} / B over the successful replicates (lavaan's definition), T = n_eff F_ML.

Statistics of a replicate (parameters, ``:=`` parameters, standardized values, effects) are pure
functions ``func(x, moments)``; ``Bootstrap.distribution`` evaluates one at the full-sample
estimate, at every successful replicate (its moments rebuilt from the regenerated indices) and,
for BCa, at every leave-one-out jackknife refit.  Intervals and p-values: intervals.py.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import inference, intervals, missing, moments
from .errors import ConvergenceWarning, DataError, ModelError
from .expressions import to_text
from .objective import n_eff
from .optimize import CONVERGED, STATUS_TEXT

KINDS = ("ordinary", "bollen_stine")
# With progress=None a bar appears once a run has taken this long (tqdm's ``delay``).
PROGRESS_DELAY_S = 2.0
# Without batch_size: at most MAX_BATCH replicates per chunk, and about CHUNK_BYTES of resampled
# data.  A vmapped while-loop runs until its slowest replicate converges, so larger chunks are
# not faster on a CPU (measured: 1,000 thesis replicates take about as long in chunks of 100 as
# of 1,000) but take more memory.
MAX_BATCH = 256
CHUNK_BYTES = 2 ** 27
# Scoring steps of a batched refit from the full-sample estimate (typically 10-45); a replicate
# still short of convergence is refitted alone by the modified Newton optimizer, so one hopeless
# replicate does not keep its whole batch iterating up to the optimizer's max_iter.
REFIT_MAX_ITER = 60


def bootstrap(fit, n: int = 1000, *, seed: int | None = None, ci: str = "bca", level: float = 0.95,
              kind: str = "ordinary", batch_size: int | None = None, progress: bool | None = None
              ) -> "Bootstrap":
    """Refit ``fit``'s model to ``n`` bootstrap samples of its data rows.

    ``ci`` ("perc", "bc" or "bca") and ``level`` are the defaults of the result's tables (each
    table can ask for another).  ``seed=None`` draws one (stored in the result).  ``batch_size``
    replicates are refitted at once (default: up to 256, fewer if their resampled data would
    exceed about 128 MiB); the jackknife of BCa uses chunks of at most N.
    ``progress``: True shows a progress bar, False never, None once a run takes over 2 s.
    """
    _check_arguments(n, ci, level, kind, batch_size)
    fiml = _fiml(fit)
    if fiml and kind == "bollen_stine":
        raise ModelError('the Bollen-Stine bootstrap of a missing="ml" (FIML) fit is not supported; '
                         'use kind="ordinary"')
    if fiml and _covariate_holes(fit):
        raise ModelError('the bootstrap of a missing="ml.x" fit whose fixed covariates have missing values is '
                         "not supported (a replicate's covariate moments would need its own EM run); "
                         'use missing="ml"')
    if any(view.data.rows is None for view in fit.groups):
        raise DataError(
            "the bootstrap resamples raw data rows, but this model was fitted to a covariance "
            "matrix (sample_cov=); refit it with data=<DataFrame> to bootstrap")
    # a multi-group model: the groups' rows one after another, resampled within each group
    rows = np.concatenate([v.data.rows if kind == "ordinary" else bollen_stine_rows(v) for v in fit.groups])
    seed = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else int(seed)
    batch = batch_size or default_batch_size(n, rows.shape, fiml)
    state = refit(fit, Replicates.of(rows, seed, "resample", fit.options.likelihood, fiml, _sizes(fit)),
                   np.arange(n), batch, progress, "bootstrap")
    result = Bootstrap(fit, rows, seed, kind, ci, level, batch, progress, *state)
    if result.n_failed:
        warnings.warn(f"{result.n_failed} of {n} bootstrap replicates failed ({result.failure_counts()}) "
                      "and are left out of every summary; see .failures()", ConvergenceWarning,
                      stacklevel=3)
    return result


class Distribution(NamedTuple):
    """A statistic at the full-sample estimate (k), its successful bootstrap draws (B_ok x k),
    and its leave-one-out jackknife values (N_ok x k; None unless asked for)."""

    est: np.ndarray
    draws: np.ndarray
    jack: np.ndarray | None


@dataclass(frozen=True, eq=False)
class Bootstrap:
    """Bootstrap replicates of a fit: estimates x (n x n_free), F_ML and optimizer status."""

    fit: object
    rows: np.ndarray
    seed: int
    kind: str
    ci: str
    level: float
    batch_size: int
    progress: bool | None
    x: np.ndarray
    f: np.ndarray
    status: np.ndarray

    # -- replicates ----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.status.shape[0]

    @cached_property
    def ok(self) -> np.ndarray:
        """Mask of the successful replicates (converged, finite estimates)."""
        return (self.status == CONVERGED) & np.all(np.isfinite(self.x), axis=1)

    @property
    def n_failed(self) -> int:
        return int(np.sum(~self.ok))

    def failures(self) -> pd.DataFrame:
        """The failed replicates: ``replicate`` number and the optimizer's ``status``."""
        bad = np.flatnonzero(~self.ok)
        return pd.DataFrame({"replicate": bad, "status": [_status_text(s) for s in self.status[bad]]})

    def failure_counts(self) -> str:
        counts = self.failures()["status"].value_counts()
        return ", ".join(f"{k}: {v}" for k, v in counts.items())

    def indices(self, replicates=None) -> np.ndarray:
        """Row indices (into ``rows``) of the given replicates (default all): k x N.

        ``rows[indices(r)[0]]`` is the data set replicate r was fitted to (for a multi-group
        model the groups' rows one after another, each group resampled within itself).
        """
        which = np.arange(self.n) if replicates is None else np.atleast_1d(np.asarray(replicates))
        key = self.replicates("resample").key
        if self.fit.n_groups > 1:
            return np.asarray(_draw_group_indices(key, jnp.asarray(which), _sizes(self.fit)))
        return np.asarray(_draw_indices(key, jnp.asarray(which), self.rows.shape[0]))

    @property
    def chisq(self) -> np.ndarray:
        """Model chi-square n_eff F_ML of every replicate (NaN for failed ones)."""
        if self.fiml:
            raise ModelError("the chi-square of a FIML replicate needs its EM (H1) log-likelihood, "
                             "which the bootstrap does not compute")
        opts = self.fit.options
        n = n_eff(self.rows.shape[0], opts.likelihood, self.fit.n_groups)
        return np.where(self.ok, n * self.f, np.nan)

    @property
    def bollen_stine_pvalue(self) -> float:
        """#{T*_b > T} / B_ok: the Bollen-Stine bootstrap p-value of the model chi-square."""
        if self.kind != "bollen_stine":
            raise ModelError("the Bollen-Stine p-value needs bootstrap(kind=\"bollen_stine\")")
        return float(np.mean(self.chisq[self.ok] > self.fit.chisq))

    @property
    def fiml(self) -> bool:
        """Whether the fit used FIML (missing="ml"): rows with missing values were resampled."""
        return _fiml(self.fit)

    def replicates(self, source: str) -> "Replicates":
        """The data sets of the bootstrap ("resample") or of the jackknife ("jackknife")."""
        return Replicates.of(self.rows, self.seed, source, self.fit.options.likelihood, self.fiml,
                             _sizes(self.fit))

    @cached_property
    def jackknife(self) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-out refits of ``rows``: (estimates N x n_free, success mask N)."""
        n_rows = self.rows.shape[0]
        x, _, status = refit(self.fit, self.replicates("jackknife"), np.arange(n_rows),
                              min(self.batch_size, n_rows), self.progress, "jackknife")
        return x, (status == CONVERGED) & np.all(np.isfinite(x), axis=1)

    # -- statistics ----------------------------------------------------------------------------
    def distribution(self, func: Callable, jackknife: bool | None = None) -> Distribution:
        """``func(x, moments)`` (a pure JAX function returning a vector) at the estimate, at every
        successful replicate and (``jackknife=True``, default: when the default ci is "bca") at
        every successful leave-one-out refit."""
        fit = self.fit
        est = np.asarray(jax.jit(func)(jnp.asarray(fit.x), fit.moments))
        draws = evaluate(func, self.replicates("resample"), np.flatnonzero(self.ok), self.x[self.ok],
                          self.batch_size).reshape(-1, est.size)
        if jackknife or (jackknife is None and self.ci == "bca"):
            return Distribution(est, draws, self._jackknife_values(func).reshape(-1, est.size))
        return Distribution(est, draws, None)

    def _jackknife_values(self, func: Callable) -> np.ndarray:
        x, ok = self.jackknife
        return evaluate(func, self.replicates("jackknife"), np.flatnonzero(ok), x[ok],
                         min(self.batch_size, self.rows.shape[0]))

    def summarize(self, dist: Distribution, ci: str | None = None, level: float | None = None
                  ) -> intervals.Summary:
        """Bootstrap SE, interval and p-value of each statistic in ``dist`` (default ci and level:
        the bootstrap's)."""
        ci = self.ci if ci is None else ci
        level = self.level if level is None else level
        _check_ci(ci, level)
        if ci == "bca" and dist.jack is None:
            raise ModelError("BCa intervals need the jackknife values: distribution(func, jackknife=True)")
        return intervals.summarize(dist.draws, dist.est, ci, level, dist.jack)

    # -- tables --------------------------------------------------------------------------------
    def estimates(self, ci: str | None = None, level: float | None = None) -> pd.DataFrame:
        """Every parameter and ``:=`` row: est, boot_se, ci_lower, ci_upper, boot_pvalue.

        Fixed rows (and fixed.x sample moments) have boot_se 0 and an interval [est, est].
        """
        fit = self.fit
        dist = self._statistic_distribution("raw", ci)
        free = fit.partable.table["free"].to_numpy()
        est = np.concatenate([fit.row_values, dist.est[fit.n_free:]])
        column = np.concatenate([np.where(free > 0, free - 1, -1),
                                 fit.n_free + np.arange(len(fit.partable.definitions))])
        return _table(fit, est, self.summarize(dist, ci, level), column, "est")

    def standardized(self, kind: str = "std.all", ci: str | None = None, level: float | None = None
                     ) -> pd.DataFrame:
        """Standardized value of every row and ``:=`` parameter with bootstrap SE, CI and p."""
        dist = self._statistic_distribution(kind, ci)
        return _table(self.fit, dist.est, self.summarize(dist, ci, level), np.arange(dist.est.size), "est_std")

    def _statistic_distribution(self, what: str, ci: str | None) -> Distribution:
        """The distribution of ``statistic(fit, what)``, kept; jackknife values added for BCa."""
        func = statistic(self.fit, what)
        if what not in self._distributions:
            self._distributions[what] = self.distribution(func, jackknife=False)
        dist = self._distributions[what]
        if (self.ci if ci is None else ci) == "bca" and dist.jack is None:
            jack = self._jackknife_values(func).reshape(-1, dist.est.size)
            dist = self._distributions[what] = dist._replace(jack=jack)
        return dist

    @cached_property
    def _distributions(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return (f"<sem_engine Bootstrap: {self.n} {self.kind} replicates (seed {self.seed}), "
                f"{self.n - self.n_failed} successful, {self.n_failed} failed>")


_STATISTICS: dict = {}


def statistic(fit, what: str) -> Callable:
    """The pure function (x, moments) -> vector behind a bootstrap table, one per model and kind.

    "raw": the free parameters x followed by the ``:=`` parameters; "std.all", "std.lv",
    "std.nox": every table row's standardized value followed by the standardized ``:=``
    parameters (standardize.make_standardize).  Kept per (engine, model text, kind) so that a
    refit of the same model reuses the compiled evaluation.
    """
    key = (fit.engine, fit.model, what)
    if key not in _STATISTICS:
        _STATISTICS[key] = _make_statistic(fit, what)
    return _STATISTICS[key]


def _make_statistic(fit, what: str) -> Callable:
    if what != "raw":
        from .standardize import make_standardize

        return make_standardize(fit.partable, fit.spec, what)
    if not fit.partable.definitions:
        return lambda x, moments: x
    defined = inference.make_defined(fit.partable, fit.spec)
    return lambda x, moments: jnp.concatenate([x, defined(x, moments)])


def _table(fit, est, s: intervals.Summary, column: np.ndarray, est_name: str) -> pd.DataFrame:
    """Rows of ``fit``'s table plus its ``:=`` rows; row i summarized by column[i] (-1: fixed)."""
    table = fit.partable.table
    defs = fit.partable.definitions
    has = column >= 0
    pick = np.where(has, column, 0)

    def take(values, fixed):
        return np.where(has, np.asarray(values)[pick], fixed)

    out = pd.DataFrame({
        "lhs": [*table["lhs"], *(d.name for d in defs)],
        "op": [*table["op"], *([":="] * len(defs))],
        "rhs": [*table["rhs"], *(to_text(d.expr) for d in defs)],
        "label": [*table["label"], *(d.name for d in defs)],
        est_name: est,
        "boot_se": take(s.boot_se, 0.0),
        "ci_lower": take(s.ci_lower, est),
        "ci_upper": take(s.ci_upper, est),
        "boot_pvalue": take(s.pvalue, np.nan),
    })
    if fit.n_groups > 1:   # lavaan's group column (0 for := rows)
        out.insert(3, "group", [*table["group"], *([0] * len(defs))])
    return out


# -- resampling and refits -----------------------------------------------------------------------
def _resample_indices(key, r, n_rows: int):
    """Row indices of bootstrap replicate r: N draws with replacement."""
    return jax.random.randint(jax.random.fold_in(jax.random.wrap_key_data(key), r), (n_rows,), 0, n_rows)


def _jackknife_indices(key, r, n_rows: int):
    """Row indices of jackknife sample r: every row but r."""
    j = jnp.arange(n_rows - 1)
    return j + (j >= r)


_INDICES = {"resample": _resample_indices, "jackknife": _jackknife_indices}
_draw_indices = jax.jit(jax.vmap(_resample_indices, in_axes=(None, 0, None)), static_argnums=2)


def _group_resample_indices(key, r, sizes: tuple[int, ...]):
    """Row indices of bootstrap replicate r of a multi-group model: n_g draws with replacement
    within each group g (lavaan's bootstrap keeps the group sizes), into the stacked rows."""
    keys = jax.random.fold_in(jax.random.wrap_key_data(key), r)
    offsets = np.cumsum((0,) + sizes[:-1])
    return jnp.concatenate([jax.random.randint(jax.random.fold_in(keys, g), (n,), 0, n) + start
                            for g, (n, start) in enumerate(zip(sizes, offsets))])


def _row_counts(source: str, key, r, n_rows: int, sizes: tuple[int, ...] | None = None):
    """How many times data set r of ``source`` takes each row (within the groups of ``sizes``
    when resampling a multi-group model)."""
    draw = (_group_resample_indices(key, r, sizes) if sizes is not None and source == "resample"
            else _INDICES[source](key, r, n_rows))
    return jnp.zeros(n_rows).at[draw].add(1.0)


_draw_group_indices = jax.jit(jax.vmap(_group_resample_indices, in_axes=(None, 0, None)), static_argnums=2)


@lru_cache(maxsize=64)
def _group_moments_of(source: str, likelihood: str, sizes: tuple[int, ...]):
    """jit(vmap): replicate numbers -> the groups' sample moments (a tuple) of their data sets,
    from each row's count in the replicate (moments.weighted): resampled within the groups, or
    (jackknife) all rows but row r."""
    bounds = np.cumsum((0,) + sizes)

    def one(rows, key, r):
        weights = _row_counts(source, key, r, rows.shape[0], sizes)
        return tuple(moments.weighted(rows[a:b], weights[a:b], likelihood) for a, b in zip(bounds[:-1], bounds[1:]))

    return jax.jit(jax.vmap(one, in_axes=(None, None, 0)))


def _sizes(fit) -> tuple[int, ...] | None:
    """The groups' numbers of rows of a multi-group fit (None for one group)."""
    return tuple(view.nobs for view in fit.groups) if fit.n_groups > 1 else None


def _fiml(fit) -> bool:
    return fit.n_groups == 1 and fit.moments.patterns is not None


def _covariate_holes(fit) -> bool:
    """Whether a fixed covariate has missing values (possible only under missing="ml.x"): the
    replicates' available-case moments (``_fiml_moments_of``) are then not its EM moments."""
    if not (fit.options.fixed_x and fit.partable.variables.ov_x):
        return False
    idx = [fit.spec.ov.index(v) for v in fit.partable.variables.ov_x]
    return bool(np.isnan(fit.data.rows[:, idx]).any())


@lru_cache(maxsize=None)
def _moments_of(source: str, likelihood: str):
    """jit(vmap): replicate numbers -> sample moments of their data sets."""
    def one(rows, key, r):
        return moments.compute(rows[_INDICES[source](key, r, rows.shape[0])], likelihood)

    return jax.jit(jax.vmap(one, in_axes=(None, None, 0)))


@lru_cache(maxsize=None)
def _fiml_moments_of(source: str):
    """jit(vmap): replicate numbers -> FIML moments of their data sets, each original row (zero-
    filled, in pattern ``which``) weighted by the number of times the replicate draws it."""
    def one(filled, which, mask, key, r):
        weights = _row_counts(source, key, r, filled.shape[0])
        count, mean, cov = missing.weighted_patterns(filled, which, mask, weights)
        s, xbar = missing.available_case(filled, mask[which], weights)
        return moments.Moments(s, xbar, jnp.sum(weights),
                               missing.Patterns(mask, count, mean, cov, jnp.asarray(0.0)))

    return jax.jit(jax.vmap(one, in_axes=(None, None, None, None, 0)))


@lru_cache(maxsize=64)  # bounded like engine.MAX_ENGINES
def _fitter(engine):
    """jit(vmap) of the model's scoring refit over a batch of moments, from one start."""
    return jax.jit(jax.vmap(engine.refit_moments, in_axes=(0, None, None, None)))


@lru_cache(maxsize=64)
def _evaluator(func):
    """jit(vmap) of a statistic over a batch of (estimates, moments)."""
    return jax.jit(jax.vmap(func))


class Replicates(NamedTuple):
    """What rebuilds the data sets of a run: rows, key, "resample"/"jackknife", likelihood; under
    FIML the rows are zero-filled, ``which`` is each row's pattern and ``mask`` the patterns'."""

    rows: jnp.ndarray
    key: jnp.ndarray
    source: str
    likelihood: str
    which: jnp.ndarray | None = None
    mask: jnp.ndarray | None = None
    sizes: tuple[int, ...] | None = None   # a multi-group model: the groups' numbers of rows

    @classmethod
    def of(cls, rows: np.ndarray, seed: int, source: str, likelihood: str, fiml: bool = False,
           sizes: tuple[int, ...] | None = None) -> "Replicates":
        key = jax.random.key_data(jax.random.PRNGKey(seed))
        if sizes is not None:
            return cls(jnp.asarray(rows), key, source, likelihood, sizes=sizes)
        if not fiml:
            return cls(jnp.asarray(rows), key, source, likelihood)
        masks, which = missing.group_rows(rows)
        return cls(jnp.asarray(np.where(np.isfinite(rows), rows, 0.0)), key, source, likelihood,
                   jnp.asarray(which), jnp.asarray(masks.astype(float)))

    def moments(self, r: jnp.ndarray) -> moments.Moments:
        if self.sizes is not None:
            return _group_moments_of(self.source, self.likelihood, self.sizes)(self.rows, self.key, r)
        if self.which is None:
            return _moments_of(self.source, self.likelihood)(self.rows, self.key, r)
        return _fiml_moments_of(self.source)(self.rows, self.which, self.mask, self.key, r)


def refit(fit, replicates: Replicates, numbers: np.ndarray, batch, progress, what):
    """Refit the data sets ``numbers`` by scoring (scoring.py) from the full-sample estimate, at
    most REFIT_MAX_ITER steps (a batch runs until its slowest replicate stops); the few it does
    not converge are refitted one by one by the modified Newton optimizer."""
    z_start = jnp.asarray(fit.reparam.to_z(fit.x))
    h_inv = jnp.asarray(np.linalg.pinv(np.asarray(fit.engine.hessian_z(z_start, fit.moments)), hermitian=True))
    run = _fitter(fit.engine)
    limit = jnp.asarray(REFIT_MAX_ITER)
    out = _chunked(lambda r, _: run(replicates.moments(r), z_start, h_inv, limit), numbers, None, batch,
                   progress, what)
    x, f, status = (np.array(a) for a in (out.x, out.f, out.status))
    for i in np.flatnonzero(status != CONVERGED):
        one = jax.tree.map(lambda a: a[0], replicates.moments(jnp.asarray(numbers[i:i + 1])))
        state = fit.engine.fit_moments(one, z_start)
        x[i], f[i], status[i] = np.asarray(state.x), float(state.f), int(state.status)
    return x, f, status


def evaluate(func, replicates: Replicates, numbers: np.ndarray, x: np.ndarray, batch: int):
    run = _evaluator(func)
    return _chunked(lambda r, xx: run(xx, replicates.moments(r)), numbers, x, batch, False, "")


def _chunked(step, numbers: np.ndarray, x, batch: int, progress, what):
    """``step(r, x)`` on chunks of ``batch`` replicate numbers, concatenated.

    Every chunk has exactly ``batch`` entries (the last one is padded with repeats and the
    padding dropped), so one compiled function serves every chunk and every run of that size.
    """
    n = numbers.shape[0]
    if n == 0:
        shapes = jax.eval_shape(step, jnp.zeros(1, int), None if x is None else jnp.zeros((1, x.shape[1])))
        return jax.tree.map(lambda a: np.zeros((0, *a.shape[1:]), a.dtype), shapes)
    parts = []
    with tqdm(total=n, desc=what, unit="fit", disable=progress is False or not what,
              delay=0 if progress else PROGRESS_DELAY_S, leave=False) as bar:
        for start in range(0, n, batch):
            take = np.minimum(np.arange(start, start + batch), n - 1)
            out = step(jnp.asarray(numbers[take]), None if x is None else jnp.asarray(x[take]))
            keep = min(batch, n - start)
            parts.append(jax.tree.map(lambda a: np.asarray(a)[:keep], out))
            bar.update(keep)
    return jax.tree.map(lambda *a: np.concatenate(a), *parts)


def bollen_stine_rows(fit) -> np.ndarray:
    """(Y - ȳ) S^{-1/2} Σ̂^{1/2} (+ μ̂ with a mean structure): data whose covariance is Σ̂."""
    rows = fit.data.rows
    s = np.asarray(fit.moments.s)
    sigma, mu = fit.implied_arrays
    z = (rows - rows.mean(axis=0)[None, :]) @ _symmetric_power(s, -0.5) @ _symmetric_power(sigma, 0.5)
    return z + mu[None, :] if fit.spec.meanstructure else z


def _symmetric_power(a: np.ndarray, power: float) -> np.ndarray:
    w, v = np.linalg.eigh(a)
    return (v * w[None, :] ** power) @ v.T


def default_batch_size(n: int, shape: tuple[int, int], fiml: bool = False) -> int:
    """Replicates per chunk: at most n and MAX_BATCH, and about CHUNK_BYTES of resampled data (N x p),
    or under FIML of the rows' weighted cross-products (N x p x p)."""
    per_replicate = 8 * shape[0] * shape[1] * (shape[1] if fiml else 1)
    return int(max(1, min(n, MAX_BATCH, CHUNK_BYTES // per_replicate)))


def _status_text(code) -> str:
    return "non-finite estimates" if int(code) == CONVERGED else STATUS_TEXT[int(code)]


def _check_arguments(n, ci, level, kind, batch_size) -> None:
    if int(n) != n or n < 2:
        raise ModelError(f"n={n!r}: the number of bootstrap replicates must be a whole number of at least 2")
    if kind not in KINDS:
        raise ModelError(f"kind={kind!r} is not supported; choose one of {', '.join(map(repr, KINDS))}")
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ModelError(f"batch_size={batch_size!r} must be a positive whole number")
    _check_ci(ci, level)


def _check_ci(ci, level) -> None:
    if ci not in intervals.METHODS:
        raise ModelError(f"ci={ci!r} is not supported; choose one of {', '.join(map(repr, intervals.METHODS))}")
    if not 0 < level < 1:
        raise ModelError(f"level={level!r} must lie strictly between 0 and 1")
