"""A new model, many models, a fresh process: sem_engine against lavaan on the work researchers do
most (issue 17's targets).

    python benchmarks/search.py                  # both tasks, against lavaan when Rscript has it
    python benchmarks/search.py --only search    # the 20-model specification search only
    python benchmarks/search.py --compiles       # print the search's compile count as JSON (tests)

1. **Specification search**: 20 distinct models (CFAs and SEMs on Holzinger-Swineford, Political
   Democracy, the thesis example's synthetic data, and simulated CFAs of 2-14 factors), each
   fitted and then ``estimates()``, ``fit_measures()``, ``modification_indices()``, in one fresh
   process, with an empty persistent compilation cache ("cold") and with the cache it left
   ("warm").  lavaan does the same work (``sem()``, ``parameterEstimates(standardized=TRUE)``,
   ``fitMeasures()``, ``modindices()``) in one Rscript process.
2. **Fresh process**: the thesis model from CSV to the full summary through the command line
   (``sem-engine fit revised.lav data.csv``), against ``Rscript`` running lavaan's
   ``summary(fit, fit.measures=TRUE, standardized=TRUE, rsquare=TRUE)``: whole-process times.
3. **A new model in a warm process**: fit + SEs, and fit + estimates + fit measures + MIs, of a
   model never fitted before whose size class is compiled (the thesis model after the others).

Every time is wall-clock of whole processes (1, 2) or in-process (3); run on an idle machine.
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
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
THESIS = ROOT / "examples" / "thesis"

HS_3 = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
POLDEM = """ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60"""
POLDEM_RES = POLDEM + "\ny1 ~~ y5\ny2 ~~ y4 + y6\ny3 ~~ y7\ny4 ~~ y8\ny6 ~~ y8"


def cfa_model(factors: int, indicators: int) -> str:
    return "\n".join(f"f{k} =~ " + " + ".join(f"y{k}_{j}" for j in range(1, indicators + 1))
                     for k in range(1, factors + 1))


def simulated(factors: int, indicators: int, n: int = 500, seed: int = 17) -> pd.DataFrame:
    """Loadings 0.7, factor correlations 0.3, unit item variances."""
    lam = np.kron(np.eye(factors), np.full((indicators, 1), 0.7))
    phi = np.full((factors, factors), 0.3) + 0.7 * np.eye(factors)
    cov = lam @ phi @ lam.T + 0.51 * np.eye(factors * indicators)
    names = [f"y{k}_{j}" for k in range(1, factors + 1) for j in range(1, indicators + 1)]
    rows = np.random.default_rng(seed).multivariate_normal(np.zeros(len(names)), cov, size=n)
    return pd.DataFrame(rows, columns=names)


def models() -> list[tuple[str, str, str]]:
    """(name, model text, data set name) of the 20 models of the search."""
    thesis = {k: (THESIS / f"{k}.lav").read_text() for k in ("cfa", "original", "revised")}
    out = [
        ("hs_3factor", HS_3, "hs"),
        ("hs_rescov", HS_3 + "\nx7 ~~ x8", "hs"),
        ("hs_crossload", HS_3 + "\nvisual =~ x9", "hs"),
        ("hs_both", HS_3 + "\nvisual =~ x9\nx7 ~~ x8", "hs"),
        ("hs_1factor", "g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9", "hs"),
        ("hs_2factor", "visual =~ x1 + x2 + x3\nverbal =~ x4 + x5 + x6 + x7 + x8 + x9", "hs"),
        ("hs_second_order", HS_3 + "\ng =~ visual + textual + speed", "hs"),
        ("hs_sem_age", HS_3 + "\nvisual ~ ageyr\ntextual ~ visual + ageyr\nspeed ~ textual", "hs"),
        ("poldem_sem", POLDEM, "poldem"),
        ("poldem_rescov", POLDEM_RES, "poldem"),
        ("poldem_cfa", "ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\ndem65 =~ y5 + y6 + y7 + y8", "poldem"),
        ("poldem_equal", POLDEM_RES.replace("dem60 =~ y1 + y2 + y3 + y4", "dem60 =~ y1 + a*y2 + b*y3 + c*y4")
         .replace("dem65 =~ y5 + y6 + y7 + y8", "dem65 =~ y5 + a*y6 + b*y7 + c*y8"), "poldem"),
        ("thesis_cfa", thesis["cfa"], "thesis"),
        ("thesis_original", thesis["original"], "thesis"),
        ("thesis_revised", thesis["revised"], "thesis"),
        ("sim_2x4", cfa_model(2, 4), "sim_2x4"),
        ("sim_5x4", cfa_model(5, 4), "sim_5x4"),
        ("sim_8x4", cfa_model(8, 4), "sim_8x4"),
        ("sim_10x4", cfa_model(10, 4), "sim_10x4"),
        ("sim_14x3", cfa_model(14, 3), "sim_14x3"),
    ]
    return out


def datasets() -> dict[str, pd.DataFrame]:
    import sem_engine as se

    out = {"hs": se.datasets.holzinger_swineford_1939(), "poldem": se.datasets.political_democracy(),
           "thesis": pd.read_csv(THESIS / "thesis_synthetic.csv")}
    for f, i in ((2, 4), (5, 4), (8, 4), (10, 4), (14, 3)):
        out[f"sim_{f}x{i}"] = simulated(f, i)
    return out


def run_search() -> dict:
    """The search in this process: seconds and compilations (the executables XLA compiled,
    and those loaded from the persistent cache)."""
    import warnings

    t0 = time.perf_counter()
    import sem_engine as se
    from sem_engine import compilation

    t_import = time.perf_counter() - t0
    data = datasets()
    per_model = []
    for name, model, which in models():
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = se.sem(model, data=data[which])
            fit.estimates(), fit.fit_measures(), fit.modification_indices()
        per_model.append({"model": name, "seconds": time.perf_counter() - t, "chisq": fit.chisq,
                          "converged": fit.converged})
    return {"import_s": t_import, "total_s": time.perf_counter() - t0, "compiled": compilation.count(),
            "loaded": compilation.cache_hits(), "models": per_model}


LAVAAN_SEARCH = r"""
suppressPackageStartupMessages(library(lavaan))
t0 <- proc.time()[["elapsed"]]
files <- read.csv(commandArgs(trailingOnly = TRUE)[1], stringsAsFactors = FALSE)
for (i in seq_len(nrow(files))) {
  d <- read.csv(files$data[i])
  fit <- sem(paste(readLines(files$model[i]), collapse = "\n"), data = d)
  invisible(parameterEstimates(fit, standardized = TRUE)); invisible(fitMeasures(fit))
  invisible(modindices(fit))
}
cat(proc.time()[["elapsed"]] - t0, "\n")
"""

LAVAAN_SUMMARY = r"""
suppressPackageStartupMessages(library(lavaan))
a <- commandArgs(trailingOnly = TRUE)
fit <- sem(paste(readLines(a[1]), collapse = "\n"), data = read.csv(a[2]))
summary(fit, fit.measures = TRUE, standardized = TRUE, rsquare = TRUE)
"""


def _lavaan_ok() -> bool:
    if shutil.which("Rscript") is None:
        return False
    return subprocess.run(["Rscript", "-e", "library(lavaan)"], capture_output=True).returncode == 0


def _timed(cmd: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.perf_counter() - t, done


def _env(cache: Path | None) -> dict:
    env = dict(os.environ)
    if cache is None:
        env["SEM_ENGINE_CACHE"] = "0"
    else:
        env["SEM_ENGINE_CACHE_DIR"] = str(cache)
        env.pop("SEM_ENGINE_CACHE", None)
    return env


def search_task(folder: Path, lavaan: bool) -> list[str]:
    cache = folder / "cache"
    lines = []
    for label in ("cold", "warm"):
        wall, done = _timed([sys.executable, __file__, "--compiles"], _env(cache))
        if done.returncode:
            raise SystemExit(done.stderr)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        lines.append(f"search, {label} cache: {wall:.2f} s whole process (import {result['import_s']:.2f} s), "
                     f"{result['compiled']} executables compiled, {result['loaded']} loaded")
    if lavaan:
        data = datasets()
        rows = []
        for name, model, which in models():
            (folder / f"{name}.lav").write_text(model)
            if not (folder / f"{which}.csv").exists():
                data[which].to_csv(folder / f"{which}.csv", index=False)
            rows.append({"model": str(folder / f"{name}.lav"), "data": str(folder / f"{which}.csv")})
        pd.DataFrame(rows).to_csv(folder / "search.csv", index=False)
        (folder / "search.R").write_text(LAVAAN_SEARCH)
        wall, done = _timed(["Rscript", str(folder / "search.R"), str(folder / "search.csv")])
        lines.append(f"search, lavaan: {wall:.2f} s whole process ({float(done.stdout.split()[-1]):.2f} s in R)")
    return lines


def fresh_process_task(folder: Path, lavaan: bool) -> list[str]:
    cache = folder / "cli_cache"
    model, data = THESIS / "revised.lav", THESIS / "thesis_synthetic.csv"
    cli = [sys.executable, "-m", "sem_engine.cli", "fit", str(model), str(data)]
    lines = []
    for label in ("cold", "warm"):
        wall, done = _timed(cli, _env(cache))
        lines.append(f"fresh process (CLI summary), {label} cache: {wall:.2f} s (exit {done.returncode})")
    if lavaan:
        (folder / "summary.R").write_text(LAVAAN_SUMMARY)
        wall, _ = _timed(["Rscript", str(folder / "summary.R"), str(model), str(data)])
        lines.append(f"fresh process, lavaan summary: {wall:.2f} s")
    return lines


def warm_new_model_task() -> list[str]:
    """Fit every search model but the thesis revised one, then time that one (new, class compiled)."""
    import warnings

    import sem_engine as se

    data = datasets()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model, which in models():
            if name != "thesis_revised":
                se.sem(model, data=data[which]).estimates()
        revised = (THESIS / "revised.lav").read_text()
        variants = [revised + f"\n{a} ~~ {b}" for a, b in (("KR1", "KR2"), ("KSH1", "KSH2"), ("NPC1", "NPC2"))]
        fit_s, all_s = [], []
        for text in [revised, *variants]:
            t = time.perf_counter()
            fit = se.sem(text, data=data["thesis"])
            fit_s.append(time.perf_counter() - t)
            fit.estimates(), fit.fit_measures(), fit.modification_indices()
            all_s.append(time.perf_counter() - t)
    return [f"new model in a warm process (thesis model and 3 respecifications): fit + SEs "
            f"{1000 * np.median(fit_s):.1f} ms, + estimates, fit measures, MIs {1000 * np.median(all_s):.1f} ms (median)"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compiles", action="store_true", help="run the search here; print JSON")
    parser.add_argument("--only", help="run only the task whose name contains this (search, fresh, warm)")
    parser.add_argument("--no-lavaan", action="store_true")
    args = parser.parse_args(argv)
    if args.compiles:
        print(json.dumps(run_search()))
        return 0
    lavaan = not args.no_lavaan and _lavaan_ok()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tasks = {"search": lambda: search_task(folder, lavaan), "fresh": lambda: fresh_process_task(folder, lavaan),
                 "warm": warm_new_model_task}
        for name, task in tasks.items():
            if args.only and args.only not in name:
                continue
            for line in task():
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
