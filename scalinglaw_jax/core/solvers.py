"""Batched multi-start minimisation with per-start status, and start grids.

The solver is a damped (Levenberg-Marquardt style) Newton method written for ONE start and
batched with ``vmap``. Each iteration solves ``(|H| + lam I) p = -g`` through one
eigen-decomposition (``|H|`` flips negative curvature, so saddles are left rather than
approached) and evaluates value, gradient and Hessian at the trial point ``x + p`` at once: an
accepted step already holds the derivatives the next step needs, so an iteration costs exactly
one evaluation, and there is no inner line-search loop to hold lanes of a batch apart. ``lam``
shrinks after a decrease and grows after a rejection. On the Epoch data this takes more
iterations than trying five damping levels per step with value-only evaluations but each costs
less than half as much, because on CPU the value alone is a third of the price of value,
gradient and Hessian together.

Robust (Huber-type) objectives may offer a majorising Hessian model: for rows in the linear
part of the loss the exact second derivative is zero, so far from the optimum Newton's model
sees almost no curvature and most trial steps overshoot. The half-quadratic majoriser
``h'(r) / r`` (iteratively reweighted least squares) puts that curvature back. The solver asks
for a blend, ``majorize = min(1, damping / majorizer_damping)``: the majoriser while the
damping is large (far away), the exact Hessian, and with it Newton's fast local convergence, as
the damping falls. On the Epoch grid this cuts the mean from 78 to 53 steps per start (50
with the damping factors retuned for it) and brings 2,858 of the 4,500 starts to the global
optimum instead of 1,039 (``benchmarks/bench_solver_steps.py``).

The eigen-decomposition is a cyclic Jacobi method in plain XLA operations rather than LAPACK:
LAPACK on CPU is the OpenBLAS that scipy ships, whose generic kernels returned different bits
when several simulated devices called it at once, and a batched 5 x 5 Jacobi written as fused
elementwise arithmetic is faster.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.core.status import Status


class SolverOptions(NamedTuple):
    """Static solver settings (hashable, so they may be closed over by ``jit``).

    A start has converged when the gradient's infinity norm is below ``gtol`` times
    ``max(1, |f|)``, or when ``stall_steps`` consecutive steps change neither the objective
    (relatively, by more than ``ftol``) nor the parameters (by more than ``xtol``) — the
    second test catches the kinks of a Huber objective where the gradient jumps. The damping
    (relative to the Hessian's largest eigenvalue) starts at ``initial_damping``, is multiplied
    by ``accept_shrink`` after a step that decreases the objective and by ``reject_growth``
    after one that does not. A start near its optimum (a bootstrap warm start) converges in
    fewer steps from a small ``initial_damping`` (``WARM_START_OPTIONS``), and with the exact
    Hessian throughout (``majorizer_damping=inf``): ``majorizer_damping`` is the damping at and
    above which the derivatives are asked for their majorising Hessian model in full (see the
    module docstring; objectives without one ignore it). ``queue_lanes`` (None: 64 on CPU,
    65,536 on accelerators) is the width of the multi-start schedule (see
    ``multistart_minimize``); it changes speed, not the optimum found.
    """

    max_steps: int = 400
    gtol: float = 1e-8
    ftol: float = 1e-10
    xtol: float = 1e-12
    stall_steps: int = 4
    initial_damping: float = 1e-3
    accept_shrink: float = 0.4
    reject_growth: float = 15.0
    majorizer_damping: float = 1e-8
    queue_lanes: int | None = None


DEFAULT_OPTIONS = SolverOptions()
WARM_START_OPTIONS = SolverOptions(
    initial_damping=1e-6, accept_shrink=0.3, reject_growth=10.0, majorizer_damping=math.inf
)
"""For starts at or near the optimum: 1,024 Epoch-data bootstrap resamples started at the
full-data fit take 8.2 steps on average, against 13.5 with the default damping. The majorising
model would add two or three (it slows the final, Newton-fast convergence), and the default
damping factors one (0.4 and 15 suit starts far away, 0.3 and 10 warm ones)."""
POLISH_STEPS = 6
"""Newton steps of ``polish``: from a converged start (gradient below ``gtol``) quadratic
convergence reaches rounding level in two or three."""
JACOBI_SWEEPS = 6
"""Sweeps of ``symmetric_eigh``: random 5 x 5 matrices of condition up to 1e14 reach machine
precision in 6 (reconstruction error ~2e-15; after 5 it can still be 6e-8)."""
CPU_QUEUE_LANES = 64
"""Lanes stepped together on CPU when ``SolverOptions.queue_lanes`` is None (measured best)."""
ACCELERATOR_QUEUE_LANES = 65_536
"""Lanes stepped together on accelerators: enough to fill a GPU, while a full-mode bootstrap
chunk (hundreds of resamples x 4,500 starts) still goes through the queue rather than in
lock-step to its slowest start (341 steps on the Epoch grid, against a mean of 78)."""


class SolveResult(NamedTuple):
    """Outcome of one start (batched along leading axes when vmapped)."""

    x: jnp.ndarray
    value: jnp.ndarray
    grad_norm: jnp.ndarray
    steps: jnp.ndarray
    status: jnp.ndarray


class _State(NamedTuple):
    x: jnp.ndarray
    value: jnp.ndarray
    grad: jnp.ndarray
    hess: jnp.ndarray
    damping: jnp.ndarray
    stall: jnp.ndarray
    steps: jnp.ndarray
    done: jnp.ndarray
    lane: object


class _Newton(NamedTuple):
    """Per-lane damped-Newton machinery for one objective (closures over data)."""

    init: Callable
    step: Callable
    run: Callable
    result: Callable


def symmetric_eigh(matrix, sweeps: int = JACOBI_SWEEPS):
    """Eigenvalues and eigenvectors (columns) of a small symmetric matrix, by cyclic Jacobi.

    Each rotation zeroes one off-diagonal pair. The entries are carried as separate scalars
    (vectors across lanes under ``vmap``), so a sweep is one stretch of elementwise arithmetic
    that XLA fuses: faster than LAPACK's per-matrix calls for a batch of 5 x 5 matrices. A fixed
    number of sweeps keeps the program free of data-dependent loops. Eigenvalues come unsorted.
    """
    size = matrix.shape[-1]
    pairs = list(itertools.combinations(range(size), 2))

    def sweep(_, state):
        mat, vec = state
        diag = [mat[i, i] for i in range(size)]
        off = {(i, j): mat[i, j] for i, j in pairs}
        v = [[vec[i, j] for j in range(size)] for i in range(size)]
        for p, q in pairs:
            a_pq = off[p, q]
            tau = (diag[q] - diag[p]) / (2.0 * a_pq)
            t = jnp.sign(tau) / (jnp.abs(tau) + jnp.sqrt(1.0 + tau * tau))
            t = jnp.where((a_pq == 0) | ~jnp.isfinite(tau), 0.0, t)  # already diagonal in (p, q)
            c = 1.0 / jnp.sqrt(1.0 + t * t)
            s = t * c
            diag[p], diag[q] = diag[p] - t * a_pq, diag[q] + t * a_pq
            off[p, q] = jnp.zeros_like(a_pq)
            for r in range(size):
                if r not in (p, q):
                    rp, rq = (min(r, p), max(r, p)), (min(r, q), max(r, q))
                    a_rp, a_rq = off[rp], off[rq]
                    off[rp], off[rq] = c * a_rp - s * a_rq, s * a_rp + c * a_rq
                v_rp, v_rq = v[r][p], v[r][q]
                v[r][p], v[r][q] = c * v_rp - s * v_rq, s * v_rp + c * v_rq
        rows = [
            [diag[i] if i == j else off[min(i, j), max(i, j)] for j in range(size)]
            for i in range(size)
        ]
        return jnp.stack([jnp.stack(row) for row in rows]), jnp.stack([jnp.stack(row) for row in v])

    start = (matrix, jnp.eye(size, dtype=matrix.dtype))
    mat, vec = jax.lax.fori_loop(0, sweeps, sweep, start)
    return jnp.diagonal(mat), vec


STALL_EPS_MULTIPLE = 16.0
"""Stall tolerances are at least this many machine epsilons of the working dtype."""


def _stall_tolerances(options: SolverOptions, dtype) -> tuple[float, float]:
    """``(xtol, ftol)`` no finer than the dtype resolves: the defaults (1e-12, 1e-10) are below
    float32's epsilon (1.2e-7), where changes that small are never seen and every start would
    run to ``max_steps``. float64 keeps the defaults."""
    floor = STALL_EPS_MULTIPLE * float(jnp.finfo(dtype).eps)
    return max(options.xtol, floor), max(options.ftol, floor)


def _damped_newton_step(grad, hess, damping):
    """The damped Newton step: the Hessian's eigenvalues taken in absolute value and shifted by
    ``damping`` times their scale, so the model is convex and the step bounded."""
    eigval, eigvec = symmetric_eigh(hess)
    scale = jnp.maximum(1.0, jnp.max(jnp.abs(eigval)))
    shifted = jnp.abs(eigval) + damping * scale
    return -((eigvec.T @ grad) / shifted) @ eigvec.T


def _stall_count(options: SolverOptions, state, p, predicted, actual, accept):
    """Consecutive steps without progress worth having: a tiny step, or a predicted (or, for an
    accepted step, achieved) relative decrease below ftol. Rejected steps with a large
    predicted decrease do not count."""
    xtol, ftol = _stall_tolerances(options, state.x.dtype)
    tiny_step = jnp.max(jnp.abs(p)) <= xtol * (1.0 + jnp.max(jnp.abs(state.x)))
    negligible = ftol * jnp.abs(state.value)
    flat = (predicted <= negligible) | (accept & (actual <= negligible))
    return jnp.where(tiny_step | flat, state.stall + 1, 0)


def _newton(
    fun: Callable | None, value_grad_hess: Callable | None, options: SolverOptions
) -> _Newton:
    """Machinery for ``fun(x, lane)``: ``lane`` is per-lane data (a pytree, or None). Only the
    derivatives ``value_grad_hess(x, lane, majorize)`` are evaluated, so ``fun`` is needed
    only when they are not given (autodiff then, which has no majorising model)."""
    if value_grad_hess is None:
        value_and_grad = jax.value_and_grad(fun)
        hessian = jax.hessian(fun)

        def value_grad_hess(x, lane, majorize):
            del majorize  # autodiff knows only the exact Hessian
            value, grad = value_and_grad(x, lane)
            return value, grad, hessian(x, lane)

    def majorize(damping):
        return jnp.minimum(1.0, damping / options.majorizer_damping)

    def gradient_small(value, grad):
        return jnp.max(jnp.abs(grad)) <= options.gtol * jnp.maximum(1.0, jnp.abs(value))

    def init(x0, lane=None) -> _State:
        damping = jnp.asarray(options.initial_damping, x0.dtype)
        value, grad, hess = value_grad_hess(x0, lane, majorize(damping))
        return _State(
            x=x0,
            value=value,
            grad=grad,
            hess=hess,
            damping=damping,
            stall=jnp.asarray(0),
            steps=jnp.asarray(0),
            done=gradient_small(value, grad) | ~jnp.isfinite(value),
            lane=lane,
        )

    def step(state: _State) -> _State:
        p = _damped_newton_step(state.grad, state.hess, state.damping)
        # The trial's Hessian is the next step's if the step is accepted: its model is blended
        # for the damping that step will then have.
        trial_value, trial_grad, trial_hess = value_grad_hess(
            state.x + p, state.lane, majorize(state.damping * options.accept_shrink)
        )
        predicted = -(state.grad @ p + 0.5 * p @ state.hess @ p)
        actual = state.value - trial_value
        accept = (
            (actual > 0)
            & jnp.isfinite(trial_value)
            & jnp.all(jnp.isfinite(trial_grad))
            & jnp.all(jnp.isfinite(trial_hess))
        )
        damping = state.damping * jnp.where(accept, options.accept_shrink, options.reject_growth)
        damping = jnp.clip(damping, 1e-15, 1e15)
        x_new, value_new, grad_new, hess_new = (
            jnp.where(accept, new, old)
            for new, old in (
                (state.x + p, state.x),
                (trial_value, state.value),
                (trial_grad, state.grad),
                (trial_hess, state.hess),
            )
        )
        stall = _stall_count(options, state, p, predicted, actual, accept)
        done = (
            gradient_small(value_new, grad_new)
            | (stall >= options.stall_steps)
            | ~jnp.isfinite(value_new)
            | (damping >= 1e15)
        )
        return _State(
            x_new, value_new, grad_new, hess_new, damping, stall, state.steps + 1, done, state.lane
        )

    def run(state: _State) -> _State:
        """Step one lane until it is done or has taken ``max_steps`` steps."""
        return jax.lax.while_loop(lambda s: ~s.done & (s.steps < options.max_steps), step, state)

    def result(state: _State) -> SolveResult:
        finite = jnp.isfinite(state.value) & jnp.all(jnp.isfinite(state.x), axis=-1)
        converged = gradient_small(state.value, state.grad) | (state.stall >= options.stall_steps)
        status = jnp.where(
            ~finite, Status.NON_FINITE, jnp.where(converged, Status.CONVERGED, Status.MAX_STEPS)
        )
        grad_norm = jnp.max(jnp.abs(state.grad), axis=-1)
        return SolveResult(state.x, state.value, grad_norm, state.steps, status)

    return _Newton(init, step, run, result)


def newton_minimize(
    fun: Callable | None,
    x0: jnp.ndarray,
    options: SolverOptions = DEFAULT_OPTIONS,
    value_grad_hess: Callable | None = None,
) -> SolveResult:
    """Minimise ``fun(x)`` from one start ``x0`` by damped Newton; never raises on bad lanes.

    ``value_grad_hess(x, majorize)`` may supply closed-form derivatives (cheaper than the
    autodiff Hessian used otherwise); ``fun`` is then not evaluated and may be None.
    ``majorize`` in [0, 1] is the weight the solver wants on a majorising Hessian model
    (``SolverOptions.majorizer_damping``); derivatives without one ignore it.
    """
    newton = _newton(*_without_lane(fun, value_grad_hess), options)
    return newton.result(newton.run(newton.init(x0)))


def polish(
    value_grad_hess: Callable, x: jnp.ndarray, steps: int = POLISH_STEPS, terms: int = 1
) -> SolveResult:
    """Plain Newton steps from a converged point ``x``, each kept only if it shrinks the
    gradient's largest entry and does not raise the objective beyond rounding: ``max(16,
    terms)`` machine epsilons relative, ``terms`` being the number of summands of the
    objective (its rows), whose sum is exact only to about that many (with 16 on a table of 81
    rows, a step that took the gradient from 2e-10 to 1e-15 was refused for a rise of 0.7 of
    the tolerance).

    Near the optimum the objective changes by less than its own rounding error (~1e-16
    relative) long before the parameters stop moving (~1e-8 relative), so a minimiser that
    accepts steps by objective decrease stops anywhere in that flat region: two starts that
    reach one basin agree in objective but only to ~1e-8 in parameters. The gradient still
    resolves the point, and Newton on it (the Hessian positive definite, as at a minimum)
    takes both to the same parameters at rounding level. ``value_grad_hess(x, majorize)``.
    """
    tolerance = max(16.0, float(terms)) * float(jnp.finfo(x.dtype).eps)

    def step(_, state):
        x, value, grad, hess = state
        eigval, eigvec = symmetric_eigh(hess)
        newton = -((eigvec.T @ grad) / eigval) @ eigvec.T
        trial = value_grad_hess(x + newton, 0.0)
        t_value, t_grad, t_hess = trial
        keep = (
            jnp.all(eigval > 0)
            & jnp.isfinite(t_value)
            & jnp.all(jnp.isfinite(t_grad))
            & jnp.all(jnp.isfinite(t_hess))
            & (jnp.max(jnp.abs(t_grad)) < jnp.max(jnp.abs(grad)))
            & (t_value <= value + tolerance * jnp.abs(value))
        )
        return jax.tree_util.tree_map(
            lambda new, old: jnp.where(keep, new, old), (x + newton, *trial), state
        )

    x, value, grad, _ = jax.lax.fori_loop(0, steps, step, (x, *value_grad_hess(x, 0.0)))
    return SolveResult(x, value, jnp.max(jnp.abs(grad)), jnp.asarray(steps), Status.CONVERGED)


def _without_lane(fun, value_grad_hess):
    """``fun(x)`` and ``value_grad_hess(x, majorize)`` as the ``(x, lane[, majorize])``
    functions ``_newton`` takes."""
    return (
        None if fun is None else (lambda x, _: fun(x)),
        None if value_grad_hess is None else (lambda x, _, majorize: value_grad_hess(x, majorize)),
    )


def multistart_minimize(
    fun: Callable | None,
    starts: jnp.ndarray,
    options: SolverOptions = DEFAULT_OPTIONS,
    value_grad_hess: Callable | None = None,
    lane_data=None,
) -> SolveResult:
    """Minimise from every row of ``starts``; results are batched along the first axis.

    Without ``lane_data`` every lane minimises ``fun(x)``. With it (a pytree whose leaves have
    a leading lane axis), lane ``i`` minimises ``fun(x, lane_data[i])`` — e.g. one bootstrap
    resample per lane, so resamples share the scheduling below. As in ``newton_minimize``,
    ``fun`` may be None when ``value_grad_hess(x[, lane], majorize)`` supplies the derivatives.

    Lanes of one vmapped loop step in lock-step, so a slow start keeps every finished lane
    computing. On CPU the starts therefore go through a queue: ``queue_lanes`` slots are
    stepped together, and a slot whose lane finishes takes the next unstarted lane before the
    next step. The step is compiled once for a fixed width, the (lanes x rows) temporaries stay
    in cache, and only the last lanes leave slots idle (an earlier version, rounds of 8 steps
    per batch of lanes, kept 20% of the slots idle on warm-started bootstrap resamples).
    Accelerators use the same queue ``ACCELERATOR_QUEUE_LANES`` wide, so fewer starts than
    that step all together. Either way each lane takes the steps it would take alone, and its
    bits do not depend on the other lanes in the queue; the queue's width can change the last
    bits (XLA vectorises the step's small matrix products differently for different widths).
    """
    if lane_data is None:
        fun, value_grad_hess = _without_lane(fun, value_grad_hess)
    newton = _newton(fun, value_grad_hess, options)
    n_starts = starts.shape[0]
    lanes = min(queue_lanes(options), n_starts)
    if lanes == n_starts:
        states = jax.vmap(newton.init)(starts, lane_data)
        return jax.vmap(newton.result)(jax.vmap(newton.run)(states))
    states = _init_in_blocks(newton, starts, lane_data, lanes)
    return jax.vmap(newton.result)(_queue(newton, states, lanes, options.max_steps))


def queue_lanes(options: SolverOptions) -> int:
    """Width of the multi-start queue: ``options.queue_lanes``, else the backend's default."""
    if options.queue_lanes is not None:
        return options.queue_lanes
    return CPU_QUEUE_LANES if jax.default_backend() == "cpu" else ACCELERATOR_QUEUE_LANES


def start_mesh(n_starts: int, options: SolverOptions = DEFAULT_OPTIONS, devices=None):
    """A 1-D mesh (axis ``start``) to split ``n_starts`` starts over, or None to stay on one.

    ``devices`` defaults to the local devices of the default backend. Starts are split only
    when every device gets more than a full queue (``queue_lanes``): a device then runs the
    very program one device would, and each start's bits do not depend on the device count.
    On CPU, ``use_cpu_devices`` gives one device per core, each running its own queue on its
    own thread.
    """
    devices = jax.local_devices() if devices is None else list(devices)
    if len(devices) < 2 or n_starts // len(devices) <= queue_lanes(options):
        return None
    return jax.sharding.Mesh(np.array(devices), ("start",))


GLIBC_M_ARENA_MAX = -8
"""``mallopt`` parameter of glibc's ``<malloc.h>``: the most malloc arenas a process keeps."""


def share_malloc_arena() -> bool:
    """Make every thread allocate from glibc's one main malloc arena; True if set. Effective
    only before a second thread has allocated (glibc fixes its arena limit then): call it
    before JAX runs anything, as ``use_cpu_devices`` does (or set ``MALLOC_ARENA_MAX=1``).

    Several CPU devices run on their own threads, and glibc gives each thread that allocates
    concurrently an arena of its own; memory freed into one arena is not reused by the
    others, so the XLA runtime's buffers piled up per thread: an exhaustive fit (450 starts,
    2,400 rows) peaked at 0.96 GiB on two devices, 0.67 GiB with one arena, as on one device,
    at the same CPU time (``benchmarks/RESULTS.md``, "Scale", which also describes a growth
    on larger tables that this does not remove). A no-op (False) off glibc (macOS, musl).
    """
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(GLIBC_M_ARENA_MAX, 1))


