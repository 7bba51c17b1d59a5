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
deviations of η (diagonal of (I - B)⁻¹ Ψ (I - B)⁻ᵀ): "std.all" scales every variable, "std.lv"
only latent variables (observed ones keep their units), "std.nox" all but the exogenous
observed covariates; so a standardized direct effect equals the standardized regression
coefficient of the same kind.

Standard errors: delta method, J vcov(x) Jᵀ with J the JAX Jacobian of the (pure) effect
function of x.  With ``bootstrap=`` (a ``Bootstrap`` of the same fit), the same function is
evaluated at every replicate for bootstrap SEs, intervals and p-values (intervals.py).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import implied, inference
from .errors import ModelError
from .matrices import NAMES, to_matrices

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
    paths = structural_paths(fit)
    func = effect_function(fit, kind)
    x = jnp.asarray(fit.x)
    est = np.asarray(jax.jit(func)(x, fit.moments))
    se = np.sqrt(np.maximum(np.diag(inference.delta_vcov(func, x, fit.moments, fit.vcov_x)), 0))
    out = pd.concat([paths, pd.DataFrame({"est": est, **inference.wald(est, se, fit.options.level)._asdict()})],
                    axis=1)
    out.loc[~(se > 0), ["z", "pvalue"]] = np.nan
    if bootstrap is not None:
        if bootstrap.fit is not fit:
            raise ModelError("bootstrap= must be a bootstrap of this fit (fit.bootstrap(...))")
        dist = bootstrap.distribution(func, jackknife=(bootstrap.ci if ci is None else ci) == "bca")
        s = bootstrap.summarize(dist, ci, level)
        out = out.assign(boot_se=s.boot_se, boot_ci_lower=s.ci_lower, boot_ci_upper=s.ci_upper,
                         boot_pvalue=s.pvalue)
    return out


def structural_paths(fit) -> pd.DataFrame:
    """The (effect, lhs, rhs) rows of the table, in the order ``effect_function`` returns them."""
    direct, indirect, total = _patterns(fit)
    eta = fit.spec.eta
    rows = []
    for name, pattern in zip(EFFECTS, (total, direct, indirect)):
        i, j = _pairs(pattern)
        rows += [(name, eta[a], eta[b]) for a, b in zip(i, j)]
    return pd.DataFrame(rows, columns=["effect", "lhs", "rhs"])


_FUNCTIONS: dict = {}


def effect_function(fit, kind: str = "raw") -> Callable:
    """Pure ``func(x, moments)``: the effects of ``structural_paths(fit)``, in that order.

    One function per (engine, model text, kind), so refits and bootstraps of the same model
    reuse its compiled evaluation.
    """
    key = (fit.engine, fit.model, kind)
    if key not in _FUNCTIONS:
        _FUNCTIONS[key] = _make_effect_function(fit, kind)
    return _FUNCTIONS[key]


def _make_effect_function(fit, kind: str) -> Callable:
    spec = fit.spec
    direct, indirect, total = _patterns(fit)
    picks = [_pairs(p) for p in (total, direct, indirect)]
    mr, mc = _measurement_cells(fit)
    scaled = _scaled_variables(fit, kind)

    def func(x, moments):
        mats = to_matrices(x, spec, moments)
        b = mats.beta.at[mr, mc].set(0.0)
        t = implied.total(mats._replace(beta=b)) - jnp.eye(b.shape[0])
        if scaled.any():
            sd = jnp.where(scaled, jnp.sqrt(jnp.diagonal(implied.eta_cov(mats))), 1.0)
            scale = sd[None, :] / sd[:, None]
            t, b = t * scale, b * scale
        values = (t, b, t - b)
        return jnp.concatenate([v[i, j] for v, (i, j) in zip(values, picks)])

    return func


def _patterns(fit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean m x m patterns of direct paths, paths of length >= 2, and any path (j -> i)."""
    spec, table = fit.spec, fit.partable.table
    t = spec.target
    is_beta = t.matrix == NAMES.index("beta")
    nonzero = (table["free"].to_numpy() > 0) | (spec.row_base != 0)
    structural = is_beta & nonzero & (table["op"].to_numpy() == "~")
    m = spec.m
    direct = np.zeros((m, m), dtype=bool)
    direct[t.row[structural], t.col[structural]] = True
    if not direct.any():
        raise ModelError("the model has no regressions (~) among its variables, so there are no "
                         "direct, indirect or total effects to decompose")
    longer = np.zeros_like(direct)
    step = direct
    for _ in range(m - 1):
        step = (step.astype(int) @ direct.astype(int)) > 0
        longer |= step
    return direct, longer, direct | longer


def _pairs(pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(outcome, cause) index pairs of a pattern, ordered by cause, then outcome."""
    j, i = np.nonzero(pattern.T)
    return i, j


def _measurement_cells(fit) -> tuple[np.ndarray, np.ndarray]:
    """B cells holding loadings (``=~`` rows on η variables): zeroed in the structural part."""
    t = fit.spec.target
    rows = (t.matrix == NAMES.index("beta")) & (fit.partable.table["op"].to_numpy() == "=~")
    return t.row[rows], t.col[rows]


def _scaled_variables(fit, kind: str) -> np.ndarray:
    """Which η variables a standardized effect scales by their standard deviation."""
    eta = fit.spec.eta
    latent = np.arange(len(eta)) < fit.spec.n_lv
    if kind == "raw":
        return np.zeros(len(eta), dtype=bool)
    if kind == "std.lv":
        return latent
    if kind == "std.nox":
        covariates = set(fit.partable.variables.ov_x)
        return np.array([v not in covariates for v in eta])
    return np.ones(len(eta), dtype=bool)
