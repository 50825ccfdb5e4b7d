"""Variable projection vs the 5-parameter 4,500-start Approach-3 fit: optimum, conditioning,
speed. Epoch AI's 240 points and a simulated Chinchilla-shaped study (1% noise). Both fits are
timed warm (median of ``--repeats``, compile time reported apart). Prints one JSON object.

    python benchmarks/bench_varpro.py --data ../shared/data/svg_extracted_data.csv
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax

from scalinglaw_jax.approaches.parametric import fit_parametric, parametric_arrays
from scalinglaw_jax.approaches.varpro import conditioning, fit_varpro
from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.laws.simulate import simulate_chinchilla_study


def timed(fit, runs, repeats: int) -> tuple[object, dict]:
    started = time.perf_counter()
    result = fit(runs)
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fit(runs)  # device_get inside: blocks until ready
        times.append(time.perf_counter() - started)
    warm = statistics.median(times)
    return result, {"warm_s": warm, "compile_s": max(first - warm, 0.0)}


def compare(runs, repeats: int) -> dict:
    grid, grid_time = timed(fit_parametric, runs, repeats)
    varpro, varpro_time = timed(fit_varpro, runs, repeats)
    arrays = parametric_arrays(runs)
    return {
        "rows": len(runs),
        "grid_5d": {
            **grid_time,
            "objective": grid.objective,
            "a": grid.frontier.a,
            "params": grid.params,
            "starts": grid.n_starts,
        },
        "varpro_2d": {
            **varpro_time,
            "objective": varpro.objective,
            "a": varpro.frontier.a,
            "params": varpro.params,
            "grid_points": int(varpro.grid_objective.size),
        },
        "objective_rel_diff": (varpro.objective - grid.objective) / grid.objective,
        "speed_ratio": grid_time["warm_s"] / varpro_time["warm_s"],
        "conditioning_at_grid_optimum": conditioning(grid.theta, arrays),
        "conditioning_at_varpro_optimum": conditioning(varpro.theta, arrays),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/svg_extracted_data.csv")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    simulated = simulate_chinchilla_study(jax.random.key(0), noise=0.01)["final"]
    print(
        json.dumps(
            {
                "machine": {
                    "platform": platform.platform(),
                    "backend": jax.default_backend(),
                    "devices": [str(d) for d in jax.devices()],
                },
                "epoch": compare(load_runs(args.data, drop_highest_loss=5), args.repeats),
                "simulated": compare(load_runs(simulated), args.repeats),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
