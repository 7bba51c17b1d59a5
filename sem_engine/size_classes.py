"""Size classes: the few padded sizes that compiled code is built for (DESIGN.md, "Compilation").

``jax.jit`` compiles once per shape, so every dimension a kernel sees is rounded up to a class.
Classes grow from a smallest one by factors 1.5 and 4/3 alternately (8, 12, 16, 24, 32, 48, 64,
96, 128, ...: powers of two and 1.5 times them), so padding wastes at most a third.  This module
is the one place the rule is written: model structures (structure.py), missing-data patterns
(missing.py) and bootstrap batches (bootstrap.py) all take their sizes from it.

Two policies for model dimensions (``rounded``): ``latency`` (single fits, post-estimation:
coarse classes from LATENCY_MIN, so most models share the first one and a new model compiles
nothing) and ``throughput`` (batched refits, where the work per replicate matters more than one
compilation: the variable counts p and m, on which the work grows cubically, exact; the cheap
dimensions a multiple of THROUGHPUT_STEP).
"""

from __future__ import annotations

import contextlib
import math

# Smallest class of each dimension under the latency policy.  Latent variables (with phantoms)
# start at 8: most models have a few, and a scoring step's cost grows with m (the measurements
# are in benchmarks/README.md, issue 17).
LATENCY_MIN = {"p": 32, "m": 8, "npar": 128, "rows": 256, "patterns": 32}
THROUGHPUT_STEP = 8
_FLOOR: dict[str, int] = {}   # raised by ``floor`` (tests: the same model padded into a larger class)


def grow(n: int, smallest: int) -> int:
    """The smallest class at or above ``smallest`` that holds n (module docstring)."""
    size = smallest
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def rounded(n: int, dim: str, policy: str = "latency") -> int:
    """The padded size of dimension ``dim`` (p, m, npar, rows, groups, patterns) of size n under
    ``policy``, at least its ``floor``.  Groups: the next power of two under either policy.
    Throughput: p and m exact, the others a multiple of THROUGHPUT_STEP."""
    if dim == "groups":
        size = 1 if n == 1 else 2 ** math.ceil(math.log2(n))
    elif policy == "latency":
        size = grow(n, LATENCY_MIN[dim])
    elif dim in ("p", "m"):
        size = n
    else:
        size = max(THROUGHPUT_STEP, -(-n // THROUGHPUT_STEP) * THROUGHPUT_STEP)
    return max(size, _FLOOR.get(dim, 0))


@contextlib.contextmanager
def floor(**minimum: int):
    """Within the block, every size class is at least ``minimum`` (e.g. ``p=64, groups=2``):
    the same model fitted padded into a larger class, which must give the same numbers."""
    old = dict(_FLOOR)
    _FLOOR.update(minimum)
    try:
        yield
    finally:
        _FLOOR.clear()
        _FLOOR.update(old)
