"""The compiled kernels of a fit, compiled once per size class, and ``Engine``, which binds one
model's structure to them.

Each kernel is a module-level ``jax.jit`` function of (structure arrays, padded moments, x or z)
with the size class as its only static argument (structure.py), so every model of a class
shares one executable per kernel: a new model costs no compilation once its class has been
compiled, in this process or (through JAX's persistent cache, compilation.py) an earlier one.
``Engine`` pads inputs and unpads outputs in numpy, so callers see the model's own dimensions.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import compilation, inference, objective, optimize, scaling, scoring, structure
from .constraints import Reparam
from .groups import Groups
from .matrices import Matrices, Spec
from .optimize import FitState
from .structure import Sizes

compilation.setup()


def _to_x(st, z):
    return st.x0 + st.basis @ z


@partial(jax.jit, static_argnames="sz")
def _refit(st, moments, z_start, h_inv, max_steps, grad_tol, sz: Sizes) -> FitState:
    return scoring.refit(st, moments, z_start, h_inv, max_steps, grad_tol, sz)


@partial(jax.jit, static_argnames="sz")
def _newton(st, moments, z_start, max_iter, grad_tol, sz: Sizes) -> FitState:
    state = optimize.newton(lambda z: objective.loss(_to_x(st, z), st, moments, sz), z_start, max_iter, grad_tol)
    return state._replace(x=_to_x(st, state.x))


@partial(jax.jit, static_argnames="sz")
def _value_and_grad(st, moments, x, sz: Sizes):
    return jax.value_and_grad(objective.loss)(x, st, moments, sz)


@partial(jax.jit, static_argnames="sz")
def _expected_hessian_z(st, moments, z, sz: Sizes):
    return st.basis.T @ inference.expected_hessian(_to_x(st, z), st, moments, sz) @ st.basis


@partial(jax.jit, static_argnames="sz")
def _observed_hessian_z(st, moments, z, sz: Sizes):
    return jax.hessian(lambda zz: objective.loss(_to_x(st, zz), st, moments, sz))(z)


@partial(jax.jit, static_argnames="sz")
def _evaluate(st, moments, x, sz: Sizes):
    """Every group's matrices, Σ and μ (stacked over groups) and the value of every table row."""
    groups = objective.implied_moments(x, st, moments, sz)
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *groups)
    rows = sum(jnp.where(structure.group(st, g).own, structure.values(x, structure.group(st, g), s, xbar), 0.0)
               for g, (_, s, xbar, _, _) in enumerate(objective.group_moments(st, moments, sz)))
    return stacked, rows


