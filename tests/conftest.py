import os

import jax

import sem_engine  # noqa: F401  (switches on float64 before any test runs)

jax.config.update("jax_numpy_rank_promotion", "raise")
# Compiling the models dominates the suite's run time; a persistent cache outside the repository
# makes repeated runs on one machine fast (a cold run compiles everything, as a user's first fit does).
jax.config.update("jax_compilation_cache_dir",
                  os.environ.get("SEM_ENGINE_JAX_CACHE", os.path.expanduser("~/.cache/sem_engine/jax")))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
