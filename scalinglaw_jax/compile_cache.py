"""JAX's persistent compilation cache, on by default for the ``scalinglaw`` command.

A fit or sweep compiles its programs once per shape; within a process they are reused
(``jax.jit``'s own cache), and across processes this on-disk cache keeps the compiled
executables, so the second run of a command compiles nothing. An executable read back from the
cache is the one the compiler wrote, so its results are the same bits as a fresh compile's.

The cache lives in ``$SCALINGLAW_COMPILE_CACHE`` when set, else in the user cache directory:
``$XDG_CACHE_HOME/scalinglaw_jax/jax-<jax version>`` (``~/.cache/...`` without
``XDG_CACHE_HOME``). One folder per JAX version, as executables do not carry over between
versions. Deleting the folder clears it; ``scalinglaw --no-compile-cache`` (or
``SCALINGLAW_COMPILE_CACHE=off``) runs without it.

The CLI opens the cache for the length of one command (``compile_cache``), not for the rest of
the process: a notebook or test session that calls ``cli.main`` keeps JAX's own setting for
everything else it compiles.

``release_programs_near_map_limit`` is the in-memory side: compiled programs hold memory maps,
and a process that compiles programs of many shapes must drop them before Linux's limit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as jax_cache

CACHE_DIR_ENV = "SCALINGLAW_COMPILE_CACHE"
"""Environment variable naming the cache folder (overrides the user cache directory)."""
OFF = "off"
"""``$SCALINGLAW_COMPILE_CACHE`` value that turns the cache off, as ``--no-compile-cache`` does."""
SETTINGS = {
    "jax_enable_compilation_cache": True,
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}
"""JAX settings of an open cache besides its folder. JAX stores by default only programs that
took over a second to compile; here every program is stored, as a command runs dozens of
sub-second compiles that add up to seconds."""


def disabled_by_environment() -> bool:
    """Whether ``$SCALINGLAW_COMPILE_CACHE`` is ``off``."""
    return os.environ.get(CACHE_DIR_ENV, "").strip().lower() == OFF


def default_cache_dir() -> Path:
    """``$SCALINGLAW_COMPILE_CACHE`` (unless ``off``, which only the CLI reads), else
    ``<user cache dir>/scalinglaw_jax/jax-<version>``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit and not disabled_by_environment():
        return Path(explicit).expanduser()
    user_cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(user_cache).expanduser() / "scalinglaw_jax" / f"jax-{jax.__version__}"


def enable_compile_cache(path: Path | str | None = None) -> Path:
    """Store and reuse every compiled program in ``path`` (default ``default_cache_dir()``)
    for the rest of the process. Returns the folder."""
    folder = default_cache_dir() if path is None else Path(path).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    for name, value in SETTINGS.items():
        jax.config.update(name, value)
    return folder


@contextlib.contextmanager
def compile_cache(path: Path | str | None = None) -> Iterator[Path]:
    """``enable_compile_cache`` for the ``with`` block only: JAX's previous settings come
    back afterwards and its cache is closed, so later compiles neither read nor write it."""
    names = ("jax_compilation_cache_dir", *SETTINGS)
    previous = {name: getattr(jax.config, name) for name in names}
    jax_cache.reset_cache()
    try:
        yield enable_compile_cache(path)
    finally:
        for name, value in previous.items():
            jax.config.update(name, value)
        jax_cache.reset_cache()


PROCESS_MAPS = Path("/proc/self/maps")
MAP_LIMIT = Path("/proc/sys/vm/max_map_count")


def release_programs_near_map_limit(fraction: float = 0.5) -> bool:
    """Drop JAX's in-memory compiled programs (``jax.clear_caches``) once this process holds
    more than ``fraction`` of the memory maps Linux allows it; returns whether it did.

    Each compiled XLA:CPU program keeps hundreds of memory maps (a 4,500-start Approach 3 fit
    about 900), and JAX keeps every program a process has compiled: a process that fits tables
    of many shapes (a test suite, a notebook's rolling backtests) reaches ``vm.max_map_count``
    (65,530 by default), where XLA crashes in its next compile. Dropped programs are compiled
    again, or read from the persistent cache, when next needed. Elsewhere than Linux: a no-op.
    """
    if not (PROCESS_MAPS.exists() and MAP_LIMIT.exists()):
        return False
    limit = int(MAP_LIMIT.read_text())
    with PROCESS_MAPS.open() as maps:
        crowded = sum(1 for _ in maps) > fraction * limit
    if crowded:
        jax.clear_caches()
    return crowded
