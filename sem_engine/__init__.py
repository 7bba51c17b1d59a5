"""sem_engine: structural equation models in the lavaan syntax, estimated by one compiled JAX function.

Importing the package switches JAX to float64 (``jax_enable_x64``).  If JAX has not been imported
yet, it also adds ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` to ``XLA_FLAGS``, a
reported workaround for hangs of vmapped loops with jaxlib 0.10.2 on small CPUs.  The hang we
traced (a bootstrap batch on 2 cores) is in jaxlib's batched LAPACK kernels, which wait on XLA's
thread pool from inside it; batched code therefore avoids LAPACK altogether (linalg.py).
"""

import os
import sys

_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
if "jax" not in sys.modules and "concurrency_optimized_scheduler" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _SCHEDULER_FLAG).strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from .errors import (  # noqa: E402
    ConvergenceWarning,
    DataError,
    DataWarning,
    HeywoodWarning,
    IdentificationError,
    ModelError,
    ModelSyntaxError,
    SemError,
)
from . import datasets  # noqa: E402
from .pipeline import cfa, sem  # noqa: E402
from .results import Fit  # noqa: E402
# Functions named like their modules are bound here (importing the module later would shadow a
# lazily bound name); their heavy imports happen inside them.
from .compare import compare  # noqa: E402
from .invariance import invariance  # noqa: E402
from .power import power  # noqa: E402

# The rest on first use (PEP 562): a script that fits a model imports only what a fit needs.
_LAZY = {
    "simulate_data": "simulate",
    "em_moments": "missing", "little_mcar": "missing", "missing_patterns": "missing",
    "bartlett": "descriptives", "cronbach_alpha": "descriptives", "describe": "descriptives",
    "kmo": "descriptives", "mahalanobis": "descriptives", "mardia": "descriptives",
    "htmt_from_data": "validity", "load_json": "serialize",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sem_engine' has no attribute {name!r}")


from ._version import __version__  # noqa: E402

__all__ = [
    "ConvergenceWarning", "DataError", "DataWarning", "Fit", "HeywoodWarning",
    "IdentificationError", "ModelError", "ModelSyntaxError", "SemError", "bartlett", "cfa",
    "compare", "invariance", "cronbach_alpha", "datasets", "describe", "em_moments", "little_mcar",
    "missing_patterns", "htmt_from_data", "kmo", "load_json", "mahalanobis", "mardia", "sem",
    "power", "simulate_data", "__version__",
]
