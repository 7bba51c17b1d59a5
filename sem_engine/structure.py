"""A model's structure as arrays of one size class, so compiled code never sees a particular model.

DESIGN.md, "Compilation": the compiled kernels (engine.py) take these arrays as arguments, and
``jax.jit`` keys only on their shapes, which are rounded up to a few size classes.  A session that
fits twenty models therefore compiles a handful of executables instead of twenty sets.

The model matrices of group g are one packed buffer

    [vec Λ (p×m) | vec Θ (p×p) | vec Ψ (m×m) | vec B (m×m) | ν (p) | α (m) | trash]

filled from the value of every parameter-table row:

    v_r = x[free_r]                      (a free row)
        = [vec S_g | x̄_g][exo_r]         (a fixed.x row: a sample moment)
        = fixed_r                        (a fixed row),

scattered to ``target_r`` and, for Θ and Ψ, also to its mirror; rows of other groups (and
padded rows) go to the trash slot.  The base buffer holds what no row sets: the unit loadings of
the phantom latents, and the padding.

Padding is exact: a padded observed variable has S = Σ = 1, x̄ = μ = 0 and no loading, so it adds
0 to F_ML (and is never observed under FIML); a padded latent variable has Ψ = 1 and no paths; a
padded parameter scatters to the trash slot (zero gradient) and a padded column of the
constraint basis K is zero, so padded coordinates of z never move; a padded group has weight 0
and a padded missing-data pattern count 0.

Two size policies (size_classes.py): ``"latency"`` for single fits and post-estimation, and
``"throughput"`` for batched refits (bootstrap, simulation) and the Newton fallback.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from . import size_classes
from .constraints import Reparam
from .groups import Groups
from .matrices import NAMES, SYMMETRIC, Matrices, Spec
from .moments import Moments

class Sizes(NamedTuple):
    """Padded dimensions: observed (p) and latent incl. phantom (m) variables, free parameters
    (npar, which also bounds the constraint coordinates z), parameter-table rows, groups and
    missing-data patterns per group (0: complete data)."""

    p: int
    m: int
    npar: int
    rows: int
    groups: int
    patterns: int

    @property
    def buffer(self) -> int:
        """Length of the packed matrix buffer, trash slot included."""
        p, m = self.p, self.m
        return p * m + p * p + 2 * m * m + p + m + 1


class Structure(NamedTuple):
    """The arrays of a model structure (leading axis: group).  ``kind``: 0 fixed, 1 free, 2 a
    sample moment (fixed.x).  ``deriv`` holds, per group and free parameter, the columns of the
    rank-two derivatives of Σ and μ (inference.rank_two)."""

    kind: jnp.ndarray      # (G, R) int
    free: jnp.ndarray      # (G, R) int: index into x
    exo: jnp.ndarray       # (G, R) int: index into [vec S | x̄]
    fixed: jnp.ndarray     # (G, R) float
    target: jnp.ndarray    # (G, R) int: index into the packed buffer
    mirror: jnp.ndarray    # (G, R) int
    own: jnp.ndarray       # (G, R) bool: the row belongs to group g
    base: jnp.ndarray      # (G, L) float
    deriv: "Derivatives"
    meanstructure: jnp.ndarray  # () float, 1.0 with a mean structure
    valid: jnp.ndarray     # (G,) bool: a real group
    x0: jnp.ndarray        # (P,)
    basis: jnp.ndarray     # (P, P): x = x0 + K z; padded columns are zero


class Derivatives(NamedTuple):
    """Rank-two derivative columns (inference.py, ``rank_two``): per group and parameter, the
    candidate columns of u, v and d, the ½ on variances and the (Tα) index scaling d."""

    iu: jnp.ndarray     # (G, P) int
    iv: jnp.ndarray     # (G, P) int
    half: jnp.ndarray   # (G, P) float
    i_d: jnp.ndarray    # (G, P) int
    k_ta: jnp.ndarray   # (G, P) int


class Padded(NamedTuple):
    """Sample moments of all groups, padded and stacked: S (G, p, p), x̄ (G, p), N_g (G,) (1 in a
    padded group, which has weight 0), and under FIML the patterns (missing.Patterns, stacked)."""

    s: jnp.ndarray
    xbar: jnp.ndarray
    n: jnp.ndarray
    patterns: object = None


def sizes(spec: Spec | Groups, moments, policy: str = "latency") -> Sizes:
    """The size class of a model and its data under ``policy`` ("latency" or "throughput")."""
    specs = spec.specs if isinstance(spec, Groups) else (spec,)
    members = moments if isinstance(spec, Groups) else (moments,)
    n_patterns = max((0 if m.patterns is None else int(m.patterns.mask.shape[0])) for m in members)
    rows = sum(len(s.row_base) for s in specs)
    need = {"p": spec.p, "m": max(spec.m, 1), "npar": max(spec.npar, 1), "rows": max(rows, 1),
            "groups": len(specs)}
    out = {k: size_classes.rounded(v, k, policy) for k, v in need.items()}
    out["patterns"] = 0 if n_patterns == 0 else size_classes.rounded(n_patterns, "patterns", policy)
    return Sizes(**out)


def _offsets(sz: Sizes) -> dict[str, int]:
    p, m = sz.p, sz.m
    lengths = {"lam": p * m, "theta": p * p, "psi": m * m, "beta": m * m, "nu": p, "alpha": m}
    out, start = {}, 0
    for name in NAMES:
        out[name] = start
        start += lengths[name]
    return out


def _flat(sz: Sizes, code: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Packed-buffer positions of (matrix code, row, column); the trash slot where code < 0."""
    off = _offsets(sz)
    width = {"lam": sz.m, "theta": sz.p, "psi": sz.m, "beta": sz.m, "nu": 1, "alpha": 1}
    out = np.full(code.shape, sz.buffer - 1)
    for k, name in enumerate(NAMES):
        sel = code == k
        out[sel] = off[name] + (row[sel] * width[name] + (0 if name in ("nu", "alpha") else col[sel]))
    return out


