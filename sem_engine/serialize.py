"""Archive a fit as a plain dict / JSON, and load it back as a lightweight object with its tables.

The archive holds the model text, the options, the engine and JAX versions, the sample sizes, the
scalar results (chisq, df, loglik, convergence, ...) and every table: estimates, the three
standardized solutions, R², fit measures, the validity report, the model-implied moments and,
when given, a bootstrap result (its settings, its table of every parameter and of the std.all
values).  A DataFrame is stored as
``{"__frame__": {"columns", "dtypes", "index", "index_name", "data", "attrs"}}`` (row lists), a
Series as ``{"__series__": {...}}``; non-finite numbers and missing values are JSON ``null``.
``load_json`` gives an ``ArchivedFit`` whose methods carry the names of ``Fit``'s
(``estimates()``, ``standardized(kind)``, ``r2()``, ``fit_measures()``, ``validity_report()``,
``implied()``), so code that reads tables works on either.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from ._version import __version__
from .errors import SemError
from .standardize import KINDS

FORMAT = "sem_engine.fit"
FORMAT_VERSION = 1


def to_dict(fit, fit_measures: bool = True, standardized: bool = True, validity: bool = True,
            bootstrap=None) -> dict:
    """Everything about ``fit`` as JSON-ready values (see the module docstring).

    ``fit_measures``, ``standardized`` and ``validity`` (only for models with factors) may be
    switched off to save their computation; ``bootstrap`` is a result of ``fit.bootstrap()``.
    """
    tables = {"estimates": fit.estimates(), "implied": fit.implied()}
    if standardized:
        tables["standardized"] = {kind: fit.standardized(kind) for kind in KINDS}
        tables["r2"] = fit.r2()
    if fit_measures:
        tables["fit_measures"] = fit.fit_measures()
    if validity and fit.partable.variables.lv:
        tables["validity"] = fit.validity_report()
    if bootstrap is not None:
        tables["bootstrap"] = {"n": bootstrap.n, "n_failed": bootstrap.n_failed, "seed": bootstrap.seed,
                               "kind": bootstrap.kind, "ci": bootstrap.ci, "level": bootstrap.level,
                               "estimates": bootstrap.estimates(), "std_all": bootstrap.standardized("std.all")}
    return encode({
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "engine": {"name": "sem_engine", "version": __version__, "jax": jax.__version__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": fit.model, "options": dataclasses.asdict(fit.options),
        "data": {"n_used": fit.data.n_used, "n_total": fit.data.n_total, "variables": list(fit.spec.ov)},
        "fit": {"converged": fit.converged, "status": fit.status, "iterations": fit.n_iter,
                "chisq": fit.chisq, "df": fit.df, "npar": fit.npar, "n_free": fit.n_free, "n_eq": fit.n_eq,
                "fmin": fit.fmin, "loglik": fit.loglik, "heywood": list(fit.heywood)},
        **tables})


def to_json(fit, path=None, **kwargs) -> str:
    """``to_dict(fit, **kwargs)`` as strict JSON text, also written to ``path`` when given."""
    text = json.dumps(to_dict(fit, **kwargs), indent=1, allow_nan=False, ensure_ascii=False)
    if path is not None:
        Path(path).write_text(text + "\n", encoding="utf-8")
    return text


def load_json(path) -> ArchivedFit:
    """An ``ArchivedFit`` from a file written by ``to_json``."""
    return from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def from_dict(content: dict) -> ArchivedFit:
    """An ``ArchivedFit`` from the output of ``to_dict`` (or its JSON round trip)."""
    if content.get("format") != FORMAT:
        raise SemError("this is not a sem_engine archive (no 'format': 'sem_engine.fit' entry)")
    if content.get("format_version", 0) > FORMAT_VERSION:
        raise SemError(f"archive format version {content['format_version']} is newer than this "
                       f"sem_engine reads ({FORMAT_VERSION}); upgrade sem_engine to load it")
    return ArchivedFit(decode(content))


@dataclasses.dataclass(frozen=True)
class ArchivedFit:
    """A loaded archive: the tables of a fit, with ``Fit``'s method names, and its metadata."""

    content: dict

    @property
    def model(self) -> str:
        return self.content["model"]

    @property
    def options(self) -> dict:
        return self.content["options"]

    @property
    def version(self) -> str:
        return self.content["engine"]["version"]

    @property
    def scalars(self) -> dict:
        """converged, status, iterations, chisq, df, npar, n_free, n_eq, fmin, loglik, heywood."""
        return self.content["fit"]

    @property
    def nobs(self) -> int:
        return self.content["data"]["n_used"]

    def estimates(self) -> pd.DataFrame:
        return self._table("estimates")

    def standardized(self, kind: str = "std.all") -> pd.DataFrame:
        return self._table("standardized")[kind].copy()

    def r2(self) -> pd.Series:
        return self._table("r2")

    def fit_measures(self) -> pd.Series:
        return self._table("fit_measures")

    def validity_report(self) -> pd.DataFrame:
        return self._table("validity")

    def implied(self) -> dict:
        return {k: v.copy() for k, v in self._table("implied").items()}

    def bootstrap_estimates(self) -> pd.DataFrame:
        """The bootstrap table (est, boot_se, ci_lower, ci_upper, boot_pvalue) of every row."""
        return self._table("bootstrap")["estimates"].copy()

    def bootstrap_standardized(self) -> pd.DataFrame:
        """The bootstrap table of the completely standardized (std.all) values."""
        return self._table("bootstrap")["std_all"].copy()

    @property
    def bootstrap_info(self) -> dict:
        """n, n_failed, seed, kind, ci and level of the archived bootstrap."""
        return {k: v for k, v in self._table("bootstrap").items() if not isinstance(v, pd.DataFrame)}

    def _table(self, name: str):
        if name not in self.content:
            raise KeyError(f"this archive holds no {name!r} (it was saved without it); it holds: "
                           f"{', '.join(k for k in self.content if k not in _META)}")
        value = self.content[name]
        return value.copy() if isinstance(value, (pd.DataFrame, pd.Series)) else value

    def __repr__(self) -> str:
        s = self.scalars
        return (f"<sem_engine ArchivedFit (sem_engine {self.version}): {self.nobs} observations, "
                f"chisq = {s['chisq']:.3f} on {s['df']} df, converged = {s['converged']}>")


