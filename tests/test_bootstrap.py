"""The vmapped bootstrap against a plain loop of single fits, and the interval formulas written out
independently here (Davison & Hinkley 1997 eq. 5.8 quantiles; Efron's BC and BCa)."""

from functools import lru_cache

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sem_engine as se
from sem_engine.moments import Moments
from sem_engine.optimize import STATUS_TEXT
from reference_cases import REFERENCE, fitted

N_BOOT = 200
BATCH = 64
SEED = 11


@lru_cache(maxsize=None)
def boot():
    return fitted("mediation").bootstrap(N_BOOT, seed=SEED, ci="bca", batch_size=BATCH, progress=False)


def numpy_moments(data: np.ndarray) -> Moments:
    """Sample moments with divisor N (likelihood="normal"), computed with numpy."""
    return Moments(jnp.asarray(np.cov(data, rowvar=False, bias=True)), jnp.asarray(data.mean(axis=0)),
                   jnp.asarray(float(data.shape[0])))


def statistics(fit, x: np.ndarray) -> np.ndarray:
    """Free parameters followed by the := parameters ab = a*b and total = c + a*b, by hand."""
    label = dict(zip(fit.partable.table["label"], fit.partable.table["free"] - 1))
    a, b, c = (x[..., label[k]] for k in "abc")
    return np.concatenate([x, (a * b)[..., None], (c + a * b)[..., None]], axis=-1)


@lru_cache(maxsize=None)
def slow_reference():
    """Each bootstrap sample and each leave-one-out sample refitted one at a time."""
    fit, b = fitted("mediation"), boot()
    rows = fit.data.rows
    z0 = jnp.asarray(fit.reparam.to_z(fit.x))

    def refit(data):
        state = fit.engine.fit_moments(numpy_moments(data), z0)
        return np.asarray(state.x) if int(state.status) == 0 else np.full(fit.x.shape, np.nan)

    draws = np.array([refit(rows[idx]) for idx in b.indices()])
    jack = np.array([refit(np.delete(rows, i, axis=0)) for i in range(rows.shape[0])])
    return statistics(fit, draws), statistics(fit, jack), statistics(fit, fit.x)


def order_quantile(t: np.ndarray, alpha: float) -> float:
    """boot's norm.inter: t_(k), k = (R+1) alpha, interpolated on the normal scale."""
    t = np.sort(t)
    r = len(t)
    rk = (r + 1) * alpha
    k = int(np.floor(rk))
    if k == 0:
        return t[0]
    if k >= r:
        return t[-1]
    if k == rk:
        return t[k - 1]
    z = stats.norm.ppf
    return t[k - 1] + (z(alpha) - z(k / (r + 1))) / (z((k + 1) / (r + 1)) - z(k / (r + 1))) * (t[k] - t[k - 1])


def slow_interval(t, est, jack, method, level):
    """Percentile, bias-corrected or BCa interval of one statistic, and the nominal tail levels."""
    tails = np.array([(1 - level) / 2, (1 + level) / 2])
    z0 = 0.0 if method == "perc" else stats.norm.ppf(np.mean(t < est))
    a = 0.0
    if method == "bca":
        d = jack.mean() - jack
        a = np.sum(d ** 3) / (6 * np.sum(d ** 2) ** 1.5)
    zq = stats.norm.ppf(tails)
    probs = stats.norm.cdf(z0 + (z0 + zq) / (1 - a * (z0 + zq)))
    return [order_quantile(t, p) for p in probs], z0, a


def slow_pvalue(t, z0, a):
    """Nominal two-sided level at which the interval's end sits at the empirical quantile u of 0.

    None where every draw lies on one side of 0 and the acceleration is not 0 (BCa's limit).
    """
    u = np.mean(t < 0)
    if u in (0.0, 1.0):
        return 0.0 if a == 0 else None
    q = stats.norm.ppf(u) - z0
    w = q / (1 + a * q) - z0
    return 2 * min(stats.norm.cdf(w), stats.norm.sf(w))


@pytest.mark.parametrize("method, level",
                         [("perc", 0.95), ("bc", 0.95), ("bc", 0.90), ("bca", 0.95), ("bca", 0.90)])
def test_intervals_match_a_loop_of_single_fits(method, level):
    fit, b = fitted("mediation"), boot()
    draws, jack, est = slow_reference()
    assert b.n_failed == 0 and np.isfinite(draws).all()
    np.testing.assert_allclose(statistics(fit, b.x), draws, rtol=1e-7, atol=1e-9)
    table = b.estimates(ci=method, level=level)
    free = fit.partable.table["free"].to_numpy()
    rows = list(np.flatnonzero(free > 0)) + [len(free), len(free) + 1]
    columns = list(free[free > 0] - 1) + [fit.n_free, fit.n_free + 1]
    for row, k in zip(rows, columns):
        (lower, upper), z0, a = slow_interval(draws[:, k], est[k], jack[:, k], method, level)
        got = table.iloc[row]
        assert got["est"] == pytest.approx(est[k], abs=1e-10)
        assert got["boot_se"] == pytest.approx(np.std(draws[:, k], ddof=1), rel=1e-6)
        assert got["ci_lower"] == pytest.approx(lower, rel=1e-6, abs=1e-8)
        assert got["ci_upper"] == pytest.approx(upper, rel=1e-6, abs=1e-8)
        p = slow_pvalue(draws[:, k], z0, a)
        if p is not None:
            assert got["boot_pvalue"] == pytest.approx(p, abs=1e-9)


