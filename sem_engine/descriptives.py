"""Statistics of the data alone, before a model: sampling adequacy (KMO), Bartlett's test of
sphericity, item distributions with Mardia's multivariate tests, and coefficient alpha.

Each statistic is a small numpy function of a data or correlation matrix; the public functions
take a DataFrame (or ``sample_cov=``), drop rows with missing values (listwise, with a
``DataWarning``; ``describe`` summarises each item over its own non-missing values) and return
pandas objects.  The formulas and conventions are those of the R package psych (Revelle), whose
output for Holzinger & Swineford's x1-x9 is in tests/reference/validity/.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import distributions
from .errors import DataError, DataWarning

ALPHA_COLUMNS = ["raw_alpha", "std_alpha", "g6_smc", "average_r", "s_n", "ase", "mean", "sd", "median_r"]
DESCRIBE_COLUMNS = ["n", "mean", "sd", "median", "trimmed", "mad", "min", "max", "range", "skew",
                    "kurtosis", "se"]
# Kaiser & Rice (1974), "Little Jiffy, Mark IV", Educational and Psychological Measurement 34.
_KMO_LABELS = ((0.9, "marvelous"), (0.8, "meritorious"), (0.7, "middling"), (0.6, "mediocre"),
               (0.5, "miserable"), (-np.inf, "unacceptable"))


# -- formulas ------------------------------------------------------------------------------------
def alpha_from_sums(k, trace, total):
    """Coefficient alpha of k items from the trace and the sum of all elements of their covariance
    matrix C:  α = k / (k - 1) · (1 - tr C / 1ᵀC1)   (Cronbach 1951; Guttman's λ3).

    Plain arithmetic, so it takes numpy or JAX arrays.
    """
    return k / (k - 1) * (1 - trace / total)


def msa(r: np.ndarray) -> tuple[float, np.ndarray]:
    """Kaiser–Meyer–Olkin measure of sampling adequacy of a correlation matrix R, and per item.

    With Q = R⁻¹ and the partial (anti-image) correlations a_ij = -q_ij / sqrt(q_ii q_jj):
        KMO   = Σ_{i≠j} r_ij² / (Σ_{i≠j} r_ij² + Σ_{i≠j} a_ij²)
        MSA_j = Σ_{i≠j} r_ij² / (Σ_{i≠j} r_ij² + Σ_{i≠j} a_ij²)   (column j only)
    Kaiser (1970), Psychometrika 35; Kaiser & Rice (1974).  psych::KMO.
    """
    q = np.linalg.inv(r)
    d = 1 / np.sqrt(np.diag(q))
    a2 = (q * d[:, None] * d[None, :]) ** 2
    r2 = r ** 2
    np.fill_diagonal(a2, 0)
    np.fill_diagonal(r2, 0)
    return float(r2.sum() / (r2.sum() + a2.sum())), r2.sum(0) / (r2.sum(0) + a2.sum(0))


def bartlett_statistic(r: np.ndarray, n: int) -> tuple[float, int, float]:
    """Bartlett's (1951) test that the population correlation matrix is the identity.

        χ² = -(n - 1 - (2p + 5) / 6) · ln|R|,   df = p (p - 1) / 2.
    psych::cortest.bartlett.  Returns (χ², df, p-value).
    """
    p = r.shape[0]
    sign, logdet = np.linalg.slogdet(r)
    if sign <= 0:
        raise DataError("the correlation matrix is singular: Bartlett's test is not defined")
    chisq = -logdet * (n - 1 - (2 * p + 5) / 6)
    df = p * (p - 1) // 2
    return float(chisq), df, float(distributions.chi2_sf(chisq, df))


def skew_kurtosis(x: np.ndarray, type: int = 3) -> tuple[float, float]:
    """Skewness and excess kurtosis of one sample x (no missing values), psych's three types.

    With m_r = Σ(x - x̄)^r / n,  g1 = m3 / m2^1.5,  g2 = m4 / m2² - 3  (Joanes & Gill 1998):
        type 1: g1, g2                                       (moment estimators)
        type 2: G1 = g1 sqrt(n (n-1)) / (n-2),
                G2 = (n-1) / ((n-2)(n-3)) · ((n+1) g2 + 6)    (SAS, SPSS, Excel)
        type 3: b1 = g1 ((n-1)/n)^1.5,  b2 = (g2+3)(1-1/n)² - 3   (MINITAB, BMDP; psych's default)
    """
    n = x.shape[0]
    c = x - x.mean()
    m2, m3, m4 = (np.mean(c ** k) for k in (2, 3, 4))
    g1, g2 = m3 / m2 ** 1.5, m4 / m2 ** 2 - 3
    if type == 1:
        return g1, g2
    if type == 2:
        return g1 * np.sqrt(n * (n - 1)) / (n - 2), (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6)
    if type == 3:
        return g1 * ((n - 1) / n) ** 1.5, (g2 + 3) * (1 - 1 / n) ** 2 - 3
    raise ValueError(f"type must be 1, 2 or 3, not {type!r}")


def mahalanobis_d2(x: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of every row from the mean, (x_i - x̄)ᵀ S⁻¹ (x_i - x̄), with S the
    covariance matrix of divisor n - 1 (psych::mardia's ``d`` is its square root)."""
    c = x - x.mean(axis=0)[None, :]
    s = c.T @ c / (x.shape[0] - 1)
    return np.einsum("ij,ij->i", c, np.linalg.solve(s, c.T).T)


def mardia_statistics(x: np.ndarray) -> dict:
    """Mardia's (1970, Biometrika 57) multivariate skewness and kurtosis with their tests.

    D = C S⁻¹ Cᵀ for the centred data C (n x p) and S of divisor n - 1 (as psych::mardia; Mardia
    uses divisor n):
        b1p = Σ_ij D_ij³ / n²,   skew = n b1p / 6 ~ χ²(p (p+1)(p+2) / 6),
        small_skew = n k b1p / 6 with k = (p+1)(n+1)(n+3) / (n ((n+1)(p+1) - 6))  (small samples),
        b2p = Σ_i D_ii² / n,     kurtosis = (b2p - p (p+2)) / sqrt(8 p (p+2) / n) ~ N(0, 1), two-sided.
    """
    n, p = x.shape
    c = x - x.mean(axis=0)[None, :]
    d = c @ np.linalg.solve(c.T @ c / (n - 1), c.T)
    b1p = float(np.sum(d ** 3) / n ** 2)
    b2p = float(np.sum(np.diag(d) ** 2) / n)
    df = p * (p + 1) * (p + 2) / 6
    k = (p + 1) * (n + 1) * (n + 3) / (n * ((n + 1) * (p + 1) - 6))
    skew, small = n * b1p / 6, n * k * b1p / 6
    kurt = (b2p - p * (p + 2)) * np.sqrt(n / (8 * p * (p + 2)))
    return {"n_obs": n, "n_var": p, "b1p": b1p, "b2p": b2p, "skew": skew, "df_skew": df,
            "p_skew": distributions.chi2_sf(skew, df), "small_skew": small, "p_small": distributions.chi2_sf(small, df),
            "kurtosis": kurt, "p_kurt": 2 * distributions.norm_sf(abs(kurt))}


def alpha_statistics(x: np.ndarray) -> dict:
    """Coefficient alpha and its companions for the items (columns) of x, as psych::alpha's $total.

    With C the item covariance matrix, R the correlation matrix, k items, r̄ the mean off-diagonal
    correlation and smc_j = 1 - 1/(R⁻¹)_jj:
        raw_alpha = α(C) (``alpha_from_sums``),  std_alpha = α(R),
        g6_smc = 1 - (k - Σ smc) / 1ᵀR1          (Guttman's λ6),
        s_n = k r̄ / (1 - r̄)                      (signal/noise),
        ase = sqrt(Q / n),  Q = 2k² / ((k-1)² (1ᵀC1)³) · [1ᵀC1 (tr C² + (tr C)²) - 2 tr C · 1ᵀC²1]
              (asymptotic SE; van Zyl, Neudecker & Nel 2000, Duhachek & Iacobucci 2004),
        mean, sd: of the item mean per row;  median_r: median off-diagonal correlation.
    """
    n, k = x.shape
    c = np.cov(x, rowvar=False)
    r = np.corrcoef(x, rowvar=False)
    off = r[np.tril_indices(k, -1)]
    av_r = off.mean()
    total, trace = c.sum(), np.trace(c)
    q = 2 * k ** 2 / ((k - 1) ** 2 * total ** 3) * (total * (np.trace(c @ c) + trace ** 2)
                                                    - 2 * trace * (c @ c).sum())
    score = x.mean(axis=1)
    return {"raw_alpha": alpha_from_sums(k, trace, total), "std_alpha": alpha_from_sums(k, k, r.sum()),
            "g6_smc": 1 - (k - np.sum(1 - 1 / np.diag(np.linalg.inv(r)))) / r.sum(),
            "average_r": av_r, "s_n": k * av_r / (1 - av_r), "ase": np.sqrt(q / n),
            "mean": score.mean(), "sd": score.std(ddof=1), "median_r": np.median(off)}


# -- results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KMO:
    """Kaiser–Meyer–Olkin measure: ``overall`` and ``items`` (MSA per variable)."""

    overall: float
    items: pd.Series

    @property
    def label(self) -> str:
        """Kaiser & Rice's (1974) verbal grade of the overall value."""
        return next(text for bound, text in _KMO_LABELS if self.overall >= bound)

    def __str__(self) -> str:
        return (f"Kaiser-Meyer-Olkin measure of sampling adequacy: {self.overall:.3f} ({self.label})\n"
                f"per item:\n{self.items.round(3).to_string()}")


@dataclass(frozen=True)
class Bartlett:
    """Bartlett's test of sphericity."""

    chisq: float
    df: int
    pvalue: float
    n: int

    def __str__(self) -> str:
        return (f"Bartlett's test of sphericity: chisq = {self.chisq:.3f}, df = {self.df}, "
                f"p = {self.pvalue:.3g} (N = {self.n})")


@dataclass(frozen=True)
class Description:
    """Per-item statistics (``items``) and Mardia's multivariate tests (``mardia``)."""

    items: pd.DataFrame
    mardia: pd.Series
    type: int

    def __str__(self) -> str:
        m = self.mardia
        return (f"{self.items.round(3).to_string()}\n(skew and kurtosis: type {self.type}; kurtosis is "
                f"excess kurtosis)\n\nMardia's multivariate normality tests "
                f"(N = {int(m['n_obs'])}, {int(m['n_var'])} variables):\n"
                f"  skewness b1p = {m['b1p']:.3f}, chisq = {m['skew']:.3f}, df = {int(m['df_skew'])}, "
                f"p = {m['p_skew']:.3g} (small-sample corrected: p = {m['p_small']:.3g})\n"
                f"  kurtosis b2p = {m['b2p']:.3f}, z = {m['kurtosis']:.3f}, p = {m['p_kurt']:.3g}")


# -- public functions ----------------------------------------------------------------------------
def kmo(data: pd.DataFrame | None = None, *, sample_cov=None) -> KMO:
    """KMO measure of sampling adequacy, overall and per item (psych::KMO), of the columns of
    ``data`` or of a covariance or correlation matrix ``sample_cov`` (DataFrame with names)."""
    r, names, _ = _correlation(data, sample_cov)
    overall, items = msa(r)
    return KMO(overall, pd.Series(items, index=pd.Index(names, name="variable"), name="msa"))


def bartlett(data: pd.DataFrame | None = None, *, sample_cov=None, sample_nobs: int | None = None) -> Bartlett:
    """Bartlett's test of sphericity (psych::cortest.bartlett) of the columns of ``data``, or of a
    covariance or correlation matrix ``sample_cov`` from ``sample_nobs`` observations."""
    r, _, n = _correlation(data, sample_cov)
    if n is None:
        if sample_nobs is None or int(sample_nobs) != sample_nobs or sample_nobs < 2:
            raise DataError(f"give sample_nobs= (a whole number of at least 2) with sample_cov=, "
                            f"not {sample_nobs!r}")
        n = int(sample_nobs)
    chisq, df, pvalue = bartlett_statistic(r, n)
    return Bartlett(chisq, df, pvalue, n)


def describe(data: pd.DataFrame, type: int = 3) -> Description:
    """n, mean, sd, median, 10 % trimmed mean, mad (x 1.4826), min, max, range, skew, excess kurtosis
    and standard error of the mean per column (as psych::describe; ``type`` picks the skew and
    kurtosis estimator, see ``skew_kurtosis``: 3 is psych's default, 2 gives SPSS's and SAS's
    values), and Mardia's multivariate tests on the complete rows (``mardia``)."""
    frame = _numeric(data)
    rows = {name: _item(frame[name].to_numpy(dtype=np.float64), type) for name in frame.columns}
    items = pd.DataFrame.from_dict(rows, orient="index", columns=DESCRIBE_COLUMNS)
    items.index.name = "variable"
    return Description(items, mardia(frame), type)


def mardia(data: pd.DataFrame) -> pd.Series:
    """Mardia's multivariate skewness and kurtosis with their tests (``mardia_statistics``)."""
    x, _ = complete_rows(data)
    if x.shape[0] <= x.shape[1] + 1:
        raise DataError(f"Mardia's tests need more rows ({x.shape[0]}) than variables + 1 ({x.shape[1] + 1})")
    return pd.Series(mardia_statistics(x), name="mardia")


def mahalanobis(data: pd.DataFrame) -> pd.Series:
    """Squared Mahalanobis distance of every complete row (``mahalanobis_d2``), indexed like
    ``data``; compare with a χ²(p) quantile to screen for multivariate outliers."""
    frame = _numeric(data)
    keep = frame.notna().all(axis=1).to_numpy()
    x, _ = complete_rows(frame)
    return pd.Series(mahalanobis_d2(x), index=frame.index[keep], name="d2")


def cronbach_alpha(data: pd.DataFrame) -> pd.Series:
    """Coefficient alpha of the columns of ``data`` as one scale (``alpha_statistics``; the
    values of psych::alpha's ``$total``).  Reverse-code negatively worded items first."""
    x, _ = complete_rows(data)
    if x.shape[1] < 2:
        raise DataError("coefficient alpha needs at least two items")
    return pd.Series(alpha_statistics(x), name="alpha")[ALPHA_COLUMNS]


# -- data handling -------------------------------------------------------------------------------
def _numeric(data) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    bad = [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise DataError(f"columns {', '.join(map(str, bad))} are not numeric; select the item columns")
    if data.shape[1] == 0:
        raise DataError("data has no columns")
    return data


def complete_rows(data) -> tuple[np.ndarray, list[str]]:
    """Rows of a numeric DataFrame without missing values (listwise deletion, with a DataWarning),
    as a float array, and the column names."""
    frame = _numeric(data)
    values = frame.to_numpy(dtype=np.float64)
    keep = np.all(np.isfinite(values), axis=1)
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} of {len(keep)} rows have missing values and were dropped "
                      "(listwise deletion)", DataWarning, stacklevel=3)
    x = values[keep]
    if x.shape[0] < 3:
        raise DataError(f"only {x.shape[0]} complete rows: too few for these statistics")
    flat = [str(c) for c, v in zip(frame.columns, x.var(axis=0)) if not v > 0]
    if flat:
        raise DataError(f"columns with zero variance: {', '.join(flat)}; drop them")
    return x, list(map(str, frame.columns))


def _correlation(data, sample_cov) -> tuple[np.ndarray, list[str], int | None]:
    """Correlation matrix, names and N (None for a matrix input) from data or sample_cov."""
    if (data is None) == (sample_cov is None):
        raise DataError("give either data= (raw data) or sample_cov= (a covariance or correlation matrix)")
    if data is not None:
        x, names = complete_rows(data)
        r, n = np.corrcoef(x, rowvar=False), x.shape[0]
    else:
        if not isinstance(sample_cov, pd.DataFrame):
            raise DataError("sample_cov must be a DataFrame with the variable names as columns")
        cov, names, n = sample_cov.to_numpy(dtype=np.float64), list(map(str, sample_cov.columns)), None
        if cov.shape[0] != cov.shape[1] or not np.allclose(cov, cov.T):
            raise DataError(f"sample_cov must be a symmetric square matrix, not of shape {cov.shape}")
        sd = np.sqrt(np.diag(cov))
        if not np.all(sd > 0):
            raise DataError("sample_cov has zero or negative variances")
        r = cov / sd[:, None] / sd[None, :]
    if np.linalg.eigvalsh(r)[0] <= 1e-10:
        raise DataError("the correlation matrix is singular (a linear dependency among the variables): "
                        "KMO and Bartlett's test need its inverse; drop a redundant variable")
    return r, names, n


def _item(x: np.ndarray, type: int) -> list:
    x = x[np.isfinite(x)]
    n = x.shape[0]
    if n < 4:
        return [n] + [np.nan] * (len(DESCRIBE_COLUMNS) - 1)
    skew, kurt = skew_kurtosis(x, type)
    cut = int(np.floor(n * 0.1))
    trimmed = np.sort(x)[cut:n - cut].mean()
    med = np.median(x)
    sd = x.std(ddof=1)
    return [n, x.mean(), sd, med, trimmed, 1.4826 * np.median(np.abs(x - med)), x.min(), x.max(),
            x.max() - x.min(), skew, kurt, sd / np.sqrt(n)]