_META = ("format", "format_version", "engine", "created", "model", "options", "data", "fit")


# -- encoding ------------------------------------------------------------------------------------
def encode(value):
    """JSON-ready form of nested dicts, lists, DataFrames, Series, numpy and pandas scalars."""
    if isinstance(value, pd.DataFrame):
        return {"__frame__": {"columns": [str(c) for c in value.columns],
                              "dtypes": [str(t) for t in value.dtypes], **_index(value.index),
                              "data": [[_scalar(v) for v in row] for row in value.itertuples(index=False)],
                              "attrs": encode(value.attrs)}}
    if isinstance(value, pd.Series):
        return {"__series__": {"name": _scalar(value.name), "dtype": str(value.dtype), **_index(value.index),
                               "data": [_scalar(v) for v in value]}}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return _scalar(value)


def decode(value):
    """Inverse of ``encode``: DataFrames and Series back, with their dtypes."""
    if isinstance(value, dict) and "__frame__" in value:
        f = value["__frame__"]
        frame = pd.DataFrame(f["data"], columns=f["columns"], index=_make_index(f))
        frame = frame.astype(dict(zip(f["columns"], f["dtypes"])))
        frame.attrs = decode(f["attrs"])
        return frame
    if isinstance(value, dict) and "__series__" in value:
        s = value["__series__"]
        return pd.Series(s["data"], index=_make_index(s), name=s["name"]).astype(s["dtype"])
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _index(index: pd.Index) -> dict:
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return {"index": None, "index_name": None}
    return {"index": [_scalar(v) for v in index], "index_name": _scalar(index.name)}


def _make_index(stored: dict):
    if stored["index"] is None:
        return None
    return pd.Index(stored["index"], name=stored["index_name"])


def _scalar(value):
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
