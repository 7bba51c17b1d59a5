"""semopy's side of benchmarks/run.py, run by an interpreter that has semopy installed:

    /path/to/venv/bin/python benchmarks/semopy_bench.py TASKS.json RESULTS.json

A fit task times ``Model(desc).fit(data)`` followed by ``inspect()`` (estimates with standard
errors): the first call ("cold") and the best of ``repeats`` ("warm").  semopy has no bootstrap
of its own, so a bootstrap task refits the model to resampled rows in a loop (numpy's default
generator, seed 1) and takes percentile intervals; runs past 1,000 replicates are skipped.
Memory as in run.py: peak resident size (VmHWM, reset per task) and its growth over the
resident size at the task's start.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import semopy

MAX_REPLICATES = 1000


def start_task():
    """Reset the peak resident size; the resident size now (MiB)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return status_mib("VmRSS")


def status_mib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def record(task, seconds, start, note=""):
    peak = status_mib("VmHWM")
    return {"task": task, "seconds": seconds, "peak_mib": peak, "growth_mib": peak - start, "note": note}


def fit_with_se(desc, data):
    model = semopy.Model(desc)
    model.fit(data)
    return model.inspect()


def timed(func):
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def best_of(func, repeats, budget_s=5.0):
    times = []
    while len(times) < repeats and sum(times) < budget_s:
        times.append(timed(func))
    return min(times)


def main(spec_path, out_path):
    out = []
    for task in json.loads(Path(spec_path).read_text()):
        desc, data = Path(task["model"]).read_text(), pd.read_csv(task["data"])
        start = start_task()
        if task["kind"] == "fit":
            cold = timed(lambda: fit_with_se(desc, data))
            warm = best_of(lambda: fit_with_se(desc, data), task["repeats"])
            out += [record(f"{task['name']} + SE cold", cold, start),
                    record(f"{task['name']} + SE warm", warm, start)]
            continue
        n = task["replicates"]
        if n > MAX_REPLICATES:
            continue
        rng = np.random.default_rng(1)

        def loop():
            draws = []
            for _ in range(n):
                model = semopy.Model(desc)
                model.fit(data.iloc[rng.integers(0, len(data), len(data))].reset_index(drop=True))
                draws.append(model.param_vals.copy())
            np.percentile(np.array(draws), [2.5, 97.5], axis=0)

        out.append(record(f"{task['name']} perc", timed(loop), start, "Python loop of fits"))
    Path(out_path).write_text(json.dumps([dict(r, tool="semopy") for r in out]))


if __name__ == "__main__":
    main(*sys.argv[1:3])
