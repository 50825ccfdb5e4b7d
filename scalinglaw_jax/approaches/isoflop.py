"""Approach 2: IsoFLOP profiles (Hoffmann et al. 2022).

Rows are grouped into FLOP budgets (``assign_budgets``, in NumPy, before tracing). Per budget a
weighted least-squares parabola ``loss = c0 + c1 x + c2 x^2`` in ``x = ln N`` is solved in closed
form; its vertex is ``N_opt(C)`` and ``D_opt(C) = C / (6 N_opt)``. A power law ``ln N_opt =
log_g_n + a ln C`` is then fitted by least squares over the budgets whose profile has an
interior minimum. ``fit_isoflop_arrays`` is the pure function of ``(arrays, weights)`` that
bootstrap sweeps vmap over (weights are per row); ``fit_isoflop`` is the validated entry point.

Since ``D = C / (6 N)`` on a budget, ``ln D_opt = ln C - ln 6 - ln N_opt`` exactly, so
``b = 1 - a`` and ``log_g_d = -ln 6 - log_g_n``: fitting D separately would give the same line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.approaches.spec import (
    DEFAULT_APPROACH_OPTIONS,
    RESIDUAL_SCHEMES,
    ApproachOptions,
    ApproachSpec,
    SweepPlan,
    all_rows,
    mapped_chunk_fit,
)
from scalinglaw_jax.core.data import DataError, Runs, as_runs, check_weights, format_rows
from scalinglaw_jax.core.frontier import Frontier, weighted_line
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.laws.closed_forms import frontier_summary

DEFAULT_TOLERANCE_DEX = 0.045
MIN_POINTS = 3
CURVATURE_RTOL = 1e-6
"""A parabola whose rise across the sampled sizes (in the normalised coordinate) is below this
fraction of the budget's mean loss has no minimum distinguishable from rounding noise."""
DET_FLOOR = 1e-13
"""Smallest determinant of a budget's normalised 3x3 moment matrix taken as well posed.

Points are scaled to ``u`` in [-1, 1]; three distinct sizes give a determinant of order 0.1,
and it vanishes exactly when fewer than three distinct sizes carry weight."""

TRACE_COUNTS = {"fit_isoflop_arrays": 0}
"""Incremented each time the fit is traced (tests use it to catch recompilation)."""

LN10 = math.log(10.0)


# ----------------------------------------------------------------------------------------------
# Budget assignment (NumPy, before tracing)


@dataclass(frozen=True)
class BudgetAssignment:
    """Which IsoFLOP budget each row belongs to.

    ``index`` holds one budget index per row (``-1``: unassigned, never forced in); ``flops``
    the budgets' representative FLOPs, ascending: the ``budget`` column's value
    (``method="column"``), ``nominal * 10**offset_dex`` (``"nominal"``), or the geometric mean
    of the cluster's FLOPs (``"gaps"``). ``unassigned_rows`` are 1-based source rows.
    """

    index: np.ndarray
    flops: np.ndarray
    counts: np.ndarray
    method: str
    tolerance_dex: float
    offset_dex: float
    nominal: np.ndarray | None
    unassigned_rows: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def n_budgets(self) -> int:
        return int(self.flops.shape[0])

    @property
    def n_unassigned(self) -> int:
        return int(self.unassigned_rows.shape[0])

    def report(self) -> str:
        """Human-readable account of the grouping: budgets, counts, offset, unassigned rows."""
        how = {
            "column": "from the budget column",
            "nominal": (
                f"nominal budgets, common offset {self.offset_dex:+.4f} dex, "
                f"tolerance {self.tolerance_dex} dex"
            ),
            "gaps": f"clusters of log10 FLOPs split at gaps > {self.tolerance_dex} dex",
        }[self.method]
        lines = [f"{self.n_budgets} budgets ({how}):"]
        for k, (c, n) in enumerate(zip(self.flops, self.counts, strict=True)):
            nominal = f" (nominal {self.nominal[k]:.3g})" if self.nominal is not None else ""
            lines.append(f"  C = {c:.4g}{nominal}: {int(n)} rows")
        total = self.index.shape[0]
        if self.n_unassigned:
            lines.append(
                f"{self.n_unassigned} of {total} rows unassigned (rows "
                f"{format_rows(self.unassigned_rows)})"
            )
        else:
            lines.append(f"all {total} rows assigned")
        lines.extend(self.notes)
        return "\n".join(lines)


