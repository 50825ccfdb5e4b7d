"""Approach 3's record for the engine: its full-data fit, its sweep plan and its posterior.

Kept beside ``parametric.py`` (the pure fit of any ``Law``) so that the law layer and the
engine's view of Approach 3 can change independently. Every (resample, start) pair runs on its
own solver lane (``multistart_minimize`` with ``lane_data``): lanes go through the solver's
queue, so a resample that converges in 7 Newton steps does not wait for one that needs 80.
"""

from __future__ import annotations

import hashlib
from functools import cache, partial
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.approaches.parametric import (
    DEFAULT_DELTA,
    TEMPORARIES_PER_ROW,
    fit_parametric,
    pad_rows,
    padded_rows,
    parametric_arrays,
    parametric_objective,
    resample_derivatives,
    screening_derivatives,
)
from scalinglaw_jax.approaches.spec import (
    DEFAULT_APPROACH_OPTIONS,
    RESIDUAL_SCHEMES,
    ApproachOptions,
    ApproachSpec,
    SweepPlan,
)
from scalinglaw_jax.core.data import DataError, Runs, exclude_rows
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.core.solvers import (
    CPU_QUEUE_LANES,
    DEFAULT_OPTIONS,
    WARM_START_OPTIONS,
    Screening,
    SolverOptions,
    loss_unit_offset,
    multistart_minimize,
    polish,
    queue_lanes,
    select_candidates,
)
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.laws import CHINCHILLA_LAW, registered_name

MODES = ("fast", "full")
BOOTSTRAP_DEFAULTS = MappingProxyType(
    {"mode": ApproachOptions.mode, "k_starts": ApproachOptions.k_starts}
)
"""What ``sweep_plan`` does unless told otherwise (``scalinglaw bootstrap``'s defaults)."""


@cache
def _grid_objectives(law: Law):
    """The full-data objective at each of many starts, compiled once per law."""

    def objective(theta, arrays, weights, delta):
        return parametric_objective(theta, arrays, weights, delta, law)

    return jax.jit(jax.vmap(objective, in_axes=(0, None, None, None)))


def fast_starts(
    arrays, theta_hat, k: int, delta=DEFAULT_DELTA, law: Law = CHINCHILLA_LAW
) -> np.ndarray:
    """Fast-mode starts: the full-data optimum, then the ``k`` grid starts of lowest objective.

    The grid points are the law's start grid, ranked by the full-data objective at the start
    itself; resamples share this array, so one compiled program serves the whole sweep.
    """
    theta_hat = np.asarray(theta_hat, dtype=np.float64)[None, :]
    if k == 0:
        return theta_hat
    grid = law.grid() + loss_unit_offset(np.exp(arrays.log_loss), law.theta_names)
    # Rows padded to their bucket with weight 0 (adding nothing): one program for nearby sizes.
    n_rows = arrays.log_loss.shape[-1]
    padded = pad_rows(arrays, padded_rows(n_rows, None))
    weights = (jnp.arange(padded.log_loss.shape[-1]) < n_rows).astype(arrays.log_loss.dtype)
    values = np.asarray(
        _grid_objectives(law)(jnp.asarray(grid, arrays.log_loss.dtype), padded, weights, delta)
    )
    order = np.argsort(np.where(np.isfinite(values), values, np.inf), kind="stable")[:k]
    return np.vstack([theta_hat, grid[order]])


def _best_start(starts_of_one_resample, law: Law, refine) -> dict:
    """Outputs of one resample from its starts' results: the finite start of least objective,
    through ``refine(theta)`` (a ``solvers.polish``).

    Its law's parameters are keyed by their own names; a frontier that is not finite (a law
    whose optimum left the searched span) makes the resample non-finite."""
    res = starts_of_one_resample
    finite = jnp.isfinite(res.value) & jnp.all(jnp.isfinite(res.x), axis=-1)
    best = jnp.argmin(jnp.where(finite, res.value, jnp.inf))
    theta, value, grad_norm = refine(res.x[best])[:3]
    frontier = law.frontier_of(theta)
    out = frontier._asdict()
    out.update(law.to_params(theta))
    out.update(
        status=jnp.where(jnp.isfinite(frontier.a), res.status[best], Status.NON_FINITE),
        objective=value,
        grad_norm=grad_norm,
        start=best,
    )
    return out


