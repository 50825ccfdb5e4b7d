"""Scaling laws as values: ``Law(name, params, predict)``, batched by the engine.

A user writes a law for ONE row and ONE parameter set::

    Law(
        name="shared_exponent",
        params={"E": (0.5, 3.0), "A": (1.0, 1e5), "B": (1.0, 1e5), "alpha": (0.05, 1.5)},
        predict=lambda p, x: p["E"] + p["A"] / x["params"] ** p["alpha"]
        + p["B"] / x["tokens"] ** p["alpha"],
    )

``params`` gives each parameter the box its default start grid spans; ``predict(p, x)`` returns
the predicted loss of one row from a dict of scalar parameters and a dict of that row's
canonical columns (``params``, ``tokens``, ``flops``, ``unique_tokens``). Which columns a law
reads is found by tracing ``predict`` once.

Inside, the engine works on unconstrained coordinates ``theta``: ``log p`` for a parameter whose
box lies above 0, ``p`` itself otherwise. Everything else is derived and optional:

- derivatives: autodiff through the batched Newton solver, with the Huber loss's majorising
  curvature far from the optimum (``huber_derivatives``); ``derivatives`` may supply a closed
  form ``(theta, arrays, weights, delta, majorize) -> (value, grad, hess)``;
- start grid: ``grid_points_per_axis`` points per axis over the boxes in ``theta``
  (``default_grid``, at most ``MAX_GRID_STARTS`` starts); ``start_grid`` may give one (in
  ``theta`` coordinates);
- the compute-optimal frontier under ``C = 6 N D``: minimised numerically over ``log N`` at each
  of ``FRONTIER_FLOPS`` budgets and summarised by the power law through those optima
  (``numeric_frontier``); ``frontier(p) -> Frontier`` may give a closed form;
- NUTS priors: normal in ``theta``, centred on the box with the box's width as scale
  (``default_priors``); ``priors`` may give numpyro specs (``posterior.make_prior``) per parameter.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.core.frontier import Frontier, huber

INPUT_COLUMNS = ("params", "tokens", "flops", "unique_tokens")
"""Canonical columns a law's ``predict`` may read from its row dict ``x``."""
MAX_GRID_STARTS = 4500
"""The default start grid has the most points per axis whose product stays within Chinchilla's
4,500 starts (at least 2 per axis): 8 per axis for 4 parameters (4,096 starts), 5 for 5
(3,125), 4 for 6 (4,096), 3 for 7 (2,187)."""
FRONTIER_FLOPS = np.logspace(18.0, 26.0, 17)
"""Budgets at which a law without a closed-form frontier is minimised (the figures' range)."""
SEARCH_HALF_WIDTH = 18.0
"""The frontier search spans ``ln N`` within 18 of ``ln sqrt(C/6)``: tokens per parameter
from e^-36 to e^36. An optimum at the edge of that span is reported as no frontier (NaN)."""
SEARCH_POINTS = 145
GOLDEN_STEPS = 60
NEWTON_POLISH_STEPS = 3


class LawError(DataError):
    """A law that cannot be used: bad definition, failing file, wrong shape, missing column."""


class _RecordingRow(dict):
    """A row dict that remembers which columns ``predict`` reads, and names unknown ones."""

    def __init__(self, values, law_name):
        super().__init__(values)
        self.read: list[str] = []
        self.law_name = law_name

    def __getitem__(self, column):
        if column not in self:
            raise LawError(
                f"law {self.law_name!r} reads column {column!r}, which is not a canonical column; "
                f"predict(p, x) may read {', '.join(INPUT_COLUMNS)}"
            )
        if column not in self.read:
            self.read.append(column)
        return super().__getitem__(column)


