"""Starting values for the free parameters.

Rules (in the spirit of lavaan's "simple" and "default" starts):
- a user's ``start(v)`` wins;
- loadings of a factor from the first principal component of its observed indicators'
  covariance matrix, rescaled so a fixed marker loading keeps its value; the factor variance
  follows from the same rescaling (1 with ``std_lv``);
- residual variances of observed variables: half the sample variance (lavaan's rule); the
  variances and covariances of exogenous covariates (free with ``fixed_x=False``) their sample values;
- latent (residual) variances from the principal component, at least 0.05;
- regressions and covariances 0; observed intercepts the sample means; latent means 0.
"""

from __future__ import annotations

import numpy as np

from .matrices import Spec
from .moments import Moments
from .partable import ParameterTable


def start_values(pt: ParameterTable, spec: Spec, moments: Moments) -> np.ndarray:
    """Starting value of each free parameter, ordered as x."""
    table = pt.table
    s = np.asarray(moments.s)
    xbar = np.asarray(moments.xbar)
    ov = spec.ov
    loadings, lv_var = _factor_starts(table, ov, s)
    values = np.zeros(len(table))
    for i, (lhs, op, rhs) in enumerate(zip(table["lhs"], table["op"], table["rhs"])):
        if op == "=~":
            values[i] = loadings.get((lhs, rhs), 1.0)
        elif op == "~~" and lhs == rhs and lhs in pt.variables.ov_x:
            values[i] = s[ov.index(lhs), ov.index(lhs)]
        elif op == "~~" and lhs == rhs:
            values[i] = 0.5 * s[ov.index(lhs), ov.index(lhs)] if lhs in ov else lv_var.get(lhs, 0.05)
        elif op == "~~" and lhs in ov and rhs in ov and lhs in pt.variables.ov_x and rhs in pt.variables.ov_x:
            values[i] = s[ov.index(lhs), ov.index(rhs)]
        elif op == "~1" and lhs in ov:
            values[i] = xbar[ov.index(lhs)]
    user = table["start"].to_numpy(dtype=float)
    values = np.where(np.isfinite(user), user, values)
    return values[spec.free_rows]


def _factor_starts(table, ov, s) -> tuple[dict, dict]:
    """Loadings and factor variances from the first principal component of each factor's indicators."""
    lhs, op, rhs = (table[c].tolist() for c in ("lhs", "op", "rhs"))
    free, ustart = table["free"].to_numpy(), table["ustart"].to_numpy(dtype=float)
    indicators: dict[str, list[int]] = {}
    for i in range(len(lhs)):
        if op[i] == "=~" and rhs[i] in ov:
            indicators.setdefault(lhs[i], []).append(i)
    fixed_var = {lhs[i]: ustart[i] for i in range(len(lhs))
                 if op[i] == "~~" and lhs[i] == rhs[i] and free[i] == 0}
    loadings, lv_var = {}, {}
    for factor, rows in indicators.items():
        if len(rows) < 2:
            continue
        observed = [rhs[i] for i in rows]
        idx = [ov.index(r) for r in observed]
        eigval, eigvec = np.linalg.eigh(s[np.ix_(idx, idx)])
        lam = np.sqrt(max(eigval[-1], 1e-8)) * eigvec[:, -1]
        lam = lam if lam.sum() >= 0 else -lam
        scale = 1.0
        fixed = [k for k, i in enumerate(rows) if free[i] == 0]
        if fixed and ustart[rows[fixed[0]]] != 0 and np.isfinite(ustart[rows[fixed[0]]]):
            if abs(lam[fixed[0]]) > 1e-8:
                scale = lam[fixed[0]] / ustart[rows[fixed[0]]]
        if fixed_var.get(factor, 0) > 0:
            scale = np.sqrt(fixed_var[factor])
        for name, value in zip(observed, lam / scale):
            loadings[(factor, name)] = value
        lv_var[factor] = max(scale**2, 0.05)
    return loadings, lv_var
