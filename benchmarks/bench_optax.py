"""Should Approach 3 use optax's L-BFGS? optax.lbfgs vs the package's batched Newton solver.

Both minimise the same summed Huber objective on log loss (``parametric_objective``, Chinchilla
form, delta = 1e-3) from the same starts (every ``--stride``-th point of Chinchilla's 4,500-start
grid), with derivatives by autodiff (the generic path a user-written law takes, without
closed-form derivatives): the Newton solver through ``multistart_minimize(fun, starts)``, optax
through ``optax.lbfgs`` (zoom line search, ``value_and_grad_from_state``) in a
``lax.while_loop``, vmapped over the starts. A start has converged when the gradient's infinity
norm falls below ``gtol`` (the Newton solver's own test, relative to the objective's scale, is
reported as its status). Timed warm (compile time reported apart), median of ``--repeats``, on
Epoch AI's 240 points (``--data``) and on a simulated study of the paper's law. Prints JSON.

    python benchmarks/bench_optax.py --data ../shared/data/svg_extracted_data.csv
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scalinglaw_jax.approaches.parametric import (
    DEFAULT_DELTA,
    parametric_arrays,
    parametric_objective,
)
from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.core.solvers import DEFAULT_OPTIONS, chinchilla_grid, multistart_minimize
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.laws.simulate import simulate_chinchilla_study

LBFGS_MAX_STEPS = 2000


def newton_program(arrays, weights):
    def objective(theta):
        return parametric_objective(theta, arrays, weights, DEFAULT_DELTA)

    return jax.jit(lambda starts: multistart_minimize(objective, starts, DEFAULT_OPTIONS))


def lbfgs_program(arrays, weights, gtol: float):
    def objective(theta):
        return parametric_objective(theta, arrays, weights, DEFAULT_DELTA)

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(objective)

    def one(start):
        def step(carry):
            theta, state, _ = carry
            value, grad = value_and_grad(theta, state=state)
            updates, state = solver.update(
                grad, state, theta, value=value, grad=grad, value_fn=objective
            )
            return optax.apply_updates(theta, updates), state, jnp.max(jnp.abs(grad))

        def keep_going(carry):
            _, state, grad_norm = carry
            count = optax.tree_utils.tree_get(state, "count")
            return (count == 0) | ((count < LBFGS_MAX_STEPS) & (grad_norm >= gtol))

        theta, state, _ = jax.lax.while_loop(keep_going, step, (start, solver.init(start), jnp.inf))
        grad_norm = jnp.max(jnp.abs(jax.grad(objective)(theta)))
        steps = optax.tree_utils.tree_get(state, "count")
        return objective(theta), grad_norm, steps

    return jax.jit(jax.vmap(one))


def timed(program, starts, repeats: int):
    started = time.perf_counter()
    out = jax.block_until_ready(program(starts))
    compile_and_first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        out = jax.block_until_ready(program(starts))
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return out, median, compile_and_first - median


def compare(runs, starts, gtol: float, repeats: int) -> dict:
    arrays = parametric_arrays(runs)
    weights = jnp.ones(len(runs))
    newton, newton_s, newton_compile = timed(newton_program(arrays, weights), starts, repeats)
    (values, grad_norm, steps), lbfgs_s, lbfgs_compile = timed(
        lbfgs_program(arrays, weights, gtol), starts, repeats
    )
    newton_values = np.asarray(newton.value)
    best = min(np.nanmin(newton_values), np.nanmin(np.asarray(values)))

    def near_best(v):
        return float(np.mean(np.asarray(v) <= best * (1 + 1e-6)))

    return {
        "n_rows": len(runs),
        "n_starts": int(starts.shape[0]),
        "newton": {
            "seconds": newton_s,
            "compile_seconds": newton_compile,
            "best_objective": float(np.nanmin(newton_values)),
            "fraction_converged": float(np.mean(np.asarray(newton.status) == Status.CONVERGED)),
            "fraction_grad_below_gtol": float(np.mean(np.asarray(newton.grad_norm) < gtol)),
            "fraction_within_1e-6_of_best": near_best(newton_values),
            "median_steps": float(np.median(np.asarray(newton.steps))),
        },
        "optax_lbfgs": {
            "seconds": lbfgs_s,
            "compile_seconds": lbfgs_compile,
            "best_objective": float(np.nanmin(np.asarray(values))),
            "fraction_converged": float(np.mean(np.asarray(grad_norm) < gtol)),
            "fraction_within_1e-6_of_best": near_best(values),
            "median_steps": float(np.median(np.asarray(steps))),
            "max_steps": LBFGS_MAX_STEPS,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/svg_extracted_data.csv"))
    parser.add_argument("--stride", type=int, default=10, help="every k-th grid start (10: 450)")
    parser.add_argument("--gtol", type=float, default=1e-8, help="gradient infinity-norm test")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    starts = jnp.asarray(chinchilla_grid()[:: args.stride])
    tables = {"simulated": load_runs(simulate_chinchilla_study(jax.random.key(0))["final"])}
    if args.data.is_file():
        tables["epoch"] = load_runs(args.data, drop_highest_loss=5)
    result = {
        "backend": jax.default_backend(),
        "machine": platform.machine(),
        "optax_version": optax.__version__,
        "gtol": args.gtol,
        "tables": {
            name: compare(runs, starts, args.gtol, args.repeats) for name, runs in tables.items()
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
