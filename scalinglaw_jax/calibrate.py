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

import json
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scalinglaw_jax import bayes, resample
from scalinglaw_jax.approaches import registry
from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.data import load_runs
from scalinglaw_jax.intervals import covers
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

    def report(self) -> str:
        """The coverage table as aligned text."""
        return self.table().to_string(index=False)

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(
            json.dumps(
                {"truth": self.truth, "design": self.design, "coverage": self.rows}, indent=2
            )
        )
        return path


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


CALIBRATION_POINT_STARTS = 16
"""Random starts of each study's Approach-3 point fit (the resamples start from its optimum)."""


def _bootstrap_draws(
    approach: str, runs_list, seed: int, n_resamples: int, law=DEFAULT_LAW
) -> list[np.ndarray]:
    """Bootstrap draws of ``a`` per study, by the sweep engine (``resample.run_sweep``).

    Every study uses the same resamples (``seed``): the approach's resampling with replacement
    (rows, or whole curves for Approach 1); Approach 3 (of ``law``) starts each resample from
    the study's point optimum only. Studies of one design share one compiled sweep.
    """
    spec = registry.get(approach)
    out = []
    for runs in runs_list:
        point = spec.fit(runs, starts=CALIBRATION_POINT_STARTS, key=jax.random.key(0), law=law)
        problem = resample.prepare(
            runs, spec.key, spec.default_scheme, k_starts=0, point=point, law=law
        )
        sweep = resample.run_sweep(problem, n_resamples, seed=seed, progress=False)
        out.append(sweep.outputs["a"])
    return out


def _posterior_draws(
    approach: str, runs, key, settings, learning_rate, law=DEFAULT_LAW
) -> np.ndarray:
    """Posterior draws of ``a`` for one study (the approach's ``posterior``)."""
    posterior = registry.get(approach).posterior(
        runs, key=key, settings=settings, learning_rate=learning_rate, law=law
    )
    return posterior.draws["a"]


def run_calibration(
    key,
    *,
    approaches=registry.KEYS,
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
    seed = resample.seed_from_key(keys[-1])
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
    approaches = tuple(registry.get(approach).key for approach in approaches)
    for approach in approaches:
        kind = registry.get(approach).study
        if kind == "law" and not own_law:
            kind = "isoflop"  # Chinchilla's law: the same studies as Approach 2
        if kind not in studies:
            studies[kind] = [load_runs(simulate(k, kind)) for k in keys[:-1]]
        runs_list = studies[kind]
        boot = _bootstrap_draws(approach, runs_list, seed, n_resamples, parametric_law)
        studies_bar = tqdm(
            runs_list, desc=f"Approach {approach} posteriors", unit="study", disable=not progress
        )
        post = [
            _posterior_draws(
                approach,
                runs,
                jax.random.fold_in(keys[i], registry.KEYS.index(approach)),
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
                        covers(d if quantity == "a" else 1 - d, target[quantity], level)
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
    if any(registry.get(approach).study == "curves" for approach in approaches):
        design["curves"] = {
            "sizes": list(DEFAULT_SIZES),
            "horizon_ratios": list(DEFAULT_HORIZON_RATIOS),
        }
    return CalibrationResult(rows=rows, truth=truth, design=design)
