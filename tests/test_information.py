"""The rank-two expected information (inference.rank_two) equals the dense formula
tr(Σ⁻¹Σ_iΣ⁻¹Σ_j) + 2 μ_iᵀΣ⁻¹μ_j with the Jacobians of Σ and μ from JAX, on every core case."""

import jax
import numpy as np
import pytest

from reference_cases import CORE_CASES, fitted
from sem_engine import implied, inference, structure


@pytest.mark.parametrize("case", CORE_CASES)
def test_rank_two_information_equals_the_dense_jacobian_formula(case):
    fit = fitted(case)
    eng = fit.engine
    st, moments, sz = eng.structure, eng.pad(fit.moments), eng.sizes
    n = fit.spec.npar

    def pair(x):
        mats = structure.matrices(x, structure.group(st, 0), moments.s[0], moments.xbar[0], sz.p, sz.m)
        return implied.sigma(mats), implied.mu(mats)

    x = eng._vector(fit.x)
    sigma = np.asarray(pair(x)[0])
    d_sigma, d_mu = (np.asarray(a)[..., :n] for a in jax.jacfwd(pair)(x))
    k_sigma = np.einsum("ab,bci->aci", np.linalg.inv(sigma), d_sigma)
    dense = np.einsum("abi,baj->ij", k_sigma, k_sigma)
    if fit.spec.meanstructure:
        dense = dense + 2.0 * d_mu.T @ np.linalg.inv(sigma) @ d_mu
    got = np.asarray(inference.expected_hessian(x, st, moments, sz))[:n, :n]
    np.testing.assert_allclose(got, dense, rtol=1e-12, atol=1e-12 * np.abs(dense).max())
