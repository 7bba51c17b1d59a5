"""Rebuild the CFA-implied item correlation matrix from the thesis's standardized CFA solution.

The raw data of Sharimova (2020) were not published, but the standardized CFA solution was:
standardized loadings λ_i, factor correlations Φ and the correlations r_ij of two pairs of
residuals.  Under the CFA the item correlation matrix is

    R = Λ Φ Λᵀ + Θ,   θ_ii = 1 - λ_i²,   θ_ij = r_ij √(θ_ii θ_jj),

where Λ has one standardized loading per row (items load on one factor only).  The published
residual correlations are correlations *of the residuals*, hence the conversion to covariances
θ_ij.  R has a unit diagonal by construction, and the CFA in ``cfa.lav`` fits it exactly
(chi-square 0 on 69 df).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE / "published_estimates.json"
MODELS = ("cfa", "original", "revised")


def load_published(path: Path = PUBLISHED) -> dict:
    """Every number the thesis printed, with table references and known misprints."""
    return json.loads(Path(path).read_text())


def load_model(name: str) -> str:
    """lavaan syntax of one of the three thesis models: "cfa", "original" or "revised"."""
    if name not in MODELS:
        raise ValueError(f"unknown thesis model {name!r}; choose one of {', '.join(MODELS)}")
    return (HERE / f"{name}.lav").read_text()


def item_names(published: dict) -> list[str]:
    """Items in factor order (KSHSE1-5, NPC1-3, KR1-3, KSH1-3)."""
    return [item for items in published["items"].values() for item in items]


def implied_correlation(published: dict) -> pd.DataFrame:
    """R = Λ Φ Λᵀ + Θ from the published standardized CFA (module docstring)."""
    cfa = published["cfa"]
    factors = list(published["items"])
    items = item_names(published)
    lam = np.zeros((len(items), len(factors)))
    for j, factor in enumerate(factors):
        for item in published["items"][factor]:
            lam[items.index(item), j] = cfa["std_loadings"][item]
    phi = np.eye(len(factors))
    for pair, r in cfa["latent_correlations"].items():
        a, b = (factors.index(f) for f in pair.split("~~"))
        phi[a, b] = phi[b, a] = r
    theta = np.diag(1.0 - np.sum(lam**2, axis=1))
    for pair, r in cfa["residual_correlations"].items():
        a, b = (items.index(v) for v in pair.split("~~"))
        theta[a, b] = theta[b, a] = r * np.sqrt(theta[a, a] * theta[b, b])
    r_matrix = lam @ phi @ lam.T + theta
    r_matrix = (r_matrix + r_matrix.T) / 2  # the product is symmetric only up to rounding
    return pd.DataFrame(r_matrix, index=items, columns=items)
