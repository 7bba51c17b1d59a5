"""The compilation rule (DESIGN.md): compiled code is shared by every model of a size class, and
padding a model into a larger class changes no number.  Budgets on the compile counter are
deterministic, unlike timings (which live in benchmarks/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sem_engine as se
from sem_engine import compilation, size_classes

ROOT = Path(__file__).resolve().parents[1]
HS = se.datasets.holzinger_swineford_1939()
HS_3 = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
LARGER = dict(p=64, m=48, npar=256, rows=512, groups=4)

CASES = {
    "cfa": (HS_3, {}),
    "sem_covariates_defined": (
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual ~ ageyr\ntextual ~ b*visual + sex\nhalf := b/2",
        {"meanstructure": True}),
    "fixed_x_false": ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\ntextual ~ ageyr", {"fixed_x": False}),
    "constraints": ("visual =~ x1 + a*x2 + b*x3\ntextual =~ x4 + x5 + x6\na == b", {"std_lv": True}),
    "multigroup": (HS_3, {"group": "school", "group_equal": ["loadings", "intercepts"]}),
}


def _fit(model, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return se.sem(model, data=HS, **options)


def _numbers(frame: pd.DataFrame) -> np.ndarray:
    return frame.select_dtypes("number").to_numpy(dtype=float)


@pytest.mark.parametrize("case", list(CASES))
def test_a_model_padded_into_a_larger_class_gives_the_same_numbers(case):
    model, options = CASES[case]
    own = _fit(model, **options)
    with size_classes.floor(**LARGER):
        padded = _fit(model, **options)
    assert padded.engine.sizes != own.engine.sizes
    assert padded.engine.sizes.p == LARGER["p"] and padded.engine.sizes.npar == LARGER["npar"]
    # The optimizer stops at max |g| < 1e-11 (unit scale), so the estimates are defined to about
    # 1e-11 (the padding changes only the order of sums: rounding); χ² is second order in them.
    np.testing.assert_allclose(padded.x, own.x, rtol=0, atol=1e-11)
    assert padded.chisq == pytest.approx(own.chisq, rel=1e-12, abs=1e-12)
    # SEs, z and p pass through the inverse information: a few more digits of rounding
    np.testing.assert_allclose(_numbers(padded.estimates()), _numbers(own.estimates()), rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(padded.fit_measures().to_numpy(dtype=float), own.fit_measures().to_numpy(dtype=float),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_numbers(padded.standardized()), _numbers(own.standardized()), rtol=1e-11, atol=1e-12)
    # MIs are N s²/v with the score s first order in the estimates: 1e-11 there is ~1e-9 here
    np.testing.assert_allclose(_numbers(padded.modification_indices()), _numbers(own.modification_indices()),
                               rtol=1e-8, atol=1e-9)


def test_padded_parameters_never_move():
    """The padded coordinates of x stay at 0 after a fit in a larger class."""
    with size_classes.floor(**LARGER):
        fit = _fit(HS_3)
    eng = fit.engine
    z = eng._vector(fit.reparam.to_z(fit.x))
    state = eng.refit_moments(fit.moments, fit.reparam.to_z(fit.x), np.linalg.pinv(
        eng.hessian_z(fit.reparam.to_z(fit.x), fit.moments)))
    assert z[fit.npar:].tolist() == [0.0] * (len(z) - fit.npar)
    np.testing.assert_allclose(state.x, fit.x, atol=1e-10)
    loss, grad = eng.loss(fit.x, fit.moments)
    np.testing.assert_allclose(grad, 0.0, atol=1e-8)


def _random_models(rng: np.random.Generator, k: int) -> list[str]:
    """k distinct CFAs and SEMs on Holzinger-Swineford's nine tests (one size class)."""
    items = [f"x{i}" for i in range(1, 10)]
    out = []
    while len(out) < k:
        n_factors = int(rng.integers(1, 4))
        order = rng.permutation(items)
        parts = np.array_split(order, n_factors)
        lines = [f"f{j} =~ " + " + ".join(part) for j, part in enumerate(parts) if len(part) >= 3]
        if not lines:
            continue
        if rng.random() < 0.5:
            a, b = rng.choice(items, 2, replace=False)
            lines.append(f"{a} ~~ {b}")
        if rng.random() < 0.4:
            lines.append("f0 ~ ageyr")
        model = "\n".join(lines)
        if model not in out:
            out.append(model)
    return out


def test_new_models_of_a_compiled_size_class_compile_nothing():
    """After the first, fitting 10 random CFAs/SEMs of one size class, with their estimates, fit
    measures and modification indices, builds no executable (compiled or loaded)."""
    first = _fit(HS_3)
    first.estimates(), first.fit_measures(), first.modification_indices()
    models = _random_models(np.random.default_rng(20261204), 10)
    before = compilation.executables()
    sizes = set()
    for model in models:
        fit = _fit(model)
        fit.estimates(), fit.fit_measures(), fit.modification_indices(), fit.reliability(), fit.r2()
        sizes.add(fit.engine.sizes)
    assert sizes == {first.engine.sizes}
    assert compilation.executables() - before == 0


def test_the_twenty_model_search_compiles_at_most_twelve_executables():
    """benchmarks/search.py's 20 models (2-14 factors' worth of sizes), each with estimates, fit
    measures and modification indices, in a fresh process with no persistent cache."""
    # XLA's own optimizations on, as for a user: at conftest's level 0 the 20 fits run ~15 min, not ~1
    flags = os.environ.get("XLA_FLAGS", "").replace("--xla_backend_optimization_level=0", "").strip()
    env = dict(os.environ, SEM_ENGINE_CACHE="0", XLA_FLAGS=flags)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "search.py"), "--compiles"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(m["converged"] for m in result["models"])
    assert result["loaded"] == 0
    assert result["compiled"] <= 12


def test_persistent_cache_is_hit_by_a_new_process(tmp_path):
    """A second process with the same cache folder loads the kernels instead of compiling them."""
    script = ("import sem_engine as se, json\nfrom sem_engine import compilation\n"
              f"fit = se.cfa({HS_3!r}, data=se.datasets.holzinger_swineford_1939())\n"
              "fit.estimates()\n"
              "print(json.dumps([compilation.count(), compilation.cache_hits(), str(compilation.cache_dir())]))")
    env = dict(os.environ, SEM_ENGINE_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("SEM_ENGINE_CACHE", None)
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    (compiled_1, hits_1, folder), (compiled_2, hits_2, _) = runs
    assert folder == str(tmp_path / "cache")
    assert compiled_1 >= 4 and hits_1 == 0
    assert compiled_2 == 0 and hits_2 >= 4
    off = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         env=dict(env, SEM_ENGINE_CACHE="0"))
    assert json.loads(off.stdout.strip().splitlines()[-1])[2] == "None"
