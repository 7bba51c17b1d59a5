"""Residuals (raw, cor.bollen, normalized, standardized) against lavaan 0.6 (tests/reference/).

lavaan's estimates stop a little short of the optimum (nlminb/BFGS tolerances; up to 9e-6 away
in poldem), and standardized residuals amplify that.  So the formulas are checked at lavaan's own
estimates, to 1e-9, and the residuals of our fit (its own, tighter, estimates) to tolerances
that cover the difference in estimates.  The diagonal of lavaan's standardized residuals is
~1e-8 noise (residuals below 1e-5 are left undivided); at lavaan's estimates ours is the same
noise, at our estimates both are below 1e-7 and fall under the looser tolerance.
"""

import dataclasses

import jax.numpy as jnp
import pytest

from reference_cases import CORE_CASES, REFERENCE, assert_close, fitted, read, read_matrix
from sem_engine import residuals
from sem_engine.errors import ModelError

FILES = {"raw": "raw", "cor": "cor_bollen", "cor.bollen": "cor_bollen", "normalized": "normalized",
         "standardized": "standardized"}


def at_lavaan_estimates(fit, case):
    """``fit`` moved to lavaan's estimates (partable.csv), to check formulas without optimizer noise."""
    pt = read(case, "partable.csv")
    x = pt.loc[pt["free"] > 0].sort_values("free")["est"].to_numpy()
    return dataclasses.replace(fit, state=fit.state._replace(x=jnp.asarray(x)))


def check(fit, case, kind, tol):
    ours = residuals.residuals(fit, kind)
    ref = read_matrix(case, f"resid_{FILES[kind]}_cov.csv")
    cov = ours["cov"].loc[ref.index, ref.columns].to_numpy()
    assert_close(cov, ref.to_numpy(), abs_tol=tol, rel_tol=tol, what=f"{case} {kind} cov")
    mean_file = REFERENCE / case / f"resid_{FILES[kind]}_mean.csv"
    assert ("mean" in ours) == mean_file.exists()
    if mean_file.exists():
        ref_mean = read(case, mean_file.name)
        mean = ours["mean"].loc[ref_mean["variable"]].to_numpy()
        assert_close(mean, ref_mean["value"].to_numpy(), abs_tol=tol, rel_tol=tol, what=f"{case} {kind} mean")


@pytest.mark.parametrize("case", CORE_CASES)
def test_residuals_at_lavaan_estimates(case):
    fit = at_lavaan_estimates(fitted(case), case)
    for kind in ("raw", "cor.bollen", "normalized", "standardized"):
        check(fit, case, kind, 1e-9)


@pytest.mark.parametrize("case", CORE_CASES)
def test_residuals_of_our_fit(case):
    fit = fitted(case)
    for kind, tol in (("raw", 1e-5), ("cor", 1e-5), ("normalized", 1e-4), ("standardized", 1e-4)):
        check(fit, case, kind, tol)


def test_unknown_kind_is_refused():
    with pytest.raises(ModelError, match="standardized"):
        residuals.residuals(fitted("hs_cfa"), "studentized")