def _from_column(budget: np.ndarray, rows: np.ndarray) -> tuple:
    finite = np.isfinite(budget)
    bad = finite & (budget <= 0)
    if bad.any():
        raise DataError(f"budget must be > 0 (or NaN for no budget); rows {format_rows(rows[bad])}")
    centres = np.unique(budget[finite])
    index = np.full(budget.shape, -1, dtype=np.int64)
    index[finite] = np.searchsorted(centres, budget[finite])
    return index, centres


def _from_nominal(log_c, nominal, tolerance_dex, offset, notes) -> tuple:
    nominal = np.sort(np.asarray(nominal, dtype=np.float64).ravel())
    if nominal.size == 0 or not np.all(np.isfinite(nominal) & (nominal > 0)):
        raise DataError(f"nominal budgets must be finite and > 0, got {nominal.tolist()}")
    log_nom = np.log10(nominal)
    nearest = np.abs(log_c[:, None] - log_nom[None, :]).argmin(axis=1)
    if isinstance(offset, str):
        if offset != "auto":
            raise DataError(f"offset must be 'auto', a number of dex or None, got {offset!r}")
        deviation = log_c - log_nom[nearest]
        near = np.abs(deviation) <= 2 * tolerance_dex
        if not near.any():
            raise DataError(
                f"no row lies within {2 * tolerance_dex} dex of a nominal budget "
                f"({', '.join(f'{c:.3g}' for c in nominal)}); pass nominal=None to cluster "
                "the FLOPs by gaps instead"
            )
        offset_dex = float(np.median(deviation[near]))
    else:
        offset_dex = float(offset or 0.0)
    shifted = log_c - offset_dex
    nearest = np.abs(shifted[:, None] - log_nom[None, :]).argmin(axis=1)
    inside = np.abs(shifted - log_nom[nearest]) <= tolerance_dex
    used = np.unique(nearest[inside])
    empty = np.setdiff1d(np.arange(nominal.size), used)
    if empty.size:
        notes.append(
            "nominal budgets with no row within tolerance: "
            + ", ".join(f"{nominal[k]:.3g}" for k in empty)
        )
    index = np.where(inside, np.searchsorted(used, nearest), -1)
    return index, nominal[used] * 10.0**offset_dex, offset_dex, nominal[used]


def _from_gaps(log_c, tolerance_dex, min_cluster, notes) -> tuple:
    order = np.argsort(log_c, kind="stable")
    cluster = np.empty(log_c.shape, dtype=np.int64)
    cluster[order] = np.concatenate([[0], np.cumsum(np.diff(log_c[order]) > tolerance_dex)])
    index = np.full(log_c.shape, -1, dtype=np.int64)
    centres = []
    small = 0
    for k in range(int(cluster.max()) + 1):
        members = np.flatnonzero(cluster == k)
        # Single linkage can chain far: keep only rows within tolerance of the median.
        members = members[np.abs(log_c[members] - np.median(log_c[members])) <= tolerance_dex]
        if members.size < min_cluster:
            small += members.size
            continue
        index[members] = len(centres)
        centres.append(10.0 ** np.mean(log_c[members]))
    if small:
        notes.append(f"{small} rows sit in clusters of fewer than {min_cluster} rows")
    return index, np.asarray(centres, dtype=np.float64)


