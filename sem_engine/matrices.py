"""Parameter table -> ``Spec`` (static index maps) and the scatter x -> (Λ, Θ, Ψ, B, ν, α).

LISREL "all-y" representation, as lavaan's: η holds the latent variables followed by one phantom
("dummy") latent for every observed variable that takes part in a regression (or covaries with a
latent variable).  A dummy has loading 1 and residual variance 0 on its observed variable, so its
variances, covariances and intercept live in Ψ and α, and its regressions in B.

    Σ = Λ (I - B)⁻¹ Ψ (I - B)⁻ᵀ Λᵀ + Θ,    μ = ν + Λ (I - B)⁻¹ α          (see implied.py)

``Spec`` holds numpy index arrays and names; ``to_matrices`` is the numpy scatter.  Compiled code
never sees a Spec: structure.py turns it into arrays of a size class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .moments import Moments
from .partable import ParameterTable

NAMES = ("lam", "theta", "psi", "beta", "nu", "alpha")
SYMMETRIC = ("theta", "psi")


class Matrices(NamedTuple):
    lam: np.ndarray
    theta: np.ndarray
    psi: np.ndarray
    beta: np.ndarray
    nu: np.ndarray
    alpha: np.ndarray


class Target(NamedTuple):
    """Where every parameter-table row lives: matrix number (index into NAMES), row, column."""

    matrix: np.ndarray
    row: np.ndarray
    col: np.ndarray


@dataclass(frozen=True, eq=False)
class Spec:
    """Static structure of one model: names, base matrices and index maps."""

    ov: tuple[str, ...]
    eta: tuple[str, ...]
    n_lv: int
    meanstructure: bool
    npar: int
    base: Matrices
    target: Target
    free_rows: np.ndarray   # table rows of free parameters, ordered by their index in x
    exo_rows: np.ndarray    # table rows whose value is a sample moment (fixed.x)
    exo_moment: np.ndarray  # for each exo row: (i, j) into S, or (i, -1) into xbar
    row_base: np.ndarray    # value of every row in the base matrices (fixed values; 0 elsewhere)

    @property
    def p(self) -> int:
        return len(self.ov)

    @property
    def m(self) -> int:
        return len(self.eta)

    def values(self, x, moments: Moments) -> np.ndarray:
        """Value of every parameter-table row (``row_values``)."""
        return row_values(x, self, moments)


def build_spec(pt: ParameterTable) -> Spec:
    """Index maps of the parameter table ``pt``."""
    table = pt.table
    ov = pt.variables.ov
    dummies = _dummy_ov(table, pt.variables)
    eta = pt.variables.lv + tuple(v for v in ov if v in dummies)
    target = _targets(table, ov, eta, set(dummies))
    base = _base(table, target, ov, eta, set(dummies))
    free = table["free"].to_numpy()
    free_rows = np.argsort(free)[np.sort(free) > 0]
    exo_rows = np.flatnonzero(table["exo"].to_numpy() == 1)
    exo_moment = np.array(
        [(ov.index(table["lhs"][r]), ov.index(table["rhs"][r]) if table["op"][r] == "~~" else -1)
         for r in exo_rows],
        dtype=int,
    ).reshape(-1, 2)
    return Spec(ov, eta, len(pt.variables.lv), pt.meanstructure, len(free_rows), base, target,
                free_rows, exo_rows, exo_moment, _row_base(base, target))


def _dummy_ov(table, variables) -> list[str]:
    """Observed variables that need a phantom latent: in a regression or covarying with one."""
    lv = set(variables.lv)
    triples = list(zip(table["lhs"].tolist(), table["op"].tolist(), table["rhs"].tolist()))
    dummies = {v for lhs, op, rhs in triples if op == "~" for v in (lhs, rhs)} - lv
    covs = [(lhs, rhs) for lhs, op, rhs in triples if op == "~~" and lhs != rhs]
    changed = True
    while changed:
        changed = False
        for a, b in covs:
            for u, v in ((a, b), (b, a)):
                if u not in lv and u not in dummies and (v in lv or v in dummies):
                    dummies.add(u)
                    changed = True
    return [v for v in variables.ov if v in dummies]


def _targets(table, ov, eta, dummies) -> Target:
    codes, rows, cols = [], [], []
    for lhs, op, rhs in zip(table["lhs"], table["op"], table["rhs"]):
        if op == "=~":
            code, r, c = (("beta", eta.index(rhs), eta.index(lhs)) if rhs in eta
                          else ("lam", ov.index(rhs), eta.index(lhs)))
        elif op == "~":
            code, r, c = "beta", eta.index(lhs), eta.index(rhs)
        elif op == "~~":
            code, r, c = (("psi", eta.index(lhs), eta.index(rhs)) if lhs in eta
                          else ("theta", ov.index(lhs), ov.index(rhs)))
        elif op == "~1":
            code, r, c = ("alpha", eta.index(lhs), 0) if lhs in eta else ("nu", ov.index(lhs), 0)
        else:
            code, r, c = None, -1, -1
        codes.append(-1 if code is None else NAMES.index(code))
        rows.append(r)
        cols.append(c)
    return Target(np.array(codes), np.array(rows), np.array(cols))


def _base(table, target: Target, ov, eta, dummies) -> Matrices:
    p, m = len(ov), len(eta)
    mats = {"lam": np.zeros((p, m)), "theta": np.zeros((p, p)), "psi": np.zeros((m, m)),
            "beta": np.zeros((m, m)), "nu": np.zeros(p), "alpha": np.zeros(m)}
    for v in dummies:
        mats["lam"][ov.index(v), eta.index(v)] = 1.0
    fixed = (table["free"].to_numpy() == 0) & (table["exo"].to_numpy() == 0) & (target.matrix >= 0)
    for i in np.flatnonzero(fixed):
        _put(mats, NAMES[target.matrix[i]], target.row[i], target.col[i], table["ustart"][i])
    return Matrices(**mats)


def _put(mats, name, r, c, value) -> None:
    if name in ("nu", "alpha"):
        mats[name][r] = value
        return
    mats[name][r, c] = value
    if name in SYMMETRIC:
        mats[name][c, r] = value


def to_matrices(x, spec: Spec, moments: Moments) -> Matrices:
    """Scatter the free parameters ``x`` and the fixed.x sample moments into the model matrices
    (numpy; compiled code scatters through structure.py)."""
    values = row_values(x, spec, moments)
    rows = np.concatenate([spec.free_rows, spec.exo_rows])
    mats = {k: np.array(v) for k, v in spec.base._asdict().items()}
    for code, name in enumerate(NAMES):
        sel = rows[spec.target.matrix[rows] == code]
        r, c = spec.target.row[sel], spec.target.col[sel]
        if name in ("nu", "alpha"):
            mats[name][r] = values[sel]
            continue
        mats[name][r, c] = values[sel]
        if name in SYMMETRIC:
            mats[name][c, r] = values[sel]
    return Matrices(**mats)


def row_values(x, spec: Spec, moments: Moments) -> np.ndarray:
    """Value of every parameter-table row: free from x, exo from the sample, fixed from the base."""
    values = np.array(spec.row_base, dtype=float)
    values[spec.free_rows] = np.asarray(x, dtype=float)
    if spec.exo_rows.size:
        i, j = spec.exo_moment[:, 0], spec.exo_moment[:, 1]
        s, xbar = np.asarray(moments.s), np.asarray(moments.xbar)
        values[spec.exo_rows] = np.where(j >= 0, s[i, np.maximum(j, 0)], xbar[i])
    return values


def _row_base(base: Matrices, t: Target) -> np.ndarray:
    out = np.zeros(t.matrix.shape[0])
    for code, name in enumerate(NAMES):
        sel = np.flatnonzero(t.matrix == code)
        mat = np.asarray(getattr(base, name))
        out[sel] = mat[t.row[sel]] if name in ("nu", "alpha") else mat[t.row[sel], t.col[sel]]
    return out
