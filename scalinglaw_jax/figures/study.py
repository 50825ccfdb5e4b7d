"""Each approach's own figures, drawn from its result: the table the figure writers use.

Approach 2 draws its IsoFLOP profiles, Approach 3 its iso-loss contours; Approach 1 has none
beyond the two frontier figures every study draws.
"""

from __future__ import annotations

from scalinglaw_jax.core.data import Runs
from scalinglaw_jax.figures import plots


def isoflop_figures(result, runs: Runs) -> list:
    """Approach 2: the IsoFLOP profiles with their parabolas and the fitted frontier."""
    figure = plots.plot_isoflop_profiles(result.profiles(), frontier=result.frontier)
    return [("isoflop_profiles", figure)]


def parametric_figures(result, runs: Runs) -> list:
    """Approach 3: the law's iso-loss contours, its frontier and the runs."""
    figure = plots.plot_parametric_contours(result.theta, law=result.law, runs=runs)
    return [("parametric_contours", figure)]


APPROACH_FIGURES = {"2": isoflop_figures, "3": parametric_figures}
"""Approach key -> ``(result, runs) -> [(name, Figure)]``."""


def approach_figures(key: str, result, runs: Runs) -> list:
    """The figures of approach ``key`` (none for an approach without its own)."""
    draw = APPROACH_FIGURES.get(key)
    return [] if draw is None else draw(result, runs)
