"""Calibration study: coverage of bootstrap and posterior intervals on simulated studies.

``run_calibration`` draws ``n_studies`` studies from a known law — IsoFLOP studies
(``simulate.simulate_isoflop``) for Approaches 2 and 3, training-curve studies
(``simulate.simulate_training_curves``) for Approach 1 — fits each by the interval methods
users get by default and counts how often the central 50/80/90/95% intervals of ``a`` and
``b`` contain the true exponents. The defaults are read from each approach's record
(``default_scheme``, ``bootstrap_defaults``) and ``posterior.POSTERIOR_DEFAULTS``, the
places ``scalinglaw bootstrap`` and ``scalinglaw sample`` read them from, so the table measures
what those commands run; other settings asked for (``schemes``, ``learning_rates``) are measured
beside them and labelled as such. Each coverage carries its binomial Monte-Carlo standard
error ``sqrt(p (1 - p) / K)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.approaches.spec import ApproachOptions
from scalinglaw_jax.core.data import DataError, load_runs
from scalinglaw_jax.core.intervals import covers
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.laws import CHINCHILLA_LAW
from scalinglaw_jax.laws.closed_forms import CHINCHILLA, PAPER_PARAMS, ChinchillaParams
from scalinglaw_jax.laws.simulate import (
    DEFAULT_HORIZON_RATIOS,
    DEFAULT_SIZES,
    simulate_isoflop,
    simulate_law,
    simulate_training_curves,
)
from scalinglaw_jax.uncertainty import resample
from scalinglaw_jax.uncertainty.posterior import (
    POSTERIOR_DEFAULTS,
    POSTERIORS,
    NutsSettings,
    PosteriorOptions,
)

LEVELS = (0.5, 0.8, 0.9, 0.95)
CALIBRATION_NUTS = NutsSettings(draws=500, warmup=500, progress_bar=False)
STUDY_LAW = CHINCHILLA_LAW
"""The law the IsoFLOP studies are drawn from (``simulate_isoflop``, at ``law``). Approach 3
fitting it shares Approach 2's studies and truth; fitting another law, its studies are drawn
from that law at ``law_truth``."""


@dataclass(frozen=True, eq=False)
class Method:
    """One interval method of one approach: ``kind`` (``"bootstrap"`` or ``"posterior"``),
    the options it runs with (``setting``: the scheme and plan options of a bootstrap, the
    posterior's keywords) and whether they are what users get when they set nothing."""

    kind: str
    setting: Mapping
    default: bool

    @property
    def label(self) -> str:
        """The setting as ``name=value`` pairs (``"default settings"`` when there are none)."""
        return ", ".join(f"{k}={v}" for k, v in self.setting.items()) or "default settings"


def methods(approach, *, schemes=(), learning_rates=()) -> tuple[Method, ...]:
    """The methods calibrated for ``approach``: its default bootstrap and posterior (from its
    record), then each other bootstrap scheme in ``schemes`` and, for a posterior that takes
    a learning rate (Approach 3), each other rate in ``learning_rates``. Raises
    ``DataError`` for a scheme the approach refuses (with the reason)."""
    spec = registry.get(approach)
    bootstrap = {"scheme": spec.default_scheme, **spec.bootstrap_defaults}
    chosen = [Method("bootstrap", bootstrap, True)]
    for scheme in dict.fromkeys(schemes):
        resample.resampled_unit(spec, scheme)
        if scheme != spec.default_scheme:
            chosen.append(Method("bootstrap", {**bootstrap, "scheme": scheme}, False))
    posterior = dict(POSTERIOR_DEFAULTS[spec.key])
    chosen.append(Method("posterior", posterior, True))
    if "learning_rate" in posterior:
        for rate in dict.fromkeys(learning_rates):
            if rate != posterior["learning_rate"]:
                chosen.append(Method("posterior", {**posterior, "learning_rate": rate}, False))
    return tuple(chosen)


def takes_learning_rate(approach) -> bool:
    """Whether the approach's posterior has a likelihood power to vary (Approach 3)."""
    return "learning_rate" in POSTERIOR_DEFAULTS[registry.get(approach).key]


@dataclass(frozen=True)
class CalibrationResult:
    """Per (approach, method, setting, quantity, level): coverage, its Monte-Carlo SE and K;
    ``timing``: wall and process CPU seconds per approach and method over all studies."""

    rows: list[dict]
    truth: dict[str, float]
    design: dict
    timing: list[dict]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def report(self) -> str:
        """Coverage +- binomial SE per method (rows) and level (columns), defaults marked."""
        table = self.table()
        cells = zip(table.coverage, table.mc_se, strict=True)
        table["cell"] = [f"{c:.3f} +- {se:.3f}" for c, se in cells]
        table["default"] = np.where(table["default"], "yes", "")
        index = ["approach", "method", "setting", "default", "quantity"]
        wide = table.pivot_table(index=index, columns="level", values="cell", aggfunc="first")
        wide.columns = [f"{100 * level:g}%" for level in wide.columns]
        timing = pd.DataFrame(self.timing).round(1).to_string(index=False)
        head = (
            f"coverage +- binomial SE over {self.design['n_studies']} studies; default: yes "
            "= what `scalinglaw bootstrap` / `sample` run when no option is set"
        )
        return f"{head}\n{wide.reset_index().to_string(index=False)}\n\nseconds\n{timing}"

    def save(self, path) -> Path:
        path = Path(path)
        content = {
            "truth": self.truth,
            "design": self.design,
            "coverage": self.rows,
            "timing": self.timing,
        }
        path.write_text(json.dumps(content, indent=2))
        return path


def _coverage_rows(approach, method: Method, hits: dict, n: int) -> list[dict]:
    rows = []
    for (quantity, level), count in hits.items():
        p = count / n
        rows.append(
            {
                "approach": approach,
                "method": method.kind,
                "setting": method.label,
                "default": method.default,
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
"""Random starts of each study's Approach-3 point fit, from which the bootstrap's resamples
start (the CLI's bootstrap starts from a 4,500-start grid fit: the same optimum on these
studies, at a few seconds more per study)."""


def _point_fit(approach: str, runs, law):
    """The full-data fit a study's bootstraps start from (Approach 3: 16 random starts)."""
    spec = registry.get(approach)
    options = ApproachOptions(starts=CALIBRATION_POINT_STARTS, key=jax.random.key(0), law=law)
    return spec.fit(runs, options)


def _bootstrap_draws(
    approach: str, runs, point, method: Method, seed: int, n_resamples: int, law: Law
) -> np.ndarray:
    """Bootstrap draws of ``a`` for one study by the sweep engine (``resample.run_sweep``).

    Every study uses the same resamples (``seed``); studies of one design share one compiled
    sweep per method.
    """
    setting = dict(method.setting)
    scheme = setting.pop("scheme")
    problem = resample.prepare(runs, approach, scheme, point=point, law=law, **setting)
    return resample.run_sweep(problem, n_resamples, seed=seed, progress=False).outputs["a"]


def _posterior_draws(approach: str, runs, key, settings, method: Method, law: Law = CHINCHILLA_LAW):
    """Posterior draws of ``a`` for one study (``posterior.POSTERIORS[approach]``)."""
    options = PosteriorOptions.from_keywords(law=law, **method.setting)
    posterior = POSTERIORS[approach](runs, key=key, settings=settings, options=options)
    return posterior.draws["a"]


def _law_truth(law: Law, law_truth, key, design_args) -> tuple[dict, dict]:
    """``law``'s truth (default: its fit to the noise-free IsoFLOP study drawn with ``key``,
    its closest member to the studies' own law) and the ``a, b`` of its frontier."""
    if law_truth is None:
        clean = load_runs(simulate_isoflop(key, **design_args))
        law_truth = fit_parametric(clean, law=law).params
    frontier = law.frontier_of(jnp.asarray(law.from_params(law_truth)))
    return law_truth, {"a": float(frontier.a), "b": float(frontier.b)}


def _fit_studies(approach, methods, studies, keys, settings, seed, n_resamples, law: Law):
    """Per method: the draws of ``a`` of each study, and wall and CPU seconds over all."""
    draws = {method: [] for method in methods}
    wall = dict.fromkeys(methods, 0.0)
    cpu = dict.fromkeys(methods, 0.0)
    for i, runs in enumerate(studies):
        point = None
        posterior_key = jax.random.fold_in(keys[i], registry.KEYS.index(approach))
        for method in methods:
            started, started_cpu = time.perf_counter(), time.process_time()
            if method.kind == "bootstrap":
                if point is None:
                    point = _point_fit(approach, runs, law)
                values = _bootstrap_draws(approach, runs, point, method, seed, n_resamples, law)
            else:
                values = _posterior_draws(approach, runs, posterior_key, settings, method, law)
            draws[method].append(values)
            wall[method] += time.perf_counter() - started
            cpu[method] += time.process_time() - started_cpu
    return draws, wall, cpu


def _hits(values, target: dict, levels) -> dict:
    """Per (quantity, level): how many studies' intervals of ``a`` (and ``b = 1 - a``) cover
    ``target``."""
    return {
        (quantity, level): sum(
            covers(d if quantity == "a" else 1 - d, target[quantity], level) for d in values
        )
        for quantity in ("a", "b")
        for level in levels
    }


def _design(chosen: dict, law, settings, parametric_law: Law, law_record, **numbers) -> dict:
    """What ``CalibrationResult.design`` records: the studies' shape (``numbers``), NUTS
    settings, the methods per approach, the laws (``law_record``: a law other than the
    studies' own, at its truth), and the curves' design when drawn."""
    design = {
        **numbers,
        "nuts": {"chains": settings.chains, "draws": settings.draws, "warmup": settings.warmup},
        "methods": {
            approach: [
                {"method": m.kind, "setting": dict(m.setting), "default": m.default}
                for m in methods
            ]
            for approach, methods in chosen.items()
        },
        "law": {k: float(v) for k, v in law._asdict().items()},
        "approaches": list(chosen),
        "parametric_law": parametric_law.name,
    }
    if law_record is not None:
        design["parametric_law_truth"] = law_record
    if any(registry.get(approach).study == "curves" for approach in chosen):
        design["curves"] = {
            "sizes": list(DEFAULT_SIZES),
            "horizon_ratios": list(DEFAULT_HORIZON_RATIOS),
        }
    return design


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
    settings: NutsSettings = CALIBRATION_NUTS,
    levels=LEVELS,
    schemes=(),
    learning_rates=(),
    progress: bool = False,
    parametric_law: Law = CHINCHILLA_LAW,
    law_truth: dict | None = None,
) -> CalibrationResult:
    """Coverage of nominal ``levels`` intervals for ``a`` and ``b`` (``b = 1 - a`` here).

    Each approach is measured with its default bootstrap and posterior (``methods``) plus any
    other bootstrap ``schemes`` and Approach-3 ``learning_rates`` asked for, labelled as not
    the default. ``n_resamples`` (bootstrap) and ``settings`` (NUTS chains, draws and warmup;
    Approach 1: ``chains x draws`` resampling-posterior draws) are shorter than the commands'
    defaults (1,000 resamples; 4 x 1,000 draws) to keep studies cheap: the same methods, with
    more Monte-Carlo noise in each interval's ends.

    Approach 3 fits ``parametric_law`` (a ``Law``). For a
    law other than Chinchilla's its studies are drawn from that law at ``law_truth`` (its
    parameters by name; default: the law fitted to the noise-free IsoFLOP study of ``law``,
    its closest member to it) on the same IsoFLOP design, with fresh data
    (``unique_tokens = tokens``) for laws that read it.

    ``points_per_budget`` and ``span_dex`` shape the IsoFLOP studies (Approaches 2, 3);
    Approach 1's training curves use ``simulate_training_curves``' defaults (12 sizes x 4
    horizons). ``noise`` is the log-normal loss noise of both. ``progress`` shows a bar per
    approach over the studies. Raises ``DataError`` before any study for a scheme an approach
    refuses, or learning rates without an approach whose posterior takes one.
    """
    approaches = tuple(registry.get(approach).key for approach in approaches)
    chosen = {
        approach: methods(approach, schemes=schemes, learning_rates=learning_rates)
        for approach in approaches
    }
    if learning_rates and not any(takes_learning_rate(a) for a in approaches):
        raise DataError(
            "learning rates apply to Approach 3's posterior, and Approach 3 is not calibrated"
        )
    frontier = CHINCHILLA.frontier(CHINCHILLA.from_params(law))
    truth = {"a": float(frontier.a), "b": float(frontier.b)}
    keys = jax.random.split(key, n_studies + 1)
    seed = resample.seed_from_key(keys[-1])
    own_law = parametric_law is not STUDY_LAW
    design_args = dict(law=law, points_per_budget=points_per_budget, span_dex=span_dex)
    if own_law:
        law_truth, law_truth_ab = _law_truth(parametric_law, law_truth, keys[-1], design_args)
    else:
        law_truth_ab = truth

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
    timing: list[dict] = []
    studies: dict[str, list] = {}  # per kind of study, simulated once (Approaches 2, 3 share)
    for approach in approaches:
        kind = registry.get(approach).study
        if kind == "law" and not own_law:
            kind = "isoflop"  # the studies' own law (STUDY_LAW): Approach 2's studies
        if kind not in studies:
            studies[kind] = [load_runs(simulate(k, kind)) for k in keys[:-1]]
        bar = tqdm(studies[kind], desc=f"Approach {approach}", unit="study", disable=not progress)
        draws, wall, cpu = _fit_studies(
            approach, chosen[approach], bar, keys, settings, seed, n_resamples, parametric_law
        )
        target = law_truth_ab if kind == "law" else truth
        for method, values in draws.items():
            hits = _hits(values, target, levels)
            rows.extend(_coverage_rows(approach, method, hits, n_studies))
            timing.append(
                {
                    "approach": approach,
                    "method": method.kind,
                    "setting": method.label,
                    "wall_s": wall[method],
                    "cpu_s": cpu[method],
                }
            )
    shape = dict(n_studies=n_studies, noise=noise, points_per_budget=points_per_budget)
    law_record = {**law_truth, **law_truth_ab} if own_law else None
    design = _design(
        chosen,
        law,
        settings,
        parametric_law,
        law_record,
        **shape,
        span_dex=span_dex,
        n_resamples=n_resamples,
    )
    return CalibrationResult(rows=rows, truth=truth, design=design, timing=timing)
