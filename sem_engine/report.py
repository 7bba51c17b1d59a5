"""Layout of report content as text (lavaan's layout), HTML, Markdown and LaTeX.

Content is built elsewhere as plain values (``summary.py``: lavaan's ``summary()``; ``tables.py``:
the APA tables of a paper): a ``Block`` of label/value lines, a ``Section`` of parameter rows, a
``Table`` (a titled DataFrame of formatted cells).  This module only lays them out; every cell
arrives already formatted as a string.

LaTeX output uses the ``booktabs`` rules (``\\usepackage{booktabs}``) and escapes the characters
LaTeX treats specially; column headings written in Greek or with superscripts (β, χ², R²) become
math.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

KEY_WIDTH = 54          # lavaan's label/value lines are 54 characters wide
NAME_WIDTH = 18         # lavaan's first column of a parameter section
VALUE_WIDTH = 9         # lavaan's numeric columns ("%9.3f" with a leading space)

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  "|": r"\textbar{}"}
_LATEX_SYMBOLS = (("χ²", r"$\chi^2$"), ("R²", r"$R^2$"), ("β", r"$\beta$"), ("α", r"$\alpha$"),
                  ("ω", r"$\omega$"), ("√", r"$\surd$"), ("≤", r"$\leq$"), ("≥", r"$\geq$"),
                  ("←", r"$\leftarrow$"), ("→", r"$\rightarrow$"), ("—", "---"), ("–", "--"),
                  ("−", "$-$"), ("Δ", r"$\Delta$"))
_ITALIC = ("B", "SE", "p", "z", "df", "N")   # statistical symbols, italic in APA headings


@dataclass(frozen=True)
class Block:
    """A titled list of ``(label, value, ...)`` lines, e.g. the test statistics.

    ``heading`` names the value columns when there are several (lavaan's "Used  Total").
    """

    title: str
    lines: tuple[tuple[str, ...], ...]
    heading: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """One line of a parameter section.

    A heading row (``op`` set, no values) opens a group: ``ind60 =~``.  ``dot`` marks a residual
    (the variable is endogenous or an indicator), printed as lavaan does: ``.y1``.
    """

    name: str
    label: str = ""
    values: tuple[str, ...] = ()
    op: str = ""
    dot: bool = False

    def display(self) -> str:
        return ("." if self.dot else "") + self.name + (f" {self.op}" if self.op else "")


@dataclass(frozen=True)
class Section:
    """A titled parameter section ("Latent Variables:") with numeric column headings."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]

    def frame(self) -> pd.DataFrame:
        """The section as a DataFrame of strings: a name column, a label column, the values."""
        blank = ("",) * len(self.columns)
        records = [(("" if r.op else "  ") + r.display(), f"({r.label})" if r.label else "",
                    *(r.values or blank)) for r in self.rows]
        return pd.DataFrame(records, columns=["", " ", *self.columns])


@dataclass(frozen=True)
class Table:
    """A titled table of formatted cells with an optional note, as a paper prints it."""

    title: str
    frame: pd.DataFrame
    note: str = ""


@dataclass(frozen=True)
class Summary:
    """A report: a title line, warnings, then blocks and sections in order.

    ``str()`` gives lavaan's text layout, Jupyter shows ``_repr_html_``; ``to_latex()`` and
    ``to_markdown()`` export the same content.
    """

    title: str
    warnings: tuple[str, ...]
    parts: tuple[Block | Section, ...]

    def __str__(self) -> str:
        out = [self.title, ""]
        out += [f"** WARNING ** {w}" for w in self.warnings] + ([""] if self.warnings else [])
        for part in self.parts:
            out += text_block(part) if isinstance(part, Block) else text_section(part)
            out.append("")
        return "\n".join(out).rstrip("\n") + "\n"

    def __repr__(self) -> str:
        return str(self)

    def tables(self) -> list[Table]:
        """Every part as a ``Table`` (blocks as label/value tables)."""
        return [Table(p.title, p.frame()) if isinstance(p, Section) else Table(p.title, block_frame(p))
                for p in self.parts]

    def _repr_html_(self) -> str:
        warn = "".join(f"<p><strong>Warning:</strong> {html.escape(w)}</p>" for w in self.warnings)
        body = "".join(html_table(t) for t in self.tables())
        return f"<div class='sem-engine-summary'><p>{html.escape(self.title)}</p>{warn}{body}</div>"

    def to_latex(self) -> str:
        warn = "".join(f"\\textbf{{Warning:}} {latex_escape(w)}\n\n" for w in self.warnings)
        return f"{latex_escape(self.title)}\n\n{warn}" + "\n".join(latex_table(t) for t in self.tables())

    def to_markdown(self) -> str:
        warn = "".join(f"**Warning:** {w}\n\n" for w in self.warnings)
        return f"{self.title}\n\n{warn}" + "\n".join(markdown_table(t) for t in self.tables())


@dataclass(frozen=True)
class Tables:
    """Several ``Table`` objects, exported together (the APA tables of one model)."""

    tables: tuple[Table, ...]

    def __getitem__(self, title: str) -> pd.DataFrame:
        for t in self.tables:
            if t.title == title:
                return t.frame
        raise KeyError(f"no table titled {title!r}; tables: {', '.join(t.title for t in self.tables)}")

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return "".join(html_table(t) for t in self.tables)

    def to_markdown(self) -> str:
        return "\n".join(markdown_table(t) for t in self.tables)

    def to_latex(self) -> str:
        return "\n".join(latex_table(t) for t in self.tables)


# -- text ---------------------------------------------------------------------------------------
def text_block(block: Block) -> list[str]:
    """lavaan's label/value lines: label from column 3, the first value right-aligned to column 54,
    further values in 12-character columns, their headings on the line under the title; a
    one-element line is a blank line."""
    out = ([f"{block.title}:"] + ([] if block.heading else [""])) if block.title else []
    width = max([KEY_WIDTH, *(len(line[0]) + len(line[1]) + 3 for line in block.lines if len(line) > 1)])
    rest = max([12, *(len(v) + 2 for line in block.lines for v in line[2:])])
    if block.heading:
        out.append(block.heading[0].rjust(width) + "".join(h.rjust(rest) for h in block.heading[1:]))
    for line in block.lines:
        out.append("" if len(line) == 1 else (f"  {line[0]}" + line[1].rjust(width - 2 - len(line[0]))
                                              + "".join(v.rjust(rest) for v in line[2:])).rstrip())
    return out


def text_section(section: Section) -> list[str]:
    """lavaan's parameter section: names indented 2 (headings) or 4 (rows), labels in parentheses
    right-aligned in an 18-character first column, values in 9-character columns."""
    names = [_text_name(r) for r in section.rows]
    labels = [f"({r.label})" if r.label else "" for r in section.rows]
    first = max([NAME_WIDTH, *(len(n) + len(lab) + 1 for n, lab in zip(names, labels) if lab),
                 *(len(n) for n in names)])
    widths = [max([VALUE_WIDTH, len(c) + 1, *(len(r.values[k]) + 1 for r in section.rows if r.values)])
              for k, c in enumerate(section.columns)]
    out = [f"{section.title}:", " " * first + "".join(c.rjust(w) for c, w in zip(section.columns, widths))]
    for name, label, row in zip(names, labels, section.rows):
        cells = "".join(v.rjust(w) for v, w in zip(row.values, widths))
        out.append((name + label.rjust(first - len(name)) + cells).rstrip())
    return out


def _text_name(row: Row) -> str:
    indent = "  " if row.op else "    "
    return (indent[:-1] + "." if row.dot else indent) + row.name + (f" {row.op}" if row.op else "")


# -- frames (HTML, Markdown, LaTeX) ------------------------------------------------------------
def block_frame(block: Block) -> pd.DataFrame:
    """A block as a DataFrame: the label column, then one column per value."""
    width = max(len(line) for line in block.lines)
    columns = ["", *(block.heading or [""] * (width - 1))]
    rows = [line + ("",) * (width - len(line)) for line in block.lines if len(line) > 1]
    return pd.DataFrame(rows, columns=columns)


def html_table(table: Table) -> str:
    """An HTML table with the title as caption and the note below; cells are escaped."""
    frame = table.frame
    align = ["left" if _is_text(frame.iloc[:, j]) else "right" for j in range(frame.shape[1])]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    head = f"<thead><tr>{head}</tr></thead>" if _has_heading(frame) else ""
    body = "".join("<tr>" + "".join(f"<td style='text-align:{a}'>{html.escape(str(v))}</td>"
                                    for a, v in zip(align, row)) + "</tr>"
                   for row in frame.itertuples(index=False))
    note = f"<p><em>Note.</em> {html.escape(table.note)}</p>" if table.note else ""
    caption = (f"<caption style='text-align:left'><strong>{html.escape(table.title)}</strong></caption>"
               if table.title else "")
    return f"<table>{caption}{head}<tbody>{body}</tbody></table>{note}"


def markdown_table(table: Table) -> str:
    """A GitHub-flavoured Markdown table under a bold title, the note in italics below it."""
    frame = table.frame
    cells = [[_md_cell(c) for c in frame.columns]] + [[_md_cell(v) for v in row]
                                                      for row in frame.itertuples(index=False)]
    rule = ["---" if _is_text(frame.iloc[:, j]) else "---:" for j in range(frame.shape[1])]
    lines = ["| " + " | ".join(row) + " |" for row in [cells[0], rule, *cells[1:]]]
    note = f"\n*Note.* {table.note}\n" if table.note else ""
    title = f"**{table.title}**\n\n" if table.title else ""
    return title + "\n".join(lines) + "\n" + note


def _has_heading(frame: pd.DataFrame) -> bool:
    return any(str(c).strip() for c in frame.columns)


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|")


def _is_text(column: pd.Series) -> bool:
    """A column of names (left-aligned) rather than numbers (right-aligned)."""
    text = column.astype(str)
    return bool(text.str.contains(r"[^\W\d_]", regex=True).any()) or not text.str.strip().any()


def latex_table(table: Table) -> str:
    """A ``table`` float with a booktabs ``tabular``, caption above and the note below."""
    frame = table.frame
    spec = "".join("l" if _is_text(frame.iloc[:, j]) else "r" for j in range(frame.shape[1]))
    head = (" & ".join(_latex_heading(str(c)) for c in frame.columns) + " \\\\\n\\midrule\n"
            if _has_heading(frame) else "")
    body = "\n".join(" & ".join(latex_escape(str(v)) for v in row) + r" \\"
                     for row in frame.itertuples(index=False))
    note = (f"\n\\par\\smallskip{{\\footnotesize\\textit{{Note.}} {latex_escape(table.note)}}}"
            if table.note else "")
    caption = f"\\caption{{{latex_escape(table.title)}}}\n" if table.title else ""
    return (f"\\begin{{table}}[htbp]\n\\centering\n{caption}"
            f"\\begin{{tabular}}{{{spec}}}\n\\toprule\n{head}{body}\n"
            f"\\bottomrule\n\\end{{tabular}}{note}\n\\end{{table}}\n")


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters; a few Unicode symbols become math."""
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for symbol, math in _LATEX_SYMBOLS:
        out = out.replace(symbol, math)
    return out


def _latex_heading(text: str) -> str:
    return f"${text}$" if text in _ITALIC else latex_escape(text)
