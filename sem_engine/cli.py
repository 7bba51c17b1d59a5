"""The ``sem-engine`` command: fit a model file to a CSV file, or fit a bundled example.

    sem-engine fit MODEL.lav DATA.csv [--sample-cov --nobs N] [-o NAME=VALUE ...] [OUTPUT OPTIONS]
    sem-engine example thesis [OUTPUT OPTIONS]

    OUTPUT OPTIONS: [--bootstrap N --ci bca --seed S] [--format text|json|csv|markdown|latex]
                    [--output FILE] [--diagram FILE.svg]

Exit codes (``EXIT_CODES``) let scripts tell outcomes apart; errors and warnings go to stderr,
as one line each (a syntax error adds the offending line and a caret), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

from .errors import DataError, ModelError, ModelSyntaxError, SemError

FORMATS = ("text", "json", "csv", "markdown", "latex")
DIAGRAM_SUFFIXES = (".svg", ".png", ".pdf", ".dot")
EXIT_CODES = {
    0: "success",
    1: "error: the data, the model or an option cannot be used, or a file cannot be read or written",
    2: "model syntax error (line, column and a caret on stderr)",
    3: "the optimizer did not converge (results were written, with a warning)",
    64: "command-line usage error",
    70: "internal error (a bug: please report it with the command)",
    130: "interrupted (Ctrl-C)",
}


class Example(NamedTuple):
    """A bundled example: model and data files (relative to the source checkout) and sem() options."""

    model: str
    data: str
    options: dict
    description: str


EXAMPLES = {
    "thesis": Example("examples/thesis/revised.lav", "examples/thesis/thesis_synthetic.csv",
                      {"likelihood": "wishart"},
                      "revised structural model of Sharimova (2020), fitted to the synthetic raw data "
                      "with the thesis's moments (examples/thesis/README.md)"),
}
# where the examples are looked for: the source checkout this module runs from, then the current
# directory (an installed wheel does not ship examples/)
SEARCH = (Path(__file__).resolve().parents[1], Path.cwd())


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on a usage error; 2 is a model syntax error here."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(64, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    codes = "exit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items()) + "\n"
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--bootstrap", type=_at_least(2), metavar="N", help="N bootstrap samples for SEs and CIs")
    output.add_argument("--ci", default="bca", choices=("perc", "bc", "bca"),
                        help="bootstrap interval (default bca)")
    output.add_argument("--seed", type=_seed, default=1, help="bootstrap random seed (default 1)")
    output.add_argument("--format", default="text", choices=FORMATS,
                        help="text: lavaan-style summary; json: full archive (sem_engine.load_json reads "
                             "it); csv: estimates table; markdown/latex: APA tables (default text)")
    output.add_argument("--output", type=Path, metavar="FILE", help="write the result here instead of stdout")
    output.add_argument("--diagram", type=_diagram_path, metavar="FILE",
                        help="also draw the path diagram to FILE (.svg, .png, .pdf or .dot)")
    kw = dict(formatter_class=argparse.RawDescriptionHelpFormatter, epilog=codes)
    top = _Parser(prog="sem-engine", description="Structural equation models in lavaan syntax, "
                  "estimated by maximum likelihood.", **kw)
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fit = commands.add_parser("fit", parents=[output], help="fit MODEL (lavaan syntax) to DATA (CSV)", **kw)
    fit.add_argument("model", type=Path, help="model file in lavaan syntax")
    fit.add_argument("data", type=Path, help="CSV file of raw data with a header row (or see --sample-cov)")
    fit.add_argument("--sample-cov", action="store_true",
                     help="DATA is a covariance matrix (divisor N-1) with variable names in the first column")
    fit.add_argument("--nobs", type=_at_least(2), help="number of observations behind --sample-cov")
    fit.add_argument("-o", "--option", action="append", default=[], metavar="NAME=VALUE",
                     help="a sem() option, e.g. -o std_lv=true -o likelihood=wishart (repeatable)")
    example = commands.add_parser("example", parents=[output], help="fit a bundled example", **kw,
                                  description="\n".join(f"{k}: {e.description}" for k, e in EXAMPLES.items()))
    example.add_argument("name", choices=sorted(EXAMPLES), help="example name")
    return top


def _at_least(low: int):
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {low}")
        return value

    return whole


def _seed(text: str) -> int:
    value = _at_least(0)(text)
    if value >= 2**63:
        raise argparse.ArgumentTypeError(f"{value} is too large: a seed lies in 0 ... 2**63 - 1")
    return value


def _diagram_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in DIAGRAM_SUFFIXES:
        raise argparse.ArgumentTypeError(f"{text}: the diagram file must end in {', '.join(DIAGRAM_SUFFIXES)}")
    return path


def main(argv=None) -> int:
    """Entry point of ``sem-engine``; returns the exit code (``EXIT_CODES``)."""
    args = parser().parse_args(argv)
    if args.command == "fit" and args.nobs is not None and not args.sample_cov:
        parser().exit(64, "sem-engine: error: --nobs goes with --sample-cov (raw data give their own N)\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code, message = _run(args)
        except KeyboardInterrupt:
            code, message = 130, "interrupted"
    for w in caught:
        print(f"warning: {w.message} ({w.category.__name__})", file=sys.stderr)
    if message:
        print(message, file=sys.stderr)
    return code


def _run(args) -> tuple[int, str]:
    try:
        if args.command == "fit":
            return _fit(args, args.model, _read_data(args), _options(args.option)), ""
        return _fit(args, *_example_inputs(args.name)), ""
    except ModelSyntaxError as error:
        return 2, f"error: {args.model if args.command == 'fit' else args.name}: {error}"
    except SemError as error:
        return 1, f"error: {type(error).__name__}: {error}"
    except OSError as error:
        return 1, f"error: {error.filename}: {error.strerror}" if error.filename else f"error: {error}"
    except Exception as error:  # noqa: BLE001  (a bug: one line, not a traceback)
        return 70, f"internal error: {type(error).__name__}: {error} (please report it with the command)"


def _fit(args, model: Path, data: dict, options: dict) -> int:
    import sem_engine as se

    fit = se.sem(_model_text(model), **data, **options)
    boot = None
    if args.bootstrap:
        boot = fit.bootstrap(args.bootstrap, seed=args.seed, ci=args.ci, level=fit.options.level,
                             progress=None if sys.stderr.isatty() else False)
    text = _render(fit, args.format, boot)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    if args.diagram is not None:
        drawing = fit.diagram()
        if args.diagram.suffix.lower() == ".dot":
            args.diagram.write_text(drawing.source, encoding="utf-8")
        else:
            drawing.render(args.diagram)
    return 0 if fit.converged else 3


def _model_text(path: Path) -> str:
    """The model file as UTF-8 text (a byte-order mark allowed)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise ModelError(f"{path}: line {line}: the file is not UTF-8 text (byte 0x{raw[error.start]:02x}); "
                         "save it as UTF-8") from None


