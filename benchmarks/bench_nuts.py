"""NUTS wall time and ESS/s for the Approach-3 posterior on Epoch's 240 points (prints JSON).

Usage: python benchmarks/bench_nuts.py [PATH_TO_svg_extracted_data.csv]. Default settings
(4 chains x 1,000 draws after 500 warmup). The first run includes compilation (a fresh process
compiles once); a second run with a new key times sampling alone. Then the sandwich-calibrated
generalised posterior (the CLI default for real data: pilot run plus main run) is timed.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import jax

from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.uncertainty.posterior import NutsSettings, sample_parametric

warnings.filterwarnings("ignore", category=FutureWarning)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "svg_extracted_data.csv"
OPTIMUM_THETA = (6.16924637, 7.67015673, 0.59730681, 0.3473105, 0.36717243)


def _timed(runs, settings, seed, learning_rate):
    start = time.perf_counter()
    post = sample_parametric(
        runs,
        init_theta=OPTIMUM_THETA,
        settings=settings,
        key=jax.random.key(seed),
        learning_rate=learning_rate,
    )
    return post, time.perf_counter() - start


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    runs = load_runs(path, drop_highest_loss=5)
    settings = NutsSettings(progress_bar=False)
    _, cold = _timed(runs, settings, 0, 1.0)
    post, warm = _timed(runs, settings, 1, 1.0)
    sandwich, sandwich_s = _timed(runs, settings, 2, "sandwich")
    diag = post.diagnostics
    print(
        json.dumps(
            {
                "benchmark": "nuts_approach3_epoch",
                "device": jax.devices()[0].device_kind,
                "chains": settings.chains,
                "draws": settings.draws,
                "warmup": settings.warmup,
                "wall_s_with_compile": round(cold, 2),
                "wall_s_warm": round(warm, 2),
                "ess_bulk_min": round(diag.ess_bulk_min, 1),
                "ess_per_s_with_compile": round(diag.ess_bulk_min / cold, 1),
                "ess_per_s_warm": round(diag.ess_bulk_min / warm, 1),
                "rhat_max": round(diag.rhat_max, 4),
                "divergences": diag.divergences,
                "sandwich_wall_s_with_compile": round(sandwich_s, 2),
                "sandwich_learning_rate": round(sandwich.settings["learning_rate"], 3),
                "sandwich_ess_bulk_min": round(sandwich.diagnostics.ess_bulk_min, 1),
                "sandwich_rhat_max": round(sandwich.diagnostics.rhat_max, 4),
                "sandwich_divergences": sandwich.diagnostics.divergences,
            }
        )
    )


if __name__ == "__main__":
    main()
