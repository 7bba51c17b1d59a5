"""Load test (issue 22): many distinct models in one process, every fit kept alive, then each
asked for its summary: no crash, memory mappings and resident memory bounded, results equal to
fresh fits.

    python benchmarks/load.py              # 300 models
    python benchmarks/load.py --models 60  # quicker

Before the compile-per-size-class rule every distinct model compiled its own executables; one
process fitting 160 models died at 63,939 memory mappings (vm.max_map_count is 65,530).  The
models here are CFAs and SEMs on Holzinger-Swineford drawn with a fixed seed: 1-3 factors over
random subsets of x1-x9, some with regressions on ageyr/grade, some with std_lv or a mean
structure.  Reported at every 100 models: memory mappings (/proc/self/maps), resident memory
(VmRSS), executables compiled, seconds.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import sem_engine as se
from sem_engine import compilation

ITEMS = [f"x{i}" for i in range(1, 10)]


def models(n: int, seed: int = 22) -> list[tuple[str, dict]]:
    """n distinct (model, options) pairs."""
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    while len(out) < n:
        k = int(rng.integers(1, 4))
        items = list(rng.choice(ITEMS, size=int(rng.integers(3 * k, min(9, 3 * k + 3) + 1)), replace=False))
        groups = np.array_split(items, k)
        lines = [f"f{j + 1} =~ {' + '.join(g)}" for j, g in enumerate(groups)]
        if rng.random() < 0.3:
            lines.append(f"f1 ~ {' + '.join(rng.choice(['ageyr', 'grade'], size=int(rng.integers(1, 3)), replace=False))}")
        if k > 1 and rng.random() < 0.3:
            a, b = rng.choice(items, size=2, replace=False)
            lines.append(f"{a} ~~ {b}")
        options = {"std_lv": bool(rng.random() < 0.3), "meanstructure": bool(rng.random() < 0.2)}
        key = ("\n".join(lines), tuple(sorted(options.items())))
        if key not in seen:
            seen.add(key)
            out.append((key[0], options))
    return out


def mappings() -> int:
    return sum(1 for _ in Path("/proc/self/maps").open())


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=300)
    args = parser.parse_args()
    data = se.datasets.holzinger_swineford_1939()
    specs = models(args.models)
    fits, start = [], time.perf_counter()
    print(f"{'models':>7} {'mappings':>9} {'RSS MiB':>8} {'compiled':>9} {'seconds':>8}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (model, options) in enumerate(specs, 1):
            fits.append(se.sem(model, data=data, **options))
            if i % 100 == 0 or i == len(specs):
                print(f"{i:>7} {mappings():>9} {resident_mib():>8.0f} {compilation.count():>9} "
                      f"{time.perf_counter() - start:>8.1f}")
        summaries = [str(f.summary()) for f in fits]
        print(f"summaries of all {len(fits)} kept fits: {mappings()} mappings, {resident_mib():.0f} MiB, "
              f"{time.perf_counter() - start:.1f} s")
        worst = 0.0
        for (model, options), fit, text in list(zip(specs, fits, summaries))[::max(1, len(specs) // 20)]:
            fresh = se.sem(model, data=data, **options)
            assert str(fresh.summary()) == text
            worst = max(worst, float(np.max(np.abs(fresh.estimates()["est"] - fit.estimates()["est"]))))
    print(f"fresh refits of every {max(1, len(specs) // 20)}th model: summaries identical, "
          f"max |Δ estimate| = {worst:.1e}")


if __name__ == "__main__":
    main()