class Engine:
    """One model's structure (spec and constraint map) on the kernels of its size class.

    Methods take and return the model's own dimensions (numpy arrays): x of the free
    parameters, z of the constraint coordinates, and the sample moments as the fit holds them
    (one Moments, or a tuple of them for a multi-group model), all in the user's units.  The
    optimizers and the information matrices run on the model in unit scale (scaling.py: the
    units of the moments the engine was built with), so no verdict or tolerance depends on the
    data's units; ``structure`` and ``pad`` are in the user's units, for the kernels of
    post-estimation, which only evaluate.
    """

    def __init__(self, spec: Spec | Groups, reparam: Reparam, moments, max_iter: int = 500,
                 grad_tol: float = 1e-9, policy: str = "latency"):
        self.spec, self.reparam = spec, reparam
        self.multi = isinstance(spec, Groups)
        self.policy = policy
        self.sizes = structure.sizes(spec, moments, policy)
        self.structure = structure.build(spec, reparam, self.sizes)
        self.units = scaling.units(spec, reparam, moments)
        self._unit_structure = structure.build(scaling.spec_in(spec, self.units),
                                               scaling.reparam_in(reparam, self.units), self.sizes)
        self.max_iter, self.grad_tol = max_iter, grad_tol
        self._moments = moments
        self._padded = (None, None)
        self._unit_padded = (None, None)
        self._tight = None

    @property
    def tight(self) -> "Engine":
        """The same model in its throughput size class (p and m exact, the rest rounded up): the
        kernels whose cost grows with the padded parameter count (the exact Hessian of the Newton
        fallback and of the observed information) run there."""
        if self._tight is None:
            self._tight = (self if self.policy == "throughput" else
                           Engine(self.spec, self.reparam, self._moments, self.max_iter, self.grad_tol, "throughput"))
        return self._tight

    # -- padding -------------------------------------------------------------------------------
    @property
    def n_z(self) -> int:
        return self.reparam.basis.shape[1]

    def pad(self, moments) -> structure.Padded:
        """The padded moments (the last ones are kept: a fit asks for them repeatedly)."""
        if self._padded[0] is not moments:
            self._padded = (moments, structure.pad_moments(moments, self.sizes))
        return self._padded[1]

    def _pad_in(self, moments) -> structure.Padded:
        """The padded moments in unit scale (kept like ``pad``)."""
        if self._unit_padded[0] is not moments:
            self._unit_padded = (moments, structure.pad_moments(scaling.moments_in(moments, self.units.d), self.sizes))
        return self._unit_padded[1]

    def _vector(self, v) -> np.ndarray:
        out = np.zeros(self.sizes.npar)
        v = np.asarray(v, dtype=float)
        out[:v.shape[0]] = v
        return out

    def _square(self, a) -> np.ndarray:
        out = np.zeros((self.sizes.npar,) * 2)
        a = np.asarray(a, dtype=float)
        out[:a.shape[0], :a.shape[1]] = a
        return out

    def _state(self, state: FitState) -> FitState:
        """A FitState of the unit-scale model in the user's units (x = x* / c; its max |g| stays
        the unit-scale one, the scale-free convergence measure)."""
        state = jax.tree.map(np.asarray, state)
        return state._replace(x=state.x[:self.spec.npar] / self.units.cx)

    def _z_in(self, z) -> np.ndarray:
        """z* = M z (scaling.Units), padded."""
        return self._vector(self.units.m @ np.asarray(z, dtype=float))

    def _z_out(self, h) -> np.ndarray:
        """A Hessian in z from one in z*: Mᵀ H* M."""
        m = self.units.m
        return m.T @ np.asarray(h)[:self.n_z, :self.n_z] @ m

    # -- optimizers ----------------------------------------------------------------------------
    def refit_moments(self, moments, z_start, h_inv, max_steps=None) -> FitState:
        """Quasi-Newton scoring (scoring.py) from z_start with H₀⁻¹ = h_inv; the engine asks for
        1/100 of the optimizer's tolerance (its estimates are only as precise as the gradient)."""
        steps = self.max_iter if max_steps is None else max_steps
        m = self.units.m
        h_in = m @ np.asarray(h_inv, dtype=float) @ m.T
        return self._state(_refit(self._unit_structure, self._pad_in(moments), self._z_in(z_start),
                                  self._square(h_in), steps, self.grad_tol * 1e-2, self.sizes))

    def fit_moments(self, moments, z_start) -> FitState:
        """The modified Newton optimizer (optimize.py) from z_start (in the throughput class)."""
        t = self.tight
        return t._state(_newton(t._unit_structure, t._pad_in(moments), t._z_in(z_start), self.max_iter,
                                self.grad_tol, t.sizes))

    # -- derivatives ---------------------------------------------------------------------------
    def loss(self, x, moments) -> tuple[float, np.ndarray]:
        """F(x) and its gradient in x (objective.loss; dF/dx = c · dF/dx*)."""
        x_in = self._vector(np.asarray(x, dtype=float) * self.units.cx)
        f, g = _value_and_grad(self._unit_structure, self._pad_in(moments), x_in, self.sizes)
        return float(f), np.asarray(g)[:self.spec.npar] * self.units.cx

    def hessian_z(self, z, moments) -> np.ndarray:
        """Kᵀ H K, the expected Hessian of F in z (H_z = Mᵀ H_z* M)."""
        return self._z_out(_expected_hessian_z(self._unit_structure, self._pad_in(moments), self._z_in(z),
                                               self.sizes))

    def observed_hessian_z(self, z, moments) -> np.ndarray:
        """The observed Hessian of F in z (in the throughput class)."""
        t = self.tight
        return t._z_out(_observed_hessian_z(t._unit_structure, t._pad_in(moments), t._z_in(z), t.sizes))

    # -- values at x ---------------------------------------------------------------------------
    def _evaluate(self, x, moments):
        mats, rows = _evaluate(self.structure, self.pad(moments), self._vector(x), self.sizes)
        return jax.tree.map(np.asarray, mats), np.asarray(rows)

    def _groups(self):
        return self.spec.specs if self.multi else (self.spec,)

    def implied(self, x, moments):
        """(Σ, μ); for a multi-group model one pair per group."""
        (_, sigma, mu), _ = self._evaluate(x, moments)
        pairs = tuple((sigma[g, :s.p, :s.p], mu[g, :s.p]) for g, s in enumerate(self._groups()))
        return pairs if self.multi else pairs[0]

    def matrices(self, x, moments):
        """The model matrices; for a multi-group model one set per group."""
        (mats, _, _), _ = self._evaluate(x, moments)
        out = tuple(Matrices(mats.lam[g, :s.p, :s.m], mats.theta[g, :s.p, :s.p], mats.psi[g, :s.m, :s.m],
                             mats.beta[g, :s.m, :s.m], mats.nu[g, :s.p], mats.alpha[g, :s.m])
                    for g, s in enumerate(self._groups()))
        return out if self.multi else out[0]

    def row_values(self, x, moments) -> np.ndarray:
        """The value of every parameter-table row."""
        _, rows = self._evaluate(x, moments)
        return rows[:sum(len(s.row_base) for s in self._groups())]
