"""Sample moments: a data frame or (sample_cov, sample_mean, sample_nobs) -> ``Moments(s, xbar, n)``.

Conventions (lavaan's):
- ``likelihood="normal"``: S has divisor N.  A user-supplied covariance matrix is taken to be the
  unbiased one (divisor N - 1) and rescaled by (N - 1) / N (lavaan's ``sample.cov.rescale``).
- ``likelihood="wishart"``: S has divisor N - 1; a user-supplied matrix is used as it is.
"""

from __future__ import annotations

import difflib
import warnings
from typing import NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import missing
from .errors import DataError


class Moments(NamedTuple):
    """Sample covariance ``s`` (p x p), mean ``xbar`` (p) and number of observations ``n``.

    All three are arrays so a batch of them (leading axis) can be fed through ``jax.vmap``.
    """

    s: jnp.ndarray
    xbar: jnp.ndarray
    n: jnp.ndarray
    patterns: missing.Patterns | None = None   # incomplete data (FIML): s, xbar are the EM estimates


class DataSummary(NamedTuple):
    """What the data step did: rows used and dropped, and the complete-case rows (for resampling)."""

    n_used: int
    n_total: int
    rows: np.ndarray | None


def compute(data, likelihood: str) -> Moments:
    """Moments of a complete n x p data array; divisor N ("normal") or N - 1 ("wishart"):
    ``weighted`` with every row counted once."""
    xp = np if isinstance(data, np.ndarray) else jnp
    return weighted(data, xp.ones(data.shape[0]), likelihood)


def weighted(rows: jnp.ndarray, weights: jnp.ndarray, likelihood: str) -> Moments:
    """Moments of rows taken ``weights`` times each (a bootstrap or jackknife sample given by its
    row counts): x̄ = Σ w_i x_i / N, S = Σ w_i (x_i - x̄)(x_i - x̄)ᵀ / N (N - 1 under "wishart"),
    N = Σ w_i; equal to ``compute`` of the repeated rows.  numpy arrays give numpy moments (a
    fit's data step compiles nothing), JAX arrays JAX ones (the bootstrap's traced replicates)."""
    n = weights.sum()
    xbar = weights @ rows / n
    centred = rows - xbar[None, :]
    divisor = n - 1 if likelihood == "wishart" else n
    return Moments((centred * weights[:, None]).T @ centred / divisor, xbar, n)