def build(spec: Spec | Groups, reparam: Reparam, sz: Sizes) -> Structure:
    """The structure arrays of ``spec`` (one group, or groups.Groups) padded to ``sz``."""
    multi = isinstance(spec, Groups)
    specs = spec.specs if multi else (spec,)
    index = spec.index if multi else (np.arange(spec.npar),)
    G, R, P, p = sz.groups, sz.rows, sz.npar, sz.p
    kind = np.zeros((G, R), int)
    free = np.zeros((G, R), int)
    exo = np.zeros((G, R), int)
    fixed = np.zeros((G, R))
    target = np.full((G, R), sz.buffer - 1)
    mirror = np.full((G, R), sz.buffer - 1)
    own = np.zeros((G, R), bool)
    base = np.zeros((G, sz.buffer))
    deriv = {k: np.zeros((G, P), float if k == "half" else int) for k in Derivatives._fields}
    offset = 0
    for g in range(G):
        base[g] = _base(specs[g] if g < len(specs) else None, sz)
        if g >= len(specs):
            for k, v in rank_two_columns(None, (), sz).items():
                deriv[k][g] = v
            continue
        s = specs[g]
        n = len(s.row_base)
        rows = slice(offset, offset + n)
        own[g, rows] = True
        t = s.target
        target[g, rows] = _flat(sz, t.matrix, t.row, t.col)
        symmetric = np.isin(t.matrix, [NAMES.index(k) for k in SYMMETRIC])
        mirror[g, rows] = np.where(symmetric, _flat(sz, t.matrix, t.col, t.row), target[g, rows])
        fixed[g, rows] = s.row_base
        local_kind = np.zeros(n, int)
        local_free = np.zeros(n, int)
        local_kind[s.free_rows] = 1
        local_free[s.free_rows] = index[g]
        local_exo = np.zeros(n, int)
        if s.exo_rows.size:
            i, j = s.exo_moment[:, 0], s.exo_moment[:, 1]
            local_kind[s.exo_rows] = 2
            local_exo[s.exo_rows] = np.where(j >= 0, i * p + np.maximum(j, 0), p * p + i)
        kind[g, rows], free[g, rows], exo[g, rows] = local_kind, local_free, local_exo
        for k, v in rank_two_columns(s, index[g], sz).items():
            deriv[k][g] = v
        offset += n
    x0 = np.zeros(P)
    basis = np.zeros((P, P))
    x0[:len(reparam.x0)] = reparam.x0
    basis[:reparam.basis.shape[0], :reparam.basis.shape[1]] = reparam.basis
    valid = np.arange(G) < len(specs)
    # numpy arrays: jit transfers them as arguments (jnp.asarray would compile a transfer per shape)
    return Structure(kind, free, exo, fixed, target, mirror, own, base, Derivatives(**deriv),
                     np.float64(specs[0].meanstructure), valid, x0, basis)


def _base(spec: Spec | None, sz: Sizes) -> np.ndarray:
    """Packed base matrices: the phantom loadings of ``spec`` and unit variances of the padding
    (all of Θ's and Ψ's diagonal for a padded group)."""
    off = _offsets(sz)
    out = np.zeros(sz.buffer)
    p, m = (0, 0) if spec is None else (spec.p, spec.m)
    if spec is not None:
        lam = np.asarray(spec.base.lam)
        r, c = np.nonzero(lam)
        phantom = c >= spec.n_lv
        out[off["lam"] + r[phantom] * sz.m + c[phantom]] = lam[r[phantom], c[phantom]]
    pad_p, pad_m = np.arange(p, sz.p), np.arange(m, sz.m)
    out[off["theta"] + pad_p * sz.p + pad_p] = 1.0
    out[off["psi"] + pad_m * sz.m + pad_m] = 1.0
    return out


