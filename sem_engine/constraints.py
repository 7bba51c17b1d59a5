"""Equality constraints as a reparametrization x = x0 + K z.

Parameters sharing a label, ``equal("a")`` modifiers and linear ``==`` constraints all say
A x = b.  With K an orthonormal basis of the null space of A and x0 the minimum-norm solution,
every x = x0 + K z satisfies them, and the optimizer and the information matrix work in z
(lavaan handles the same constraints through its constrained information matrix; for linear
constraints both give the same estimates and standard errors).  Nonlinear equalities and
inequality constraints are refused with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import expressions
from .errors import ModelError
from .groups import Groups
from .matrices import Spec
from .partable import ParameterTable, values_jacobian


@dataclass(frozen=True, eq=False)
class Reparam:
    """x = x0 + basis @ z; ``n_eq`` independent equality constraints."""

    x0: np.ndarray
    basis: np.ndarray
    n_eq: int

    def to_x(self, z):
        return self.x0 + self.basis @ z

    def to_z(self, x):
        return self.basis.T @ (x - self.x0)


def row_index(pt: ParameterTable) -> dict[str, int]:
    """Label -> the table row whose value the label stands for (its first labelled row)."""
    return {label: rows[0] for label, rows in pt.labels.items()}


def build(pt: ParameterTable, spec: Spec) -> Reparam:
    """Reparametrization satisfying every equality constraint of the model."""
    a, b, _ = linear_system(pt, spec)
    npar = spec.npar
    if a.shape[0] == 0:
        return Reparam(np.zeros(npar), np.eye(npar), 0)
    x0 = np.linalg.lstsq(a, b, rcond=None)[0]
    if not np.allclose(a @ x0, b, atol=1e-9):
        raise ModelError("the equality constraints contradict each other: no parameter value meets them all")
    columns, rank = [], 0
    for block in _linked(a):
        rows = np.flatnonzero(np.any(a[:, block] != 0, axis=1))
        if rows.size == 0:
            r, vt = 0, np.eye(block.size)
        else:
            _, sv, vt = np.linalg.svd(a[np.ix_(rows, block)])
            r = int(np.sum(sv > 1e-10 * max(sv[0], 1.0)))
        rank += r
        for v in vt[r:]:
            col = np.zeros(npar)
            col[block] = v
            columns.append(col)
    return Reparam(x0, np.array(columns).reshape(-1, npar).T[:, np.argsort([np.flatnonzero(c)[0] for c in columns],
                                                                              kind="stable")], rank)


def _linked(a: np.ndarray) -> list[np.ndarray]:
    """The parameters (columns of a) in groups linked by constraint rows; an unconstrained
    parameter is its own group.  The basis of the constraint map is built group by group, so
    that z never mixes parameters no constraint ties together (their units may differ by many
    orders of magnitude, and a mixed coordinate would lose the small ones to rounding)."""
    n = a.shape[1]
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for row in a:
        cols = np.flatnonzero(row)
        for c in cols[1:]:
            parent[root(c)] = root(cols[0])
    roots = np.array([root(i) for i in range(n)])
    return [np.flatnonzero(roots == r) for r in dict.fromkeys(roots)]


def linear_system(pt: ParameterTable, spec: Spec) -> tuple[np.ndarray, np.ndarray, list]:
    """A, b of the constraints A x = b, and the origin of each row.

    Rows: for every label shared by several free rows, one row x_first - x_k = 0 per further row
    (origin: the pair of table rows), then one row per ``==`` constraint (origin: the Constraint).
    """
    free = pt.table["free"].to_numpy()
    rows_a, rows_b, origins = [], [], []
    for label, rows in pt.labels.items():
        rows = [r for r in rows if free[r] > 0]
        for k in rows[1:]:
            row = np.zeros(spec.npar)
            row[free[rows[0]] - 1], row[free[k] - 1] = 1.0, -1.0
            rows_a.append(row)
            rows_b.append(0.0)
            origins.append((rows[0], k))
    for c in pt.constraints:
        if c.op != "==":
            raise ModelError(
                f"line {c.location.line}: inequality constraints ({c.op}) are not supported yet; "
                "remove the constraint or fix the parameter"
            )
        grad, value0 = _affine(c, pt, spec)
        rows_a.append(grad)
        rows_b.append(-value0)
        origins.append(c)
    return np.array(rows_a, dtype=float).reshape(len(rows_a), spec.npar), np.array(rows_b, dtype=float), origins


def _affine(c, pt: ParameterTable, spec: Spec) -> tuple[np.ndarray, float]:
    """Gradient and value at 0 of lhs - rhs, checking that it is affine in x.

    The row values are affine in x (v = v₀ + J x, partable.values_jacobian), so the gradient
    in x is the expression's gradient in v times J (expressions.evaluate, in numpy)."""
    index = row_index(pt)
    specs = spec.specs if isinstance(spec, Groups) else (spec,)
    base = np.concatenate([s.row_base for s in specs])
    jac = values_jacobian(pt)

    def g(x):
        v = base + jac @ x
        (left, d_left), (right, d_right) = (expressions.evaluate(e, v, index, grad=True) for e in (c.lhs, c.rhs))
        return float(left - right), (d_left - d_right) @ jac

    rng = np.random.default_rng(0)
    points = [np.zeros(spec.npar), rng.uniform(0.5, 1.5, spec.npar), rng.uniform(-1.5, -0.5, spec.npar)]
    evaluated = [g(x) for x in points]
    values, grads = [v for v, _ in evaluated], [gr for _, gr in evaluated]
    affine = all(np.allclose(gr, grads[0], atol=1e-10) for gr in grads) and all(
        np.isclose(v, values[0] + grads[0] @ x, atol=1e-9) for v, x in zip(values, points))
    if not affine:
        raise ModelError(
            f"line {c.location.line}: nonlinear equality constraints are not supported yet; "
            "only constraints linear in the parameters (a == b, a + b == 2, a == 2*b) are"
        )
    return grads[0], values[0]