def assign_budgets(
    flops,
    budget=None,
    *,
    nominal: Sequence[float] | None = None,
    tolerance_dex: float = DEFAULT_TOLERANCE_DEX,
    offset: str | float | None = "auto",
    min_cluster: int = MIN_POINTS,
    rows=None,
) -> BudgetAssignment:
    """Group rows into IsoFLOP budgets.

    Order of precedence: a per-row ``budget`` array (NaN: no budget) is used as given. Else,
    with ``nominal`` budgets, rows are matched to the nearest nominal budget after removing a
    common offset (``offset="auto"``: the median deviation, in log10 FLOPs, of the rows within
    ``2 * tolerance_dex`` of a nominal budget; digitised or logged FLOPs often sit a little off
    the nominal values), and kept when within ``tolerance_dex``. Else the sorted log10 FLOPs are
    split at gaps wider than ``tolerance_dex``; each cluster keeps the rows within
    ``tolerance_dex`` of its median, and clusters of fewer than ``min_cluster`` rows are not
    budgets. Rows matched to no budget are reported, never forced in. ``rows`` are the 1-based
    source rows used in messages (default ``1..n``).
    """
    flops = np.asarray(flops, dtype=np.float64).ravel()
    rows = np.arange(1, flops.size + 1) if rows is None else np.asarray(rows)
    if flops.size == 0:
        raise DataError("no rows to assign to budgets")
    bad = ~(np.isfinite(flops) & (flops > 0))
    if bad.any():
        raise DataError(f"flops must be finite and > 0; rows {format_rows(rows[bad])}")
    if not tolerance_dex > 0:
        raise DataError(f"tolerance_dex must be > 0, got {tolerance_dex}")
    log_c = np.log10(flops)
    notes: list[str] = []
    offset_dex, nominal_used = 0.0, None
    if budget is not None:
        budget = np.asarray(budget, dtype=np.float64).ravel()
        if budget.shape != flops.shape:
            raise DataError(f"budget must have one value per row ({flops.size}), got {budget.size}")
        index, centres = _from_column(budget, rows)
        method = "column"
        if nominal is not None:
            notes.append("nominal budgets ignored: the budget column gives each row's budget")
        assigned = index >= 0
        if assigned.any():
            worst = np.max(np.abs(log_c[assigned] - np.log10(budget[assigned])))
            notes.append(f"largest |log10(flops / budget)| = {worst:.3g} dex")
    elif nominal is not None:
        index, centres, offset_dex, nominal_used = _from_nominal(
            log_c, nominal, tolerance_dex, offset, notes
        )
        method = "nominal"
    else:
        index, centres = _from_gaps(log_c, tolerance_dex, min_cluster, notes)
        method = "gaps"
    return BudgetAssignment(
        index=index,
        flops=centres,
        counts=np.bincount(index[index >= 0], minlength=centres.size),
        method=method,
        tolerance_dex=float(tolerance_dex),
        offset_dex=offset_dex,
        nominal=nominal_used,
        unassigned_rows=rows[index < 0],
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------------------------
# The pure fit


class IsoflopArrays(NamedTuple):
    """Per-row and per-budget arrays for the pure fit (a pytree; shapes fix the program).

    ``u`` is ``(ln N - centre) / scale`` of each row's budget (0 for unassigned rows), with
    ``centre`` the middle and ``scale`` the half-width of the budget's sampled ``ln N`` range,
    so every normal-equation system is well conditioned. ``onehot[i, k]`` is 1 when row ``i``
    belongs to budget ``k`` (unassigned rows: all 0, so they never contribute).
    """

    u: jnp.ndarray
    loss: jnp.ndarray
    onehot: jnp.ndarray
    centre: jnp.ndarray
    scale: jnp.ndarray
    log_c: jnp.ndarray


class IsoflopSolution(NamedTuple):
    """Pure-fit output for one weight vector (a pytree; per-budget fields have shape (K,)).

    ``coef`` holds ``(c0, c1, c2)`` of ``loss = c0 + c1 ln N + c2 (ln N)^2``; ``vertex_log_n``
    is its vertex, ``ln N_opt``, and ``log_d_opt = ln(C / 6) - vertex_log_n``. ``valid`` (the
    budget enters the power law) implies ``vertex_inside``, ``has_minimum`` and ``well_posed``.
    Undefined entries (no points, no minimum) hold finite placeholders; the masks say what is
    usable.
    ``offset_dex`` is the vertex's distance from the middle of the sampled range in decades of
    N, ``offset_frac`` the same as a fraction of the range's half-width (|.| <= 1: inside).
    """

    coef: jnp.ndarray
    vertex_log_n: jnp.ndarray
    log_d_opt: jnp.ndarray
    vertex_loss: jnp.ndarray
    n_points: jnp.ndarray
    log_n_min: jnp.ndarray
    log_n_max: jnp.ndarray
    offset_dex: jnp.ndarray
    offset_frac: jnp.ndarray
    well_posed: jnp.ndarray
    has_minimum: jnp.ndarray
    vertex_inside: jnp.ndarray
    valid: jnp.ndarray
    frontier: Frontier
    n_valid: jnp.ndarray
    rms_dex: jnp.ndarray
    status: jnp.ndarray


def _solve_sym3(m1, m2, m3, m4, t0, t1, t2, ok):
    """Solve ``[[1,m1,m2],[m1,m2,m3],[m2,m3,m4]] d = t`` by cofactors (elementwise, batched)."""
    a11 = m2 * m4 - m3 * m3
    a12 = m2 * m3 - m1 * m4
    a13 = m1 * m3 - m2 * m2
    a22 = m4 - m2 * m2
    a23 = m1 * m2 - m3
    a33 = m2 - m1 * m1
    det = a11 + m1 * a12 + m2 * a13
    ok = ok & (det > DET_FLOOR)
    inv = jnp.where(ok, 1.0 / jnp.where(ok, det, 1.0), 0.0)
    d0 = (a11 * t0 + a12 * t1 + a13 * t2) * inv
    d1 = (a12 * t0 + a22 * t1 + a23 * t2) * inv
    d2 = (a13 * t0 + a23 * t1 + a33 * t2) * inv
    return d0, d1, d2, ok


def fit_isoflop_arrays(arrays: IsoflopArrays, weights: jnp.ndarray) -> IsoflopSolution:
    """Parabola per budget, vertex diagnostics, and the power law over valid budgets.

    Pure and jit/vmap-able over ``weights`` (one per row, >= 0). Weights enter as weighted
    moments through the one-hot matrix; a row with weight 0 contributes exactly nothing.
    """
    TRACE_COUNTS["fit_isoflop_arrays"] += 1
    u, loss, onehot = arrays.u, arrays.loss, arrays.onehot
    present = (weights > 0)[:, None] & (onehot > 0)
    w = jnp.where(present, weights[:, None], 0.0)
    n_points = jnp.sum(present, axis=0)
    # Weighted sums of u^0..u^4 and loss * u^0..u^2 per budget, in one matmul.
    features = jnp.stack(
        [jnp.ones_like(u), u, u**2, u**3, u**4, loss, loss * u, loss * u**2], axis=1
    )
    sums = features.T @ w
    total = sums[0]
    m1, m2, m3, m4, t0, t1, t2 = sums[1:] / jnp.where(total > 0, total, 1.0)
    d0, d1, d2, well_posed = _solve_sym3(m1, m2, m3, m4, t0, t1, t2, n_points >= MIN_POINTS)

    # A curvature below CURVATURE_RTOL of the loss is rounding noise, not a minimum.
    has_minimum = well_posed & (d2 > CURVATURE_RTOL * jnp.abs(t0))
    d2_safe = jnp.where(has_minimum, d2, 1.0)
    u_vertex = jnp.where(has_minimum, -d1 / (2.0 * d2_safe), 0.0)
    vertex_loss = jnp.where(has_minimum, d0 - d1 * d1 / (4.0 * d2_safe), 0.0)
    any_point = n_points > 0
    u_min = jnp.where(any_point, jnp.min(jnp.where(present, u[:, None], jnp.inf), axis=0), 0.0)
    u_max = jnp.where(any_point, jnp.max(jnp.where(present, u[:, None], -jnp.inf), axis=0), 0.0)
    vertex_inside = has_minimum & (u_vertex >= u_min) & (u_vertex <= u_max)
    valid = vertex_inside  # implies has_minimum, well_posed and n_points >= MIN_POINTS

    centre, scale = arrays.centre, arrays.scale
    vertex_log_n = centre + scale * u_vertex
    half = 0.5 * (u_max - u_min)
    mid = 0.5 * (u_max + u_min)
    offset_dex = scale * (u_vertex - mid) / LN10
    offset_frac = jnp.where(half > 0, (u_vertex - mid) / jnp.where(half > 0, half, 1.0), 0.0)
    coef = jnp.stack(
        [
            d0 - d1 * centre / scale + d2 * centre**2 / scale**2,
            d1 / scale - 2.0 * d2 * centre / scale**2,
            d2 / scale**2,
        ],
        axis=-1,
    )

    # Power law ln N_opt = log_g_n + a ln C over the valid budgets (a 0/1 mask, not a filter).
    n_valid = jnp.sum(valid)
    enough = n_valid >= 2
    slope, log_g_n, rms = weighted_line(
        arrays.log_c, vertex_log_n, valid.astype(arrays.log_c.dtype), enough
    )
    log6 = math.log(6.0)
    frontier = Frontier(
        a=slope,
        b=jnp.where(enough, 1.0 - slope, 0.0),
        log_g_n=log_g_n,
        log_g_d=jnp.where(enough, -log6 - log_g_n, 0.0),
    )
    return IsoflopSolution(
        coef=coef,
        vertex_log_n=vertex_log_n,
        log_d_opt=arrays.log_c - log6 - vertex_log_n,
        vertex_loss=vertex_loss,
        n_points=n_points,
        log_n_min=centre + scale * u_min,
        log_n_max=centre + scale * u_max,
        offset_dex=offset_dex,
        offset_frac=offset_frac,
        well_posed=well_posed,
        has_minimum=has_minimum,
        vertex_inside=vertex_inside,
        valid=valid,
        frontier=frontier,
        n_valid=n_valid,
        rms_dex=rms / LN10,
        status=jnp.where(enough, Status.OK, Status.TOO_FEW_BUDGETS),
    )


_fit_jit = jax.jit(fit_isoflop_arrays)


def isoflop_arrays(runs: Runs, assignment: BudgetAssignment, dtype=jnp.float64) -> IsoflopArrays:
    """Arrays of a table for ``fit_isoflop_arrays``, given its budget assignment."""
    index = assignment.index
    n_budgets = assignment.n_budgets
    log_n = np.log(runs.params)
    onehot = (index[:, None] == np.arange(n_budgets)[None, :]).astype(np.float64)
    centre = np.zeros(n_budgets)
    scale = np.ones(n_budgets)
    for k in range(n_budgets):
        members = log_n[index == k]
        lo, hi = members.min(), members.max()
        centre[k] = 0.5 * (lo + hi)
        if hi > lo:
            scale[k] = 0.5 * (hi - lo)
    assigned = index >= 0
    u = np.where(assigned, (log_n - centre[index]) / scale[index], 0.0)
    return IsoflopArrays(
        u=jnp.asarray(u, dtype),
        loss=jnp.asarray(runs.loss, dtype),
        onehot=jnp.asarray(onehot, dtype),
        centre=jnp.asarray(centre, dtype),
        scale=jnp.asarray(scale, dtype),
        log_c=jnp.asarray(np.log(assignment.flops), dtype),
    )


# ----------------------------------------------------------------------------------------------
# Results


class Profile(NamedTuple):
    """One budget's IsoFLOP profile for plotting: its points (weight > 0) and fitted parabola.

    ``coef = (c0, c1, c2)`` of ``loss = c0 + c1 ln N + c2 (ln N)^2`` (NaN when fewer than 3
    distinct sizes leave it undetermined); ``vertex_log_n`` is NaN when it has no minimum.
    """

    flops: float
    log_n: np.ndarray
    loss: np.ndarray
    coef: tuple[float, float, float]
    vertex_log_n: float
    valid: bool


def _finite_or_none(value: float, keep: bool):
    return float(value) if keep else None


def _exp_or_none(log_value: float, keep: bool):
    """``exp(log_value)`` for JSON: None when not wanted or beyond float range."""
    return math.exp(float(log_value)) if keep and float(log_value) < 709.0 else None


def _exp_text(log_value: float) -> str:
    value = float(log_value)
    return f"{math.exp(value):.3g}" if value < 709.0 else f"exp({value:.4g})"


def _exclusion_reason(sol, k: int) -> str | None:
    """Why budget ``k`` was left out of the power law, in words (None if it was used)."""
    n = int(sol.n_points[k])
    if n < MIN_POINTS:
        return f"only {n} point(s) with weight > 0; a parabola needs at least {MIN_POINTS}"
    if not sol.well_posed[k]:
        return f"fewer than {MIN_POINTS} distinct model sizes; the parabola is undetermined"
    if not sol.has_minimum[k]:
        c2 = float(sol.coef[k, 2])
        if c2 > 0:
            return (
                f"no interior minimum: curvature c2 = {c2:.3g} is indistinguishable from zero "
                f"(the loss changes by less than {CURVATURE_RTOL:g} of itself across the sizes)"
            )
        return f"no interior minimum: curvature c2 = {c2:.3g} <= 0 (loss is not convex in ln N)"
    if not sol.vertex_inside[k]:
        lo, hi = math.exp(float(sol.log_n_min[k])), math.exp(float(sol.log_n_max[k]))
        return (
            f"no interior minimum: the vertex N = {_exp_text(sol.vertex_log_n[k])} lies "
            f"outside the sampled sizes [{lo:.3g}, {hi:.3g}]"
        )
    return None


@dataclass(frozen=True)
class IsoflopResult:
    """Approach-2 result for one table: frontier, per-budget diagnostics and exclusions."""

    frontier: Frontier
    solution: IsoflopSolution
    assignment: BudgetAssignment
    log_n: np.ndarray
    loss: np.ndarray
    weights: np.ndarray

    @property
    def budget_flops(self) -> np.ndarray:
        return self.assignment.flops

    @property
    def excluded(self) -> list[tuple[float, str]]:
        """``(budget FLOPs, reason)`` for every budget left out of the power law."""
        out = []
        for k, flops in enumerate(self.budget_flops):
            reason = _exclusion_reason(self.solution, k)
            if reason is not None:
                out.append((float(flops), reason))
        return out

    def n_opt(self, flops):
        return np.asarray(self.frontier.n_opt(flops))

    def d_opt(self, flops):
        return np.asarray(self.frontier.d_opt(flops))

    def profiles(self) -> list[Profile]:
        """Per budget: the points with weight > 0, parabola coefficients and vertex."""
        sol = self.solution
        out = []
        for k, flops in enumerate(self.budget_flops):
            members = (self.assignment.index == k) & (self.weights > 0)
            out.append(
                Profile(
                    flops=float(flops),
                    log_n=self.log_n[members],
                    loss=self.loss[members],
                    coef=tuple(float(c) if sol.well_posed[k] else math.nan for c in sol.coef[k]),
                    vertex_log_n=float(sol.vertex_log_n[k]) if sol.has_minimum[k] else math.nan,
                    valid=bool(sol.valid[k]),
                )
            )
        return out

    def budget_diagnostics(self) -> list[dict]:
        """One JSON-able dict per budget (None where a value is undefined)."""
        sol = self.solution
        out = []
        for k, flops in enumerate(self.budget_flops):
            has_min = bool(sol.has_minimum[k])
            any_point = int(sol.n_points[k]) > 0
            nominal = self.assignment.nominal
            out.append(
                {
                    "flops": float(flops),
                    "nominal_flops": None if nominal is None else float(nominal[k]),
                    "n_points": int(sol.n_points[k]),
                    "coef": [_finite_or_none(c, bool(sol.well_posed[k])) for c in sol.coef[k]],
                    "curvature": _finite_or_none(sol.coef[k, 2], bool(sol.well_posed[k])),
                    "params_range": (
                        [math.exp(float(sol.log_n_min[k])), math.exp(float(sol.log_n_max[k]))]
                        if any_point
                        else None
                    ),
                    "n_opt": _exp_or_none(sol.vertex_log_n[k], has_min),
                    "d_opt": _exp_or_none(sol.log_d_opt[k], has_min),
                    "vertex_loss": _finite_or_none(sol.vertex_loss[k], has_min),
                    "offset_dex": _finite_or_none(sol.offset_dex[k], has_min),
                    "offset_fraction": _finite_or_none(sol.offset_frac[k], has_min),
                    "has_minimum": has_min,
                    "vertex_inside": bool(sol.vertex_inside[k]),
                    "valid": bool(sol.valid[k]),
                    "reason": _exclusion_reason(sol, k),
                }
            )
        return out

    def report(self) -> str:
        """Budgets, exclusions in words, unassigned rows and the fitted exponents."""
        lines = [self.assignment.report()]
        for flops, reason in self.excluded:
            lines.append(f"budget C = {flops:.4g} excluded: {reason}")
        lines.append(
            f"power law over {int(self.solution.n_valid)} of {len(self.budget_flops)} budgets: "
            f"a = {float(self.frontier.a):.4f}, b = {float(self.frontier.b):.4f}"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        assignment = self.assignment
        return {
            **frontier_summary(2, self.frontier),
            "budgets": self.budget_diagnostics(),
            "excluded_budgets": [
                {"flops": flops, "reason": reason} for flops, reason in self.excluded
            ],
            "n_budgets": assignment.n_budgets,
            "n_valid_budgets": int(self.solution.n_valid),
            "fit_rms_dex": float(self.solution.rms_dex),
            "n_rows": int(assignment.index.shape[0]),
            "n_unassigned": assignment.n_unassigned,
            "unassigned_rows": [int(r) for r in assignment.unassigned_rows],
            "assignment": {
                "method": assignment.method,
                "tolerance_dex": assignment.tolerance_dex,
                "offset_dex": assignment.offset_dex,
                "notes": list(assignment.notes),
            },
            "status": Status(int(self.solution.status)).message,
        }


def fit_isoflop(
    runs: Runs,
    weights=None,
    *,
    budgets=None,
    nominal: Sequence[float] | None = None,
    tolerance_dex: float = DEFAULT_TOLERANCE_DEX,
    offset: str | float | None = "auto",
    dtype=jnp.float64,
) -> IsoflopResult:
    """Fit Approach 2 to a validated table (``data.load_runs``).

    Budgets come from ``budgets`` (a ``BudgetAssignment``, or one budget per row with NaN for
    none), else the table's ``budget`` column, else ``assign_budgets`` with ``nominal`` (e.g.
    ``laws.CHINCHILLA_ISOFLOP_BUDGETS``) or, when ``nominal`` is None, gap clustering.
    ``weights`` are per row (>= 0). Budgets without a usable profile are excluded and reported;
    raises ``DataError`` when fewer than 2 budgets exist or remain usable.
    """
    runs = as_runs(runs)
    n_rows = len(runs)
    if n_rows == 0:
        raise DataError("Approach 2 needs rows; the table is empty")
    if isinstance(budgets, BudgetAssignment):
        assignment = budgets
        if assignment.index.shape != (n_rows,):
            raise DataError(
                f"the budget assignment covers {assignment.index.shape[0]} rows, "
                f"the table has {n_rows}"
            )
    else:
        assignment = assign_budgets(
            runs.flops,
            runs.budget if budgets is None else budgets,
            nominal=nominal,
            tolerance_dex=tolerance_dex,
            offset=offset,
            rows=runs.row,
        )
    if assignment.n_budgets < 2:
        found = ", ".join(f"{c:.4g}" for c in assignment.flops) or "none"
        raise DataError(
            f"Approach 2 needs at least 2 IsoFLOP budgets to fit a power law; found "
            f"{assignment.n_budgets} (C = {found}).\n{assignment.report()}"
        )
    weights = check_weights(weights, n_rows, "row")
    arrays = isoflop_arrays(runs, assignment, dtype)
    solution = jax.device_get(_fit_jit(arrays, jnp.asarray(weights, dtype)))
    result = IsoflopResult(
        frontier=Frontier(*(float(v) for v in solution.frontier)),
        solution=solution,
        assignment=assignment,
        log_n=np.log(runs.params),
        loss=np.asarray(runs.loss),
        weights=weights,
    )
    if int(solution.status) != Status.OK:
        raise DataError(
            f"Approach 2 needs at least 2 budgets with an interior minimum to fit a power law; "
            f"{int(solution.n_valid)} of {assignment.n_budgets} qualify.\n{result.report()}"
        )
    return result


def sweep_plan(
    runs: Runs, unit: str, options: ApproachOptions = DEFAULT_APPROACH_OPTIONS, point=None
) -> SweepPlan:
    """Approach 2 on row weights (``unit="row"``) or whole budgets (``unit="budget"``: every
    row of a budget takes its budget's weight, unassigned rows 0); ``point`` reuses a
    ``fit_isoflop`` of ``runs``."""
    dtype = options.dtype
    point = point if point is not None else _fit(runs, options)
    assignment = point.assignment
    if unit == "budget":
        n_units, row_of_unit = assignment.n_budgets, np.asarray(assignment.index)
    else:
        n_units, row_of_unit = len(runs), None
    return SweepPlan(
        point=point,
        fit_chunk=mapped_chunk_fit(fit_isoflop_arrays),
        data=isoflop_arrays(runs, assignment, dtype),
        n_units=n_units,
        row_of_unit=row_of_unit,
        estimate={"a": point.frontier.a, "b": point.frontier.b},
        quantities=("a", "b"),
        config={"budgets": [float(c) for c in assignment.flops]},
        bytes_per_resample=4 * (n_units + len(runs)) * jnp.dtype(dtype).itemsize,
    )


def _fit(runs: Runs, options: ApproachOptions = DEFAULT_APPROACH_OPTIONS) -> IsoflopResult:
    return fit_isoflop(runs, budgets=options.budgets, nominal=options.nominal, dtype=options.dtype)


def _posterior(runs: Runs, *, key, settings, nominal=None, **options):
    """The joint NUTS model of parabolas and power law (``bayes.sample_isoflop``)."""
    from scalinglaw_jax.uncertainty import bayes

    return bayes.sample_isoflop(
        runs, key=key, settings=settings, nominal=nominal, **bayes.likelihood_options(options)
    )


SPEC = ApproachSpec(
    key="2",
    name="Approach 2 (IsoFLOP)",
    title="Approach 2 (IsoFLOP profiles)",
    color="C1",
    units={"nonparametric": "row", "bayesian": "row", "subsample": "row", "block": "budget"},
    refusals={
        scheme: f"{scheme} multiplies residuals within training curves (Approach 1): use "
        "nonparametric, bayesian, subsample or block for Approach 2"
        for scheme in RESIDUAL_SCHEMES
    },
    default_scheme="nonparametric",
    study="isoflop",
    rows=all_rows,
    fit=_fit,
    plan=sweep_plan,
    posterior=_posterior,
)
