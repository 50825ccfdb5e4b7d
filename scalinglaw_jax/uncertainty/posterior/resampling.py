"""Approach 1's posterior: a resampling posterior, not MCMC.

The envelope is an algorithm, not a likelihood, so Approach 1 has no NUTS posterior. Its draws
come from the sweep engine (``resample.run_sweep``), each refitting the whole envelope, laid
out as ``chains x draws`` so that the same diagnostics and outputs apply.
"""

from __future__ import annotations

import arviz as az
import jax
import numpy as np

from scalinglaw_jax.approaches.envelope import DEFAULT_N_GRID
from scalinglaw_jax.core.data import DataError, Runs, as_runs
from scalinglaw_jax.core.frontier import Frontier
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.uncertainty import resample
from scalinglaw_jax.uncertainty.posterior.nuts import Diagnostics, NutsSettings, diagnose
from scalinglaw_jax.uncertainty.posterior.options import RESAMPLING_POSTERIORS, PosteriorOptions
from scalinglaw_jax.uncertainty.posterior.result import Posterior, frontier_draws


def bayesian_bootstrap_envelope(
    runs: Runs, *, key=None, chains: int = 4, draws: int = 1000, n_grid: int | None = None
) -> Posterior:
    """Approach-1 posterior: the Bayesian bootstrap over training curves.

    Each draw puts Dirichlet(1, ..., 1) weights (scaled to sum to the number of curves) on the
    curves and refits the envelope, which is an exact draw from the posterior of a
    nonparametric model whose prior is a Dirichlet process with vanishing mass (Rubin 1981).
    It treats the curves as a random sample, so it includes the error of which sizes and
    horizons were trained; ``resampling_posterior_envelope`` explains the default instead.
    """
    return resampling_posterior_envelope(
        runs, scheme="bayesian", key=key, chains=chains, draws=draws, n_grid=n_grid
    )


def resampling_posterior_envelope(
    runs: Runs,
    *,
    scheme: str = "wild-gaussian",
    key=None,
    chains: int = 4,
    draws: int = 1000,
    n_grid: int | None = None,
) -> Posterior:
    """Approach-1 posterior draws by the sweep engine's ``scheme`` (``RESAMPLING_POSTERIORS``).

    ``"wild-gaussian"`` (the default) keeps each curve's fitted shape and redraws its noise:
    every point becomes shape x exp(z x residual) with z standard normal, and the whole
    estimator is rerun. That is a draw of the frontier under a Gaussian noise model whose
    per-point variance is the point's squared residual (a parametric bootstrap given the
    shapes, and the smooth counterpart of the ``wild`` bootstrap's signs, as the Bayesian
    bootstrap is of the multinomial one); it covers the error from the points' noise given
    the design. ``"bayesian"``: the Bayesian bootstrap over curves. The draws are seeded from
    ``key``, chunked and sharded like any bootstrap and independent. Draws whose envelope fit
    fails are dropped and reported in ``Diagnostics.reasons``. Raises ``DataError`` for
    another scheme.
    """
    if scheme not in RESAMPLING_POSTERIORS:
        raise DataError(
            f"Approach 1's posterior scheme must be one of {', '.join(RESAMPLING_POSTERIORS)}, "
            f"got {scheme!r}"
        )
    runs = as_runs(runs)
    key = jax.random.key(0) if key is None else key
    problem = resample.prepare(runs, "1", scheme, n_grid=n_grid or DEFAULT_N_GRID)
    sweep = resample.run_sweep(
        problem, chains * draws, seed=resample.seed_from_key(key), progress=False
    )
    outputs = sweep.outputs
    frontier = Frontier(*(outputs[name] for name in ("a", "b", "log_g_n", "log_g_d")))
    draws_flat = frontier_draws(frontier)
    failed = outputs["status"] != Status.OK
    for values in draws_flat.values():
        values[failed] = np.nan
    idata = az.from_dict(posterior={k: v.reshape(chains, draws) for k, v in draws_flat.items()})
    return Posterior(
        approach="1",
        idata=idata,
        draws={k: v[~failed] for k, v in draws_flat.items()},
        diagnostics=_diagnostics(idata, draws_flat, failed, scheme),
        reported=("a", "b", "G"),
        settings={
            "method": RESAMPLING_POSTERIORS[scheme],
            "scheme": scheme,
            "chains": chains,
            "draws": draws,
        },
    )


def _diagnostics(idata, draws_flat, failed, scheme: str) -> Diagnostics:
    """``diagnose``'s checks, failed also by draws without an envelope or without spread."""
    diagnostics = diagnose(idata, ("a", "log_g_n"))
    reasons = diagnostics.reasons
    if failed.any():
        reasons = (*reasons, f"{int(failed.sum())} draws without a usable envelope")
    if np.nanstd(draws_flat["a"]) == 0.0:
        reasons = (
            *reasons,
            f"all draws give the same frontier: the {scheme} draws carry no uncertainty",
        )
    if reasons != diagnostics.reasons:
        diagnostics = Diagnostics(**{**diagnostics.__dict__, "ok": False, "reasons": reasons})
    return diagnostics


def approach1_posterior(
    runs: Runs, *, key, settings: NutsSettings, options: PosteriorOptions
) -> Posterior:
    """``settings.chains x settings.draws`` resampling-posterior draws of ``options.scheme``."""
    return resampling_posterior_envelope(
        runs,
        scheme=options.scheme,
        key=key,
        chains=settings.chains,
        draws=settings.draws,
        n_grid=options.n_grid,
    )
