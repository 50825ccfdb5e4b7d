"""Run the approaches a table supports, compare them, and put bands on their lines.

Shared by ``scalinglaw fit``, ``scalinglaw demo`` and the notebooks: given the table(s) for each
approach it fits what it can, records why it skipped the rest, and bootstraps or samples every
fitted approach (``figures.study`` draws the result).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import jax

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.approaches.spec import DEFAULT_APPROACH_OPTIONS, ApproachOptions
from scalinglaw_jax.core.data import DataError, Runs, load_runs
from scalinglaw_jax.core.frontier import frontier_to_dict
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.laws.simulate import simulate_chinchilla_study
from scalinglaw_jax.uncertainty import resample
from scalinglaw_jax.uncertainty.bands import ApproachBand, bootstrap_band, posterior_band

if TYPE_CHECKING:  # annotations only: numpyro and arviz load when a posterior is sampled
    from scalinglaw_jax.uncertainty.posterior import NutsSettings


@dataclass
class StudyFit:
    """Results per approach (``"1"``, ``"2"``, ``"3"``), skipped approaches with reasons."""

    results: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)

    def comparison_table(self) -> str:
        """Exponents and projections side by side with the paper's Table 2 and Kaplan."""
        published = {"1": (0.50, 0.50), "2": (0.49, 0.51), "3": (0.46, 0.54)}
        lines = [
            f"{'approach':<26}{'a':>8}{'b':>8}{'paper a':>9}  {'N_opt @ 1e24 FLOPs':>19}"
            f"{'tokens for 70B':>16}"
        ]
        entries = [
            (registry.get(k).name, r.frontier, published[k][0]) for k, r in self.results.items()
        ]
        entries.append(("Kaplan et al. (2020)", closed_forms.KAPLAN_FRONTIER, 0.73))
        for name, frontier, paper_a in sorted(entries):
            n_opt = float(frontier.n_opt(1e24))
            tokens_70b = float(frontier.d_opt(frontier.flops_for_params(70e9)))
            lines.append(
                f"{name:<26}{float(frontier.a):>8.3f}{float(frontier.b):>8.3f}{paper_a:>9.2f}  "
                f"{n_opt:>19.3g}{tokens_70b:>16.3g}"
            )
        for key, reason in sorted(self.skipped.items()):
            lines.append(f"{registry.get(key).name}: skipped ({reason})")
        return "\n".join(lines)

    def summary(self) -> dict:
        """``approaches`` section of summary.json: one entry per fitted approach + Kaplan."""
        content = {key: result.to_dict() for key, result in sorted(self.results.items())}
        content["kaplan"] = {
            **frontier_to_dict(closed_forms.KAPLAN_FRONTIER),
            "projection": closed_forms.projection_table(closed_forms.KAPLAN_FRONTIER),
            "source": "Kaplan et al. (2020): N_opt = 1.3e9 C^0.73, C in PF-days",
        }
        content["skipped"] = dict(self.skipped)
        return content


def fit_study(
    tables: dict[str, Runs],
    approaches=registry.KEYS,
    options: ApproachOptions = DEFAULT_APPROACH_OPTIONS,
) -> StudyFit:
    """Fit each requested approach on its table; record a reason for each one skipped.

    ``tables`` maps approach keys to validated tables (the same table may serve several);
    ``options`` are the approaches' settings (Approach 3's law and screening, Approach 2's
    nominal budgets).
    """
    study = StudyFit(tables=dict(tables))
    for key in approaches:
        runs = tables.get(key)
        if runs is None:
            study.skipped[key] = "no table given for it"
            continue
        spec = registry.get(key)
        try:
            runs, note = spec.rows(runs)
            if note:
                print(note)
            study.results[key] = spec.fit(runs, options)
        except DataError as error:
            study.skipped[key] = str(error).splitlines()[0]
    return study


def demo_tables(seed: int = 0, noise: float = 0.01) -> dict[str, Runs]:
    """The built-in study: the paper's design simulated from its own Approach-3 law."""
    study = simulate_chinchilla_study(jax.random.key(seed), noise=noise)
    return {
        "1": load_runs(study["curves"]),
        "2": load_runs(study["isoflop"]),
        "3": load_runs(study["final"]),
    }


def tables_for(runs: Runs) -> dict[str, Runs]:
    """One user table serves every approach; each approach checks what it needs."""
    return {"1": runs, "2": runs, "3": runs}


def bootstrap_study(
    study: StudyFit,
    n_resamples: int,
    *,
    seed: int = 0,
    k_starts: int = 8,
    level: float = 0.95,
    isoflop_nominal=None,
) -> tuple[dict, dict[str, ApproachBand]]:
    """Bootstrap every fitted approach of ``study`` with its record's ``default_scheme``.

    Each approach resamples the rows it fits (Approach 3: the final losses); Approach 3 runs in
    fast mode from the study's own fit and law (``k_starts`` grid starts besides it). Returns
    ``(results, bands)``: the ``BootstrapResult`` per approach bootstrapped, and an
    ``ApproachBand`` per fitted approach (one the scheme cannot resample gets a missing band
    saying why).
    """
    results, bands = {}, {}
    for key, fit in sorted(study.results.items()):
        spec = registry.get(key)
        runs, _ = spec.rows(study.tables[key])
        options = ApproachOptions.from_keywords(k_starts=k_starts, nominal=isoflop_nominal)
        if hasattr(fit, "law"):
            options = dataclasses.replace(options, law=fit.law)
        try:
            problem = resample.prepare(runs, spec, spec.default_scheme, point=fit, options=options)
        except DataError as error:
            note = f"no bootstrap band for Approach {key}: {str(error).splitlines()[0]}"
            bands[key] = ApproachBand(key, None, f"{spec.default_scheme} bootstrap band", note)
            continue
        result = resample.run_bootstrap(
            problem, n_resamples, level=level, bca=False, seed=seed, progress=False
        )
        results[key] = result
        bands[key] = bootstrap_band(result)
    return results, bands


def posterior_study(
    study: StudyFit, settings: NutsSettings, *, seed: int = 0, isoflop_nominal=None
) -> tuple[dict, dict[str, ApproachBand]]:
    """Posterior of every fitted approach of ``study`` (``posterior.POSTERIORS``): NUTS for
    Approaches 2 and 3 (Approach 3 with the plain likelihood and the study's law), Approach 1's
    default resampling posterior (Gaussian residual multipliers). Returns ``(posteriors,
    bands)`` keyed by approach."""
    from scalinglaw_jax.uncertainty.posterior import POSTERIORS, PosteriorOptions

    key = jax.random.key(seed)
    posteriors = {}
    for name, fit in sorted(study.results.items()):
        runs, _ = registry.get(name).rows(study.tables[name])
        options = PosteriorOptions(nominal=isoflop_nominal, learning_rate=1.0)
        if hasattr(fit, "law"):
            options = dataclasses.replace(options, law=fit.law)
        posteriors[name] = POSTERIORS[name](
            runs, key=jax.random.fold_in(key, int(name)), settings=settings, options=options
        )
    return posteriors, {name: posterior_band(p) for name, p in posteriors.items()}
