"""Approach 1: the envelope of training curves (Hoffmann et al. 2022).

Each training curve (rows sharing a ``run``) is smoothed and interpolated into a map
FLOPs -> loss. Smoothing is isotonic regression (pool-adjacent-violators) for a loss that does
not increase with FLOPs: it leaves a curve unchanged where the data already decrease and pools
only the stretches where noise makes the loss rise, so no curve gets credit for a lucky noisy
dip the way a running minimum would give it. The smoothed losses are interpolated linearly in
ln FLOPs. At ``n_grid`` log-spaced FLOP values the run with the lowest loss among the runs that
cover the value and have weight > 0 gives ``N_opt(C)`` (its parameter count) and ``D_opt(C)``
(its tokens, interpolated log-linearly: ``C / (6N)`` whenever FLOPs = 6ND). ``ln N_opt`` and
``ln D_opt`` are then fitted linearly in ``ln C`` by ordinary least squares over the covered grid
points, except those won by the smallest or the largest present model size: there the envelope
is censored by the ladder's end (the true optimum may lie beyond it), and keeping them flattens
the fitted slope badly (a = 0.34 instead of 0.46 on the default simulated study). Each fitted
grid point carries the weight of the curve that wins it (the summed weight of exact ties), so
the lines are weighted least squares: a curve of weight 2 counts as two copies of it.

Smoothing and interpolation depend on each curve alone, not on the weights, so they are done in
NumPy before tracing; ``fit_envelope_arrays`` (pure, vmappable over per-curve weights) only
selects the envelope and fits the lines. A curve of weight 0 is absent from the minimum (exactly
as if removed); a positive weight scales its grid points in the regression, which is what gives
bootstrap and Bayesian-bootstrap weights over curves their spread.

Residual schemes (``wild``, ``wild-gaussian``) keep every curve and its shape and perturb its
points instead: each curve's ln loss is fitted by a cubic in ln FLOPs (``curve_shapes``), and a
resample rebuilds the points as shape + multiplier x residual, then reruns the whole estimator
(isotonic smoothing, interpolation, envelope, lines) inside the compiled program. Across
repeated studies of one design only the points' noise varies, and this is the error these
schemes reproduce; resampling whole curves also varies the design and over-covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
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
    frontier_outputs,
    mapped_chunk_fit,
)
from scalinglaw_jax.core.data import DataError, Runs, as_runs, check_weights, format_rows
from scalinglaw_jax.core.frontier import Frontier, weighted_line
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.laws.closed_forms import frontier_summary

DEFAULT_N_GRID = 1500
SMOOTHING = "isotonic (non-increasing in FLOPs) regression, then linear interpolation in ln C"
TRACE_COUNTS = {"fit_envelope_arrays": 0}
"""Incremented each time the fit is traced (tests use it to catch recompilation)."""

LN10 = math.log(10.0)


def isotonic_decreasing(y) -> np.ndarray:
    """Least-squares non-increasing fit to ``y`` (unit weights) by pool-adjacent-violators."""
    means: list[float] = []
    sizes: list[int] = []
    for value in np.asarray(y, dtype=np.float64):
        means.append(float(value))
        sizes.append(1)
        while len(means) > 1 and means[-2] < means[-1]:
            size = sizes[-2] + sizes[-1]
            means[-2] = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / size
            sizes[-2] = size
            del means[-1], sizes[-1]
    return np.repeat(means, sizes)


class Curve(NamedTuple):
    """One training curve, sorted by FLOPs (NumPy arrays), as prepared for the envelope."""

    label: object
    params: float
    flops: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray
    smoothed: np.ndarray
    rows: np.ndarray


@dataclass(frozen=True)
class Curves:
    """Validated training curves and the FLOP grid the envelope is evaluated on.

    ``curves`` are in the order of the per-curve weight vector. ``excluded`` lists
    ``(label, reason)`` for curves that cannot be interpolated (a single point); they stay in
    the arrays but never cover a grid point, exactly like a curve of weight 0.
    """

    curves: tuple[Curve, ...]
    usable: np.ndarray
    excluded: tuple[tuple[object, str], ...]
    log_grid: np.ndarray

    @property
    def labels(self) -> tuple:
        return tuple(c.label for c in self.curves)

    def __len__(self) -> int:
        return len(self.curves)


def prepare_curves(
    runs: Runs, *, n_grid: int = DEFAULT_N_GRID, flops_range: tuple[float, float] | None = None
) -> Curves:
    """Group rows into curves, validate, smooth, and lay the log-spaced FLOP grid.

    Raises ``DataError`` (naming the run and rows) when there is no ``run`` column, when a run
    mixes model sizes, repeats a FLOP value, or has tokens that do not rise with FLOPs, and when
    fewer than 3 model sizes have a curve of at least 2 points. A one-point curve is excluded and
    reported. The grid spans ``flops_range`` or, by default, the FLOPs covered by the usable
    curves; pass the same range to compare fits of different subsets on the same grid.
    """
    if runs.run is None:
        raise DataError("Approach 1 needs a 'run' column grouping rows into training curves")
    if int(n_grid) != n_grid or n_grid < 2:
        raise DataError(f"n_grid must be an integer >= 2, got {n_grid}")
    tokens_all = np.asarray(runs.tokens, dtype=np.float64)
    if not np.all(np.isfinite(tokens_all)):
        raise DataError(
            f"Approach 1 needs tokens; rows {format_rows(runs.row[~np.isfinite(tokens_all)])} "
            "have none"
        )
    codes = np.unique(runs.run)
    curves, usable, excluded = [], [], []
    for code in codes:
        label = runs.run_labels[code] if len(runs.run_labels) > code else int(code)
        members = np.flatnonzero(runs.run == code)
        members = members[np.argsort(runs.flops[members], kind="stable")]
        rows = runs.row[members]
        params = runs.params[members]
        if not np.allclose(params, params[0], rtol=1e-9, atol=0.0):
            raise DataError(
                f"run {label!r} mixes model sizes (params from {params.min():.6g} to "
                f"{params.max():.6g}, rows {format_rows(rows)}); a training curve has one size"
            )
        flops = runs.flops[members]
        tokens = tokens_all[members]
        repeated = np.flatnonzero(np.diff(flops) == 0)
        if repeated.size:
            pairs = ", ".join(f"{rows[i]} and {rows[i + 1]}" for i in repeated[:4])
            raise DataError(
                f"run {label!r} repeats a FLOP value (rows {pairs}); FLOPs must increase "
                "strictly along a training curve"
            )
        falling = np.flatnonzero(np.diff(tokens) <= 0)
        if falling.size:
            i = falling[0]
            raise DataError(
                f"run {label!r}: tokens do not increase with FLOPs (rows {rows[i]} and "
                f"{rows[i + 1]}: tokens {tokens[i]:.6g} then {tokens[i + 1]:.6g}); "
                "a training curve must see more tokens as it spends more FLOPs"
            )
        loss = runs.loss[members]
        curves.append(
            Curve(label, float(params[0]), flops, tokens, loss, isotonic_decreasing(loss), rows)
        )
        usable.append(flops.size >= 2)
        if flops.size < 2:
            excluded.append(
                (label, f"only 1 point (row {rows[0]}); a curve needs 2 to be interpolated")
            )
    usable = np.asarray(usable, dtype=bool)
    sizes = {c.params for c, ok in zip(curves, usable, strict=True) if ok}
    if len(sizes) < 3:
        raise DataError(
            f"Approach 1 needs curves of at least 3 model sizes with 2 or more points each (the "
            f"smallest and largest only bound the envelope); found {len(sizes)} size(s) among "
            f"{int(usable.sum())} usable of {len(curves)} curves"
        )
    if flops_range is None:
        lo = min(c.flops[0] for c, ok in zip(curves, usable, strict=True) if ok)
        hi = max(c.flops[-1] for c, ok in zip(curves, usable, strict=True) if ok)
    else:
        lo, hi = (float(v) for v in flops_range)
        if not (0 < lo < hi and np.isfinite(hi)):
            raise DataError(
                f"flops_range must be (low, high) with 0 < low < high, got {flops_range}"
            )
    log_grid = np.linspace(math.log(lo), math.log(hi), int(n_grid))
    return Curves(tuple(curves), usable, tuple(excluded), log_grid)


class EnvelopeArrays(NamedTuple):
    """Curves on the grid (a pytree; shapes fix the program): ``(n_runs, n_grid)`` matrices.

    ``loss`` and ``log_d`` hold each curve's interpolated smoothed loss and ln tokens where the
    curve ``covers`` the grid point (0 elsewhere); ``log_n`` is each curve's ln params.
    """

    log_c: jnp.ndarray
    loss: jnp.ndarray
    log_d: jnp.ndarray
    covers: jnp.ndarray
    log_n: jnp.ndarray


def envelope_arrays(curves: Curves, dtype=jnp.float64) -> EnvelopeArrays:
    """Interpolate every usable curve onto the grid (linear in ln FLOPs)."""
    grid = curves.log_grid
    shape = (len(curves), grid.size)
    loss, log_d = np.zeros(shape), np.zeros(shape)
    covers = np.zeros(shape, dtype=bool)
    for r, (curve, ok) in enumerate(zip(curves.curves, curves.usable, strict=True)):
        if not ok:
            continue
        log_c = np.log(curve.flops)
        inside = (grid >= log_c[0]) & (grid <= log_c[-1])
        covers[r] = inside
        loss[r, inside] = np.interp(grid[inside], log_c, curve.smoothed)
        log_d[r, inside] = np.interp(grid[inside], log_c, np.log(curve.tokens))
    return EnvelopeArrays(
        log_c=jnp.asarray(grid, dtype),
        loss=jnp.asarray(loss, dtype),
        log_d=jnp.asarray(log_d, dtype),
        covers=jnp.asarray(covers),
        log_n=jnp.asarray([math.log(c.params) for c in curves.curves], dtype),
    )


class EnvelopeSolution(NamedTuple):
    """Pure-fit output for one per-curve weight vector (a pytree).

    Grid fields have shape ``(n_grid,)`` and hold 0 where ``covered`` (some present run covers
    the point) is False; ``fitted`` marks the covered points whose winner is neither the
    smallest nor the largest present size, the ones the lines are fitted to. ``on_envelope``
    (``(n_runs,)``) marks the curves that are lowest at one or more covered grid points.
    """

    frontier: Frontier
    log_n_opt: jnp.ndarray
    log_d_opt: jnp.ndarray
    loss_opt: jnp.ndarray
    covered: jnp.ndarray
    fitted: jnp.ndarray
    on_envelope: jnp.ndarray
    n_runs_on_envelope: jnp.ndarray
    n_covered: jnp.ndarray
    n_fitted: jnp.ndarray
    rms_n_dex: jnp.ndarray
    rms_d_dex: jnp.ndarray
    status: jnp.ndarray


def fit_envelope_arrays(arrays: EnvelopeArrays, weights: jnp.ndarray) -> EnvelopeSolution:
    """Lowest-loss present curve at every grid point, then the two weighted power laws.

    Pure and jit/vmap-able over ``weights`` (one per curve, >= 0); the winner is picked with a
    masked ``argmin`` and a one-hot selection, so no index depends on the weights' values. A
    grid point's regression weight is the summed weight of the present curves at its minimum.
    """
    TRACE_COUNTS["fit_envelope_arrays"] += 1
    present = (weights > 0)[:, None] & arrays.covers
    score = jnp.where(present, arrays.loss, jnp.inf)
    best = jnp.argmin(score, axis=0)
    covered = jnp.any(present, axis=0)
    pick = (jnp.arange(present.shape[0])[:, None] == best[None, :]) & present

    def select(values):
        return jnp.sum(jnp.where(pick, values, 0.0), axis=0)

    log_n_opt = select(jnp.broadcast_to(arrays.log_n[:, None], pick.shape))
    log_d_opt = select(arrays.log_d)
    loss_opt = select(arrays.loss)
    tied = present & (score == jnp.min(score, axis=0)[None, :])
    point_weight = jnp.sum(jnp.where(tied, weights[:, None], 0.0), axis=0)
    on_envelope = jnp.any(pick, axis=1)
    n_covered = jnp.sum(covered)
    taking_part = (weights > 0) & jnp.any(arrays.covers, axis=1)
    smallest = jnp.min(jnp.where(taking_part, arrays.log_n, jnp.inf))
    largest = jnp.max(jnp.where(taking_part, arrays.log_n, -jnp.inf))
    # At the ladder's ends the envelope is censored (no smaller / larger size to win): skip.
    fitted = covered & (log_n_opt > smallest) & (log_n_opt < largest)
    n_fitted = jnp.sum(fitted)
    varied = jnp.max(jnp.where(fitted, log_n_opt, -jnp.inf)) > jnp.min(
        jnp.where(fitted, log_n_opt, jnp.inf)
    )
    ok = (n_fitted >= 2) & varied
    x = arrays.log_c
    a, log_g_n, rms_n = weighted_line(x, log_n_opt, jnp.where(fitted, point_weight, 0.0), ok)
    b, log_g_d, rms_d = weighted_line(x, log_d_opt, jnp.where(fitted, point_weight, 0.0), ok)
    status = jnp.where(
        n_fitted < 2, Status.TOO_FEW_POINTS, jnp.where(varied, Status.OK, Status.ONE_SIZE)
    )
    return EnvelopeSolution(
        frontier=Frontier(a, b, log_g_n, log_g_d),
        log_n_opt=log_n_opt,
        log_d_opt=log_d_opt,
        loss_opt=loss_opt,
        covered=covered,
        fitted=fitted,
        on_envelope=on_envelope,
        n_runs_on_envelope=jnp.sum(on_envelope),
        n_covered=n_covered,
        n_fitted=n_fitted,
        rms_n_dex=rms_n / LN10,
        rms_d_dex=rms_d / LN10,
        status=status,
    )


_fit_jit = jax.jit(fit_envelope_arrays)
"""``fit_envelope_arrays`` over a ``(n, n_curves)`` weight matrix; one compiled program for
every table of the same shape (calibration studies, Bayesian-bootstrap draws)."""


class EnvelopePoints(NamedTuple):
    """The envelope at the covered grid points (NumPy arrays), for plotting."""

    flops: np.ndarray
    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray


@dataclass(frozen=True)
class EnvelopeResult:
    """Approach-1 result for one table: frontier, envelope and diagnostics."""

    frontier: Frontier
    solution: EnvelopeSolution
    curves: Curves
    weights: np.ndarray

    @property
    def run_labels(self) -> tuple:
        """Curve labels in the order of the per-curve weight vector."""
        return self.curves.labels

    def _range(self, mask) -> tuple[float, float] | None:
        log_c = self.curves.log_grid[np.asarray(mask)]
        return (math.exp(log_c[0]), math.exp(log_c[-1])) if log_c.size else None

    @property
    def flops_range(self) -> tuple[float, float] | None:
        """FLOPs spanned by the grid points some present curve covers."""
        return self._range(self.solution.covered)

    @property
    def fit_flops_range(self) -> tuple[float, float] | None:
        """FLOPs spanned by the grid points the lines are fitted to (ladder ends dropped)."""
        return self._range(self.solution.fitted)

    @property
    def n_runs_used(self) -> int:
        return int(np.count_nonzero((self.weights > 0) & self.curves.usable))

    @property
    def runs_on_envelope(self) -> list:
        on_envelope = self.solution.on_envelope
        return [c.label for c, on in zip(self.curves.curves, on_envelope, strict=True) if on]

    def n_opt(self, flops):
        return np.asarray(self.frontier.n_opt(flops))

    def d_opt(self, flops):
        return np.asarray(self.frontier.d_opt(flops))

    def envelope_points(self) -> EnvelopePoints:
        """The envelope at every covered grid point (censored ends included)."""
        covered = np.asarray(self.solution.covered)
        sol = self.solution
        return EnvelopePoints(
            flops=np.exp(self.curves.log_grid[covered]),
            params=np.exp(np.asarray(sol.log_n_opt)[covered]),
            tokens=np.exp(np.asarray(sol.log_d_opt)[covered]),
            loss=np.asarray(sol.loss_opt)[covered],
        )

    def report(self) -> str:
        """Curves used, envelope coverage, exclusions and the fitted exponents, in words."""
        sol = self.solution

        def span(bounds):
            return "no FLOPs" if bounds is None else f"C = {bounds[0]:.4g} to {bounds[1]:.4g}"

        lines = [
            f"{len(self.curves)} curves, {self.n_runs_used} used; "
            f"{int(sol.n_runs_on_envelope)} on the envelope over {span(self.flops_range)} "
            f"({int(sol.n_covered)} of {self.curves.log_grid.size} grid points covered)",
            f"fitted over {span(self.fit_flops_range)} ({int(sol.n_fitted)} grid points; "
            "points won by the smallest or largest size are censored and left out)",
        ]
        lines.extend(f"curve {run!r} excluded: {reason}" for run, reason in self.curves.excluded)
        lines.append(f"a = {float(self.frontier.a):.4f}, b = {float(self.frontier.b):.4f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        sol = self.solution
        return {
            **frontier_summary(1, self.frontier),
            "flops_range": list(self.flops_range),
            "fit_flops_range": list(self.fit_flops_range),
            "n_grid": int(self.curves.log_grid.size),
            "n_grid_covered": int(sol.n_covered),
            "n_grid_fitted": int(sol.n_fitted),
            "n_runs": len(self.curves),
            "n_runs_used": self.n_runs_used,
            "n_runs_on_envelope": int(sol.n_runs_on_envelope),
            "runs_on_envelope": [str(label) for label in self.runs_on_envelope],
            "excluded_runs": [
                {"run": str(label), "reason": reason} for label, reason in self.curves.excluded
            ],
            "fit_rms_dex": {"n_opt": float(sol.rms_n_dex), "d_opt": float(sol.rms_d_dex)},
            "smoothing": SMOOTHING,
            "status": Status(int(sol.status)).message,
        }


def fit_envelope(
    runs: Runs,
    weights=None,
    *,
    n_grid: int = DEFAULT_N_GRID,
    flops_range: tuple[float, float] | None = None,
    dtype=jnp.float64,
) -> EnvelopeResult:
    """Fit Approach 1 to a table of training curves (``data.load_runs`` with a ``run`` column).

    ``weights`` are per curve, in the order of ``prepare_curves(runs).labels`` (the order of
    first appearance for ``load_runs`` tables); weight 0 removes a curve, and a positive weight
    weights its envelope points in the line fits. Raises
    ``DataError`` for bad curves (see ``prepare_curves``) and when the weighted envelope is
    degenerate (fewer than 2 covered grid points, or a single model size).
    """
    runs = as_runs(runs)
    curves = prepare_curves(runs, n_grid=n_grid, flops_range=flops_range)
    weights = check_weights(weights, len(curves), "curve")
    arrays = envelope_arrays(curves, dtype)
    solution = jax.device_get(_fit_jit(arrays, jnp.asarray(weights, dtype)))
    result = EnvelopeResult(
        frontier=Frontier(*(float(v) for v in solution.frontier)),
        solution=solution,
        curves=curves,
        weights=weights,
    )
    if int(solution.status) != Status.OK:
        raise DataError(
            f"Approach 1 cannot fit a power law: {Status(int(solution.status)).message}.\n"
            f"{result.report()}"
        )
    return result


SHAPE_DEGREE = 3
"""Degree of the polynomial in ln FLOPs fitted to each curve's ln loss (fewer for short
curves): the shape residual schemes keep. On the simulated cosine-schedule curves its misfit
is under 0.1% RMS, a tenth of the 1% noise the calibration studies draw."""


class CurveShapes(NamedTuple):
    """Each curve's fitted shape and residuals in ln loss, on a ``(n_curves, n_points)`` layout
    padded past each curve's end (``valid`` False there; ``residual`` 0). ``unit`` numbers the
    points curve after curve in FLOPs order (the residual units; padding: ``n_units``)."""

    fitted: np.ndarray
    residual: np.ndarray
    valid: np.ndarray
    unit: np.ndarray
    n_units: int


def curve_shapes(curves: Curves, degree: int = SHAPE_DEGREE) -> CurveShapes:
    """Least-squares polynomial of ln loss in standardised ln FLOPs per curve, degree
    ``min(degree, n - 2)`` (at least 1) for ``n`` points, and its raw residuals.

    Raw residuals, as in Efron's residual bootstrap: inflating them by ``sqrt(n / (n - p))``
    for the ``p`` fitted coefficients over-covered in calibration (0.957 of 140 pilot studies
    at 90%), since the percentile interval is centred on the resamples' mean, which varies
    less across studies than the point estimate does. One-point curves keep their point
    (residual 0).
    """
    lengths = [c.flops.size for c in curves.curves]
    shape = (len(curves), max(lengths))
    fitted, residual = np.zeros(shape), np.zeros(shape)
    valid = np.zeros(shape, dtype=bool)
    unit = np.full(shape, sum(lengths), dtype=np.int64)
    start = 0
    for r, curve in enumerate(curves.curves):
        n = curve.flops.size
        log_loss = np.log(curve.loss)
        valid[r, :n] = True
        unit[r, :n] = np.arange(start, start + n)
        start += n
        if n < 2:
            fitted[r, :n] = log_loss
            continue
        x = np.log(curve.flops)
        x = (x - x.mean()) / x.std()
        coef = np.polynomial.polynomial.polyfit(x, log_loss, max(1, min(degree, n - 2)))
        fitted[r, :n] = np.polynomial.polynomial.polyval(x, coef)
        residual[r, :n] = log_loss - fitted[r, :n]
    return CurveShapes(fitted, residual, valid, unit, int(sum(lengths)))


def isotonic_decreasing_padded(y, valid):
    """``isotonic_decreasing`` for one padded curve, traceable (no data-dependent loop).

    Uses the min-max formula ``fit_i = min_{j<=i} max_{k>=i} mean(y_j..y_k)`` over the valid
    prefix of ``y`` (``valid``); padded entries come back 0. ``O(n^2)`` for ``n`` points.
    """
    n = y.shape[0]
    sums = jnp.concatenate([jnp.zeros(1, y.dtype), jnp.cumsum(jnp.where(valid, y, 0.0))])
    first = jnp.arange(n)[:, None]
    last = jnp.arange(n)[None, :]
    means = (sums[last + 1] - sums[first]) / jnp.maximum(last - first + 1, 1)
    means = jnp.where((last >= first) & valid[None, :], means, -jnp.inf)
    # best_after[j, i] = max over k >= i of mean(y_j..y_k); then the min over j <= i.
    best_after = jax.lax.cummax(means, axis=1, reverse=True)
    fit = jnp.min(jnp.where(last >= first, best_after, jnp.inf), axis=0)
    return jnp.where(valid, fit, 0.0)


class ResidualArrays(NamedTuple):
    """Approach 1 for residual schemes (a pytree): the envelope arrays (their ``loss`` is
    rebuilt per resample), each curve's shape and residuals (``CurveShapes``), and, per curve
    and grid point, the curve's point just below it (``lower``) and the ``fraction`` of the way
    to the next one (linear interpolation in ln FLOPs, as ``envelope_arrays``)."""

    envelope: EnvelopeArrays
    fitted: jnp.ndarray
    residual: jnp.ndarray
    valid: jnp.ndarray
    unit: jnp.ndarray
    lower: jnp.ndarray
    fraction: jnp.ndarray


def residual_arrays(curves: Curves, dtype=jnp.float64) -> ResidualArrays:
    """``ResidualArrays`` of prepared curves (shapes by ``curve_shapes``)."""
    shapes = curve_shapes(curves)
    grid = curves.log_grid
    lower = np.zeros((len(curves), grid.size), dtype=np.int64)
    fraction = np.zeros((len(curves), grid.size))
    for r, (curve, ok) in enumerate(zip(curves.curves, curves.usable, strict=True)):
        if not ok:
            continue
        log_c = np.log(curve.flops)
        below = np.clip(np.searchsorted(log_c, grid, side="right") - 1, 0, log_c.size - 2)
        lower[r] = below
        fraction[r] = (grid - log_c[below]) / (log_c[below + 1] - log_c[below])
    return ResidualArrays(
        envelope=envelope_arrays(curves, dtype),
        fitted=jnp.asarray(shapes.fitted, dtype),
        residual=jnp.asarray(shapes.residual, dtype),
        valid=jnp.asarray(shapes.valid),
        unit=jnp.asarray(shapes.unit),
        lower=jnp.asarray(lower),
        fraction=jnp.asarray(fraction, dtype),
    )


def fit_residual_resample(arrays: ResidualArrays, multipliers) -> EnvelopeSolution:
    """The envelope of one residual resample: every point becomes ``exp(shape + multiplier x
    residual)`` (``multipliers``: one per residual unit), and the curves are smoothed,
    interpolated and enveloped as the point fit does, every curve with weight 1."""
    padded = jnp.concatenate([multipliers, jnp.zeros(1, multipliers.dtype)])
    loss = jnp.exp(arrays.fitted + padded[arrays.unit] * arrays.residual)
    smoothed = jax.vmap(isotonic_decreasing_padded)(loss, arrays.valid)
    below = jnp.take_along_axis(smoothed, arrays.lower, axis=1)
    above = jnp.take_along_axis(smoothed, arrays.lower + 1, axis=1)
    covers = arrays.envelope.covers
    on_grid = jnp.where(covers, below + arrays.fraction * (above - below), 0.0)
    envelope = arrays.envelope._replace(loss=on_grid)
    return fit_envelope_arrays(envelope, jnp.ones(covers.shape[0], on_grid.dtype))


def residual_chunk_fit(arrays: ResidualArrays, multipliers) -> dict:
    """``fit_residual_resample`` over a ``(chunk, n_units)`` multiplier matrix, one resample at
    a time (``lax.map``), as ``mapped_chunk_fit`` does for weights."""

    def one(row):
        solution = fit_residual_resample(arrays, row)
        return frontier_outputs(solution.frontier, solution.status)

    return jax.lax.map(one, multipliers)


def sweep_plan(
    runs: Runs, unit: str, options: ApproachOptions = DEFAULT_APPROACH_OPTIONS, point=None
) -> SweepPlan:
    """Approach 1 on curve weights (``unit="curve"``) or residual multipliers
    (``unit="residual"``: every point of every curve, see ``fit_residual_resample``), on
    ``options.n_grid`` FLOPs; ``point`` reuses a ``fit_envelope`` of ``runs``."""
    dtype = options.dtype
    n_grid = options.n_grid or DEFAULT_N_GRID
    point = point if point is not None else fit_envelope(runs, n_grid=n_grid, dtype=dtype)
    if unit == "residual":
        arrays = residual_arrays(point.curves, dtype)
        n_curves, n_points = arrays.fitted.shape
        per_resample = n_curves * (3 * n_points**2 + 8 * point.curves.log_grid.size)
        return SweepPlan(
            point=point,
            fit_chunk=residual_chunk_fit,
            data=arrays,
            n_units=int(np.count_nonzero(np.asarray(arrays.valid))),
            row_of_unit=None,
            estimate={"a": point.frontier.a, "b": point.frontier.b},
            quantities=("a", "b"),
            config={"n_grid": int(point.curves.log_grid.size), "shape_degree": SHAPE_DEGREE},
            bytes_per_resample=per_resample * jnp.dtype(dtype).itemsize,
            jackknife_affordable=False,
        )
    n_units = len(point.curves)
    return SweepPlan(
        point=point,
        fit_chunk=mapped_chunk_fit(fit_envelope_arrays),
        data=envelope_arrays(point.curves, dtype),
        n_units=n_units,
        row_of_unit=None,
        estimate={"a": point.frontier.a, "b": point.frontier.b},
        quantities=("a", "b"),
        config={"n_grid": int(point.curves.log_grid.size)},
        bytes_per_resample=4 * (n_units + len(runs)) * jnp.dtype(dtype).itemsize,
    )


def _fit(runs: Runs, options: ApproachOptions = DEFAULT_APPROACH_OPTIONS) -> EnvelopeResult:
    if runs.run is None:
        raise DataError("needs training curves: a 'run' column grouping rows")
    return fit_envelope(runs, n_grid=options.n_grid or DEFAULT_N_GRID, dtype=options.dtype)


BOOTSTRAP_DEFAULTS = MappingProxyType({})


SPEC = ApproachSpec(
    key="1",
    name="Approach 1 (envelope)",
    title="Approach 1 (envelope of training curves)",
    color="C0",
    units={
        **dict.fromkeys(RESIDUAL_SCHEMES, "residual"),
        "block": "curve",
        "bayesian": "curve",
        "subsample": "curve",
    },
    refusals={
        "nonparametric": "Approach 1 does not draw points of a curve with replacement: use "
        "--scheme wild (residual signs within each curve, the default), wild-gaussian, block "
        "(curves drawn with replacement), bayesian or subsample"
    },
    default_scheme="wild",
    study="curves",
    columns={"run": "grouping rows into training curves"},
    rows=all_rows,
    fit=_fit,
    plan=sweep_plan,
    bootstrap_defaults=BOOTSTRAP_DEFAULTS,
)
