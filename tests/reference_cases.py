"""Load a lavaan reference case from tests/reference/<case>/ and fit it with sem_engine."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

import sem_engine as se

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
CORE_CASES = [
    "hs_cfa", "hs_cfa_std_lv", "hs_cfa_orthogonal", "hs_cfa_wishart", "hs_cfa_observed",
    "hs_cfa_meanstructure", "hs_second_order", "hs_equal_labels", "hs_constraint", "hs_na_free",
    "hs_cfa_rescov", "poldem", "mimic", "mediation", "hs_cov", "hs_cov_mean", "poldem_path",
    "two_outcomes",
]


def read(case: str, name: str, **kwargs) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / case / name, keep_default_na=False, na_values=[""], **kwargs)


def read_matrix(case: str, name: str) -> pd.DataFrame:
    return read(case, name, index_col=0)


def fit_kwargs(case: str) -> dict:
    info = json.loads((REFERENCE / case / "case.json").read_text())
    kwargs = dict(info["options"])
    if info["data"]:
        kwargs["data"] = pd.read_csv(ROOT / info["data"])
    else:
        kwargs["sample_cov"] = pd.read_csv(ROOT / info["sample_cov"], index_col=0)
        kwargs["sample_nobs"] = info["sample_nobs"]
        if info["sample_mean"]:
            mean = pd.read_csv(ROOT / info["sample_mean"])
            kwargs["sample_mean"] = pd.Series(mean.iloc[:, 1].to_numpy(), index=mean.iloc[:, 0])
    return kwargs


@lru_cache(maxsize=None)
def fitted(case: str) -> se.Fit:
    info = json.loads((REFERENCE / case / "case.json").read_text())
    model = (REFERENCE / case / "model.lav").read_text()
    function = se.cfa if info["function"] == "cfa" else se.sem
    return function(model, **fit_kwargs(case))


def keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """Index a lavaan-style table by (lhs, op, rhs), with ~~ pairs in a canonical order."""
    frame = frame.copy()
    swap = (frame["op"] == "~~") & (frame["lhs"].astype(str) > frame["rhs"].astype(str))
    frame.loc[swap, ["lhs", "rhs"]] = frame.loc[swap, ["rhs", "lhs"]].to_numpy()
    frame["rhs"] = frame["rhs"].fillna("").astype(str).str.replace(" ", "")
    return frame.set_index(["lhs", "op", "rhs"])


def assert_close(actual, expected, abs_tol=1e-5, rel_tol=1e-5, what=""):
    """|a - e| <= abs_tol, or <= rel_tol * |e| for |e| > 1 (the issues' tolerance rule)."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    tol = np.where(np.abs(expected) > 1, rel_tol * np.abs(expected), abs_tol)
    both_nan = np.isnan(actual) & np.isnan(expected)
    bad = ~both_nan & ~(np.abs(actual - expected) <= tol)
    assert not bad.any(), f"{what}: max error {np.nanmax(np.abs(actual - expected)[bad])} at {np.flatnonzero(bad)[:10]}"


# -- lavaan's summary() text (tests/reference/report/<case>_summary.txt) --------------------------
# the header (engine, optimizer, iterations) differs on purpose; everything else is lavaan's
SUMMARY_SECTIONS = (
    "Model Test User Model", "Model Test Baseline Model", "User Model versus Baseline Model",
    "Loglikelihood and Information Criteria", "Root Mean Square Error of Approximation",
    "Standardized Root Mean Square Residual", "Parameter Estimates", "Latent Variables", "Regressions",
    "Covariances", "Intercepts", "Variances", "Defined Parameters", "R-Square")
_NUMBER = re.compile(r"-?\d+\.\d+")


def summary_sections(text: str) -> dict[str, list[str]]:
    """Non-blank lines under each ``Title:`` line (a line starting in column 1), right-stripped."""
    out, current = {}, None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = out.setdefault(line[:-1], [])
        elif current is not None and line.strip():
            current.append(line.rstrip())
    return out


def tokens(line: str) -> list[tuple[int, str]]:
    """(end column, text) of every blank-separated token: right-aligned columns end in the same place."""
    return [(m.end(), m.group()) for m in re.finditer(r"\S+", line)]


def assert_summary_matches_lavaan(ours: str, case: str, titles=SUMMARY_SECTIONS) -> None:
    """Every section of lavaan's summary text of ``case`` appears in ``ours`` with the same lines,
    the same column ends and the same words; numbers agree to the last printed digit (±1, where
    the two estimates round differently); ``titles`` picks the sections compared.  lavaan cuts
    labels to four characters ("(b_ks)"), sem_engine prints them whole ("(b_ksh)") in a column of
    the same width."""
    mine = summary_sections(ours)
    theirs = summary_sections((REFERENCE / "report" / f"{case}_summary.txt").read_text())
    assert set(theirs) <= set(mine), set(theirs) - set(mine)
    for title in titles:
        if title not in theirs:
            assert title not in mine, title
            continue
        assert len(mine[title]) == len(theirs[title]), (title, mine[title], theirs[title])
        for a, b in zip(mine[title], theirs[title]):
            ta, tb = tokens(a), tokens(b)
            assert [end for end, _ in ta] == [end for end, _ in tb], (title, a, b)
            for (_, x), (_, y) in zip(ta, tb):
                if _NUMBER.fullmatch(x) and _NUMBER.fullmatch(y):
                    assert abs(float(x) - float(y)) <= 1.5e-3, (title, a, b)
                elif x.startswith("(") and y.startswith("(") and y.endswith(")") and len(y) == 6:
                    assert x[1:-1].startswith(y[1:-1]), (title, a, b)
                else:
                    assert x == y, (title, a, b)
