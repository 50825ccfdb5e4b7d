"""Scale benchmark (issue 16): Approach 3 on tables of 240 to 240,000 rows.

The Chinchilla law, summed Huber (delta 1e-3) on log loss, Chinchilla's 4,500-start grid, on
two families of tables at each size (rows must be multiples of 240 and of 48):

- ``epoch``: Epoch AI's 240 points (``load_runs(..., drop_highest_loss=5)``, the standard
  replication) stacked ``rows / 240`` times; the first copy as published, every other copy's
  losses multiplied by ``exp(noise * z)``, ``z`` standard normal (seeded), so 240 rows is the
  standard replication itself;
- ``simulated``: training curves from Chinchilla's law (``simulate.simulate_training_curves``:
  12 sizes x 4 horizons = 48 cosine-schedule runs, ``rows / 48`` checkpoints each, the same
  multiplicative noise): the table a user gets by fitting ``L(N, D)`` to every checkpoint.

Each (family, size) runs in a fresh process, so its peak memory (``ru_maxrss``) is its own,
and measures in that one process, on the same machine:

- ``jax``: the screened fit (``fit_parametric``; ``DEFAULT_SCREENING`` unless told otherwise),
  warm (median of ``--repeats`` after a first call whose excess is reported as
  ``compile_s``), wall and process CPU time (user + sys, every thread), the starts split over
  ``--cpu-devices`` (default one per core, as the CLI does);
- ``scipy``: ``scipy_reference.fit_grid`` (one L-BFGS-B ``minimize`` per start, analytic
  gradient, single-threaded OpenBLAS) on an evenly spaced subset of the grid, extrapolated to
  4,500 starts: ``--scipy-starts`` starts, fewer on large tables so that no size times more
  than ``--scipy-row-starts`` rows x starts (100 starts up to 24,000 rows, 10 at 240,000);
- ``exhaustive``: the same fit with ``screening=None`` (every start solved; one call, compile
  included) on tables of at most ``--exhaustive-max-rows`` rows, and the relative difference
  of the screened optimum's objective and natural-scale parameters from it.

``--screening-steps``, ``--screening-rows``, ``--screening-candidates`` and
``--screening-basin-radius`` replace the fields of ``DEFAULT_SCREENING`` (to measure other
settings against the same exhaustive optimum). ``--profile`` adds the cost of each screened
stage (screening, candidates, polish), each compiled on its own and timed warm. Prints one
JSON object (``load_average`` before and after says how busy the machine was).

    python benchmarks/bench_scale.py --data ../shared/data/svg_extracted_data.csv
"""

from __future__ import annotations

import os

# The scipy baseline runs with single-threaded OpenBLAS (set before numpy loads it), as in
# bench_fit.py: its BLAS calls are on 5-vectors, where threads only spin against other work.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaw_jax.approaches.parametric import (
    DEFAULT_DELTA,
    fit_parametric,
    parametric_arrays,
    resample_derivatives,
    screening_derivatives,
)
from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.core.solvers import (
    DEFAULT_OPTIONS,
    DEFAULT_SCREENING,
    Screening,
    chinchilla_grid,
    loss_unit_offset,
    multistart_minimize,
    polish,
    queue_lanes,
    select_candidates,
    shard_starts,
    start_mesh,
    use_cpu_devices,
)
from scalinglaw_jax.laws import get_law
from scalinglaw_jax.laws.simulate import simulate_training_curves

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' scipy oracle
from tests import scipy_reference  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "svg_extracted_data.csv"
FAMILIES = ("epoch", "simulated")
EPOCH_ROWS = 240
SIMULATED_RUNS = 48
"""Runs of ``simulate_training_curves``' default design: 12 sizes x 4 horizons."""


