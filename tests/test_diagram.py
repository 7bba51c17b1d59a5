"""Path diagrams: the DOT graph carries lavaan's estimates; real Graphviz renders it."""

import re
import shutil

import pandas as pd
import pytest

import sem_engine as se
from reference_cases import REFERENCE, ROOT, fitted, read, summary_sections
from sem_engine import diagram as diagram_module
from sem_engine.diagram import Diagram, GraphvizNotFoundError, diagram

THESIS = ROOT / "examples" / "thesis"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz 'dot' is not installed (Debian: apt-get install graphviz)")
EDGE = re.compile(r'^\s*"([^"]+)"(:\w+)? -> "([^"]+)"(:\w+)? \[(.*)\];$')
NODE = re.compile(r'^\s*"([^"]+)" \[shape=(\w+), label="([^"]*)"\];$')


def edges(source: str) -> dict[tuple[str, str], str]:
    return {(m[1], m[3]): (m[2] or "") + m[5] for m in map(EDGE.match, source.splitlines()) if m}


def label(attrs: str) -> str:
    return re.search(r'label="([^"]*)"', attrs)[1]


@pytest.fixture(scope="module")
def thesis_fit():
    if not (THESIS / "revised.lav").exists() or not (THESIS / "thesis_synthetic.csv").exists():
        pytest.skip("examples/thesis/revised.lav or thesis_synthetic.csv is missing")
    return se.sem((THESIS / "revised.lav").read_text(), data=pd.read_csv(THESIS / "thesis_synthetic.csv"),
                  likelihood="wishart")


def test_poldem_graph_carries_lavaans_standardized_estimates():
    source = fitted("poldem").diagram().source
    nodes = {m[1]: m[2] for m in map(NODE.match, source.splitlines()) if m}
    assert {n for n, shape in nodes.items() if shape == "ellipse"} == {"ind60", "dem60", "dem65"}
    assert {n for n, shape in nodes.items() if shape == "box"} == {f"x{i}" for i in range(1, 4)} | {
        f"y{i}" for i in range(1, 9)}
    drawn = edges(source)
    ref = read("poldem", "estimates.csv")
    for row in ref[ref["op"].isin(["=~", "~"]) | ((ref["op"] == "~~") & (ref["lhs"] != ref["rhs"]))].itertuples():
        if row.op == "=~":
            # an exogenous factor's indicators are drawn to its left (reversed edge, arrow head back)
            key = (row.rhs, row.lhs) if row.lhs == "ind60" else (row.lhs, row.rhs)
        else:
            key = (row.rhs, row.lhs) if row.op == "~" else (row.lhs, row.rhs)
        attrs = drawn.pop(key)
        assert label(attrs) == f"{row.std_all:.2f}", (key, attrs)
        assert ("dir=back" in attrs) == (row.op == "=~" and row.lhs == "ind60")
        assert ("style=dashed" in attrs and "dir=both" in attrs) == (row.op == "~~")
    assert drawn == {}   # nothing else: variances are not drawn as arrows


def test_unstandardized_labels_stars_and_rsquare():
    fit = fitted("poldem")
    source = diagram(fit, standardized=False, stars=True, rsquare=True, decimals=3).source
    drawn = edges(source)
    ref = read("poldem", "estimates.csv").set_index(["lhs", "op", "rhs"])
    assert label(drawn[("ind60", "dem60")]) == f"{ref.loc[('dem60', '~', 'ind60'), 'est']:.3f}***"
    assert label(drawn[("ind60", "dem65")]) == f"{ref.loc[('dem65', '~', 'ind60'), 'est']:.3f}**"
    assert label(drawn[("dem60", "y1")]) == "1.000"   # fixed: no test, no stars
    r2 = read("poldem", "r2.csv").set_index("variable")["r2"]
    assert f'"dem65" [shape=ellipse, label="dem65\\nR² = {r2["dem65"]:.3f}"]' in source


def test_thesis_model(thesis_fit):
    drawn = edges(diagram(thesis_fit).source)
    assert ("KR", "KSH") not in drawn and ("KSH", "KR") not in drawn   # KR ~~ 0*KSH: an absent path
    # lavaan's Std.all of NPC ~ KSHSE (its summary of the same fit, three decimals)
    lavaan = summary_sections((REFERENCE / "report" / "thesis_revised_summary.txt").read_text())
    std_all = next(line for line in lavaan["Regressions"] if "(a)" in line).split()[-1]
    assert label(drawn[("KSHSE", "NPC")]) == f"{float(std_all):.2f}"
    # KSHSE is exogenous: its indicators stand to its left, their residual covariances arc on the left
    assert drawn[("KSHSE2", "KSHSE3")].startswith(":w") and "dir=both" in drawn[("KSHSE2", "KSHSE3")]
    assert "dir=back" in drawn[("KSHSE1", "KSHSE")] and ("NPC", "NPC1") in drawn


@needs_dot
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_render_poldem_and_the_thesis_model(fmt, thesis_fit, tmp_path):
    for name, fit in (("poldem", fitted("poldem")), ("thesis", thesis_fit)):
        path = diagram(fit, rsquare=True).render(tmp_path / f"{name}.{fmt}")
        data = path.read_bytes()
        if fmt == "png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        else:
            text = data.decode()
            assert "<svg" in text and all(f">{v}<" in text for v in fit.partable.variables.lv)


@needs_dot
def test_svg_for_notebooks():
    assert diagram(fitted("poldem"))._repr_svg_().lstrip().startswith("<?xml")


def test_missing_graphviz_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(diagram_module.shutil, "which", lambda name: None)
    drawing = Diagram("digraph { a -> b }")
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        drawing.render(tmp_path / "d.svg")
    assert drawing._repr_svg_() is None


@needs_dot
def test_graphviz_failure_is_a_sem_error(tmp_path):
    with pytest.raises(se.SemError, match="Graphviz dot failed: .*syntax error"):
        Diagram("digraph { a -> }").render(tmp_path / "d.svg")


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="svg, png, pdf"):
        Diagram("digraph { a -> b }").render(tmp_path / "d.gif")


def test_names_are_quoted():
    assert diagram_module._id('a "b"') == '"a \\"b\\""'
