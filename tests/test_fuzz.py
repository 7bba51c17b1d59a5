"""Fuzzing: whatever model string, option value or data mutation a user gives, sem_engine answers
with results or with one of its own errors (SemError), never a numpy, scipy, pandas or JAX
exception.

The examples per test are bounded for CI; a longer run (README, "Testing"):

    SEM_ENGINE_FUZZ=2000 python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sem_engine as se
from sem_engine import cli
from sem_engine.errors import SemError

HS = se.datasets.holzinger_swineford_1939()
OBSERVED = ["x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "ageyr", "grade"]
LATENT = ["f1", "f2", "f3"]
EXAMPLES = int(os.environ.get("SEM_ENGINE_FUZZ", "12"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("SEM_ENGINE_FUZZ"),
                suppress_health_check=list(HealthCheck))

names = st.sampled_from(OBSERVED + LATENT + ["nope"])
numbers = st.sampled_from(["0", "1", "-1", "0.5", "1e6", "1e-300", "NA", "nan", "inf"])
modifier = st.one_of(st.just(""), numbers.map(lambda v: f"{v}*"), st.sampled_from(["a*", "b*", "start(2)*",
                                                                                     "equal(\"a\")*"]))
term = st.tuples(modifier, names).map("".join)
rhs = st.lists(term, min_size=1, max_size=4).map(" + ".join)
statement = st.one_of(
    st.tuples(st.sampled_from(LATENT), st.just(" =~ "), rhs).map("".join),
    st.tuples(names, st.sampled_from([" ~ ", " ~~ "]), rhs).map("".join),
    st.tuples(names, st.just(" ~ 1")).map("".join),
    st.sampled_from(["ab := a*b", "a == b", "a > 0", "a == 2*b", "f1 =~", "~~ x1", "x1 ~~ ~~", "#",
                     "f1 =~ x1 +\n x2", "group: 1", "y1 | t1"]),
)
models = st.lists(statement, min_size=1, max_size=5).map("\n".join)
option_values = st.fixed_dictionaries({}, optional={
    "std_lv": st.sampled_from([True, False, "false", 1, None]),
    "fixed_x": st.sampled_from([True, False, "yes"]),
    "meanstructure": st.sampled_from([True, False, None]),
    "estimator": st.sampled_from(["ML", "mlr", "MLM", "WLSMV", 3]),
    "missing": st.sampled_from(["listwise", "ml", "ml.x", "pairwise"]),
    "level": st.sampled_from([0.9, 1.5, "abc", float("nan")]),
    "max_iter": st.sampled_from([1, 5, 0, -1, 2.5]),
    "orthogonal": st.booleans(),
})


def _answer(call):
    """Run ``call``; a SemError is an answer, any other exception fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except SemError:
        return None


def _mutate(data: pd.DataFrame, kind: str, column: str, rng) -> pd.DataFrame:
    d = data.copy()
    if kind == "scale":
        d[column] = d[column] * 10.0 ** rng.uniform(-8, 8)
    elif kind == "nan":
        d.loc[rng.choice(len(d), 30, replace=False), column] = np.nan
    elif kind == "inf":
        d.loc[3, column] = np.inf
    elif kind == "constant":
        d[column] = 1.0
    elif kind == "duplicate":
        d["x2"] = d[column]
    elif kind == "tiny":
        d = d.iloc[:4]
    elif kind == "integer":
        d[column] = (d[column] * 100).round().astype("Int64")
    elif kind == "text":
        d[column] = d[column].astype(str)
    return d


@FUZZ
@given(model=models, options=option_values)
def test_any_model_and_options(model, options):
    fit = _answer(lambda: se.sem(model, data=HS, **options))
    if fit is not None:
        _answer(lambda: str(fit.summary()))
        _answer(fit.modification_indices)


@FUZZ
@given(kind=st.sampled_from(["scale", "nan", "inf", "constant", "duplicate", "tiny", "integer", "text"]),
       column=st.sampled_from(["x1", "x2", "x3", "x4"]), seed=st.integers(0, 2**16),
       missing=st.sampled_from(["listwise", "ml"]))
def test_any_data_mutation(kind, column, seed, missing):
    data = _mutate(HS, kind, column, np.random.default_rng(seed))
    fit = _answer(lambda: se.cfa("f =~ x1 + x2 + x3 + x4", data=data, missing=missing))
    if fit is not None:
        _answer(lambda: str(fit.summary()))
        _answer(fit.standardized)


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["scale", "nan", "integer"]), seed=st.integers(0, 2**16))
def test_bootstrap_of_mutated_data(kind, seed):
    data = _mutate(HS, kind, "x2", np.random.default_rng(seed))
    fit = _answer(lambda: se.cfa("f =~ x1 + x2 + x3 + x4", data=data))
    if fit is not None:
        _answer(lambda: fit.bootstrap(50, seed=seed, progress=False))


@FUZZ
@given(args=st.lists(st.sampled_from(["-o", "std_lv=maybe", "level=abc", "max_iter=x", "--seed", "-3",
                                      "--bootstrap", "0", "--nobs", "12", "--format", "yaml", "--sample-cov",
                                      "--ci", "nope", "estimator=mlr"]), max_size=4))
def test_any_command_line(args, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    model, data = folder / "m.lav", folder / "d.csv"
    model.write_text("f =~ x1 + x2 + x3\n")
    HS[["x1", "x2", "x3"]].to_csv(data, index=False)
    try:
        code = cli.main(["fit", str(model), str(data), *args])
    except SystemExit as done:       # argparse: a usage error
        code = done.code
    assert code in cli.EXIT_CODES and code != 70
