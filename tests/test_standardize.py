"""Standardized solutions, their delta-method SEs and R² against lavaan 0.6 (tests/reference/)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reference_cases import CORE_CASES, assert_close, fitted, keyed, read
from sem_engine import inference, standardize, structure
from sem_engine.errors import ModelError
from sem_engine.moments import Moments

KINDS = ["std.all", "std.lv", "std.nox"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CORE_CASES)
def test_standardized_solution(case, kind):
    fit = fitted(case)
    ours = keyed(standardize.standardized_solution(fit, kind))
    ref = keyed(read(case, kind.replace(".", "_") + ".csv"))
    assert sorted(ours.index) == sorted(ref.index)
    ours = ours.loc[ref.index]
    assert_close(ours["est_std"], ref["est_std"], what=f"{case} {kind} est_std")
    assert_close(ours["se"], ref["se"], what=f"{case} {kind} se")
    for col in ("z", "pvalue", "ci_lower", "ci_upper"):
        assert_close(ours[col], ref[col], abs_tol=1e-4, rel_tol=1e-5, what=f"{case} {kind} {col}")


@pytest.mark.parametrize("case", CORE_CASES)
def test_std_columns_align_with_estimates(case):
    fit = fitted(case)
    ours = standardize.std_columns(fit)
    ours.index = keyed(fit.estimates()).index
    ref = keyed(read(case, "estimates.csv"))
    for col in ("std_lv", "std_all", "std_nox"):
        assert_close(ours.loc[ref.index, col], ref[col], what=f"{case} {col}")


@pytest.mark.parametrize("case", CORE_CASES)
def test_r2(case):
    ours = standardize.r2(fitted(case))
    ref = read(case, "r2.csv")
    assert list(ours.index) == list(ref["variable"])
    assert_close(ours.to_numpy(), ref["r2"].to_numpy(), abs_tol=1e-6, rel_tol=1e-6, what=f"{case} r2")


def test_make_standardize_vmaps_over_parameters_and_moments():
    """The bootstrap maps standardize.rows over a batch of (x, moments) (and the := parameters,
    numpy, over the batch of standardized rows): equal to a loop of single calls."""
    fit = fitted("mimic")  # latent and observed variables, fixed.x covariates
    engine = fit.engine
    sz, st = engine.sizes, engine.structure
    sc = standardize.scaling(fit.partable, fit.spec, "std.nox", sz)
    sc = standardize.Scaling(jnp.asarray(sc.num[None]), jnp.asarray(sc.den[None]))
    std = jax.jit(lambda x, m: standardize.rows(x, st, m, sc, sz))
    rng = np.random.default_rng(0)
    xs = jnp.stack([engine._vector(fit.x * rng.uniform(0.9, 1.1, fit.x.size)) for _ in range(3)])
    s = np.asarray(fit.moments.s)
    singles = [structure.pad_moments(Moments(s * c, fit.moments.xbar, fit.moments.n), sz) for c in (1.0, 1.1, 0.9)]
    batch = jax.tree.map(lambda *a: jnp.stack(a), *singles)
    mapped = np.asarray(jax.jit(jax.vmap(std))(xs, batch))
    looped = np.stack([np.asarray(std(xs[i], singles[i])) for i in range(3)])
    np.testing.assert_allclose(mapped, looped, rtol=1e-12, atol=1e-14)
    n_rows = len(fit.partable.table)
    rows = mapped[:, 0, :n_rows]
    with_defined = np.hstack([rows, inference.definitions(fit.partable, rows)])
    np.testing.assert_allclose(with_defined[:, n_rows:],
                               np.stack([inference.definitions(fit.partable, r) for r in rows]), rtol=1e-12, atol=1e-14)
    assert with_defined.shape == (3, len(fit.partable.table) + len(fit.partable.definitions))


def test_unknown_kind_is_refused():
    with pytest.raises(ModelError, match="std.all"):
        standardize.standardized_solution(fitted("hs_cfa"), "std.everything")
