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
from .compare import compare  # noqa: E402
from .missing import em_moments, little_mcar, missing_patterns  # noqa: E402
from .descriptives import bartlett, cronbach_alpha, describe, kmo, mahalanobis, mardia  # noqa: E402
from .pipeline import cfa, sem  # noqa: E402
from .invariance import invariance  # noqa: E402
from .power import power  # noqa: E402
from .simulate import simulate_data  # noqa: E402
from .validity import htmt_from_data  # noqa: E402
from .results import Fit  # noqa: E402
from .serialize import load_json  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning", "DataError", "DataWarning", "Fit", "HeywoodWarning",
    "IdentificationError", "ModelError", "ModelSyntaxError", "SemError", "bartlett", "cfa",
    "compare", "invariance", "cronbach_alpha", "datasets", "describe", "em_moments", "little_mcar",
    "missing_patterns", "htmt_from_data", "kmo", "load_json", "mahalanobis", "mardia", "sem",
    "power", "simulate_data", "__version__",
]
