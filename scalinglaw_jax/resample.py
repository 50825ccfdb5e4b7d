"""Bootstrap sweeps: resampling schemes as weight vectors, chunked, sharded and resumable.

Every approach is a pure fit of ``(arrays, weights)``; a resample is only a weight vector
(DESIGN.md). Resample ``i`` draws its weights from ``fold_in(key, i)`` inside the compiled
program, so results do not depend on the chunk size, the number of devices or on where a sweep
was interrupted. A sweep fits one chunk of resamples at a time (peak memory is one chunk's,
whatever the number of resamples), splits each chunk over the devices with ``shard_map`` (each
device runs the single-device program on its slice, so sharded and unsharded results agree bit
for bit), and can write every finished chunk to disk atomically so that a killed sweep resumes
where it stopped.

Approach 3 puts every (resample, start) pair on its own solver lane (``multistart_minimize``
with ``lane_data``): lanes go through the solver's queue, so a resample that converges in 7
Newton steps does not wait for one that needs 80, which a ``vmap`` over resamples would force.

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
from functools import lru_cache, partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, PartitionSpec
from scipy.stats import norm

from scalinglaw_jax import __version__ as package_version
from scalinglaw_jax import plots
from scalinglaw_jax.approaches.envelope import envelope_arrays, fit_envelope, fit_envelope_arrays
from scalinglaw_jax.approaches.isoflop import fit_isoflop, fit_isoflop_arrays, isoflop_arrays
from scalinglaw_jax.approaches.parametric import (
    DEFAULT_DELTA,
    ParametricFit,
    fit_parametric,
    parametric_arrays,
    parametric_objective,
)
from scalinglaw_jax.data import DataError, Runs
from scalinglaw_jax.law import huber_derivatives
from scalinglaw_jax.lawbook import DEFAULT_LAW, get_law
from scalinglaw_jax.solvers import (
    CONVERGED,
    CPU_QUEUE_LANES,
    DEFAULT_OPTIONS,
    NON_FINITE,
    WARM_START_OPTIONS,
    SolverOptions,
    multistart_minimize,
)

SCHEMES = ("nonparametric", "bayesian", "subsample", "block")
MODES = ("fast", "full")
SUBSAMPLE_FRACTION = 0.8
"""Chinchilla's Table 2 intervals come from fits on 80% subsamples of the runs."""

# The unit each scheme resamples, per approach; absent pairs are refused.
UNITS = {
    "1": {"block": "curve", "bayesian": "curve", "subsample": "curve"},
    "2": {"nonparametric": "row", "bayesian": "row", "subsample": "row", "block": "budget"},
    "3": {"nonparametric": "row", "bayesian": "row", "subsample": "row"},
}
REFUSALS = {
    ("1", "nonparametric"): "Approach 1 resamples whole training curves, not points of a curve:"
    " use --scheme block (curves drawn with replacement), bayesian or subsample",
    ("3", "block"): "Approach 3 treats runs as independent: use nonparametric, bayesian or "
    "subsample (block resampling is for budgets (Approach 2) and curves (Approach 1))",
}
FRONTIER_NAMES = ("a", "b", "log_g_n", "log_g_d")
JACKKNIFE_SCHEMES = ("nonparametric", "block")
"""BCa intervals need the jackknife over the resampled units; defined for these schemes."""
CPU_CHUNK_CAP = 1024
"""Most resamples per device and chunk on CPU: enough to amortise dispatch, small checkpoints."""
MEMORY_FRACTION = 0.25
"""Share of the free memory one chunk may use (the estimate is rough; --chunk-size overrides)."""


