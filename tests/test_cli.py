"""The sem-engine command line: outputs, and exit codes and messages fit for scripts."""

import dataclasses
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from reference_cases import REFERENCE, ROOT, assert_summary_matches_lavaan, fitted, read
from sem_engine import cli, diagram
from sem_engine.optimize import MAX_ITER
from sem_engine.serialize import load_json

MODEL = REFERENCE / "poldem" / "model.lav"
DATA = ROOT / "sem_engine" / "datasets" / "political_democracy.csv"


@pytest.fixture
def cached_fit(monkeypatch):
    """The output tests reuse the cached poldem fit (every new fit compiles for seconds); the tests
    of covariance input and of warnings below run real fits."""
    fit = fitted("poldem")

    def sem(model, data=None, **options):
        assert model == MODEL.read_text() and data.equals(pd.read_csv(DATA)) and options == {}
        return fit

    monkeypatch.setattr(se, "sem", sem)


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_summary(cached_fit, capsys):
    code, out, err = run(capsys, "fit", MODEL, DATA)
    assert code == 0 and err == ""
    fit = fitted("poldem")
    assert f"{fit.chisq:.3f}" in out and "Latent Variables:" in out and "Std.all" in out
    assert "Comparative Fit Index (CFI)" in out and "R-Square:" in out and "ci.lower" in out


def test_json_output_to_file(cached_fit, capsys, tmp_path):
    target = tmp_path / "fit.json"
    code, out, _ = run(capsys, "fit", MODEL, DATA, "--format", "json", "--output", target)
    assert code == 0 and out == ""
    loaded = load_json(target)
    pd.testing.assert_frame_equal(loaded.estimates(), fitted("poldem").estimates())


def test_csv_estimates_are_lavaans(cached_fit, capsys, tmp_path):
    target = tmp_path / "est.csv"
    assert run(capsys, "fit", MODEL, DATA, "--format", "csv", "--output", target)[0] == 0
    ours, ref = pd.read_csv(target), read("poldem", "estimates.csv")
    np.testing.assert_allclose(ours["est"], ref["est"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours["std_all"], ref["std_all"], atol=1e-5)


@pytest.mark.parametrize("format", ["markdown", "latex"])
def test_apa_tables_and_dot_diagram(cached_fit, capsys, tmp_path, format):
    code, out, _ = run(capsys, "fit", MODEL, DATA, "--format", format, "--diagram", tmp_path / "d.dot")
    fit = fitted("poldem")
    assert code == 0 and out == (fit.to_markdown() if format == "markdown" else fit.to_latex())
    assert (tmp_path / "d.dot").read_text() == fit.diagram().source


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_svg_diagram_and_missing_graphviz(cached_fit, capsys, monkeypatch, tmp_path):
    code, _, err = run(capsys, "fit", MODEL, DATA, "--format", "csv", "--diagram", tmp_path / "d.svg")
    assert (code, err) == (0, "") and "<svg" in (tmp_path / "d.svg").read_text()
    monkeypatch.setattr(diagram.shutil, "which", lambda name: None)
    code, out, err = run(capsys, "fit", MODEL, DATA, "--format", "csv", "--diagram", tmp_path / "e.svg")
    assert code == 1 and out.startswith("lhs,op,rhs")   # the results are written all the same
    assert err.startswith("error: GraphvizNotFoundError: rendering a diagram needs the Graphviz program 'dot'")


def test_covariance_input(capsys, tmp_path):
    cov = tmp_path / "cov.csv"
    pd.read_csv(DATA).cov().to_csv(cov)
    code, out, _ = run(capsys, "fit", MODEL, cov, "--sample-cov", "--nobs", 75, "--format", "csv")
    assert code == 0
    assert run(capsys, "fit", MODEL, cov, "--sample-cov")[0] == 1   # no --nobs: a data error


def test_warnings_go_to_stderr(capsys, tmp_path):
    data = pd.read_csv(DATA)
    data.loc[:2, "y1"] = np.nan
    path = tmp_path / "gaps.csv"
    data.to_csv(path, index=False)
    code, out, err = run(capsys, "fit", MODEL, path, "--format", "csv")
    assert code == 0 and err.startswith("warning: 3 of 75 rows") and "DataWarning" in err


def test_non_convergence_exits_3_after_writing_the_results(monkeypatch, capsys):
    fit = fitted("poldem")
    stuck = dataclasses.replace(fit, state=fit.state._replace(status=MAX_ITER))
    monkeypatch.setattr(se, "sem", lambda model, **options: stuck)
    code, out, _ = run(capsys, "fit", MODEL, DATA)
    assert code == 3 and out.startswith("sem_engine") and "did NOT end normally" in out.splitlines()[0]
    assert "** WARNING ** the optimizer did not converge" in out and "Latent Variables:" in out


def test_syntax_error_exit_2_with_line_and_caret(capsys, tmp_path):
    model = tmp_path / "bad.lav"
    model.write_text("ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + + y2\n")
    code, out, err = run(capsys, "fit", model, DATA)
    lines = err.splitlines()
    assert code == 2 and out == ""
    assert lines[0].startswith(f"error: {model}: line 2, column ")
    column = int(lines[0].split("column ")[1].split(":")[0])
    assert lines[1].strip() == "dem60 =~ y1 + + y2" and lines[2].index("^") - lines[1].index("d") == column - 1


@pytest.mark.parametrize("args, message", [
    (("fit", MODEL, DATA, "-o", "nonsense=1"), "error: ModelError: unknown option"),
    (("fit", MODEL, DATA, "-o", "std_lv"), "error: ModelError: option 'std_lv' is not NAME=VALUE"),
    (("fit", REFERENCE / "hs_cfa" / "model.lav", DATA), "error: DataError: model variables not found"),
    (("fit", "no_such_model.lav", DATA), "error: no_such_model.lav: No such file or directory"),
    (("fit", MODEL, "no_such_data.csv"), "error: no_such_data.csv: No such file or directory"),
    (("fit", MODEL, DATA, "-o", "level=abc"), "error: ModelError: level='abc' must be a finite number"),
    (("fit", MODEL, DATA, "-o", "max_iter=abc"), "error: ModelError: max_iter='abc' must be a whole number"),
    (("fit", MODEL, DATA, "-o", "std_lv=maybe"), "error: ModelError: std_lv='maybe' must be True or False"),
])
def test_errors_exit_1_with_one_message_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert (code, out) == (1, "") and err.startswith(message) and err.count("\n") == 1, err


def test_unreadable_csv_is_a_data_error(capsys, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    code, _, err = run(capsys, "fit", MODEL, path)
    assert code == 1 and err.startswith(f"error: DataError: cannot read {path} as CSV")


def test_usage_error_exit_64_and_help_lists_exit_codes(capsys):
    assert set(cli.EXIT_CODES) == {0, 1, 2, 3, 64, 70, 130}
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", str(MODEL)])
    assert exit_info.value.code == 64 and "required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", str(MODEL), str(DATA), "--diagram", "model.gif"])
    assert exit_info.value.code == 64 and "must end in .svg, .png, .pdf, .dot" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for code in cli.EXIT_CODES:
        assert f"\n  {code:>3}  " in out


