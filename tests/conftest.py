import gc
import os

# The suite is dominated by compiling ~200 models: XLA's backend optimizations off cuts that by
# about 30% (measured on 2 cores) and the tests' arithmetic does not need them.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import sem_engine  # noqa: F401,E402  (float64 and the XLA scheduler flag, as for a user, before jax)
import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
# Compiling the models dominates the suite's run time.  A persistent compilation cache makes
# repeated runs on one machine fast, but jaxlib 0.10.2 crashed twice (a segmentation fault and an
# abort) while writing or reading the executable of a multi-group fit to it, so it is opt-in:
# SEM_ENGINE_JAX_CACHE=<folder>.  CI starts cold either way.
if os.environ.get("SEM_ENGINE_JAX_CACHE"):
    jax.config.update("jax_compilation_cache_dir", os.environ["SEM_ENGINE_JAX_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop every compiled executable after each test module.  Each one holds memory mappings, and
    the suite compiles hundreds of models: without this a full run passes Linux's default limit
    of 65,530 mappings per process (vm.max_map_count) and jaxlib aborts or segfaults mid-compile."""
    yield
    jax.clear_caches()
    gc.collect()
