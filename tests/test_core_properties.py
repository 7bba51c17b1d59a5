"""Properties of the core engine: recovery, invariances, agreement with SciPy, vmap and float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sem_engine as se
from sem_engine import engine, start
from sem_engine.moments import Moments

TWO_FACTORS = "f1 =~ y1 + y2 + y3\nf2 =~ y4 + y5 + y6"
NAMES = [f"y{i}" for i in range(1, 7)]
HS3 = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

params = st.fixed_dictionaries({
    "loadings": st.lists(st.floats(0.4, 1.6), min_size=4, max_size=4),
    "phi": st.lists(st.floats(0.5, 2.0), min_size=2, max_size=2),
    "corr": st.floats(-0.6, 0.6),
    "theta": st.lists(st.floats(0.2, 1.5), min_size=6, max_size=6),
})


def population(p):
    """Σ of the two-factor model (first loadings fixed to 1) and the true parameter values."""
    lam = np.zeros((6, 2))
    lam[:3, 0] = [1.0, *p["loadings"][:2]]
    lam[3:, 1] = [1.0, *p["loadings"][2:]]
    sd = np.sqrt(p["phi"])
    phi = np.diag(p["phi"])
    phi[0, 1] = phi[1, 0] = p["corr"] * sd[0] * sd[1]
    sigma = lam @ phi @ lam.T + np.diag(p["theta"])
    truth = {("f1", "=~", "y2"): lam[1, 0], ("f1", "=~", "y3"): lam[2, 0],
             ("f2", "=~", "y5"): lam[4, 1], ("f2", "=~", "y6"): lam[5, 1],
             ("f1", "~~", "f1"): phi[0, 0], ("f2", "~~", "f2"): phi[1, 1], ("f1", "~~", "f2"): phi[0, 1]}
    truth.update({(v, "~~", v): t for v, t in zip(NAMES, p["theta"])})
    return sigma, truth


def free_estimates(fit):
    est = fit.estimates().set_index(["lhs", "op", "rhs"])
    return est[fit.estimates()["se"].to_numpy() > 0]


@SETTINGS
@given(params)
def test_population_covariance_is_reproduced_exactly(p):
    sigma, truth = population(p)
    n = 500
    fit = se.cfa(TWO_FACTORS, sample_cov=pd.DataFrame(sigma * n / (n - 1), NAMES, NAMES), sample_nobs=n)
    est = free_estimates(fit)["est"]
    assert fit.converged and fit.chisq < 1e-8
    for key, value in truth.items():
        assert abs(est[key] - value) < 1e-6 * max(1, abs(value)), key


@SETTINGS
@given(params, st.integers(0, 2**31 - 1))
def test_parameters_recovered_from_simulated_data(p, seed):
    sigma, truth = population(p)
    data = np.random.default_rng(seed).multivariate_normal(np.zeros(6), sigma, size=3000)
    fit = se.cfa(TWO_FACTORS, data=pd.DataFrame(data, columns=NAMES))
    est = free_estimates(fit)
    assert fit.converged
    for key, value in truth.items():
        assert abs(est.loc[key, "est"] - value) < 5.5 * est.loc[key, "se"], key


@pytest.fixture(scope="module")
def hs():
    return se.datasets.holzinger_swineford_1939()


@pytest.fixture(scope="module")
def hs_fit(hs):
    return se.cfa(HS3, data=hs)


@settings(max_examples=8, deadline=None)
@given(st.permutations([f"x{i}" for i in range(1, 10)] + ["sex", "ageyr", "agemo"]))
def test_estimates_invariant_to_column_order(hs, hs_fit, order):
    fit = se.cfa(HS3, data=hs[order])
    np.testing.assert_allclose(fit.x, hs_fit.x, rtol=1e-9, atol=1e-12)
    assert fit.chisq == pytest.approx(hs_fit.chisq, rel=1e-10)


@settings(max_examples=8, deadline=None)
@given(st.floats(0.05, 20.0))
def test_rescaling_a_variable_rescales_its_parameters(hs, hs_fit, c):
    fit = se.cfa(HS3, data=hs.assign(x2=hs.x2 * c))
    ref = hs_fit.estimates().set_index(["lhs", "op", "rhs"])["est"]
    est = fit.estimates().set_index(["lhs", "op", "rhs"])["est"]
    assert est[("visual", "=~", "x2")] == pytest.approx(c * ref[("visual", "=~", "x2")], rel=1e-7)
    assert est[("x2", "~~", "x2")] == pytest.approx(c**2 * ref[("x2", "~~", "x2")], rel=1e-7)
    assert fit.chisq == pytest.approx(hs_fit.chisq, rel=1e-8)
    # The standardized loading lambda * sd(visual) / sd(x2) does not move.
    def std_loading(f):
        e = f.estimates().set_index(["lhs", "op", "rhs"])["est"]
        return e[("visual", "=~", "x2")] * np.sqrt(e[("visual", "~~", "visual")]) / np.sqrt(
            f.implied()["cov"].loc["x2", "x2"])
    assert std_loading(fit) == pytest.approx(std_loading(hs_fit), rel=1e-7)


def test_scipy_minimize_on_the_same_loss_agrees(hs_fit):
    fit = hs_fit
    x0 = start.start_values(fit.partable, fit.spec, fit.moments)
    res = scipy.optimize.minimize(lambda x: fit.engine.loss(x, fit.moments), x0, jac=True,
                                  method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
    np.testing.assert_allclose(res.x, fit.x, rtol=1e-5, atol=1e-6)
    assert res.fun * fit.n_eff == pytest.approx(fit.chisq, rel=1e-9)


def test_gradient_matches_finite_differences(hs_fit):
    def loss(x):
        return hs_fit.engine.loss(x, hs_fit.moments)[0]

    x = start.start_values(hs_fit.partable, hs_fit.spec, hs_fit.moments)
    g = hs_fit.engine.loss(x, hs_fit.moments)[1]
    h = 1e-6
    step = np.eye(x.shape[0]) * h
    fd = [(loss(x + step[i]) - loss(x - step[i])) / (2 * h) for i in range(x.shape[0])]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


def test_vmap_equals_a_loop_of_fits(hs_fit):
    rows = hs_fit.data.rows
    rng = np.random.default_rng(1)
    batch = []
    for _ in range(3):
        r = rows[rng.integers(0, rows.shape[0], rows.shape[0])]
        centred = r - r.mean(axis=0)[None, :]
        batch.append(Moments(jnp.asarray(centred.T @ centred / r.shape[0]), jnp.asarray(r.mean(axis=0)),
                             jnp.asarray(float(r.shape[0]))))
    # the batched path is the LAPACK-free scoring refit (linalg.py), as in the bootstrap
    eng = hs_fit.engine
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *(eng.pad(m) for m in batch))
    z = hs_fit.reparam.to_z(hs_fit.x)
    h_inv = np.linalg.pinv(eng.hessian_z(z, hs_fit.moments))
    refit = jax.vmap(engine._refit, in_axes=(None, 0, None, None, None, None, None))
    together = refit(eng.structure, stacked, eng._vector(z), eng._square(h_inv), eng.max_iter,
                     eng.grad_tol * 1e-2, eng.sizes)
    for i, m in enumerate(batch):
        alone = eng.refit_moments(m, z, h_inv)
        np.testing.assert_allclose(np.asarray(together.x[i])[:hs_fit.spec.npar], alone.x, rtol=1e-9, atol=1e-12)
        assert int(together.status[i]) == int(alone.status) == 0


def test_every_returned_array_is_float64(hs_fit):
    assert hs_fit.x.dtype == np.float64
    assert all(np.asarray(m).dtype == np.float64 for m in hs_fit.matrices)
    assert all(a.dtype == np.float64 for a in hs_fit.implied_arrays)
    numeric = hs_fit.estimates().select_dtypes("number")
    assert set(numeric.dtypes) == {np.dtype("float64")}
    assert hs_fit.vcov_x.dtype == np.float64
