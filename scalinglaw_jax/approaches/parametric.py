"""Approach 3: the parametric law ``L(N, D) = E + A/N^alpha + B/D^beta``.

Objective (Hoffmann et al. 2022): the **sum** over runs of ``Huber_delta(log L_hat - log L)``,
``delta = 1e-3``, with per-row weights entering the sum, minimised from a grid of starts
(Chinchilla's 4,500 by default). ``fit_parametric_arrays`` is the pure function of
``(arrays, weights, starts)`` that bootstrap sweeps vmap over; ``fit_parametric`` is the
validated, jitted entry point for one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.data import DataError, Runs, check_weights
from scalinglaw_jax.laws import CHINCHILLA, FORMS, Frontier, frontier_summary
from scalinglaw_jax.solvers import (
    DEFAULT_OPTIONS,
    SolveResult,
    SolverOptions,
    chinchilla_grid,
    multistart_minimize,
    random_starts,
    shard_starts,
    start_mesh,
)
from scalinglaw_jax.status import Status, status_counts

DEFAULT_DELTA = 1e-3
TRACE_COUNTS = {"fit_parametric_arrays": 0}
"""Incremented each time the fit is traced (tests use it to catch recompilation)."""


class ParametricArrays(NamedTuple):
    """Logs of the run table, float64 (or float32 on the fast path)."""

    log_n: jnp.ndarray
    log_d: jnp.ndarray
    log_loss: jnp.ndarray


class ParametricSolution(NamedTuple):
    """Pure-fit output for one weight vector: best start plus counts (a pytree)."""

    theta: jnp.ndarray
    objective: jnp.ndarray
    frontier: Frontier
    grad_norm: jnp.ndarray
    status: jnp.ndarray
    n_converged: jnp.ndarray
    per_start: SolveResult | None


def huber(residual, delta):
    """Huber loss: quadratic within ``delta``, linear beyond (continuous first derivative)."""
    abs_r = jnp.abs(residual)
    return jnp.where(abs_r <= delta, 0.5 * residual**2, delta * (abs_r - 0.5 * delta))


def parametric_objective(theta, arrays: ParametricArrays, weights, delta, form=CHINCHILLA):
    """Weighted sum of Huber losses on log-loss residuals; weight-0 rows add exactly nothing."""
    present = weights > 0
    residual = form.log_loss(theta, arrays.log_n, arrays.log_d) - arrays.log_loss
    residual = jnp.where(present, residual, 0.0)
    return jnp.sum(jnp.where(present, weights * huber(residual, delta), 0.0))


def chinchilla_huber_derivatives(theta, arrays: ParametricArrays, weights, delta, majorize=0.0):
    """Closed-form value, gradient and Hessian of the Chinchilla-form Huber objective.

    With ``u = (a - alpha ln N, b - beta ln D, e)``, ``p = softmax(u)`` and residual
    ``r = LSE(u) - ln L``: the gradient of ``LSE`` is ``J = (p1, p2, p3, -p1 ln N, -p2 ln D)``
    and its Hessian ``M^T diag(p) M - J J^T``. With ``h' = clip(r, +-delta)`` and
    ``h'' = 1{|r| <= delta}`` the objective's Hessian is
    ``sum w (h'' - h') J J^T + sum w h' M^T diag(p) M``. Written as elementwise products and
    row sums, which XLA fuses far better than stacked arrays or autodiff's Hessian; each row
    sum is a kernel of its own on CPU, so only the upper triangle is summed. The largest of
    the three terms is ``exp(0) = 1`` after the shift, so two exponentials per row suffice.

    ``majorize`` in [0, 1] moves ``h''`` of rows outside ``delta`` from 0 (the exact Hessian)
    toward ``delta / |r|`` (``h'(r) / r``, the Huber loss's half-quadratic majoriser), the
    curvature the solver wants far from the optimum (``solvers.SolverOptions``).
    """
    a, b, e, alpha, beta = (theta[i] for i in range(5))
    log_n, log_d = arrays.log_n, arrays.log_d
    present = weights > 0
    u1 = a - alpha * log_n
    u2 = b - beta * log_d
    high12, low12 = jnp.maximum(u1, u2), jnp.minimum(u1, u2)
    top = jnp.maximum(high12, e)
    exp_low = jnp.exp(low12 - top)
    exp_mid = jnp.exp(jnp.minimum(high12, e) - top)
    u1_high, e_top = u1 >= u2, e >= high12
    e1 = jnp.where(u1_high, jnp.where(e_top, exp_mid, 1.0), exp_low)
    e2 = jnp.where(u1_high, exp_low, jnp.where(e_top, exp_mid, 1.0))
    e3 = jnp.where(e_top, 1.0, exp_mid)
    inv_total = 1.0 / (1.0 + exp_low + exp_mid)
    residual = jnp.where(present, top + jnp.log1p(exp_low + exp_mid) - arrays.log_loss, 0.0)
    value = jnp.sum(jnp.where(present, weights * huber(residual, delta), 0.0))
    d1 = jnp.where(present, weights * jnp.clip(residual, -delta, delta), 0.0)
    abs_residual = jnp.abs(residual)
    outside = majorize * delta / jnp.maximum(abs_residual, delta)
    robust = jnp.where(abs_residual <= delta, 1.0, outside)
    curvature = jnp.where(present, weights * robust, 0.0) - d1
    p1, p2, p3 = e1 * inv_total, e2 * inv_total, e3 * inv_total
    jac = (p1, p2, p3, -p1 * log_n, -p2 * log_d)
    grad = jnp.stack([jnp.sum(d1 * j) for j in jac])
    weighted = [curvature * j for j in jac]
    upper = {(i, k): jnp.sum(weighted[i] * jac[k]) for i in range(5) for k in range(i, 5)}
    # M^T diag(h' p) M: its entries other than the two below are the gradient's own sums.
    for i in range(3):
        upper[i, i] += grad[i]
    upper[0, 3] += grad[3]
    upper[1, 4] += grad[4]
    upper[3, 3] += jnp.sum(d1 * p1 * log_n**2)
    upper[4, 4] += jnp.sum(d1 * p2 * log_d**2)
    hess = [[upper[min(i, k), max(i, k)] for k in range(5)] for i in range(5)]
    return value, grad, jnp.stack([jnp.stack(row) for row in hess])


def fit_parametric_arrays(
    arrays: ParametricArrays,
    weights: jnp.ndarray,
    starts: jnp.ndarray,
    delta=DEFAULT_DELTA,
    *,
    options: SolverOptions = DEFAULT_OPTIONS,
    form=CHINCHILLA,
    keep_starts: bool = True,
    mesh=None,
) -> ParametricSolution:
    """Minimise from every start (vmapped) and keep the lowest finite objective.

    ``mesh`` (``solvers.start_mesh``) splits the starts over devices; None keeps them on one.
    """
    TRACE_COUNTS["fit_parametric_arrays"] += 1

    def solve(starts):
        return multistart_minimize(
            lambda theta: parametric_objective(theta, arrays, weights, delta, form),
            starts,
            options=options,
            value_grad_hess=(
                (
                    lambda theta, majorize: chinchilla_huber_derivatives(
                        theta, arrays, weights, delta, majorize
                    )
                )
                if form.name == "chinchilla"
                else None
            ),
        )

    per_start = shard_starts(solve, starts, mesh)
    finite = jnp.isfinite(per_start.value) & jnp.all(jnp.isfinite(per_start.x), axis=-1)
    ranked = jnp.where(finite, per_start.value, jnp.inf)
    best = jnp.argmin(ranked)
    theta = per_start.x[best]
    return ParametricSolution(
        theta=theta,
        objective=per_start.value[best],
        frontier=form.frontier(theta),
        grad_norm=per_start.grad_norm[best],
        status=per_start.status[best],
        n_converged=jnp.sum(per_start.status == Status.CONVERGED),
        per_start=per_start if keep_starts else None,
    )


def fit_parametric_resamples(
    arrays: ParametricArrays,
    weights: jnp.ndarray,
    starts: jnp.ndarray,
    delta=DEFAULT_DELTA,
    *,
    options: SolverOptions = DEFAULT_OPTIONS,
) -> ParametricSolution:
    """Many weight vectors ``(n_resamples, n_rows)`` at once: the best start of each.

    Equivalent to vmapping ``fit_parametric_arrays`` over the rows of ``weights``, but every
    (resample, start) pair is one lane of a single multi-start solve, so on CPU fast lanes are
    not held back by slow lanes of other resamples. Returns batched fields (no ``per_start``).
    """
    n_resamples, n_starts = weights.shape[0], starts.shape[0]
    lane_resample = jnp.repeat(jnp.arange(n_resamples), n_starts)
    lanes = multistart_minimize(
        None,
        jnp.tile(starts, (n_resamples, 1)),
        options=options,
        value_grad_hess=lambda theta, r, majorize: chinchilla_huber_derivatives(
            theta, arrays, weights[r], delta, majorize
        ),
        lane_data=lane_resample,
    )
    per = jax.tree_util.tree_map(
        lambda leaf: leaf.reshape((n_resamples, n_starts) + leaf.shape[1:]), lanes
    )
    finite = jnp.isfinite(per.value) & jnp.all(jnp.isfinite(per.x), axis=-1)
    best = jnp.argmin(jnp.where(finite, per.value, jnp.inf), axis=1)
    pick = jax.vmap(lambda leaf, i: leaf[i])
    theta = pick(per.x, best)
    return ParametricSolution(
        theta=theta,
        objective=pick(per.value, best),
        frontier=CHINCHILLA.frontier(theta),
        grad_norm=pick(per.grad_norm, best),
        status=pick(per.status, best),
        n_converged=jnp.sum(per.status == Status.CONVERGED, axis=1),
        per_start=None,
    )


_fit_jit = jax.jit(
    fit_parametric_arrays, static_argnames=("options", "form", "keep_starts", "mesh")
)


def parametric_arrays(runs: Runs, dtype=jnp.float64) -> ParametricArrays:
    """Log-space arrays of a validated table."""
    return ParametricArrays(
        log_n=jnp.asarray(np.log(runs.params), dtype=dtype),
        log_d=jnp.asarray(np.log(runs.tokens), dtype=dtype),
        log_loss=jnp.asarray(np.log(runs.loss), dtype=dtype),
    )


def resolve_starts(starts, *, key=None, form=CHINCHILLA) -> np.ndarray:
    """Turn a start specification into a (n_starts, n_params) array.

    ``"chinchilla"`` gives the paper's 4,500-point grid (for another form, that form's
    ``start_grid()``); an int ``k`` gives ``k`` uniform random starts in the grid's bounding box
    (needs ``key``); an array is used as given.
    """
    default_grid = chinchilla_grid if form.name == CHINCHILLA.name else form.start_grid
    if isinstance(starts, str):
        if starts != "chinchilla":
            raise ValueError(f"unknown start grid {starts!r}; use 'chinchilla', an int or an array")
        return default_grid()
    if isinstance(starts, int | np.integer):
        if key is None:
            raise ValueError("random starts need a PRNG key: fit_parametric(..., key=...)")
        grid = default_grid()
        return np.asarray(random_starts(key, int(starts), grid.min(0), grid.max(0)))
    grid = np.asarray(starts, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[1] != form.n_params:
        raise ValueError(
            f"starts must have shape (n_starts, {form.n_params}) over {form.theta_names}, "
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
    form_name: str

    @property
    def params(self) -> dict[str, float]:
        return FORMS[self.form_name].to_params(self.theta).as_dict()

    def n_opt(self, flops):
        return np.asarray(self.frontier.n_opt(flops))

    def d_opt(self, flops):
        return np.asarray(self.frontier.d_opt(flops))

    def to_dict(self) -> dict:
        return {
            **frontier_summary(3, self.frontier),
            "form": self.form_name,
            "params": self.params,
            "objective": float(self.objective),
            "grad_norm": float(self.grad_norm),
            "best_status": int(self.status),
            "n_starts": self.n_starts,
            "n_converged": self.n_converged,
            "start_status": self.start_status,
            "huber_delta": self.delta,
        }


def fit_parametric(
    runs: Runs,
    weights=None,
    *,
    starts="chinchilla",
    key=None,
    delta: float = DEFAULT_DELTA,
    options: SolverOptions = DEFAULT_OPTIONS,
    dtype=jnp.float64,
    form=CHINCHILLA,
    devices=None,
) -> ParametricFit:
    """Fit Approach 3 to a validated table (``data.load_runs``) from many starts.

    ``weights`` (one per row, >= 0) enter the Huber sum; ``starts`` is ``"chinchilla"`` (the
    paper's 4,500-point grid), an int (random starts, needs ``key``) or an array of shape
    ``(n_starts, 5)`` over ``(log A, log B, log E, alpha, beta)``. ``dtype=jnp.float32`` is the
    explicit fast path. ``form`` is a loss form of ``laws`` (``laws.KAPLAN``: Kaplan's L(N, D),
    fitted with autodiff derivatives from its own ``start_grid()``; ``starts`` then has shape
    ``(n_starts, form.n_params)``). The starts are split over ``devices`` (default: every local
    device) when each gets more than a full solver queue (``solvers.start_mesh``); the result
    is the same bits whatever the number of devices. Raises ``DataError`` for bad weights or too
    few rows before tracing.
    """
    n_rows = len(runs)
    if n_rows < form.n_params:
        raise DataError(f"Approach 3 needs at least {form.n_params} rows, got {n_rows}")
    weights = check_weights(weights, n_rows)
    if np.count_nonzero(weights) < form.n_params:
        raise DataError(
            f"only {np.count_nonzero(weights)} rows have weight > 0; "
            f"Approach 3 needs at least {form.n_params}"
        )
    grid = resolve_starts(starts, key=key, form=form)
    arrays = parametric_arrays(runs, dtype)
    solution = _fit_jit(
        arrays,
        jnp.asarray(weights, dtype),
        jnp.asarray(grid, dtype),
        jnp.asarray(delta, dtype),
        options=options,
        form=form,
        keep_starts=True,
        mesh=start_mesh(grid.shape[0], options, devices),
    )
    solution = jax.device_get(solution)
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
        form_name=form.name,
    )