def _read_data(args) -> dict:
    import pandas as pd

    try:
        if not args.sample_cov:
            return {"data": pd.read_csv(args.data)}
        if args.nobs is None:
            raise DataError("--sample-cov needs --nobs (the number of observations behind the matrix)")
        return {"sample_cov": pd.read_csv(args.data, index_col=0), "sample_nobs": args.nobs}
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {args.data} as CSV: {error}") from None


def _options(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ModelError(f"option {pair!r} is not NAME=VALUE (e.g. std_lv=true)")
        out[name.strip().replace(".", "_")] = _value(value.strip())
    return out


def _value(text: str):
    """true/false, none, an int, a float, or the text itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _example_inputs(name: str) -> tuple[Path, dict, dict]:
    """Model path, data and options of example ``name``, found in a source checkout."""
    import pandas as pd

    example = EXAMPLES[name]
    for root in SEARCH:
        model, data = root / example.model, root / example.data
        if model.is_file() and data.is_file():
            return model, {"data": pd.read_csv(data)}, example.options
    raise FileNotFoundError(
        f"the {name!r} example needs {example.model} and {example.data} from the sem_engine source "
        f"repository, which an installed package does not include; run it from a checkout of the "
        f"repository (looked in {' and '.join(str(r) for r in SEARCH)})")


def _render(fit, format: str, boot) -> str:
    if format == "text":
        return str(fit.summary(ci=True, bootstrap=boot))
    if format == "json":
        return fit.to_json(bootstrap=boot) + "\n"
    if format == "csv":
        from .summary import estimates_table

        return estimates_table(fit, standardized=True, bootstrap=boot).to_csv(index=False)
    return fit.to_markdown(bootstrap=boot) if format == "markdown" else fit.to_latex(bootstrap=boot)


if __name__ == "__main__":
    sys.exit(main())