def from_data(df: pd.DataFrame, names: Sequence[str], likelihood: str, missing_data: str = "listwise",
              fixed_x: Sequence[str] = ()) -> tuple[Moments, DataSummary]:
    """Moments of the model's observed variables from raw data: after listwise deletion, or, with
    ``missing_data="ml"``, the EM moments plus the missing-data patterns (missing.py) of every
    row with at least one observed value and all of the fixed covariates ``fixed_x`` (rows
    missing one of those are dropped, as lavaan does under fixed.x = TRUE); with ``"ml.x"``
    of every row with at least one observed value, the covariates' moments (which their
    fixed.x parameters take) being the joint EM estimates, as lavaan's missing = "ml.x"."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    columns = list(map(str, df.columns))
    _check_names(names, columns, "the data")
    twice = [v for v in names if columns.count(v) > 1]
    if twice:
        raise DataError(f"the data have several columns named {', '.join(twice)}; rename them so each "
                        "model variable is one column")
    frame = df.loc[:, list(names)]
    values = _numeric(frame)
    if missing_data in ("ml", "ml.x"):
        x_cols = [list(names).index(v) for v in fixed_x] if missing_data == "ml" else []
        return _incomplete(values[np.all(np.isfinite(values[:, x_cols]), axis=1)], names, values.shape[0])
    complete = np.all(np.isfinite(values), axis=1)
    rows = values[complete]
    if rows.shape[0] < 2:
        raise DataError(
            f"only {rows.shape[0]} complete rows remain after listwise deletion of {values.shape[0]}"
        )
    _check_variances(rows.var(axis=0), names)
    moments = compute(rows, likelihood)
    _check_positive_definite(np.asarray(moments.s), names, rows.shape[0])
    return moments, DataSummary(int(rows.shape[0]), int(values.shape[0]), rows)


def _numeric(frame: pd.DataFrame) -> np.ndarray:
    """The columns as float64, NaN where missing (pandas nullable dtypes' NA included); complex,
    non-numeric and infinite values refused with the variables named, and values so large or so
    small that their squares leave the floating-point range."""
    complex_ = [c for c in frame.columns if pd.api.types.is_complex_dtype(frame[c])]
    if complex_:
        raise DataError(f"variables {', '.join(map(str, complex_))} are complex-valued; give real numbers")
    not_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if not_numeric:
        raise DataError(
            f"variables {', '.join(map(str, not_numeric))} are not numeric; recode them as numbers "
            "(ordered categorical estimation is not supported)"
        )
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = [c for c, bad in zip(frame.columns, np.isinf(values).any(axis=0)) if bad]
    if infinite:
        raise DataError(f"variables {', '.join(map(str, infinite))} have infinite values; replace them by "
                        "numbers or by missing values (NaN)")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # an all-missing column: NaN, checked later
        size = np.nanmax(np.abs(values), axis=0, initial=0.0)
        spread = np.nanstd(values, axis=0)
    extreme = [f"{c} (values up to {m:.1e}, standard deviation {sd:.1e})"
               for c, m, sd in zip(frame.columns, size, spread) if m > _LARGEST or 0 < sd < _SMALLEST]
    if extreme:
        raise DataError(f"variables outside the range this program computes in: {'; '.join(extreme)}; "
                        "rescale them (e.g. to thousands or millionths) before fitting")
    return values


# Data whose squares and cross products would overflow or underflow float64 (about 1e±308).
_LARGEST, _SMALLEST = 1e100, 1e-100


def _incomplete(values: np.ndarray, names: Sequence[str], n_total: int) -> tuple[Moments, DataSummary]:
    rows = missing.check_rows(values, names)
    missing.check_coverage(rows, list(names))
    _check_variances(np.nanvar(rows, axis=0), names)
    mu, sigma, _ = missing.em(rows)
    _check_positive_definite(sigma, names, rows.shape[0])
    # numpy moments, as the complete-data step's: only missing.py's kernels of its size class compile
    moments = Moments(sigma, mu, np.float64(rows.shape[0]), missing.patterns(rows, mu, sigma))
    return moments, DataSummary(int(rows.shape[0]), int(n_total), rows)


def from_cov(
    sample_cov,
    names: Sequence[str],
    sample_nobs: int,
    likelihood: str,
    sample_mean=None,
    cov_names: Sequence[str] | None = None,
) -> tuple[Moments, DataSummary]:
    """Moments from a covariance matrix (divisor N - 1) and, optionally, a mean vector."""
    cov, cov_names = _labelled_matrix(sample_cov, cov_names)
    _check_names(names, cov_names, "sample_cov")
    n = _nobs(sample_nobs)
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
        raise DataError("sample_cov is not symmetric")
    order = [cov_names.index(v) for v in names]
    s = cov[np.ix_(order, order)]
    if likelihood == "normal":
        s = s * (n - 1) / n
    _check_variances(np.diag(s), names)
    _check_positive_definite(s, names, n)
    xbar = np.zeros(len(names)) if sample_mean is None else _mean_vector(sample_mean, names, cov_names)
    return Moments(s, xbar, np.float64(n)), DataSummary(n, n, None)


def _nobs(sample_nobs) -> int:
    """sample_nobs as a whole number of at least 2 (a numpy or float whole number accepted)."""
    whole = (isinstance(sample_nobs, (int, float, np.integer, np.floating)) and not isinstance(sample_nobs, bool)
             and np.isfinite(sample_nobs) and float(sample_nobs).is_integer() and sample_nobs >= 2)
    if not whole:
        hint = (" (for a multi-group model give group= or sample_cov as a list of matrices)"
                if isinstance(sample_nobs, (list, tuple, dict, np.ndarray)) else "")
        raise DataError(f"sample_nobs must be a whole number of at least 2, not {sample_nobs!r}{hint}")
    return int(sample_nobs)


def split_groups(df: pd.DataFrame, group: str) -> tuple[tuple[str, ...], list[pd.DataFrame], int]:
    """The groups of ``df`` by its column ``group``, in order of first appearance (as lavaan),
    and the number of rows dropped for a missing group value."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    _check_names([group], list(map(str, df.columns)), "the data (group=)")
    keys = df[group]
    labels = tuple(str(k) for k in dict.fromkeys(keys.dropna()))
    if len(labels) < 2:
        raise DataError(f"the group column {group!r} has {len(labels)} value(s); a multi-group model "
                        "needs at least 2 groups")
    frames = [df[keys.astype(str) == label] for label in labels]
    return labels, frames, int(keys.isna().sum())


def _labelled_matrix(sample_cov, cov_names) -> tuple[np.ndarray, list[str]]:
    if isinstance(sample_cov, pd.DataFrame):
        if cov_names is None:
            cov_names = list(map(str, sample_cov.columns))
            if list(map(str, sample_cov.index)) not in (cov_names, list(map(str, range(len(cov_names))))):
                raise DataError("sample_cov's row names differ from its column names")
        sample_cov = sample_cov.to_numpy()
    raw = np.asarray(sample_cov)
    if raw.dtype.kind not in "biuf":
        raise DataError(f"sample_cov must hold real numbers, not values of type {raw.dtype}"
                        if raw.dtype.kind == "c" else
                        "sample_cov must hold numbers (it holds text or objects); convert it with astype(float)")
    cov = raw.astype(np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise DataError(f"sample_cov must be a square matrix, not of shape {cov.shape}")
    if cov_names is None:
        raise DataError(
            "sample_cov has no variable names: pass a DataFrame with named columns, "
            "or give the names with sample_cov_names=[...]"
        )
    cov_names = list(map(str, cov_names))
    if len(cov_names) != cov.shape[0]:
        raise DataError(f"{len(cov_names)} names given for a {cov.shape[0]} x {cov.shape[0]} sample_cov")
    if not np.all(np.isfinite(cov)):
        raise DataError("sample_cov contains missing or infinite values")
    return cov, cov_names


def _mean_vector(sample_mean, names, cov_names) -> np.ndarray:
    if isinstance(sample_mean, (pd.Series, dict)):
        mean = pd.Series(sample_mean, dtype=np.float64)
        _check_names(names, list(map(str, mean.index)), "sample_mean")
        return mean.loc[list(names)].to_numpy()
    mean = np.asarray(sample_mean, dtype=np.float64).ravel()
    if mean.shape[0] != len(cov_names):
        raise DataError(f"sample_mean has {mean.shape[0]} values for {len(cov_names)} variables")
    return mean[[cov_names.index(v) for v in names]]


def _check_names(needed: Sequence[str], available: list[str], where: str) -> None:
    missing = [v for v in needed if v not in available]
    if not missing:
        return
    hints = []
    for v in missing:
        close = difflib.get_close_matches(v, available, n=1)
        hints.append(f"{v} (did you mean {close[0]}?)" if close else v)
    raise DataError(f"model variables not found in {where}: {', '.join(hints)}")


def _check_variances(variances: np.ndarray, names: Sequence[str]) -> None:
    flat = [v for v, var in zip(names, variances) if not var > 0]
    if flat:
        raise DataError(f"variables with zero variance: {', '.join(flat)}; drop them from the model")


def _check_positive_definite(s: np.ndarray, names: Sequence[str], n: int) -> None:
    if s.size == 0:
        raise DataError("the model has no observed variables")
    with np.errstate(all="ignore"):
        r = s / np.sqrt(np.outer(np.diag(s), np.diag(s)))
    if not np.all(np.isfinite(r)):
        raise DataError("the sample covariance matrix is not finite (values too large or too small to "
                        f"compute with, N = {n}); rescale the variables")
    eigenvalues, vectors = np.linalg.eigh(r)
    if eigenvalues[0] > 1e-10:
        return
    involved = [names[i] for i in np.flatnonzero(np.abs(vectors[:, 0]) > 0.1)]
    raise DataError(
        f"the sample covariance matrix is not positive definite (N = {n}, {len(names)} variables); "
        f"variables in a linear dependency: {', '.join(involved)}"
    )