def hand_standardized(fit, x: np.ndarray, data: np.ndarray) -> np.ndarray:
    """std.all of a (M ~ X) and of ab = a*b by hand: a sd(X)/sd(M) and a b sd(X)/sd(Y), with
    Var(X) the replicate's sample variance (fixed.x) and Var(M), Var(Y) implied by the model."""
    label = dict(zip(fit.partable.table["label"], fit.partable.table["free"] - 1))
    t = fit.partable.table
    var_row = {v: t["free"][(t["lhs"] == v) & (t["op"] == "~~") & (t["rhs"] == v)].iloc[0] - 1
               for v in "MY"}
    a, b, c = (x[label[k]] for k in "abc")
    var_x = np.var(data[:, fit.spec.ov.index("X")])
    var_m = a * a * var_x + x[var_row["M"]]
    var_y = b * b * var_m + c * c * var_x + 2 * b * c * a * var_x + x[var_row["Y"]]
    return np.array([a * np.sqrt(var_x / var_m), a * b * np.sqrt(var_x / var_y)])


def test_standardized_intervals_from_the_same_draws():
    fit, b = fitted("mediation"), boot()
    hand = np.array([hand_standardized(fit, x, fit.data.rows[idx]) for x, idx in zip(b.x, b.indices())])
    est = hand_standardized(fit, fit.x, fit.data.rows)
    table = b.standardized("std.all", ci="perc")
    rows = [int(np.flatnonzero(table["label"] == name)[0]) for name in ("a", "ab")]
    for k, row in enumerate(rows):
        (lower, upper), _, _ = slow_interval(hand[:, k], est[k], None, "perc", 0.95)
        got = table.iloc[row]
        assert got["est_std"] == pytest.approx(est[k], rel=1e-9)
        assert got["boot_se"] == pytest.approx(np.std(hand[:, k], ddof=1), rel=1e-6)
        assert (got["ci_lower"], got["ci_upper"]) == pytest.approx((lower, upper), rel=1e-6)
    delta = fit.standardized("std.all")
    np.testing.assert_allclose(table["est_std"], delta["est_std"], rtol=1e-9, atol=1e-12)


def test_pvalue_is_where_the_interval_reaches_zero():
    """The p-value is the α at which the two-sided 1 - α interval's end crosses 0 (to within the
    draws' granularity): intervals at levels just around 1 - p straddle 0."""
    b = boot()
    draws, jack, est = slow_reference()
    table = b.estimates(ci="bca")
    checked = 0
    for k in range(draws.shape[1]):
        p = table["boot_pvalue"].iloc[_row_of_column(k)]
        if not 0.05 < p < 0.9:
            continue
        wider, _, _ = slow_interval(draws[:, k], est[k], jack[:, k], "bca", min(1 - p + 0.03, 0.999))
        narrower, _, _ = slow_interval(draws[:, k], est[k], jack[:, k], "bca", 1 - p - 0.03)
        assert wider[0] <= 0 <= wider[1]
        assert not narrower[0] <= 0 <= narrower[1]
        checked += 1
    assert checked >= 2


def _row_of_column(k: int) -> int:
    fit = fitted("mediation")
    free = fit.partable.table["free"].to_numpy()
    if k < fit.n_free:
        return int(np.flatnonzero(free == k + 1)[0])
    return len(free) + k - fit.n_free


def test_same_seed_same_numbers():
    """(Each replicate also equals its single fit, whatever the batching: see the loop test.)"""
    fit, b = fitted("mediation"), boot()
    again = fit.bootstrap(N_BOOT, seed=SEED, ci="bca", batch_size=BATCH, progress=False)
    np.testing.assert_array_equal(again.x, b.x)
    pd.testing.assert_frame_equal(again.estimates(), b.estimates())
    other_seed = fit.bootstrap(N_BOOT, seed=SEED + 1, batch_size=BATCH, progress=False)
    assert not np.allclose(other_seed.x, b.x)


def test_progress_bar_on_request_and_silence_on_request(capsys):
    fit = fitted("mediation")
    fit.bootstrap(30, seed=1, ci="perc", batch_size=BATCH, progress=True)
    assert "bootstrap" in capsys.readouterr().err
    fit.bootstrap(30, seed=1, ci="perc", batch_size=BATCH, progress=False)
    assert capsys.readouterr().err == ""