def use_cpu_devices(count: int | None = None) -> int:
    """Give JAX ``count`` CPU devices (None: one per core) and return the number.

    Multi-start fits (``start_mesh``) and bootstrap sweeps split their work over devices, and
    on CPU a device runs on one thread: one per core uses every core without XLA's intra-op
    threads contending (the Epoch grid fit is 2.4x faster on 2 cores than as one device).
    With more than one, the threads share one malloc arena (``share_malloc_arena``).
    Must be called before JAX runs anything; raises ``RuntimeError`` after.
    """
    count = (os.cpu_count() or 1) if count is None else int(count)
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError as error:
        raise RuntimeError(
            f"cannot switch to {count} CPU devices: JAX has already run a computation "
            "(call use_cpu_devices first, or pass --cpu-devices to the scalinglaw command)"
        ) from error
    if count > 1:
        share_malloc_arena()
    return count


def shard_starts(solve: Callable, starts, mesh) -> SolveResult:
    """``solve(starts)`` with the starts split over ``mesh`` (None: not split).

    Device ``d`` of ``k`` gets starts ``d, d + k, d + 2k, ...``: neighbouring grid starts take
    similar numbers of steps, so contiguous blocks would leave one device idle while another
    finishes (18% of the time on the Epoch grid over two devices). The starts are padded with
    copies of the last one to a multiple of the devices, and the padding's results dropped.
    """
    if mesh is None:
        return solve(starts)
    n_starts, n_devices = starts.shape[0], mesh.size
    padded = _pad_with_last(starts, n_devices)
    dealt = padded.reshape(-1, n_devices, starts.shape[1]).swapaxes(0, 1).reshape(padded.shape)
    spec = jax.sharding.PartitionSpec("start")
    # check_vma=False: the solver's loops mix per-device and replicated values.
    sharded = jax.shard_map(solve, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)

    def collect(leaf):
        per_device = leaf.reshape((n_devices, -1) + leaf.shape[1:])
        return per_device.swapaxes(0, 1).reshape(leaf.shape)[:n_starts]

    return jax.tree_util.tree_map(collect, sharded(dealt))


