"""Monte Carlo power analysis: replicates against single fits, the textbook properties of ML at a
large N (coverage, bias, the chi-square's noncentral distribution) with tolerances from the
Monte Carlo error, identical results in-process and on a Dask cluster, and resumable runs."""

import json
import os
import sys
from functools import lru_cache

import jax
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import sem_engine as se
from sem_engine import montecarlo
from sem_engine.power import OptionalDependencyError

CFA_ANALYSIS = """
visual =~ x1 + l2*x2 + l3*x3
textual =~ x4 + x5 + x6
visual ~~ c*textual
ratio := l2 / l3
"""
MEDIATION_POP = "M ~ 0.2*X\nY ~ 0.2*M + 0.1*X\n"
MEDIATION = "M ~ a*X\nY ~ b*M + c*X\nab := a*b\n"
OMITS_C = "M ~ a*X\nY ~ b*M\nab := a*b\n"


def cfa_population(l1, l2, l3, l4, l5, l6, phi):
    """Two standardized factors; residual variances 1 - λ²."""
    lam = [l1, l2, l3, l4, l5, l6]
    lines = [f"visual =~ {l1}*x1 + {l2}*x2 + {l3}*x3", f"textual =~ {l4}*x4 + {l5}*x5 + {l6}*x6",
             f"visual ~~ {phi}*textual"]
    lines += [f"x{i + 1} ~~ {1 - v * v}*x{i + 1}" for i, v in enumerate(lam)]
    return "\n".join(lines)


def mc_se(p: float, reps: int) -> float:
    """Monte Carlo standard error of a proportion p estimated from reps replicates."""
    return float(np.sqrt(p * (1 - p) / reps))


@lru_cache(maxsize=None)
def mediation_power():
    return se.power(MEDIATION_POP, OMITS_C, n=[50, 150, 400], reps=400, seed=2, progress=False)


def test_replicate_equals_a_single_fit_of_its_data():
    """Replicate r's estimates, SEs (free and :=) and chi-square are those of sem() on its moments."""
    result = se.power(MEDIATION_POP, MEDIATION, n=60, reps=10, seed=4, chunk_size=5, progress=False)
    study = result.study
    sims = study.replicates(60, result.seed, "normal")
    names = list(study.fit.spec.ov)
    for r in (0, 5):
        m = sims.moments(np.array([r]))
        s = pd.DataFrame(np.asarray(m.s[0]) * 60 / 59, index=names, columns=names)
        fit = se.sem(MEDIATION, sample_cov=s, sample_nobs=60)
        table = fit.estimates(standardized=False)
        rows = (fit.partable.table["free"] > 0).tolist() + [True]
        np.testing.assert_allclose(result.runs[60].est[r], table["est"][rows], rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(result.runs[60].se[r], table["se"][rows], rtol=1e-7, atol=1e-10)
        assert result.runs[60].chisq[r] == pytest.approx(fit.chisq, abs=1e-8)


@settings(max_examples=3, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.5, 0.85), min_size=6, max_size=6), st.floats(-0.5, 0.5))
def test_correct_model_is_unbiased_with_nominal_coverage_at_n_500(loadings, phi):
    """At N = 500 ML is nearly unbiased and its Wald intervals cover at nearly 95%.  With R = 1000
    replicates the Monte Carlo SE of a coverage is √(.95·.05/R) = 0.0069 and of a mean estimate
    SD/√R; 4 such SEs bound each of the 3 x 14 checks (family-wise error about 3e-3).  ML's own
    bias is O(1/N), the order of SD², which is added to the bias bound: it matters for the loading
    ratios of weakly measured factors (loadings 0.5: SD ≈ 0.24, bias ≈ 0.03)."""
    reps = 1000
    result = se.power(cfa_population(*loadings, phi), CFA_ANALYSIS, n=500, reps=reps, seed=7, progress=False)
    table = result.summary()
    assert (table["converged"] == 1).all()
    assert np.all(np.abs(table["coverage"] - 0.95) < 4 * mc_se(0.95, reps))
    assert np.all(np.abs(table["bias"]) < 4 * table["sd"] / np.sqrt(reps) + table["sd"] ** 2)
    # SEs agree with the spread of the estimates: SD of an SD is about SD/√(2R)
    assert np.all(np.abs(table["mean_se"] / table["sd"] - 1) < 4 / np.sqrt(2 * reps) + 0.02)
    truth = table.set_index("parameter")["true"]
    assert truth["l2"] == pytest.approx(loadings[1] / loadings[0])
    assert truth["c"] == pytest.approx(phi * loadings[0] * loadings[3])
    assert truth["ratio"] == pytest.approx(loadings[1] / loadings[2])


