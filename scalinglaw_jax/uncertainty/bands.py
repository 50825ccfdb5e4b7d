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

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from scalinglaw_jax.core import intervals
from scalinglaw_jax.uncertainty.resample import failed_mask

if TYPE_CHECKING:  # annotations only: numpyro and arviz load when a posterior is sampled
    pass

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
    """Credible band of a ``posterior.Posterior``; left out when its diagnostics failed."""
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