@dataclass(frozen=True, eq=False)
class Law:
    """A loss law ``L = predict(p, x)`` with a box per parameter (see the module docstring).

    Laws compare and hash by identity, so a law is a static argument of compiled programs.
    """

    name: str
    params: Mapping[str, tuple[float, float]]
    predict: Callable
    formula: str = ""
    source: str = ""
    start_grid: Callable[[], np.ndarray] | np.ndarray | None = None
    priors: Mapping[str, Mapping] | None = None
    derivatives: Callable | None = None
    frontier: Callable | None = None
    frontier_inputs: Callable | None = None
    log_prediction: Callable | None = None
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise LawError(f"a law needs a non-empty string name, got {self.name!r}")
        if not isinstance(self.params, Mapping) or not self.params:
            raise LawError(f"law {self.name!r}: params must be a non-empty dict of name: (lo, hi)")
        boxes = {}
        for name, box in self.params.items():
            try:
                lo, hi = (float(v) for v in box)
            except (TypeError, ValueError):
                raise LawError(
                    f"law {self.name!r}: parameter {name!r} needs a box (lo, hi), got {box!r}"
                ) from None
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise LawError(
                    f"law {self.name!r}: parameter {name!r} box must be finite with lo < hi, "
                    f"got ({lo}, {hi})"
                )
            boxes[str(name)] = (lo, hi)
        object.__setattr__(self, "params", boxes)
        if not callable(self.predict):
            raise LawError(f"law {self.name!r}: predict must be callable as predict(p, x)")
        object.__setattr__(self, "columns", self._traced_columns())
        if self.start_grid is not None:
            self.grid()  # checks its shape now, not at fit time

    # -- coordinates ------------------------------------------------------------------------

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.params)

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def log_scaled(self) -> tuple[bool, ...]:
        """Which parameters the engine moves on the log scale (those with a box above 0)."""
        return tuple(lo > 0 for lo, _ in self.params.values())

    @property
    def theta_names(self) -> tuple[str, ...]:
        return tuple(
            f"log_{name}" if log else name
            for name, log in zip(self.param_names, self.log_scaled, strict=True)
        )

    def theta_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners of the boxes in ``theta`` coordinates."""
        lo, hi = np.array(list(self.params.values()), dtype=np.float64).T
        log = np.array(self.log_scaled)
        return np.where(log, np.log(lo), lo), np.where(log, np.log(hi), hi)

    def to_params(self, theta) -> dict:
        """``{name: value}`` on the natural scale (batched over leading axes of ``theta``)."""
        xp = np if isinstance(theta, np.ndarray) else jnp
        return {
            name: xp.exp(theta[..., i]) if log else theta[..., i]
            for i, (name, log) in enumerate(zip(self.param_names, self.log_scaled, strict=True))
        }

    def from_params(self, params: Mapping[str, float]) -> np.ndarray:
        """``theta`` of natural-scale parameters (every name of the law, nothing else)."""
        missing = sorted(set(self.param_names) - set(params))
        extra = sorted(set(params) - set(self.param_names))
        if missing or extra:
            raise LawError(
                f"law {self.name!r} has parameters {', '.join(self.param_names)}; "
                f"missing {missing or 'none'}, unknown {extra or 'none'}"
            )
        values = np.array([float(params[name]) for name in self.param_names])
        return np.where(np.array(self.log_scaled), np.log(np.abs(values)), values)

    # -- prediction -------------------------------------------------------------------------

    def _traced_columns(self) -> tuple[str, ...]:
        """Trace ``predict`` once on abstract scalars: its columns, and a scalar output."""
        row = None

        def probe(p, x):
            nonlocal row
            row = _RecordingRow(x, self.name)
            return self.predict(p, row)

        scalar = jax.ShapeDtypeStruct((), jnp.float64)
        try:
            out = jax.eval_shape(
                probe, dict.fromkeys(self.param_names, scalar), dict.fromkeys(INPUT_COLUMNS, scalar)
            )
        except LawError:
            raise
        except Exception as error:  # a user's function: say which law and what it raised
            raise LawError(
                f"law {self.name!r}: predict(p, x) failed on one row: "
                f"{type(error).__name__}: {error}"
            ) from None
        if not hasattr(out, "shape") or tuple(out.shape) != ():
            shape = getattr(out, "shape", type(out).__name__)
            raise LawError(
                f"law {self.name!r}: predict(p, x) must return one scalar loss per row, got "
                f"shape {shape}"
            )
        if not {"params", "tokens"} & set(row.read):
            raise LawError(f"law {self.name!r}: predict(p, x) reads neither params nor tokens")
        return tuple(row.read)

    def predict_rows(self, theta, inputs: Mapping[str, jnp.ndarray]):
        """Predicted loss of every row (``inputs``: the law's columns, one entry per row)."""
        p = self.to_params(theta)
        columns = {name: inputs[name] for name in self.columns}
        return jax.vmap(lambda x: self.predict(p, x))(columns)

    def inputs_at(self, params, tokens) -> dict:
        """The law's columns at given ``params`` and ``tokens``: ``flops = 6ND``, the rest from
        ``frontier_inputs`` (e.g. fresh data: ``unique_tokens = tokens``)."""
        x = {"params": params, "tokens": tokens, "flops": 6.0 * params * tokens}
        if self.frontier_inputs is not None:
            x = dict(self.frontier_inputs(x))
        missing = set(self.columns) - set(x)
        if missing:
            raise LawError(
                f"law {self.name!r} reads {', '.join(sorted(missing))}, which params and tokens "
                "alone (a compute-optimal frontier under C = 6ND) do not define: give the law "
                "frontier_inputs(x) -> x"
            )
        return {name: x[name] for name in self.columns}

    def predict_at(self, theta, params, tokens):
        """Predicted loss at arrays of ``params`` and ``tokens`` (any shape; ``inputs_at``)."""
        params, tokens = jnp.broadcast_arrays(jnp.asarray(params), jnp.asarray(tokens))
        x = self.inputs_at(params.ravel(), tokens.ravel())
        return self.predict_rows(theta, x).reshape(params.shape)

    def log_loss(self, theta, arrays):
        """Predicted log-loss per row of ``arrays`` (``parametric.ParametricArrays``); NaN where
        the prediction is not positive. ``log_prediction(theta, arrays)`` is a fast path."""
        if self.log_prediction is not None:
            return self.log_prediction(theta, arrays)
        loss = self.predict_rows(theta, arrays.inputs)
        positive = loss > 0
        return jnp.where(positive, jnp.log(jnp.where(positive, loss, 1.0)), jnp.nan)

    # -- starts, frontier, priors -----------------------------------------------------------

    def grid(self) -> np.ndarray:
        """Start grid in ``theta`` coordinates: the law's own, else ``default_grid``."""
        if self.start_grid is None:
            return default_grid(self)
        grid = self.start_grid() if callable(self.start_grid) else self.start_grid
        grid = np.asarray(grid, dtype=np.float64)
        if grid.ndim != 2 or grid.shape[1] != self.n_params or not np.all(np.isfinite(grid)):
            raise LawError(
                f"law {self.name!r}: start_grid must be a finite (n_starts, {self.n_params}) "
                f"array over {', '.join(self.theta_names)}, got shape {grid.shape}"
            )
        return grid

    def frontier_of(self, theta) -> Frontier:
        """Compute-optimal power laws of one ``theta``: closed form if given, else numeric."""
        if self.frontier is not None:
            return Frontier(*self.frontier(self.to_params(theta)))
        return numeric_frontier(self, theta).frontier

    def prior_specs(self) -> dict[str, dict]:
        """numpyro prior specs per ``theta`` coordinate (``theta_names``)."""
        specs = default_priors(self)
        for name, spec in (self.priors or {}).items():
            if name not in specs:
                raise LawError(
                    f"law {self.name!r}: prior for unknown coordinate {name!r}; priors are keyed "
                    f"by {', '.join(self.theta_names)}"
                )
            specs[name] = dict(spec)
        return specs

    def describe(self) -> str:
        """One block of text: name, formula, parameters with boxes, columns and source."""
        boxes = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, (lo, hi) in self.params.items())
        lines = [self.name, f"  L = {self.formula}" if self.formula else "  (no formula given)"]
        lines.append(f"  parameters: {boxes}")
        lines.append(f"  columns: {', '.join(self.columns)}")
        lines.append(f"  start grid: {self.grid().shape[0]} starts")
        if self.source:
            lines.append(f"  source: {self.source}")
        return "\n".join(lines)


