"""From uncertainty results to drawn bands: which band each approach line gets, or why none.

The commands (``demo``, ``fit --bootstrap``, ``bootstrap``, ``sample``) turn a
``BootstrapResult`` or a ``Posterior`` into an :class:`ApproachBand`: the band on a fixed FLOPs
grid with its legend text, or no band and the reason. A band is never drawn from bad draws:

- bootstrap: only resamples whose fit succeeded (converged with a finite frontier) are used,
  and when more than ``MAX_FAILED_FRACTION`` of the resamples failed the band is left out;
- posterior: the band is left out when the posterior failed its diagnostics (R-hat, ESS,
  divergences, failed draws).

``band_to_dict`` is what summary.json records, on the same grid the figures draw, so the
figure's band edges can be checked against the numbers.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, NamedTuple

import jax
import numpy as np

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.approaches.spec import ApproachOptions
from scalinglaw_jax.core import intervals
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.uncertainty import resample
from scalinglaw_jax.uncertainty.resample import failed_mask

if TYPE_CHECKING:  # annotations only: numpyro and arviz load when a posterior is sampled
    from scalinglaw_jax.evaluate.workflow import StudyFit
    from scalinglaw_jax.uncertainty import bayes

BAND_FLOPS = 10.0 ** (np.arange(170, 261) / 10.0)
"""FLOPs grid of every band: 1e17 to 1e26 in steps of 0.1 dex (1e24 is a grid point)."""
MAX_FAILED_FRACTION = 0.1
"""A bootstrap band is left out when more than this share of its resamples failed: the
successful ones would then be a selected, not a random, subset of the resamples."""


class ApproachBand(NamedTuple):
    """One approach's band (``None`` when it cannot be drawn), its legend text, and a note.

    ``note`` says why the band is missing (or is empty when it is drawn).
    """

    approach: str
    band: intervals.Band | None
    label: str
    note: str = ""


def bootstrap_band(result, flops=BAND_FLOPS) -> ApproachBand:
    """Band of a ``resample.BootstrapResult`` over its successful resamples only."""
    sweep = result.sweep
    approach, scheme = sweep.problem.approach, sweep.problem.scheme
    n_resamples = int(sweep.outputs["a"].shape[0])
    ok = ~failed_mask(sweep)
    n_failed = n_resamples - int(ok.sum())
    label = f"{100 * result.level:g}% {scheme} bootstrap band ({n_resamples} resamples)"
    if n_failed > MAX_FAILED_FRACTION * n_resamples:
        note = (
            f"no bootstrap band for Approach {approach}: {n_failed} of {n_resamples} resamples "
            f"failed (more than {MAX_FAILED_FRACTION:.0%})"
        )
        return ApproachBand(approach, None, label, note)
    return ApproachBand(approach, result.band(np.asarray(flops, dtype=float), kept=ok), label)


def posterior_band(posterior, flops=BAND_FLOPS) -> ApproachBand:
    """Credible band of a ``bayes.Posterior``; left out when its diagnostics failed."""
    approach = str(posterior.approach)
    method = posterior.settings.get("method", "NUTS")
    n_draws = len(posterior.draws["a"])
    if not posterior.diagnostics.ok:
        note = (
            f"no posterior band for Approach {approach}: the posterior failed its checks ("
            + "; ".join(posterior.diagnostics.reasons)
            + ")"
        )
        return ApproachBand(approach, None, f"posterior band ({method})", note)
    band = posterior.band(np.asarray(flops, dtype=float))
    label = f"{100 * band.level:g}% posterior band ({method}, {n_draws} draws)"
    return ApproachBand(approach, band, label)


def band_to_dict(entry: ApproachBand) -> dict:
    """summary.json record of a band: its grid and edges, or why it is missing."""
    if entry.band is None:
        return {"drawn": False, "label": entry.label, "note": entry.note}
    band = entry.band
    return {
        "drawn": True,
        "label": entry.label,
        "kind": band.kind,
        "level": band.level,
        "n_draws": band.n_draws,
        "flops": band.flops,
        "n_opt": [band.n_low, band.n_high],
        "d_opt": [band.d_low, band.d_high],
    }


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
    study: StudyFit, settings: bayes.NutsSettings, *, seed: int = 0, isoflop_nominal=None
) -> tuple[dict, dict[str, ApproachBand]]:
    """Posterior of every fitted approach of ``study`` by its record: NUTS for Approaches 2
    and 3 (Approach 3 with the plain likelihood and the study's law), Approach 1's default
    resampling posterior (Gaussian residual multipliers). Returns ``(posteriors, bands)``
    keyed by approach."""
    key = jax.random.key(seed)
    posteriors = {}
    for name, fit in sorted(study.results.items()):
        spec = registry.get(name)
        runs, _ = spec.rows(study.tables[name])
        options = {"nominal": isoflop_nominal, "learning_rate": 1.0}
        if hasattr(fit, "law"):
            options["law"] = fit.law
        posteriors[name] = spec.posterior(
            runs, key=jax.random.fold_in(key, int(name)), settings=settings, **options
        )
    return posteriors, {name: posterior_band(p) for name, p in posteriors.items()}
