"""Bootstrap sweeps: resampling schemes as weight vectors, chunked, sharded and resumable.

Every approach is a pure fit of ``(arrays, weights)``; a resample is only a weight vector
(DESIGN.md). Resample ``i`` draws its weights from ``fold_in(key, i)`` in a small compiled
program of its own, so results do not depend on the chunk size, the number of devices or on
where a sweep was interrupted, and the fit, compiled apart, serves every scheme and the
jackknife alike. A sweep fits one chunk of resamples at a time (peak memory is one chunk's,
whatever the number of resamples), splits each chunk over the devices with ``shard_map`` (each
device runs the single-device program on its slice, so sharded and unsharded results agree bit
for bit), and can write every finished chunk to disk atomically so that a killed sweep resumes
where it stopped.

This is the one many-fit engine of the package: the bootstrap, the jackknife, calibration
studies, the replication and Approach 1's Bayesian bootstrap all go through ``run_sweep`` or
``fit_weights``. What is fitted comes from the approach registry (``approaches.registry``):
each approach's ``plan`` supplies a pure chunk fit ``fit_chunk(data, weights)`` and the arrays
it runs on, which travel as arguments, so tables of one shape share one compiled program.

Multi-host: call ``initialize_distributed`` (``jax.distributed.initialize``) in every process
before anything else touches JAX; the mesh then spans every process's devices, each process
draws and fits its slice of every chunk, results are gathered to all processes, and process 0
writes the checkpoints and outputs; on ``--resume`` it reads them and tells the others which
chunks are done (so the output directory need only be on process 0's disk).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, PartitionSpec

from scalinglaw_jax import __version__ as package_version
from scalinglaw_jax.approaches import registry
from scalinglaw_jax.approaches.spec import (
    RESIDUAL_SCHEMES,
    ApproachOptions,
    ApproachSpec,
    SweepPlan,
    row_bucket,
)
from scalinglaw_jax.core.compile_cache import mesh_identity, output_shapes, stored_program
from scalinglaw_jax.core.data import DataError, Runs, as_runs
from scalinglaw_jax.core.intervals import Band, band_from_draws, bca_interval, percentile_interval
from scalinglaw_jax.core.solvers import free_memory_bytes
from scalinglaw_jax.core.status import Status

SCHEMES = ("nonparametric", "bayesian", "subsample", "block", *RESIDUAL_SCHEMES)
SUBSAMPLE_FRACTION = 0.8
"""Chinchilla's Table 2 intervals come from fits on 80% subsamples of the runs."""

JACKKNIFE_SCHEMES = ("nonparametric", "block")
"""BCa intervals need the jackknife over the resampled units; defined for these schemes."""
CPU_CHUNK_CAP = 1024
"""Most resamples per device and chunk on CPU: enough to amortise dispatch, small checkpoints."""
TRACE_COUNTS = {"sweep": 0, "draw": 0}
"""Traces of the sweep's chunk fit programs and of its weight draws (tests check that
studies of one shape share one)."""
MEMORY_FRACTION = 0.25
"""Share of the free memory one chunk may use (the estimate is rough; --chunk-size overrides)."""


def draw_unit_weights(key, index, scheme: str, n_units: int):
    """Weights over ``n_units`` units for resample ``index`` (a pure function of both).

    nonparametric / block: multinomial counts (n draws with replacement); bayesian: Dirichlet(1)
    scaled to sum to n; subsample: a 0/1 mask of round(0.8 n) units drawn without replacement;
    wild: Rademacher signs (+-1, the wild bootstrap's residual multipliers); wild-gaussian:
    standard normal multipliers.
    """
    key = jax.random.fold_in(key, index)
    if scheme in ("nonparametric", "block"):
        picks = jax.random.randint(key, (n_units,), 0, n_units)
        return jnp.zeros(n_units).at[picks].add(1.0)
    if scheme == "bayesian":
        return jax.random.dirichlet(key, jnp.ones(n_units)) * n_units
    if scheme == "subsample":
        keep = max(1, round(SUBSAMPLE_FRACTION * n_units))
        order = jax.random.permutation(key, n_units)
        return jnp.zeros(n_units).at[order[:keep]].set(1.0)
    if scheme == "wild":
        return jax.random.rademacher(key, (n_units,), dtype=jnp.float64)
    if scheme == "wild-gaussian":
        return jax.random.normal(key, (n_units,), dtype=jnp.float64)
    raise DataError(f"unknown scheme {scheme!r}; choose one of {SCHEMES}")