def grid_points_per_axis(n_params: int) -> int:
    """Most points per axis with ``k ** n_params <= MAX_GRID_STARTS`` (at least 2)."""
    k = 2
    while (k + 1) ** n_params <= MAX_GRID_STARTS:
        k += 1
    return k


def default_grid(law: Law) -> np.ndarray:
    """Evenly spaced points per axis over the boxes in ``theta`` (see ``MAX_GRID_STARTS``)."""
    lo, hi = law.theta_box()
    k = grid_points_per_axis(law.n_params)
    axes = [np.linspace(a, b, k) for a, b in zip(lo, hi, strict=True)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, law.n_params)


def default_priors(law: Law) -> dict[str, dict]:
    """Weakly informative: normal in ``theta``, mean the box's centre, scale its width."""
    lo, hi = law.theta_box()
    return {
        name: {"dist": "normal", "loc": float((a + b) / 2), "scale": float(b - a)}
        for name, a, b in zip(law.theta_names, lo, hi, strict=True)
    }


class NumericFrontier:
    """Compute-optimal allocation found numerically at ``flops``, and its power-law summary."""

    def __init__(self, flops, log_n_opt, frontier: Frontier):
        self.flops = flops
        self.log_n_opt = log_n_opt
        self.frontier = frontier


def optimal_log_params(law: Law, theta, flops):
    """``ln N_opt`` minimising the law's loss at each budget ``flops`` under ``C = 6 N D``.

    A coarse scan brackets the optimum, golden-section search narrows the bracket and a few
    guarded Newton steps polish it (the loss need not be convex or smooth: a step is kept only
    when it stays in the bracket and lowers the loss). NaN where the optimum lies at the edge
    of the searched span (``SEARCH_HALF_WIDTH``) or the loss is not finite.
    """
    p = law.to_params(theta)
    dtype = jnp.result_type(theta)

    def loss_at(log_n, log_c):
        n = jnp.exp(log_n)
        x = law.inputs_at(n, jnp.exp(log_c) / (6.0 * n))
        value = law.predict(p, x)
        return jnp.where(value > 0, jnp.log(jnp.where(value > 0, value, 1.0)), jnp.inf)

    def one_budget(log_c):
        centre = 0.5 * (log_c - math.log(6.0))
        span = jnp.linspace(-SEARCH_HALF_WIDTH, SEARCH_HALF_WIDTH, SEARCH_POINTS, dtype=dtype)
        scan = centre + span
        values = jax.vmap(lambda u: loss_at(u, log_c))(scan)
        values = jnp.where(jnp.isnan(values), jnp.inf, values)
        best = jnp.argmin(values)
        spacing = span[1] - span[0]
        low, high = scan[best] - spacing, scan[best] + spacing
        inv_phi = (math.sqrt(5.0) - 1.0) / 2.0

        def golden(_, bracket):
            left_end, right_end = bracket
            left = right_end - inv_phi * (right_end - left_end)
            right = left_end + inv_phi * (right_end - left_end)
            keep_left = loss_at(left, log_c) <= loss_at(right, log_c)
            return (
                jnp.where(keep_left, left_end, left),
                jnp.where(keep_left, right, right_end),
            )

        narrowed = jax.lax.fori_loop(0, GOLDEN_STEPS, golden, (low, high))
        slope = jax.grad(loss_at)
        curvature = jax.grad(slope)

        def polish(_, u):
            # Loss values resolve the optimum only to ~sqrt(eps); its slope resolves it to eps.
            g, h = slope(u, log_c), curvature(u, log_c)
            trial = u - g / jnp.where(h > 0, h, jnp.inf)
            better = (
                (trial > low)
                & (trial < high)
                & (jnp.abs(slope(trial, log_c)) < jnp.abs(g))
                & jnp.isfinite(trial)
            )
            return jnp.where(better, trial, u)

        u = jax.lax.fori_loop(0, NEWTON_POLISH_STEPS, polish, 0.5 * (narrowed[0] + narrowed[1]))
        interior = (best > 0) & (best < SEARCH_POINTS - 1) & jnp.isfinite(values[best])
        return jnp.where(interior, u, jnp.nan)

    return jax.vmap(one_budget)(jnp.log(jnp.asarray(flops, dtype)))


