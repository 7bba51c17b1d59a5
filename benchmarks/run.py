"""sem_engine against lavaan (through Rscript) and semopy on the same work, in one command.

    python benchmarks/run.py                    # full sizes (several minutes)
    python benchmarks/run.py --quick            # tiny sizes, seconds (CI runs this)
    python benchmarks/run.py --semopy-python /path/to/venv/bin/python
    python benchmarks/run.py --only fiml        # only the tasks whose name contains "fiml"

Work (the thesis example's files; CFA data simulated with fixed seeds into a temporary folder; every tool
reads the same files):
1. The thesis's revised structural model (Sharimova 2020; examples/thesis/revised.lav) on the
   example's synthetic data with the published moments (N = 391,
   examples/thesis/thesis_synthetic.csv): one fit cold (a fresh model: parsing, compiling)
   and warm (the same model again), then 1,000 and 10,000 bootstrap refits with percentile
   intervals (sem_engine also BCa, which adds N leave-one-out refits).
2. CFA scaling: 3, 6, 12 and 20 factors x 8 indicators, N = 1,000, fit with standard errors.
3. Missing data (FIML, missing="ml"): the 3-factor Holzinger-Swineford CFA on its 12% MCAR data
   (tests/reference/missing/hs_missing.csv, N = 301, 59 patterns) and a simulated CFA of 4 x 5
   indicators, N = 2,000, 10% of the values deleted completely at random: fit with standard
   errors, and bootstrap refits (lavaan runs a tenth of the replicates, its time scaled up).
4. Peak memory of each task: the peak resident set size (VmHWM) of the process running it,
   reset before each task (Linux /proc/self/clear_refs), so it includes the interpreter, the
   libraries and what earlier tasks left resident; "+MiB" is the peak less the resident size
   at the task's start.

Timings are wall-clock; warm timings are the best of up to ``repeats`` runs (fewer once the runs
have taken a few seconds).  sem_engine runs in this
process (import it before JAX: its import configures JAX), lavaan in one Rscript process, semopy
(optional, a separate interpreter that has it installed) in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import sem_engine as se  # noqa: E402  (before jax: the import configures JAX's CPU runtime)
from sem_engine import pipeline, start  # noqa: E402
import jax  # noqa: E402

HERE = Path(__file__).resolve().parent
THESIS = HERE.parent / "examples" / "thesis"
SEED = 391



@dataclass(frozen=True)
class Sizes:
    boots: tuple[int, ...]
    factors: tuple[int, ...]
    indicators: int
    cfa_n: int
    repeats: int
    fiml_boots: int                          # bootstrap replicates of the HS FIML fit
    fiml_cfa: tuple[int, int, int] | None    # simulated FIML CFA: factors, indicators, N
    fiml_cfa_boots: int


FULL = Sizes(boots=(1000, 10000), factors=(3, 6, 12, 20), indicators=8, cfa_n=1000, repeats=10,
             fiml_boots=1000, fiml_cfa=(4, 5, 2000), fiml_cfa_boots=100)
QUICK = Sizes(boots=(20, 50), factors=(2, 3), indicators=4, cfa_n=200, repeats=2,
              fiml_boots=20, fiml_cfa=None, fiml_cfa_boots=0)
# BCa (the percentile run plus N jackknife refits) is timed up to this many replicates and rows.
BCA_MAX = 1000
# Share of a FIML bootstrap's replicates that lavaan runs (its time is scaled to all of them).
LAVAAN_FIML_SHARE = 0.1
MISSING_RATE = 0.1
FIML_DATA = HERE.parent / "tests" / "reference" / "missing"
# Targets on a 2-core CPU (issue 6); "ratio" is lavaan's time over sem_engine's.
TARGETS = {"thesis fit + SE warm": 0.003, "thesis bootstrap 1000 perc": 0.25, "cfa 20x8 + SE warm": 2.0,
           "cfa 20x8 + SE cold": 2.0}


# -- data ---------------------------------------------------------------------------------------
def simulate(cov: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.multivariate_normal(np.zeros(len(cov)), cov.to_numpy(), size=n), columns=cov.columns)


def cfa_model(factors: int, indicators: int) -> str:
    return "\n".join(f"f{k} =~ " + " + ".join(f"y{k}_{j}" for j in range(1, indicators + 1))
                     for k in range(1, factors + 1))


def cfa_population(factors: int, indicators: int) -> pd.DataFrame:
    """Loadings 0.7, factor correlations 0.3, unit item variances."""
    lam = np.kron(np.eye(factors), np.full((indicators, 1), 0.7))
    phi = np.full((factors, factors), 0.3) + 0.7 * np.eye(factors)
    cov = lam @ phi @ lam.T + 0.51 * np.eye(factors * indicators)
    names = [f"y{k}_{j}" for k in range(1, factors + 1) for j in range(1, indicators + 1)]
    return pd.DataFrame(cov, index=names, columns=names)


@dataclass(frozen=True)
class Task:
    name: str
    kind: str       # "fit" or "bootstrap"
    model: Path
    data: Path
    replicates: int
    missing: str = "listwise"
    lavaan_replicates: int | None = None   # fewer for lavaan (time scaled); None: the same


def delete_at_random(data: pd.DataFrame, rate: float, seed: int) -> pd.DataFrame:
    """Each value missing with probability ``rate``; rows left with no value dropped."""
    values = data.to_numpy(copy=True)
    values[np.random.default_rng(seed).uniform(size=values.shape) < rate] = np.nan
    return pd.DataFrame(values, columns=data.columns).dropna(how="all")


def write_tasks(folder: Path, sizes: Sizes) -> list[Task]:
    """Model and data files of every task (the same files for every tool)."""
    thesis_data, thesis_model = THESIS / "thesis_synthetic.csv", THESIS / "revised.lav"
    tasks = [Task("thesis fit", "fit", thesis_model, thesis_data, 0)]
    tasks += [Task(f"thesis bootstrap {b}", "bootstrap", thesis_model, thesis_data, b) for b in sizes.boots]
    for k in sizes.factors:
        stem = f"cfa_{k}x{sizes.indicators}"
        (folder / f"{stem}.lav").write_text(cfa_model(k, sizes.indicators) + "\n")
        data = simulate(cfa_population(k, sizes.indicators), sizes.cfa_n, SEED + k)
        data.to_csv(folder / f"{stem}.csv", index=False)
        tasks.append(Task(f"cfa {k}x{sizes.indicators}", "fit", folder / f"{stem}.lav", folder / f"{stem}.csv", 0))
    return tasks + fiml_tasks(folder, sizes)


def fiml_tasks(folder: Path, sizes: Sizes) -> list[Task]:
    """FIML fits and bootstraps: HS with 12% MCAR, and a simulated CFA with MISSING_RATE MCAR."""
    hs_model, hs_data = FIML_DATA / "hs_fiml" / "model.lav", FIML_DATA / "hs_missing.csv"
    b = sizes.fiml_boots
    tasks = [Task("hs fiml fit", "fit", hs_model, hs_data, 0, "ml"),
             Task(f"hs fiml bootstrap {b}", "bootstrap", hs_model, hs_data, b, "ml",
                  max(2, round(b * LAVAAN_FIML_SHARE)))]
    if sizes.fiml_cfa is not None:
        k, j, n = sizes.fiml_cfa
        stem = f"fiml_cfa_{k}x{j}"
        (folder / f"{stem}.lav").write_text(cfa_model(k, j) + "\n")
        data = delete_at_random(simulate(cfa_population(k, j), n, SEED + 100 * k + j), MISSING_RATE, SEED)
        data.to_csv(folder / f"{stem}.csv", index=False)
        b = sizes.fiml_cfa_boots
        tasks += [Task(f"fiml cfa {k}x{j} fit", "fit", folder / f"{stem}.lav", folder / f"{stem}.csv", 0, "ml"),
                  Task(f"fiml cfa {k}x{j} bootstrap {b}", "bootstrap", folder / f"{stem}.lav",
                       folder / f"{stem}.csv", b, "ml", max(2, round(b * LAVAAN_FIML_SHARE)))]
    return tasks


# -- measurement -------------------------------------------------------------------------------
class PeakMemory:
    """Peak resident set size (MiB) of this process during a ``with`` block, and its growth over
    the resident size at the start (Linux; NaN elsewhere)."""

    def __enter__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        self.start = _status_mib("VmRSS")
        return self

    def __exit__(self, *exc):
        self.mib = _status_mib("VmHWM")
        self.growth = self.mib - self.start


def _status_mib(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def best_of(func, repeats: int, budget_s: float = 5.0) -> float:
    """Best wall time of up to ``repeats`` calls, stopping once they have taken ``budget_s``."""
    times = []
    while len(times) < repeats and sum(times) < budget_s:
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def record(tool, task, seconds, mem: PeakMemory | None, note="", chisq=float("nan")):
    """One timing; ``chisq`` the fitted model's χ² (fit tasks), so both tools' fits can be compared."""
    peak, growth = (mem.mib, mem.growth) if mem else (float("nan"), float("nan"))
    return {"tool": tool, "task": task, "seconds": seconds, "peak_mib": peak, "growth_mib": growth, "note": note,
            "chisq": chisq}


def run_sem_engine(tasks: list[Task], sizes: Sizes) -> list[dict]:
    out = []
    for task in tasks:
        model, data = task.model.read_text(), pd.read_csv(task.data)
        run = fit_task if task.kind == "fit" else bootstrap_task
        out += run(task, model, data, sizes)
    return out


def fit_task(task: Task, model: str, data: pd.DataFrame, sizes: Sizes) -> list[dict]:
    """A new model's first fit (compiling), the same fit warm, and its compiled optimizer alone."""
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        fit = se.sem(model, data=data, missing=task.missing)
        cold = time.perf_counter() - t0
        warm = best_of(lambda: se.sem(model, data=data, missing=task.missing), sizes.repeats)
        z = jax.numpy.asarray(fit.reparam.to_z(start.start_values(fit.partable, fit.spec, fit.moments)))
        alone = best_of(lambda: jax.block_until_ready(pipeline._optimize(fit.engine, fit.moments, z)),
                        sizes.repeats)
    chisq = float(fit.chisq)
    return [record("sem_engine", f"{task.name} + SE cold", cold, mem, "parse, compile, fit, SEs", chisq),
            record("sem_engine", f"{task.name} + SE warm", warm, mem, "same model again", chisq),
            record("sem_engine", f"{task.name} optimizer", alone, mem,
                   f"compiled optimizer alone, from the start values ({int(fit.state.n_iter)} iterations)")]


