"""Counting XLA compilations, and JAX's persistent compilation cache.

JAX records ``/jax/core/compile/backend_compile_duration`` for every executable it builds or
loads and ``/jax/compilation_cache/cache_hits`` for each one loaded from the persistent cache.
``executables()`` counts the first, ``cache_hits()`` the second, and ``count()`` their
difference: the executables XLA actually compiled in this process.  Budgets on them are
deterministic, unlike timings (tests/test_compilation.py, benchmarks/).

The persistent cache lives in ``$SEM_ENGINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/sem_engine/jax``
(``~/.cache/sem_engine/jax``), so a new process loads the kernels instead of compiling them.
``SEM_ENGINE_CACHE=0`` turns it off; it is also left alone when the user has configured JAX's
own cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
from jax import monitoring

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_HIT_EVENT = "/jax/compilation_cache/cache_hits"
_counts = {"compiled": 0, "hits": 0}
_state = {"listening": False, "cache_dir": None}


def _on_duration(event: str, duration: float, **_) -> None:
    if event == _COMPILE_EVENT:
        _counts["compiled"] += 1


def _on_event(event: str, **_) -> None:
    if event == _HIT_EVENT:
        _counts["hits"] += 1


def executables() -> int:
    """Executables built or loaded from the persistent cache in this process so far."""
    return _counts["compiled"]


def count() -> int:
    """Executables compiled by XLA in this process so far (loaded ones not counted)."""
    return _counts["compiled"] - _counts["hits"]


def cache_hits() -> int:
    """Executables loaded from the persistent compilation cache in this process so far."""
    return _counts["hits"]


def cache_dir() -> Path | None:
    """The persistent cache directory in use (None: off)."""
    return _state["cache_dir"]


def default_cache_dir() -> Path:
    if os.environ.get("SEM_ENGINE_CACHE_DIR"):
        return Path(os.environ["SEM_ENGINE_CACHE_DIR"])
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "sem_engine" / "jax"


def setup() -> None:
    """Register the counters and switch the persistent cache on (once per process)."""
    if not _state["listening"]:
        monitoring.register_event_duration_secs_listener(_on_duration)
        monitoring.register_event_listener(_on_event)
        _state["listening"] = True
    if os.environ.get("SEM_ENGINE_CACHE", "1").lower() in ("0", "off", "false", "no"):
        return
    if jax.config.jax_compilation_cache_dir:       # the user's own setting wins
        _state["cache_dir"] = Path(jax.config.jax_compilation_cache_dir)
        return
    path = default_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return                                      # read-only home: compile in memory only
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Cache every kernel: even a 0.1 s compilation is worth a file read.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _state["cache_dir"] = path
