"""The benchmark's quick mode runs end to end (tiny sizes; lavaan too where Rscript exists)."""

import json
import shutil
import subprocess
import sys

import jax
import pytest

from reference_cases import ROOT


@pytest.mark.timeout(600, method="thread")
def test_quick_benchmark_runs_and_reports_every_task(tmp_path):
    out = tmp_path / "bench.json"
    cache = jax.config.jax_compilation_cache_dir
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", str(out)]
    if cache:
        command += ["--compile-cache", cache]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    records = json.loads(out.read_text())["records"]
    ours = {r["task"]: r for r in records if r["tool"] == "sem_engine"}
    expected = {"thesis fit + SE cold", "thesis fit + SE warm", "thesis bootstrap 20 perc",
                "thesis bootstrap 50 bca", "cfa 3x4 + SE warm"}
    assert expected <= set(ours)
    assert all(r["seconds"] > 0 for r in ours.values())
    assert "20/20 converged" in ours["thesis bootstrap 20 perc"]["note"]
    fitted = {task: r["chisq"] for task, r in ours.items() if task.endswith("+ SE cold")}
    assert fitted and all(x > 0 for x in fitted.values())
    if shutil.which("Rscript"):
        lavaan = {r["task"]: r for r in records if r["tool"] == "lavaan"}
        assert {"thesis fit + SE warm", "thesis bootstrap 50 perc", "cfa 3x4 + SE cold"} <= set(lavaan)
        both = sorted(fitted.keys() & lavaan.keys())
        assert both
        for task in both:   # both tools timed the same model on the same data
            assert fitted[task] == pytest.approx(float(lavaan[task]["chisq"]), rel=1e-6), task
    assert "thesis fit + SE warm" in done.stdout
