import jax

import sem_engine  # noqa: F401  (switches on float64 before any test runs)

jax.config.update("jax_numpy_rank_promotion", "raise")