def test_any_replicate_can_be_reproduced_from_its_indices():
    fit, b = fitted("mediation"), boot()
    r = 17
    data = pd.DataFrame(fit.data.rows[b.indices(r)[0]], columns=fit.spec.ov)
    model = (REFERENCE / "mediation" / "model.lav").read_text()
    np.testing.assert_allclose(se.sem(model, data=data).x, b.x[r], rtol=1e-6, atol=1e-8)


def test_failed_replicates_are_counted_reported_and_left_out():
    """Six rows: a resample with fewer than four distinct rows has a singular covariance matrix."""
    fit = fitted("mediation")
    model = (REFERENCE / "mediation" / "model.lav").read_text()
    tiny = se.sem(model, data=pd.DataFrame(fit.data.rows[:6], columns=fit.spec.ov))
    with pytest.warns(se.ConvergenceWarning, match=r"\d+ of 100 bootstrap replicates failed"):
        b = tiny.bootstrap(100, seed=3, ci="perc", batch_size=BATCH, progress=False)
    distinct = np.array([len(np.unique(idx)) for idx in b.indices()])
    failures = b.failures()
    assert b.n_failed == len(failures) > 0
    assert set(failures["replicate"]) == set(np.flatnonzero(~b.ok))
    assert set(np.flatnonzero(distinct < 4)) <= set(failures["replicate"])
    assert failures["status"].isin(list(STATUS_TEXT.values()) + ["non-finite estimates"]).all()
    good = b.x[b.ok]
    table = b.estimates()
    row = int(np.flatnonzero(tiny.partable.table["label"] == "a")[0])
    k = tiny.partable.table["free"][row] - 1
    assert table["boot_se"][row] == pytest.approx(np.std(good[:, k], ddof=1), rel=1e-9)


def test_bollen_stine_data_reproduce_the_implied_covariance_and_give_the_test_pvalue():
    fit = fitted("poldem_path")
    b = fit.bootstrap(N_BOOT, seed=5, ci="perc", kind="bollen_stine", batch_size=BATCH, progress=False)
    centred = b.rows - b.rows.mean(axis=0)
    np.testing.assert_allclose(centred.T @ centred / b.rows.shape[0], fit.implied_arrays[0], atol=1e-10)
    z0 = jnp.asarray(fit.reparam.to_z(fit.x))
    chisq = []
    for idx in b.indices()[:40]:
        state = fit.engine.fit_moments(numpy_moments(b.rows[idx]), z0)
        chisq.append(fit.nobs * float(state.f))
    np.testing.assert_allclose(b.chisq[:40], chisq, rtol=1e-6, atol=1e-9)
    assert b.bollen_stine_pvalue == np.mean(b.chisq[b.ok] > fit.chisq)
    with pytest.raises(se.ModelError, match="bollen_stine"):
        _ = boot().bollen_stine_pvalue


@pytest.mark.timeout(300, method="thread")
def test_hundreds_of_replicates_in_one_batch_give_ses_near_the_delta_method():
    """Data simulated (N = 2000) from the fitted Holzinger-Swineford CFA: bootstrap SEs of 300
    replicates approximate the expected-information SEs (Monte Carlo error of an SE from 300
    draws: about 4%).  The 300-replicate batch of this model deadlocked jaxlib 0.10.2's CPU
    thread pool (see README); the thread-method timeout ends a hang instead of stalling CI."""
    ref = fitted("hs_cfa")
    rng = np.random.default_rng(2024)
    data = rng.multivariate_normal(np.zeros(ref.spec.p), ref.implied_arrays[0], size=2000)
    model = (REFERENCE / "hs_cfa" / "model.lav").read_text()
    fit = se.cfa(model, data=pd.DataFrame(data, columns=ref.spec.ov))
    b = fit.bootstrap(300, seed=1, ci="perc", batch_size=300, progress=False)
    assert b.n_failed == 0
    free = (fit.partable.table["free"] > 0).to_numpy()
    np.testing.assert_allclose(b.estimates()["boot_se"][free], fit.estimates()["se"][free], rtol=0.2)


def test_covariance_input_and_bad_arguments_are_refused():
    fit = fitted("mediation")
    model = (REFERENCE / "mediation" / "model.lav").read_text()
    rows = pd.DataFrame(fit.data.rows, columns=fit.spec.ov)
    from_cov = se.sem(model, sample_cov=rows.cov(), sample_nobs=len(rows), sample_mean=rows.mean())
    with pytest.raises(se.DataError, match="covariance matrix"):
        from_cov.bootstrap(10)
    for bad in ({"ci": "student"}, {"kind": "parametric"}, {"level": 1.5}, {"batch_size": 0}):
        with pytest.raises(se.ModelError):
            fit.bootstrap(10, **bad)
    with pytest.raises(se.ModelError, match="at least 2"):
        fit.bootstrap(1)