def _resample_lanes(derivatives, starts, options: SolverOptions):
    """Minimise from ``starts`` of shape ``(n_chunk, n_starts, n_params)``: start ``s`` of
    resample ``r`` runs on lane ``r * n_starts + s`` with ``derivatives(theta, r, majorize)``;
    results come back shaped ``(n_chunk, n_starts, ...)``.

    On CPU lanes are stepped ``CPU_QUEUE_LANES`` at a time when there are more lanes than that,
    else all at once. Padding to more than ``CPU_QUEUE_LANES`` lanes runs the same compiled step
    on the same shapes for any chunk size or number of devices. Padding lanes fit an all-zero
    weight row (index ``n_chunk``), which is optimal at once (zero gradient), so they cost one
    evaluation each."""
    n_chunk, n_starts = starts.shape[:2]
    n_lanes = n_chunk * n_starts
    pad = max(0, CPU_QUEUE_LANES + 1 - n_lanes) if jax.default_backend() == "cpu" else 0
    flat = starts.reshape(n_lanes, -1)
    per_lane = multistart_minimize(
        None,
        jnp.concatenate([flat, jnp.tile(flat[:1], (pad, 1))]),
        options=options,
        value_grad_hess=derivatives,
        lane_data=jnp.concatenate(
            [jnp.repeat(jnp.arange(n_chunk), n_starts), jnp.full(pad, n_chunk)]
        ),
    )
    return jax.tree_util.tree_map(
        lambda leaf: leaf[:n_lanes].reshape((n_chunk, n_starts) + leaf.shape[1:]), per_lane
    )


@cache
def parametric_chunk_fit(
    options: SolverOptions = DEFAULT_OPTIONS,
    law: Law | None = None,
    screening: Screening | None = None,
):
    """Approach 3 for a chunk: ``fit(data, (chunk, n_rows) weights)`` -> best start per resample.

    ``data`` is ``(arrays, starts, delta)``; ``law`` defaults to Chinchilla's. ``screening``
    (``solvers.Screening``, for full mode) screens every resample's starts and finishes its
    best few, as ``fit_parametric`` does; None solves every start. Each resample's best start
    is polished (``solvers.polish``), so a draw is its resample's optimum at rounding level
    whichever start reached it: fast and full mode agree to ~1e-14 where they find one basin.
    Lanes carry only their resample's index, so the weight matrix is not copied per start.
    One function per ``(options, law, screening)`` (cached), so every table of one shape
    shares its compilations; its ``program_identity`` names it by those values for
    ``compile_cache.stored_program`` (None for a law that is not registered).
    """
    law = CHINCHILLA_LAW if law is None else law

    def fit(data, weights):
        arrays, starts, delta = data
        n_chunk, n_rows = weights.shape
        n_starts = starts.shape[0]
        padded = jnp.concatenate([weights, jnp.zeros_like(weights[:1])])
        lanes = min(queue_lanes(options), n_chunk * n_starts)
        derivatives = resample_derivatives(law, arrays, padded, delta, lanes)
        every = jnp.broadcast_to(starts, (n_chunk,) + starts.shape)

        def best_polished(per_start):
            """Each resample's best start, polished as ``fit_parametric`` polishes its own."""

            def one(args):
                res, r = args
                refine = partial(
                    polish, lambda theta, majorize: derivatives(theta, r, majorize), terms=n_rows
                )
                return _best_start(res, law, refine)

            return jax.lax.map(one, (per_start, jnp.arange(n_chunk)))

        if screening is None or n_starts <= screening.candidates:
            return best_polished(_resample_lanes(derivatives, every, options))
        cheap = screening_derivatives(law, arrays, padded, delta, lanes, screening, derivatives)
        screened = _resample_lanes(cheap, every, options._replace(max_steps=screening.steps))
        chosen = jax.vmap(select_candidates, in_axes=(0, 0, None, None))(
            screened.x, screened.value, screening.candidates, screening.basin_radius
        )
        candidates = jnp.take_along_axis(screened.x, chosen[..., None], axis=1)
        best = best_polished(_resample_lanes(derivatives, candidates, options))
        return {**best, "start": jnp.take_along_axis(chosen, best["start"][:, None], 1)[:, 0]}

    name = registered_name(law)
    fit.program_identity = (
        None if name is None else ("parametric_chunk_fit", name, options, screening)
    )
    return fit


