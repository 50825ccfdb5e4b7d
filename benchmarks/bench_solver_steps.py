"""Solver steps per start over Chinchilla's 4,500-start grid, for several solver settings.

Counts, not times: the mean and largest number of Newton steps per start, the starts' status
counts (``max-steps``: stopped at the step limit), and how many reach the best objective, on
Epoch AI's 240 points and on two simulated 12 x 10 final-loss grids of the paper's law (2%
noise, and none). The settings compared are the previous solver (exact Hessian throughout,
damping factors 0.3 and 10), the majorised curvature with those factors, and the defaults.
Prints one JSON object.

    python benchmarks/bench_solver_steps.py --data ../shared/data/svg_extracted_data.csv
"""

from __future__ import annotations

import argparse
import json
import math

import jax
import numpy as np

from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.core.solvers import DEFAULT_OPTIONS, SolverOptions
from scalinglaw_jax.laws.simulate import simulate_final_losses

SETTINGS = {
    "exact_hessian_factors_0.3_10": SolverOptions(
        accept_shrink=0.3, reject_growth=10.0, majorizer_damping=math.inf
    ),
    "majorised_factors_0.3_10": SolverOptions(accept_shrink=0.3, reject_growth=10.0),
    "default": DEFAULT_OPTIONS,
}


def tables(data: str) -> dict:
    sizes, tokens = np.geomspace(5e7, 2e10, 12), np.geomspace(1e9, 5e11, 10)
    return {
        "epoch_240": load_runs(data, drop_highest_loss=5),
        "simulated_noise_0.02": load_runs(
            simulate_final_losses(jax.random.key(1), sizes, tokens, grid=True, noise=0.02)
        ),
        "simulated_noise_free": load_runs(
            simulate_final_losses(jax.random.key(0), sizes, tokens, grid=True)
        ),
    }


def count(runs, options: SolverOptions) -> dict:
    fit = fit_parametric(runs, options=options)
    steps, values = np.asarray(fit.per_start.steps), np.asarray(fit.per_start.value)
    return {
        "mean_steps": float(steps.mean()),
        "max_steps": int(steps.max()),
        "starts_at_best": int(np.sum(values <= fit.objective * (1 + 1e-9) + 1e-30)),
        "objective": fit.objective,
        "start_status": fit.start_status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/svg_extracted_data.csv")
    args = parser.parse_args()
    report = {
        name: {setting: count(runs, options) for setting, options in SETTINGS.items()}
        for name, runs in tables(args.data).items()
    }
    print(
        json.dumps(
            {
                "benchmark": "solver_steps_per_start",
                "jax_version": jax.__version__,
                "tables": report,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