def numeric_frontier(law: Law, theta, flops=FRONTIER_FLOPS) -> NumericFrontier:
    """``N_opt`` at each budget and the least-squares power law through them.

    ``D_opt = C / (6 N_opt)``, so ``b = 1 - a`` and ``ln g_d = -ln 6 - ln g_n`` exactly; for
    a law whose optimum is a power law (Chinchilla's) the summary is that power law.
    """
    log_c = jnp.log(jnp.asarray(flops, jnp.result_type(theta)))
    log_n = optimal_log_params(law, theta, flops)
    ok = jnp.all(jnp.isfinite(log_n))
    safe = jnp.where(ok, log_n, 0.0)
    c_bar, n_bar = jnp.mean(log_c), jnp.mean(safe)
    slope = jnp.sum((log_c - c_bar) * (safe - n_bar)) / jnp.sum((log_c - c_bar) ** 2)
    intercept = n_bar - slope * c_bar
    nan = jnp.asarray(jnp.nan, slope.dtype)
    a = jnp.where(ok, slope, nan)
    log_g_n = jnp.where(ok, intercept, nan)
    frontier = Frontier(a, 1.0 - a, log_g_n, -math.log(6.0) - log_g_n)
    return NumericFrontier(flops, log_n, frontier)


def huber_objective(law: Law, theta, arrays, weights, delta):
    """Weighted sum of Huber losses on log-loss residuals; weight-0 rows add exactly nothing."""
    present = weights > 0
    residual = jnp.where(present, law.log_loss(theta, arrays) - arrays.log_loss, 0.0)
    return jnp.sum(jnp.where(present, weights * huber(residual, delta), 0.0))