def seed_from_key(key) -> int:
    """A sweep seed (``run_sweep(seed=...)``) drawn from a JAX PRNG key: callers that hold a
    key (posteriors, calibration) get the same bits from the same key."""
    return int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))


class Problem(NamedTuple):
    """One approach on one table, ready to sweep.

    ``fit_chunk(data, unit_weights)`` maps ``data`` and a ``(chunk, n_units)`` weight matrix to
    a dict of ``(chunk,)`` outputs (pure, jit-able, holding no arrays itself);
    ``bytes_per_resample`` estimates its working memory. ``quantities`` are the outputs a
    bootstrap reports; ``jackknife_affordable`` whether BCa's jackknife runs by default.
    ``weight_columns`` (at least ``n_units``; None: ``n_units``) is the width of the weight
    matrix the compiled fit takes: units beyond ``n_units`` get weight 0 (padded rows,
    ``row_bucket``), so tables of nearby sizes share one program. ``fit_chunk`` takes either
    width.
    """

    approach: str
    scheme: str
    n_units: int
    fit_chunk: Callable
    data: object
    point: object
    estimate: dict
    quantities: tuple[str, ...]
    data_hash: str
    config: dict
    bytes_per_resample: float
    jackknife_affordable: bool
    weight_columns: int | None = None

    @property
    def columns(self) -> int:
        """The weight matrix's width in the compiled fit (``weight_columns``)."""
        return self.n_units if self.weight_columns is None else self.weight_columns


def _data_hash(runs: Runs, extra: dict) -> str:
    digest = hashlib.sha256(runs.content_hash().encode())
    digest.update(json.dumps(extra, sort_keys=True).encode())
    return digest.hexdigest()


def approach_options(options: ApproachOptions | None, keywords: dict) -> ApproachOptions:
    """``options`` as given, or the record of ``keywords`` (checked: an unknown name is a
    ``DataError`` naming the nearest option); not both."""
    if options is None:
        return ApproachOptions.from_keywords(**keywords)
    if keywords:
        raise DataError(f"give approach options as a record or as keywords, not both: {keywords}")
    return options


def prepare(
    runs: Runs,
    approach: ApproachSpec | str,
    scheme: str,
    *,
    point=None,
    options: ApproachOptions | None = None,
    **keywords,
) -> Problem:
    """Validate the (approach, scheme) pair, fit the full data once and build the chunk fit.

    ``approach`` is an approach's record (or its key); its ``plan`` builds the sweep from
    ``options`` (an ``ApproachOptions``, or its fields as ``keywords``): Approach 3's
    ``mode``, ``k_starts``, solver and ``law``, Approach 2's ``nominal`` budgets, Approach 1's
    ``n_grid``, everyone's ``dtype``. ``point`` reuses a full-data fit of ``runs`` by the
    approach. Raises ``DataError`` for an unknown approach, scheme or option, a refused pair,
    or data the approach cannot fit.
    """
    runs = as_runs(runs)
    options = approach_options(options, keywords)
    spec = registry.get(approach)
    plan = spec.plan(runs, resampled_unit(spec, scheme), options, point)
    nominal = options.nominal
    extra = {"nominal": None if nominal is None else list(nominal)}
    return problem_from_plan(runs, spec.key, scheme, plan, dtype=options.dtype, hash_extra=extra)


def resampled_unit(spec, scheme: str) -> str:
    """The unit ``scheme`` resamples for the approach of record ``spec``; ``DataError`` for an
    unknown scheme or one the approach refuses (with the reason)."""
    if scheme not in SCHEMES:
        raise DataError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if scheme not in spec.units:
        raise DataError(spec.refusals[scheme])
    return spec.units[scheme]