def bootstrap_task(task: Task, model: str, data: pd.DataFrame, sizes: Sizes) -> list[dict]:
    """Bootstrap refits plus the estimates table: percentile (first run and warm), then BCa."""
    fit = se.sem(model, data=data, missing=task.missing)
    n = task.replicates

    def boot(ci):
        b = fit.bootstrap(n, seed=1, ci=ci, progress=False)
        b.estimates()
        return b

    with PeakMemory() as mem:
        t0 = time.perf_counter()
        b = boot("perc")
        cold = time.perf_counter() - t0
        warm = best_of(lambda: boot("perc"), 3)
    out = [record("sem_engine", f"{task.name} perc", warm, mem,
                  f"{b.n - b.n_failed}/{n} converged; chunks of {b.batch_size}; first run {cold:.2f} s")]
    if n <= BCA_MAX and fit.nobs <= BCA_MAX:
        boot("bca")
        out.append(record("sem_engine", f"{task.name} bca", best_of(lambda: boot("bca"), 1), None,
                          f"plus {fit.nobs} jackknife refits"))
    return out


def run_lavaan(tasks: list[Task], sizes: Sizes, folder: Path) -> list[dict]:
    """All lavaan work in one Rscript process (benchmarks/lavaan.R)."""
    spec = folder / "lavaan_tasks.csv"
    pd.DataFrame([{"name": t.name, "kind": t.kind, "model": str(t.model), "data": str(t.data),
                   "replicates": t.replicates, "repeats": sizes.repeats, "missing": t.missing,
                   "lavaan_replicates": t.lavaan_replicates or t.replicates}
                  for t in tasks]).to_csv(spec, index=False)
    result = folder / "lavaan_results.csv"
    subprocess.run(["Rscript", str(HERE / "lavaan.R"), str(spec), str(result)], check=True)
    return pd.read_csv(result, keep_default_na=False).assign(tool="lavaan").to_dict("records")


