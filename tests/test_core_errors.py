"""Bad input gets a clear, typed error; special cases are reported, never hidden."""

import numpy as np
import pandas as pd
import pytest

import sem_engine as se

HS3 = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@pytest.fixture(scope="module")
def hs():
    return se.datasets.holzinger_swineford_1939()


def test_unknown_variable_is_named_with_a_suggestion(hs):
    with pytest.raises(se.DataError, match=r"x10.*x1\?"):
        se.cfa("visual =~ x1 + x2 + x10", data=hs)


def test_syntax_error_has_line_column_and_caret(hs):
    with pytest.raises(se.ModelSyntaxError) as info:
        se.cfa("visual =~ x1 + x2\ntextual =~ x4 +* x5", data=hs)
    assert info.value.line == 2
    assert "^" in str(info.value)


def test_na_free_first_loading_without_scale_is_unidentified(hs):
    with pytest.raises(se.IdentificationError, match=r"visual=~x1.*visual~~visual|visual~~visual"):
        se.cfa("visual =~ NA*x1 + x2 + x3\ntextual =~ x4 + x5 + x6", data=hs)


def test_negative_df_is_unidentified(hs):
    with pytest.raises(se.IdentificationError, match="df = -"):
        se.sem("x1 ~ x2\nx2 ~ x1\nx1 ~~ x2", data=hs)


def test_group_modifier_without_groups_is_refused(hs):
    with pytest.raises(se.ModelError, match=r"gives 2 value\(s\) but the model has 1 group"):
        se.cfa("visual =~ x1 + c(a, b)*x2 + x3", data=hs)


def test_inequality_and_nonlinear_constraints_are_refused(hs):
    with pytest.raises(se.ModelError, match="inequality"):
        se.cfa("visual =~ x1 + a*x2 + x3\na > 0", data=hs)
    with pytest.raises(se.ModelError, match="nonlinear"):
        se.cfa("visual =~ x1 + a*x2 + b*x3\na == b^2", data=hs)


def test_constraint_on_unknown_label(hs):
    with pytest.raises(se.ModelError, match="zz"):
        se.cfa("visual =~ x1 + a*x2 + x3\nd := a*zz", data=hs)


def test_duplicate_parameter(hs):
    with pytest.raises(se.ModelError, match="twice"):
        se.cfa("visual =~ x1 + x2 + x3\nx1 ~~ x2\nx2 ~~ x1", data=hs)


def test_unknown_option(hs):
    with pytest.raises(se.ModelError, match="std_LV"):
        se.cfa(HS3, data=hs, std_LV=True)
    with pytest.raises(se.ModelError, match="likelihood"):
        se.cfa(HS3, data=hs, likelihood="gaussian")


def test_data_checks(hs):
    with pytest.raises(se.DataError, match="not numeric"):
        se.cfa("f =~ x1 + x2 + school", data=hs)
    with pytest.raises(se.DataError, match="complete rows"):
        se.cfa("f =~ x1 + x2 + x3", data=hs.head(1))
    collinear = hs.assign(x3=hs.x1 + hs.x2)
    with pytest.raises(se.DataError, match="not positive definite.*x1.*x2.*x3"):
        se.cfa("f =~ x1 + x2 + x3", data=collinear)
    with pytest.raises(se.DataError, match="zero variance"):
        se.cfa("f =~ x1 + x2 + x3", data=hs.assign(x3=1.0))
    with pytest.raises(se.DataError, match="either data"):
        se.cfa(HS3)


def test_covariance_input_checks(hs):
    s = hs[[f"x{i}" for i in range(1, 10)]].cov()
    with pytest.raises(se.DataError, match="names"):
        se.cfa(HS3, sample_cov=s.to_numpy(), sample_nobs=301)
    with pytest.raises(se.DataError, match="sample_nobs"):
        se.cfa(HS3, sample_cov=s)
    with pytest.raises(se.DataError, match="sample_mean"):
        se.cfa(HS3, sample_cov=s, sample_nobs=301, meanstructure=True)
    by_names = se.cfa(HS3, sample_cov=s.to_numpy(), sample_nobs=301, sample_cov_names=list(s.columns))
    assert np.allclose(by_names.x, se.cfa(HS3, sample_cov=s, sample_nobs=301).x)


def test_listwise_deletion_is_reported_and_equals_complete_rows(hs):
    holed = hs.copy()
    holed.loc[[3, 10, 50], "x2"] = np.nan
    with pytest.warns(se.DataWarning, match="3 of 301 rows"):
        fit = se.cfa(HS3, data=holed)
    complete = se.cfa(HS3, data=holed.dropna(subset=["x2"]))
    assert fit.nobs == 298 and fit.data.n_total == 301
    np.testing.assert_allclose(fit.x, complete.x, rtol=1e-10)


def test_heywood_case_is_reported():
    # One factor, three indicators, r12 = r13 = .8, r23 = .5: lambda_a^2 = .8 * .8 / .5 > 1.
    r = pd.DataFrame([[1, .8, .8], [.8, 1, .5], [.8, .5, 1]], index=list("abc"), columns=list("abc"))
    with pytest.warns(se.HeywoodWarning, match="a~~a"):
        fit = se.cfa("f =~ a + b + c", sample_cov=r, sample_nobs=200)
    assert fit.heywood == ("a~~a",)
    assert fit.estimates().set_index(["lhs", "op", "rhs"]).loc[("a", "~~", "a"), "est"] < 0


def test_non_convergence_is_flagged(hs):
    with pytest.warns(se.ConvergenceWarning, match="did not converge"):
        fit = se.cfa(HS3, data=hs, max_iter=1)
    assert not fit.converged
    assert "not converged" in repr(fit).lower()
