"""``sem()`` and ``cfa()``: the steps of a fit in order, one line each, no math."""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from . import constraints, engine, identification, matrices, moments, partable, robust, start, syntax
from .errors import ConvergenceWarning, DataError, DataWarning, HeywoodWarning
from .inference import vcov
from .objective import n_eff
from .optimize import CONVERGED
from .options import make_options
from .results import Fit


def sem(model: str, data=None, *, sample_cov=None, sample_mean=None, sample_nobs=None,
        sample_cov_names=None, **options) -> Fit:
    """Fit a structural equation model by maximum likelihood, with lavaan's ``sem()`` defaults.

    Give either ``data`` (a DataFrame of raw data; rows with missing values are dropped) or
    ``sample_cov`` (DataFrame, or array with ``sample_cov_names``) with ``sample_nobs`` and
    optionally ``sample_mean``.  Options are lavaan's with ``.`` replaced by ``_`` (README lists
    them and their defaults).
    """
    opts = make_options(**options)
    statements = syntax.parse(model)
    pt = partable.build(statements, opts)
    sample, summary = _moments(pt, opts, data, sample_cov, sample_mean, sample_nobs, sample_cov_names)
    spec = matrices.build_spec(pt)
    reparam = constraints.build(pt, spec)
    df = identification.degrees_of_freedom(pt, spec, reparam, opts.fixed_x)
    x_start = start.start_values(pt, spec, sample)
    compiled = engine.get(spec, reparam, opts.max_iter, opts.grad_tol)
    identification.check(pt, spec, reparam, compiled, sample, x_start, df)
    state = jax.tree.map(np.asarray, _optimize(compiled, sample, jnp.asarray(reparam.to_z(x_start))))
    hessian = compiled.observed_hessian_z if opts.information == "observed" else compiled.hessian_z
    h_z = np.asarray(hessian(jnp.asarray(reparam.to_z(state.x)), sample))
    vcov_x, singular = vcov(h_z, reparam, float(n_eff(summary.n_used, opts.likelihood)))
    fit = Fit(model, pt, spec, reparam, opts, sample, summary, state, df, compiled, vcov_x,
              _heywood(pt, state.x))
    if opts.estimator != "ML" and not singular.size:
        fit = dataclasses.replace(fit, vcov_x=robust.robust_vcov(fit))
    _warn(fit, singular)
    return fit


def _optimize(compiled: engine.Engine, sample, z_start):
    """Quasi-Newton scoring from the start values (scoring.py: the expected information at the
    start, BFGS updates; cheap steps, so large models fit fast), and the modified Newton optimizer
    (optimize.py: exact Hessian) where scoring does not converge or the data are incomplete."""
    if sample.patterns is None:
        h = np.asarray(compiled.hessian_z(z_start, sample))
        if np.all(np.isfinite(h)):
            h_inv = jnp.asarray(np.linalg.pinv((h + h.T) / 2, hermitian=True))
            state = compiled.refit_moments(sample, z_start, h_inv)
            if int(state.status) == CONVERGED:
                return state
    return compiled.fit_moments(sample, z_start)


def cfa(model: str, data=None, **kwargs) -> Fit:
    """Fit a confirmatory factor analysis; lavaan's ``cfa()`` defaults equal its ``sem()`` ones."""
    return sem(model, data, **kwargs)


def _moments(pt, opts, data, sample_cov, sample_mean, sample_nobs, sample_cov_names):
    names = pt.variables.ov
    if (data is None) == (sample_cov is None):
        raise DataError("give either data= (raw data) or sample_cov= with sample_nobs=")
    if data is not None:
        fixed = pt.variables.ov_x if opts.fixed_x else ()
        sample, summary = moments.from_data(data, names, opts.likelihood, opts.missing, fixed)
        if summary.n_used < summary.n_total:
            what = ("no observed value or a missing fixed covariate (fixed_x)" if opts.missing == "ml"
                    else 'missing values and were dropped (listwise deletion; missing="ml" uses them)')
            warnings.warn(f"{summary.n_total - summary.n_used} of {summary.n_total} rows have {what}",
                          DataWarning, stacklevel=3)
    else:
        sample, summary = moments.from_cov(sample_cov, names, sample_nobs, opts.likelihood,
                                           sample_mean, sample_cov_names)
        if pt.meanstructure and sample_mean is None:
            raise DataError("the model has a mean structure: give sample_mean= as well")
    return sample, summary


def _heywood(pt, x) -> tuple[str, ...]:
    table = pt.table
    is_var = (table["op"] == "~~") & (table["lhs"] == table["rhs"]) & (table["free"] > 0)
    neg = [f"{l}~~{l}" for l, f in zip(table["lhs"][is_var], table["free"][is_var]) if x[f - 1] < 0]
    return tuple(neg)


def _warn(fit: Fit, singular: np.ndarray) -> None:
    if int(fit.state.status) != CONVERGED:
        warnings.warn(f"the optimizer did not converge ({fit.status}) after {fit.n_iter} iterations; "
                      "results are not trustworthy", ConvergenceWarning, stacklevel=3)
    if fit.heywood:
        warnings.warn(f"negative variance estimates (Heywood case): {', '.join(fit.heywood)}",
                      HeywoodWarning, stacklevel=3)
    if singular.size:
        names = identification.involved(fit.partable, fit.spec, singular)
        warnings.warn("the information matrix is singular, standard errors are not available; "
                      f"parameters involved: {', '.join(names)}", ConvergenceWarning, stacklevel=3)