def rank_two_columns(spec: Spec | None, index, sz: Sizes) -> dict[str, np.ndarray]:
    """Columns of the candidate matrix [I_p | A | W | 0] (inference.rank_two) for every global
    free parameter of this group (the zero column for the others)."""
    p, m, P = sz.p, sz.m, sz.npar
    zero = p + 2 * m
    out = {"iu": np.full(P, zero), "iv": np.full(P, zero), "half": np.ones(P), "i_d": np.full(P, zero),
           "k_ta": np.full(P, -1)}
    if spec is None or spec.npar == 0:
        return out
    rows = spec.free_rows
    code = spec.target.matrix[rows]
    a, b = spec.target.row[rows], spec.target.col[rows]
    e, lv, w_ = 0, p, p + m
    lam, theta, psi, beta, nu, alpha = (code == NAMES.index(k) for k in NAMES)
    idx = np.asarray(index)
    out["iu"][idx] = np.select([lam, theta, psi, beta], [e + a, e + a, lv + a, lv + a], zero)
    out["iv"][idx] = np.select([lam, theta, psi, beta], [w_ + b, e + b, lv + b, w_ + b], zero)
    out["half"][idx] = np.where((theta | psi) & (a == b), 0.5, 1.0)
    out["i_d"][idx] = np.select([lam | nu, beta | alpha], [e + a, lv + a], zero)
    out["k_ta"][idx] = np.select([lam, beta], [b, b], -1)
    return out


def pad_moments(moments: Moments | tuple, sz: Sizes) -> Padded:
    """The sample moments of every group padded to ``sz`` and stacked (numpy arrays)."""
    members = (moments,) if isinstance(moments, Moments) else tuple(moments)
    G, p, K = sz.groups, sz.p, sz.patterns
    s = np.broadcast_to(np.eye(p), (G, p, p)).copy()
    xbar = np.zeros((G, p))
    n = np.ones(G)
    fiml = members[0].patterns is not None
    if fiml:
        mask, count = np.zeros((G, K, p)), np.zeros((G, K))
        mean, cov, h1 = np.zeros((G, K, p)), np.zeros((G, K, p, p)), np.zeros(G)
    for g, mom in enumerate(members):
        q = np.asarray(mom.s).shape[0]
        s[g, :q, :q] = np.asarray(mom.s)
        xbar[g, :q] = np.asarray(mom.xbar)
        n[g] = float(mom.n)
        if fiml:
            pat = mom.patterns
            k = np.asarray(pat.count).shape[0]
            mask[g, :k, :q], count[g, :k] = np.asarray(pat.mask), np.asarray(pat.count)
            mean[g, :k, :q], cov[g, :k, :q, :q] = np.asarray(pat.mean), np.asarray(pat.cov)
            h1[g] = float(pat.h1_loglik)
    patterns = None
    if fiml:
        from .missing import Patterns

        patterns = Patterns(mask, count, mean, cov, h1)
    return Padded(s, xbar, n, patterns)


# -- inside compiled code: one group's structure (the group axis taken off by vmap) ----------------

def values(x, st: Structure, s, xbar):
    """v_r of every row for one group (module docstring); x of the padded length P."""
    moment = jnp.concatenate([s.reshape(-1), xbar])
    return jnp.where(st.kind == 1, x[st.free], jnp.where(st.kind == 2, moment[st.exo], st.fixed))


def matrices(x, st: Structure, s, xbar, sz_p: int, sz_m: int) -> Matrices:
    """One group's padded model matrices from the row values."""
    v = values(x, st, s, xbar)
    buf = jnp.asarray(st.base).at[st.target].set(v).at[st.mirror].set(v)
    off, out = 0, {}
    shapes = {"lam": (sz_p, sz_m), "theta": (sz_p, sz_p), "psi": (sz_m, sz_m), "beta": (sz_m, sz_m),
              "nu": (sz_p,), "alpha": (sz_m,)}
    for name in NAMES:
        length = int(np.prod(shapes[name]))
        out[name] = buf[off:off + length].reshape(shapes[name])
        off += length
    return Matrices(**out)


def group(st: Structure, g: int) -> Structure:
    """Group g's slice of the arrays (the model-level x0, basis and flags kept)."""
    per_group = ("kind", "free", "exo", "fixed", "target", "mirror", "own", "base")
    return st._replace(**{k: getattr(st, k)[g] for k in per_group},
                       deriv=Derivatives(*(a[g] for a in st.deriv)), valid=st.valid[g])
