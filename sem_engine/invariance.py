"""Measurement invariance: the configural → metric → scalar → strict sequence of multi-group
models, compared step by step (as semTools' ``measEq.syntax`` + ``compareFit`` report it).

Each step adds equality constraints across groups (lavaan's ``group.equal``):

    configural  none                                   (same pattern of loadings)
    metric      loadings                               (weak invariance)
    scalar      loadings, intercepts                   (strong; latent means free after group 1)
    strict      loadings, intercepts, residuals

and is tested against the step before by the chi-square difference (compare.py, lavaan's
``lavTestLRT``) and by the changes in CFI, RMSEA and SRMR, flagged at Chen's (2007, Structural
Equation Modeling 14, 464-504) cut-offs: a drop in CFI of at least 0.010 together with a rise in
RMSEA of at least 0.015 or in SRMR of at least 0.030 (metric) / 0.010 (scalar, strict) signals
non-invariance.  ``releases()`` gives the score test of every constraint a step added
(lavaan's ``lavTestScore``): the constraint with the largest X2 is the first to free in a
partial-invariance model (``group_partial``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .compare import compare
from .errors import ModelError
from .pipeline import sem

STEPS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}
CFI_DROP = -0.010
RMSEA_RISE = 0.015
SRMR_RISE = {"metric": 0.030}   # 0.010 for every later step
MEASURES = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "srmr",
            "aic", "bic"]
DELTAS = ["cfi", "tli", "rmsea", "srmr", "aic", "bic"]


@dataclass(frozen=True)
class Invariance:
    """The fitted steps (``fits``, by step name) and their comparison ``table``."""

    fits: dict
    table: pd.DataFrame

    def releases(self, step: str) -> pd.DataFrame:
        """Score tests of the equality constraints of ``step``, largest X2 first."""
        if step not in self.fits:
            raise ModelError(f"no step {step!r}; the steps are {', '.join(self.fits)}")
        return self.fits[step].score_tests().sort_values("X2", ascending=False, ignore_index=True)

    def __str__(self) -> str:
        shown = self.table[["chisq", "df", "cfi", "rmsea", "srmr", "delta_chisq", "delta_df", "delta_pvalue",
                            "delta_cfi", "delta_rmsea", "delta_srmr", "chen_2007"]]
        return "Measurement invariance (Chen 2007 cut-offs)\n" + shown.to_string(float_format=lambda v: f"{v:.3f}")


def invariance(model: str, data=None, *, group: str | None = None,
               steps: Sequence[str] | Mapping[str, Sequence[str]] = tuple(STEPS),
               group_partial: Sequence[str] = (), **options) -> Invariance:
    """Fit the invariance steps of ``model`` across the groups of ``data[group]`` (or of a list of
    sample covariance matrices, as ``sem()`` takes them) and compare each with the one before.

    ``steps``: names from ``STEPS`` in order, or a mapping name -> ``group_equal`` kinds for a
    custom sequence; ``group_partial`` applies to every step (partial invariance); other options
    go to ``sem()``.  The table has one row per step: lavaan's chisq, df, pvalue, cfi, tli,
    rmsea (with its 90% interval), srmr, aic and bic; delta_chisq, delta_df and delta_pvalue of the
    difference test; the changes delta_cfi, delta_tli, delta_rmsea, delta_srmr, delta_aic and
    delta_bic; the Chen (2007) flags cfi_flag, rmsea_flag, srmr_flag and the verdict chen_2007.
    """
    if isinstance(steps, Mapping):
        sequence = {name: tuple(kinds) for name, kinds in steps.items()}
    else:
        unknown = [s for s in steps if s not in STEPS]
        if unknown:
            raise ModelError(f"unknown invariance step(s) {', '.join(unknown)}; use {', '.join(STEPS)} or "
                             "pass a mapping of step names to group_equal kinds")
        sequence = {name: STEPS[name] for name in steps}
    if len(sequence) < 2:
        raise ModelError("an invariance sequence needs at least two steps")
    fits = {name: sem(model, data, group=group, group_equal=list(kinds),
                      group_partial=list(group_partial) if kinds else [], **options)
            for name, kinds in sequence.items()}
    return Invariance(fits, _table(fits))


def _table(fits: dict) -> pd.DataFrame:
    names = list(fits)
    measures = pd.DataFrame([fits[n].fit_measures()[MEASURES] for n in names], index=pd.Index(names, name="model"))
    lrt = compare(*fits.values(), names=names).loc[names]
    table = measures.assign(delta_chisq=lrt["Chisq_diff"], delta_df=lrt["Df_diff"], delta_pvalue=lrt["pvalue"])
    for m in DELTAS:
        table[f"delta_{m}"] = measures[m].diff()
    srmr_rise = np.array([SRMR_RISE.get(n, 0.010) for n in names])
    table["cfi_flag"] = table["delta_cfi"] <= CFI_DROP
    table["rmsea_flag"] = table["delta_rmsea"] >= RMSEA_RISE
    table["srmr_flag"] = table["delta_srmr"] >= srmr_rise
    verdict = np.where(table["cfi_flag"] & (table["rmsea_flag"] | table["srmr_flag"]), "not supported", "supported")
    table["chen_2007"] = np.where(table["delta_cfi"].isna(), "", verdict)
    return table
