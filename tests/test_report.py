"""summary(): lavaan's layout and numbers, checked against lavaan's own summary() text; APA tables."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import sem_engine as se
from reference_cases import (REFERENCE, SUMMARY_SECTIONS, assert_summary_matches_lavaan, fitted, read,
                             summary_sections, tokens)
from sem_engine.optimize import MAX_ITER
from sem_engine.report import Row, Section, Summary, latex_escape
from sem_engine.summary import brief, estimates_table, summary
from sem_engine.tables import apa_tables, fit_indices_table, fmt, fmt_p

LAVAAN = REFERENCE / "report"


def robust_fit(estimator: str, **options) -> se.Fit:
    return se.cfa((REFERENCE / "hs_cfa" / "model.lav").read_text(), data=se.datasets.holzinger_swineford_1939(),
                  estimator=estimator, **options)


# (lavaan's text, our fit, summary keywords): the fits and options of make_report_fixtures.R
CASES = [
    ("poldem", lambda: fitted("poldem"), dict(fit_measures=True, standardized=True, rsquare=True)),
    ("hs_cfa_meanstructure", lambda: fitted("hs_cfa_meanstructure"), dict(ci=True)),
    ("mimic", lambda: fitted("mimic"), dict(rsquare=True)),
    # lavaan's MLR takes the observed information for the bread; sem_engine asks for it explicitly
    ("hs_cfa_mlm", lambda: robust_fit("MLM"), dict(fit_measures=True)),
    ("hs_cfa_mlr", lambda: robust_fit("MLR", information="observed"), dict(fit_measures=True)),
]


@pytest.mark.parametrize("case, make_fit, options", CASES, ids=[c for c, _, _ in CASES])
def test_summary_matches_lavaan_layout_and_numbers(case, make_fit, options):
    assert_summary_matches_lavaan(str(summary(make_fit(), **options)), case)


def test_fiml_summary():
    data = se.datasets.political_democracy().copy()
    data.loc[0:4, "x1"] = np.nan   # the values make_report_fixtures.R removes
    data.loc[10:14, "y3"] = np.nan
    fit = se.sem((REFERENCE / "poldem" / "model.lav").read_text(), data=data, missing="ml")
    ours = str(fit.summary())
    lavaan = (LAVAAN / "poldem_fiml_summary.txt").read_text()
    line = "  Number of missing patterns                         3"
    assert line in lavaan.splitlines() and line in ours.splitlines()
    # lavaan adds robust CFI, TLI and RMSEA for incomplete data, which sem_engine does not compute
    compared = [t for t in SUMMARY_SECTIONS if t not in ("User Model versus Baseline Model",
                                                         "Root Mean Square Error of Approximation")]
    assert_summary_matches_lavaan(ours, "poldem_fiml", titles=compared)


def test_observed_information_is_named_as_lavaan_does():
    fit = fitted("poldem")
    observed = dataclasses.replace(fit, options=dataclasses.replace(fit.options, information="observed"))
    ours = summary_sections(str(brief(observed)) + "\n" + str(summary(observed)))["Parameter Estimates"]
    assert ours == summary_sections((LAVAAN / "hs_cfa_observed_summary.txt").read_text())["Parameter Estimates"]


def test_section_order_follows_the_issue():
    text = str(summary(fitted("poldem"), rsquare=True))
    titles = [t for t in summary_sections(text) if t in SUMMARY_SECTIONS]
    assert titles == ["Model Test User Model", "Parameter Estimates", "Latent Variables", "Regressions",
                      "Covariances", "Variances", "Defined Parameters", "R-Square"]


def test_brief_is_the_header_and_the_test():
    fit = fitted("poldem")
    text = str(brief(fit))
    assert text.splitlines()[0] == f"sem_engine {se.__version__} ended normally after {fit.n_iter} iterations"
    assert "Latent Variables" not in text and "Model Test User Model:" in text
    assert f"{fit.chisq:.3f}" in text and "Number of equality constraints                     3" in text


def test_dropped_rows_show_used_and_total():
    data = se.datasets.political_democracy().copy()
    data.loc[:4, "x1"] = np.nan
    with pytest.warns(se.DataWarning):
        fit = se.sem((REFERENCE / "poldem" / "model.lav").read_text(), data=data)
    lines = str(brief(fit)).splitlines()
    k = next(i for i, line in enumerate(lines) if "Number of observations" in line)
    assert lines[k - 1].split() == ["Used", "Total"]
    assert lines[k].split()[-2:] == [str(len(data) - 5), str(len(data))]
    assert [end for end, _ in tokens(lines[k - 1])] == [end for end, _ in tokens(lines[k])][-2:] == [54, 66]


def test_fit_summary_defaults_are_lavaans_full_summary():
    # Fit.summary() defaults to fit_measures, standardized and rsquare: lavaan's poldem fixture
    fit = fitted("poldem")
    assert_summary_matches_lavaan(str(fit.summary()), "poldem")
    text = str(fit)   # print(fit): the header and the model test only
    assert text == str(brief(fit)) and "Latent Variables" not in text and "P-value (Chi-square)" in text
    assert repr(fit).startswith("<sem_engine Fit: 75 observations")


def test_non_convergence_and_heywood_cases_come_first():
    fit = fitted("poldem")
    assert "WARNING" not in str(fit.summary(fit_measures=False))
    flagged = dataclasses.replace(fit, heywood=("y1~~y1",), state=fit.state._replace(status=MAX_ITER))
    lines = str(flagged).splitlines()
    assert lines[0] == f"sem_engine {se.__version__} did NOT end normally (iteration limit reached) after " \
                       f"{fit.n_iter} iterations"
    assert lines[2].startswith("** WARNING ** the optimizer did not converge (iteration limit reached)")
    assert lines[3] == "** WARNING ** negative variance estimates (Heywood case): y1~~y1"
    assert lines.index("Model Test User Model:") > 3


def test_fixed_x_moments_are_not_listed():
    table = estimates_table(fitted("mimic"))
    assert not ((table["lhs"] == "sex") & (table["op"] == "~~")).any()
    assert ((table["rhs"] == "sex") & (table["op"] == "~")).sum() == 2


def test_standardized_columns_are_lavaans():
    table = estimates_table(fitted("poldem"), standardized=True)
    ref = read("poldem", "estimates.csv")
    assert table["lhs"].equals(ref["lhs"]) and table["op"].equals(ref["op"])
    assert list(table["rhs"].str.replace(" ", "")) == list(ref["rhs"].fillna(""))
    np.testing.assert_allclose(table["std_all"], ref["std_all"], atol=1e-5)
    np.testing.assert_allclose(table["std_lv"], ref["std_lv"], atol=1e-5)


def test_html_latex_markdown_of_the_summary():
    s = summary(fitted("poldem"), standardized=True)
    html = s._repr_html_()
    assert html.count("<table>") == len(s.parts) and "Latent Variables" in html and "(a)" in html
    assert "P(&gt;|z|)" in html
    latex = s.to_latex()
    assert latex.count(r"\begin{tabular}") == len(s.parts) and r"\textgreater{}" in latex
    md = s.to_markdown()
    assert "| ind60 =~ |" in md and "| .y2 |" in md.replace("|   .y2", "| .y2")


def test_jupyter_shows_the_full_summary_as_html_tables():
    fit = fitted("poldem")
    html = fit._repr_html_()
    ref = read("poldem", "estimates.csv").set_index(["lhs", "op", "rhs"])
    x2 = ref.loc[("ind60", "=~", "x2")]
    row = "<td style='text-align:left'>  x2</td><td style='text-align:left'></td>" + "".join(
        f"<td style='text-align:right'>{v:.3f}</td>"
        for v in (x2.est, x2.se, x2.z, x2.pvalue, x2.std_lv, x2.std_all))
    assert row in html
    assert "Comparative Fit Index (CFI)" in html and "R-Square" in html


def test_text_section_widens_for_long_names():
    section = Section("Regressions", ("Estimate",),
                      (Row("a_very_long_outcome_name", op="~"), Row("another_long_predictor", "lab", ("1.000",))))
    lines = str(Summary("t", (), (section,))).splitlines()
    row = lines[-1]
    assert row.startswith("    another_long_predictor (lab)") and row.endswith("1.000")
    assert len(lines[-3]) == len(row)   # the heading ends where the values end


def test_latex_escape():
    assert latex_escape("a_b & 5% < χ²") == r"a\_b \& 5\% \textless{} $\chi^2$"


def test_apa_formatting_helpers():
    assert fmt_p(0.0004) == "< .001" and fmt_p(0.0123) == ".012" and fmt_p(np.nan) == "—"
    assert fmt(0.9567, 3, leading_zero=False) == ".957" and fmt(-0.25, 2, False) == "-.25"
    assert fmt(1.25, 2, False) == "1.25" and fmt(2.0) == "2.000"


def test_apa_tables_of_poldem():
    fit = fitted("poldem")
    tables = apa_tables(fit)
    assert [t.title for t in tables.tables] == ["Model fit", "Factor loadings", "Structural paths",
                                                "Defined parameters", "Reliability and convergent validity",
                                                "Discriminant validity"]
    loadings = tables["Factor loadings"]
    ref = read("poldem", "estimates.csv").set_index(["lhs", "op", "rhs"])
    factors = loadings["Factor"].replace("", pd.NA).ffill()
    for factor, row in zip(factors, loadings.itertuples(index=False)):
        key = (factor, "=~", row.Indicator)
        assert row.B == f"{ref.loc[key, 'est']:.3f}" and row[4] == f"{ref.loc[key, 'std_all']:.3f}"
    measures = read("poldem", "fit_measures.csv").set_index("measure")["value"]
    fit_row = tables["Model fit"].iloc[0]
    assert fit_row["χ²"] == f"{measures['chisq']:.2f}" and fit_row["CFI"] == f"{measures['cfi']:.3f}".lstrip("0")
    paths = tables["Structural paths"]
    p1 = ref.loc[("dem60", "~", "ind60")]
    assert list(paths["Outcome"]) == ["dem60", "dem65", ""]
    assert paths["95% CI"].iloc[0] == f"[{p1.ci_lower:.3f}, {p1.ci_upper:.3f}]"
    markdown, latex = fit.to_markdown(), fit.to_latex()   # Fit's shortcuts to the same tables
    assert markdown.count("**") == 2 * len(tables.tables) and "| ind60 | x1 | 1.000 | — |" in markdown
    assert latex.count(r"\begin{table}") == len(tables.tables) and r"$\beta$" in latex


def test_validity_tables_are_semtools_numbers():
    fit = fitted("hs_cfa")
    tables = apa_tables(fit, tables=("reliability", "discriminant"))
    validity = REFERENCE / "validity"
    semtools = pd.read_csv(validity / "hs_cfa_reliability.csv", index_col="measure")
    std = read("hs_cfa", "std_all.csv")
    loadings = std[std["op"] == "=~"].groupby("lhs")["est_std"]
    ave = loadings.apply(lambda v: (v ** 2).mean())   # Fornell-Larcker AVE, the tables' default
    cr = loadings.apply(lambda v: v.sum() ** 2 / (v.sum() ** 2 + (1 - v ** 2).sum()))
    reliability = tables["Reliability and convergent validity"].set_index("Factor")
    for factor, row in reliability.iterrows():
        assert row["α"] == fmt(semtools.loc["alpha", factor], 3, False)
        assert row["ω"] == fmt(semtools.loc["omega3", factor], 3, False)   # compRelSEM()'s default
        assert (row["AVE"], row["CR"]) == (fmt(ave[factor], 3, False), fmt(cr[factor], 3, False))
    htmt = pd.read_csv(validity / "hs_cfa_htmt.csv", index_col="factor")
    cor = std.set_index(["lhs", "op", "rhs"])["est_std"]
    matrix = tables["Discriminant validity"].set_index("Factor")
    assert matrix.loc["visual", "textual"] == fmt(htmt.loc["visual", "textual"], 3, False)     # above: HTMT
    assert matrix.loc["speed", "visual"] == fmt(cor[("visual", "~~", "speed")], 3, False)     # below: r
    assert matrix.loc["speed", "speed"] == fmt(ave["speed"] ** 0.5, 3, False)                 # diagonal: √AVE


def test_fit_table_of_a_robust_fit_reports_the_scaled_test_and_robust_indices():
    row = fit_indices_table(robust_fit("MLR")).frame.iloc[0]
    m = read("robust/hs_cfa_MLR", "fit_measures.csv", index_col="measure")["value"]
    assert (row["χ²"], row["df"], row["p"]) == (f"{m['chisq.scaled']:.2f}", f"{m['df.scaled']:.0f}", "< .001")
    assert row["CFI"] == fmt(m["cfi.robust"], 3, False) and row["TLI"] == fmt(m["tli.robust"], 3, False)
    lower, upper = (fmt(m[f"rmsea.ci.{end}.robust"], 3, False) for end in ("lower", "upper"))
    assert row["RMSEA [90% CI]"] == f"{fmt(m['rmsea.robust'], 3, False)} [{lower}, {upper}]"


def test_fit_table_of_several_models():
    one = fit_indices_table(fitted("poldem")).frame
    table = fit_indices_table({"first": fitted("poldem"), "second": fitted("poldem")}).frame
    assert list(table["Model"]) == ["first", "second"] and "Model" not in one
    assert (table.drop(columns="Model") == one.iloc[0]).all().all()


def test_no_validity_tables_without_factors():
    tables = apa_tables(fitted("poldem_path"), tables=("loadings", "reliability", "discriminant"))
    titles = [t.title for t in tables.tables]
    assert titles == []


def test_unknown_table_is_named():
    with pytest.raises(ValueError, match="unknown table"):
        apa_tables(fitted("poldem"), tables=("loadings", "nonsense"))


@pytest.fixture(scope="module")
def boot():
    return fitted("poldem").bootstrap(30, seed=7, ci="perc", batch_size=10, progress=False)


def test_bootstrap_replaces_the_wald_columns(boot):
    fit = fitted("poldem")
    # with a bootstrap, the interval columns are shown by default
    text = summary_sections(str(fit.summary(fit_measures=False, standardized=False, rsquare=False,
                                            bootstrap=boot)))
    assert text["Parameter Estimates"][:3] == [
        "  Standard errors                            Bootstrap",
        "  Number of requested bootstrap draws               30",
        f"  Number of successful bootstrap draws {30 - boot.n_failed:>15}"]
    b = boot.estimates().set_index(["lhs", "op", "rhs"]).loc[("dem60", "~", "ind60")]
    cells = next(line for line in text["Regressions"] if "(p1)" in line).split()
    z = b.est / b.boot_se   # lavaan's z and normal p from the bootstrap SE
    assert cells[2:] == [f"{b.est:.3f}", f"{b.boot_se:.3f}", f"{z:.3f}", f"{2 * norm.sf(abs(z)):.3f}",
                         f"{b.ci_lower:.3f}", f"{b.ci_upper:.3f}"]
    assert text["Latent Variables"][2].split() == ["x1", "1.000", "1.000", "1.000"]


def test_bootstrap_in_the_apa_tables(boot):
    tables = apa_tables(fitted("poldem"), tables=("defined",), bootstrap=boot)
    frame = tables["Defined parameters"]
    std = boot.standardized("std.all").set_index(["lhs", "op"]).loc[("indirect", ":=")]
    assert frame["β 95% CI"].iloc[0] == f"[{std.ci_lower:.3f}, {std.ci_upper:.3f}]"
    note = tables.tables[0].note
    assert "percentile bootstrap confidence interval" in note and "seed 7" in note
