"""JAX's persistent compilation cache, on by default for the ``scalinglaw`` command.

A fit or sweep compiles its programs once per shape; within a process they are reused
(``jax.jit``'s own cache), and across processes this on-disk cache keeps the compiled
executables, so the second run of a command compiles nothing. An executable read back from the
cache is the one the compiler wrote, so its results are the same bits as a fresh compile's.

The cache lives in ``$SCALINGLAW_COMPILE_CACHE`` when set, else in the user cache directory:
``$XDG_CACHE_HOME/scalinglaw_jax/jax-<jax version>`` (``~/.cache/...`` without
``XDG_CACHE_HOME``). One folder per JAX version, as executables do not carry over between
versions. Deleting the folder clears it; ``scalinglaw --no-compile-cache`` runs without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

CACHE_DIR_ENV = "SCALINGLAW_COMPILE_CACHE"
"""Environment variable naming the cache folder (overrides the user cache directory)."""


def default_cache_dir() -> Path:
    """``$SCALINGLAW_COMPILE_CACHE``, else ``<user cache dir>/scalinglaw_jax/jax-<version>``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    user_cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(user_cache).expanduser() / "scalinglaw_jax" / f"jax-{jax.__version__}"


def enable_compile_cache(path: Path | str | None = None) -> Path:
    """Store and reuse every compiled program in ``path`` (default ``default_cache_dir()``).

    JAX stores by default only programs that took over a second to compile; here every program
    is stored, as a command runs dozens of sub-second compiles that add up to seconds. Returns
    the folder.
    """
    folder = default_cache_dir() if path is None else Path(path).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
