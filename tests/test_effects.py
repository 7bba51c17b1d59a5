"""Effects decomposition against hand-computed products of lavaan's estimates, lavaan's ``:=``
rows (estimates and delta-method SEs, raw and standardized) and lavaan's vcov."""

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from reference_cases import assert_close, fitted, keyed, read, read_matrix


def effect(table: pd.DataFrame, kind: str, lhs: str, rhs: str) -> pd.Series:
    rows = table[(table["effect"] == kind) & (table["lhs"] == lhs) & (table["rhs"] == rhs)]
    assert len(rows) == 1, (kind, lhs, rhs)
    return rows.iloc[0]


@lru_cache(maxsize=None)
def effects(case: str, kind: str = "raw") -> pd.DataFrame:
    return fitted(case).effects(kind=kind)


def test_poldem_indirect_and_total_equal_the_defined_parameters():
    """indirect := p1*p3 and total := p2 + p1*p3 in lavaan's Political Democracy model."""
    ref = keyed(read("poldem", "estimates.csv"))
    table = effects("poldem")
    p1, p2, p3 = (ref.loc[k, "est"] for k in [("dem60", "~", "ind60"), ("dem65", "~", "ind60"),
                                             ("dem65", "~", "dem60")])
    indirect = effect(table, "indirect", "dem65", "ind60")
    total = effect(table, "total", "dem65", "ind60")
    assert_close(indirect["est"], p1 * p3, what="p1*p3")
    assert_close(total["est"], p2 + p1 * p3, what="p2 + p1*p3")
    assert_close(indirect["se"], ref.loc[("indirect", ":=", "p1*p3"), "se"], what="se of indirect")
    assert_close(total["se"], ref.loc[("total", ":=", "p2+p1*p3"), "se"], what="se of total")
    for lhs, rhs in [("dem60", "ind60"), ("dem65", "ind60"), ("dem65", "dem60")]:
        direct = effect(table, "direct", lhs, rhs)
        assert_close(direct[["est", "se"]].to_numpy(float),
                     ref.loc[(lhs, "~", rhs), ["est", "se"]].to_numpy(float))
    assert_close(effect(table, "total", "dem60", "ind60")["est"], p1)
    assert set(table["effect"]) == {"total", "direct", "indirect"}
    assert len(table[table["effect"] == "indirect"]) == 1


@pytest.mark.parametrize("case, kind, file", [("poldem", "std.all", "std_all.csv"),
                                              ("mediation", "std.all", "std_all.csv"),
                                              ("mediation", "std.nox", "std_nox.csv")])
def test_standardized_effects_equal_lavaans_standardized_definitions(case, kind, file):
    """lavaan standardizes a := product by multiplying standardized paths, which equals scaling the
    raw product by sd(cause) / sd(outcome); delta-method SEs from lavaan's standardizedSolution."""
    ref = keyed(read(case, file))
    table = effects(case, kind)
    defined = {"poldem": [("indirect", "dem65", "ind60", ("indirect", ":=", "p1*p3")),
                          ("total", "dem65", "ind60", ("total", ":=", "p2+p1*p3"))],
               "mediation": [("indirect", "Y", "X", ("ab", ":=", "a*b")),
                             ("total", "Y", "X", ("total", ":=", "c+a*b"))]}[case]
    for kind_name, lhs, rhs, key in defined:
        row = effect(table, kind_name, lhs, rhs)
        assert_close(row[["est", "se"]].to_numpy(float), ref.loc[key, ["est_std", "se"]].to_numpy(float),
                     what=f"{case} {kind} {kind_name}")
    for _, row in table[table["effect"] == "direct"].iterrows():
        assert_close(row[["est", "se"]].to_numpy(float),
                     ref.loc[(row["lhs"], "~", row["rhs"]), ["est_std", "se"]].to_numpy(float))


def test_two_step_paths_and_delta_method_from_lavaans_vcov():
    """poldem_path: y1 ~ x1 + x2, y5 ~ y1 + x1.  Indirect x -> y5 through y1 is b(y1~x) b(y5~y1);
    its delta-method variance is g V gᵀ with lavaan's vcov and g the gradient of the product."""
    ref = keyed(read("poldem_path", "estimates.csv"))
    vcov = read_matrix("poldem_path", "vcov.csv")
    table = effects("poldem_path")
    b51 = ref.loc[("y5", "~", "y1"), "est"]
    for x in ["x1", "x2"]:
        b1x = ref.loc[("y1", "~", x), "est"]
        names = [f"y1~{x}", "y5~y1"]
        v = vcov.loc[names, names].to_numpy()
        g = np.array([b51, b1x])
        indirect = effect(table, "indirect", "y5", x)
        assert_close(indirect["est"], b1x * b51, what=f"indirect {x}")
        assert_close(indirect["se"], np.sqrt(g @ v @ g), what=f"se indirect {x}")
    direct = ref.loc[("y5", "~", "x1"), "est"]
    assert_close(effect(table, "total", "y5", "x1")["est"], direct + ref.loc[("y1", "~", "x1"), "est"] * b51)
    assert_close(effect(table, "total", "y5", "x2")["est"], ref.loc[("y1", "~", "x2"), "est"] * b51)
    assert not ((table["effect"] == "direct") & (table["lhs"] == "y5") & (table["rhs"] == "x2")).any()


def test_loadings_are_not_structural_effects():
    """two_outcomes: textual ~ visual, speed ~ visual; the loadings (Λ) never appear and there is
    no indirect path.  A second-order factor's loadings on factors (in B) are not effects either."""
    table = effects("two_outcomes")
    assert set(zip(table["lhs"], table["rhs"])) == {("textual", "visual"), ("speed", "visual")}
    assert not (table["effect"] == "indirect").any()
    with pytest.raises(se.ModelError, match="no regressions"):
        fitted("hs_second_order").effects()


def test_bootstrap_intervals_of_effects_match_the_bootstrap_table():
    fit = fitted("mediation")
    b = fit.bootstrap(100, seed=2, ci="bc", batch_size=64, progress=False)
    table = fit.effects(bootstrap=b)
    est = b.estimates().set_index("label")
    for name, (kind, lhs, rhs) in {"ab": ("indirect", "Y", "X"), "a": ("direct", "M", "X"),
                                   "c": ("direct", "Y", "X"), "total": ("total", "Y", "X")}.items():
        row = effect(table, kind, lhs, rhs)
        ours = row[["boot_se", "boot_ci_lower", "boot_ci_upper", "boot_pvalue"]].to_numpy(float)
        theirs = est.loc[name, ["boot_se", "ci_lower", "ci_upper", "boot_pvalue"]].to_numpy(float)
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    with pytest.raises(se.ModelError, match="bootstrap of this fit"):
        fitted("poldem_path").effects(bootstrap=b)
    with pytest.raises(se.ModelError, match="kind"):
        fit.effects(kind="std")
