"""Fit-speed benchmark: the 4,500-start Approach-3 grid, scalinglaw_jax vs a scipy loop.

Same process, same data (Epoch AI's 240 Chinchilla points), same objective. JAX is timed warm
(after compilation; compile time reported apart), median of ``--repeats``, with the starts
split over one CPU device per core (``--cpu-devices``; 1 measures JAX's default single
device); scipy runs one L-BFGS-B ``minimize`` per start with the analytic gradient, one
process on one core, as the loop is written. ``--scipy-starts K`` times an evenly
spaced subset of K starts and extrapolates to the grid (reported as such); 4500 runs all.
Prints one JSON object.

    python benchmarks/bench_fit.py --data ../shared/data/svg_extracted_data.csv
"""

from __future__ import annotations

import os

# The scipy baseline runs with single-threaded OpenBLAS (set before numpy loads it): its BLAS
# calls are on 5-vectors, where OpenBLAS's threads only spin against other work. On the 2-core
# development machine, with another process busy, L-BFGS-B took 135 ms per start with them and
# 15 ms without: leaving them on would flatter the JAX speed-up.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.core.solvers import chinchilla_grid, use_cpu_devices

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' scipy oracle
from tests import scipy_reference  # noqa: E402


def time_jax(runs, dtype, repeats: int) -> dict:
    started = time.perf_counter()
    fit = fit_parametric(runs, dtype=dtype)
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fit = fit_parametric(runs, dtype=dtype)  # device_get inside: blocks until ready
        times.append(time.perf_counter() - started)
    warm = statistics.median(times)
    return {
        "dtype": jnp.dtype(dtype).name,
        "warm_s": warm,
        "warm_all_s": times,
        "compile_s": max(first - warm, 0.0),
        "objective": fit.objective,
        "params": fit.params,
        "a": float(fit.frontier.a),
        "start_status": fit.start_status,
        "mean_steps": float(np.mean(fit.per_start.steps)),
        "max_steps": int(np.max(fit.per_start.steps)),
    }


def time_scipy(runs, n_starts: int) -> dict:
    grid = chinchilla_grid()
    subset = grid[np.linspace(0, len(grid) - 1, n_starts).round().astype(int)]
    arrays = (np.log(runs.params), np.log(runs.tokens), np.log(runs.loss))
    started = time.perf_counter()
    best = scipy_reference.fit_grid(subset, *arrays)
    elapsed = time.perf_counter() - started
    return {
        "n_starts_timed": n_starts,
        "timed_s": elapsed,
        "full_grid_s": elapsed * len(grid) / n_starts,
        "extrapolated": n_starts < len(grid),
        "objective": float(best.fun),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/svg_extracted_data.csv")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scipy-starts", type=int, default=4500)
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument(
        "--cpu-devices",
        default="auto",
        help="CPU devices the starts are split over: an integer, or 'auto' for one per core",
    )
    args = parser.parse_args()
    use_cpu_devices(None if args.cpu_devices == "auto" else int(args.cpu_devices))
    runs = load_runs(args.data, drop_highest_loss=5)
    jax_results = [time_jax(runs, jnp.dtype(d), args.repeats) for d in args.dtypes.split(",")]
    report = {
        "benchmark": "approach3_full_grid",
        "n_rows": len(runs),
        "n_starts": len(chinchilla_grid()),
        "device": str(jax.devices()[0].device_kind),
        "platform": jax.default_backend(),
        "n_devices": jax.local_device_count(),
        "cpu_cores": os.cpu_count(),
        "jax_version": jax.__version__,
        "machine": platform.machine(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "jax": jax_results,
    }
    if args.scipy_starts > 0:
        scipy_result = time_scipy(runs, args.scipy_starts)
        report["scipy_lbfgsb"] = scipy_result
        report["speedup_float64"] = scipy_result["full_grid_s"] / jax_results[0]["warm_s"]
        report["objective_rel_diff"] = (
            jax_results[0]["objective"] - scipy_result["objective"]
        ) / scipy_result["objective"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