def huber_derivatives(law: Law, theta, arrays, weights, delta, majorize=0.0):
    """Value, gradient and Hessian of ``huber_objective``: the law's closed form if it has
    one, else autodiff.

    With residuals ``r(theta)`` and their Jacobian ``J``: gradient ``J^T (w h'(r))`` and Hessian
    ``J^T diag(w h''(r)) J + sum_i w_i h'(r_i) d2 r_i``. ``majorize`` in [0, 1] moves ``h''``
    of rows beyond ``delta`` from 0 toward ``delta / |r|`` (the Huber loss's half-quadratic
    majoriser), as the closed-form Chinchilla derivatives do (``solvers.SolverOptions``).
    """
    if law.derivatives is not None:
        return law.derivatives(theta, arrays, weights, delta, majorize)
    present = weights > 0

    def residuals(t):
        return jnp.where(present, law.log_loss(t, arrays) - arrays.log_loss, 0.0)

    r = residuals(theta)
    jac = jax.jacfwd(residuals)(theta)
    w = jnp.where(present, weights, 0.0)
    value = jnp.sum(jnp.where(present, weights * huber(r, delta), 0.0))
    slope = w * jnp.clip(r, -delta, delta)
    abs_r = jnp.abs(r)
    robust = jnp.where(abs_r <= delta, 1.0, majorize * delta / jnp.maximum(abs_r, delta))
    grad = jac.T @ slope
    fixed_slope = jax.lax.stop_gradient(slope)
    second = jax.hessian(lambda t: jnp.sum(fixed_slope * residuals(t)))(theta)
    hess = (jac * (w * robust)[:, None]).T @ jac + second
    return value, grad, 0.5 * (hess + hess.T)


_LOADED_LAWS: dict[tuple, Law] = {}
"""Laws loaded from files, by (resolved path, modification time, size, name)."""


def load_law_file(spec: str) -> Law:
    """The ``Law`` named ``NAME`` in ``path/to/file.py:NAME`` (``--law FILE:NAME``).

    Loading an unchanged file again returns the same ``Law``: laws hash by identity, so a
    second command with the same ``--law`` in one process reuses the first's compiled programs.
    An edited file (another modification time or size) is read afresh."""
    path_text, sep, attribute = spec.rpartition(":")
    if not sep or not path_text or not attribute:
        raise LawError(f"--law {spec!r}: write a registered name or path/to/file.py:NAME")
    path = Path(path_text)
    if not path.is_file():
        raise LawError(f"--law {spec!r}: law file {str(path)!r} does not exist")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, attribute)
    if key not in _LOADED_LAWS:
        _LOADED_LAWS[key] = _read_law_file(path, attribute)
    return _LOADED_LAWS[key]


def _read_law_file(path: Path, attribute: str) -> Law:
    """Import ``path`` as a module of its own and return its ``Law`` named ``attribute``."""
    module_spec = importlib.util.spec_from_file_location(f"_scalinglaw_law_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except LawError as error:
        raise LawError(f"law file {str(path)!r}: {error}") from None
    except Exception as error:  # the user's file: name it and what it raised
        raise LawError(
            f"law file {str(path)!r} failed to import: {type(error).__name__}: {error}"
        ) from None
    if not hasattr(module, attribute):
        defined = sorted(n for n, v in vars(module).items() if isinstance(v, Law))
        raise LawError(
            f"law file {str(path)!r} defines no {attribute!r}; laws defined there: "
            f"{', '.join(defined) or 'none'}"
        )
    law = getattr(module, attribute)
    if not isinstance(law, Law):
        raise LawError(
            f"{attribute!r} in {str(path)!r} is a {type(law).__name__}, not a scalinglaw_jax.Law"
        )
    return law
