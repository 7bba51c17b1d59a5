"""Direct, indirect and total effects among the structural variables (AMOS's decomposition).

Over the η variables (latent variables and the observed variables that take part in
regressions), with B_s the structural part of B (regressions; loadings of latent variables on
η variables, ``=~`` rows, are measurement and are left out):

    total = (I - B_s)⁻¹ - I,    direct = B_s,    indirect = total - direct

(Bollen 1987; Fox 1980; AMOS's "Total / Direct / Indirect Effects").  Entry [i, j] is the
effect of j (``rhs``) on i (``lhs``).  The table lists each pair joined by a directed path:
"total" for every such pair, "direct" where B_s has a path j -> i, "indirect" where a path of
length two or more exists.

Standardized effects multiply entry [i, j] by sd_j / sd_i, with the model-implied standard
deviations of η: "std.all" scales every variable, "std.lv" only latent variables (observed ones
keep their units), "std.nox" all but the exogenous observed covariates.  With D the diagonal of
those scales (1 for a variable the kind leaves alone), D⁻¹ (I - B_s)⁻¹ D = (I - D⁻¹ B_s D)⁻¹, so
the standardized effects are the decomposition above of the *standardized* B_s, whose entries
are the standardized values of the ``~`` rows (standardize.py, the one definition of the
standardization rules): a standardized direct effect is the standardized regression
coefficient of the same kind.

Nothing here is compiled per model (DESIGN.md, "Compilation").  B_s and its Jacobian in x come
from the row values: raw, in numpy (a free row's value is its x, a fixed one's constant);
standardized, from standardize.py's kernel of the fit's size class.  The effects are closed-form
numpy: with T = (I - B_s)⁻¹, dT = T dB_s T, so

    ∂ total_ij / ∂x = Σ_r T[i, a_r] T[b_r, j] ∂v_r / ∂x

over the ``~`` rows r in cell (a_r, b_r), and the standard errors are the delta method,
J vcov(x) Jᵀ.  With ``bootstrap=`` (a ``Bootstrap`` of the same fit) the same numpy function
maps each replicate's row values (the bootstrap's raw or standardized distribution) to its
effects, for bootstrap SEs, intervals and p-values (intervals.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from . import inference, standardize
from .errors import ModelError
from .matrices import NAMES

KINDS = ("raw", "std.all", "std.lv", "std.nox")
EFFECTS = ("total", "direct", "indirect")


def effects(fit, kind: str = "raw", bootstrap=None, ci: str | None = None, level: float | None = None
            ) -> pd.DataFrame:
    """Total, direct and indirect effects with delta-method SE, z, p and Wald interval.

    Columns: ``effect lhs rhs est se z pvalue ci_lower ci_upper`` (``lhs`` the outcome, ``rhs``
    the cause; Wald intervals at the fit's ``level``); with ``bootstrap=`` also ``boot_se
    boot_ci_lower boot_ci_upper boot_pvalue`` (interval ``ci`` at ``level``, by default the
    bootstrap's own).
    """
    if kind not in KINDS:
        raise ModelError(f"kind={kind!r} is not supported; choose one of {', '.join(map(repr, KINDS))}")
    paths = _paths(fit)
    values, jac = _row_values(fit, kind)
    est, d_est = effect_values(paths, values, jac)
    variances = np.einsum("kj,jl,kl->k", d_est, fit.vcov_x, d_est)
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.maximum(variances, 0))
    out = pd.concat([structural_paths(fit),
                     pd.DataFrame({"est": est, **inference.wald(est, se, fit.options.level)._asdict()})], axis=1)
    out.loc[~(se > 0), ["z", "pvalue"]] = np.nan
    if bootstrap is not None:
        if bootstrap.fit is not fit:
            raise ModelError("bootstrap= must be a bootstrap of this fit (fit.bootstrap(...))")
        dist = _row_distribution(bootstrap, kind, ci)
        dist = dist._replace(est=effect_values(paths, dist.est)[0], draws=effect_values(paths, dist.draws)[0],
                             jack=None if dist.jack is None else effect_values(paths, dist.jack)[0])
        s = bootstrap.summarize(dist, ci, level)
        out = out.assign(boot_se=s.boot_se, boot_ci_lower=s.ci_lower, boot_ci_upper=s.ci_upper,
                         boot_pvalue=s.pvalue)
    return out


class Paths(NamedTuple):
    """Where the effects of a model come from and which of them the table lists.

    ``rows``: the table rows of B_s (``~`` rows with a free or non-zero value), in cells
    (``a``, ``b``) of the m x m matrix; ``pick``: for "total", "direct" and "indirect" the
    (outcome, cause) pairs listed, in the table's order."""

    m: int
    rows: np.ndarray
    a: np.ndarray
    b: np.ndarray
    pick: tuple[tuple[np.ndarray, np.ndarray], ...]


def effect_values(paths: Paths, values: np.ndarray, jac: np.ndarray | None = None):
    """The effects of ``structural_paths`` (total, direct, indirect) from the value of every
    table row (numpy; ``values`` may carry leading batch axes), and with ``jac`` (rows x npar:
    ∂ row values / ∂x) their Jacobian in x (module docstring)."""
    values = np.asarray(values, dtype=float)
    batch = values.shape[:-1]
    m = paths.m
    b_s = np.zeros(batch + (m, m))
    b_s[..., paths.a, paths.b] = values[..., paths.rows]
    t = np.linalg.inv(np.eye(m) - b_s)
    total = t - np.eye(m)
    est = np.concatenate([v[..., i, j] for v, (i, j) in zip((total, b_s, total - b_s), paths.pick)], axis=-1)
    if jac is None:
        return est, None
    d_rows = np.asarray(jac)[paths.rows]                                   # (cells, npar)

    def d_b(i, j):      # ∂ B_s[i, j] / ∂x
        return ((paths.a[None, :] == i[:, None]) & (paths.b[None, :] == j[:, None])) @ d_rows

    def d_t(i, j):      # ∂ T[i, j] / ∂x = Σ_r T[i, a_r] T[b_r, j] ∂v_r / ∂x
        return (t[i][:, paths.a] * t[paths.b][:, j].T) @ d_rows

    (ti, tj), (di, dj), (ii, ij) = paths.pick
    return est, np.concatenate([d_t(ti, tj), d_b(di, dj), d_t(ii, ij) - d_b(ii, ij)])


def structural_paths(fit) -> pd.DataFrame:
    """The (effect, lhs, rhs) rows of the table, in the order ``effect_values`` returns them."""
    eta = fit.spec.eta
    rows = [(name, eta[a], eta[b]) for name, (i, j) in zip(EFFECTS, _paths(fit).pick) for a, b in zip(i, j)]
    return pd.DataFrame(rows, columns=["effect", "lhs", "rhs"])


def _paths(fit) -> Paths:
    spec, table = fit.spec, fit.partable.table
    t = spec.target
    nonzero = (table["free"].to_numpy() > 0) | (spec.row_base != 0)
    structural = (t.matrix == NAMES.index("beta")) & nonzero & (table["op"].to_numpy() == "~")
    rows = np.flatnonzero(structural)
    m = spec.m
    direct = np.zeros((m, m), dtype=bool)
    direct[t.row[rows], t.col[rows]] = True
    if not direct.any():
        raise ModelError("the model has no regressions (~) among its variables, so there are no "
                         "direct, indirect or total effects to decompose")
    longer = np.zeros_like(direct)
    step = direct
    for _ in range(m - 1):
        step = (step.astype(int) @ direct.astype(int)) > 0
        longer |= step
    pick = tuple(_pairs(p) for p in (direct | longer, direct, longer))
    return Paths(m, rows, t.row[rows], t.col[rows], pick)


def _pairs(pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(outcome, cause) index pairs of a pattern, ordered by cause, then outcome."""
    j, i = np.nonzero(pattern.T)
    return i, j


def _row_values(fit, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The value of every table row under ``kind`` and its Jacobian in x (rows x npar).

    Raw: the row values, and a free row's derivative e_k (fixed rows and fixed.x sample moments
    do not move with x).  Standardized: ``standardize.rows_and_jacobian``, the values and
    Jacobian that the standardized solution's SEs also use."""
    if kind != "raw":
        est, jac = standardize.rows_and_jacobian(fit)
        k = standardize.KINDS.index(kind)
        return est[k], jac[k]
    free = fit.partable.table["free"].to_numpy()
    jac = np.zeros((len(free), fit.spec.npar))
    jac[np.flatnonzero(free > 0), free[free > 0] - 1] = 1.0
    return np.asarray(fit.row_values, dtype=float), jac


def _row_distribution(bootstrap, kind: str, ci: str | None):
    """The bootstrap distribution (est, draws, jack) of every table row's value under ``kind``.

    What effects uses of a ``Bootstrap``: its ``_statistic_distribution(what, ci)`` (kept per
    kind, jackknife values added when the interval is BCa), whose columns are the free
    parameters x ("raw") or every row's standardized value ("std.*"), each followed by the
    ``:=`` parameters; and ``summarize``."""
    dist = bootstrap._statistic_distribution(kind, ci)
    fit = bootstrap.fit
    n_rows = len(fit.partable.table)
    if kind != "raw":
        return dist._replace(est=dist.est[:n_rows], draws=dist.draws[:, :n_rows],
                             jack=None if dist.jack is None else dist.jack[:, :n_rows])
    free = fit.partable.table["free"].to_numpy()
    on = np.flatnonzero(free > 0)

    def rows(x):
        out = np.broadcast_to(np.asarray(fit.row_values, dtype=float), x.shape[:-1] + (n_rows,)).copy()
        out[..., on] = x[..., free[on] - 1]
        return out

    return dist._replace(est=rows(dist.est), draws=rows(dist.draws),
                         jack=None if dist.jack is None else rows(dist.jack))
