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

While a command's cache is open, its largest programs (an Approach 3 fit, a sweep's chunk
program) are also kept whole (``stored_program``): JAX's cache is keyed by the lowered
program, so every process still traces and lowers before it can look one up (about a second
for an Approach 3 fit, two for a bootstrap); a stored program is read back without either.

``release_programs_near_map_limit`` is the in-memory side: compiled programs hold memory maps,
and a process that compiles programs of many shapes must drop them before Linux's limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from collections.abc import Callable, Iterator
from functools import cache, partial
from pathlib import Path

import jax
import jaxlib
from jax.experimental import serialize_executable
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
        folder = enable_compile_cache(path)
        _open_store(folder / EXECUTABLES)
        yield folder
    finally:
        _open_store(None)
        for name, value in previous.items():
            jax.config.update(name, value)
        jax_cache.reset_cache()


EXECUTABLES = "executables"
"""Sub-folder of the cache holding whole programs (``stored_program``)."""
_store: dict = {"folder": None, "loaded": {}}
"""The open store's folder (None: closed) and the programs this process read or compiled."""
LOWERING_SETTINGS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_dtype_promotion")
"""JAX settings that change what a function lowers to, and so key a stored program."""


def _open_store(folder: Path | None) -> None:
    _store["folder"] = folder
    _store["loaded"].clear()


@cache
def _source_fingerprint() -> str:
    """SHA-256 of this package's source: a stored program is valid only for the code that
    traced it."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _program_key(identity: tuple, args: tuple) -> str:
    """What a compiled program depends on besides its code: the caller's ``identity`` (the
    function and its static arguments), the arguments' structure, shapes, dtypes and
    placements, the devices, JAX's version and its lowering settings."""
    leaves, structure = jax.tree_util.tree_flatten(args)
    parts = [
        _source_fingerprint(),
        jax.__version__,
        jaxlib.__version__,
        os.environ.get("XLA_FLAGS", ""),
        repr([(d.platform, d.device_kind, d.id) for d in jax.devices()]),
        repr([getattr(jax.config, name) for name in LOWERING_SETTINGS]),
        repr(identity),
        str(structure),
        repr(
            [
                (
                    jax.numpy.shape(x),
                    str(jax.numpy.result_type(x)),
                    str(getattr(x, "sharding", None)),
                )
                for x in leaves
            ]
        ),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def stored_program(jitted, args: tuple, static: dict, identity: tuple | None) -> Callable:
    """``jitted(*args, **static)`` as a program to call with ``args``' shapes: read back whole
    from the open store (``compile_cache``) when it holds it, else traced, compiled and stored.

    ``identity`` names the function and every static argument by value (registered laws by
    name); None, for what has no stable name across processes (a law from a user's file),
    stores nothing. Without an open store, or in a multi-process run, this is ``jitted``
    with ``static`` bound: JAX's own caches apply. A stored program that cannot be read back
    (another JAX build, a damaged file) is compiled and stored again.
    """
    folder = _store["folder"]
    if folder is None or identity is None or jax.process_count() > 1:
        return partial(jitted, **static)
    key = _program_key(identity, args)
    loaded = _store["loaded"]
    if key in loaded:
        return loaded[key]
    path = folder / f"{key}.bin"
    program = None
    if path.exists():
        with contextlib.suppress(Exception):  # unreadable: compiled and stored again below
            program = _load(pickle.loads(path.read_bytes()))
    if program is None:
        program = _compile_afresh(jitted.trace(*args, **static).lower())
        with contextlib.suppress(Exception):  # a program that cannot be stored is only used
            _write_whole(path, pickle.dumps(_payload(program)))
    loaded[key] = program
    return program


def _payload(program) -> tuple:
    """What is stored of a compiled program: JAX's serialized executable and the ids of the
    devices it runs on (JAX would load it on every device of the backend: a program of one
    device in a process of two then refuses its arguments)."""
    devices = program._executable._unloaded_executable.device_list
    return (*serialize_executable.serialize(program), [device.id for device in devices])


def _load(payload: tuple):
    """The program of ``_payload``, loaded on the devices it was compiled for."""
    *serialized, device_ids = payload
    by_id = {device.id: device for device in jax.devices()}
    devices = [by_id[device_id] for device_id in device_ids]
    return serialize_executable.deserialize_and_load(*serialized, execution_devices=devices)


def _compile_afresh(lowered):
    """``lowered.compile()`` past JAX's own cache: an executable JAX read back from it
    serialises without all of its code (the stored copy then fails when run, "Function ...
    not found")."""
    jax.config.update("jax_enable_compilation_cache", False)
    jax_cache.reset_cache()
    try:
        return lowered.compile()
    finally:
        jax.config.update("jax_enable_compilation_cache", True)
        jax_cache.reset_cache()


def _write_whole(path: Path, payload: bytes) -> None:
    """Write ``path`` so that a reader sees the whole file or none (another process may be
    reading the store)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial_path = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        partial_path.write_bytes(payload)
        os.replace(partial_path, path)
    finally:
        partial_path.unlink(missing_ok=True)


def mesh_identity(mesh) -> tuple | None:
    """A mesh by value for a ``stored_program`` identity: axes, shape and device ids."""
    if mesh is None:
        return None
    return (mesh.axis_names, mesh.devices.shape, tuple(d.id for d in mesh.devices.flat))


def output_shapes(program, *args):
    """The output shapes (``jax.ShapeDtypeStruct`` tree) of a ``stored_program``, without
    tracing it again when it is a compiled one."""
    info = getattr(program, "out_info", None)
    return info if info is not None else jax.eval_shape(program, *args)


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
        _store["loaded"].clear()
    return crowded