def _pad_with_last(leaf, multiple: int):
    """``leaf`` with copies of its last row appended, to a multiple of ``multiple`` rows."""
    return jnp.concatenate([leaf, jnp.repeat(leaf[-1:], -leaf.shape[0] % multiple, axis=0)])


def _init_in_blocks(newton: _Newton, starts, lane_data, width: int) -> _State:
    """Initial states computed ``width`` lanes at a time, the width the queue steps them at:
    vmapped arithmetic can round differently at different widths, and this keeps a lane's
    bits independent of how many lanes there are."""
    n_lanes = starts.shape[0]
    tree_map = jax.tree_util.tree_map

    def blocks(leaf):
        return _pad_with_last(leaf, width).reshape((-1, width) + leaf.shape[1:])

    states = jax.lax.map(
        lambda block: jax.vmap(newton.init)(*block), tree_map(blocks, (starts, lane_data))
    )
    return tree_map(lambda leaf: leaf.reshape((-1,) + leaf.shape[2:])[:n_lanes], states)


def _queue(newton: _Newton, states: _State, lanes: int, max_steps: int) -> _State:
    """Step ``lanes`` lanes at a time; a lane that finishes hands its slot to the next lane."""
    n_lanes = states.x.shape[0]
    tree_map = jax.tree_util.tree_map

    def finished(work):
        return work.done | (work.steps >= max_steps)

    def where(mask, new, old):
        return tree_map(
            lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b), new, old
        )

    def body(carry):
        states, slot, cursor, work = carry
        work = where(finished(work), work, jax.vmap(newton.step)(work))
        states = tree_map(lambda leaf, w: leaf.at[slot].set(w, mode="drop"), states, work)
        free = finished(work)
        taken = cursor + jnp.cumsum(free) - 1
        slot = jnp.where(free, jnp.where(taken < n_lanes, taken, n_lanes), slot)
        fetched = tree_map(lambda leaf: leaf[jnp.minimum(slot, n_lanes - 1)], states)
        work = where(free, fetched, work)
        return states, slot, cursor + jnp.sum(free), work

    slot = jnp.arange(lanes)
    start = (states, slot, jnp.asarray(lanes), tree_map(lambda leaf: leaf[slot], states))
    states, *_ = jax.lax.while_loop(lambda carry: jnp.any(carry[1] < n_lanes), body, start)
    return states


