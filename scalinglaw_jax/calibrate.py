"""Calibration study: coverage of bootstrap and posterior intervals on simulated studies.

``run_calibration`` draws ``n_studies`` IsoFLOP studies from a known law
(``simulate.simulate_isoflop``), fits each with Approach 2 and/or 3 by the row bootstrap
(multinomial weights, all resamples of all studies in one vmapped program per approach) and by
the posterior (NUTS; one compiled program reused for every study), and counts how often the
central 50/80/90/95% intervals of ``a`` and ``b`` contain the true exponents. Each coverage
carries its binomial Monte-Carlo standard error ``sqrt(p (1 - p) / K)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaw_jax import bayes
from scalinglaw_jax.approaches.isoflop import fit_isoflop, fit_isoflop_arrays, isoflop_arrays
from scalinglaw_jax.approaches.parametric import (
    DEFAULT_DELTA,
    fit_parametric,
    fit_parametric_arrays,
    parametric_arrays,
)
from scalinglaw_jax.data import load_runs
from scalinglaw_jax.laws import CHINCHILLA, PAPER_PARAMS, ChinchillaParams
from scalinglaw_jax.simulate import simulate_isoflop

LEVELS = (0.5, 0.8, 0.9, 0.95)
CALIBRATION_NUTS = bayes.NutsSettings(draws=500, warmup=500, progress_bar=False)


@dataclass(frozen=True)
class CalibrationResult:
    """Per (approach, method, quantity, level): coverage, its Monte-Carlo SE and K."""

    rows: list[dict]
    truth: dict[str, float]
    design: dict

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(
            json.dumps(
                {"truth": self.truth, "design": self.design, "coverage": self.rows}, indent=2
            )
        )
        return path


def _covers(draws: np.ndarray, truth: float, level: float) -> bool:
    low, high = np.nanpercentile(draws, [50 * (1 - level), 50 * (1 + level)])
    return bool(low <= truth <= high)


def _coverage_rows(approach, method, hits: dict, n: int) -> list[dict]:
    rows = []
    for (quantity, level), count in hits.items():
        p = count / n
        rows.append(
            {
                "approach": approach,
                "method": method,
                "quantity": quantity,
                "level": level,
                "coverage": p,
                "mc_se": float(np.sqrt(p * (1 - p) / n)),
                "studies": n,
            }
        )
    return rows


_isoflop_sweep = jax.jit(jax.vmap(fit_isoflop_arrays, in_axes=(None, 0)))
_parametric_sweep = jax.jit(
    jax.vmap(
        lambda arrays, w, starts: (
            fit_parametric_arrays(arrays, w, starts, DEFAULT_DELTA, keep_starts=False).frontier.a
        ),
        in_axes=(None, 0, None),
    )
)


def _bootstrap_draws(approach: int, runs_list, weights: np.ndarray) -> list[np.ndarray]:
    """Bootstrap draws of ``a`` per study, every resample in one vmapped call per study."""
    out = []
    for runs in runs_list:
        if approach == 2:
            point = fit_isoflop(runs)
            arrays = isoflop_arrays(runs, point.assignment)
            sol = _isoflop_sweep(arrays, weights)
            a = np.where(np.asarray(sol.status) == 0, np.asarray(sol.frontier.a), np.nan)
        else:
            point = fit_parametric(runs, starts=16, key=jax.random.key(0))
            starts = jnp.asarray(point.theta)[None]
            a = np.asarray(_parametric_sweep(parametric_arrays(runs), weights, starts))
        out.append(a)
    return out


def run_calibration(
    key,
    *,
    approaches=(2, 3),
    n_studies: int = 20,
    law: ChinchillaParams = PAPER_PARAMS,
    noise: float = 0.01,
    points_per_budget: int = 9,
    span_dex: float = 1.2,
    n_resamples: int = 200,
    settings: bayes.NutsSettings = CALIBRATION_NUTS,
    levels=LEVELS,
    learning_rate: float | str = 1.0,
) -> CalibrationResult:
    """Coverage of nominal ``levels`` intervals for ``a`` and ``b`` (``b = 1 - a`` here).

    ``learning_rate`` is passed to ``bayes.sample_parametric`` (Approach 3).
    """
    frontier = CHINCHILLA.frontier(CHINCHILLA.from_params(law))
    truth = {"a": float(frontier.a), "b": float(frontier.b)}
    keys = jax.random.split(key, n_studies + 1)
    runs_list = [
        load_runs(
            simulate_isoflop(
                k, law=law, points_per_budget=points_per_budget, span_dex=span_dex, noise=noise
            )
        )
        for k in keys[:-1]
    ]
    n_rows = len(runs_list[0])
    rng = np.random.default_rng(np.asarray(jax.random.key_data(keys[-1])).ravel())
    weights = jnp.asarray(rng.multinomial(n_rows, np.full(n_rows, 1 / n_rows), n_resamples), float)
    rows: list[dict] = []
    for approach in approaches:
        boot = _bootstrap_draws(approach, runs_list, weights)
        post = []
        for i, runs in enumerate(runs_list):
            study_key = jax.random.fold_in(keys[i], approach)
            if approach == 2:
                p = bayes.sample_isoflop(runs, key=study_key, settings=settings)
            else:
                p = bayes.sample_parametric(
                    runs, key=study_key, settings=settings, learning_rate=learning_rate
                )
            post.append(p.draws["a"])
        for method, draws in (("bootstrap", boot), ("posterior", post)):
            hits = {}
            for quantity in ("a", "b"):
                for level in levels:
                    hits[quantity, level] = sum(
                        _covers(d if quantity == "a" else 1 - d, truth[quantity], level)
                        for d in draws
                    )
            rows.extend(_coverage_rows(approach, method, hits, n_studies))
    design = {
        "n_studies": n_studies,
        "noise": noise,
        "points_per_budget": points_per_budget,
        "span_dex": span_dex,
        "n_resamples": n_resamples,
        "nuts": {"chains": settings.chains, "draws": settings.draws, "warmup": settings.warmup},
        "learning_rate": learning_rate,
        "law": {k: float(v) for k, v in law._asdict().items()},
    }
    return CalibrationResult(rows=rows, truth=truth, design=design)
