"""compare(): the chi-square difference test against lavaan's lavTestLRT()."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from reference_cases import REFERENCE, assert_close, fit_kwargs, fitted, read
from sem_engine.compare import compare

LAVAAN_COLUMNS = {"Df": "Df", "AIC": "AIC", "BIC": "BIC", "Chisq": "Chisq", "Chisq_diff": "Chisq_diff",
                  "RMSEA": "RMSEA", "Df_diff": "Df_diff", "pvalue": "Pr_gt_Chisq"}


def assert_matches_lrt(table: pd.DataFrame, path: str) -> None:
    ref = pd.read_csv(REFERENCE / path, index_col="model", keep_default_na=False, na_values=[""])
    assert list(table.index) == list(ref.index)
    for ours, theirs in LAVAAN_COLUMNS.items():
        assert_close(table[ours].to_numpy(), ref[theirs].to_numpy(), abs_tol=1e-6, rel_tol=1e-6,
                     what=ours)


def test_two_models_match_lavtestlrt():
    table = compare(fitted("hs_cfa_orthogonal"), fitted("hs_cfa"), names=["hs_cfa_orthogonal", "hs_cfa"])
    assert_matches_lrt(table, "compare/lrt_hs_cfa_orthogonal_vs_hs_cfa.csv")


def test_three_models_each_against_the_row_above():
    table = compare(fitted("hs_cfa"), fitted("hs_cfa_rescov"), fitted("hs_cfa_orthogonal"),
                    names=["hs_cfa", "hs_cfa_rescov", "hs_cfa_orthogonal"])
    assert_matches_lrt(table, "fit_measures_extra/lrt_three_models.csv")


def test_delta_cfi_and_rmsea_are_lavaans_differences():
    table = compare(fitted("hs_cfa"), fitted("hs_cfa_orthogonal"))
    assert list(table.index) == ["model1", "model2"]
    free, restricted = (read(c, "fit_measures.csv").set_index("measure")["value"]
                        for c in ("hs_cfa", "hs_cfa_orthogonal"))
    assert np.isnan(table["CFI_diff"].iloc[0]) and np.isnan(table["RMSEA_model_diff"].iloc[0])
    assert_close(table["CFI"], [free["cfi"], restricted["cfi"]], abs_tol=1e-6, what="cfi")
    assert_close(table["CFI_diff"].iloc[1], restricted["cfi"] - free["cfi"], abs_tol=1e-6, what="dcfi")
    assert_close(table["RMSEA_model_diff"].iloc[1], restricted["rmsea"] - free["rmsea"], abs_tol=1e-6,
                 what="drmsea")


def test_equivalent_models_have_no_test():
    fit = fitted("hs_cfa")
    table = compare(fit, fit)
    assert table["Chisq_diff"].iloc[1] == 0 and table["Df_diff"].iloc[1] == 0
    assert np.isnan(table["pvalue"].iloc[1])


def with_chisq(fit, chisq):
    """The same fit with another minimum of F_ML (to build non-nested pairs without refitting)."""
    return dataclasses.replace(fit, state=fit.state._replace(f=np.asarray(chisq / fit.n_eff)))


def test_equal_df_and_different_chisq_are_not_nested():
    fit = fitted("hs_cfa")
    with pytest.raises(se.ModelError, match="same df"):
        compare(fit, with_chisq(fit, fit.chisq + 1.0))


def test_restricted_model_fitting_better_is_not_nested():
    restricted = with_chisq(fitted("hs_cfa_orthogonal"), fitted("hs_cfa").chisq - 1.0)
    with pytest.raises(se.ModelError, match="fits better"):
        compare(fitted("hs_cfa"), restricted)


def test_different_data_is_a_data_error():
    kwargs = fit_kwargs("hs_cfa")
    model = (REFERENCE / "hs_cfa" / "model.lav").read_text()
    subset = se.cfa(model, data=kwargs["data"].iloc[:200])
    with pytest.raises(se.DataError, match="different data"):
        compare(fitted("hs_cfa"), subset)
    rescaled = kwargs["data"].assign(x1=kwargs["data"]["x1"] * 2)
    with pytest.raises(se.DataError, match="different data"):
        compare(fitted("hs_cfa"), se.cfa(model, data=rescaled))
    with pytest.raises(se.DataError, match="different observed variables"):
        compare(fitted("hs_cfa"), fitted("mimic"))


def test_mismatched_settings_are_model_errors():
    with pytest.raises(se.ModelError, match="likelihood"):
        compare(fitted("hs_cfa"), fitted("hs_cfa_wishart"))
    with pytest.raises(se.ModelError, match="mean structure"):
        compare(fitted("hs_cfa"), fitted("hs_cfa_meanstructure"))
    with pytest.raises(se.ModelError, match="two or more"):
        compare(fitted("hs_cfa"))
