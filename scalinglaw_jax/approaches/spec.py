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

from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.core.errors import refuse_unknown_fields
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.core.solvers import (
    BOOTSTRAP_SCREENING,
    DEFAULT_SCREENING,
    Screening,
    SolverOptions,
)
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.laws import CHINCHILLA_LAW

FRONTIER_NAMES = ("a", "b", "log_g_n", "log_g_d")
RESIDUAL_SCHEMES = ("wild", "wild-gaussian")
"""Resampling schemes whose unit weights multiply residuals (mean 0, variance 1) instead of
weighting rows: the approach refits data rebuilt as fitted + multiplier x residual (Approach 1's
training curves; the other approaches refuse them)."""


@dataclass(frozen=True)
class ApproachOptions:
    """The settings an approach's ``fit`` and ``plan`` read, typed and checked once.

    One record serves every approach (``--approach all`` hands the same one to each); each
    reads the fields it uses and no other. Build one directly, or with ``from_keywords``,
    which refuses an unknown name and names the nearest field.

    - ``law``: Approach 3's ``Law`` (a value: names are resolved at the boundary);
    - ``dtype``: float64 by default, float32 the explicit fast path;
    - ``nominal``, ``budgets``: Approach 2's nominal budgets, or its assignment of rows;
    - ``n_grid``: Approach 1's FLOP grid (None: the approach's default);
    - ``starts``, ``key``, ``screening``: Approach 3's full-data fit (``"grid"``, a number of
      random starts drawn with ``key``, or an array; multi-start screening, None solves every
      start);
    - ``mode``, ``k_starts``, ``solver``, ``sweep_screening``: Approach 3's sweep (``fast``
      starts each resample at the optimum plus the ``k_starts`` best grid starts, ``full``
      runs the whole grid screened by ``sweep_screening``; ``solver`` None picks the mode's
      own solver settings).
    """

    law: Law = CHINCHILLA_LAW
    dtype: object = jnp.float64
    nominal: tuple[float, ...] | None = None
    budgets: object = None
    n_grid: int | None = None
    starts: object = "grid"
    key: object = None
    screening: Screening | None = DEFAULT_SCREENING
    mode: str = "fast"
    k_starts: int = 8
    solver: SolverOptions | None = None
    sweep_screening: Screening | None = BOOTSTRAP_SCREENING

    @classmethod
    def from_keywords(cls, **keywords) -> ApproachOptions:
        """The record of ``keywords``; ``DataError`` for an unknown name (nearest named) or a
        law given by name (resolve it with ``laws.get_law`` first)."""
        refuse_unknown_fields(cls, keywords, "approach option")
        if "law" in keywords and not isinstance(keywords["law"], Law):
            raise DataError(
                f"law must be a Law value, got {keywords['law']!r}: resolve a name with "
                "scalinglaw_jax.get_law"
            )
        if keywords.get("nominal") is not None:
            keywords["nominal"] = tuple(float(c) for c in keywords["nominal"])
        return cls(**keywords)


DEFAULT_APPROACH_OPTIONS = ApproachOptions()
"""Every approach option at its default."""


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
    law). The callables take the table first and an ``ApproachOptions`` record:

    - ``rows(runs) -> (runs, note or None)``: the rows the approach fits;
    - ``fit(runs, options)``: the full-data fit (raises ``DataError`` when impossible);
    - ``plan(runs, unit, options, point=None) -> SweepPlan``;

    ``columns`` maps each optional table column the approach cannot do without (beyond
    params, tokens or flops, and loss) to what it is for, so that a command can refuse a table
    before any fit. ``bootstrap_defaults`` are the options ``plan`` takes when a user sets
    none: the one place ``scalinglaw bootstrap`` and ``scalinglaw calibrate`` read them from,
    so that calibration measures what users run. Posteriors are not here (approaches import
    no posterior): ``uncertainty.posterior.POSTERIORS`` maps the same keys to them.
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
    columns: Mapping[str, str] = field(default_factory=dict)
    bootstrap_defaults: Mapping = field(default_factory=dict)


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