class Screening(NamedTuple):
    """Multi-fidelity multi-start settings (static, hashable).

    Every start takes ``steps`` solver steps on a cheap objective (the table itself, or a
    strided subsample of ``rows`` rows when it is larger); the starts are then ranked by that
    objective and at most ``candidates`` are finished to convergence on the whole table,
    distinct basins first: a start whose screened point lies within ``basin_radius`` (largest
    coordinate difference) of a better-ranked pick is taken only if there are not enough
    distinct ones. The grid's thousands of starts fall into a handful of basins, so finishing
    a few dozen of them costs a small part of finishing all; ``benchmarks/bench_scale.py``
    and ``tests/test_screening.py`` check that the optimum is the exhaustive grid's.
    """

    steps: int = 20
    rows: int = 2048
    candidates: int = 64
    basin_radius: float = 1e-2


DEFAULT_SCREENING = Screening()
BOOTSTRAP_SCREENING = Screening(steps=6, rows=64, candidates=32)
"""Full-mode bootstrap's screening per resample: fewer steps on fewer rows than a single fit's,
because the screening stage is nearly all of a sweep's cost (4,500 starts x the steps, against
32 candidates finished), and resamples of one table share its landscape, which the full-data
fit has already searched with ``DEFAULT_SCREENING``. On 200 Epoch resamples every draw equals
the exhaustive grid's (objective within 7e-15 relative, ``a`` within 9e-9) at 0.24 s of CPU
per resample, against 0.57 s with 10 steps on all 240 rows and 2.7 s exhaustive."""


