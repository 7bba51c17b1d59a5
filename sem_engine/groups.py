"""Multi-group models: one ``Spec`` per group over one parameter vector x.

Group g uses the free parameters x_g = x[index_g] (parameters equal across groups share a
position only through the equality constraints of constraints.py, as in lavaan), and its own
sample moments; the moments of a multi-group model are a tuple with one ``Moments`` per group.
The discrepancy is the weighted sum of the groups' (lavaan's ``lav_model_objective``; computed
by objective.loss over the stacked groups of structure.py, a single-group model being G = 1):

    F(x) = Σ_g w_g F_g(x_g),    w_g = n_g / N,

so chi-square = N F = Σ_g n_g F_g.  Under ``likelihood="wishart"`` lavaan keeps these weights
(fmin is the same under both likelihoods), takes chi-square = Σ_g (n_g - 1) F_g and the
covariance of the estimates from (N - G) times the information.  The expected Hessian is the
same weighted sum of the groups' Hessians (inference.expected_hessian).
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from .matrices import Spec, build_spec, row_values as group_row_values, to_matrices
from .moments import Moments
from .partable import ParameterTable


@dataclass(frozen=True, eq=False)
class Groups:
    """Static structure of a multi-group model: the groups' specs and their positions in x."""

    specs: tuple[Spec, ...]
    index: tuple[np.ndarray, ...]   # index[g][k]: position in x of group g's k-th free parameter
    npar: int

    @property
    def ov(self) -> tuple[str, ...]:
        return self.specs[0].ov

    @property
    def eta(self) -> tuple[str, ...]:
        return self.specs[0].eta

    @property
    def meanstructure(self) -> bool:
        return self.specs[0].meanstructure

    @property
    def p(self) -> int:
        return self.specs[0].p

    @property
    def m(self) -> int:
        return self.specs[0].m

    def values(self, x, moments: tuple[Moments, ...]) -> np.ndarray:
        """Value of every parameter-table row, the groups' blocks in order."""
        return row_values(x, self, moments)

    @property
    def free_rows(self) -> np.ndarray:
        """Table rows of the free parameters, ordered by their position in x."""
        return np.concatenate([_rows_before(self, g) + s.free_rows for g, s in enumerate(self.specs)]
                              )[np.argsort(np.concatenate(self.index), kind="stable")]


def _rows_before(groups: Groups, g: int) -> int:
    return sum(len(s.row_base) for s in groups.specs[:g])


def build(pt: ParameterTable) -> Groups:
    """The groups' specs of a multi-group parameter table (rows in group blocks)."""
    specs, index = [], []
    for g in range(pt.n_groups):
        sub = pt.group_table(g)
        spec = build_spec(sub)
        specs.append(spec)
        index.append(sub.table["global_free"].to_numpy()[spec.free_rows] - 1)
    return Groups(tuple(specs), tuple(index), pt.npar)


def weights(moments: tuple[Moments, ...]) -> list:
    """w_g = n_g / N."""
    total = sum(m.n for m in moments)
    return [m.n / total for m in moments]


def row_values(x, groups: Groups, moments) -> np.ndarray:
    """Value of every parameter-table row, the groups' blocks in order."""
    return np.concatenate([group_row_values(np.asarray(x)[i], s, m) for s, i, m in zip(groups.specs, groups.index, moments)])


def matrices(x, groups: Groups, moments) -> tuple:
    """Each group's model matrices."""
    return tuple(to_matrices(x[i], s, m) for s, i, m in zip(groups.specs, groups.index, moments))
