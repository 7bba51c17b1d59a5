"""Monte Carlo power analysis: simulate from a population model, fit an analysis model, summarize.

For each sample size N, ``reps`` data sets are drawn from the population model (simulate.py) and
the analysis model is fitted to each (montecarlo.py, in vmapped chunks).  Per parameter and
``:=`` parameter, with θ its value in the population (the analysis model's estimate on the
population moments) and the summaries over the converged replicates:

    bias = mean(θ̂) - θ,   relative bias = bias / θ,   SD = sd(θ̂),   mean SE = mean(se),
    coverage = share of |θ̂ - θ| ≤ z_{(1+level)/2} se,   power = share of |θ̂ / se| > z_{1-α/2}

(Muthén & Muthén 2002).  The model test rejects when n_eff F_ML exceeds the 1 - α quantile of
χ²(df); its expected rejection rate is P(χ²(df, λ) > that quantile) with noncentrality
λ = n_eff F₀, F₀ the analysis model's F_ML in the population (Satorra & Saris 1985).

Chunks of replicates are submitted to any ``concurrent.futures.Executor`` (e.g. a Dask cluster's
``Client.get_executor()``); without one they run in this process.  Each chunk's numbers depend
only on the design, N and its replicate numbers (montecarlo.py), so every executor gives the
same results.  With ``results_file`` every finished chunk is appended to a JSON-lines file whose
first line records the design; a rerun with the same design reads it and computes only the
missing chunks (more sample sizes or replicates may be added).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import distributions, montecarlo, simulate
from .bootstrap import PROGRESS_DELAY_S, default_batch_size
from .errors import ModelError, SemError
from .expressions import to_text
from .objective import n_eff
from .optimize import CONVERGED
from .options import make_options

FORMAT = "sem_engine.power/1"
SUMMARY_COLUMNS = ["n", "parameter", "lhs", "op", "rhs", "label", "true", "mean_est", "bias", "rel_bias",
                   "sd", "mean_se", "coverage", "power", "converged"]


class OptionalDependencyError(SemError, ImportError):
    """An optional package (matplotlib, dask.distributed) is needed and not installed."""


def power(population_model: str, analysis_model: str, n=(100, 200, 400), reps: int = 1000, *,
          seed: int | None = None, alpha: float = 0.05, level: float = 0.95, skew=None, kurtosis=None,
          executor=None, chunk_size: int | None = None, progress: bool | None = None,
          results_file: str | os.PathLike | None = None, **options) -> "PowerAnalysis":
    """Monte Carlo power analysis of ``analysis_model`` under data from ``population_model``.

    ``n``: sample sizes (one or a sequence); ``reps`` replicates at each.  ``skew``/``kurtosis``
    give non-normal data (simulate_data).  ``executor``: a ``concurrent.futures.Executor`` (e.g.
    ``dask.distributed.Client(...).get_executor()``) or a Dask scheduler address; default: this
    process.  ``chunk_size`` replicates are fitted per vmapped batch and per submitted task
    (default: up to 256).  ``results_file`` keeps finished chunks so an interrupted run resumes.
    ``options`` are the analysis model's (``sem()``'s: ``std_lv``, ``likelihood``, ...).
    ``progress``: True shows a bar over chunks, False never, None once a run takes over 2 s.
    """
    sizes = _check_sizes(n)
    _check_arguments(reps, alpha, level, chunk_size, executor)
    opts = make_options(**options)
    if opts.estimator != "ML" or opts.information != "expected" or opts.missing != "listwise":
        raise ModelError('power() fits complete simulated data by ML with expected-information standard '
                         'errors: leave estimator, information and missing at their defaults')
    names = simulate.population_table(population_model).variables.ov
    header = _read_header(results_file)
    if seed is None:
        seed = header["design"]["seed"] if header else int(np.random.SeedSequence().generate_state(1)[0])
    design = montecarlo.Design(
        population_model, analysis_model, tuple(sorted(options.items())),
        _per_variable(skew, names, "skew"), _per_variable(kurtosis, names, "kurtosis"), int(seed),
        int(chunk_size or default_batch_size(reps, (max(sizes), len(names)))))
    study = montecarlo.study(design)
    _check_analysis(study, sizes)
    chunks = _load_chunks(results_file, design, header)
    tasks = [(size, start, min(design.chunk_size, reps - start))
             for size in sizes for start in range(0, reps, design.chunk_size)]
    todo = [t for t in tasks if t not in chunks]
    with tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="power", unit="chunk",
              disable=progress is False, delay=0 if progress else PROGRESS_DELAY_S, leave=False) as bar:
        for task, chunk in _run(design, todo, executor):
            chunks[task] = chunk
            _append_chunk(results_file, task, chunk)
            bar.update(1)
    runs = {size: montecarlo.Chunk(*(np.concatenate(a) for a in zip(*(chunks[t] for t in tasks if t[0] == size))))
            for size in sizes}
    return PowerAnalysis(design, sizes, reps, alpha, level, study, runs)


@dataclass(frozen=True, eq=False)
class PowerAnalysis:
    """Replicates of a power analysis and their summaries.  ``runs[N]``: a montecarlo.Chunk with
    every replicate at sample size N (statistics: the free parameters, then the ``:=`` ones)."""

    design: montecarlo.Design
    n: tuple[int, ...]
    reps: int
    alpha: float
    level: float
    study: montecarlo.Study
    runs: dict

    @property
    def seed(self) -> int:
        return self.design.seed

    @property
    def df(self) -> int:
        return self.study.fit.df

    @cached_property
    def parameters(self) -> pd.DataFrame:
        """One row per statistic: parameter (label or lhs+op+rhs), lhs, op, rhs, label, true."""
        fit = self.study.fit
        rows = fit.partable.table.iloc[fit.spec.free_rows]
        defs = fit.partable.definitions
        out = pd.DataFrame({
            "lhs": [*rows["lhs"], *(d.name for d in defs)],
            "op": [*rows["op"], *([":="] * len(defs))],
            "rhs": [*rows["rhs"], *(to_text(d.expr) for d in defs)],
            "label": [*rows["label"], *(d.name for d in defs)],
            "true": self.study.truth()})
        out.insert(0, "parameter", np.where(out["label"] != "", out["label"], out["lhs"] + out["op"] + out["rhs"]))
        return out

    def converged(self, size: int) -> np.ndarray:
        """Mask of the replicates at ``size`` whose fit converged to finite estimates."""
        run = self.runs[size]
        return (run.status == CONVERGED) & np.all(np.isfinite(run.est), axis=1)

    def summary(self) -> pd.DataFrame:
        """Per sample size and parameter: true value, mean estimate, bias, relative bias, SD,
        mean SE, coverage of the ``level`` Wald interval, power at ``alpha``, convergence rate."""
        crit_ci = distributions.norm_ppf(0.5 + self.level / 2)
        crit_test = distributions.norm_ppf(1 - self.alpha / 2)
        params = self.parameters
        truth = params["true"].to_numpy()
        tables = []
        for size in self.n:
            ok = self.converged(size)
            est, se = self.runs[size].est[ok], self.runs[size].se[ok]
            has_se = np.isfinite(se) & (se > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                covered = np.where(has_se, np.abs(est - truth) <= crit_ci * se, np.nan)
                rejected = np.where(has_se, np.abs(est / se) > crit_test, np.nan)
                bias = est.mean(axis=0) - truth if ok.any() else np.full(truth.shape, np.nan)
                table = params.assign(
                    mean_est=est.mean(axis=0) if ok.any() else np.nan, bias=bias,
                    rel_bias=np.where(truth != 0, bias / truth, np.nan),
                    sd=est.std(axis=0, ddof=1) if ok.sum() > 1 else np.nan,
                    mean_se=_nanmean(np.where(has_se, se, np.nan)), coverage=_nanmean(covered),
                    power=_nanmean(rejected), converged=ok.mean())
            tables.append(table.assign(n=size))
        return pd.concat(tables, ignore_index=True)[SUMMARY_COLUMNS]

    def model_test(self) -> pd.DataFrame:
        """Per sample size: convergence rate, mean chi-square, df, rejection rate of the model
        test at ``alpha``, and the rate the noncentral chi-square distribution predicts."""
        df = self.df
        f0 = float(self.study.fit.state.f)
        crit = distributions.chi2_ppf(1 - self.alpha, df) if df > 0 else np.nan
        rows = []
        for size in self.n:
            ok = self.converged(size)
            chisq = self.runs[size].chisq[ok]
            lam = max(float(n_eff(size, self.design.likelihood)) * f0, 0.0)
            rows.append({"n": size, "converged": float(ok.mean()), "mean_chisq": float(_nanmean(chisq)), "df": df,
                         "rejection_rate": float(_nanmean(chisq > crit)) if df > 0 else np.nan,
                         "noncentrality": lam,
                         "expected_rate": _expected_rate(crit, df, lam)})
        return pd.DataFrame(rows)

    def plot(self, parameters: Sequence[str] | None = None, ax=None, model_test: bool = True):
        """Power against N for ``parameters`` (names as in ``summary()``'s ``parameter``; default:
        the ``:=`` and ``~`` parameters, else every non-variance parameter) and, with
        ``model_test``, the chi-square test's rejection rate.  Returns the matplotlib Axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise OptionalDependencyError("plot() needs matplotlib: pip install matplotlib") from None
        table = self.summary()
        chosen = _default_parameters(self.parameters) if parameters is None else list(parameters)
        unknown = sorted(set(chosen) - set(table["parameter"]))
        if unknown:
            raise ModelError(f"unknown parameters {', '.join(unknown)}; choose from "
                             f"{', '.join(dict.fromkeys(table['parameter']))}")
        if ax is None:
            _, ax = plt.subplots()
        for name in chosen:
            rows = table[table["parameter"] == name]
            ax.plot(rows["n"], rows["power"], marker="o", label=name)
        if model_test and self.df > 0:
            test = self.model_test()
            ax.plot(test["n"], test["rejection_rate"], marker="s", linestyle="--", color="grey",
                    label="model chi-square test")
        ax.axhline(0.8, color="lightgrey", linewidth=0.8)
        ax.set(xlabel="N", ylabel=f"power (alpha = {self.alpha:g})", ylim=(-0.02, 1.02))
        ax.legend()
        return ax

    def __repr__(self) -> str:
        return (f"<sem_engine PowerAnalysis: N = {', '.join(map(str, self.n))}; {self.reps} replicates "
                f"each (seed {self.seed})>")


