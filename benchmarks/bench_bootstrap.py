"""Bootstrap sweeps on Epoch AI's 240 points: throughput, speed-up over scipy, memory, fast/full.

Prints one JSON object. Parts (flags):
  default        fast-mode sweeps (warm start only, k=0, as Epoch's one BFGS per resample; and
                 the default k=8) of --resamples resamples, timed warm (median of --repeats),
                 against an Epoch-style scipy loop (one BFGS with the analytic gradient per
                 resample, from the full-data optimum) timed on --scipy-resamples resamples and
                 extrapolated; all in one process.
  --compare N    full mode (4,500 starts per resample) on N resamples, against fast mode on the
                 same resamples: how often and by how much the optima differ.
  --memory       peak RSS (VmHWM, one subprocess per size) of sweeps of 500 to 8,000
                 resamples at a fixed chunk size: should be flat.
  --gpu-full     full mode, 10,000 resamples x 4,500 starts, float64 and float32 (accelerators).

Usage: python benchmarks/bench_bootstrap.py --data ../shared/data/svg_extracted_data.csv
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
import resource
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.core.solvers import use_cpu_devices
from scalinglaw_jax.uncertainty import resample

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' scipy oracle
from tests import scipy_reference  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "svg_extracted_data.csv"


def timed_sweep(problem, n, repeats, chunk_size=None):
    """Compile once (first sweep), then the median wall time of ``repeats`` warm sweeps."""
    started = time.perf_counter()
    sweep = resample.run_sweep(problem, n, chunk_size=chunk_size, progress=False)
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        sweep = resample.run_sweep(problem, n, chunk_size=chunk_size, progress=False)
        times.append(time.perf_counter() - started)
    return sweep, first, float(np.median(times)), times


def scipy_loop(runs, problem, n):
    """Epoch's bootstrap: one BFGS (analytic gradient) per resample, from the full-data fit."""
    weights = np.asarray(
        jax.vmap(
            lambda i: resample.draw_unit_weights(jax.random.key(0), i, "nonparametric", len(runs))
        )(jnp.arange(n))
    )
    logs = [np.log(runs.params), np.log(runs.tokens), np.log(runs.loss)]
    started = time.perf_counter()
    values = []
    for w in weights:
        values.append(scipy_reference.fit_one(problem.point.theta, *logs, w, method="BFGS").fun)
    return (time.perf_counter() - started) / n, np.asarray(values)


def fast_part(args, runs):
    point = fit_parametric(runs)
    out = {}
    warm = resample.prepare(runs, "3", "nonparametric", k_starts=0, point=point)
    fast = resample.prepare(runs, "3", "nonparametric", k_starts=8, point=point)
    for name, problem in (("warm_k0", warm), ("fast_k8", fast)):
        n = args.resamples if name == "warm_k0" else args.fast_resamples
        sweep, first, median, times = timed_sweep(problem, n, args.repeats)
        out[name] = {
            "resamples": n,
            "n_starts": problem.config["n_starts"],
            "first_sweep_s": first,
            "warm_s_median": median,
            "warm_s_all": times,
            "resample_fits_per_s": n / median,
            "n_failed": int(np.sum(resample.failed_mask(sweep))),
        }
    per_fit, values = scipy_loop(runs, warm, args.scipy_resamples)
    objective = np.asarray(
        resample.run_sweep(warm, args.scipy_resamples, progress=False).outputs["objective"]
    )
    out["scipy_bfgs"] = {
        "resamples_timed": args.scipy_resamples,
        "s_per_resample": per_fit,
        "extrapolated_s": per_fit * args.resamples,
        "max_rel_objective_gap_jax_minus_scipy": float(np.max((objective - values) / values)),
    }
    for name in ("warm_k0", "fast_k8"):
        out[name]["speedup_vs_scipy"] = per_fit * out[name]["resample_fits_per_s"]
    return out


COMPARED = ("a", "b", "E", "A", "B", "alpha", "beta")


def percentile_interval(draws, level=0.95):
    """The equal-tailed percentile interval of one quantity's draws."""
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))]


