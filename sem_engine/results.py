"""The ``Fit`` result: frozen, with cheap scalars as properties and tables as cached methods."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import inference, missing
from .constraints import Reparam
from .engine import Engine
from .expressions import to_text
from .matrices import Matrices, Spec
from .moments import DataSummary, Moments
from .objective import n_eff
from .optimize import CONVERGED, STATUS_TEXT, FitState
from .options import Options
from .partable import ParameterTable, values_jacobian

ESTIMATE_COLUMNS = ["lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci_lower", "ci_upper"]


def _per_group_analysis(module: str, name: str, doc: str):
    """A Fit method that delegates to ``module.name(fit, **kwargs)`` (imported on first use), and
    for a multi-group model asks each group's single-group view (``Fit._per_group``)."""
    def method(self, **kwargs):
        if self.n_groups > 1:
            return self._per_group(name, **kwargs)
        return getattr(importlib.import_module(f".{module}", __package__), name)(self, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc + "\n    Per group for a multi-group model (tables stacked by group label, others in a dict)."
    return method


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted model.  Build it with ``sem_engine.sem`` or ``sem_engine.cfa``."""

    model: str
    partable: ParameterTable
    spec: Spec
    reparam: Reparam
    options: Options
    moments: Moments
    data: DataSummary
    state: FitState
    df: int
    engine: Engine
    vcov_x: np.ndarray
    heywood: tuple[str, ...]
    group_labels: tuple[str, ...] = ()       # multi-group models: the groups, in order
    group_data: tuple[DataSummary, ...] = ()  # and each group's data summary

    # -- groups ----------------------------------------------------------------------------------
    @property
    def n_groups(self) -> int:
        return max(len(self.group_labels), 1)

    @cached_property
    def groups(self) -> tuple["Fit", ...]:
        """One single-group view per group (the fit itself for a single-group model): that
        group's rows, matrices, moments, estimates and the block of vcov for its parameters, so
        per-group results (standardized values, R², residuals, reliability, ...) are computed
        by the single-group code."""
        if self.n_groups == 1:
            return (self,)
        return tuple(self._group_view(g) for g in range(self.n_groups))

    def _group_view(self, g: int) -> "Fit":
        pt = self.partable.group_table(g)
        spec, index, moments = self.spec.specs[g], self.spec.index[g], self.moments[g]
        reparam = Reparam(np.zeros(spec.npar), np.eye(spec.npar), 0)
        x = self.x[index]
        view_engine = Engine(spec, reparam, moments, self.options.max_iter, self.options.grad_tol)
        sigma, mu = view_engine.implied(x, moments)
        f_g = 2.0 * (_loglik(np.asarray(moments.s), np.asarray(moments.xbar), moments, spec.meanstructure)
                     - _loglik(sigma, mu, moments, spec.meanstructure)) / float(moments.n)   # F_ML of the group
        state = FitState(x, np.asarray(f_g), self.state.grad_norm, self.state.n_iter, self.state.status)
        options = dataclasses.replace(self.options, group=None, group_equal=(), group_partial=())
        heywood = tuple(h for h in self.heywood if h in _variance_names(pt))
        return Fit(self.model, pt, spec, reparam, options, moments, self.group_data[g], state, self.df, view_engine,
                   self.vcov_x[np.ix_(index, index)], heywood)

    def _by_group(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        """Per-group tables stacked, with a ``group`` column (1-based, as lavaan's)."""
        return pd.concat([f.assign(group=g + 1) for g, f in enumerate(frames)], ignore_index=True)

    def _per_group(self, method: str, **kwargs):
        """A per-group result of a multi-group model: the groups' tables stacked with a ``group``
        column, other results in a dict keyed by group label."""
        results = [getattr(view, method)(**kwargs) for view in self.groups]
        if all(isinstance(r, pd.DataFrame) for r in results):
            return pd.concat(results, keys=list(self.group_labels), names=["group"])
        return dict(zip(self.group_labels, results))

    # -- scalars -------------------------------------------------------------------------------
    @property
    def x(self) -> np.ndarray:
        """Estimates of the free parameters, in the order of the table's ``free`` column."""
        return np.asarray(self.state.x)

    @property
    def converged(self) -> bool:
        return int(self.state.status) == CONVERGED

    @property
    def status(self) -> str:
        return STATUS_TEXT[int(self.state.status)]

    @property
    def n_iter(self) -> int:
        return int(self.state.n_iter)

    @property
    def nobs(self) -> int:
        return self.data.n_used

    @property
    def npar(self) -> int:
        """Free parameters less independent equality constraints (lavaan's ``npar``)."""
        return self.reparam.basis.shape[1]

    @property
    def n_free(self) -> int:
        """Free rows of the parameter table, before equality constraints."""
        return self.spec.npar

    @property
    def n_eq(self) -> int:
        """Independent equality constraints (shared labels and ``==``)."""
        return self.reparam.n_eq

    @property
    def fmin(self) -> float:
        """lavaan's fmin: F_ML / 2."""
        return float(self.state.f) / 2.0

    @property
    def n_eff(self) -> float:
        return float(n_eff(self.nobs, self.options.likelihood, self.n_groups))

    @property
    def chisq(self) -> float:
        """n_eff F_ML; for a multi-group model the groups' sum Σ_g n_eff,g F_g (groups.py)."""
        if self.n_groups > 1:
            return sum(view.chisq for view in self.groups)
        return self.n_eff * float(self.state.f)

    @cached_property
    def loglik(self) -> float:
        """Normal-theory log-likelihood -N/2 [p log 2π + log|Σ| + tr(SΣ⁻¹) + (x̄-μ)ᵀΣ⁻¹(x̄-μ)].

        S is the sample covariance the fit used (divisor N - 1 under ``likelihood="wishart"``, as
        lavaan computes it); the multiplier is N under both likelihoods.  With ``fixed_x`` the
        likelihood is conditional on the exogenous covariates: their saturated marginal
        log-likelihood is subtracted, as lavaan does.
        """
        if self.n_groups > 1:
            return sum(view.loglik for view in self.groups)
        if self.moments.patterns is not None:  # FIML: F = -2 (log L - log L_H1) / N
            return float(self.moments.patterns.h1_loglik) - self._x_loglik - self.nobs * float(self.state.f) / 2.0
        return _loglik(*self.implied_arrays, self.moments, self.spec.meanstructure) - self._x_loglik

    @cached_property
    def unrestricted_loglik(self) -> float:
        """Log-likelihood of the saturated model (Σ = S, μ = x̄), conditional on fixed covariates;
        with incomplete data (FIML) the observed-data log-likelihood at the EM estimates.

        Under ``missing="ml.x"`` this is lavaan 0.6.14's reported ``unrestricted.logl``: the
        joint H1 log-likelihood less the covariates' complete-data log-likelihood at their
        pairwise-complete moments (``x_pairwise``), whereas ``loglik`` (and so χ²) subtracts it at
        their EM moments; the two are then not consistent: χ² ≠ 2 (this - ``loglik``) (0.29 in
        log-likelihood on the MIMIC fixture, tests/reference/missing/mimic_fiml_mlx)."""
        if self.n_groups > 1:
            return sum(view.unrestricted_loglik for view in self.groups)
        m = self.moments
        if m.patterns is not None:
            x = self.x_pairwise[0] if self.options.missing == "ml.x" else self._x_loglik
            return float(m.patterns.h1_loglik) - x
        return _loglik(np.asarray(m.s), np.asarray(m.xbar), m, self.spec.meanstructure) - self._x_loglik

    @cached_property
    def _x_loglik(self) -> float:
        if not (self.options.fixed_x and self.partable.variables.ov_x):
            return 0.0
        idx = [self.spec.ov.index(v) for v in self.partable.variables.ov_x]
        s = np.asarray(self.moments.s)[np.ix_(idx, idx)]
        xbar = np.asarray(self.moments.xbar)[idx]
        return _loglik(s, xbar, Moments(s, xbar, self.moments.n), False)

    @cached_property
    def x_pairwise(self) -> tuple[float, float]:
        """FIML: the fixed covariates' complete-data log-likelihood (N rows) and observed-data
        log-likelihood (missing.observed_loglik) at their pairwise-complete moments
        (missing.pairwise_moments), lavaan's baseline (H0) block for them; equal to each other
        and to ``_x_loglik`` when the covariates have no holes.  (0, 0) without fixed covariates."""
        if not (self.options.fixed_x and self.partable.variables.ov_x):
            return 0.0, 0.0
        rows = self.data.rows[:, [self.spec.ov.index(v) for v in self.partable.variables.ov_x]]
        xbar, s = missing.pairwise_moments(rows)
        complete = _loglik(s, xbar, Moments(s, xbar, self.moments.n), False)
        return complete, missing.observed_loglik(rows, xbar, s)

    # -- matrices ------------------------------------------------------------------------------
    @cached_property
    def matrices(self) -> Matrices:
        """Estimated model matrices (Λ, Θ, Ψ, B, ν, α) as numpy arrays."""
        return self.engine.matrices(self.x, self.moments)

    @cached_property
    def implied_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.engine.implied(self.x, self.moments)

    def implied(self) -> dict:
        """Model-implied covariance matrix (and mean vector with a mean structure); for a
        multi-group model a dict of those keyed by group label."""
        if self.n_groups > 1:
            return {label: view.implied() for label, view in zip(self.group_labels, self.groups)}
        sigma, mu = self.implied_arrays
        out = {"cov": pd.DataFrame(sigma, index=self.spec.ov, columns=self.spec.ov)}
        if self.spec.meanstructure:
            out["mean"] = pd.Series(mu, index=self.spec.ov)
        return out

    @cached_property
    def row_values(self) -> np.ndarray:
        """Value of every parameter-table row at the estimates."""
        return self.engine.row_values(self.x, self.moments)

    # -- tables --------------------------------------------------------------------------------
    def estimates(self, standardized: bool = True) -> pd.DataFrame:
        """Parameter estimates with SE, z, p and CI, and (``standardized=True``) the columns
        std_lv, std_all and std_nox, like lavaan's ``parameterEstimates(standardized=TRUE)``."""
        if not standardized:
            return self._estimates.copy()
        from .standardize import std_columns

        return pd.concat([self._estimates, std_columns(self)], axis=1)

    @cached_property
    def _estimates(self) -> pd.DataFrame:
        table = self.partable.table
        est = self.row_values
        free = table["free"].to_numpy()
        se = np.zeros(len(table))
        variances = np.diag(self.vcov_x)
        se[free > 0] = np.sqrt(np.maximum(variances[free[free > 0] - 1], 0))
        w = inference.wald(est, se, self.options.level)
        out = pd.DataFrame({"lhs": table["lhs"], "op": table["op"], "rhs": table["rhs"],
                            "group": table["group"], "label": table["label"], "est": est, **w._asdict()})
        out.loc[se == 0, ["z", "pvalue"]] = np.nan
        if self.partable.definitions:
            out = pd.concat([out, self._defined_table().assign(group=0)], ignore_index=True)
        columns = ESTIMATE_COLUMNS if self.n_groups == 1 else ESTIMATE_COLUMNS[:3] + ["group"] + ESTIMATE_COLUMNS[3:]
        return out[columns]

    def _defined_table(self) -> pd.DataFrame:
        est, jac = inference.definitions(self.partable, self.row_values, grad=True)
        jac = jac @ values_jacobian(self.partable)
        cov = jac @ self.vcov_x @ jac.T
        w = inference.wald(est, np.sqrt(np.maximum(np.diag(cov), 0)), self.options.level)
        return pd.DataFrame({
            "lhs": [d.name for d in self.partable.definitions], "op": ":=",
            "rhs": [to_text(d.expr) for d in self.partable.definitions],
            "label": [d.name for d in self.partable.definitions], "est": est, **w._asdict()})

    # -- derived results (each lives in its own module; imported lazily to keep import light) --
    def fit_measures(self):
        """Fit indices keyed like lavaan's ``fitMeasures()`` (see fit_measures.py); with a robust
        estimator, lavaan's scaled and robust measures follow (see robust.py)."""
        from . import robust
        from .fit_measures import fit_measures

        measures = fit_measures(self)
        if self.options.estimator == "ML":
            return measures
        return pd.concat([measures, robust.fit_measures(self)])

    def standardized(self, kind: str = "std.all"):
        """Standardized solution with delta-method SEs, like ``standardizedSolution()``."""
        from .standardize import standardized_solution

        return standardized_solution(self, kind)

    def r2(self):
        """R² of every endogenous observed and latent variable."""
        from .standardize import r2

        return r2(self)

    def residuals(self, kind: str = "raw"):
        """Residual matrices: "raw", "cor" ("cor.bollen"), "standardized", "normalized"; a dict
        of them keyed by group label for a multi-group model."""
        if self.n_groups > 1:
            return self._per_group("residuals", kind=kind)
        from .residuals import residuals

        return residuals(self, kind)

    def modification_indices(self, **kwargs):
        """Modification indices and expected parameter changes, like ``modindices()``."""
        from .modindices import modification_indices

        return modification_indices(self, **kwargs)

    def score_tests(self):
        """Univariate score tests of the equality constraints, like ``lavTestScore()``."""
        from .modindices import score_tests

        return score_tests(self)

    def score_test(self):
        """The joint score test of all equality constraints (X2, df, p_value), like
        ``lavTestScore()$test``."""
        from .modindices import score_test_total

        return score_test_total(self)

    reliability = _per_group_analysis(
        "validity", "reliability", "AVE, composite reliability, omega and alpha per factor (see validity.py).")

    htmt = _per_group_analysis("validity", "htmt", "Heterotrait-monotrait ratio matrix (see validity.py).")

    discriminant_validity = _per_group_analysis(
        "validity", "discriminant_validity", "Fornell-Larcker table and HTMT with flags (see validity.py).")

    validity_report = _per_group_analysis(
        "validity", "validity_report", "Reliability and validity of every construct against the usual thresholds.")

    def bootstrap(self, n: int = 1000, **kwargs):
        """Refit the model to n bootstrap samples under ``jax.vmap`` (see bootstrap.py)."""
        from .bootstrap import bootstrap

        return bootstrap(self, n, **kwargs)

    effects = _per_group_analysis(
        "effects", "effects", "Direct, indirect and total effects among the structural variables (see effects.py).")

    # -- reports (summary.py, tables.py, diagram.py, serialize.py) ------------------------------
    def summary(self, fit_measures: bool = True, standardized: bool = True, rsquare: bool = True, **kwargs):
        """lavaan-style ``summary()``: ``str()`` of the result is the text, Jupyter shows HTML
        tables; ``ci=True`` adds intervals, ``bootstrap=fit.bootstrap(...)`` its SEs and CIs."""
        from .summary import summary

        return summary(self, fit_measures, standardized, rsquare, **kwargs)

    def to_markdown(self, **kwargs) -> str:
        """APA tables (fit, loadings, paths, defined, reliability, discriminant) as Markdown."""
        from .tables import apa_tables

        return apa_tables(self, **kwargs).to_markdown()

    def to_latex(self, **kwargs) -> str:
        """APA tables as LaTeX ``table`` floats (booktabs)."""
        from .tables import apa_tables

        return apa_tables(self, **kwargs).to_latex()

    def diagram(self, standardized: bool = True, **kwargs):
        """Path diagram as Graphviz DOT; ``.render("model.svg")`` draws it with ``dot``."""
        from .diagram import diagram

        return diagram(self, standardized, **kwargs)

    def to_dict(self, **kwargs) -> dict:
        """Estimates, fit measures, validity (and a bootstrap) as JSON-ready values with the
        engine version; ``sem_engine.load_json`` reads the JSON back."""
        from .serialize import to_dict

        return to_dict(self, **kwargs)

    def to_json(self, path=None, **kwargs) -> str:
        """``to_dict()`` as JSON text, also written to ``path`` when given."""
        from .serialize import to_json

        return to_json(self, path, **kwargs)

    def __str__(self) -> str:
        from .summary import brief

        return str(brief(self))

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        state = "converged" if self.converged else f"NOT converged ({self.status})"
        return (f"<sem_engine Fit: {self.nobs} observations, {self.npar} free parameters, "
                f"chisq = {self.chisq:.3f} on {self.df} df, {state} after {self.n_iter} iterations>")


def _variance_names(pt: ParameterTable) -> set[str]:
    t = pt.table
    return {f"{l}~~{l}" for l, op, r in zip(t["lhs"], t["op"], t["rhs"]) if op == "~~" and l == r}


def _loglik(sigma, mu, moments: Moments, meanstructure: bool) -> float:
    s, xbar, n = (np.asarray(a) for a in moments[:3])
    p = s.shape[0]
    _, logdet = np.linalg.slogdet(sigma)
    inv = inference.inverse(sigma)
    value = p * np.log(2 * np.pi) + logdet + np.trace(s @ inv)
    if meanstructure:
        d = xbar - mu
        value += d @ inv @ d
    return float(-n / 2 * value)