def test_power_rises_with_n():
    table = mediation_power().summary().set_index(["parameter", "n"])
    for name in ("a", "b", "ab"):
        power = table.loc[name, "power"].to_numpy()
        assert np.all(np.diff(power) > 0), (name, power)
    assert table.loc[("ab", 50), "power"] < 0.2 and table.loc[("ab", 400), "power"] > 0.8


def test_chisq_rejection_follows_the_noncentral_distribution():
    """The model omits Y ~ X: its chi-square is about χ²(1, N F₀), so the rejection rate rises with
    N as the noncentral distribution predicts (N ≥ 150; at N = 50 the LR test is known to reject
    too often), within 4 Monte Carlo SEs."""
    test = mediation_power().model_test().set_index("n")
    assert (test["df"] == 1).all() and (test["converged"] == 1).all()
    assert np.all(np.diff(test["rejection_rate"]) > 0)
    for n in (150, 400):
        expected = test.loc[n, "expected_rate"]
        assert abs(test.loc[n, "rejection_rate"] - expected) < 4 * mc_se(expected, 400)
    saturated = se.power(MEDIATION_POP, MEDIATION, n=60, reps=5, seed=1, chunk_size=5, progress=False)
    saturated = saturated.model_test()
    assert saturated["df"][0] == 0 and np.isnan(saturated[["rejection_rate", "expected_rate"]].to_numpy()).all()


def test_correct_model_rejects_at_alpha():
    reps = 400
    pop = cfa_population(0.7, 0.6, 0.8, 0.8, 0.7, 0.6, 0.3)
    test = se.power(pop, CFA_ANALYSIS, n=500, reps=reps, seed=3, progress=False).model_test()
    assert test["expected_rate"][0] == pytest.approx(0.05)
    assert abs(test["rejection_rate"][0] - 0.05) < 4 * mc_se(0.05, reps)


def test_non_normal_data_are_used():
    normal = se.power(MEDIATION_POP, MEDIATION, n=60, reps=10, seed=5, chunk_size=5, progress=False)
    skewed = se.power(MEDIATION_POP, MEDIATION, n=60, reps=10, seed=5, chunk_size=5, progress=False, skew=1.5,
                      kurtosis=4)
    assert not np.allclose(normal.runs[60].est, skewed.runs[60].est)
    assert skewed.design.skew == (1.5, 1.5, 1.5)


def test_results_do_not_depend_on_where_chunks_run():
    from concurrent.futures import ThreadPoolExecutor

    args = dict(n=[60, 90], reps=12, seed=8, chunk_size=5, progress=False)
    here = se.power(MEDIATION_POP, MEDIATION, **args)
    with ThreadPoolExecutor(2) as pool:
        threaded = se.power(MEDIATION_POP, MEDIATION, executor=pool, **args)
    assert_same_runs(here, threaded)


def assert_same_runs(a, b):
    assert a.n == b.n
    for n in a.n:
        for field in montecarlo.Chunk._fields:
            np.testing.assert_array_equal(getattr(a.runs[n], field), getattr(b.runs[n], field))
    pd.testing.assert_frame_equal(a.summary(), b.summary())


@pytest.mark.timeout(300, method="thread")
def test_dask_local_cluster_gives_identical_results():
    distributed = pytest.importorskip("dask.distributed")
    args = dict(n=[60, 90], reps=20, seed=12, chunk_size=5, progress=False)
    here = se.power(MEDIATION_POP, MEDIATION, **args)
    # The workers get the test session's JAX settings (tests/conftest.py), so they find the code
    # compiled for the in-process run in the persistent cache.
    env = {f"JAX_{name.upper()}": str(getattr(jax.config, f"jax_{name}")) for name in
           ("compilation_cache_dir", "persistent_cache_min_compile_time_secs", "numpy_rank_promotion")
           if getattr(jax.config, f"jax_{name}") is not None}   # no cache: none ("None" would be a folder)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, env=env) as cluster:
        with distributed.Client(cluster) as client:
            on_dask = se.power(MEDIATION_POP, MEDIATION, executor=client.get_executor(), **args)
            workers = {w for w in client.run(os.getpid).values()}
        by_address = se.power(MEDIATION_POP, MEDIATION, executor=cluster.scheduler_address, **args)
    assert len(workers) == 2 and os.getpid() not in workers
    assert_same_runs(here, on_dask)
    assert_same_runs(here, by_address)


