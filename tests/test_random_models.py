"""Random models against lavaan 0.6.14: a differential test set of our own (issue 24).

tests/reference/make_random_fixtures.R draws a seeded stream of random models (CFA with 1-4
factors, cross-loadings and residual covariances, second-order factors, MIMIC models with direct
effects, structural regressions among factors, observed path models, mediation with := effects,
equal labels, intercepts) with random options (std_lv, orthogonal, fixed_x, meanstructure,
multi-group with group_equal, FIML on data with MCAR holes, MLM, MLR, covariance input with and
without means, columns rescaled by factors between 0.01 and 100) and keeps the fits lavaan
converges on without identification or positive-definiteness warnings (tests/reference/README.md).

Each case is one test: sem_engine must first have exactly lavaan's free parameters (lhs, op, rhs,
group; ``a ~~ b`` is ``b ~~ a``), then lavaan's estimates and standard errors on every row both
report, and its chisq, df, npar and fit measures.  Tolerance: 1e-5 relative, plus an absolute
1e-5 standard errors on estimates (the unit-free form of "1e-6 for values near 0": the variables
come in units from 0.01 to 100) and 1e-6 on the unit-free fit measures.  ``LAVAAN_OFF`` leaves
out a quantity where lavaan's number is verified to be off (and fails when it no longer
differs); ``KNOWN`` marks the cases that reach different optima.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sem_engine as se

REF = Path(__file__).parent / "reference" / "random"
CASES = {c["id"]: c for c in json.loads((REF / "cases.json").read_text(encoding="utf-8"))}
_EST = pd.read_csv(REF / "estimates.csv")
for _col in ("lhs", "op", "rhs", "label"):
    _EST[_col] = _EST[_col].fillna("").astype(str)
ESTIMATES = {case: table for case, table in _EST.groupby("case", sort=False)}
_FIT = pd.read_csv(REF / "fit.csv")
FIT = {case: dict(zip(t["measure"], t["value"])) for case, t in _FIT.groupby("case", sort=False)}
DATASETS = {"hs": se.datasets.holzinger_swineford_1939(), "pd": se.datasets.political_democracy()}

RTOL = 1e-5
SE_ATOL = 1e-5          # |est - lavaan| may also be this many lavaan standard errors
ATOL = 1e-6             # unit-free fit measures (chisq, cfi, tli, rmsea, srmr, ...)
EXACT = {"npar", "df", "baseline_df"}
LOGL = {"logl", "unrestricted_logl", "aic", "bic"}   # in the data's units: absolute 1e-6 per observation


def _inputs(case: dict) -> tuple[dict, int]:
    """The data keywords of se.sem for a case, and the number of observations."""
    if "data" in case:
        spec = case["data"]
        columns = list(spec["columns"])
        frame = DATASETS[spec["source"]]
        data = frame[columns].astype(np.float64)
        for name, factor in spec["scale"].items():
            data[name] = data[name] * factor
        for name, rows in spec["missing"].items():
            data.iloc[rows, data.columns.get_loc(name)] = np.nan
        if spec.get("group"):
            data[spec["group"]] = frame[spec["group"]]
        return {"data": data}, len(data)
    groups = []
    for g in case["sample"]:
        names = list(g["names"])
        groups.append((pd.DataFrame(np.array(g["cov"], dtype=np.float64), index=names, columns=names),
                       None if g["mean"] is None else pd.Series(np.array(g["mean"], dtype=np.float64), index=names),
                       int(g["nobs"])))
    n = sum(g[2] for g in groups)
    if len(groups) == 1:
        cov, mean, nobs = groups[0]
        return {"sample_cov": cov, "sample_mean": mean, "sample_nobs": nobs}, n
    means = [g[1] for g in groups]
    return {"sample_cov": [g[0] for g in groups], "sample_mean": None if means[0] is None else means,
            "sample_nobs": [g[2] for g in groups]}, n


def _key(lhs: str, op: str, rhs: str, group: int) -> tuple:
    if op == "~~" and rhs < lhs:
        lhs, rhs = rhs, lhs
    if op == ":=":
        return (lhs, op, "", 0)
    return (lhs, op, rhs, int(group))


def _ours(fit) -> pd.DataFrame:
    """sem_engine's rows keyed like lavaan's, with the free flag of the parameter table."""
    est = fit.estimates(standardized=False).reset_index(drop=True)
    table = fit.partable.table
    free = np.zeros(len(est), dtype=bool)
    free[:len(table)] = table["free"].to_numpy() > 0
    group = est["group"].to_numpy() if "group" in est else np.ones(len(est), dtype=int)
    rhs = est["rhs"].fillna("").astype(str)
    keys = [_key(l, o, r, g) for l, o, r, g in zip(est["lhs"], est["op"], rhs, group)]
    return pd.DataFrame({"key": keys, "free": free, "est": est["est"].to_numpy(float),
                         "se": est["se"].to_numpy(float)})


def _lavaan(case_id: str) -> pd.DataFrame:
    t = ESTIMATES[case_id]
    keys = [_key(l, o, r, g) for l, o, r, g in zip(t["lhs"], t["op"], t["rhs"], t["group"])]
    return pd.DataFrame({"key": keys, "free": t["free"].to_numpy() > 0, "est": t["est"].to_numpy(float),
                         "se": t["se"].to_numpy(float)})


def _name(key: tuple) -> str:
    lhs, op, rhs, group = key
    return f"{lhs} {op} {rhs}".strip() + (f" [group {group}]" if group > 1 else "")


def _describe(case: dict) -> str:
    return f"model: {case['model']!r}\nlavaan: {case['lavaan_call']}\nsem_engine options: {case['options']}"


# CI fits every CI_EVERY-th case (a bounded budget: each new size class still compiles, issue 17);
# SEM_ENGINE_RANDOM=all fits them all (about 5 minutes on 2 cores).
CI_EVERY = 6
SELECTED = list(CASES) if os.environ.get("SEM_ENGINE_RANDOM") == "all" else list(CASES)[::CI_EVERY]
# Where lavaan's own number is off, each verified against lavaan itself: that quantity is left
# out of the case's comparison (everything else is compared).
#  - Standard errors under equality constraints on rescaled variables: lavaan inverts the
#    information augmented by the constraints' Jacobian, which loses the digits when the units
#    span 1e4; its own information matrix inverted on the constraints' null space, K (KᵀIK)⁻¹Kᵀ/N
#    with KᵀIK scaled to unit diagonal first, gives sem_engine's SEs to 3e-6 (lavaan's differ by
#    up to 60-100%, e.g. r253's f1 ~~ f1: lavaan 64.56, null space 568.24, sem_engine 568.24).
#  - SRMR on rescaled data: lavaan's changes with the units; lavaan on the same data unscaled
#    gives sem_engine's (r001: 0.04670404 unscaled vs 0.04712987 rescaled, sem_engine 0.04670399;
#    r196: 0.1286928554 vs 0.128195445, sem_engine 0.1286928446; χ² and CFI equal in both units).
_AUGMENTED = "lavaan's augmented-information inverse under equality constraints on rescaled variables"
_SRMR_UNITS = "lavaan's SRMR changes with the units here; lavaan on the unscaled data equals sem_engine's"
LAVAAN_OFF: dict[str, dict[str, str]] = {
    "r027_cfa_hs_groups": {"se": _AUGMENTED},
    "r251_second_order_sim_cov_groups": {"se": _AUGMENTED},
    "r253_cfa_sim_cov": {"se": _AUGMENTED},
    "r001_path_hs_ml": {"srmr": _SRMR_UNITS},
    "r196_structural_hs_fiml": {"srmr": _SRMR_UNITS},
}
# Cases where the two programs stop at different optima (strict: a fix makes it fail, so the
# entry goes with the fix).
KNOWN: dict[str, str] = {
    "r020_second_order_pd_fiml": (
        "sem_engine stops at a local optimum: lavaan's estimates are a stationary point of "
        "sem_engine's F_FIML with a lower value (2.7649 vs 2.8506; χ² 207.37 vs 213.79), a Heywood "
        "solution (negative factor variance) that scoring from sem_engine's start values does not reach"),
    "r252_cfa_sim_cov_groups": (
        "two optima under the same constraints: sem_engine's is lower (χ² 294.97 vs lavaan's 676.84; "
        "lavaan's value there equals sem_engine's F at lavaan's estimates) but improper (v9 ~~ v9 = "
        "-162 in every group, reported as a Heywood case); lavaan stops at the proper local optimum"),
}


def _marked(case_id: str):
    if case_id in KNOWN:
        return pytest.param(case_id, marks=pytest.mark.xfail(strict=True, reason=KNOWN[case_id]))
    return case_id


@pytest.mark.parametrize("case_id", [_marked(c) for c in SELECTED])
def test_random_model_matches_lavaan(case_id):
    case = CASES[case_id]
    inputs, n = _inputs(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = se.sem(case["model"], **inputs, **case["options"])
        ours, measures = _ours(fit), fit.fit_measures()
    lav = _lavaan(case_id)
    # 1. the same free parameters
    ours_free = set(ours["key"][ours["free"]])
    lav_free = set(lav["key"][lav["free"]])
    extra, missing = sorted(ours_free - lav_free), sorted(lav_free - ours_free)
    assert not extra and not missing, (
        f"{case_id}: the free parameters differ from lavaan's\n"
        f"  extra in sem_engine: {', '.join(map(_name, extra)) or '-'}\n"
        f"  missing in sem_engine: {', '.join(map(_name, missing)) or '-'}\n{_describe(case)}")
    # 2. estimates and standard errors of the rows both report; 3. fit measures
    problems = [] if fit.converged else [f"sem_engine did not converge ({fit.n_iter} iterations); lavaan did"]
    both = lav.merge(ours, on="key", suffixes=("_lav", "_ours"))
    found: dict[str, list[str]] = {}      # quantity -> its differences
    for what in ("est", "se"):
        a, b = both[f"{what}_ours"].to_numpy(), both[f"{what}_lav"].to_numpy()
        atol = SE_ATOL * both["se_lav"].to_numpy() if what == "est" else 0.0
        bad = ~(np.abs(a - b) <= RTOL * np.abs(b) + atol + 1e-12 * np.max(np.abs(b), initial=1.0))
        bad &= np.isfinite(b)
        found[what] = [f"{what} {_name(both['key'][i])}: sem_engine {a[i]:.10g}, lavaan {b[i]:.10g}"
                       for i in np.flatnonzero(bad)]
    for name, value in FIT[case_id].items():
        if name not in measures.index or not math.isfinite(value):
            continue
        mine = float(measures[name])
        if name in EXACT:
            ok = mine == value
        else:
            atol = ATOL * n if name in LOGL else ATOL
            ok = abs(mine - value) <= RTOL * abs(value) + atol
        found[name] = [] if ok else [f"{name}: sem_engine {mine:.10g}, lavaan {value:.10g}"]
    off = LAVAAN_OFF.get(case_id, {})
    stale = [what for what in off if not found.get(what)]
    assert not stale, f"{case_id}: LAVAAN_OFF lists {stale}, which now equal lavaan's: remove the entry"
    for what, lines in found.items():
        if what not in off:
            problems += lines[:8] + ([f"... {len(lines) - 8} more {what} differences"] if len(lines) > 8 else [])
    assert not problems, f"{case_id}: differences from lavaan\n  " + "\n  ".join(problems) + "\n" + _describe(case)
