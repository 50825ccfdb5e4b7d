"""What an approach tells the engine about itself: ``ApproachSpec`` and its ``SweepPlan``.

Each approach module exports one ``ApproachSpec``; ``approaches.registry`` maps keys to them.
Everything above the approaches (the CLI, the workflow, the sweep engine in ``resample``,
calibration, posteriors) looks an approach up by its key (the strings ``"1"``, ``"2"``,
``"3"``) and calls what its record holds, instead of branching on the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

import jax
import jax.numpy as jnp

from scalinglaw_jax.status import Status

FRONTIER_NAMES = ("a", "b", "log_g_n", "log_g_d")
RESIDUAL_SCHEMES = ("wild", "wild-gaussian")
"""Resampling schemes whose unit weights multiply residuals (mean 0, variance 1) instead of
weighting rows: the approach refits data rebuilt as fitted + multiplier x residual (Approach 1's
training curves; the other approaches refuse them)."""


class SweepPlan(NamedTuple):
    """One approach on one table, ready for the sweep engine (``resample.prepare``).

    ``fit_chunk(data, weights)`` maps a ``(chunk, n_rows)`` weight matrix to a dict of
    ``(chunk,)`` outputs; it is pure and holds no data (the arrays travel in ``data``), so
    tables of one shape share one compiled program. ``n_units`` counts the resampled units;
    ``row_of_unit`` gives each row's unit (block resampling; -1: in no unit), or is None when
    the units are the rows. ``quantities`` are the outputs a bootstrap reports;
    ``jackknife_affordable`` says whether n_units more fits (BCa) are cheap enough to run by
    default. ``bytes_per_resample`` estimates one resample's working memory.
    ``pad_rows(data, n_rows)``, when given, returns ``data`` with its rows padded to ``n_rows``
    by copies of a real row: the engine pads tables to size buckets (``row_bucket``)
    and gives padded rows weight 0, which must add exactly nothing to the fit; None: the rows
    are not padded.
    """

    point: object
    fit_chunk: Callable
    data: object
    n_units: int
    row_of_unit: object
    estimate: dict
    quantities: tuple[str, ...]
    config: dict
    bytes_per_resample: float
    jackknife_affordable: bool = True
    pad_rows: Callable | None = None


@dataclass(frozen=True)
class ApproachSpec:
    """One approach as the upper layers see it.

    ``units`` maps each resampling scheme the approach supports to the unit it resamples;
    ``refusals`` explains, per scheme it refuses, what to use instead. ``default_scheme`` is
    what ``scalinglaw bootstrap`` runs when no scheme is given. ``study`` names the simulated
    study calibration draws for it: ``"curves"``, ``"isoflop"``, or ``"law"`` (the IsoFLOP
    design drawn from the law being fitted; the ``"isoflop"`` studies for Chinchilla's own
    law). The callables all take the
    table first and keyword options after; each uses the options it knows and ignores the
    rest, so that one set of options can be handed to every approach:

    - ``rows(runs) -> (runs, note or None)``: the rows the approach fits;
    - ``fit(runs, **options)``: the full-data fit (raises ``DataError`` when impossible);
    - ``plan(runs, unit, *, dtype, point=None, **options) -> SweepPlan``;
    - ``posterior(runs, *, key, settings, **options)``: a ``bayes.Posterior``;
    - ``figures(result, runs) -> [(name, Figure)]``: the approach's own figures.

    ``bootstrap_defaults`` and ``posterior_defaults`` are the options ``plan`` and
    ``posterior`` take when a user sets none: the one place ``scalinglaw bootstrap``,
    ``scalinglaw sample`` and ``scalinglaw calibrate`` read them from, so that calibration
    measures what users run.
    """

    key: str
    name: str
    title: str
    color: str
    units: Mapping[str, str]
    refusals: Mapping[str, str]
    default_scheme: str
    study: str
    rows: Callable
    fit: Callable
    plan: Callable
    posterior: Callable
    figures: Callable
    bootstrap_defaults: Mapping = field(default_factory=dict)
    posterior_defaults: Mapping = field(default_factory=dict)


ROW_BUCKET_EXACT = 256
"""Tables up to this many rows are padded to a power of two (``row_bucket``)."""


def row_bucket(n_rows: int) -> int:
    """The rows a sweep fits for a table of ``n_rows``: the next power of two (at least 16) up
    to ``ROW_BUCKET_EXACT``, above it the next multiple of an eighth of the power of two below
    (4 steps an octave: at most 25% padding, as fitting padded rows costs time)."""
    if n_rows <= ROW_BUCKET_EXACT:
        return max(16, 1 << (n_rows - 1).bit_length())
    step = 1 << ((n_rows - 1).bit_length() - 3)
    return -(-n_rows // step) * step


def all_rows(runs):
    """``rows`` of an approach that fits every row of the table."""
    return runs, None


@cache
def mapped_chunk_fit(fit_arrays: Callable) -> Callable:
    """A chunk fit from a one-resample fit ``fit_arrays(arrays, weights)`` whose solution has
    ``frontier`` and ``status``: resamples one at a time (``lax.map``), so every chunk runs the
    same per-resample program and results do not depend on the chunk size (a vmapped matmul's
    summation order would)."""

    def fit(arrays, weights):
        solution = jax.lax.map(lambda w: fit_arrays(arrays, w), weights)
        return frontier_outputs(solution.frontier, solution.status)

    return fit


def frontier_outputs(frontier, status) -> dict:
    """Frontier coefficients of one fit, NaN where it has no frontier (status not OK)."""
    ok = status == Status.OK
    out = {name: jnp.where(ok, getattr(frontier, name), jnp.nan) for name in FRONTIER_NAMES}
    out["status"] = status
    return out