def test_interrupted_run_resumes_from_its_results_file(tmp_path, monkeypatch):
    args = dict(n=[60, 90], reps=15, seed=21, chunk_size=5, progress=False)
    full = se.power(MEDIATION_POP, MEDIATION, results_file=tmp_path / "full.jsonl", **args)
    lines = (tmp_path / "full.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 6 and json.loads(lines[0])["design"]["seed"] == 21
    # an interruption after two chunks, in the middle of writing the third
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])
    calls = count_chunks(monkeypatch)
    resumed = se.power(MEDIATION_POP, MEDIATION, results_file=cut, **{**args, "seed": None})
    assert len(calls) == 4 and resumed.seed == 21
    assert_same_runs(full, resumed)
    calls.clear()
    again = se.power(MEDIATION_POP, MEDIATION, results_file=cut, **args)
    assert calls == [] and again.summary().equals(full.summary())
    # more replicates reuse every finished chunk
    more = se.power(MEDIATION_POP, MEDIATION, results_file=cut, **{**args, "reps": 20})
    assert sorted(calls) == [(60, 15, 5), (90, 15, 5)]
    np.testing.assert_array_equal(more.runs[90].est[:15], full.runs[90].est)


def count_chunks(monkeypatch) -> list:
    calls = []
    run_chunk = montecarlo.run_chunk

    def counted(*args):
        calls.append(args[1:])
        return run_chunk(*args)

    monkeypatch.setattr(montecarlo, "run_chunk", counted)
    return calls


def test_results_file_of_another_study_is_refused(tmp_path):
    path = tmp_path / "run.jsonl"
    se.power(MEDIATION_POP, MEDIATION, n=60, reps=5, seed=1, chunk_size=5, progress=False, results_file=path)
    with pytest.raises(se.ModelError, match="seed differ"):
        se.power(MEDIATION_POP, MEDIATION, n=60, reps=5, seed=2, chunk_size=5, progress=False, results_file=path)
    other = tmp_path / "other.txt"
    other.write_text("hello\n")
    with pytest.raises(se.ModelError, match="not a sem_engine power results file"):
        se.power(MEDIATION_POP, MEDIATION, n=60, reps=4, seed=2, progress=False, results_file=other)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 0}, se.ModelError, "at least 2"),
    ({"n": [100, 100]}, se.ModelError, "repeats"),
    ({"n": [100.5]}, se.ModelError, "whole number"),
    ({"n": []}, se.ModelError, "sample size"),
    ({"n": 3}, se.ModelError, "do not exceed the 3 observed variables"),
    ({"reps": 1}, se.ModelError, "at least 2"),
    ({"alpha": 1.5}, se.ModelError, "alpha"),
    ({"level": 0}, se.ModelError, "level"),
    ({"chunk_size": 0}, se.ModelError, "chunk_size"),
    ({"executor": 42}, se.ModelError, "concurrent.futures.Executor"),
    ({"estimator": "MLR"}, se.ModelError, "estimator"),
    ({"missing": "ml"}, se.ModelError, "missing"),
    ({"skew": [1, 2]}, se.DataError, "2 values for 3 variables"),
    ({"kurtosis": -3.0}, se.DataError, "Fleishman"),
    ({"unknown_option": 1}, se.ModelError, "unknown option"),
])
def test_bad_arguments_raise_typed_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        se.power(MEDIATION_POP, MEDIATION, **{"n": 100, "reps": 4, "progress": False, **kwargs})


def test_analysis_variables_must_be_in_the_population():
    with pytest.raises(se.DataError, match="not in the population model: Z"):
        se.power(MEDIATION_POP, "M ~ X\nY ~ M + Z", n=100, reps=4, progress=False)


def test_plot_shows_power_against_n():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    result = mediation_power()
    ax = result.plot()
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:3] == ["a", "b", "ab"] and "model chi-square test" in labels
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [50, 150, 400])
    with pytest.raises(se.ModelError, match="unknown parameters nope"):
        result.plot(["nope"])
    import matplotlib.pyplot as plt

    plt.close("all")


def test_plot_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(OptionalDependencyError, match="pip install matplotlib"):
        mediation_power().plot()