def run_semopy(python: str, tasks: list[Task], sizes: Sizes, folder: Path) -> list[dict]:
    """semopy's work in the interpreter ``python`` (one that has semopy installed); complete-data
    tasks only (its FIML is not compared)."""
    tasks = [t for t in tasks if t.missing == "listwise"]
    result = folder / "semopy_results.json"
    spec = [{"name": t.name, "kind": t.kind, "model": str(t.model), "data": str(t.data),
             "replicates": t.replicates, "repeats": sizes.repeats} for t in tasks]
    (folder / "semopy_tasks.json").write_text(json.dumps(spec))
    subprocess.run([python, str(HERE / "semopy_bench.py"), str(folder / "semopy_tasks.json"), str(result)],
                   check=True)
    return json.loads(result.read_text())


# -- report ------------------------------------------------------------------------------------
def table(records: list[dict]) -> pd.DataFrame:
    """One row per task: seconds and peak MiB per tool, lavaan / sem_engine and semopy / sem_engine."""
    frame = pd.DataFrame(records)
    units = {"seconds": "s", "peak_mib": "MiB", "growth_mib": "+MiB"}
    wide = frame.pivot_table(index="task", columns="tool", values=list(units), aggfunc="first", sort=False,
                             dropna=False)
    wide.columns = [f"{tool} {units[what]}" for what, tool in wide.columns]
    for tool in ("lavaan", "semopy"):
        if f"{tool} s" in wide:
            wide[f"{tool}/sem_engine"] = wide[f"{tool} s"] / wide["sem_engine s"]
    notes = frame[frame["tool"] == "sem_engine"].set_index("task")["note"]
    return wide.assign(note=notes.reindex(wide.index).fillna(""))


