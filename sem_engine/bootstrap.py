"""Nonparametric bootstrap: resample rows, refit every replicate by batched quasi-Newton scoring.

Replicate r draws N row indices with ``jax.random.randint`` from ``fold_in(PRNGKey(seed), r)``,
so its sample depends only on the seed and r (not on ``batch_size``) and ``Bootstrap.indices``
regenerates it.  For a chunk of replicates the resampled data and their sample moments
(``moments.weighted``, the fit's divisor), padded to the model's size class, are one jitted
``jax.vmap`` over the data's shapes; the refits are another, a module-level kernel
(``_refit_batch``: scoring.refit under ``jax.vmap``) whose arguments are the model's structure
arrays (structure.py) and the padded moments, so it is compiled once per size class and batch
size, never once per model (DESIGN.md, "Compilation").  Batches use the "throughput" size
policy (``batched_engine``): the work per replicate matters more there than one compilation.
A chunk holds ``batch_size`` replicates and is padded with repeats to a batch class
(``batch_class``: 8, 12, 16, 24, 32, 48, ..., powers of two and 1.5 times them), so different
numbers of replicates share executables and every chunk of a run uses the same one.

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

Statistics of a replicate: "raw" (the free parameters, then the ``:=`` parameters) and the
standardized values ("std.all", "std.lv", "std.nox": every table row, then the standardized
``:=`` parameters).  Standardized row values come from one kernel of the size class
(standardize.rows under ``jax.vmap``); the ``:=`` parameters are evaluated in numpy on each
replicate's row values (inference.definitions), so no model's expressions are compiled.
``Bootstrap.distribution`` evaluates a statistic at the full-sample estimate, at every
successful replicate (its moments rebuilt from the regenerated indices) and, for BCa, at every
leave-one-out jackknife refit; it also takes any function of one replicate's (x, moments),
evaluated in numpy.  Intervals and p-values: intervals.py.

Nothing under ``jax.vmap`` calls LAPACK (scoring.py, linalg.py): jaxlib's batched LAPACK kernels
can deadlock its CPU thread pool.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import inference, intervals, missing, moments, scaling, scoring, size_classes, standardize, structure
from .engine import Engine
from .errors import ConvergenceWarning, DataError, ModelError
from .expressions import to_text
from .objective import n_eff
from .optimize import CONVERGED, STATUS_TEXT
from .structure import Padded, Sizes

KINDS = ("ordinary", "bollen_stine")
STATISTICS = ("raw",) + standardize.KINDS
# With progress=None a bar appears once a run has taken this long (tqdm's ``delay``).
PROGRESS_DELAY_S = 2.0
# Without batch_size: at most MAX_BATCH replicates per chunk, and about CHUNK_BYTES of resampled
# data.  A vmapped while-loop runs until its slowest replicate converges, so larger chunks are
# not faster on a CPU (measured: 1,000 thesis replicates take about as long in chunks of 100 as
# of 1,000) but take more memory.
MAX_BATCH = 256
CHUNK_BYTES = 2 ** 27
# The smallest batch class (``batch_class``).
MIN_BATCH = 8
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
    replicates = Replicates.of(rows, seed, "resample", fit.options.likelihood, batched_engine(fit).sizes, fiml,
                               _sizes(fit))
    state = refit(fit, replicates, np.arange(n), batch, progress, "bootstrap")
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
            return np.asarray(_draw_group_indices(key, which, _sizes(self.fit)))
        return np.asarray(_draw_indices(key, which, self.rows.shape[0]))

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
        return Replicates.of(self.rows, self.seed, source, self.fit.options.likelihood,
                             batched_engine(self.fit).sizes, self.fiml, _sizes(self.fit))

    @cached_property
    def jackknife(self) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-out refits of ``rows``: (estimates N x n_free, success mask N)."""
        n_rows = self.rows.shape[0]
        x, _, status = refit(self.fit, self.replicates("jackknife"), np.arange(n_rows),
                              min(self.batch_size, n_rows), self.progress, "jackknife")
        return x, (status == CONVERGED) & np.all(np.isfinite(x), axis=1)

    # -- statistics ----------------------------------------------------------------------------
    def distribution(self, func: str | Callable, jackknife: bool | None = None) -> Distribution:
        """A statistic at the estimate, at every successful replicate and (``jackknife=True``,
        default: when the default ci is "bca") at every successful leave-one-out refit.

        ``func``: "raw" (free parameters, then ``:=`` parameters), "std.all", "std.lv" or
        "std.nox" (every table row standardized, then the standardized ``:=`` parameters),
        evaluated by the size class's compiled kernels; or a function ``func(x, moments)`` of
        one data set's estimates and sample moments returning a vector, called in numpy once
        per replicate (so it compiles nothing per model).
        """
        est = self._values(func, self.fit.x[None, :], None)[0]
        draws = self._values(func, self.x[self.ok], self.replicates("resample"), np.flatnonzero(self.ok),
                             self.batch_size).reshape(-1, est.size)
        if jackknife or (jackknife is None and self.ci == "bca"):
            return Distribution(est, draws, self._jackknife_values(func).reshape(-1, est.size))
        return Distribution(est, draws, None)

    def _jackknife_values(self, func: str | Callable) -> np.ndarray:
        x, ok = self.jackknife
        return self._values(func, x[ok], self.replicates("jackknife"), np.flatnonzero(ok),
                            min(self.batch_size, self.rows.shape[0]))

    def _values(self, func, x: np.ndarray, replicates: "Replicates | None", numbers=None, batch=None) -> np.ndarray:
        """``func`` at estimates x of the data sets ``numbers`` of ``replicates`` (None: at the
        full-sample moments), in chunks of ``batch`` (default: the bootstrap's)."""
        fit, batch = self.fit, batch or self.batch_size
        if replicates is None:
            if callable(func):
                return np.atleast_1d(np.asarray(func(fit.x, fit.moments), dtype=float))[None, :]
            padded = structure.pad_moments(fit.moments, batched_engine(fit).sizes)
            size = batch_class(batch)
            return values(fit, func, np.repeat(x, size, axis=0), _tile(padded, size))[:1]
        if callable(func):
            def step(r, xx):
                data = replicates.unpad(replicates.padded(r))
                return np.stack([np.atleast_1d(np.asarray(func(xx[i], _take(data, i)), dtype=float))
                                 for i in range(len(r))])
        else:
            def step(r, xx):
                return values(fit, func, xx, replicates.padded(r))
        return _chunked(step, numbers, x, batch, False, "")

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
        if kind not in standardize.KINDS:
            raise ModelError(f"unknown standardization {kind!r}; use one of {', '.join(standardize.KINDS)}")
        dist = self._statistic_distribution(kind, ci)
        return _table(self.fit, dist.est, self.summarize(dist, ci, level), np.arange(dist.est.size), "est_std")

    def _statistic_distribution(self, what: str, ci: str | None) -> Distribution:
        """The distribution of the statistic ``what`` (STATISTICS), kept; jackknife values added
        for BCa."""
        if what not in self._distributions:
            self._distributions[what] = self.distribution(what, jackknife=False)
        dist = self._distributions[what]
        if (self.ci if ci is None else ci) == "bca" and dist.jack is None:
            jack = self._jackknife_values(what).reshape(-1, dist.est.size)
            dist = self._distributions[what] = dist._replace(jack=jack)
        return dist

    @cached_property
    def _distributions(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return (f"<sem_engine Bootstrap: {self.n} {self.kind} replicates (seed {self.seed}), "
                f"{self.n - self.n_failed} successful, {self.n_failed} failed>")


# -- statistics of replicates ----------------------------------------------------------------------
def batched_engine(fit) -> Engine:
    """``fit``'s model on the kernels of its "throughput" size class (structure.py), for batches:
    the fit's engine's own (``Engine.tight``, which its Newton fallback uses too)."""
    return fit.engine.tight


def statistic(fit, what: str) -> Callable:
    """The function (x, moments) -> vector of one data set behind a bootstrap table (numpy in and
    out; evaluated by the compiled kernels of ``fit``'s size class).

    "raw": the free parameters x followed by the ``:=`` parameters; "std.all", "std.lv",
    "std.nox": every table row's standardized value followed by the standardized ``:=``
    parameters.  ``moments`` are one data set's (a tuple of them for a multi-group model).
    """
    _check_statistic(what)
    sz = batched_engine(fit).sizes

    def func(x, data_moments) -> np.ndarray:
        padded = structure.pad_moments(data_moments, sz)
        return values(fit, what, np.asarray(x, dtype=float)[None, :], _tile(padded, batch_class(1)))[0]

    return func


def values(fit, what: str, x: np.ndarray, padded: Padded) -> np.ndarray:
    """The statistic ``what`` (STATISTICS) of a batch: estimates x (B x n_free) and the data sets'
    padded moments (leading axis B); B is padded to a batch class here."""
    _check_statistic(what)
    x = np.asarray(x, dtype=float)
    size = batch_class(x.shape[0])
    if size != x.shape[0]:
        return values(fit, what, _repeat_last(x, size), jax.tree.map(lambda a: _repeat_last(a, size), padded)
                      )[:x.shape[0]]
    pt = fit.partable
    if what == "raw":
        if not pt.definitions:
            return x
        return np.hstack([x, inference.definitions(pt, row_values(fit, x, padded))])
    eng = batched_engine(fit)
    sz = eng.sizes
    sc = standardize.scaling(pt, fit.spec, what, sz)
    std = _standardized_batch(eng.structure, padded, _pad_x(x, sz), standardize.Scaling(sc.num[None], sc.den[None]),
                              sz)
    std = np.asarray(std)[:, 0, :len(pt.table)]
    if not pt.definitions:
        return std
    return np.hstack([std, inference.definitions(pt, std)])


def row_values(fit, x: np.ndarray, padded: Padded) -> np.ndarray:
    """Every table row's value in each data set of a batch (B x rows): a free row from x (the
    table's ``free`` column), a fixed row its value, a fixed.x row the data set's sample moment."""
    free = fit.partable.table["free"].to_numpy()
    out = np.repeat(np.asarray(fit.row_values, dtype=float)[None, :], x.shape[0], axis=0)
    has = free > 0
    out[:, has] = x[:, free[has] - 1]
    specs = fit.spec.specs if fit.n_groups > 1 else (fit.spec,)
    s, xbar = np.asarray(padded.s), np.asarray(padded.xbar)
    offset = 0
    for g, spec in enumerate(specs):
        if spec.exo_rows.size:
            i, j = spec.exo_moment[:, 0], spec.exo_moment[:, 1]
            out[:, offset + spec.exo_rows] = np.where(j >= 0, s[:, g, i, np.maximum(j, 0)], xbar[:, g, i])
        offset += len(spec.row_base)
    return out


def _check_statistic(what) -> None:
    if what not in STATISTICS:
        raise ModelError(f"unknown statistic {what!r}; use one of {', '.join(STATISTICS)}")


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


# -- the compiled kernels: structure arrays and padded moments in, one executable per size class ----
@partial(jax.jit, static_argnames="sz")
def _refit_batch(st, padded: Padded, z_start, h_inv, max_steps, grad_tol, sz: Sizes):
    """scoring.refit of every data set of a batch of padded moments, from one start."""
    return jax.vmap(lambda m: scoring.refit(st, m, z_start, h_inv, max_steps, grad_tol, sz))(padded)


@partial(jax.jit, static_argnames="sz")
def _standardized_batch(st, padded: Padded, x, sc, sz: Sizes):
    """standardize.rows of every (x, moments) of a batch: B x kinds x rows."""
    return jax.vmap(lambda m, xx: standardize.rows(xx, st, m, sc, sz))(padded, x)


def _pad_x(x: np.ndarray, sz: Sizes) -> np.ndarray:
    """Estimates (B x n_free) padded to the size class's number of parameters."""
    out = np.zeros((x.shape[0], sz.npar))
    out[:, :x.shape[1]] = x
    return out


def _moment_sizes(sz: Sizes) -> Sizes:
    """``sz`` with only the sizes that padded moments have (p, groups, patterns), so that the
    moments kernels serve every size class that shares them."""
    return sz._replace(m=0, npar=0, rows=0)


def _pad(members: tuple, sz: Sizes) -> Padded:
    """structure.pad_moments inside compiled code: one data set's moments (one Moments per group)
    padded to ``sz`` (its p, groups and patterns) and stacked over the groups."""
    g, q = len(members), members[0].s.shape[-1]

    def put(shape, base, get, index):
        return base(((sz.groups,) + shape)).at[(slice(0, g),) + index].set(jnp.stack([get(m) for m in members]))

    eye = lambda shape: jnp.broadcast_to(jnp.eye(sz.p), shape)   # noqa: E731
    s = put((sz.p, sz.p), eye, lambda m: m.s, (slice(0, q), slice(0, q)))
    xbar = put((sz.p,), jnp.zeros, lambda m: m.xbar, (slice(0, q),))
    n = put((), jnp.ones, lambda m: m.n, ())
    patterns = None
    if members[0].patterns is not None:
        k, kk = members[0].patterns.mask.shape[0], sz.patterns
        obs, var = (slice(0, k), slice(0, q)), slice(0, q)
        patterns = missing.Patterns(
            put((kk, sz.p), jnp.zeros, lambda m: m.patterns.mask, obs),
            put((kk,), jnp.zeros, lambda m: m.patterns.count, (slice(0, k),)),
            put((kk, sz.p), jnp.zeros, lambda m: m.patterns.mean, obs),
            put((kk, sz.p, sz.p), jnp.zeros, lambda m: m.patterns.cov, obs + (var,)),
            put((), jnp.zeros, lambda m: m.patterns.h1_loglik, ()))
    return Padded(s, xbar, n, patterns)


def _unpad(padded: Padded, q: int, k: int, groups: int | None):
    """The batch of moments (numpy) behind ``padded``: q variables, k missing-data patterns (0:
    complete data), ``groups`` groups (None: one group, a Moments rather than a tuple)."""
    a = jax.tree.map(np.asarray, padded)
    out = []
    for g in range(groups or 1):
        pat = None
        if a.patterns is not None:
            p = a.patterns
            pat = missing.Patterns(p.mask[:, g, :k, :q], p.count[:, g, :k], p.mean[:, g, :k, :q],
                                   p.cov[:, g, :k, :q, :q], p.h1_loglik[:, g])
        out.append(moments.Moments(a.s[:, g, :q, :q], a.xbar[:, g, :q], a.n[:, g], pat))
    return out[0] if groups is None else tuple(out)


def _tile(tree, size: int):
    """A pytree of one data set's arrays repeated along a new leading axis of ``size`` (numpy:
    eager JAX operations would compile)."""
    return jax.tree.map(lambda a: np.broadcast_to(np.asarray(a), (size,) + np.shape(a)), tree)


def _take(tree, i: int):
    return jax.tree.map(lambda a: a[i], tree)


def _repeat_last(a, size: int):
    """``a`` (leading axis n ≤ size) padded to ``size`` entries with repeats of its last one."""
    return np.asarray(a)[np.minimum(np.arange(size), a.shape[0] - 1)]


def batch_class(n: int) -> int:
    """The padded size of a chunk of n replicates: the smallest class of 8, 12, 16, 24, 32, ...
    (size_classes.grow) that holds n, so batches of similar sizes share a compiled kernel."""
    return size_classes.grow(n, MIN_BATCH)


# -- resampling --------------------------------------------------------------------------------------
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


# The moments of a batch of data sets, padded to the size class sz: jitted on the data's shapes
# (the draws depend on N), never on a model.
@partial(jax.jit, static_argnames=("source", "likelihood", "sz"))
def _complete_moments(rows, key, r, source: str, likelihood: str, sz: Sizes) -> Padded:
    def one(rr):
        return _pad((moments.compute(rows[_INDICES[source](key, rr, rows.shape[0])], likelihood),), sz)

    return jax.vmap(one)(r)


@partial(jax.jit, static_argnames=("source", "likelihood", "sizes", "sz"))
def _group_moments(rows, key, r, source: str, likelihood: str, sizes: tuple[int, ...], sz: Sizes) -> Padded:
    """The groups' sample moments from each row's count in the data set (moments.weighted):
    resampled within the groups, or (jackknife) all rows but row r."""
    bounds = np.cumsum((0,) + sizes)

    def one(rr):
        weights = _row_counts(source, key, rr, rows.shape[0], sizes)
        return _pad(tuple(moments.weighted(rows[a:b], weights[a:b], likelihood)
                          for a, b in zip(bounds[:-1], bounds[1:])), sz)

    return jax.vmap(one)(r)


@partial(jax.jit, static_argnames=("source", "sz"))
def _fiml_moments(filled, which, mask, key, r, source: str, sz: Sizes) -> Padded:
    """FIML moments: each original row (zero-filled, in pattern ``which``) weighted by the number
    of times the data set draws it."""
    def one(rr):
        weights = _row_counts(source, key, rr, filled.shape[0])
        count, mean, cov = missing.weighted_patterns(filled, which, mask, weights)
        s, xbar = missing.available_case(filled, mask[which], weights)
        return _pad((moments.Moments(s, xbar, jnp.sum(weights),
                                     missing.Patterns(mask, count, mean, cov, jnp.asarray(0.0))),), sz)

    return jax.vmap(one)(r)


def _sizes(fit) -> tuple[int, ...] | None:
    """The groups' numbers of rows of a multi-group fit (None for one group)."""
    return tuple(view.nobs for view in fit.groups) if fit.n_groups > 1 else None


def _fiml(fit) -> bool:
    return fit.n_groups == 1 and fit.moments.patterns is not None


def _covariate_holes(fit) -> bool:
    """Whether a fixed covariate has missing values (possible only under missing="ml.x"): the
    replicates' available-case moments (``_fiml_moments``) are then not its EM moments."""
    if not (fit.options.fixed_x and fit.partable.variables.ov_x):
        return False
    idx = [fit.spec.ov.index(v) for v in fit.partable.variables.ov_x]
    return bool(np.isnan(fit.data.rows[:, idx]).any())


class Replicates(NamedTuple):
    """What rebuilds the data sets of a run: rows, key, "resample"/"jackknife", likelihood and
    the size class the moments are padded to; under FIML the rows are zero-filled, ``which`` is
    each row's pattern and ``mask`` the patterns'."""

    rows: jnp.ndarray
    key: jnp.ndarray
    source: str
    likelihood: str
    sz: Sizes
    which: jnp.ndarray | None = None
    mask: jnp.ndarray | None = None
    sizes: tuple[int, ...] | None = None   # a multi-group model: the groups' numbers of rows

    @classmethod
    def of(cls, rows: np.ndarray, seed: int, source: str, likelihood: str, sz: Sizes, fiml: bool = False,
           sizes: tuple[int, ...] | None = None) -> "Replicates":
        key = jax.random.key_data(jax.random.PRNGKey(seed))
        if sizes is not None:
            return cls(jax.device_put(rows), key, source, likelihood, sz, sizes=sizes)
        if not fiml:
            return cls(jax.device_put(rows), key, source, likelihood, sz)
        masks, which = missing.group_rows(rows)
        return cls(jax.device_put(np.where(np.isfinite(rows), rows, 0.0)), key, source, likelihood, sz,
                   jax.device_put(which), jax.device_put(masks.astype(float)))

    def padded(self, r) -> Padded:
        """The padded moments of data sets ``r`` (leading axis: len(r))."""
        r, sz = np.asarray(r), _moment_sizes(self.sz)
        if self.sizes is not None:
            return _group_moments(self.rows, self.key, r, self.source, self.likelihood, self.sizes, sz)
        if self.which is None:
            return _complete_moments(self.rows, self.key, r, self.source, self.likelihood, sz)
        return _fiml_moments(self.rows, self.which, self.mask, self.key, r, self.source, sz)

    def unpad(self, padded: Padded):
        """``padded`` as the moments a fit holds (numpy, leading axis: the data sets)."""
        k = 0 if self.mask is None else self.mask.shape[0]
        return _unpad(padded, self.rows.shape[1], k, None if self.sizes is None else len(self.sizes))

    def moments(self, r, batch: int | None = None):
        """The sample moments of data sets ``r`` (numpy, leading axis: len(r)), computed in
        chunks of ``batch``."""
        return moments_of(self, r, batch)


def moments_of(data_sets, r, batch: int | None = None):
    """``data_sets.unpad(data_sets.padded(...))`` of the data sets ``r`` in chunks of ``batch``
    (default len(r)), each padded to its batch class."""
    r = np.atleast_1d(np.asarray(r))
    return _chunked(lambda rr, _: data_sets.unpad(data_sets.padded(rr)), r, None, batch or len(r), False, "")


def refit(fit, replicates, numbers: np.ndarray, batch, progress, what):
    """Refit the data sets ``numbers`` by scoring (scoring.py) from the full-sample estimate, at
    most REFIT_MAX_ITER steps (a batch runs until its slowest replicate stops).  The few it does
    not converge are refitted as a fresh fit would be (pipeline._optimize): scoring again, up to
    the optimizer's ``max_iter`` steps, in batches of MIN_BATCH, then, one by one, the modified
    Newton optimizer, all on the kernels of the throughput size class.  ``replicates``: a
    Replicates, or anything with its ``padded`` and ``unpad`` (montecarlo.Simulated)."""
    eng = batched_engine(fit)
    units = eng.units
    z_start = fit.reparam.to_z(fit.x)
    # the refits run on the model in unit scale (scaling.py), as the fit's own optimizers
    h_inv = inference.pseudo_inverse(np.asarray(fit.engine.hessian_z(z_start, fit.moments)))
    npar, n_z = eng.sizes.npar, z_start.size
    z_pad, h_pad = np.zeros(npar), np.zeros((npar, npar))
    z_pad[:n_z] = units.m @ z_start
    h_pad[:n_z, :n_z] = units.m @ h_inv @ units.m.T
    d_pad = np.ones(eng.sizes.p)
    d_pad[:units.d.size] = units.d
    tol = np.float64(fit.engine.grad_tol * 1e-2)

    def scoring_refits(which, steps, chunk, bar):
        return _chunked(lambda r, _: _refit_batch(eng._unit_structure, scaling.padded_in(replicates.padded(r), d_pad),
                                                  z_pad, h_pad, np.int64(steps), tol, eng.sizes),
                        numbers[which], None, chunk, progress if bar else False, what if bar else "")

    out = scoring_refits(np.arange(numbers.shape[0]), REFIT_MAX_ITER, batch, True)
    x, f, status = np.array(out.x[:, :fit.spec.npar]) / units.cx, np.array(out.f), np.array(out.status)
    bad = np.flatnonzero(status != CONVERGED)
    if bad.size:
        again = scoring_refits(bad, eng.max_iter, MIN_BATCH, False)
        x[bad], f[bad], status[bad] = again.x[:, :fit.spec.npar] / units.cx, again.f, again.status
    for i in np.flatnonzero(status != CONVERGED):
        state = eng.fit_moments(_take(moments_of(replicates, numbers[i:i + 1], MIN_BATCH), 0), z_start)
        x[i], f[i], status[i] = np.asarray(state.x), float(state.f), int(state.status)
    return x, f, status


def _chunked(step, numbers: np.ndarray, x, batch: int, progress, what):
    """``step(r, x)`` on chunks of ``batch`` replicate numbers (and their rows of x), concatenated.

    Every chunk is padded with repeats to ``batch_class(batch)`` entries and the padding dropped,
    so one compiled kernel serves every chunk and every run of a similar size.
    """
    n = numbers.shape[0]
    size = batch_class(batch)
    if n == 0:   # the shapes of the result, from one padded chunk of data set 0
        out = step(np.zeros(size, int), None if x is None else np.zeros((size, x.shape[1])))
        return jax.tree.map(lambda a: np.asarray(a)[:0], out)
    parts = []
    with tqdm(total=n, desc=what, unit="fit", disable=progress is False or not what,
              delay=0 if progress else PROGRESS_DELAY_S, leave=False) as bar:
        for start in range(0, n, batch):
            take = np.minimum(np.arange(start, start + size), min(start + batch, n) - 1)
            out = step(numbers[take], None if x is None else x[take])
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
