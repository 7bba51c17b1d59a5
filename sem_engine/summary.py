"""The text of lavaan's ``summary()`` for a ``Fit``, as a ``report.Summary``.

Layout follows lavaan 0.6's ``summary(fit, fit.measures=TRUE, standardized=TRUE, rsquare=TRUE)``:
a header (engine, estimator, optimizer, iterations, parameters, observations, likelihood), the
model test, optionally the fit measures, then the parameter sections Latent Variables,
Regressions, Covariances, Intercepts, Variances, Defined Parameters and R-Square.  As in lavaan,
a leading dot marks a residual parameter (the variable is an indicator or the outcome of a
regression), fixed parameters show no standard error, and the moments of fixed exogenous
covariates (``fixed_x``) are not listed.  Heywood cases and non-convergence come first.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ._version import __version__
from .fit_measures import chisq_pvalue
from .inference import wald
from .report import Block, Row, Section, Summary

SECTIONS = (
    ("Latent Variables", lambda t: t["op"] == "=~"),
    ("Regressions", lambda t: t["op"] == "~"),
    ("Covariances", lambda t: (t["op"] == "~~") & (t["lhs"] != t["rhs"])),
    ("Intercepts", lambda t: t["op"] == "~1"),
    ("Variances", lambda t: (t["op"] == "~~") & (t["lhs"] == t["rhs"])),
    ("Defined Parameters", lambda t: t["op"] == ":="),
)


class _Line(NamedTuple):
    """A line of a fit-measure block: the measure shown in the Standard column and the one in the
    Scaled column of a robust estimator ("=" repeats the standard value); shown when the measures
    it names (or ``when``) exist, so robust-only lines vanish under plain ML."""

    label: str
    standard: str | None = None
    scaled: str | None = None
    when: str | None = None


_FIT_BLOCKS = (
    ("Model Test Baseline Model", (
        _Line("Test statistic", "baseline_chisq", "baseline_chisq_scaled"),
        _Line("Degrees of freedom", "baseline_df", "baseline_df_scaled"),
        _Line("P-value", "baseline_pvalue", "baseline_pvalue_scaled"),
        _Line("Scaling correction factor", None, "baseline_chisq_scaling_factor"))),
    ("User Model versus Baseline Model", (
        _Line("Comparative Fit Index (CFI)", "cfi", "cfi_scaled"),
        _Line("Tucker-Lewis Index (TLI)", "tli", "tli_scaled"),
        _Line("", when="cfi_robust"),
        _Line("Robust Comparative Fit Index (CFI)", None, "cfi_robust"),
        _Line("Robust Tucker-Lewis Index (TLI)", None, "tli_robust"))),
    ("Loglikelihood and Information Criteria", (
        _Line("Loglikelihood user model (H0)", "logl", "="),
        _Line("Scaling correction factor", None, "scaling_factor_h0"),
        _Line("    for the MLR correction", when="scaling_factor_h0"),
        _Line("Loglikelihood unrestricted model (H1)", "unrestricted_logl", "="),
        _Line("Scaling correction factor", None, "scaling_factor_h1"),
        _Line("    for the MLR correction", when="scaling_factor_h1"),
        _Line("", when="aic"),
        _Line("Akaike (AIC)", "aic", "="), _Line("Bayesian (BIC)", "bic", "="),
        _Line("Sample-size adjusted Bayesian (SABIC)", "bic2", "="))),
    ("Root Mean Square Error of Approximation", (
        _Line("RMSEA", "rmsea", "rmsea_scaled"),
        _Line("{percent:.0f} Percent confidence interval - lower", "rmsea_ci_lower", "rmsea_ci_lower_scaled"),
        _Line("{percent:.0f} Percent confidence interval - upper", "rmsea_ci_upper", "rmsea_ci_upper_scaled"),
        _Line("P-value H_0: RMSEA <= {rmsea_close_h0:.3f}", "rmsea_pvalue", "rmsea_pvalue_scaled"),
        _Line("P-value H_0: RMSEA >= {rmsea_notclose_h0:.3f}", "rmsea_notclose_pvalue",
              "rmsea_notclose_pvalue_scaled"),
        _Line("", when="rmsea_robust"),
        _Line("Robust RMSEA", None, "rmsea_robust"),
        _Line("{percent:.0f} Percent confidence interval - lower", None, "rmsea_ci_lower_robust"),
        _Line("{percent:.0f} Percent confidence interval - upper", None, "rmsea_ci_upper_robust"),
        _Line("P-value H_0: Robust RMSEA <= {rmsea_close_h0:.3f}", None, "rmsea_pvalue_robust"),
        _Line("P-value H_0: Robust RMSEA >= {rmsea_notclose_h0:.3f}", None, "rmsea_notclose_pvalue_robust"))),
    ("Standardized Root Mean Square Residual", (_Line("SRMR", "srmr", "="),)),
)
BOOTSTRAP_CI = {"perc": "percentile", "bc": "bias-corrected", "bca": "BCa"}
_COUNTS = {"baseline_df", "baseline_df_scaled", "df", "df_scaled", "npar", "ntotal"}
# lavaan's name of each scaled test (robust.TESTS maps estimators to tests)
_CORRECTIONS = {"satorra.bentler": "Satorra-Bentler correction",
                "yuan.bentler.mplus": "Yuan-Bentler correction (Mplus variant)",
                "mean.var.adjusted": "mean and variance adjusted correction",
                "scaled.shifted": "simple second-order correction"}


def summary(fit, fit_measures: bool = False, standardized: bool = False, rsquare: bool = False,
            ci: bool | None = None, bootstrap=None) -> Summary:
    """lavaan's ``summary()`` of ``fit``.

    ``fit_measures``: the baseline test, CFI/TLI, log-likelihoods and information criteria, RMSEA
    and SRMR; ``standardized``: the Std.lv and Std.all columns; ``rsquare``: the R-Square section;
    ``ci``: the confidence interval columns (Wald at ``fit.options.level``, or the bootstrap's;
    default: shown with a bootstrap only); ``bootstrap``: a result of ``fit.bootstrap()`` whose
    standard errors and intervals replace the Wald ones.
    """
    ci = bootstrap is not None if ci is None else ci
    parts = [*_header(fit), _test(fit)]
    if fit_measures:
        parts += _fit_blocks(fit)
    parts.append(_se_block(fit, bootstrap))
    parts += parameter_sections(fit, standardized=standardized, ci=ci, bootstrap=bootstrap)
    if rsquare:
        for label, view in zip(fit.group_labels or ("",), fit.groups):
            r2 = view.r2()
            if len(r2):
                parts.append(Section(f"R-Square{_in_group(label)}", ("Estimate",),
                                     tuple(Row(str(v), values=(_num(r),)) for v, r in r2.items())))
    return Summary(_title(fit), _warnings(fit), tuple(parts))


def _in_group(label: str) -> str:
    return f" [{label}]" if label else ""


def brief(fit) -> Summary:
    """What ``print(fit)`` shows: the header and the model test (lavaan's ``print()``)."""
    return Summary(_title(fit), _warnings(fit), (*_header(fit), _test(fit)))


def _title(fit) -> str:
    ended = "ended normally" if fit.converged else f"did NOT end normally ({fit.status})"
    return f"sem_engine {__version__} {ended} after {fit.n_iter} iterations"


def _warnings(fit) -> tuple[str, ...]:
    from .checks import problems

    return tuple(message for _, message in problems(fit))


def _header(fit) -> list[Block]:
    lines = [("Estimator", fit.options.estimator), ("Optimization method", "NEWTON"),
             ("Likelihood", fit.options.likelihood), ("Number of model parameters", str(fit.n_free))]
    if fit.n_eq:
        lines.append(("Number of equality constraints", str(fit.n_eq)))
    n = fit.data
    if fit.n_groups > 1:
        per_group = tuple((f"  {label}", str(view.nobs)) for label, view in zip(fit.group_labels, fit.groups))
        return [Block("", tuple(lines)), Block("", (("Number of observations per group", ""), *per_group))]
    patterns = fit.moments.patterns   # incomplete data under FIML
    missing = () if patterns is None else (("Number of missing patterns", str(len(patterns.count))),)
    if n.n_used == n.n_total:
        return [Block("", tuple(lines)), Block("", (("Number of observations", str(n.n_used)), *missing))]
    return [Block("", tuple(lines)), Block("", (("Number of observations", str(n.n_used), str(n.n_total)),
                                                *missing), ("Used", "Total"))]


def _test(fit) -> Block:
    """The model chi-square; under a robust estimator also the scaled one, lavaan's two columns."""
    p = f"{chisq_pvalue(fit.chisq, fit.df):.3f}"
    if not _robust(fit):
        lines = [("Test statistic", f"{fit.chisq:.3f}"), ("Degrees of freedom", str(fit.df))]
        lines += [("P-value (Chi-square)", p)] if fit.df > 0 else []
        if fit.n_groups > 1:
            lines += [("Test statistic for each group", "")]
            lines += [(f"  {label}", f"{view.chisq:.3f}") for label, view in zip(fit.group_labels, fit.groups)]
        return Block("Model Test User Model", tuple(lines))
    from .robust import scaled_test

    t = scaled_test(fit)
    lines = [("Test Statistic", f"{fit.chisq:.3f}", _num(t.stat)),
             ("Degrees of freedom", str(fit.df), _count(t.df)), ("P-value (Chi-square)", p, _num(t.pvalue)),
             ("Scaling correction factor", "", _num(t.scaling_factor))]
    if t.test == "scaled.shifted":
        lines.append(("Shift parameter", "", _num(t.shift_parameter)))
    lines.append((f"  {_CORRECTIONS[t.test]}", "", ""))
    return Block("Model Test User Model", tuple(lines), ("Standard", "Scaled"))


def _robust(fit) -> bool:
    return fit.options.estimator != "ML"


def _fit_blocks(fit) -> list[Block]:
    """lavaan's fit-measure blocks (with the Scaled column under a robust estimator); the RMSEA
    interval's level and the two null values come from the measures too."""
    measures = fit.fit_measures()   # with a robust estimator, the scaled and robust ones too
    names = {**measures, "percent": 100 * measures["rmsea_ci_level"]}
    blocks = []
    for title, lines in _FIT_BLOCKS:
        kept = [_fit_line(line, measures, names, _robust(fit)) for line in lines
                if _shown(line, measures.index, _robust(fit))]
        if any(len(k) > 1 for k in kept):
            blocks.append(Block(title, tuple(kept)))
    return blocks


def _shown(line: _Line, available: pd.Index, robust: bool) -> bool:
    if line.standard is None and line.scaled is None:
        return line.when in available
    if not robust and line.standard is None:
        return False
    needed = [line.standard] + ([line.scaled] if robust and line.scaled != "=" else [])
    return all(k is None or k in available for k in needed)


def _fit_line(line: _Line, measures: pd.Series, names: dict, robust: bool) -> tuple[str, ...]:
    if line.standard is None and line.scaled is None:
        return (line.label,) if not line.label else (line.label, "", "")
    standard = _measure(line.standard, measures[line.standard]) if line.standard else ""
    if not robust:
        return (line.label.format(**names), standard)
    scaled = standard if line.scaled == "=" else _measure(line.scaled, measures[line.scaled])
    return (line.label.format(**names), standard, scaled)


def _measure(key: str, value: float) -> str:
    return _count(value) if key in _COUNTS else _num(value)


def _count(value: float) -> str:
    """A count (df) as an integer; a Satterthwaite df with three decimals."""
    return str(int(value)) if np.isfinite(value) and value == int(value) else _num(value)


def _se_block(fit, bootstrap) -> Block:
    """How the standard errors were computed, in lavaan's words."""
    if bootstrap is not None:
        return Block("Parameter Estimates", (
            ("Standard errors", "Bootstrap"), ("Number of requested bootstrap draws", str(bootstrap.n)),
            ("Number of successful bootstrap draws", str(bootstrap.n - bootstrap.n_failed)),
            ("Confidence intervals", f"{BOOTSTRAP_CI[bootstrap.ci]} {bootstrap.level:.0%}")))
    kind = {"ML": "Standard", "MLR": "Sandwich"}.get(fit.options.estimator, "Robust.sem")
    information = fit.options.information
    h1 = (("Information saturated (h1) model", "Structured") if information == "expected"
          else ("Observed information based on", "Hessian"))
    return Block("Parameter Estimates", (("Standard errors", kind), (
        "Information bread" if kind == "Sandwich" else "Information", information.capitalize()), h1))


def parameter_sections(fit, standardized: bool = False, ci: bool = False, bootstrap=None) -> list[Section]:
    """The parameter sections of lavaan's summary, from ``estimates_table``."""
    table = estimates_table(fit, standardized=standardized, bootstrap=bootstrap)
    columns = ["est", "se", "z", "pvalue"] + (["ci_lower", "ci_upper"] if ci else [])
    columns += ["std_lv", "std_all"] if standardized else []
    residual = _residual_names(fit)
    sections = []
    groups = [(0, "")] if fit.n_groups == 1 else [*((g + 1, f"Group {g + 1} [{label}]")
                                                    for g, label in enumerate(fit.group_labels)), (0, "")]
    for group, heading in groups:
        in_group = table if fit.n_groups == 1 else table[table["group"] == group]
        for title, select in SECTIONS:
            rows = in_group[select(in_group)]
            if len(rows):
                sections.append(Section(f"{heading} {title}".strip(), tuple(_HEADINGS[c] for c in columns),
                                        tuple(_section_rows(rows, columns, residual))))
    return sections


_HEADINGS = {"est": "Estimate", "se": "Std.Err", "z": "z-value", "pvalue": "P(>|z|)",
             "ci_lower": "ci.lower", "ci_upper": "ci.upper", "std_lv": "Std.lv", "std_all": "Std.all"}


def estimates_table(fit, standardized: bool = False, bootstrap=None) -> pd.DataFrame:
    """``fit.estimates()`` without the fixed-x covariate moments, with the standardized columns
    ``std_lv`` and ``std_all`` and, given a bootstrap result, its SEs (z and p from them, as
    lavaan's ``se="bootstrap"``) and its intervals."""
    table = fit.estimates()
    exo = np.r_[fit.partable.table["exo"].to_numpy(), np.zeros(len(table) - len(fit.partable.table), int)]
    if bootstrap is not None:
        table = _with_bootstrap(table, bootstrap)
    if standardized:
        for kind in ("std.lv", "std.all"):
            std = fit.standardized(kind)
            table[kind.replace(".", "_")] = _aligned(table, std, "est_std")
    return table[exo == 0].reset_index(drop=True)


def _with_bootstrap(table: pd.DataFrame, bootstrap) -> pd.DataFrame:
    """Bootstrap SEs with lavaan's z = est / SE and normal p-value, and the bootstrap intervals."""
    boot = bootstrap.estimates()
    table = table.copy()
    se = _aligned(table, boot, "boot_se")
    w = wald(table["est"].to_numpy(), se, bootstrap.level)
    table["se"], table["z"], table["pvalue"] = se, w.z, np.where(se > 0, w.pvalue, np.nan)
    table["ci_lower"], table["ci_upper"] = _aligned(table, boot, "ci_lower"), _aligned(table, boot, "ci_upper")
    return table


def _aligned(table: pd.DataFrame, other: pd.DataFrame, column: str) -> np.ndarray:
    """``other[column]`` in the row order of ``table``, matched on (lhs, op, rhs)."""
    key = ["lhs", "op", "rhs"]
    values = other.set_index(key)[column]
    return values.reindex(pd.MultiIndex.from_frame(table[key])).to_numpy(dtype=float)


def _residual_names(fit) -> set[str]:
    """Variables whose (co)variances and intercepts are residual ones: indicators and outcomes."""
    t = fit.partable.table
    return set(t.loc[t["op"] == "=~", "rhs"]) | set(t.loc[t["op"] == "~", "lhs"])


def _section_rows(rows: pd.DataFrame, columns: list[str], residual: set[str]) -> list[Row]:
    out = []
    previous = None
    for r in rows.itertuples(index=False):
        grouped = r.op in ("=~", "~") or (r.op == "~~" and r.lhs != r.rhs)
        if grouped and r.lhs != previous:
            out.append(Row(r.lhs, op=r.op, dot=r.op == "~~" and r.lhs in residual))
        previous = r.lhs if grouped else None
        name = r.lhs if r.op in ("~1", ":=") or not grouped else r.rhs
        fixed = r.op != ":=" and r.se == 0 and np.isnan(r.z)
        values = tuple("" if fixed and c in ("se", "z", "pvalue") else _num(getattr(r, c)) for c in columns)
        label = "" if r.op == ":=" or not isinstance(r.label, str) else r.label
        out.append(Row(name, label, values, dot=r.op in ("~~", "~1") and name in residual))
    return out


def _num(value) -> str:
    """Three decimals; "NA" (lavaan's) for a value that is not available, e.g. the standard
    error of a parameter when the information matrix is singular."""
    if value is None:
        return ""
    return f"{value:.3f}" if np.isfinite(value) else "NA"
