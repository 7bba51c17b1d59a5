import os

# The tests start without a persistent compilation cache, as CI does, unless SEM_ENGINE_CACHE_DIR
# names one (faster reruns on one machine); test_compilation.py checks the cache in subprocesses.
if not os.environ.get("SEM_ENGINE_CACHE_DIR"):
    os.environ.setdefault("SEM_ENGINE_CACHE", "0")
# XLA's backend optimizations off: compiling the few shared kernels still dominates a cold run,
# and the tests' arithmetic does not need them.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

# Hypothesis draws the same examples on every run, so a CI verdict does not depend on luck;
# SEM_ENGINE_HYPOTHESIS=explore draws fresh ones (to look for new counterexamples locally).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("reproducible", derandomize=True)
_hypothesis_settings.register_profile("explore", derandomize=False)
_hypothesis_settings.load_profile(os.environ.get("SEM_ENGINE_HYPOTHESIS", "reproducible"))

import sem_engine  # noqa: F401,E402  (float64 and the XLA scheduler flag, as for a user, before jax)
import jax  # noqa: E402
from sem_engine import compilation  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_terminal_summary(terminalreporter):
    """The suite's total: every model shares its size class's executables (the compilation rule),
    so this stays in the low hundreds."""
    terminalreporter.write_line(f"sem_engine: {compilation.count()} XLA executables compiled, "
                                f"{compilation.cache_hits()} loaded from the persistent cache in this run")
