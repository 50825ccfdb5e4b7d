"""Coverage of the backtest's predictive intervals over simulated studies. Prints JSON.

    python benchmarks/bench_backtest_coverage.py --studies 100

Each study draws a sizes x tokens table from a law (default: Chinchilla's, the paper-like
parameters below) with log-normal noise, holds out the largest 20% of runs by FLOPs, and
backtests the true law. Coverage is the fraction of held-out runs inside their nominal 50% and
90% predictive intervals, pooled over studies; its standard error is computed from the studies'
own coverages (held-out runs of one study share one fit, so they are not independent).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

import scalinglaw_jax as sl
from scalinglaw_jax.evaluate import backtest
from scalinglaw_jax.laws import LAWS
from scalinglaw_jax.laws.simulate import simulate_law

TRUTH = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, d = np.meshgrid(np.geomspace(5e7, 1e10, 7), np.geomspace(1e9, 3e11, 7), indexing="ij")
    per_study = {50: [], 90: []}
    errors = []
    started = time.perf_counter()
    for k in range(args.studies):
        key = jax.random.fold_in(jax.random.key(args.seed), k)
        frame = simulate_law(key, LAWS["chinchilla"], TRUTH, n.ravel(), d.ravel(), noise=args.noise)
        runs = sl.load_runs(frame)
        split = backtest.split_by_flops(runs)
        result = backtest.backtest_law(
            runs, LAWS["chinchilla"], split, n_resamples=args.resamples, seed=k
        )
        for level in per_study:
            per_study[level].append(result.metrics[f"coverage_{level}"])
        errors.append(result.metrics["median_abs_log_error"])
    out = {
        "studies": args.studies,
        "noise": args.noise,
        "resamples": args.resamples,
        "held_out_per_study": int(split.test.sum()),
        "interval_method": backtest.INTERVAL_METHOD,
        "median_abs_log_error_mean": float(np.mean(errors)),
        "seconds": time.perf_counter() - started,
        "jax": jax.__version__,
    }
    for level, values in per_study.items():
        values = np.asarray(values)
        out[f"coverage_{level}"] = float(values.mean())
        out[f"coverage_{level}_se"] = float(values.std(ddof=1) / np.sqrt(values.size))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
