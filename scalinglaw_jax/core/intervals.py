"""Interval statistics of draws: percentile and BCa intervals, and frontier bands.

Every interval in the package (bootstrap, posterior, replication, calibration coverage, the
bands drawn around frontiers) is computed here, so that they all agree on the quantiles and on
what happens to non-finite draws. Plotting imports ``Band`` from here, never the reverse.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

BAND_KINDS = ("bootstrap", "posterior")


def tail_percents(level: float) -> tuple[float, float]:
    """Percentiles ``(50 (1 - level), 50 (1 + level))`` bounding the central ``level`` mass."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return 50.0 * (1.0 - level), 50.0 * (1.0 + level)


def finite(values) -> np.ndarray:
    """The finite entries of ``values`` as a flat float64 array (failed fits are NaN)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def percentile_interval(values, level: float = 0.95) -> list[float]:
    """Central percentile interval ``[low, high]`` of the finite ``values``."""
    return [float(v) for v in np.percentile(finite(values), tail_percents(level))]


def covers(values, truth: float, level: float) -> bool:
    """Whether the central ``level`` percentile interval of ``values`` contains ``truth``."""
    low, high = percentile_interval(values, level)
    return bool(low <= truth <= high)


def bca_interval(draws, estimate: float, jackknife, level: float = 0.95) -> list[float]:
    """Efron's bias-corrected and accelerated percentile interval.

    ``draws`` are bootstrap replicates, ``estimate`` the full-data value and ``jackknife`` the
    leave-one-unit-out values (their skewness sets the acceleration); non-finite entries of
    both are left out.
    """
    # The normal's cdf and quantile from scipy.special (what scipy.stats.norm calls, bit for
    # bit), imported here: scipy.stats takes 0.6 s to import and most commands never need it.
    from scipy.special import ndtr, ndtri

    draws, jackknife = finite(draws), finite(jackknife)
    z0 = ndtri(np.clip(np.mean(draws < estimate), 1e-12, 1 - 1e-12))
    spread = jackknife.mean() - jackknife
    denominator = 6.0 * np.sum(spread**2) ** 1.5
    accel = np.sum(spread**3) / denominator if denominator > 0 else 0.0
    tail_percents(level)  # checks the level
    z = ndtri([(1 - level) / 2, (1 + level) / 2])
    adjusted = ndtr(z0 + (z0 + z) / (1 - accel * (z0 + z)))
    return [float(v) for v in np.percentile(draws, 100 * adjusted)]


class Band(NamedTuple):
    """Pointwise band of ``N_opt(C)`` and ``D_opt(C)`` on the FLOPs grid ``flops``.

    ``kind`` is ``"bootstrap"`` or ``"posterior"``; ``n_draws`` counts the draws used and
    ``n_dropped`` the draws ignored because a coefficient was not finite.
    """

    flops: np.ndarray
    n_low: np.ndarray
    n_high: np.ndarray
    d_low: np.ndarray
    d_high: np.ndarray
    level: float = 0.95
    kind: str = "bootstrap"
    n_draws: int = 0
    n_dropped: int = 0


def band_from_draws(
    flops, log_g_n, a, log_g_d, b, level: float = 0.95, kind: str = "bootstrap"
) -> Band:
    """Central ``level`` percentile band of the frontiers given by per-draw coefficients.

    Each argument after ``flops`` has shape ``(n_draws,)``. Percentiles are taken pointwise on
    the log scale (the scale the power laws are linear in). A draw with any non-finite
    coefficient (a failed fit) is ignored, counted in ``Band.n_dropped`` and warned about.
    """
    if kind not in BAND_KINDS:
        raise ValueError(f"kind must be one of {BAND_KINDS}, got {kind!r}")
    q = tail_percents(level)
    flops = np.asarray(flops, dtype=float)
    coefs = np.stack([np.asarray(x, dtype=float).ravel() for x in (log_g_n, a, log_g_d, b)])
    keep = np.all(np.isfinite(coefs), axis=0)
    n_dropped = int(coefs.shape[1] - keep.sum())
    if not keep.any():
        raise ValueError(
            f"band_from_draws: all {coefs.shape[1]} draws have non-finite coefficients"
        )
    if n_dropped:
        warnings.warn(
            f"band_from_draws: ignored {n_dropped} of {coefs.shape[1]} draws with non-finite "
            "coefficients",
            RuntimeWarning,
            stacklevel=2,
        )
    log_g_n, a, log_g_d, b = coefs[:, keep][..., None]
    log_c = np.log(flops)
    n_low, n_high = np.exp(np.percentile(log_g_n + a * log_c, q, axis=0))
    d_low, d_high = np.exp(np.percentile(log_g_d + b * log_c, q, axis=0))
    return Band(flops, n_low, n_high, d_low, d_high, level, kind, int(keep.sum()), n_dropped)