def epoch_table(data: Path, n_rows: int, noise: float, key) -> pd.DataFrame:
    """Epoch's 240 rows stacked ``n_rows / 240`` times; every copy after the first with
    multiplicative log-normal noise on the loss."""
    runs = load_runs(data, drop_highest_loss=5)
    copies = n_rows // len(runs)
    z = np.asarray(jax.random.normal(key, (copies - 1, len(runs)), dtype=jnp.float64))
    factors = np.concatenate([np.ones((1, len(runs))), np.exp(noise * z)])
    return pd.DataFrame(
        {
            "params": np.tile(runs.params, copies),
            "tokens": np.tile(runs.tokens, copies),
            "loss": (runs.loss[None, :] * factors).ravel(),
        }
    )


def simulated_table(n_rows: int, noise: float, key) -> pd.DataFrame:
    """Training curves of Chinchilla's law: 48 runs, ``n_rows / 48`` checkpoints each."""
    return simulate_training_curves(key, points_per_curve=n_rows // SIMULATED_RUNS, noise=noise)


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def maxrss_mib() -> float:
    """Peak resident memory of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(call):
    """``call()``, its wall time and its process CPU time."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = call()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def fit_summary(fit) -> dict:
    return {
        "objective": fit.objective,
        "params": fit.params,
        "n_converged": fit.n_converged,
        "start_status": fit.start_status,
        "screening_rows": fit.screening_rows,
        "screening_fallback": fit.screening_fallback,
    }


def time_screened(runs, screening: Screening, repeats: int) -> dict:
    """The screened fit: a first call (compile), then ``repeats`` warm calls."""
    fit, first, _ = timed(lambda: fit_parametric(runs, screening=screening))
    walls, cpus = [], []
    for _ in range(repeats):
        # device_get inside: blocks until ready
        fit, wall, cpu = timed(lambda: fit_parametric(runs, screening=screening))
        walls.append(wall)
        cpus.append(cpu)
    warm = statistics.median(walls)
    return {
        "warm_s": warm,
        "warm_all_s": walls,
        "cpu_s": statistics.median(cpus),
        "compile_s": max(first - warm, 0.0),
        **fit_summary(fit),
    }, fit


def time_scipy(runs, grid: np.ndarray, n_starts: int) -> dict:
    """The scipy loop on ``n_starts`` evenly spaced starts, extrapolated to the grid."""
    subset = grid[np.linspace(0, len(grid) - 1, n_starts).round().astype(int)]
    arrays = (np.log(runs.params), np.log(runs.tokens), np.log(runs.loss))
    best, wall, cpu = timed(lambda: scipy_reference.fit_grid(subset, *arrays))
    return {
        "n_starts_timed": n_starts,
        "timed_s": wall,
        "timed_cpu_s": cpu,
        "full_grid_s": wall * len(grid) / n_starts,
        "full_grid_cpu_s": cpu * len(grid) / n_starts,
        "best_objective_of_subset": float(best.fun),
    }


def relative_differences(screened, exhaustive) -> dict:
    """Relative difference of the screened fit from the exhaustive one: objective, and the
    largest over the natural-scale parameters."""
    params = {
        name: abs(screened.params[name] - value) / abs(value)
        for name, value in exhaustive.params.items()
    }
    return {
        "objective": abs(screened.objective - exhaustive.objective) / abs(exhaustive.objective),
        "params_max": max(params.values()),
        "params": params,
    }


def profile_stages(runs, grid: np.ndarray, screening: Screening, repeats: int) -> dict:
    """Warm wall time of each stage of the screened fit, each compiled on its own:
    screening every start on the row subsample, choosing the candidates, finishing them on
    the full table, polishing the best. Mirrors ``fit_parametric_arrays``' screened path."""
    law, options = get_law("chinchilla"), DEFAULT_OPTIONS
    arrays = parametric_arrays(runs)
    weights = jnp.ones(len(runs))
    starts = jnp.asarray(grid)
    delta = jnp.asarray(DEFAULT_DELTA)
    n_lanes = min(queue_lanes(options), grid.shape[0])
    mesh = start_mesh(grid.shape[0], options)

    def per_row(arrays, weights, delta):
        return resample_derivatives(law, arrays, weights[None], delta, n_lanes)

    def derivatives(arrays, weights, delta):
        full = per_row(arrays, weights, delta)
        return lambda theta, majorize: full(theta, 0, majorize)

    @jax.jit
    def screen(arrays, weights, starts, delta):
        rows = screening_derivatives(
            law, arrays, weights[None], delta, n_lanes, screening, per_row(arrays, weights, delta)
        )

        def cheap(theta, majorize):
            return rows(theta, 0, majorize)

        screen_options = options._replace(max_steps=screening.steps)
        return shard_starts(
            lambda s: multistart_minimize(None, s, screen_options, value_grad_hess=cheap),
            starts,
            mesh,
        )

    @jax.jit
    def choose(x, value):
        return select_candidates(x, value, screening.candidates, screening.basin_radius)

    @jax.jit
    def finish(arrays, weights, x, delta):
        full = derivatives(arrays, weights, delta)
        return multistart_minimize(None, x, options, value_grad_hess=full)

    @jax.jit
    def polish_best(arrays, weights, x, delta):
        return polish(derivatives(arrays, weights, delta), x, terms=arrays.log_loss.shape[-1])

    stages = {
        "screen": lambda: screen(arrays, weights, starts, delta),
    }
    screened = jax.block_until_ready(stages["screen"]())
    stages["choose"] = lambda: choose(screened.x, screened.value)
    chosen = jax.block_until_ready(stages["choose"]())
    stages["finish"] = lambda: finish(arrays, weights, screened.x[chosen], delta)
    finished = jax.block_until_ready(stages["finish"]())
    best = jnp.argmin(jnp.where(jnp.isfinite(finished.value), finished.value, jnp.inf))
    stages["polish"] = lambda: polish_best(arrays, weights, finished.x[best], delta)
    report = {}
    for name, call in stages.items():
        jax.block_until_ready(call())  # compiled (screen, choose, finish already ran once)
        walls = [timed(lambda call=call: jax.block_until_ready(call()))[1] for _ in range(repeats)]
        report[f"{name}_s"] = statistics.median(walls)
    report["screen_mean_steps"] = float(jnp.mean(screened.steps))
    report["finish_mean_steps"] = float(jnp.mean(finished.steps))
    report["finish_max_steps"] = int(jnp.max(finished.steps))
    return report


def measure(family: str, n_rows: int, args) -> dict:
    """Every measurement of one (family, size), in this process."""
    key = jax.random.fold_in(jax.random.key(args.seed), FAMILIES.index(family))
    if family == "epoch":
        table = epoch_table(args.data, n_rows, args.noise, key)
    else:
        table = simulated_table(n_rows, args.noise, key)
    runs = load_runs(table)
    grid = chinchilla_grid() + loss_unit_offset(runs.loss, get_law("chinchilla").theta_names)
    entry = {"family": family, "n_rows": len(runs), "maxrss_before_fit_mib": maxrss_mib()}
    entry["screening"] = args.screening._asdict()
    entry["jax"], screened = time_screened(runs, args.screening, args.repeats)
    entry["maxrss_after_screened_mib"] = maxrss_mib()
    if n_rows <= args.exhaustive_max_rows:
        exhaustive, wall, cpu = timed(lambda: fit_parametric(runs, screening=None))
        entry["exhaustive"] = {"cold_s": wall, "cold_cpu_s": cpu, **fit_summary(exhaustive)}
        entry["screened_vs_exhaustive"] = relative_differences(screened, exhaustive)
        entry["maxrss_after_exhaustive_mib"] = maxrss_mib()
    n_scipy = min(args.scipy_starts, max(1, args.scipy_row_starts // n_rows))
    if n_scipy > 0 and args.scipy_starts > 0:
        entry["scipy"] = time_scipy(runs, grid, n_scipy)
        entry["speedup"] = entry["scipy"]["full_grid_s"] / entry["jax"]["warm_s"]
        entry["speedup_cpu"] = entry["scipy"]["full_grid_cpu_s"] / entry["jax"]["cpu_s"]
    if args.profile:
        entry["profile"] = profile_stages(runs, grid, args.screening, args.repeats)
    return entry


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", default="240,2400,24000,240000", help="table sizes")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--noise", type=float, default=0.01, help="log-normal loss noise")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="warm JAX calls (median)")
    parser.add_argument("--scipy-starts", type=int, default=100, help="0: no scipy")
    parser.add_argument("--scipy-row-starts", type=int, default=2_400_000)
    parser.add_argument("--exhaustive-max-rows", type=int, default=24_000)
    parser.add_argument("--profile", action="store_true", help="time each screened stage")
    for field, default in DEFAULT_SCREENING._asdict().items():
        parser.add_argument(
            f"--screening-{field.replace('_', '-')}",
            type=type(default),
            default=default,
            help=f"Screening.{field} of the screened fit",
        )
    parser.add_argument(
        "--cpu-devices",
        default="auto",
        help="CPU devices the starts are split over: an integer, or 'auto' for one per core",
    )
    parser.add_argument("--only", help=argparse.SUPPRESS)  # FAMILY:ROWS, run in a child
    args = parser.parse_args(argv)
    try:
        args.row_sizes = [int(r) for r in args.rows.split(",")]
    except ValueError:
        parser.error(f"--rows must be comma-separated integers, got {args.rows!r}")
    bad = [r for r in args.row_sizes if r <= 0 or r % EPOCH_ROWS or r % SIMULATED_RUNS]
    if bad:
        parser.error(f"--rows must be positive multiples of {EPOCH_ROWS}, got {bad}")
    args.family_names = args.families.split(",")
    unknown = sorted(set(args.family_names) - set(FAMILIES))
    if unknown:
        parser.error(f"--families: unknown {unknown}; choose from {list(FAMILIES)}")
    if "epoch" in args.family_names and not args.data.is_file():
        parser.error(f"--data: no such file {args.data} (needed by the 'epoch' family)")
    args.screening = Screening(
        *(getattr(args, f"screening_{field}") for field in Screening._fields)
    )
    if min(args.screening) <= 0:
        parser.error(f"--screening-* settings must be positive, got {args.screening}")
    if args.cpu_devices != "auto" and not args.cpu_devices.isdigit():
        parser.error(f"--cpu-devices must be an integer or 'auto', got {args.cpu_devices!r}")
    return args


def child_command(args, family: str, n_rows: int) -> list[str]:
    """This script, measuring one (family, size) with the same settings."""
    return [
        sys.executable,
        __file__,
        f"--data={args.data}",
        f"--noise={args.noise}",
        f"--seed={args.seed}",
        f"--repeats={args.repeats}",
        f"--scipy-starts={args.scipy_starts}",
        f"--scipy-row-starts={args.scipy_row_starts}",
        f"--exhaustive-max-rows={args.exhaustive_max_rows}",
        f"--cpu-devices={args.cpu_devices}",
        *(f"--screening-{f.replace('_', '-')}={v}" for f, v in args.screening._asdict().items()),
        f"--families={family}",
        f"--rows={n_rows}",
        f"--only={family}:{n_rows}",
        *(["--profile"] if args.profile else []),
    ]


def main() -> None:
    args = parse_args()
    if args.only:
        n_devices = use_cpu_devices(None if args.cpu_devices == "auto" else int(args.cpu_devices))
        family, n_rows = args.only.split(":")
        print(json.dumps({"n_devices": n_devices, **measure(family, int(n_rows), args)}))
        return
    report = {
        "benchmark": "approach3_scale",
        "command": " ".join(sys.argv),
        "n_starts": len(chinchilla_grid()),
        "noise": args.noise,
        "screening": args.screening._asdict(),
        "seed": args.seed,
        "cpu_cores": os.cpu_count(),
        "jax_version": jax.__version__,
        "machine": platform.machine(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "load_average_before": os.getloadavg(),
        "tables": [],
    }
    for n_rows in args.row_sizes:
        for family in args.family_names:
            done = subprocess.run(
                child_command(args, family, n_rows), capture_output=True, text=True
            )
            if done.returncode != 0:
                report["tables"].append(
                    {"family": family, "n_rows": n_rows, "error": done.stderr[-2000:]}
                )
                continue
            report["tables"].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"done: {family} {n_rows} rows", file=sys.stderr, flush=True)
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
