"""Approach 3 by variable projection: a 2-D search over (alpha, beta).

For fixed exponents the Chinchilla law ``L = E + A N^-alpha + B D^-beta`` is linear in
``(E, A, B)``. The *inner* problem minimises the same summed Huber-on-log objective as
``parametric.fit_parametric`` over ``(log A, log B, log E)``: an exact non-negative least-squares
fit on the loss scale (all 7 active sets of the 3 columns, best feasible one) gives the start,
then a few damped-Newton steps on the 3x3 block of the closed-form Hessian finish it. NNLS alone
is cheaper but optimises a different objective (squared error on the loss scale), so on its own
it would not reach the Huber optimum; it only seeds the inner solve.

The *outer* problem ``f(alpha, beta) = min_(a, b, e) F`` is evaluated on a grid, then refined
from the best grid points by damped Newton in 2-D. By the envelope theorem its gradient is
``dF/d(alpha, beta)`` at the inner optimum and its Hessian the Schur complement
``H_oo - H_oi H_ii^-1 H_io`` of the full 5x5 Hessian, so no finite differences are needed. The
reduced problem is far better conditioned than the 5-D one (the flat B valley is solved
exactly by the inner problem), which ``conditioning`` quantifies.

``fit_varpro_arrays`` is a pure function of ``(arrays, weights)`` (vmap it over resamples);
``fit_varpro`` is the validated entry point returning a ``VarproFit`` (a ``ParametricFit``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.approaches.parametric import (
    DEFAULT_DELTA,
    ParametricArrays,
    ParametricFit,
    parametric_arrays,
)
from scalinglaw_jax.approaches.spec import SweepPlan
from scalinglaw_jax.core.data import DataError, Runs, check_weights
from scalinglaw_jax.core.frontier import Frontier
from scalinglaw_jax.core.solvers import (
    SolveResult,
    SolverOptions,
    multistart_minimize,
    newton_minimize,
)
from scalinglaw_jax.core.status import Status, status_counts
from scalinglaw_jax.laws import LAWS
from scalinglaw_jax.laws.closed_forms import CHINCHILLA, chinchilla_huber_derivatives

DEFAULT_ALPHA_GRID = tuple(np.round(np.linspace(0.05, 1.2, 24), 6))
DEFAULT_BETA_GRID = DEFAULT_ALPHA_GRID
"""Exponent grid of the outer search: 24 x 24 points over [0.05, 1.2]."""

INNER_OPTIONS = SolverOptions(max_steps=60, gtol=1e-10, stall_steps=3, majorizer_damping=math.inf)
OUTER_OPTIONS = SolverOptions(max_steps=60, gtol=1e-9, stall_steps=3, majorizer_damping=math.inf)
N_REFINE = 4
"""Grid points (lowest reduced objective first) from which the 2-D refinement starts."""

_SUBSETS = np.array([s for s in itertools.product((0.0, 1.0), repeat=3) if any(s)])
TRACE_COUNTS = {"fit_varpro_arrays": 0}
"""Incremented each time the fit is traced (tests use it to catch recompilation)."""


class VarproSolution(NamedTuple):
    """Pure-fit output for one weight vector (a pytree)."""

    theta: jnp.ndarray
    objective: jnp.ndarray
    frontier: Frontier
    grad_norm: jnp.ndarray
    status: jnp.ndarray
    grid_objective: jnp.ndarray
    refine: SolveResult


def nnls_start(alpha, beta, arrays: ParametricArrays, weights):
    """``(log A, log B, log E)`` of the weighted NNLS fit ``L ~ E + A N^-alpha + B D^-beta``.

    Columns are scaled to unit weighted RMS; every active set is solved by normal equations and
    the best feasible one kept (the exact NNLS optimum for three columns). Zero coefficients are
    floored at 1e-3 of the mean loss so that their logs stay finite.
    """
    w = jnp.where(weights > 0, weights, 0.0)
    loss = jnp.exp(arrays.log_loss)
    cols = jnp.stack(
        [jnp.exp(-alpha * arrays.log_n), jnp.exp(-beta * arrays.log_d), jnp.ones_like(loss)],
        axis=1,
    )
    total = jnp.sum(w)
    scale = jnp.sqrt(jnp.sum(w[:, None] * cols**2, axis=0) / total)
    x = cols / scale
    gram = (x * w[:, None]).T @ x
    rhs = (x * w[:, None]).T @ loss
    subsets = jnp.asarray(_SUBSETS, dtype=loss.dtype)

    def solve(mask):
        outer = mask[:, None] * mask[None, :]
        system = gram * outer + jnp.diag(1.0 - mask)
        coef = jnp.linalg.solve(system, rhs * mask)
        sse = jnp.sum(w * (loss - x @ coef) ** 2)
        feasible = jnp.all(coef >= 0) & jnp.isfinite(sse)
        return coef, jnp.where(feasible, sse, jnp.inf)

    coefs, sses = jax.vmap(solve)(subsets)
    coef = coefs[jnp.argmin(sses)]
    floor = 1e-3 * jnp.sum(w * loss) / total
    return jnp.log(jnp.maximum(coef, floor) / scale)


def _full(inner, outer):
    return jnp.concatenate([inner, outer])


def inner_solve(outer, arrays: ParametricArrays, weights, delta, options=INNER_OPTIONS):
    """Minimise the Huber objective over ``(log A, log B, log E)`` at fixed ``(alpha, beta)``."""

    def value_grad_hess(inner, majorize):
        value, grad, hess = chinchilla_huber_derivatives(
            _full(inner, outer), arrays, weights, delta, majorize
        )
        return value, grad[:3], hess[:3, :3]

    return newton_minimize(
        None,
        nnls_start(outer[0], outer[1], arrays, weights),
        options,
        value_grad_hess,
    )


def reduced_derivatives(outer, arrays: ParametricArrays, weights, delta):
    """Reduced objective, its gradient (envelope theorem) and Hessian (Schur complement)."""
    inner = inner_solve(outer, arrays, weights, delta)
    value, grad, hess = chinchilla_huber_derivatives(_full(inner.x, outer), arrays, weights, delta)
    h_ii, h_io, h_oo = hess[:3, :3], hess[:3, 3:], hess[3:, 3:]
    reduced = h_oo - h_io.T @ jnp.linalg.solve(h_ii, h_io)
    reduced = jnp.where(jnp.all(jnp.isfinite(reduced)), reduced, jnp.diag(jnp.abs(jnp.diag(h_oo))))
    return value, grad[3:], 0.5 * (reduced + reduced.T)


def fit_varpro_arrays(
    arrays: ParametricArrays,
    weights: jnp.ndarray,
    alpha_grid: jnp.ndarray,
    beta_grid: jnp.ndarray,
    delta=DEFAULT_DELTA,
    *,
    n_refine: int = N_REFINE,
    options: SolverOptions = OUTER_OPTIONS,
) -> VarproSolution:
    """Grid over (alpha, beta), 2-D damped Newton from the ``n_refine`` best points."""
    TRACE_COUNTS["fit_varpro_arrays"] += 1
    outer_grid = jnp.stack(jnp.meshgrid(alpha_grid, beta_grid, indexing="ij"), -1).reshape(-1, 2)
    grid = jax.vmap(lambda o: inner_solve(o, arrays, weights, delta).value)(outer_grid)
    grid = jnp.where(jnp.isfinite(grid), grid, jnp.inf)
    _, best = jax.lax.top_k(-grid, n_refine)

    refine = multistart_minimize(
        None,
        outer_grid[best],
        options,
        lambda outer, _: reduced_derivatives(outer, arrays, weights, delta),  # exact Hessian
    )
    ranked = jnp.where(refine.status == Status.NON_FINITE, jnp.inf, refine.value)
    outer = refine.x[jnp.argmin(ranked)]
    inner = inner_solve(outer, arrays, weights, delta)
    theta = _full(inner.x, outer)
    value, grad, _ = chinchilla_huber_derivatives(theta, arrays, weights, delta)
    status = jnp.maximum(refine.status[jnp.argmin(ranked)], inner.status)
    return VarproSolution(
        theta=theta,
        objective=value,
        frontier=CHINCHILLA.frontier(theta),
        grad_norm=jnp.max(jnp.abs(grad)),
        status=status,
        grid_objective=grid.reshape(alpha_grid.shape[0], beta_grid.shape[0]),
        refine=refine,
    )


_fit_jit = jax.jit(fit_varpro_arrays, static_argnames=("n_refine", "options"))


def conditioning(theta, arrays: ParametricArrays, weights=None, delta=DEFAULT_DELTA) -> dict:
    """Condition numbers of the 5-D Hessian (in ``(log A, log B, log E, alpha, beta)``) and
    of the 2-D reduced Hessian at ``theta``; NaN where a matrix is not positive definite."""
    weights = jnp.ones_like(arrays.log_loss) if weights is None else jnp.asarray(weights)
    theta = jnp.asarray(theta)
    _, _, full = chinchilla_huber_derivatives(theta, arrays, weights, delta)
    _, _, reduced = reduced_derivatives(theta[3:], arrays, weights, delta)

    def kappa(matrix):
        eig = np.linalg.eigvalsh(np.asarray(matrix))
        return float(eig[-1] / eig[0]) if eig[0] > 0 else float("nan")

    return {"kappa_5d": kappa(full), "kappa_2d": kappa(reduced)}


@dataclass(frozen=True)
class VarproFit(ParametricFit):
    """A ``ParametricFit`` found by variable projection, plus the grid's reduced objective.

    ``per_start`` holds the 2-D refinement lanes (``x`` = (alpha, beta)); ``n_starts`` counts
    them. ``grid_objective[i, j]`` is the reduced objective at ``(alpha_grid[i], beta_grid[j])``.
    """

    alpha_grid: np.ndarray = None
    beta_grid: np.ndarray = None
    grid_objective: np.ndarray = None

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["method"] = "variable projection"
        out["grid_points"] = int(self.grid_objective.size)
        return out


def _grid(values, name) -> np.ndarray:
    grid = np.asarray(values, dtype=np.float64).ravel()
    if grid.size < 2 or not np.all(np.isfinite(grid) & (grid > 0)):
        raise ValueError(f"{name} must hold at least 2 finite values > 0, got {grid.tolist()}")
    return grid


def fit_varpro(
    runs: Runs,
    weights=None,
    *,
    alpha_grid=DEFAULT_ALPHA_GRID,
    beta_grid=DEFAULT_BETA_GRID,
    n_refine: int = N_REFINE,
    delta: float = DEFAULT_DELTA,
    options: SolverOptions = OUTER_OPTIONS,
) -> VarproFit:
    """Fit Approach 3 by variable projection to a validated table (``data.load_runs``).

    Minimises the same objective as ``fit_parametric``; ``weights`` are per row (>= 0).
    """
    n_rows = len(runs)
    weights = check_weights(weights, n_rows)
    if np.count_nonzero(weights) < 5:
        raise DataError(
            f"only {np.count_nonzero(weights)} rows have weight > 0; Approach 3 needs at least 5"
        )
    alpha_grid = _grid(alpha_grid, "alpha_grid")
    beta_grid = _grid(beta_grid, "beta_grid")
    n_refine = min(int(n_refine), alpha_grid.size * beta_grid.size)
    solution = _fit_jit(
        parametric_arrays(runs),
        jnp.asarray(weights),
        jnp.asarray(alpha_grid),
        jnp.asarray(beta_grid),
        jnp.asarray(delta),
        n_refine=n_refine,
        options=options,
    )
    solution = jax.device_get(solution)
    return VarproFit(
        theta=np.asarray(solution.theta),
        objective=float(solution.objective),
        frontier=Frontier(*(float(v) for v in solution.frontier)),
        grad_norm=float(solution.grad_norm),
        status=int(solution.status),
        n_starts=n_refine,
        n_converged=int(np.sum(solution.refine.status == Status.CONVERGED)),
        start_status=status_counts(solution.refine.status),
        per_start=solution.refine,
        delta=float(delta),
        law=LAWS["chinchilla"],
        screening=None,  # every refinement lane is solved
        screening_rows=0,
        screening_fallback=False,
        alpha_grid=alpha_grid,
        beta_grid=beta_grid,
        grid_objective=np.asarray(solution.grid_objective),
    )


@cache
def varpro_chunk_fit(n_refine: int = N_REFINE):
    """Variable projection for the sweep engine: ``fit(data, (chunk, n_rows) weights)`` with
    ``data = (arrays, alpha_grid, beta_grid, delta)``, one resample at a time, returning the
    frontier, parameters, objective, gradient norm and status of each."""

    def fit(data, weights):
        arrays, alpha_grid, beta_grid, delta = data
        solution = jax.lax.map(
            lambda w: fit_varpro_arrays(arrays, w, alpha_grid, beta_grid, delta, n_refine=n_refine),
            weights,
        )
        out = solution.frontier._asdict()
        out.update(CHINCHILLA.to_params(solution.theta)._asdict())
        out.update(
            status=solution.status, objective=solution.objective, grad_norm=solution.grad_norm
        )
        return out

    return fit


def varpro_sweep_plan(
    runs: Runs, point, *, step: float = 0.05, n_refine: int = 2, dtype=jnp.float64
) -> SweepPlan:
    """Approach 3 by variable projection on row weights, searched from a 3 x 3 grid of
    exponents around the full-data fit ``point`` (``step`` apart), then refined in 2-D from
    the ``n_refine`` best grid points (a ``SweepPlan`` for ``resample.problem_from_plan``)."""
    theta = np.asarray(point.theta, dtype=np.float64)
    steps = np.array([-step, 0.0, step])
    data = (
        parametric_arrays(runs, dtype),
        jnp.asarray(theta[3] + steps, dtype),
        jnp.asarray(theta[4] + steps, dtype),
        jnp.asarray(point.delta, dtype),
    )
    return SweepPlan(
        point=point,
        fit_chunk=varpro_chunk_fit(n_refine),
        data=data,
        n_units=len(runs),
        row_of_unit=None,
        estimate={"a": point.frontier.a, "b": point.frontier.b, **point.params},
        quantities=("a", "b", "E", "A", "B", "alpha", "beta"),
        config={"method": "varpro", "step": step, "n_refine": n_refine},
        bytes_per_resample=9 * 64 * len(runs) * jnp.dtype(dtype).itemsize,
    )
