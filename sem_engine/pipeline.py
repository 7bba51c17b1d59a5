"""``sem()`` and ``cfa()``: the steps of a fit in order, one line each, no math."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from . import checks, constraints, engine, groups, identification, matrices, moments, partable, scaling, syntax
from .errors import ConvergenceWarning, DataError, DataWarning, ModelError
from .inference import pseudo_inverse, vcov
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
    them and their defaults).  With ``group="column"`` the model is fitted in every group of the
    data (``sample_cov``, ``sample_mean`` and ``sample_nobs`` then give one entry per group, as
    lists or dicts keyed by group label).
    """
    opts = make_options(**options)
    statements = syntax.parse(model)
    inputs = _group_inputs(opts, data, sample_cov, sample_mean, sample_nobs)
    if len(inputs) == 1 and (opts.group_equal or opts.group_partial):
        raise ModelError("group_equal and group_partial need a multi-group model: give group= (or "
                         "sample_cov= as a list with one matrix per group)")
    # lavaan: multi-group models, and sample means given with the covariances, have a mean structure
    with_means = any(keywords.get("sample_mean") is not None for _, keywords in inputs)
    if (len(inputs) > 1 or with_means) and opts.meanstructure is None:
        opts = dataclasses.replace(opts, meanstructure=True)
    pt = partable.build(statements, opts, len(inputs))
    if not pt.variables.ov:
        raise ModelError("the model has no observed variables: every variable in it "
                         f"({', '.join(pt.variables.lv)}) is latent; give each latent variable indicators "
                         "that are columns of the data")
    if pt.n_groups == 1:
        sample, summary = _moments(pt, opts, **inputs[0][1], sample_cov_names=sample_cov_names)
        spec = matrices.build_spec(pt)
        group_data = ()
    else:
        per_group = [_group_moments(pt, opts, label, kw, sample_cov_names) for label, kw in inputs]
        sample = tuple(m for m, _ in per_group)
        group_data = tuple(d for _, d in per_group)
        summary = moments.DataSummary(sum(d.n_used for d in group_data), sum(d.n_total for d in group_data), None)
        spec = groups.build(pt)
    reparam = constraints.build(pt, spec)
    df = identification.degrees_of_freedom(pt, spec, reparam, opts.fixed_x)
    compiled = engine.Engine(spec, reparam, sample, opts.max_iter, opts.grad_tol)
    x_start = _start_values(pt, spec, sample, compiled.units)
    identification.check(pt, spec, reparam, compiled, sample, x_start, df)
    state = _optimize(compiled, sample, reparam.to_z(x_start))
    if int(state.status) != CONVERGED and np.isfinite(pt.table["start"].to_numpy(dtype=float)).any():
        state = _from_default_starts(pt, spec, sample, compiled, state)
    hessian = compiled.observed_hessian_z if opts.information == "observed" else compiled.hessian_z
    h_z = hessian(reparam.to_z(state.x), sample)
    vcov_x, singular = vcov(h_z, reparam, float(n_eff(summary.n_used, opts.likelihood, pt.n_groups)))
    fit = Fit(model, pt, spec, reparam, opts, sample, summary, state, df, compiled, vcov_x,
              _heywood(pt, state.x), tuple(label for label, _ in inputs) if group_data else (), group_data)
    if opts.estimator != "ML" and not singular.size:
        from . import robust

        fit = dataclasses.replace(fit, vcov_x=robust.robust_vcov(fit))
    _warn(fit, singular)
    return fit


def _group_moments(pt, opts, label, keywords, sample_cov_names):
    """One group's moments; a data error names the group."""
    try:
        return _moments(pt, opts, **keywords, sample_cov_names=sample_cov_names)
    except DataError as err:
        raise DataError(f"group {label}: {err}") from None


