"""A synthetic raw data set whose sample correlation matrix is exactly the CFA-implied one.

Exact-moment simulation: draw an N x p standard normal matrix Z, centre its columns, whiten it
exactly (W = Z_c L_z⁻ᵀ with L_z L_zᵀ = Z_cᵀ Z_c / (N - 1), so W has sample covariance I), then
colour it with the Cholesky factor L of the target R (X = W Lᵀ, sample covariance L I Lᵀ = R).
Every column has mean 0 and standard deviation 1 (divisor N - 1): the thesis published neither
item means nor item standard deviations, and standardized items leave every standardized
estimate unchanged.  The rows are normal, unlike the thesis's 1-5 and 1-3 Likert items, so the
bootstrap distribution is the normal-theory one.

    python examples/thesis/synthetic.py     # rewrites thesis_synthetic.csv (same seed, same file)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reconstruct import HERE, implied_correlation, load_published

CSV = HERE / "thesis_synthetic.csv"
SEED = 20200391


def exact_moment_sample(target: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n x p normal rows with column means exactly 0 and sample covariance (divisor n - 1) = target."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, target.shape[0]))
    z = z - z.mean(axis=0)[None, :]
    l_z = np.linalg.cholesky(z.T @ z / (n - 1))
    white = np.linalg.solve(l_z, z.T).T
    return white @ np.linalg.cholesky(target).T


def synthetic_data(published: dict, seed: int = SEED) -> pd.DataFrame:
    """N = 391 rows with exactly the CFA-implied item correlations (module docstring)."""
    target = implied_correlation(published)
    rows = exact_moment_sample(target.to_numpy(), published["n"], seed)
    return pd.DataFrame(rows, columns=target.columns)


def load_synthetic(path: Path = CSV) -> pd.DataFrame:
    """The shipped synthetic data set."""
    return pd.read_csv(path)


if __name__ == "__main__":
    synthetic_data(load_published()).to_csv(CSV, index=False, float_format="%.17g")
    print(f"wrote {CSV}")
