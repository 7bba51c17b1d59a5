"""Nested-model comparison: the chi-square difference (likelihood-ratio) test, like lavaan's
``lavTestLRT()`` / ``anova()``, with the change in CFI and RMSEA beside it.

Models are sorted by df (the least restricted first, as lavaan does).  Each row after the first
tests its model against the row above:

    Δχ² = χ²_restricted - χ²_free,  Δdf = df_restricted - df_free,  p = P(χ²_Δdf > Δχ²)

(Steiger, Shapiro & Browne 1985), and lavaan's RMSEA of the difference,
sqrt(max(Δχ²/(N Δdf) - 1/N, 0)), with N the number of observations under either likelihood
(lavTestLRT uses ``ntotal``).  ``CFI_diff`` and ``RMSEA_model_diff`` are the restricted model's
CFI and RMSEA minus the row above's (Cheung & Rensvold 2002; Chen 2007).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from . import distributions, robust
from .errors import DataError, ModelError
from .fit_measures import fit_measures, rmsea

# lavaan's tolerance for "the restricted model fits better" (.Machine$double.eps^(1/3)).
CHISQ_TOL = np.finfo(float).eps ** (1 / 3)
COLUMNS = ["Df", "AIC", "BIC", "Chisq", "Chisq_diff", "RMSEA", "Df_diff", "pvalue",
           "CFI", "RMSEA_model", "CFI_diff", "RMSEA_model_diff"]


def compare(*fits, names: Sequence[str] | None = None, method: str | None = None) -> pd.DataFrame:
    """Chi-square difference tests of nested models fitted to the same data.

    ``fits``: two or more fits; ``names``: row labels (default ``model1``, ``model2``, ... in the
    order given).  Returns one row per model, sorted by df, with columns Df, AIC, BIC, Chisq,
    Chisq_diff, RMSEA (of the difference test), Df_diff, pvalue, CFI, RMSEA_model and the
    differences CFI_diff and RMSEA_model_diff; the first row's differences are NaN.

    Fits with a robust estimator are compared by the scaled difference test of ``method``
    (robust.scaled_difference: "satorra.bentler.2001" or "satorra.bentler.2010" for MLM and MLR,
    "satorra.2000" for any; default as lavTestLRT's: "satorra.2000" for MLMV and MLMVS,
    "satorra.bentler.2001" otherwise), whose RMSEA lavaan does not report (NaN here).

    Raises DataError if the fits are not to the same data (variables, N, sample moments), and
    ModelError if they cannot be nested: different likelihoods or mean structures, equal df with
    different chi-squares, or a restricted model that fits better than a less restricted one.
    """
    names = list(names) if names is not None else [f"model{i + 1}" for i in range(len(fits))]
    if len(fits) < 2 or len(names) != len(fits):
        raise ModelError(f"compare() needs two or more fits and one name per fit; got {len(fits)} "
                         f"fit(s) and {len(names)} name(s)")
    _check_same_data(fits, names)
    order = sorted(range(len(fits)), key=lambda i: fits[i].df)
    fits, names = [fits[i] for i in order], [names[i] for i in order]
    rows = [_row(fits[0]) | _NO_DIFFERENCE]
    rows += [_row(fits[k]) | _difference(fits[k - 1], fits[k], names[k - 1], names[k], method)
             for k in range(1, len(fits))]
    table = pd.DataFrame(rows, index=pd.Index(names, name="model"))
    table["CFI_diff"] = table["CFI"].diff()
    table["RMSEA_model_diff"] = table["RMSEA_model"].diff()
    return table[COLUMNS]


_NO_DIFFERENCE = {"Chisq_diff": np.nan, "RMSEA": np.nan, "Df_diff": np.nan, "pvalue": np.nan}


def _row(fit) -> dict:
    m = fit_measures(fit)
    return {"Df": fit.df, "AIC": m["aic"], "BIC": m["bic"], "Chisq": m["chisq"], "CFI": m["cfi"],
            "RMSEA_model": m["rmsea"]}


def _difference(free, restricted, free_name: str, restricted_name: str, method: str | None) -> dict:
    """Δχ², RMSEA of the difference, Δdf and p of ``restricted`` against ``free``."""
    d_chisq, d_df = restricted.chisq - free.chisq, restricted.df - free.df
    if d_chisq < -CHISQ_TOL:
        raise ModelError(
            f"{restricted_name} (df = {restricted.df}) fits better than {free_name} (df = {free.df}): "
            f"chi-square difference {d_chisq:.6g}. The models are not nested, or {free_name} did not "
            "reach its optimum; compare only models where one is a restricted version of the other")
    if d_df == 0:
        if abs(d_chisq) > CHISQ_TOL:
            raise ModelError(
                f"{free_name} and {restricted_name} have the same df ({free.df}) but different "
                f"chi-squares ({free.chisq:.6g} vs {restricted.chisq:.6g}): they are not nested, "
                "and a chi-square difference test does not apply")
        return {"Chisq_diff": d_chisq, "RMSEA": 0.0, "Df_diff": 0, "pvalue": np.nan}
    if free.options.estimator != "ML":
        scaled = robust.scaled_difference(free, restricted, method)
        return {"Chisq_diff": scaled.chisq_diff, "RMSEA": np.nan, "Df_diff": scaled.df_diff,
                "pvalue": scaled.pvalue}
    return {"Chisq_diff": d_chisq, "RMSEA": rmsea(d_chisq, d_df, free.nobs), "Df_diff": d_df,
            "pvalue": float(distributions.chi2_sf(d_chisq, d_df))}


def _check_same_data(fits, names) -> None:
    first, first_name = fits[0], names[0]
    ov = sorted(first.spec.ov)
    for fit, name in zip(fits[1:], names[1:]):
        if sorted(fit.spec.ov) != ov:
            raise DataError(
                f"{first_name} and {name} use different observed variables "
                f"({', '.join(sorted(set(ov) ^ set(fit.spec.ov)))}); nested models must be fitted "
                "to the same variables")
        if fit.options.estimator != first.options.estimator:
            raise ModelError(
                f"{first_name} uses estimator={first.options.estimator!r} and {name} "
                f"estimator={fit.options.estimator!r}; refit both with the same estimator")
        if fit.options.likelihood != first.options.likelihood:
            raise ModelError(
                f"{first_name} uses likelihood={first.options.likelihood!r} and {name} "
                f"likelihood={fit.options.likelihood!r}; refit both with the same likelihood")
        if fit.nobs != first.nobs or not _same_moments(first, fit):
            raise DataError(
                f"{first_name} and {name} were fitted to different data (N = {first.nobs} vs "
                f"{fit.nobs}, or different sample moments); refit both to the same data set")
        if fit.spec.meanstructure != first.spec.meanstructure:
            raise ModelError(
                f"only one of {first_name} and {name} has a mean structure; refit both with "
                "meanstructure=True (or both without)")


def _same_moments(a, b) -> bool:
    if a.n_groups > 1 or b.n_groups > 1:
        return a.n_groups == b.n_groups and all(_same_moments(u, v) for u, v in zip(a.groups, b.groups))
    order_a = np.argsort(a.spec.ov)
    order_b = np.argsort(b.spec.ov)
    s_a = np.asarray(a.moments.s)[np.ix_(order_a, order_a)]
    s_b = np.asarray(b.moments.s)[np.ix_(order_b, order_b)]
    same = np.allclose(s_a, s_b, rtol=1e-10, atol=0.0)
    if a.spec.meanstructure and b.spec.meanstructure:
        same = same and np.allclose(np.asarray(a.moments.xbar)[order_a],
                                    np.asarray(b.moments.xbar)[order_b], rtol=1e-10, atol=1e-12)
    return bool(same)
