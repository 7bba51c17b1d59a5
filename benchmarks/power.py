"""Replicates per second of ``sem_engine.power``: in this process and on a local Dask cluster.

    python benchmarks/power.py                  # 2 x 2,000 replicates (about a minute on 2 cores)
    python benchmarks/power.py --quick          # 2 x 100 replicates, seconds
    python benchmarks/power.py --workers 4 --reps 5000 --json out.json

Work: a three-factor mediation model (f1 -> f2 -> f3, 3 indicators each, indirect := a*b),
correctly specified, at N = 200 and 500.  Each setting first runs a small study to compile
(in-process: this process; Dask: every worker), then times ``--reps`` replicates per N with
``chunk_size`` replicates per task.  A replicate is one simulated data set, its refit, and its
standard errors.  Both runs use the same seed and the script checks that their results are
identical.  Dask workers are single-threaded processes on loopback (``LocalCluster``,
``processes=True``); on a machine with C cores, in-process JAX already uses them for large
batches, so W workers gain most when W ≤ C and chunks are many.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import sem_engine as se  # noqa: E402  (before jax: the import configures JAX's CPU runtime)
import jax  # noqa: E402

POPULATION = """
f1 =~ 0.7*y1 + 0.7*y2 + 0.7*y3
f2 =~ 0.7*y4 + 0.7*y5 + 0.7*y6
f3 =~ 0.7*y7 + 0.7*y8 + 0.7*y9
f2 ~ 0.3*f1
f3 ~ 0.3*f2 + 0.1*f1
""" + "".join(f"y{i} ~~ 0.51*y{i}\n" for i in range(1, 10))
ANALYSIS = """
f1 =~ y1 + y2 + y3
f2 =~ y4 + y5 + y6
f3 =~ y7 + y8 + y9
f2 ~ a*f1
f3 ~ b*f2 + f1
indirect := a*b
"""
SIZES = (200, 500)


def timed(**kwargs):
    start = time.perf_counter()
    result = se.power(POPULATION, ANALYSIS, n=SIZES, seed=1, progress=False, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="replicates per N (default 2000)")
    parser.add_argument("--chunk-size", type=int, default=250, help="replicates per task (default 250)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="100 replicates per N, chunks of 25")
    parser.add_argument("--json", help="write the records to this file")
    parser.add_argument("--compile-cache", help="JAX persistent compilation cache folder (also for workers)")
    args = parser.parse_args()
    reps, chunk = (100, 25) if args.quick else (args.reps, args.chunk_size)
    env = {}
    if args.compile_cache:
        jax.config.update("jax_compilation_cache_dir", args.compile_cache)
        env = {"JAX_COMPILATION_CACHE_DIR": args.compile_cache}
    fits = reps * len(SIZES)
    records = []

    def record(setting, seconds, note=""):
        records.append({"setting": setting, "seconds": seconds, "replicates": fits,
                        "replicates_per_s": fits / seconds, "note": note})
        print(f"{setting:<28} {seconds:8.2f} s  {fits / seconds:9.1f} replicates/s  {note}", flush=True)

    _, first = timed(reps=chunk, chunk_size=chunk)
    print(f"in-process compile + first {chunk} x {len(SIZES)} replicates: {first:.1f} s")
    here, seconds = timed(reps=reps, chunk_size=chunk)
    record("in-process", seconds, f"{len(SIZES) * -(-reps // chunk)} chunks of {chunk}")

    from dask.distributed import Client, LocalCluster

    start = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, env=env) as cluster, Client(cluster) as client:
        print(f"Dask cluster of {args.workers} workers up in {time.perf_counter() - start:.1f} s")
        executor = client.get_executor()
        _, first = timed(reps=chunk * args.workers, chunk_size=chunk, executor=executor)
        print(f"Dask workers compile + first chunks: {first:.1f} s")
        dask, seconds = timed(reps=reps, chunk_size=chunk, executor=executor)
        same = all(np.array_equal(getattr(here.runs[n], f), getattr(dask.runs[n], f), equal_nan=True)
                   for n in SIZES for f in here.runs[n]._fields)
        record(f"dask, {args.workers} workers", seconds, "identical to in-process" if same else "DIFFERENT")
    if not same:
        raise SystemExit("Dask results differ from the in-process results")
    print(here.summary().query("parameter in ['a', 'b', 'indirect']")[
        ["n", "parameter", "true", "bias", "coverage", "power"]].round(3).to_string(index=False))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": records, "cpu_count": os.cpu_count()}, f, indent=1)


if __name__ == "__main__":
    main()
