"""Path diagram of a fitted model as Graphviz DOT, rendered by the ``dot`` program when present.

Conventions of SEM path diagrams (e.g. Kline 2016, ch. 5): latent variables in ellipses,
observed variables in boxes, one-headed arrows for loadings and regressions labelled with their
estimates, two-headed curved dashed arrows for covariances (residual covariances of indicators,
covariances of exogenous factors).  The drawing runs left to right: the indicators of an
exogenous factor stand to its left, those of other factors to their right, so the structural
paths flow across the middle.  Parameters fixed to zero are absent paths and are not drawn, nor
are the moments of fixed exogenous covariates (``fixed_x``), which are not parameters.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import SemError
from .summary import estimates_table

FORMATS = ("svg", "png", "pdf")


class GraphvizNotFoundError(SemError, RuntimeError):
    """The Graphviz ``dot`` program, needed to render a diagram, is not installed."""


@dataclass(frozen=True)
class Diagram:
    """A path diagram: ``source`` is the DOT text; ``render()`` writes SVG, PNG or PDF."""

    source: str

    def __str__(self) -> str:
        return self.source

    def render(self, path, format: str | None = None) -> Path:
        """Write the diagram to ``path`` in ``format`` (default: the file's suffix) with ``dot``."""
        path = Path(path)
        format = (format or path.suffix.lstrip(".")).lower()
        if format not in FORMATS:
            raise ValueError(f"cannot render to {format!r}; choose one of {', '.join(FORMATS)} "
                             "(or write Diagram.source to a .dot file)")
        path.write_bytes(self._dot(format))
        return path

    def svg(self) -> str:
        """The diagram as SVG text (needs ``dot``)."""
        return self._dot("svg").decode()

    def _dot(self, format: str) -> bytes:
        run = subprocess.run([dot_program(), f"-T{format}"], input=self.source.encode(), capture_output=True)
        if run.returncode != 0:
            raise SemError(f"Graphviz dot failed: {run.stderr.decode().strip()}")
        return run.stdout

    def _repr_svg_(self) -> str | None:
        return self.svg() if shutil.which("dot") else None


def dot_program() -> str:
    """Path of Graphviz's ``dot``, or a ``GraphvizNotFoundError`` that says how to install it."""
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFoundError(
            "rendering a diagram needs the Graphviz program 'dot', which is not on the PATH; install "
            "Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; conda: "
            "conda install -c conda-forge graphviz), or save Diagram.source as a .dot file and open it "
            "in any Graphviz viewer")
    return program


def diagram(fit, standardized: bool = True, decimals: int = 2, stars: bool = False,
            rsquare: bool = False) -> Diagram:
    """Path diagram of ``fit``.

    ``standardized``: label arrows with the completely standardized estimates (``std.all``),
    otherwise with the unstandardized ones; ``stars``: append * (p < .05), ** (p < .01),
    *** (p < .001); ``rsquare``: show R² inside every endogenous variable.
    """
    est = estimates_table(fit, standardized=standardized)
    est = est[(est["est"] != 0) | (est["se"] > 0)]   # a parameter fixed to 0 is an absent path
    value = est["std_all"] if standardized else est["est"]
    labels = [_edge_label(v, p, decimals, stars) for v, p in zip(value, est["pvalue"])]
    lines = ["digraph sem {", '  graph [rankdir=LR, splines=true, nodesep=0.25, ranksep=0.9];',
             '  node [fontname="Helvetica", fontsize=11];', '  edge [fontname="Helvetica", fontsize=9];']
    lines += _nodes(fit, fit.r2() if rsquare else pd.Series(dtype=float), decimals)
    lines += _indicator_columns(est)
    exogenous = set(fit.partable.variables.lv) - set(est.loc[est["op"] == "~", "lhs"])
    loadings = est[est["op"] == "=~"]
    side = {v: "w" if f in exogenous else "e" for f, v in zip(loadings["lhs"], loadings["rhs"])}
    factor = dict(zip(loadings["rhs"], loadings["lhs"]))
    for row, label in zip(est.itertuples(index=False), labels):
        lines.append(_edge(row, label, exogenous, side if factor.get(row.lhs, 0) == factor.get(row.rhs) else {}))
    lines = [line for line in lines if line]
    lines.append("}")
    return Diagram("\n".join(lines) + "\n")


def _nodes(fit, r2: pd.Series, decimals: int) -> list[str]:
    variables = fit.partable.variables
    out = []
    for name in (*variables.lv, *variables.ov):
        shape = "ellipse" if name in variables.lv else "box"
        text = _quote_text(name) + (f"\\nR² = {r2[name]:.{decimals}f}" if name in r2.index else "")
        out.append(f'  {_id(name)} [shape={shape}, label="{text}"];')
    return out


def _indicator_columns(est: pd.DataFrame) -> list[str]:
    """Each factor's indicators stacked in one column, in the order of the model text."""
    loadings = est[est["op"] == "=~"]
    out = []
    for _, items in loadings.groupby("lhs", sort=False)["rhs"]:
        if len(items) > 1:
            chain = " -> ".join(_id(v) for v in items)
            out.append(f"  {{rank=same; {chain} [style=invis];}}")
    return out


def _edge(row, label: str, exogenous: set[str], side: dict[str, str]) -> str:
    """The DOT edge of one parameter; ``side``: the outer side (w or e) of indicators in one column,
    where a covariance between two of them arcs clear of the loadings."""
    if row.op == "=~" and row.lhs in exogenous:
        return f'  {_id(row.rhs)} -> {_id(row.lhs)} [dir=back, label="{label}"];'
    if row.op == "=~":
        return f'  {_id(row.lhs)} -> {_id(row.rhs)} [label="{label}"];'
    if row.op == "~":
        return f'  {_id(row.rhs)} -> {_id(row.lhs)} [label="{label}", penwidth=1.4];'
    if row.op == "~~" and row.lhs != row.rhs:
        port = f":{side[row.lhs]}" if row.lhs in side else ""
        return (f'  {_id(row.lhs)}{port} -> {_id(row.rhs)}{port} [dir=both, style=dashed, constraint=false, '
                f'label="{label}"];')
    return ""


def _edge_label(value: float, p: float, decimals: int, stars: bool) -> str:
    if not np.isfinite(value):
        return ""
    text = f"{value:.{decimals}f}"
    if stars and np.isfinite(p):
        text += "*" * sum(p < cut for cut in (0.05, 0.01, 0.001))
    return text


def _id(name: str) -> str:
    return f'"{_quote_text(name)}"'


def _quote_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