def draw_unit_weights(key, index, scheme: str, n_units: int):
    """Weights over ``n_units`` units for resample ``index`` (a pure function of both).

    nonparametric / block: multinomial counts (n draws with replacement); bayesian: Dirichlet(1)
    scaled to sum to n; subsample: a 0/1 mask of round(0.8 n) units drawn without replacement.
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
    raise ValueError(f"unknown scheme {scheme!r}; choose one of {SCHEMES}")


class Problem(NamedTuple):
    """One approach on one table, ready to sweep.

    ``fit_chunk(unit_weights)`` maps a ``(chunk, n_units)`` weight matrix to a dict of
    ``(chunk,)`` outputs (pure, jit-able); ``bytes_per_resample`` estimates its working memory;
    ``param_names`` are the law's parameters each resample also reports (Approach 3).
    """

    approach: str
    scheme: str
    n_units: int
    fit_chunk: Callable
    point: object
    estimate: dict
    data_hash: str
    config: dict
    bytes_per_resample: float
    param_names: tuple[str, ...] = ()


def _frontier_outputs(frontier, status, ok) -> dict:
    """Frontier coefficients per resample; NaN where the fit has no frontier (status not ok)."""
    out = {name: jnp.where(ok, getattr(frontier, name), jnp.nan) for name in FRONTIER_NAMES}
    out["status"] = status
    return out


def fast_starts(arrays, theta_hat, k: int, delta=DEFAULT_DELTA, law=DEFAULT_LAW) -> np.ndarray:
    """Fast-mode starts: the full-data optimum, then the ``k`` grid starts of lowest objective.

    The grid points are ranked by the full-data objective at the start itself; resamples share
    this array, so one compiled program serves the whole sweep.
    """
    law = get_law(law)
    grid = law.grid()
    ones = jnp.ones_like(arrays.log_loss)
    values = np.asarray(
        jax.jit(jax.vmap(lambda t: parametric_objective(t, arrays, ones, delta, law)))(
            jnp.asarray(grid, arrays.log_loss.dtype)
        )
    )
    order = np.argsort(np.where(np.isfinite(values), values, np.inf), kind="stable")[:k]
    return np.vstack([np.asarray(theta_hat, dtype=np.float64)[None, :], grid[order]])


def _best_start(starts_of_one_resample, law) -> dict:
    """Outputs of one resample from its starts' results: the finite start of least objective.

    Its law's parameters are keyed by their own names; a frontier that is not finite (a law
    whose optimum left the searched span) makes the resample non-finite."""
    res = starts_of_one_resample
    finite = jnp.isfinite(res.value) & jnp.all(jnp.isfinite(res.x), axis=-1)
    best = jnp.argmin(jnp.where(finite, res.value, jnp.inf))
    theta = res.x[best]
    frontier = law.frontier_of(theta)
    status = jnp.where(jnp.isfinite(frontier.a), res.status[best], NON_FINITE)
    out = _frontier_outputs(frontier, status, True)
    out.update(law.to_params(theta))
    out.update(objective=res.value[best], grad_norm=res.grad_norm[best], start=best)
    return out


def parametric_chunk_fit(
    arrays, starts, delta, options: SolverOptions = DEFAULT_OPTIONS, law=DEFAULT_LAW
):
    """Approach 3 for a chunk: ``(chunk, n_rows)`` weights -> best start per resample.

    Lane ``r * n_starts + s`` runs start ``s`` on resample ``r``; lanes carry only their
    resample's index, so the weight matrix is not copied per start.
    """
    n_starts = starts.shape[0]
    law = get_law(law)

    def fit(weights):
        n_chunk = weights.shape[0]
        n_lanes = n_chunk * n_starts
        # On CPU lanes are stepped CPU_QUEUE_LANES at a time when there are more lanes than
        # that, else all at once. Padding to more than CPU_QUEUE_LANES lanes runs the same
        # compiled step on the same shapes for any chunk size or number of devices. Padding
        # lanes fit an all-zero weight row, which is optimal at once (zero gradient), so they
        # cost one evaluation each.
        pad = 0
        if jax.default_backend() == "cpu":
            pad = max(0, CPU_QUEUE_LANES + 1 - n_lanes)
        padded_weights = jnp.concatenate([weights, jnp.zeros_like(weights[:1])])
        per_lane = multistart_minimize(
            None,
            jnp.concatenate([jnp.tile(starts, (n_chunk, 1)), jnp.tile(starts[:1], (pad, 1))]),
            options=options,
            value_grad_hess=lambda theta, r, majorize: huber_derivatives(
                law, theta, arrays, padded_weights[r], delta, majorize
            ),
            lane_data=jnp.concatenate(
                [jnp.repeat(jnp.arange(n_chunk), n_starts), jnp.full(pad, n_chunk)]
            ),
        )
        per_lane = jax.tree_util.tree_map(
            lambda leaf: leaf[:n_lanes].reshape((n_chunk, n_starts) + leaf.shape[1:]), per_lane
        )
        return jax.lax.map(partial(_best_start, law=law), per_lane)

    return fit


def _data_hash(runs: Runs, extra: dict) -> str:
    digest = hashlib.sha256(runs.content_hash().encode())
    digest.update(json.dumps(extra, sort_keys=True).encode())
    return digest.hexdigest()


def prepare(
    runs: Runs,
    approach: str,
    scheme: str,
    *,
    mode: str = "fast",
    k_starts: int = 8,
    nominal=None,
    dtype=jnp.float64,
    point: ParametricFit | None = None,
    options: SolverOptions | None = None,
    law=DEFAULT_LAW,
) -> Problem:
    """Validate the (approach, scheme) pair, fit the full data once and build the chunk fit.

    Approach 3: ``mode="fast"`` starts every resample from the full-data optimum plus the
    ``k_starts`` best grid starts; ``"full"`` runs the law's whole start grid per resample
    (Chinchilla's 4,500 starts for ``law="chinchilla"``; ``law`` as in ``fit_parametric``).
    ``options`` default to ``WARM_START_OPTIONS`` in fast mode and ``DEFAULT_OPTIONS`` in full.
    ``point`` reuses a full-data ``fit_parametric`` result (it must be of ``runs``). Raises
    ``DataError`` for a refused pair or data the approach cannot fit.
    """
    approach = str(approach)
    if approach not in UNITS:
        raise DataError(f"unknown approach {approach!r}: use 1, 2 or 3")
    if scheme not in SCHEMES:
        raise DataError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if scheme not in UNITS[approach]:
        raise DataError(REFUSALS[(approach, scheme)])
    unit = UNITS[approach][scheme]
    config = {"approach": approach, "scheme": scheme, "unit": unit, "dtype": jnp.dtype(dtype).name}
    itemsize = jnp.dtype(dtype).itemsize
    if approach == "3":
        if mode not in MODES:
            raise DataError(f"unknown mode {mode!r}: use 'fast' or 'full'")
        law = get_law(law)
        point = point if point is not None else fit_parametric(runs, dtype=dtype, law=law)
        if point.law is not law:
            raise DataError(f"point was fitted with law {point.law.name!r}, not {law.name!r}")
        arrays = parametric_arrays(runs, dtype, law)
        if mode == "fast":
            starts = fast_starts(arrays, point.theta, k_starts, point.delta, law)
            default_options = WARM_START_OPTIONS
        else:
            starts = law.grid()
            default_options = DEFAULT_OPTIONS
        options = default_options if options is None else options
        fit = parametric_chunk_fit(
            arrays, jnp.asarray(starts, dtype), jnp.asarray(point.delta, dtype), options, law
        )
        config.update(
            law=law.name,
            mode=mode,
            n_starts=int(starts.shape[0]),
            starts_sha256=hashlib.sha256(np.ascontiguousarray(starts).tobytes()).hexdigest(),
            solver=options._asdict(),
        )
        n_units = len(runs)
        estimate = {"a": point.frontier.a, "b": point.frontier.b, **point.params}
        # ~40 row-sized temporaries per lane: right when every lane of a chunk steps at once,
        # an overestimate when the chunk has more lanes than the solver's queue is wide.
        bytes_per = starts.shape[0] * (40 * len(runs) + 64) * itemsize + n_units * itemsize
        row_of_unit = None
    elif approach == "2":
        point = fit_isoflop(runs, nominal=nominal, dtype=dtype)
        arrays = isoflop_arrays(runs, point.assignment, dtype)
        config["budgets"] = [float(c) for c in point.assignment.flops]
        if unit == "budget":
            n_units = point.assignment.n_budgets
            row_of_unit = np.asarray(point.assignment.index)
        else:
            n_units, row_of_unit = len(runs), None

        def fit(weights):
            solution = jax.lax.map(partial(fit_isoflop_arrays, arrays), weights)
            return _frontier_outputs(solution.frontier, solution.status, solution.status == 0)

        estimate = {"a": point.frontier.a, "b": point.frontier.b}
    else:
        point = fit_envelope(runs, dtype=dtype)
        arrays = envelope_arrays(point.curves, dtype)
        n_units, row_of_unit = len(point.curves), None
        config["n_grid"] = int(point.curves.log_grid.size)

        def fit(weights):
            solution = jax.lax.map(partial(fit_envelope_arrays, arrays), weights)
            return _frontier_outputs(solution.frontier, solution.status, solution.status == 0)

        estimate = {"a": point.frontier.a, "b": point.frontier.b}

    if approach != "3":
        # One resample at a time (``lax.map``): every chunk runs the same per-resample program,
        # so results do not depend on the chunk size (a vmapped matmul's summation order does).
        bytes_per = 4 * (n_units + len(runs)) * itemsize

    def fit_chunk(unit_weights):
        if row_of_unit is not None:
            # Block bootstrap: a row takes its unit's weight; rows outside every unit get 0.
            padded = jnp.concatenate(
                [unit_weights, jnp.zeros((unit_weights.shape[0], 1), unit_weights.dtype)], axis=1
            )
            index = np.where(row_of_unit >= 0, row_of_unit, n_units)
            unit_weights = padded[:, index]
        return fit(unit_weights.astype(dtype))

    return Problem(
        approach=approach,
        scheme=scheme,
        n_units=int(n_units),
        fit_chunk=fit_chunk,
        point=point,
        estimate={k: float(v) for k, v in estimate.items()},
        data_hash=_data_hash(runs, {"nominal": None if nominal is None else list(nominal)}),
        config=config,
        bytes_per_resample=float(bytes_per),
        param_names=tuple(point.law.param_names) if approach == "3" else (),
    )


def free_memory_bytes(device=None) -> float:
    """Free memory of ``device`` (accelerator statistics, else the host's available RAM)."""
    device = device or jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


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


def _save_chunk(path: Path, arrays: dict) -> None:
    """Write to a temporary file, then rename: a reader sees the whole chunk or none."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        np.savez(handle, __checksum__=np.array(_checksum(arrays)), **arrays)
    os.replace(tmp, path)


def _load_chunk(path: Path, expected: int, names: set) -> dict | None:
    """A finished chunk, or None when it is unreadable, misshapen or fails its checksum."""
    try:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files if name != "__checksum__"}
            checksum = str(stored["__checksum__"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if set(arrays) != names or checksum != _checksum(arrays):
        return None
    if any(v.shape != (expected,) for v in arrays.values()):
        return None
    return arrays


def _open_checkpoints(folder: Path, manifest: dict, resume: bool, write: bool) -> None:
    """Create or check ``folder`` (the writing process does; the others wait for it there);
    refuse to mix sweeps of different data or settings."""
    path = folder / "manifest.json"
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


CHUNK_ABSENT, CHUNK_STORED, CHUNK_CORRUPT = 0, 1, 2


def _read_stored_chunk(path: Path | None, size: int, shapes: dict, writer: bool):
    """``(arrays or None, state)`` of a checkpointed chunk, as the writing process sees it.

    With several processes the writer's reading is broadcast, so that all of them skip or
    recompute the same chunks (they run collectives together) even without a shared disk.
    """
    stored, state = None, CHUNK_ABSENT
    if writer and path is not None and path.is_file():
        stored = _load_chunk(path, size, set(shapes))
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


@lru_cache(maxsize=16)
def _programs(fit_chunk: Callable, scheme: str, n_units: int, mesh: Mesh):
    """Jitted chunk programs (cached, so repeated sweeps of one problem compile once).

    ``by_index`` takes ``(seed, resample index)`` rows and draws each resample's weights
    inside; ``by_weights`` takes explicit weight vectors.
    """
    spec = PartitionSpec("resample")
    shard = partial(jax.shard_map, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)

    def draw_one(seed_and_index):
        key = jax.random.key(seed_and_index[0])
        weights = draw_unit_weights(key, seed_and_index[1], scheme, n_units)
        return weights, jnp.sum(weights)

    def by_index(seed_and_index):
        # Counts and masks are integers in floating point, exact however they are batched, so
        # those draws are vmapped. Dirichlet draws go one resample at a time: vmapped, their
        # normalisation would round differently for different chunk sizes or device counts.
        if scheme == "bayesian":
            weights, weight_sum = jax.lax.map(draw_one, seed_and_index)
        else:
            weights, weight_sum = jax.vmap(draw_one)(seed_and_index)
        out = fit_chunk(weights)
        out["weight_sum"] = weight_sum
        return out

    return jax.jit(shard(by_index)), jax.jit(shard(fit_chunk))


def _run_global(program, host_array: np.ndarray, mesh: Mesh) -> dict:
    """Run ``program`` on a host array split over the mesh; gather the outputs to every host."""
    if jax.process_count() == 1:
        return {k: np.asarray(v) for k, v in jax.device_get(program(host_array)).items()}
    sharding = jax.sharding.NamedSharding(mesh, PartitionSpec("resample"))
    global_in = jax.make_array_from_callback(host_array.shape, sharding, lambda i: host_array[i])
    gathered = multihost_utils.process_allgather(program(global_in), tiled=True)
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
    chunk_size = chunk_size or default_chunk_size(problem, n_resamples, n_devices)
    if chunk_size < 1 or chunk_size % n_devices:
        raise DataError(f"chunk size {chunk_size} must be a positive multiple of {n_devices}")
    writer = jax.process_index() == 0
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        manifest = _manifest(problem, n_resamples, seed, chunk_size)
        _open_checkpoints(checkpoint_dir, manifest, resume, writer)
    by_index, _ = _programs(problem.fit_chunk, problem.scheme, problem.n_units, mesh)
    shapes = jax.eval_shape(by_index, jax.ShapeDtypeStruct((chunk_size, 2), np.int64))
    n_chunks = -(-n_resamples // chunk_size)
    chunks, resumed, recomputed = [], 0, 0
    started = time.perf_counter()
    bar = _progress_bar(n_resamples, progress and writer)
    for c in range(n_chunks):
        if stop_after_chunks is not None and c >= stop_after_chunks:
            break
        size = min(chunk_size, n_resamples - c * chunk_size)
        path = None if checkpoint_dir is None else checkpoint_dir / f"chunk_{c:06d}.npz"
        stored, state = _read_stored_chunk(path, size, shapes, writer)
        if state == CHUNK_CORRUPT:
            recomputed += 1
            message = f"chunk {c} in {checkpoint_dir} is corrupt or incomplete: recomputing it"
            if writer:
                (bar.write if progress else print)(message)
        if stored is not None:
            resumed += 1
            arrays = stored
        else:
            # Pad the last chunk to full size so one compiled program serves every chunk.
            index = np.minimum(np.arange(c * chunk_size, (c + 1) * chunk_size), n_resamples - 1)
            rows = np.stack([np.full_like(index, seed), index], axis=1).astype(np.int64)
            result = _run_global(by_index, rows, mesh)
            arrays = {name: value[:size] for name, value in result.items()}
            if path is not None and writer:
                _save_chunk(path, arrays)
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
    parts = []
    for start in range(0, len(unit_weights), chunk_size):
        block = unit_weights[start : start + chunk_size]
        padded = np.concatenate([block, np.repeat(block[-1:], chunk_size - len(block), axis=0)])
        result = _run_global(by_weights, padded, mesh)
        parts.append({name: value[: len(block)] for name, value in result.items()})
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def failed_mask(sweep: Sweep) -> np.ndarray:
    """Resamples whose fit did not converge (Approach 3) or had no frontier (Approaches 1, 2)."""
    status = sweep.outputs["status"]
    ok = CONVERGED if sweep.problem.approach == "3" else 0
    return (status != ok) | ~np.isfinite(sweep.outputs["a"])


def _bca_interval(draws, estimate, jackknife, level) -> list[float]:
    """Efron's bias-corrected and accelerated percentile interval."""
    z0 = norm.ppf(np.clip(np.mean(draws < estimate), 1e-12, 1 - 1e-12))
    spread = jackknife.mean() - jackknife
    denominator = 6.0 * np.sum(spread**2) ** 1.5
    accel = np.sum(spread**3) / denominator if denominator > 0 else 0.0
    z = norm.ppf([(1 - level) / 2, (1 + level) / 2])
    adjusted = norm.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))
    return [float(v) for v in np.percentile(draws, 100 * adjusted)]


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
        return ("a", "b", *self.sweep.problem.param_names)

    def draws(self, name: str) -> np.ndarray:
        return np.asarray(self.sweep.outputs[name])[self.kept]

    def se(self, name: str) -> float:
        return float(np.std(self.draws(name), ddof=1))

    def interval(self, name: str) -> list[float]:
        """Central percentile interval at ``level``."""
        tail = (1 - self.level) / 2 * 100
        return [float(v) for v in np.percentile(self.draws(name), [tail, 100 - tail])]

    def bca_interval(self, name: str) -> list[float] | None:
        """BCa interval at ``level``, or None without a jackknife."""
        if self.jackknife is None:
            return None
        values = np.asarray(self.jackknife[name])
        values = values[np.isfinite(values)]
        estimate = self.sweep.problem.estimate[name]
        return _bca_interval(self.draws(name), estimate, values, self.level)

    def band(self, flops) -> plots.Band:
        """Pointwise ``level`` band of N_opt(C) and D_opt(C) over the kept resamples."""
        out, kept = self.sweep.outputs, self.kept
        return plots.band_from_draws(
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

    def table(self) -> str:
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
    cheap = problem.approach != "3" or problem.config["mode"] == "fast"
    if bca and problem.scheme in JACKKNIFE_SCHEMES and cheap:
        jackknife = fit_weights(problem, jackknife_weights(problem.n_units))
    return BootstrapResult(sweep, level, exclude_failed, jackknife)


def bootstrap(
    runs: Runs,
    approach: str = "3",
    scheme: str = "nonparametric",
    n_resamples: int = 1000,
    *,
    mode: str = "fast",
    k_starts: int = 8,
    nominal=None,
    dtype=jnp.float64,
    point: ParametricFit | None = None,
    law=DEFAULT_LAW,
    **options,
) -> BootstrapResult:
    """Bootstrap one approach on a validated table: ``prepare`` then ``run_bootstrap``.

    ``law`` (Approach 3) is a ``Law``, a registered name or ``FILE.py:NAME``.

    ``options`` go to ``run_bootstrap`` (level, exclude_failed, bca) and ``run_sweep`` (seed,
    chunk_size, checkpoint_dir, resume, progress).
    """
    problem = prepare(
        runs,
        approach,
        scheme,
        mode=mode,
        k_starts=k_starts,
        nominal=nominal,
        dtype=dtype,
        point=point,
        law=law,
    )
    return run_bootstrap(problem, n_resamples, **options)


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
