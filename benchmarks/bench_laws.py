"""Grid fit of each shipped law, and of Chinchilla's law written as a user ``Law`` (autodiff
derivatives, numeric frontier) against its closed-form fast path. Prints JSON.

    python benchmarks/bench_laws.py --data ../shared/data/svg_extracted_data.csv

Each fit is timed warm (after one call that compiles it), ``--repeats`` times, best kept.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import numpy as np

import scalinglaw_jax as sl
from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.laws.simulate import repeated_epoch_design, simulate_law


def chinchilla_without_fast_paths() -> sl.Law:
    chinchilla = sl.LAWS["chinchilla"]
    return sl.Law(
        name="chinchilla_autodiff",
        params=dict(chinchilla.params),
        predict=chinchilla.predict,
        start_grid=sl.chinchilla_grid,
    )


def timed_fit(runs, law, repeats: int) -> dict:
    fit_parametric(runs, law=law)  # compile
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        fit = fit_parametric(runs, law=law)
        best = min(best, time.perf_counter() - started)
    return {
        "law": fit.law.name,
        "n_starts": fit.n_starts,
        "n_rows": len(runs),
        "seconds": best,
        "objective": fit.objective,
        "start_status": fit.start_status,
        "mean_steps": float(np.mean(fit.per_start.steps)),
        "a": fit.frontier.a,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data/svg_extracted_data.csv")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    runs = sl.load_runs(args.data, drop_highest_loss=5)
    closed = timed_fit(runs, sl.LAWS["chinchilla"], args.repeats)
    generic = timed_fit(runs, chinchilla_without_fast_paths(), args.repeats)
    results = {
        "machine": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": jax.device_count(),
        "chinchilla_closed_form": closed,
        "chinchilla_autodiff": generic,
        "autodiff_over_closed_form": generic["seconds"] / closed["seconds"],
        "objective_relative_difference": abs(generic["objective"] - closed["objective"])
        / closed["objective"],
    }
    for name in ("chinchilla_shared_exponent", "kaplan"):
        results[name] = timed_fit(runs, sl.LAWS[name], args.repeats)
    truth = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28, "R_N": 5.3}
    design = repeated_epoch_design()
    repeated = sl.load_runs(
        simulate_law(
            jax.random.key(0), "data_constrained", {**truth, "R_D": 15.4}, **design, noise=0.01
        )
    )
    results["data_constrained_simulated"] = timed_fit(
        repeated, sl.LAWS["data_constrained"], args.repeats
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
