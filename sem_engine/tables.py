"""APA-style tables of a fitted model, the ones pasted into a paper.

Each function returns a ``report.Table`` of formatted cells; ``apa_tables`` gathers them into a
``report.Tables`` with ``to_markdown()`` and ``to_latex()``.  Formatting follows the APA
Publication Manual (7th ed., §6.36, §7.21): statistics bounded by one (p, CFI, TLI, RMSEA, SRMR,
reliabilities) without a leading zero, p below .001 as "< .001", fixed parameters with a dash in
place of SE and p.  Unstandardized estimates are B, completely standardized ones (``std.all``)
are β.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from .checks import NO_STANDARD_ERRORS, problems
from .report import Table, Tables
from .summary import BOOTSTRAP_CI, estimates_table

DASH = "—"
NA = "NA"
TABLES = ("fit", "loadings", "paths", "defined", "reliability", "discriminant")


def apa_tables(fit, tables=TABLES, bootstrap=None, decimals: int = 3) -> Tables:
    """The APA tables named in ``tables`` (default: all of them) that apply to ``fit``.

    ``bootstrap``: a result of ``fit.bootstrap()``, whose SEs and intervals replace the Wald ones.
    The reliability and discriminant-validity tables apply to models with factors only.
    """
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(TABLES)}")
    est = functools.cache(lambda: estimates_table(fit, standardized=True, bootstrap=bootstrap))
    factors = bool(fit.partable.variables.lv)
    builders = {"fit": lambda: fit_indices_table(fit),
                "loadings": lambda: loadings_table(fit, est(), decimals, bootstrap),
                "paths": lambda: paths_table(fit, est(), decimals, bootstrap),
                "defined": lambda: defined_table(fit, est(), decimals, bootstrap),
                "reliability": lambda: reliability_table(fit, decimals) if factors else None,
                "discriminant": lambda: discriminant_table(fit, decimals) if factors else None}
    made = (builders[name]() for name in tables)
    return Tables(tuple(t for t in made if t is not None and len(t.frame)))


def fit_indices_table(fits) -> Table:
    """Fit indices of one fit, or of several (a dict name -> fit, one row each): χ², df, p, χ²/df,
    CFI, TLI, RMSEA with its 90% interval, SRMR.  Under a robust estimator (MLM, MLR, ...) χ² is
    the scaled test and CFI, TLI and RMSEA are lavaan's robust versions (Brosseau-Liard & Savalei
    2014; Savalei 2018), as current reporting guidelines ask."""
    named = fits if isinstance(fits, dict) else {"": fits}
    rows = []
    for name, fit in named.items():
        m = fit.fit_measures()
        test, index = ("_scaled", "_robust") if fit.options.estimator != "ML" else ("", "")
        df = m[f"df{test}"]
        rows.append({**({"Model": name} if name else {}), "χ²": fmt(m[f"chisq{test}"], 2),
                     "df": str(int(df)) if df == int(df) else fmt(df, 2), "p": fmt_p(m[f"pvalue{test}"]),
                     "χ²/df": fmt(m[f"chisq{test}"] / df, 2) if df else DASH,
                     "CFI": fmt(m[f"cfi{index}"], 3, False), "TLI": fmt(m[f"tli{index}"], 3, False),
                     "RMSEA [90% CI]": f"{fmt(m[f'rmsea{index}'], 3, False)} "
                                       f"[{fmt(m[f'rmsea_ci_lower{index}'], 3, False)}, "
                                       f"{fmt(m[f'rmsea_ci_upper{index}'], 3, False)}]",
                     "SRMR": fmt(m["srmr"], 3, False)})
    first = next(iter(named.values()))
    scale = "N" if first.options.likelihood == "normal" else "(N − 1)"
    estimators = sorted({fit.options.estimator for fit in named.values()})
    robust = [e for e in estimators if e != "ML"]
    method = (f"robust maximum likelihood ({', '.join(estimators)}): χ² = scaled test statistic, CFI, TLI "
              "and RMSEA in their robust versions" if robust else
              f"maximum likelihood, χ² = {scale}·F_ML ({first.options.likelihood} likelihood)")
    return Table("Model fit", pd.DataFrame(rows),
                 f"N = {first.nobs}; {method}; CI = confidence interval; SRMR as in lavaan (Bentler).")


def reliability_table(fit, decimals: int = 3) -> Table:
    """Reliability and convergent validity per factor: items, α, CR, ω, AVE."""
    report = fit.validity_report()
    t = report.attrs.get("thresholds", {})
    frame = pd.DataFrame({"Factor": report.index.to_numpy(),
                          "Items": report["n_indicators"].astype(str).to_numpy(),
                          **{h: [fmt(v, decimals, False) for v in report[c]]
                             for h, c in (("α", "alpha"), ("CR", "cr"), ("ω", "omega"), ("AVE", "ave"))}})
    notes = [f"{f}: {n}" for f, n in report["note"].items() if n]
    return Table("Reliability and convergent validity", frame,
                 f"α = Cronbach's alpha; CR = composite reliability ({report['cr_method'].iloc[0]}); "
                 f"ω = omega (observed total variance); AVE = average variance extracted. Thresholds: "
                 f"CR ≥ {t.get('cr', 0.7):.2f}, AVE ≥ {t.get('ave', 0.5):.2f}."
                 + (" " + "; ".join(notes) + "." if notes else ""))


def discriminant_table(fit, decimals: int = 3) -> Table:
    """Fornell–Larcker and HTMT in one matrix: √AVE on the diagonal, factor correlations below it,
    heterotrait–monotrait ratios above it."""
    disc = fit.discriminant_validity()
    lower = disc.fornell_larcker.to_numpy()
    upper = disc.htmt.reindex(index=disc.fornell_larcker.index, columns=disc.fornell_larcker.columns).to_numpy()
    k = lower.shape[0]
    cells = [[fmt(lower[i, j] if i >= j else upper[i, j], decimals, False) for j in range(k)] for i in range(k)]
    frame = pd.DataFrame(cells, columns=list(disc.fornell_larcker.columns))
    frame.insert(0, "Factor", list(disc.fornell_larcker.index))
    return Table("Discriminant validity", frame,
                 "Diagonal: √AVE; below the diagonal: factor correlations (Fornell–Larcker criterion: "
                 "√AVE above every correlation in its row and column); above the diagonal: HTMT "
                 "(heterotrait–monotrait ratio; below .85 supports discriminant validity).")


def loadings_table(fit, est: pd.DataFrame, decimals: int = 3, bootstrap=None) -> Table:
    """Factor loadings: factor, indicator, B, SE, β, p."""
    rows = est[est["op"] == "=~"]
    frame = pd.DataFrame({"Factor": _first_only(rows["lhs"]), "Indicator": rows["rhs"].to_numpy(),
                          **_coefficients(rows, decimals)})
    return Table("Factor loadings", frame,
                 f"B = unstandardized loading; β = standardized loading (std.all); {DASH} = fixed "
                 f"to set the factor's scale. {_inference_note(fit, bootstrap)} N = {fit.nobs}.")


def paths_table(fit, est: pd.DataFrame, decimals: int = 3, bootstrap=None) -> Table:
    """Structural paths: outcome, predictor, B, SE, β, p, confidence interval of B."""
    rows = est[est["op"] == "~"]
    frame = pd.DataFrame({"Outcome": _first_only(rows["lhs"]), "Predictor": rows["rhs"].to_numpy(),
                          **_coefficients(rows, decimals),
                          _ci_heading(fit, bootstrap): _intervals(rows["ci_lower"], rows["ci_upper"], decimals)})
    return Table("Structural paths", frame,
                 f"B = unstandardized coefficient; β = standardized coefficient (std.all). "
                 f"{_inference_note(fit, bootstrap)} N = {fit.nobs}.")


def defined_table(fit, est: pd.DataFrame, decimals: int = 3, bootstrap=None) -> Table:
    """Defined parameters (``:=``, e.g. indirect effects): name, definition, B, SE, β, p, the
    interval of B and, with a bootstrap, the bootstrap interval of β."""
    rows = est[est["op"] == ":="]
    frame = pd.DataFrame({"Parameter": rows["lhs"].to_numpy(), "Definition": rows["rhs"].to_numpy(),
                          **_coefficients(rows, decimals),
                          _ci_heading(fit, bootstrap): _intervals(rows["ci_lower"], rows["ci_upper"], decimals)})
    if bootstrap is not None and len(rows):
        std = bootstrap.standardized("std.all").set_index(["lhs", "op", "rhs"])
        std = std.reindex(pd.MultiIndex.from_frame(rows[["lhs", "op", "rhs"]]))
        frame[f"β {_ci_heading(fit, bootstrap)}"] = _intervals(std["ci_lower"], std["ci_upper"], decimals)
    note = "" if bootstrap is not None else " SE from the delta method."
    return Table("Defined parameters", frame, f"{_inference_note(fit, bootstrap)}{note}")


def _coefficients(rows: pd.DataFrame, decimals: int) -> dict:
    fixed = (rows["se"] == 0) & rows["z"].isna()
    missing = ~fixed & ~np.isfinite(rows["se"].to_numpy(dtype=float))
    return {"B": [fmt(v, decimals) for v in rows["est"]],
            "SE": [DASH if f else NA if m else fmt(v, decimals) for v, f, m in zip(rows["se"], fixed, missing)],
            "β": [fmt(v, decimals) for v in rows["std_all"]],
            "p": [DASH if f else NA if m else fmt_p(v) for v, f, m in zip(rows["pvalue"], fixed, missing)]}


def _intervals(lower: pd.Series, upper: pd.Series, decimals: int) -> list[str]:
    return [f"[{fmt(lo, decimals)}, {fmt(hi, decimals)}]" if np.isfinite(lo) and lo != hi else DASH
            for lo, hi in zip(lower, upper)]


def _ci_heading(fit, bootstrap) -> str:
    level = fit.options.level if bootstrap is None else bootstrap.level
    return f"{round(100 * level):d}% CI"


def _inference_note(fit, bootstrap) -> str:
    if bootstrap is None:
        se = (f"SE from the {fit.options.information} information" if fit.options.estimator == "ML"
              else f"robust (sandwich) SE, estimator {fit.options.estimator}")
        warning = (f" WARNING: {NO_STANDARD_ERRORS}; {NA} = not available."
                   if any(message == NO_STANDARD_ERRORS for _, message in problems(fit)) else "")
        return f"{se}; CI = {_ci_heading(fit, None)[:-3]} Wald confidence interval.{warning}"
    return (f"SE = bootstrap standard error, p from z = B/SE; CI = {_ci_heading(fit, bootstrap)[:-3]} "
            f"{BOOTSTRAP_CI[bootstrap.ci]} bootstrap confidence interval ({bootstrap.n - bootstrap.n_failed} "
            f"of {bootstrap.n} replicates successful, seed {bootstrap.seed}).")


def _first_only(names: pd.Series) -> list[str]:
    """A name on the first row of its group only, as tables in papers print it."""
    values = names.to_list()
    return [v if k == 0 or v != values[k - 1] else "" for k, v in enumerate(values)]


def fmt(value, decimals: int = 3, leading_zero: bool = True) -> str:
    """A number with ``decimals`` decimals; without the leading zero for statistics bounded by 1."""
    if value is None or not np.isfinite(value):
        return DASH
    text = f"{value:.{decimals}f}"
    if not leading_zero:
        text = text.replace("0.", ".", 1) if abs(value) < 1 else text
    return text


def fmt_p(p: float) -> str:
    """APA p-value: three decimals without the leading zero, "< .001" below .001."""
    if p is None or not np.isfinite(p):
        return DASH
    return "< .001" if p < 0.001 else fmt(p, 3, leading_zero=False)