def targets(records: list[dict]) -> list[str]:
    times = {r["task"]: r["seconds"] for r in records if r["tool"] == "sem_engine"}
    lines = []
    for task, limit in TARGETS.items():
        if task in times:
            verdict = "met" if times[task] <= limit else "NOT met"
            lines.append(f"target {task}: {times[task]:.4g} s (target <= {limit} s): {verdict}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds), for CI")
    parser.add_argument("--no-lavaan", action="store_true", help="skip lavaan even if Rscript is found")
    parser.add_argument("--semopy-python", help="a Python interpreter with semopy installed")
    parser.add_argument("--only", help="run only the tasks whose name contains this text (e.g. fiml)")
    parser.add_argument("--json", help="also write every measurement to this JSON file")
    parser.add_argument("--compile-cache", help="JAX's persistent compilation cache folder (cold timings "
                        "then measure loading compiled code, not compiling it)")
    args = parser.parse_args(argv)
    if args.compile_cache:
        jax.config.update("jax_compilation_cache_dir", args.compile_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tasks = [t for t in write_tasks(folder, sizes) if args.only is None or args.only in t.name]
        records = run_sem_engine(tasks, sizes)
        if not args.no_lavaan and shutil.which("Rscript"):
            records += run_lavaan(tasks, sizes, folder)
        if args.semopy_python:
            records += run_semopy(args.semopy_python, tasks, sizes, folder)
    if args.json:
        Path(args.json).write_text(json.dumps({"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                                               "records": records}, indent=1))
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 70,
                           "display.float_format", "{:.4g}".format):
        print(table(records))
    print("\n".join(targets(records)))
    print(f"{os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