def select_candidates(x, value, n_candidates: int, radius: float):
    """Indices of ``n_candidates`` starts to finish, from screened points ``x`` and values.

    Starts are ranked by value (non-finite last). Going down the ranking, a start is distinct
    when no better-ranked distinct start lies within ``radius`` (infinity norm); distinct
    starts come first, in rank order, and the rest fill any remaining places. Only the best
    ``16 * n_candidates`` are compared, which bounds the cost at any grid size.
    """
    finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(x), axis=-1)
    order = jnp.argsort(jnp.where(finite, value, jnp.inf), stable=True)
    n_compared = min(order.shape[0], 16 * n_candidates)
    ranked = order[:n_compared]
    points, ok = x[ranked], finite[ranked]

    def mark(i, distinct):
        near = jnp.max(jnp.abs(points - points[i]), axis=-1) < radius
        earlier = jnp.arange(n_compared) < i
        return distinct.at[i].set(ok[i] & ~jnp.any(near & earlier & distinct))

    distinct = jax.lax.fori_loop(0, n_compared, mark, jnp.zeros(n_compared, bool))
    rank = jnp.arange(n_compared)
    preference = jnp.where(distinct, rank, n_compared + rank)
    return ranked[jnp.argsort(preference, stable=True)[:n_candidates]]


