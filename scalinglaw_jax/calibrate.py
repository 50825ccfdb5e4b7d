"""Calibration study: coverage of bootstrap and posterior intervals on simulated studies.

``run_calibration`` draws ``n_studies`` studies from a known law — IsoFLOP studies
(``simulate.simulate_isoflop``) for Approaches 2 and 3, training-curve studies
(``simulate.simulate_training_curves``) for Approach 1 — fits each by the bootstrap (row
resamples for Approaches 2 and 3, whole curves for Approach 1; multinomial weights, one
compiled program for all studies) and by the posterior (NUTS for Approaches 2 and 3, one
compiled program reused for every study; the Bayesian bootstrap over curves for Approach 1),
and counts how often the central 50/80/90/95% intervals of ``a`` and ``b`` contain the true
exponents. Each coverage carries its binomial Monte-Carlo standard error
``sqrt(p (1 - p) / K)``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scalinglaw_jax import bayes
from scalinglaw_jax.approaches.envelope import OK as ENVELOPE_OK
from scalinglaw_jax.approaches.envelope import envelope_arrays, fit_envelope_sweep, prepare_curves
from scalinglaw_jax.approaches.isoflop import fit_isoflop, fit_isoflop_arrays, isoflop_arrays
from scalinglaw_jax.approaches.parametric import (
    DEFAULT_DELTA,
    fit_parametric,
    fit_parametric_arrays,
    parametric_arrays,
)
from scalinglaw_jax.data import load_runs
from scalinglaw_jax.lawbook import DEFAULT_LAW, LAWS, get_law
from scalinglaw_jax.laws import CHINCHILLA, PAPER_PARAMS, ChinchillaParams
from scalinglaw_jax.simulate import (
    DEFAULT_HORIZON_RATIOS,
    DEFAULT_SIZES,
    simulate_isoflop,
    simulate_law,
    simulate_training_curves,
)

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
                # The spread the coverage would have if the intervals were calibrated (also
                # meaningful where the observed coverage is 0 or 1 and ``mc_se`` is 0).
                "nominal_se": float(np.sqrt(level * (1 - level) / n)),
                "studies": n,
            }
        )
    return rows


_isoflop_sweep = jax.jit(jax.vmap(fit_isoflop_arrays, in_axes=(None, 0)))


@functools.lru_cache(maxsize=8)
def _parametric_sweep(law):
    """Bootstrap ``a`` of ``law`` per weight vector, from given starts (one program per law)."""

    def exponent(arrays, weights, starts):
        fit = fit_parametric_arrays(
            arrays, weights, starts, DEFAULT_DELTA, law=law, keep_starts=False
        )
        return fit.frontier.a

    return jax.jit(jax.vmap(exponent, in_axes=(None, 0, None)))


def _multinomial(rng: np.random.Generator, n_units: int, n_resamples: int) -> jnp.ndarray:
    return jnp.asarray(rng.multinomial(n_units, np.full(n_units, 1 / n_units), n_resamples), float)


def _bootstrap_draws(
    approach: int, runs_list, rng: np.random.Generator, n_resamples: int, law=DEFAULT_LAW
):
    """Bootstrap draws of ``a`` per study: every study uses the same resamples (multinomial
    counts over rows, or over curves for Approach 1), fitted in one vmapped call per study."""
    out = []
    weights = None
    for runs in runs_list:
        arrays = envelope_arrays(prepare_curves(runs)) if approach == 1 else None
        if weights is None:
            n_units = len(runs) if arrays is None else arrays.loss.shape[0]
            weights = _multinomial(rng, n_units, n_resamples)
        if approach == 1:
            sol = fit_envelope_sweep(arrays, weights)
            ok = np.asarray(sol.status) == ENVELOPE_OK
            a = np.where(ok, np.asarray(sol.frontier.a), np.nan)
        elif approach == 2:
            point = fit_isoflop(runs)
            sol = _isoflop_sweep(isoflop_arrays(runs, point.assignment), weights)
            a = np.where(np.asarray(sol.status) == 0, np.asarray(sol.frontier.a), np.nan)
        else:
            point = fit_parametric(runs, starts=16, key=jax.random.key(0), law=law)
            starts = jnp.asarray(point.theta)[None]
            arrays = parametric_arrays(runs, law=law)
            a = np.asarray(_parametric_sweep(point.law)(arrays, weights, starts))
        out.append(a)
    return out


def _posterior_draws(approach, runs, key, settings, learning_rate, law=DEFAULT_LAW) -> np.ndarray:
    """Posterior draws of ``a`` for one study."""
    if approach == 1:
        posterior = bayes.bayesian_bootstrap_envelope(
            runs, key=key, chains=settings.chains, draws=settings.draws
        )
    elif approach == 2:
        posterior = bayes.sample_isoflop(runs, key=key, settings=settings)
    else:
        posterior = bayes.sample_parametric(
            runs, key=key, settings=settings, learning_rate=learning_rate, law=law
        )
    return posterior.draws["a"]


def run_calibration(
    key,
    *,
    approaches=(1, 2, 3),
    n_studies: int = 20,
    law: ChinchillaParams = PAPER_PARAMS,
    noise: float = 0.01,
    points_per_budget: int = 9,
    span_dex: float = 1.2,
    n_resamples: int = 200,
    settings: bayes.NutsSettings = CALIBRATION_NUTS,
    levels=LEVELS,
    learning_rate: float | str = 1.0,
    progress: bool = False,
    parametric_law=DEFAULT_LAW,
    law_truth: dict | None = None,
) -> CalibrationResult:
    """Coverage of nominal ``levels`` intervals for ``a`` and ``b`` (``b = 1 - a`` here).

    Approach 3 fits ``parametric_law`` (a ``Law``, registered name or ``FILE.py:NAME``). For a
    law other than Chinchilla's its studies are drawn from that law at ``law_truth`` (its
    parameters by name; default: the law fitted to the noise-free IsoFLOP study of ``law``,
    its closest member to it) on the same IsoFLOP design, with fresh data
    (``unique_tokens = tokens``) for laws that read it.

    ``points_per_budget`` and ``span_dex`` shape the IsoFLOP studies (Approaches 2, 3);
    Approach 1's training curves use ``simulate_training_curves``' defaults (12 sizes x 4
    horizons). ``noise`` is the log-normal loss noise of both. ``learning_rate`` is passed to
    ``bayes.sample_parametric`` (Approach 3); for Approach 1 ``settings.chains x
    settings.draws`` Bayesian-bootstrap draws are taken. ``progress`` shows a bar per approach
    over the studies' posterior fits (the slow part).
    """
    frontier = CHINCHILLA.frontier(CHINCHILLA.from_params(law))
    truth = {"a": float(frontier.a), "b": float(frontier.b)}
    keys = jax.random.split(key, n_studies + 1)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(keys[-1])).ravel())
    parametric_law = get_law(parametric_law)
    own_law = parametric_law is not LAWS[DEFAULT_LAW]
    design_args = dict(law=law, points_per_budget=points_per_budget, span_dex=span_dex)
    if own_law and law_truth is None:
        clean = load_runs(simulate_isoflop(keys[-1], **design_args))
        law_truth = fit_parametric(clean, law=parametric_law).params
    law_frontier = (
        parametric_law.frontier_of(jnp.asarray(parametric_law.from_params(law_truth)))
        if own_law
        else frontier
    )
    law_truth_ab = {"a": float(law_frontier.a), "b": float(law_frontier.b)}

    def simulate(study_key, kind):
        if kind == "curves":
            return simulate_training_curves(jax.random.fold_in(study_key, 1), law=law, noise=noise)
        table = simulate_isoflop(study_key, noise=noise, **design_args)
        if kind == "law":
            unique = table["tokens"] if "unique_tokens" in parametric_law.columns else None
            table = simulate_law(
                study_key,
                parametric_law,
                law_truth,
                table["params"],
                table["tokens"],
                unique_tokens=unique,
                noise=noise,
            )
        return table

    rows: list[dict] = []
    studies: dict[str, list] = {}  # per kind of study, simulated once (Approaches 2, 3 share)
    for approach in approaches:
        kind = {1: "curves", 2: "isoflop", 3: "law" if own_law else "isoflop"}[approach]
        if kind not in studies:
            studies[kind] = [load_runs(simulate(k, kind)) for k in keys[:-1]]
        runs_list = studies[kind]
        boot = _bootstrap_draws(approach, runs_list, rng, n_resamples, parametric_law)
        studies_bar = tqdm(
            runs_list, desc=f"Approach {approach} posteriors", unit="study", disable=not progress
        )
        post = [
            _posterior_draws(
                approach,
                runs,
                jax.random.fold_in(keys[i], approach),
                settings,
                learning_rate,
                parametric_law,
            )
            for i, runs in enumerate(studies_bar)
        ]
        target = law_truth_ab if kind == "law" else truth
        for method, draws in (("bootstrap", boot), ("posterior", post)):
            hits = {}
            for quantity in ("a", "b"):
                for level in levels:
                    hits[quantity, level] = sum(
                        _covers(d if quantity == "a" else 1 - d, target[quantity], level)
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
        "approaches": list(approaches),
        "parametric_law": parametric_law.name,
    }
    if own_law:
        design["parametric_law_truth"] = {**law_truth, **law_truth_ab}
    if 1 in approaches:
        design["curves"] = {
            "sizes": list(DEFAULT_SIZES),
            "horizon_ratios": list(DEFAULT_HORIZON_RATIOS),
        }
    return CalibrationResult(rows=rows, truth=truth, design=design)