def problem_from_plan(
    runs: Runs, approach: str, scheme: str, plan: SweepPlan, *, dtype=jnp.float64, hash_extra=None
) -> Problem:
    """A sweepable ``Problem`` from an approach's ``SweepPlan`` (``prepare`` uses it; so can a
    caller that supplies its own chunk fit, as the replication's variable projection does).
    ``hash_extra`` joins the table in the data hash that checkpoints are checked against."""
    unit_index, data, columns = None, plan.data, int(plan.n_units)
    row_of_unit = None if plan.row_of_unit is None else np.asarray(plan.row_of_unit)
    if plan.pad_rows is not None:
        # Rows and units padded to their buckets (``row_bucket``) with weight 0: tables of
        # nearby sizes (a backtest's every cutoff) share one compiled fit.
        if row_of_unit is None:
            row_of_unit = np.arange(plan.n_units)
        n_rows = row_of_unit.size
        columns = row_bucket(columns)
        if row_bucket(n_rows) > n_rows:
            data = plan.pad_rows(data, row_bucket(n_rows))
            row_of_unit = np.concatenate([row_of_unit, np.full(row_bucket(n_rows) - n_rows, -1)])
    if row_of_unit is not None:
        # A row takes its unit's weight (block bootstrap, padded rows); rows outside every
        # unit take the zero column ``_unit_chunk_fit`` appends (index -1, whatever the width).
        unit_index = jnp.asarray(np.where(row_of_unit >= 0, row_of_unit, -1))
    config = {
        "approach": approach,
        "scheme": scheme,
        "unit": resampled_unit(registry.get(approach), scheme),
        "dtype": jnp.dtype(dtype).name,
        **plan.config,
    }
    return Problem(
        approach=approach,
        scheme=scheme,
        n_units=int(plan.n_units),
        fit_chunk=_unit_chunk_fit(plan.fit_chunk, jnp.dtype(dtype).name),
        data=(data, unit_index),
        point=plan.point,
        estimate={k: float(v) for k, v in plan.estimate.items()},
        quantities=tuple(plan.quantities),
        data_hash=_data_hash(runs, hash_extra or {}),
        config=config,
        bytes_per_resample=float(plan.bytes_per_resample),
        jackknife_affordable=bool(plan.jackknife_affordable),
        weight_columns=columns,
    )


@cache
def _unit_chunk_fit(fit_chunk: Callable, dtype_name: str) -> Callable:
    """``fit_chunk`` on unit weights: block resampling spreads each unit's weight over its
    rows (``data[1]`` holds each row's unit) before the rows are fitted. Cached, so that one
    approach's chunk fit is one function for the sweep's compile cache."""

    def fit(data, unit_weights):
        plan_data, unit_index = data
        if unit_index is not None:
            padded = jnp.concatenate(
                [unit_weights, jnp.zeros((unit_weights.shape[0], 1), unit_weights.dtype)], axis=1
            )
            unit_weights = padded[:, unit_index]
        return fit_chunk(plan_data, unit_weights.astype(dtype_name))

    identity = getattr(fit_chunk, "program_identity", None)
    fit.program_identity = None if identity is None else ("unit weights", dtype_name, identity)
    return fit