def screen_starts(
    screen_derivatives: Callable,
    starts: jnp.ndarray,
    options: SolverOptions = DEFAULT_OPTIONS,
    screening: Screening = DEFAULT_SCREENING,
    mesh=None,
) -> SolveResult:
    """Multi-fidelity multi-start, stage 1: ``screening.steps`` steps from every start on the
    cheap objective ``screen_derivatives(x, majorize)`` (value, gradient and Hessian of the
    objective on a row subsample, or of the full one), split over ``mesh``
    (``shard_starts``). ``finish_candidates`` is stage 2."""
    screen_options = options._replace(max_steps=screening.steps)
    return shard_starts(
        lambda s: multistart_minimize(None, s, screen_options, value_grad_hess=screen_derivatives),
        starts,
        mesh,
    )


def finish_candidates(
    derivatives: Callable,
    screened: SolveResult,
    options: SolverOptions = DEFAULT_OPTIONS,
    screening: Screening = DEFAULT_SCREENING,
) -> SolveResult:
    """Multi-fidelity multi-start, stage 2: ``select_candidates`` picks
    ``screening.candidates`` of the ``screen_starts`` results, which continue from their
    screened points on the full objective ``derivatives`` until converged.

    Per-start results: the finished starts' own (steps counted over both stages); the others
    keep their screened point and value (of the cheap objective) with status
    ``SCREENED_OUT``.
    """
    chosen = select_candidates(
        screened.x, screened.value, screening.candidates, screening.basin_radius
    )
    finished = multistart_minimize(None, screened.x[chosen], options, value_grad_hess=derivatives)
    finished = finished._replace(steps=finished.steps + screened.steps[chosen])
    screened = screened._replace(status=jnp.full_like(screened.status, Status.SCREENED_OUT))
    return jax.tree_util.tree_map(lambda all_, few: all_.at[chosen].set(few), screened, finished)