def test_example_thesis_is_lavaans_summary(capsys):
    # lavaan's summary(fit.measures, standardized, rsquare, ci) of the same model and data
    code, out, err = run(capsys, "example", "thesis")
    assert (code, err) == (0, "")
    assert_summary_matches_lavaan(out, "thesis_revised")


def test_example_outside_a_checkout_says_where_to_get_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "SEARCH", (tmp_path,))
    code, out, err = run(capsys, "example", "thesis")
    assert (code, out) == (1, "")
    assert err.startswith("error: the 'thesis' example needs examples/thesis/revised.lav")
    assert "run it from a checkout" in err and err.count("\n") == 1


def test_bootstrap_columns(cached_fit, capsys, tmp_path):
    target = tmp_path / "boot.json"
    code, out, err = run(capsys, "fit", MODEL, DATA, "--bootstrap", 20, "--ci", "perc", "--seed", 11,
                         "--format", "json", "--output", target)
    assert (code, out, err) == (0, "", "")
    loaded = load_json(target)
    assert {k: loaded.bootstrap_info[k] for k in ("n", "seed", "ci", "kind")} == {
        "n": 20, "seed": 11, "ci": "perc", "kind": "ordinary"}
    again = fitted("poldem").bootstrap(20, seed=11, ci="perc", progress=False).estimates()
    pd.testing.assert_frame_equal(loaded.bootstrap_estimates(), again)


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "sem_engine.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "exit codes:" in done.stdout


def test_a_model_file_that_is_not_utf8_is_one_error_line(capsys, tmp_path):
    model = tmp_path / "latin1.lav"
    model.write_bytes(MODEL.read_text().encode("utf-8") + "# café\n".encode("latin-1"))
    code, out, err = run(capsys, "fit", model, DATA)
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert "is not UTF-8 text" in err and "line " in err


@pytest.mark.parametrize("args, message", [
    (("--seed", str(2**70)), "too large"),
    (("--bootstrap", "0"), "below the minimum 2"),
    (("--bootstrap", "many"), "is not a whole number"),
    (("--nobs", "100"), "--nobs goes with --sample-cov"),
])
def test_bad_command_line_values_are_usage_errors(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", str(MODEL), str(DATA), *args])
    assert exit_info.value.code == 64 and message in capsys.readouterr().err


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_fit", interrupted)
    code, out, err = run(capsys, "fit", MODEL, DATA)
    assert (code, out, err) == (130, "", "interrupted\n")