def _expected_rate(crit: float, df: int, lam: float) -> float:
    """P(χ²(df, λ) > crit); NaN without degrees of freedom."""
    if df <= 0:
        return np.nan
    return distributions.ncx2_sf(crit, df, lam)


def _default_parameters(params: pd.DataFrame) -> list[str]:
    focus = params["op"].isin([":=", "~"])
    if not focus.any():
        focus = ~((params["op"] == "~~") & (params["lhs"] == params["rhs"]))
    return list(params.loc[focus, "parameter"])


def _nanmean(values) -> np.ndarray | float:
    values = np.asarray(values, dtype=float)
    count = np.sum(np.isfinite(values), axis=0)
    total = np.nansum(values, axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# -- running chunks ------------------------------------------------------------------------------
def _run(design, tasks: list, executor) -> Iterator[tuple[tuple, montecarlo.Chunk]]:
    """(task, chunk) as chunks finish: in this process, or on ``executor`` (or a Dask address)."""
    if executor is None:
        for task in tasks:
            yield task, montecarlo.run_chunk(design, *task)
        return
    client = None
    if isinstance(executor, str):
        client = _dask_client(executor)
        executor = client.get_executor()
    futures = {executor.submit(montecarlo.run_chunk, design, *task): task for task in tasks}
    try:
        for future in concurrent.futures.as_completed(futures):
            yield futures[future], montecarlo.Chunk(*future.result())
    finally:
        for future in futures:
            future.cancel()
        if client is not None:
            client.close()


def _dask_client(address: str):
    try:
        from dask.distributed import Client
    except ImportError:
        raise OptionalDependencyError('a scheduler address needs Dask: pip install "dask[distributed]"') from None
    return Client(address)


# -- the results file ----------------------------------------------------------------------------
def _read_header(path) -> dict | None:
    if path is None or not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    with open(path) as f:
        try:
            header = json.loads(f.readline())
        except json.JSONDecodeError:
            header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelError(f"{path} is not a sem_engine power results file; give another results_file")
    return header


def _load_chunks(path, design: montecarlo.Design, header: dict | None) -> dict:
    """Finished chunks of ``design`` in the results file, keyed by (N, start, size); a new file
    gets the header line."""
    if path is None:
        return {}
    stored = json.loads(json.dumps(asdict(design)))
    if header is None:
        with open(path, "w") as f:
            f.write(json.dumps({"format": FORMAT, "design": stored}) + "\n")
        return {}
    if header["design"] != stored:
        differ = [k for k in stored if header["design"].get(k) != stored[k]]
        raise ModelError(f"{path} holds results of another study ({', '.join(differ)} differ); "
                         "give another results_file or delete it")
    with open(path) as f:
        *lines, tail = f.read().split("\n")
    if tail:  # a line cut short by an interruption: dropped (its chunk is recomputed)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
    chunks = {}
    for i, line in enumerate(lines[1:]):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise ModelError(f"{path} is damaged (line {i + 2}); delete it to start over") from None
        chunks[(rec["n"], rec["start"], rec["size"])] = montecarlo.Chunk(
            np.array(rec["est"], dtype=float).reshape(rec["size"], -1),
            np.array(rec["se"], dtype=float).reshape(rec["size"], -1),
            np.array(rec["chisq"], dtype=float), np.array(rec["status"], dtype=int))
    return chunks


def _append_chunk(path, task: tuple, chunk: montecarlo.Chunk) -> None:
    if path is None:
        return
    size, start, count = task
    rec = {"n": size, "start": start, "size": count, "est": chunk.est.tolist(), "se": chunk.se.tolist(),
           "chisq": chunk.chisq.tolist(), "status": chunk.status.astype(int).tolist()}
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


# -- arguments -----------------------------------------------------------------------------------
def _per_variable(value, names, what: str) -> tuple[float, ...] | None:
    return None if value is None else tuple(simulate.per_variable(value, names, what))


def _whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_sizes(n) -> tuple[int, ...]:
    sizes = (n,) if np.ndim(n) == 0 else tuple(n)
    if not sizes or not all(_whole(s) and s >= 2 for s in sizes):
        raise ModelError(f"n={n!r}: give one sample size or a sequence of them, each a whole number of at least 2")
    if len(set(sizes)) != len(sizes):
        raise ModelError(f"n={n!r} repeats a sample size")
    return tuple(int(s) for s in sizes)


def _check_arguments(reps, alpha, level, chunk_size, executor) -> None:
    if not _whole(reps) or reps < 2:
        raise ModelError(f"reps={reps!r}: the number of replicates must be a whole number of at least 2")
    for name, value in (("alpha", alpha), ("level", level)):
        if not 0 < value < 1:
            raise ModelError(f"{name}={value!r} must lie strictly between 0 and 1")
    if chunk_size is not None and (not _whole(chunk_size) or chunk_size < 1):
        raise ModelError(f"chunk_size={chunk_size!r} must be a positive whole number")
    if executor is not None and not isinstance(executor, str) and not hasattr(executor, "submit"):
        raise ModelError("executor must be a concurrent.futures.Executor (e.g. "
                         "dask.distributed.Client(...).get_executor()) or a Dask scheduler address")


def _check_analysis(study: montecarlo.Study, sizes: tuple[int, ...]) -> None:
    p = len(study.fit.spec.ov)
    small = [s for s in sizes if s <= p]
    if small:
        raise ModelError(f"sample sizes {', '.join(map(str, small))} do not exceed the {p} observed variables "
                         "of the analysis model: their sample covariance matrices would be singular")