def chinchilla_grid() -> np.ndarray:
    """Chinchilla's 4,500-start grid over ``(a, b, e, alpha, beta)``.

    alpha, beta in {0, 0.5, ..., 2}; e in {-1, -0.5, ..., 1}; a, b in {0, 5, ..., 25}.
    """
    return product_grid(
        a=np.arange(0.0, 25.1, 5.0),
        b=np.arange(0.0, 25.1, 5.0),
        e=np.arange(-1.0, 1.01, 0.5),
        alpha=np.arange(0.0, 2.01, 0.5),
        beta=np.arange(0.0, 2.01, 0.5),
    )


LOSS_SCALE_THETA = ("log_A", "log_B", "log_E")
"""Engine coordinates that shift by ``ln s`` when every loss is multiplied by ``s``: the logs
of the multiplicative coefficients of the lawbook's Chinchilla-type laws (loss linear in them)."""


def loss_unit_offset(loss, theta_names: Sequence[str]) -> np.ndarray:
    """Shift that moves a default start grid to the decade of the data's losses.

    The grids are laid out for losses of order 1 (nats per token). Multiplying every loss by
    ``10^k`` shifts ``(a, b, e)`` of the optimum by ``k ln 10`` and leaves the exponents as they
    are, so shifting the grid by the same amount makes the fit's exponents independent of the
    loss unit. Zero for losses in [1, 10) and for forms without those parameters.
    """
    decade = float(np.floor(np.log10(np.min(np.asarray(loss, dtype=np.float64)))))
    return np.array([decade * np.log(10.0) if n in LOSS_SCALE_THETA else 0.0 for n in theta_names])


def product_grid(**axes: Sequence[float]) -> np.ndarray:
    """Cartesian product of named 1-D axes, in the order given, as a (n_starts, n_axes) array."""
    return np.array(list(itertools.product(*axes.values())), dtype=np.float64)


def random_starts(key, n_starts: int, low: Sequence[float], high: Sequence[float]) -> jnp.ndarray:
    """Uniform random starts in the box ``[low, high]`` (one row per start)."""
    low = jnp.asarray(low, dtype=jnp.float64)
    high = jnp.asarray(high, dtype=jnp.float64)
    return jax.random.uniform(key, (n_starts, low.shape[0]), minval=low, maxval=high)


def free_memory_bytes(device=None) -> float:
    """Free memory of ``device`` (accelerator statistics, else the host's available RAM)."""
    device = device or jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
