"""Approach 3: a parametric law ``L(N, D)``, Chinchilla's ``E + A/N^alpha + B/D^beta`` by default.

Objective (Hoffmann et al. 2022): the **sum** over runs of ``Huber_delta(log L_hat - log L)``,
``delta = 1e-3``, with per-row weights entering the sum, minimised from a grid of starts
(Chinchilla's 4,500 by default). The law is a value (``core.law.Law``; names are resolved at
the boundary by ``laws.get_law``): its closed-form derivatives, grid and frontier are used when
it has them, autodiff and the numeric frontier otherwise. ``fit_parametric_arrays`` is the pure
function of ``(arrays, weights, starts)`` that bootstrap sweeps vmap over; ``fit_parametric`` is
the validated, jitted entry point for one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.approaches.spec import row_bucket
from scalinglaw_jax.core.compile_cache import (
    mesh_identity,
    release_programs_near_map_limit,
    stored_program,
)
from scalinglaw_jax.core.data import DataError, Runs, as_runs, check_weights
from scalinglaw_jax.core.frontier import Frontier, log_coefficient_g
from scalinglaw_jax.core.law import Law, LawError, huber_derivatives, huber_objective
from scalinglaw_jax.core.solvers import (
    DEFAULT_OPTIONS,
    DEFAULT_SCREENING,
    Screening,
    SolveResult,
    SolverOptions,
    finish_candidates,
    free_memory_bytes,
    loss_unit_offset,
    multistart_minimize,
    polish,
    queue_lanes,
    random_starts,
    screen_starts,
    shard_starts,
    start_mesh,
)
from scalinglaw_jax.core.status import Status, status_counts
from scalinglaw_jax.laws import CHINCHILLA_LAW, registered_name
from scalinglaw_jax.laws.closed_forms import frontier_summary

DEFAULT_DELTA = 1e-3
TRACE_COUNTS = {"fit_parametric_arrays": 0, "screen_parametric": 0, "finish_parametric": 0}
"""Incremented each time the fit is traced (tests use it to catch recompilation)."""


class ParametricArrays(NamedTuple):
    """Logs of the run table, float64 (or float32 on the fast path), and the natural-scale
    columns a law without a log-space fast path reads (``inputs``; None for Chinchilla's)."""

    log_n: jnp.ndarray
    log_d: jnp.ndarray
    log_loss: jnp.ndarray
    inputs: dict | None = None


class ParametricSolution(NamedTuple):
    """Pure-fit output for one weight vector: best start plus counts (a pytree)."""

    theta: jnp.ndarray
    objective: jnp.ndarray
    frontier: Frontier
    grad_norm: jnp.ndarray
    status: jnp.ndarray
    n_converged: jnp.ndarray
    per_start: SolveResult | None


def parametric_objective(
    theta, arrays: ParametricArrays, weights, delta, law: Law = CHINCHILLA_LAW
):
    """Weighted sum of Huber losses on log-loss residuals; weight-0 rows add exactly nothing."""
    return huber_objective(law, theta, arrays, weights, delta)


def _best_of(per_start: SolveResult, axis=None):
    """Index of the finite, solved start of least objective (per resample along ``axis`` 1
    when batched); screened-out starts hold a cheaper objective's value and never count."""
    finite = jnp.isfinite(per_start.value) & jnp.all(jnp.isfinite(per_start.x), axis=-1)
    solved = finite & (per_start.status != Status.SCREENED_OUT)
    return jnp.argmin(jnp.where(solved, per_start.value, jnp.inf), axis=axis)


CPU_BLOCK_ELEMENTS = 32_768
"""Lanes x rows evaluated at once on CPU: each of the objective's row-sized temporaries then
stays in cache (256 KiB in float64), so a step's cost grows linearly in the rows."""
ACCELERATOR_MEMORY_FRACTION = 0.25
"""Share of an accelerator's free memory the row blocks of one solver step may take."""
TEMPORARIES_PER_ROW = 40
"""Row-sized temporaries of one derivative evaluation (``parametric_spec`` budgets a sweep's
memory with it too)."""


def row_block_size(n_rows: int, n_lanes: int, itemsize: int) -> int:
    """Rows the objective sums at once: the whole table when it is small enough, else blocks
    sized for the CPU's cache or a share of the accelerator's free memory."""
    if jax.default_backend() == "cpu":
        rows = CPU_BLOCK_ELEMENTS // max(n_lanes, 1)
    else:
        budget = ACCELERATOR_MEMORY_FRACTION * free_memory_bytes()
        rows = int(budget // (max(n_lanes, 1) * TEMPORARIES_PER_ROW * itemsize))
    return int(min(n_rows, max(rows, 256)))


PAD_ROWS_LIMIT = 2048
"""Tables up to this many rows are fitted padded to their bucket (``spec.row_bucket``); above
it a fit's steps, not its compilation, take the time, and padding would add to them."""


def padded_rows(n_rows: int, screening: Screening | None) -> int:
    """The rows a fit of ``n_rows`` sums: ``row_bucket(n_rows)`` (copies of the last row at
    weight 0 after the table's own) up to ``PAD_ROWS_LIMIT``, else ``n_rows``; a screened fit
    pads only while it screens every row (its strided screening rows follow the length)."""
    bucket = row_bucket(n_rows)
    if bucket > PAD_ROWS_LIMIT or (screening is not None and bucket > screening.rows):
        return n_rows
    return bucket


def pad_rows(arrays: ParametricArrays, n_rows: int) -> ParametricArrays:
    """``arrays`` with every row array padded to ``n_rows`` by copies of its last row: finite
    values, which a weight of 0 removes exactly from the Huber sum and its derivatives."""

    def pad(leaf):
        return jnp.pad(leaf, [(0, 0)] * (leaf.ndim - 1) + [(0, n_rows - leaf.shape[-1])], "edge")

    return jax.tree_util.tree_map(pad, arrays)


def row_blocks(tree, block_rows: int, pad_mode: str = "edge"):
    """Every leaf's row axis (the last) split into ``(n_blocks, block_rows)``. Data pad with
    copies of the last row (``"edge"``), weights with zeros (``"constant"``), so padding rows
    add nothing to a weighted sum."""

    def split(leaf):
        pad = -leaf.shape[-1] % block_rows
        widths = [(0, 0)] * (leaf.ndim - 1) + [(0, pad)]
        padded = jnp.pad(leaf, widths, mode=pad_mode)
        return jnp.moveaxis(padded.reshape(leaf.shape[:-1] + (-1, block_rows)), -2, 0)

    return jax.tree_util.tree_map(split, tree)


def blocked_derivatives(law: Law, blocks: ParametricArrays, weights, delta):
    """``huber_derivatives`` summed block by block (``lax.scan`` over ``row_blocks``), so the
    temporaries of one step are one block's, whatever the table's size."""

    def derivatives(theta, majorize):
        def add(total, block):
            part = huber_derivatives(law, theta, block[0], block[1], delta, majorize)
            return jax.tree_util.tree_map(jnp.add, total, part), None

        first = huber_derivatives(
            law,
            theta,
            *jax.tree_util.tree_map(lambda leaf: leaf[0], (blocks, weights)),
            delta,
            majorize,
        )
        rest = jax.tree_util.tree_map(lambda leaf: leaf[1:], (blocks, weights))
        return jax.lax.scan(add, first, rest)[0]

    return derivatives


def resample_derivatives(law: Law, arrays: ParametricArrays, weight_rows, delta, n_lanes: int):
    """``f(theta, r, majorize)``: value, gradient and Hessian on weight row ``r`` of the
    ``(n_resamples, n_rows)`` matrix ``weight_rows``, summed in row blocks when the table is
    too large for one (``row_block_size`` for ``n_lanes`` lanes stepped together)."""
    n_rows = arrays.log_loss.shape[-1]
    block = row_block_size(n_rows, n_lanes, arrays.log_loss.dtype.itemsize)
    if block >= n_rows:
        return lambda theta, r, majorize: huber_derivatives(
            law, theta, arrays, weight_rows[r], delta, majorize
        )
    blocks = row_blocks(arrays, block)
    weight_blocks = row_blocks(weight_rows, block, pad_mode="constant")
    return lambda theta, r, majorize: blocked_derivatives(law, blocks, weight_blocks[:, r], delta)(
        theta, majorize
    )


def screening_rows(n_rows: int, screening: Screening) -> np.ndarray:
    """Rows of the screening objective: every row of a small table, else an evenly strided
    subsample of at most ``screening.rows`` (tables are usually ordered by run and step, so
    a stride spans every run)."""
    stride = -(-n_rows // screening.rows)
    return np.arange(0, n_rows, stride)


def screening_derivatives(
    law: Law, arrays: ParametricArrays, weight_rows, delta, n_lanes: int, screening, full
):
    """``resample_derivatives`` on the rows of ``screening_rows``: the cheap objective of the
    screening stage; ``full`` (the whole table's) when every row is screened."""
    rows = screening_rows(arrays.log_loss.shape[-1], screening)
    if rows.size == arrays.log_loss.shape[-1]:
        return full
    subsample = jax.tree_util.tree_map(lambda leaf: leaf[..., rows], (arrays, weight_rows))
    return resample_derivatives(law, *subsample, delta, n_lanes)


def _first_row(per_row):
    """``f(theta, majorize)`` from a ``resample_derivatives`` function of one weight row."""
    return lambda theta, majorize: per_row(theta, 0, majorize)


def fit_parametric_arrays(
    arrays: ParametricArrays,
    weights: jnp.ndarray,
    starts: jnp.ndarray,
    delta=DEFAULT_DELTA,
    *,
    options: SolverOptions = DEFAULT_OPTIONS,
    law: Law = CHINCHILLA_LAW,
    keep_starts: bool = True,
    mesh=None,
    screening: Screening | None = DEFAULT_SCREENING,
) -> ParametricSolution:
    """Minimise from every start (vmapped), keep the lowest finite objective and polish it
    (``solvers.polish``: exact Newton steps to rounding level).

    ``screening`` (``solvers.Screening``) screens the starts and finishes the best few
    (``screen_parametric`` then ``finish_parametric``); None solves every start to
    convergence (exhaustive). ``mesh`` (``solvers.start_mesh``) splits the starts over
    devices; None keeps them on one.
    """
    TRACE_COUNTS["fit_parametric_arrays"] += 1
    if screening is not None and starts.shape[0] > screening.candidates:
        screened = screen_parametric(
            arrays, weights, starts, delta, options=options, law=law, mesh=mesh, screening=screening
        )
        return finish_parametric(
            arrays,
            weights,
            screened,
            delta,
            options=options,
            law=law,
            keep_starts=keep_starts,
            screening=screening,
        )
    full = _full_objective(law, arrays, weights, delta, starts.shape[0], options)
    per_start = shard_starts(
        lambda s: multistart_minimize(None, s, options, value_grad_hess=full), starts, mesh
    )
    return _polished_best(law, arrays, full, per_start, keep_starts)


def screen_parametric(
    arrays: ParametricArrays,
    weights: jnp.ndarray,
    starts: jnp.ndarray,
    delta=DEFAULT_DELTA,
    *,
    options: SolverOptions = DEFAULT_OPTIONS,
    law: Law = CHINCHILLA_LAW,
    mesh=None,
    screening: Screening = DEFAULT_SCREENING,
) -> SolveResult:
    """A screened fit's first stage: ``screening.steps`` steps from every start on the
    screening rows (``screening_rows``), split over ``mesh``."""
    TRACE_COUNTS["screen_parametric"] += 1
    n_lanes = min(queue_lanes(options), starts.shape[0])
    per_row = resample_derivatives(law, arrays, weights[None], delta, n_lanes)
    cheap = screening_derivatives(law, arrays, weights[None], delta, n_lanes, screening, per_row)
    return screen_starts(_first_row(cheap), starts, options, screening, mesh)


def finish_parametric(
    arrays: ParametricArrays,
    weights: jnp.ndarray,
    screened: SolveResult,
    delta=DEFAULT_DELTA,
    *,
    options: SolverOptions = DEFAULT_OPTIONS,
    law: Law = CHINCHILLA_LAW,
    keep_starts: bool = True,
    screening: Screening = DEFAULT_SCREENING,
) -> ParametricSolution:
    """A screened fit's second stage, on one device: the best screened starts solved on the
    whole table (``solvers.finish_candidates``), the best of them polished."""
    TRACE_COUNTS["finish_parametric"] += 1
    full = _full_objective(law, arrays, weights, delta, screened.x.shape[0], options)
    per_start = finish_candidates(full, screened, options, screening)
    return _polished_best(law, arrays, full, per_start, keep_starts)


def _full_objective(law: Law, arrays, weights, delta, n_starts: int, options: SolverOptions):
    """``f(theta, majorize)`` on the whole table, in the row blocks of ``n_starts``' queue."""
    n_lanes = min(queue_lanes(options), n_starts)
    return _first_row(resample_derivatives(law, arrays, weights[None], delta, n_lanes))


def _polished_best(law: Law, arrays, full, per_start: SolveResult, keep_starts: bool):
    """The ``ParametricSolution`` of the best start, polished on ``full``."""
    best = _best_of(per_start)
    polished = polish(full, per_start.x[best], terms=arrays.log_loss.shape[-1])
    return ParametricSolution(
        theta=polished.x,
        objective=polished.value,
        frontier=law.frontier_of(polished.x),
        grad_norm=polished.grad_norm,
        status=per_start.status[best],
        n_converged=jnp.sum(per_start.status == Status.CONVERGED),
        per_start=per_start if keep_starts else None,
    )


_fit_jit = jax.jit(
    fit_parametric_arrays,
    static_argnames=("options", "law", "keep_starts", "mesh", "screening"),
)
_screen_jit = jax.jit(screen_parametric, static_argnames=("options", "law", "mesh", "screening"))
_finish_jit = jax.jit(
    finish_parametric, static_argnames=("options", "law", "keep_starts", "screening")
)


def row_blocked(n_rows: int, n_starts: int, itemsize: int, options: SolverOptions) -> bool:
    """Whether a fit from ``n_starts`` starts sums the table in more than one row block."""
    n_lanes = min(queue_lanes(options), n_starts)
    return row_block_size(n_rows, n_lanes, itemsize) < n_rows


def parametric_arrays(runs: Runs, dtype=jnp.float64, law: Law = CHINCHILLA_LAW) -> ParametricArrays:
    """Log-space arrays of a validated table, with the natural-scale columns ``law`` reads
    (none when it predicts in log space). Raises ``LawError`` when the table lacks one."""
    inputs = None
    if law.log_prediction is None:
        inputs = {}
        for column in law.columns:
            values = getattr(runs, column, None)
            if values is None:
                raise LawError(
                    f"law {law.name!r} needs column {column!r}, which {runs.source} does not have"
                    + (" (aliases: 'unique tokens', 'U_D')" if column == "unique_tokens" else "")
                )
            if not np.all(np.isfinite(values)):
                raise LawError(f"law {law.name!r} needs column {column!r}; it has missing values")
            inputs[column] = jnp.asarray(values, dtype=dtype)
    return ParametricArrays(
        log_n=jnp.asarray(np.log(runs.params), dtype=dtype),
        log_d=jnp.asarray(np.log(runs.tokens), dtype=dtype),
        log_loss=jnp.asarray(np.log(runs.loss), dtype=dtype),
        inputs=inputs,
    )


def placed_starts(starts, loss, *, key=None, law: Law = CHINCHILLA_LAW) -> np.ndarray:
    """``resolve_starts``, with the default grids (a name or a number of random starts) moved
    to the loss unit of ``loss`` (``solvers.loss_unit_offset``); given starts are used as
    they are."""
    grid = resolve_starts(starts, key=key, law=law)
    if isinstance(starts, str | int):
        grid = grid + loss_unit_offset(loss, law.theta_names)
    return grid


def resolve_starts(starts, *, key=None, law: Law = CHINCHILLA_LAW) -> np.ndarray:
    """Turn a start specification into a (n_starts, n_params) array in the law's coordinates.

    ``"grid"`` (or ``"chinchilla"``) gives the law's start grid (Chinchilla's 4,500 points for
    the Chinchilla law); an int ``k`` gives ``k`` uniform random starts in the grid's bounding
    box (needs ``key``); an array is used as given.
    """
    if isinstance(starts, str):
        if starts not in ("grid", "chinchilla"):
            raise ValueError(f"unknown start grid {starts!r}; use 'grid', an int or an array")
        return law.grid()
    if isinstance(starts, int | np.integer):
        if key is None:
            raise ValueError("random starts need a PRNG key: fit_parametric(..., key=...)")
        grid = law.grid()
        return np.asarray(random_starts(key, int(starts), grid.min(0), grid.max(0)))
    grid = np.asarray(starts, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[1] != law.n_params:
        raise ValueError(
            f"starts must have shape (n_starts, {law.n_params}) over {law.theta_names}, "
            f"got {grid.shape}"
        )
    if not np.all(np.isfinite(grid)):
        raise ValueError("starts contain NaN or inf")
    return grid


@dataclass(frozen=True)
class ParametricFit:
    """Approach-3 result for one table: best parameters, frontier and per-start diagnostics."""

    theta: np.ndarray
    objective: float
    frontier: Frontier
    grad_norm: float
    status: int
    n_starts: int
    n_converged: int
    start_status: dict
    per_start: SolveResult
    delta: float
    law: Law
    screening: Screening | None
    screening_rows: int
    screening_fallback: bool

    @property
    def form_name(self) -> str:
        return self.law.name

    @property
    def params(self) -> dict[str, float]:
        """Natural-scale parameters, keyed by the law's own names."""
        return {name: float(v) for name, v in self.law.to_params(np.asarray(self.theta)).items()}

    def n_opt(self, flops):
        return np.asarray(self.frontier.n_opt(flops))

    def d_opt(self, flops):
        return np.asarray(self.frontier.d_opt(flops))

    def report(self) -> str:
        """The law, its parameters, the objective, the frontier and the starts' statuses."""
        counts = ", ".join(f"{n} {name}" for name, n in self.start_status.items() if n)
        if self.screening_fallback:
            search = "screening inconclusive (its best start did not converge): every start solved"
        elif self.screening is None:
            search = "exhaustive: every start solved"
        else:
            search = (
                f"screened: {self.screening.steps} steps each on {self.screening_rows} rows, "
                f"best {self.screening.candidates} solved"
            )
        values = ", ".join(f"{name} = {value:.5g}" for name, value in self.params.items())
        g = float(np.exp(log_coefficient_g(self.frontier)))
        return "\n".join(
            [
                f"law {self.law.name}: L = {self.law.formula or '(user law)'}",
                f"  {values}",
                f"objective (summed Huber, delta={self.delta:g}) = {self.objective:.6e}",
                f"a = {self.frontier.a:.4f}, b = {self.frontier.b:.4f}, G = {g:.4g}",
                f"starts: {self.n_starts} ({counts}; {search}); best start gradient "
                f"norm {self.grad_norm:.2e}",
            ]
        )

    def to_dict(self) -> dict:
        return {
            **frontier_summary(3, self.frontier),
            "law": self.law.name,
            "params": self.params,
            "objective": float(self.objective),
            "grad_norm": float(self.grad_norm),
            "best_status": int(self.status),
            "n_starts": self.n_starts,
            "n_converged": self.n_converged,
            "start_status": self.start_status,
            "huber_delta": self.delta,
            "screening": None
            if self.screening is None
            else {**self.screening._asdict(), "screening_rows": self.screening_rows},
            "screening_fallback": self.screening_fallback,
        }


def fit_mesh(n_starts: int, n_rows: int, itemsize: int, options, devices, screening):
    """The mesh to split a fit's starts over (``solvers.start_mesh``), or None.

    On CPU an exhaustive fit of a table summed in row blocks stays on one device, which runs
    its blocks on XLA's threads: while a program of several CPU devices runs row-block loops,
    XLA's runtime holds memory in proportion to the run time (~10 GiB for the exhaustive grid
    at 24,000 rows; ``benchmarks/RESULTS.md``, "Scale"). A screened fit splits its screening
    stage, whose rows and steps are capped whatever the table's size; ``fit_parametric``
    finishes a row-blocked table in a program of one device (``finish_parametric``).
    """
    mesh = start_mesh(n_starts, options, devices)
    if mesh is None or screening is not None or mesh.devices.flat[0].platform != "cpu":
        return mesh
    return None if row_blocked(n_rows, n_starts, itemsize, options) else mesh


def fit_parametric(
    runs: Runs,
    weights=None,
    *,
    starts="grid",
    key=None,
    delta: float = DEFAULT_DELTA,
    options: SolverOptions = DEFAULT_OPTIONS,
    dtype=jnp.float64,
    law: Law = CHINCHILLA_LAW,
    devices=None,
    screening: Screening | None = DEFAULT_SCREENING,
) -> ParametricFit:
    """Fit Approach 3 to a validated table (``data.load_runs``) from many starts.

    ``law`` is a ``Law`` (default Chinchilla's; ``laws.get_law`` resolves a name or
    ``path/to/file.py:NAME``). ``weights`` (one per row, >= 0) enter the Huber sum; ``starts``
    is ``"grid"`` (the law's start grid: Chinchilla's 4,500 points for ``chinchilla``), an int
    (random starts in the grid's box, needs ``key``) or an array of shape
    ``(n_starts, n_params)`` in the law's coordinates (``law.theta_names``).
    ``dtype=jnp.float32`` is the explicit fast path. The starts are split over ``devices``
    (default: every local device) when each gets more than a full solver queue
    (``solvers.start_mesh``); the result is the same bits whatever the number of devices.
    ``screening`` (``solvers.Screening``) solves only the most promising starts to
    convergence after a cheap screening of all; None (``--exhaustive``) solves every start.
    Raises ``DataError`` for bad weights, too few rows or a column the law needs but the
    table lacks, before tracing.
    """
    runs = as_runs(runs, min_points=law.n_params, what=f"Approach 3 ({law.name})")
    if not (np.isfinite(delta) and delta > 0):
        raise DataError(f"delta (the Huber threshold) must be a finite number > 0, got {delta}")
    n_rows = len(runs)
    if n_rows < law.n_params:
        raise DataError(f"Approach 3 ({law.name}) needs at least {law.n_params} rows, got {n_rows}")
    weights = check_weights(weights, n_rows)
    if np.count_nonzero(weights) < law.n_params:
        raise DataError(
            f"only {np.count_nonzero(weights)} rows have weight > 0; "
            f"Approach 3 ({law.name}) needs at least {law.n_params}"
        )
    grid = placed_starts(starts, runs.loss, key=key, law=law)
    arrays = parametric_arrays(runs, dtype, law)
    release_programs_near_map_limit()  # a process fitting many table shapes (backtests)
    if screening is not None and grid.shape[0] <= screening.candidates:
        screening = None  # every start is solved anyway
    if padded_rows(n_rows, screening) > n_rows:
        # Copies of a row at weight 0 add nothing: tables of nearby sizes share one program.
        arrays = pad_rows(arrays, padded_rows(n_rows, screening))
        weights = np.concatenate([weights, np.zeros(arrays.log_loss.shape[-1] - n_rows)])
    fitted_rows = arrays.log_loss.shape[-1]

    name = registered_name(law)

    def run(tag: str, jitted, args: tuple, static: dict):
        """``jitted(*args, **static)``, read back whole from the program store when a command
        keeps one (registered laws only: a user's file may change under one name)."""
        settings = tuple(
            (setting, mesh_identity(value) if setting == "mesh" else value)
            for setting, value in static.items()
            if setting != "law"
        )
        identity = None if name is None else (tag, name, settings)
        return jax.device_get(stored_program(jitted, args, static, identity)(*args))

    def solve(screening):
        args = (arrays, *(jnp.asarray(v, dtype) for v in (weights, grid, delta)))
        itemsize = arrays.log_loss.dtype.itemsize
        mesh = fit_mesh(grid.shape[0], fitted_rows, itemsize, options, devices, screening)
        if screening is None or not row_blocked(fitted_rows, grid.shape[0], itemsize, options):
            static = dict(options=options, law=law, keep_starts=True, mesh=mesh)
            return run("fit", _fit_jit, args, dict(static, screening=screening))
        # Two programs: the finishing stage sums every row block on one device alone.
        screen = dict(options=options, law=law, mesh=mesh, screening=screening)
        screened = run("screen", _screen_jit, args, screen)
        static = dict(options=options, law=law, keep_starts=True, screening=screening)
        return run("finish", _finish_jit, (arrays, args[1], screened, args[3]), static)

    solution = solve(screening)
    # A best start that did not converge marks a table whose valleys are too flat for a
    # screening to rank; every start is then solved, as without screening.
    fallback = screening is not None and int(solution.status) != Status.CONVERGED
    if fallback:
        screening, solution = None, solve(None)
    return ParametricFit(
        theta=np.asarray(solution.theta),
        objective=float(solution.objective),
        frontier=Frontier(*(float(v) for v in solution.frontier)),
        grad_norm=float(solution.grad_norm),
        status=int(solution.status),
        n_starts=int(grid.shape[0]),
        n_converged=int(solution.n_converged),
        start_status=status_counts(solution.per_start.status),
        per_start=solution.per_start,
        delta=float(delta),
        law=law,
        screening=screening,
        screening_rows=0 if screening is None else screening_rows(n_rows, screening).size,
        screening_fallback=fallback,
    )