def _group_inputs(opts, data, sample_cov, sample_mean, sample_nobs) -> list[tuple[str, dict]]:
    """(group label, data keywords) for every group: one unnamed group without ``group=``."""
    given = dict(data=data, sample_cov=sample_cov, sample_mean=sample_mean, sample_nobs=sample_nobs)
    if isinstance(sample_cov, (list, tuple)) and sample_cov and all(np.ndim(c) <= 1 for c in sample_cov):
        raise DataError("sample_cov is a list of rows: give one matrix as a DataFrame with named columns "
                        "(or an array with sample_cov_names=); a list stands for one matrix per group")
    if opts.group is None and not isinstance(sample_cov, (list, tuple, dict)):
        return [("", given)]
    if opts.fiml or opts.estimator != "ML":
        raise ModelError('multi-group models support estimator="ML" with complete data (missing="listwise") '
                         "so far; robust estimators and FIML for groups are not implemented yet")
    if data is not None:
        if opts.group is None:
            raise DataError("data= and sample_cov= exclude each other: give one of them")
        labels, frames, dropped = moments.split_groups(data, opts.group)
        if dropped:
            warnings.warn(f"{dropped} rows have no value of the group variable {opts.group!r} and were dropped",
                          DataWarning, stacklevel=3)
        return [(label, dict(data=frame, sample_cov=sample_cov, sample_mean=None, sample_nobs=None))
                for label, frame in zip(labels, frames)]
    if not isinstance(sample_cov, (list, tuple, dict)):
        raise DataError("with group= and sample statistics, give sample_cov and sample_nobs as lists "
                        "(or dicts keyed by group label) with one entry per group")
    labels = list(sample_cov) if isinstance(sample_cov, dict) else [str(g + 1) for g in range(len(sample_cov))]

    def per_group(value, name):
        if value is None:
            return [None] * len(labels)
        if isinstance(value, dict):
            missing = [g for g in labels if g not in value]
            if missing:
                raise DataError(f"{name} has no entry for group(s) {', '.join(missing)}")
            return [value[g] for g in labels]
        if not isinstance(value, (list, tuple)) or len(value) != len(labels):
            raise DataError(f"{name} must give one entry per group ({len(labels)} groups)")
        return list(value)

    covs, means, nobs = (per_group(v, k) for v, k in ((sample_cov, "sample_cov"), (sample_mean, "sample_mean"),
                                                       (sample_nobs, "sample_nobs")))
    if len(labels) < 2:
        raise DataError("a multi-group model needs sample statistics of at least 2 groups")
    return [(g, dict(data=None, sample_cov=c, sample_mean=m, sample_nobs=n))
            for g, c, m, n in zip(labels, covs, means, nobs)]


def _start_values(pt, spec, sample, units: scaling.Units) -> np.ndarray:
    """Start values of x (computed in unit scale); for a multi-group model each group's from
    its own sample moments."""
    if pt.n_groups == 1:
        return scaling.start_in(pt, spec, sample, units.rows[0], units.d)
    x = np.zeros(spec.npar)
    for g, (sub_spec, index, moments_g) in enumerate(zip(spec.specs, spec.index, sample)):
        x[index] = scaling.start_in(pt.group_table(g), sub_spec, moments_g, units.rows[g], units.d)
    return x


def _from_default_starts(pt, spec, sample, compiled: engine.Engine, state):
    """The fit from the default start values when the user's (``start()``) did not converge;
    it replaces the first one if it converges, with a warning saying so."""
    default = dataclasses.replace(pt, table=pt.table.assign(start=np.nan))
    again = _optimize(compiled, sample, compiled.reparam.to_z(_start_values(default, spec, sample, compiled.units)))
    if int(again.status) != CONVERGED:
        return state
    warnings.warn("the optimizer did not converge from the start values given in the model (start()); "
                  "the solution reported is the one from the default start values", ConvergenceWarning,
                  stacklevel=4)
    return again


def _optimize(compiled: engine.Engine, sample, z_start):
    """Quasi-Newton scoring from the start values (scoring.py: the expected information at the
    start, BFGS updates; cheap steps, so large models fit fast), and the modified Newton optimizer
    (optimize.py: exact Hessian) where scoring does not converge.  Under FIML both use F_FIML."""
    h = compiled.hessian_z(z_start, sample)
    if np.all(np.isfinite(h)):
        h_inv = pseudo_inverse(h)
        state = compiled.refit_moments(sample, z_start, h_inv)
        if int(state.status) == CONVERGED:
            return state
    return compiled.fit_moments(sample, z_start)


def cfa(model: str, data=None, **kwargs) -> Fit:
    """Fit a confirmatory factor analysis; lavaan's ``cfa()`` defaults equal its ``sem()`` ones."""
    return sem(model, data, **kwargs)


def _moments(pt, opts, data=None, sample_cov=None, sample_mean=None, sample_nobs=None, sample_cov_names=None):
    names = pt.variables.ov
    if (data is None) == (sample_cov is None):
        raise DataError("give either data= (raw data) or sample_cov= with sample_nobs=")
    if data is not None:
        fixed = pt.variables.ov_x if opts.fixed_x else ()
        sample, summary = moments.from_data(data, names, opts.likelihood, opts.missing, fixed)
        if summary.n_used < summary.n_total:
            what = {"ml": "no observed value or a missing fixed covariate (fixed_x) and were dropped "
                          '(missing="ml.x" keeps the latter)',
                    "ml.x": "no observed value and were dropped"}.get(
                opts.missing, 'missing values and were dropped (listwise deletion; missing="ml" uses them)')
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
    """Every problem of the solution (checks.py) as a warning; a singular information matrix
    with the parameters involved."""
    for category, message in checks.problems(fit):
        if message == checks.NO_STANDARD_ERRORS and singular.size:
            names = identification.involved(fit.partable, fit.spec, singular)
            message = ("the information matrix is singular, standard errors are not available; "
                       f"parameters involved: {', '.join(names)}")
        warnings.warn(message, category, stacklevel=3)