def sweep_plan(
    runs: Runs, unit: str, options: ApproachOptions = DEFAULT_APPROACH_OPTIONS, point=None
) -> SweepPlan:
    """Approach 3 of ``options.law`` on row weights: ``mode="fast"`` starts every resample
    from the full-data optimum plus the ``k_starts`` best grid starts; ``"full"`` runs the
    law's whole start grid per resample (Chinchilla's 4,500 starts for ``chinchilla``). Solver
    settings (``options.solver``) default to ``WARM_START_OPTIONS`` in fast mode with
    ``k_starts=0`` (each resample's one lane starts at the optimum's doorstep), else to
    ``DEFAULT_OPTIONS``: grid starts lie far away, where its damping needs a third of the steps
    (Epoch's 8 best grid starts: 29-56 steps against 95-148). Full mode screens each
    resample's starts and finishes the best few (``sweep_screening``, default
    ``BOOTSTRAP_SCREENING``; None, ``--exhaustive``, solves every start, and the full-data fit
    too). ``point`` reuses a full-data ``fit_parametric`` of ``runs`` by the same law."""
    mode, k_starts, law, dtype = options.mode, options.k_starts, options.law, options.dtype
    screening = options.sweep_screening
    if mode not in MODES:
        raise DataError(f"unknown mode {mode!r}: use 'fast' or 'full'")
    if point is None:
        point = fit_parametric(
            runs,
            dtype=dtype,
            law=law,
            screening=None if screening is None else options.screening,
        )
    if point.law is not law:
        raise DataError(f"point was fitted with law {point.law.name!r}, not {law.name!r}")
    arrays = parametric_arrays(runs, dtype, law)
    if mode == "fast":
        starts = fast_starts(arrays, point.theta, k_starts, point.delta, law)
        default_options = WARM_START_OPTIONS if k_starts == 0 else DEFAULT_OPTIONS
        screening = None
    else:
        starts = law.grid() + loss_unit_offset(runs.loss, law.theta_names)
        default_options = DEFAULT_OPTIONS
    options = default_options if options.solver is None else options.solver
    itemsize = jnp.dtype(dtype).itemsize
    # Padded rows (weight 0) change nothing but the program's shape (``padded_rows``).
    pads = padded_rows(len(runs), screening) > len(runs)
    return SweepPlan(
        point=point,
        fit_chunk=parametric_chunk_fit(options, law, screening),
        data=(arrays, jnp.asarray(starts, dtype), jnp.asarray(point.delta, dtype)),
        n_units=len(runs),
        row_of_unit=None,
        estimate={"a": point.frontier.a, "b": point.frontier.b, **point.params},
        quantities=("a", "b", *law.param_names),
        config={
            "law": law.name,
            "mode": mode,
            "n_starts": int(starts.shape[0]),
            "starts_sha256": hashlib.sha256(np.ascontiguousarray(starts).tobytes()).hexdigest(),
            "solver": options._asdict(),
            "screening": None if screening is None else screening._asdict(),
        },
        # TEMPORARIES_PER_ROW row-sized temporaries per lane: right when every lane of a chunk
        # steps at once, an overestimate when the chunk has more lanes than the queue is wide.
        bytes_per_resample=starts.shape[0] * (TEMPORARIES_PER_ROW * len(runs) + 64) * itemsize
        + len(runs) * itemsize,
        # In full mode the jackknife would cost n full-grid fits.
        jackknife_affordable=mode == "fast",
        pad_rows=pad_parametric_rows if pads else None,
    )


def pad_parametric_rows(data, n_rows: int):
    """The sweep data ``(arrays, starts, delta)`` with its rows padded to ``n_rows``
    (``SweepPlan.pad_rows``; ``parametric.pad_rows``)."""
    arrays, starts, delta = data
    return pad_rows(arrays, n_rows), starts, delta


def final_losses(runs: Runs) -> tuple[Runs, str | None]:
    """On curve tables, each run's last (largest-FLOP) row, and a note saying so."""
    if runs.run is None:
        return runs, None
    order = np.lexsort((runs.flops, runs.run))
    last = order[np.r_[runs.run[order][1:] != runs.run[order][:-1], True]]
    dropped = np.setdiff1d(np.arange(len(runs)), last)
    if dropped.size == 0:
        return runs, None
    note = (
        f"Approach 3 uses the final point of each of {last.size} training runs; "
        f"{dropped.size} intermediate rows are not final losses"
    )
    return exclude_rows(runs, runs.row[dropped], "intermediate point of a training curve"), note


def _fit(runs: Runs, options: ApproachOptions = DEFAULT_APPROACH_OPTIONS):
    return fit_parametric(
        runs,
        starts=options.starts,
        key=options.key,
        dtype=options.dtype,
        law=options.law,
        screening=options.screening,
    )


SPEC = ApproachSpec(
    key="3",
    name="Approach 3 (parametric)",
    title="Approach 3 (parametric loss)",
    color="C2",
    units={"nonparametric": "row", "bayesian": "row", "subsample": "row"},
    refusals={
        "block": "Approach 3 treats runs as independent: use nonparametric, bayesian or "
        "subsample (block resampling is for budgets (Approach 2) and curves (Approach 1))",
        **{
            scheme: f"{scheme} multiplies residuals within training curves (Approach 1): use "
            "nonparametric, bayesian or subsample for Approach 3"
            for scheme in RESIDUAL_SCHEMES
        },
    },
    default_scheme="nonparametric",
    study="law",
    rows=final_losses,
    fit=_fit,
    plan=sweep_plan,
    bootstrap_defaults=BOOTSTRAP_DEFAULTS,
)