def compare_part(args, runs):
    """Full mode (screened grid per resample, wall time with compile, on every CPU device)
    against fast mode on the same resamples: optima and 95% percentile intervals."""
    point = fit_parametric(runs)
    fast = resample.prepare(runs, "3", "nonparametric", k_starts=8, point=point)
    full = resample.prepare(runs, "3", "nonparametric", mode="full", point=point)
    f = resample.run_sweep(fast, args.compare, progress=False).outputs
    started, cpu = time.perf_counter(), time.process_time()
    g = resample.run_sweep(full, args.compare, chunk_size=args.full_chunk, progress=False).outputs
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    gap = (f["objective"] - g["objective"]) / g["objective"]
    differs = gap > 1e-9
    return {
        "resamples": args.compare,
        "full_screening": full.config["screening"],
        "full_seconds_with_compile": seconds,
        "full_cpu_seconds": cpu_seconds,
        "full_resample_fits_per_s": args.compare / seconds,
        "fast_worse_than_full_rel_1e-9": int(np.sum(differs)),
        "fast_better_than_full_rel_1e-9": int(np.sum(gap < -1e-9)),
        "max_rel_objective_gap": float(np.max(gap)),
        "max_abs_diff": {name: float(np.max(np.abs(f[name] - g[name]))) for name in COMPARED},
        "interval_95": {
            name: {"fast": percentile_interval(f[name]), "full": percentile_interval(g[name])}
            for name in COMPARED
        },
        "full_failed": int(np.sum(g["status"] != 0)),
    }


MEMORY_CHILD = """
import sys
from scalinglaw_jax.uncertainty import resample
from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.core.solvers import chinchilla_grid

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' scipy oracle
from tests import scipy_reference  # noqa: E402
runs = load_runs(sys.argv[1], drop_highest_loss=5)
point = fit_parametric(runs, starts=chinchilla_grid()[::25])
problem = resample.prepare(runs, "3", "nonparametric", k_starts=0, point=point)
resample.run_sweep(problem, int(sys.argv[2]), chunk_size=256, progress=False)
# VmHWM: this process's own peak RSS (ru_maxrss would include the parent's, inherited at fork).
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(int(status.split()[0]))
"""


def memory_part(args):
    sizes = (500, 2000, 8000)
    peaks = {}
    for n in sizes:
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, str(args.data), str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[n] = int(done.stdout.strip().splitlines()[-1]) / 1024
    return {"chunk_size": 256, "peak_rss_mib": peaks}


def gpu_full_part(args, runs):
    point = fit_parametric(runs)
    out = {}
    for dtype in (jnp.float64, jnp.float32):
        problem = resample.prepare(
            runs, "3", "nonparametric", mode="full", point=point, dtype=dtype
        )
        chunk = args.full_chunk or resample.default_chunk_size(
            problem, args.gpu_resamples, len(jax.devices())
        )
        started = time.perf_counter()
        resample.run_sweep(problem, chunk, chunk_size=chunk, progress=False)
        compile_s = time.perf_counter() - started
        started = time.perf_counter()
        sweep = resample.run_sweep(problem, args.gpu_resamples, chunk_size=chunk, progress=False)
        seconds = time.perf_counter() - started
        out[jnp.dtype(dtype).name] = {
            "resamples": args.gpu_resamples,
            "starts": 4500,
            "chunk_size": chunk,
            "first_chunk_with_compile_s": compile_s,
            "seconds": seconds,
            "resample_fits_per_s": args.gpu_resamples / seconds,
            "n_failed": int(np.sum(resample.failed_mask(sweep))),
            "se_a": float(np.std(sweep.outputs["a"], ddof=1)),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--resamples", type=int, default=4000)
    parser.add_argument("--fast-resamples", type=int, default=400, help="for k=8 fast mode")
    parser.add_argument("--scipy-resamples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-fast", action="store_true")
    parser.add_argument("--compare", type=int, default=0, metavar="N")
    parser.add_argument("--full-chunk", type=int, default=None)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--gpu-full", action="store_true")
    parser.add_argument("--gpu-resamples", type=int, default=10_000)
    parser.add_argument(
        "--cpu-devices",
        default="auto",
        help="CPU devices the sweeps are split over: an integer, or 'auto' for one per core "
        "(the --memory subprocesses use one)",
    )
    args = parser.parse_args()
    use_cpu_devices(None if args.cpu_devices == "auto" else int(args.cpu_devices))
    runs = load_runs(args.data, drop_highest_loss=5)
    result = {
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "device": str(jax.devices()[0].device_kind),
        "n_devices": len(jax.devices()),
    }
    if not args.skip_fast:
        result["fast"] = fast_part(args, runs)
    if args.compare:
        result["fast_vs_full"] = compare_part(args, runs)
    if args.memory:
        result["memory"] = memory_part(args)
    if args.gpu_full:
        result["gpu_full"] = gpu_full_part(args, runs)
    result["self_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
