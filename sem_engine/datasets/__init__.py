"""Classic data sets shipped with sem_engine (provenance in datasets/README.md)."""

from __future__ import annotations

from importlib import resources

import pandas as pd


def _load(name: str) -> pd.DataFrame:
    with resources.files(__name__).joinpath(f"{name}.csv").open("r") as handle:
        return pd.read_csv(handle)


def holzinger_swineford_1939() -> pd.DataFrame:
    """Holzinger & Swineford (1939) mental ability scores of 301 pupils, as lavaan ships them."""
    return _load("holzinger_swineford_1939")


def political_democracy() -> pd.DataFrame:
    """Bollen's (1989) industrialization and political democracy data, 75 countries."""
    return _load("political_democracy")
