"""The rank-two expected information (inference.make_rank_two) equals the dense formula
tr(Σ⁻¹Σ_iΣ⁻¹Σ_j) + 2 μ_iᵀΣ⁻¹μ_j with the Jacobians of Σ and μ from JAX, on every core case."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reference_cases import CORE_CASES, fitted
from sem_engine import inference
from sem_engine.objective import make_implied


@pytest.mark.parametrize("case", CORE_CASES)
def test_rank_two_information_equals_the_dense_jacobian_formula(case):
    fit = fitted(case)
    implied = make_implied(fit.spec)
    x = jnp.asarray(fit.x)
    sigma, _ = implied(x, fit.moments)
    d_sigma, d_mu = (np.asarray(a) for a in jax.jacfwd(implied)(x, fit.moments))
    k_sigma = np.einsum("ab,bci->aci", np.linalg.inv(np.asarray(sigma)), d_sigma)
    dense = np.einsum("abi,baj->ij", k_sigma, k_sigma)
    if fit.spec.meanstructure:
        dense = dense + 2.0 * d_mu.T @ np.linalg.inv(np.asarray(sigma)) @ d_mu
    got = np.asarray(inference.make_expected_hessian(fit.spec)(x, fit.moments))
    np.testing.assert_allclose(got, dense, rtol=1e-12, atol=1e-12 * np.abs(dense).max())
