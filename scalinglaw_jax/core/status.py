"""One status enumeration for the solver and every approach: failures are data.

A fit never raises inside a compiled program; it returns a status code per start or resample
(as optimistix's ``RESULTS``). ``Status`` is an ``IntEnum``, so its members are plain integers
inside ``jit`` (``jnp.where(ok, Status.CONVERGED, Status.MAX_STEPS)``) and comparable with the
integer arrays a sweep returns. ``label`` is the short name used in counts and JSON;
``message`` the sentence a report prints.
"""

from __future__ import annotations

import enum

import numpy as np


class Status(enum.IntEnum):
    """Outcome of one fit. ``CONVERGED`` (alias ``OK``) is the only success."""

    CONVERGED = 0
    MAX_STEPS = 1
    NON_FINITE = 2
    TOO_FEW_POINTS = 3
    ONE_SIZE = 4
    TOO_FEW_BUDGETS = 5
    SCREENED_OUT = 6
    OK = 0

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_LABELS = {
    Status.CONVERGED: "converged",
    Status.MAX_STEPS: "max-steps",
    Status.NON_FINITE: "non-finite",
    Status.TOO_FEW_POINTS: "too-few-points",
    Status.ONE_SIZE: "one-size",
    Status.TOO_FEW_BUDGETS: "too-few-budgets",
    Status.SCREENED_OUT: "screened-out",
}
_MESSAGES = {
    Status.CONVERGED: "ok",
    Status.MAX_STEPS: "the solver reached its step limit before its tolerances",
    Status.NON_FINITE: "the objective or its gradient is not finite",
    Status.TOO_FEW_POINTS: "fewer than 2 grid points where a run with weight > 0, neither the "
    "smallest nor the largest size, is lowest",
    Status.ONE_SIZE: "a single model size forms the whole envelope",
    Status.TOO_FEW_BUDGETS: "fewer than 2 budgets with an interior minimum",
    Status.SCREENED_OUT: "stopped after the screening stage: other starts led to better or "
    "equivalent points, and only those were solved to convergence",
}

SOLVER_CODES = (Status.CONVERGED, Status.MAX_STEPS, Status.NON_FINITE, Status.SCREENED_OUT)
"""The codes a multi-start solver returns per start (``status_counts``' default)."""


def status_counts(status, codes=SOLVER_CODES) -> dict[str, int]:
    """Number of starts (or resamples) per status label, for each of ``codes``."""
    status = np.asarray(status)
    return {Status(code).label: int(np.sum(status == code)) for code in codes}