def default_chunk_size(
    problem: Problem, n_resamples: int, n_devices: int, memory_bytes: float | None = None
) -> int:
    """Resamples per chunk: what fits in a quarter of free memory, a multiple of the devices.

    The per-resample memory is an estimate (``Problem.bytes_per_resample``); on CPU chunks are
    also capped at ``CPU_CHUNK_CAP`` per device. Never more than the sweep needs.
    """
    memory = free_memory_bytes() if memory_bytes is None else memory_bytes
    per_device = int(MEMORY_FRACTION * memory // max(problem.bytes_per_resample, 1.0))
    if jax.default_backend() == "cpu":
        per_device = min(per_device, CPU_CHUNK_CAP)
    per_device = max(1, min(per_device, -(-n_resamples // n_devices)))
    return per_device * n_devices


def _capped_chunk_size(problem: Problem, chunk_size: int, n_resamples: int, n_devices: int) -> int:
    """An explicit chunk size, capped by what the sweep needs and by free memory (said so)."""
    needed = -(-n_resamples // n_devices) * n_devices
    per_device = int(MEMORY_FRACTION * free_memory_bytes() // max(problem.bytes_per_resample, 1.0))
    fits = max(1, per_device) * n_devices
    capped = min(chunk_size, needed, fits)
    if capped < chunk_size:
        why = "the resamples asked for" if capped == needed else "what fits in free memory"
        print(f"--chunk-size {chunk_size} capped at {capped} ({why})")
    return capped


class Sweep(NamedTuple):
    """Per-resample outputs (NumPy arrays with a leading resample axis) and what produced them."""

    outputs: dict
    problem: Problem
    seed: int
    chunk_size: int
    resumed_chunks: int
    recomputed_chunks: int
    seconds: float


def _manifest(problem: Problem, n_resamples: int, seed: int, chunk_size: int) -> dict:
    """What a checkpoint folder must match to be resumed (as its JSON reads back)."""
    manifest = {
        "package_version": package_version,
        "data_hash": problem.data_hash,
        "config": problem.config,
        "n_resamples": n_resamples,
        "seed": seed,
        "chunk_size": chunk_size,
    }
    return json.loads(json.dumps(manifest))


def _checksum(arrays: dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(str(arrays[name].dtype).encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def _manifest_hash(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _chunk_binding(index: int, seed: int, manifest: dict) -> str:
    """What ties a chunk file to its place: chunk index, seed and the sweep's manifest."""
    return json.dumps({"index": index, "seed": seed, "manifest": _manifest_hash(manifest)})


def _save_chunk(path: Path, arrays: dict, binding: str) -> None:
    """Write to a temporary file, then rename: a reader sees the whole chunk or none.

    ``binding`` (``_chunk_binding``) is stored and covered by the checksum, so a chunk copied
    to another index, or left from another seed or sweep, is never taken for this one.
    """
    tmp = path.with_name(path.name + ".tmp")
    checksum = _checksum({**arrays, BINDING_KEY: np.array(binding)})
    with tmp.open("wb") as handle:
        np.savez(
            handle, __checksum__=np.array(checksum), **{BINDING_KEY: np.array(binding)}, **arrays
        )
    os.replace(tmp, path)


BINDING_KEY = "__binding__"
STORED_KEYS = ("__checksum__", BINDING_KEY)


def _load_chunk(path: Path, expected: int, names: set, binding: str) -> dict | None:
    """A finished chunk, or None when it is unreadable, misshapen, fails its checksum or
    belongs to another index, seed or sweep (its ``binding`` differs)."""
    try:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files if name not in STORED_KEYS}
            checksum = str(stored["__checksum__"])
            stored_binding = str(stored[BINDING_KEY])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if stored_binding != binding or set(arrays) != names:
        return None
    if checksum != _checksum({**arrays, BINDING_KEY: np.array(stored_binding)}):
        return None
    if any(v.shape != (expected,) for v in arrays.values()):
        return None
    return arrays


def _open_checkpoints(folder: Path, manifest: dict, resume: bool, write: bool) -> None:
    """Create or check ``folder`` (the writing process does; the others wait for it there);
    refuse to mix sweeps of different data or settings."""
    path = folder / "manifest.json"
    if write:
        _discard_unbound_chunks(folder, path)
    if write and path.is_file():
        existing = json.loads(path.read_text())
        if existing != manifest:
            changed = sorted(k for k in manifest if existing.get(k) != manifest[k])
            raise DataError(
                f"{folder} holds a sweep with a different {', '.join(changed)}; refusing to "
                "resume it. Use another output directory, or delete that folder to start over."
            )
        if not resume:
            raise DataError(
                f"{folder} already holds this sweep: pass --resume (resume=True) to continue it"
            )
    elif write:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, path)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("scalinglaw_jax checkpoint manifest")


def _discard_unbound_chunks(folder: Path, manifest_path: Path) -> None:
    """Chunks beside a missing or unreadable manifest belong to no known sweep: delete them
    (and the broken manifest), say so, and let the sweep start afresh."""
    chunks = sorted(folder.glob("chunk_*.npz")) if folder.is_dir() else []
    if manifest_path.is_file():
        try:
            if isinstance(json.loads(manifest_path.read_text()), dict):
                return
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        problem = "is unreadable"
        manifest_path.unlink()
    elif chunks:
        problem = "is missing"
    else:
        return
    for chunk in chunks:
        chunk.unlink()
    print(
        f"{manifest_path} {problem}: the {len(chunks)} chunk(s) there cannot be tied to this "
        "sweep, so they were deleted and the sweep starts afresh"
    )


CHUNK_ABSENT, CHUNK_STORED, CHUNK_CORRUPT = 0, 1, 2


def _read_stored_chunk(path: Path | None, size: int, shapes: dict, writer: bool, binding: str):
    """``(arrays or None, state)`` of a checkpointed chunk, as the writing process sees it.

    With several processes the writer's reading is broadcast, so that all of them skip or
    recompute the same chunks (they run collectives together) even without a shared disk.
    """
    stored, state = None, CHUNK_ABSENT
    if writer and path is not None and path.is_file():
        stored = _load_chunk(path, size, set(shapes), binding)
        state = CHUNK_CORRUPT if stored is None else CHUNK_STORED
    if jax.process_count() == 1 or path is None:
        return stored, state
    template = {name: np.zeros(size, shape.dtype) for name, shape in shapes.items()}
    shared = multihost_utils.broadcast_one_to_all(
        {"state": np.int32(state), "arrays": stored if stored is not None else template}
    )
    state = int(shared["state"])
    arrays = {name: np.asarray(value) for name, value in shared["arrays"].items()}
    return (arrays if state == CHUNK_STORED else None), state


def sweep_mesh() -> Mesh:
    """A 1-D mesh over every device of every process, axis ``resample``."""
    return Mesh(np.array(jax.devices()), ("resample",))


def _programs(fit_chunk: Callable, scheme: str, n_units: int, mesh: Mesh):
    """The sweep's two jitted programs (each cached, so repeated sweeps of one approach compile
    once for tables of one shape: the data are an argument, replicated on every device).

    ``draw(seed_and_index)`` (``_draw_program``) draws the weights of ``(seed, resample
    index)`` rows and their sums, in a small program of its own; ``by_weights(data,
    weights)`` (``_fit_program``) fits weight vectors, sharded over ``mesh``. The fit does not
    depend on the scheme or on how the weights were drawn, so the sweep, the jackknife and
    every scheme share its compilations for one shape of data and weights.
    """
    return _draw_program(scheme, n_units), _fit_program(fit_chunk, mesh)


@lru_cache(maxsize=16)
def _fit_program(fit_chunk: Callable, mesh: Mesh):
    """``by_weights(data, weights)``: ``fit_chunk`` split over ``mesh`` on the resample axis
    (each device runs the single-device program on its slice)."""
    spec = PartitionSpec("resample")
    shard = partial(
        jax.shard_map,
        mesh=mesh,
        in_specs=(PartitionSpec(), spec),
        out_specs=spec,
        check_vma=False,
    )

    def by_weights(data, weights):
        TRACE_COUNTS["sweep"] += 1
        return fit_chunk(data, weights)

    return jax.jit(shard(by_weights))


@lru_cache(maxsize=16)
def _draw_program(scheme: str, n_units: int):
    """``draw(seed_and_index, columns) -> (weights, weight sums)`` for a chunk of ``(seed,
    index)`` rows: each row's weights are ``draw_unit_weights(key(seed), index, ...)``, the same
    bits whatever the chunk, the device or the program that fits them, followed by zeros up to
    ``columns`` (``Problem.weight_columns``)."""

    def draw_one(seed_and_index):
        key = jax.random.key(seed_and_index[0])
        weights = draw_unit_weights(key, seed_and_index[1], scheme, n_units)
        return weights, jnp.sum(weights)

    def draw(seed_and_index, columns):
        TRACE_COUNTS["draw"] += 1
        # Counts and masks are integers in floating point, exact however they are batched, so
        # those draws are vmapped. Dirichlet draws go one resample at a time: vmapped, their
        # normalisation would round differently for different chunk sizes.
        if scheme == "bayesian":
            weights, sums = jax.lax.map(draw_one, seed_and_index)
        else:
            weights, sums = jax.vmap(draw_one)(seed_and_index)
        return jnp.pad(weights, ((0, 0), (0, columns - n_units))), sums

    return jax.jit(draw, static_argnames="columns")


def _stored(program, which: str, problem: Problem, host_array: np.ndarray, mesh: Mesh):
    """``program`` (the fit of ``_programs``) through ``compile_cache.stored_program``, when
    the chunk fit has a ``program_identity``: a command's second run reads it back whole. The
    scheme does not enter the fit (the weights' shape, in the key, holds the units)."""
    fit_identity = getattr(problem.fit_chunk, "program_identity", None)
    identity = None
    if fit_identity is not None:
        identity = (which, mesh_identity(mesh), fit_identity)
    return stored_program(program, (problem.data, host_array), {}, identity)


def program_chunk(chunk_size: int, n_devices: int) -> int:
    """Resamples one compiled fit takes for chunks of ``chunk_size``: the chunk per device
    rounded up to its bucket (``row_bucket``), so that the sweeps and jackknives of nearby
    sizes share one program. Results do not depend on it (chunk fits treat resamples apart)."""
    return row_bucket(-(-chunk_size // n_devices)) * n_devices


def _pad_chunk(weights: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``weights`` padded to ``shape``: its last row repeated (their outputs are dropped), then
    columns of zeros (padded units, ``Problem.weight_columns``)."""
    rows = np.concatenate([weights, np.repeat(weights[-1:], shape[0] - len(weights), axis=0)])
    return np.pad(rows, ((0, 0), (0, shape[1] - rows.shape[1])))


def _run_global(program, data, host_array: np.ndarray, mesh: Mesh) -> dict:
    """Run ``program`` on ``data`` and a host array split over the mesh; gather the outputs
    to every host."""
    if jax.process_count() == 1:
        return {k: np.asarray(v) for k, v in jax.device_get(program(data, host_array)).items()}
    sharding = jax.sharding.NamedSharding(mesh, PartitionSpec("resample"))
    global_in = jax.make_array_from_callback(host_array.shape, sharding, lambda i: host_array[i])
    gathered = multihost_utils.process_allgather(program(data, global_in), tiled=True)
    return {k: np.asarray(v) for k, v in gathered.items()}


def run_sweep(
    problem: Problem,
    n_resamples: int,
    *,
    seed: int = 0,
    chunk_size: int | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    stop_after_chunks: int | None = None,
    mesh: Mesh | None = None,
) -> Sweep:
    """Fit ``n_resamples`` weight vectors, a chunk at a time, sharded over ``mesh``'s devices.

    With ``checkpoint_dir`` every chunk is written there atomically as it finishes, beside a
    manifest; a later call with ``resume=True`` reuses the chunks that pass their checksum
    (a corrupt one is recomputed, and said so). ``stop_after_chunks`` ends the sweep early, as
    a kill would (tests use it). ``mesh`` defaults to every device (``sweep_mesh``).
    """
    if n_resamples < 1:
        raise DataError(f"the number of resamples must be >= 1, got {n_resamples}")
    mesh = mesh or sweep_mesh()
    n_devices = mesh.devices.size
    if chunk_size is None:
        chunk_size = default_chunk_size(problem, n_resamples, n_devices)
    elif chunk_size < 1 or chunk_size % n_devices:
        raise DataError(f"chunk size {chunk_size} must be a positive multiple of {n_devices}")
    else:
        chunk_size = _capped_chunk_size(problem, chunk_size, n_resamples, n_devices)
    writer = jax.process_index() == 0
    manifest = _manifest(problem, n_resamples, seed, chunk_size)
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        _open_checkpoints(checkpoint_dir, manifest, resume, writer)
    draw, by_weights = _programs(problem.fit_chunk, problem.scheme, problem.n_units, mesh)
    weights_like = np.zeros((program_chunk(chunk_size, n_devices), problem.columns))
    draw = partial(draw, columns=problem.columns)
    by_weights = _stored(by_weights, "by_weights", problem, weights_like, mesh)
    shapes = {
        **output_shapes(by_weights, problem.data, weights_like),
        "weight_sum": jax.ShapeDtypeStruct((chunk_size,), weights_like.dtype),
    }
    n_chunks = -(-n_resamples // chunk_size)
    chunks, resumed, recomputed = [], 0, 0
    started = time.perf_counter()
    bar = _progress_bar(n_resamples, progress and writer)
    for c in range(n_chunks):
        if stop_after_chunks is not None and c >= stop_after_chunks:
            break
        size = min(chunk_size, n_resamples - c * chunk_size)
        path = None if checkpoint_dir is None else checkpoint_dir / f"chunk_{c:06d}.npz"
        binding = _chunk_binding(c, seed, manifest)
        stored, state = _read_stored_chunk(path, size, shapes, writer, binding)
        if state == CHUNK_CORRUPT:
            recomputed += 1
            message = (
                f"chunk {c} in {checkpoint_dir} is corrupt, incomplete or from another sweep "
                "(index, seed or settings): recomputing it"
            )
            if writer:
                (bar.write if progress else print)(message)
        if stored is not None:
            resumed += 1
            arrays = stored
        else:
            # Pad the chunk to the program's size (``program_chunk``) with its last resample, so
            # one compiled program serves every chunk.
            last = min((c + 1) * chunk_size, n_resamples) - 1
            index = np.minimum(np.arange(c * chunk_size, c * chunk_size + len(weights_like)), last)
            rows = np.stack([np.full_like(index, seed), index], axis=1).astype(np.int64)
            weights, weight_sum = jax.device_get(draw(rows))
            result = _run_global(by_weights, problem.data, weights, mesh)
            result["weight_sum"] = weight_sum
            arrays = {name: value[:size] for name, value in result.items()}
            if path is not None and writer:
                _save_chunk(path, arrays, binding)
        chunks.append(arrays)
        bar.update(size)
    bar.close()
    outputs = {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
    seconds = time.perf_counter() - started
    return Sweep(outputs, problem, seed, chunk_size, resumed, recomputed, seconds)


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="resample", disable=not enabled, smoothing=0.1)


def fit_weights(problem: Problem, unit_weights, *, chunk_size: int = 256, mesh=None) -> dict:
    """Fit explicit ``(n, n_units)`` weight vectors (e.g. the jackknife), chunked and sharded."""
    mesh = mesh or sweep_mesh()
    n_devices = mesh.devices.size
    chunk_size = -(-min(chunk_size, len(unit_weights)) // n_devices) * n_devices
    _, by_weights = _programs(problem.fit_chunk, problem.scheme, problem.n_units, mesh)
    unit_weights = np.asarray(unit_weights, dtype=np.float64)
    columns = max(unit_weights.shape[1], problem.columns)
    weights_like = np.zeros((program_chunk(chunk_size, n_devices), columns))
    by_weights = _stored(by_weights, "by_weights", problem, weights_like, mesh)
    parts = []
    for start in range(0, len(unit_weights), chunk_size):
        block = unit_weights[start : start + chunk_size]
        result = _run_global(by_weights, problem.data, _pad_chunk(block, weights_like.shape), mesh)
        parts.append({name: value[: len(block)] for name, value in result.items()})
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def failed_mask(sweep: Sweep) -> np.ndarray:
    """Resamples whose fit did not converge (Approach 3) or had no frontier (Approaches 1, 2)."""
    status = sweep.outputs["status"]
    return (status != Status.OK) | ~np.isfinite(sweep.outputs["a"])


@dataclass(frozen=True)
class BootstrapResult:
    """Standard errors, intervals and bands from a sweep.

    Resamples without a frontier (Approaches 1, 2) have no value and are always left out of the
    statistics; Approach 3 resamples whose solver stopped at max-steps are counted in
    ``n_failed`` and kept unless ``exclude_failed``. ``jackknife`` (leave-one-unit-out
    outputs) enables BCa intervals.
    """

    sweep: Sweep
    level: float = 0.95
    exclude_failed: bool = False
    jackknife: dict | None = None

    @property
    def kept(self) -> np.ndarray:
        finite = np.isfinite(self.sweep.outputs["a"])
        return finite & ~failed_mask(self.sweep) if self.exclude_failed else finite

    def quantity_names(self) -> tuple[str, ...]:
        return self.sweep.problem.quantities

    def draws(self, name: str) -> np.ndarray:
        return np.asarray(self.sweep.outputs[name])[self.kept]

    def se(self, name: str) -> float:
        return float(np.std(self.draws(name), ddof=1))

    def interval(self, name: str) -> list[float]:
        """Central percentile interval at ``level``."""
        return percentile_interval(self.draws(name), self.level)

    def bca_interval(self, name: str) -> list[float] | None:
        """BCa interval at ``level``, or None without a jackknife."""
        if self.jackknife is None:
            return None
        values = np.asarray(self.jackknife[name])
        values = values[np.isfinite(values)]
        estimate = self.sweep.problem.estimate[name]
        return bca_interval(self.draws(name), estimate, values, self.level)

    def band(self, flops, kept=None) -> Band:
        """Pointwise ``level`` band of N_opt(C) and D_opt(C) over the resamples of the mask
        ``kept`` (default: those the statistics keep, ``self.kept``)."""
        out = self.sweep.outputs
        kept = self.kept if kept is None else kept
        return band_from_draws(
            np.asarray(flops),
            out["log_g_n"][kept],
            out["a"][kept],
            out["log_g_d"][kept],
            out["b"][kept],
            level=self.level,
            kind="bootstrap",
        )

    def to_dict(self) -> dict:
        problem = self.sweep.problem
        names = self.quantity_names()
        summary = {
            "approach": problem.approach,
            **({"law": problem.config["law"]} if "law" in problem.config else {}),
            "scheme": problem.scheme,
            "config": problem.config,
            "seed": self.sweep.seed,
            "n_resamples": int(self.sweep.outputs["a"].shape[0]),
            "n_failed": int(np.sum(failed_mask(self.sweep))),
            "n_used": int(np.sum(self.kept)),
            "failed_excluded": self.exclude_failed,
            "level": self.level,
            "estimate": problem.estimate,
            "se": {name: self.se(name) for name in names},
            "interval": {name: self.interval(name) for name in names},
            "seconds": self.sweep.seconds,
            "resamples_per_second": self.sweep.outputs["a"].shape[0] / self.sweep.seconds,
        }
        if self.jackknife is not None:
            summary["interval_bca"] = {name: self.bca_interval(name) for name in names}
        return summary

    def to_xarray(self, flops=None):
        """Per-resample outputs (dim ``resample``) and, with ``flops``, bands (dim ``flops``)."""
        import xarray as xr

        data = {name: ("resample", np.asarray(v)) for name, v in self.sweep.outputs.items()}
        data["failed"] = ("resample", failed_mask(self.sweep))
        attrs = {"summary": json.dumps(self.to_dict()), "package_version": package_version}
        dataset = xr.Dataset(data, coords={"resample": np.arange(len(data["failed"][1]))})
        dataset.attrs.update(attrs)
        if flops is not None:
            band = self.band(flops)
            dataset = dataset.assign_coords(flops=np.asarray(flops, dtype=float))
            for name in ("n_low", "n_high", "d_low", "d_high"):
                dataset[name] = ("flops", np.asarray(getattr(band, name)))
            dataset.attrs["band_level"] = band.level
        return dataset

    def save(self, path: Path, flops=None) -> Path:
        """Write ``to_xarray(flops)`` as netCDF (atomically)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        self.to_xarray(flops).to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
        return path

    def report(self) -> str:
        """Estimate, SE and interval per quantity, as aligned text."""
        summary = self.to_dict()
        pct = f"{100 * self.level:g}%"
        header = f"{'':<7}{'estimate':>11}{'SE':>11}{pct + ' percentile':>26}"
        if self.jackknife is not None:
            header += f"{pct + ' BCa':>26}"
        lines = [header]
        for name in self.quantity_names():
            low, high = summary["interval"][name]
            line = (
                f"{name:<7}{summary['estimate'][name]:>11.5g}{summary['se'][name]:>11.4g}"
                f"{f'[{low:.5g}, {high:.5g}]':>26}"
            )
            if self.jackknife is not None:
                low, high = summary["interval_bca"][name]
                line += f"{f'[{low:.5g}, {high:.5g}]':>26}"
            lines.append(line)
        failed = summary["n_failed"]
        lines.append(
            f"{summary['n_resamples']} resamples, {failed} failed"
            + (" (excluded)" if self.exclude_failed and failed else "")
            + f", {summary['resamples_per_second']:.0f} resamples/s"
        )
        return "\n".join(lines)


def jackknife_weights(n_units: int) -> np.ndarray:
    """Leave-one-unit-out weight vectors, one row per unit."""
    return 1.0 - np.eye(n_units)


def run_bootstrap(
    problem: Problem,
    n_resamples: int,
    *,
    level: float = 0.95,
    exclude_failed: bool = False,
    bca: bool = True,
    **sweep_options,
) -> BootstrapResult:
    """Sweep a prepared problem (``run_sweep`` options) and wrap it with its intervals.

    ``bca`` adds BCa intervals from a leave-one-unit-out jackknife for the nonparametric and
    block schemes (skipped for Approach 3 in full mode, where it would cost n full fits).
    """
    sweep = run_sweep(problem, n_resamples, **sweep_options)
    jackknife = None
    if bca and problem.scheme in JACKKNIFE_SCHEMES and problem.jackknife_affordable:
        jackknife = fit_weights(problem, jackknife_weights(problem.n_units))
    return BootstrapResult(sweep, level, exclude_failed, jackknife)


def bootstrap(
    runs: Runs,
    approach: ApproachSpec | str = "3",
    scheme: str = "nonparametric",
    n_resamples: int = 1000,
    *,
    level: float = 0.95,
    exclude_failed: bool = False,
    bca: bool = True,
    seed: int = 0,
    chunk_size: int | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    point=None,
    options: ApproachOptions | None = None,
    **keywords,
) -> BootstrapResult:
    """Bootstrap one approach on a validated table: ``prepare`` then ``run_bootstrap``.

    ``options`` (or its fields as ``keywords``) and ``point`` go to ``prepare``; ``seed``,
    ``chunk_size``, ``checkpoint_dir``, ``resume`` and ``progress`` to the sweep
    (``run_sweep``).
    """
    problem = prepare(runs, approach, scheme, point=point, options=options, **keywords)
    return run_bootstrap(
        problem,
        n_resamples,
        level=level,
        exclude_failed=exclude_failed,
        bca=bca,
        seed=seed,
        chunk_size=chunk_size,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )


COORDINATOR_ENV = "SCALINGLAW_COORDINATOR"


def initialize_distributed(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Join a multi-host sweep via ``jax.distributed.initialize`` (call before any JAX work).

    Arguments left as None come from ``SCALINGLAW_COORDINATOR``, ``SCALINGLAW_NUM_PROCESSES``
    and ``SCALINGLAW_PROCESS_ID`` when set, else from JAX's own cluster auto-detection.
    """
    coordinator = coordinator or os.environ.get(COORDINATOR_ENV)
    if num_processes is None and "SCALINGLAW_NUM_PROCESSES" in os.environ:
        num_processes = int(os.environ["SCALINGLAW_NUM_PROCESSES"])
    if process_id is None and "SCALINGLAW_PROCESS_ID" in os.environ:
        process_id = int(os.environ["SCALINGLAW_PROCESS_ID"])
    if os.environ.get("JAX_PLATFORMS") == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )


def flops_grid(n: int = 64) -> np.ndarray:
    """Log-spaced FLOPs from 1e18 to 1e26 (the range of the paper's figures), for bands."""
    return np.logspace(18, 26, n)
