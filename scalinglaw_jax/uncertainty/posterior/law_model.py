"""Approach 3's model of any ``Law`` and ``LawProblem``, the record a law's model hands to the
one sampler (``parametric.sample_parametric``).

``law_problem`` builds it for any law: NUTS on the law's coordinates. A law with a faster
parametrisation of its own declares it in ``parametric.FAST_PATHS`` (Chinchilla's:
``chinchilla.chinchilla_problem``), a builder with the same signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro

from scalinglaw_jax.approaches.parametric import fit_parametric, parametric_arrays
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.uncertainty.posterior.likelihoods import (
    SIGMA_PRIOR,
    likelihood,
    make_prior,
    observe,
    resolve_priors,
)
from scalinglaw_jax.uncertainty.posterior.result import frontier_draws


class LawProblem(NamedTuple):
    """One law's Approach-3 model, ready for NUTS, and how to read its draws.

    ``args(weights)`` gives the model's arguments (observed log-losses last); ``init``,
    ``priors``, ``options`` (static keywords) and ``traced_options`` go to ``nuts.run_nuts``.
    ``names`` are the law's coordinates as sample sites, in ``theta`` order. ``row_scores(sigma)``
    maps ``theta`` to per-row scores, and ``block`` picks the coordinates whose covariance the
    sandwich learning rate matches. ``draws(samples)`` gives flat draws of the frontier and the
    parameters; ``reported`` the names summarised; ``settings`` what the posterior records
    beside the likelihood; ``pilot_sd`` the coordinates whose pilot SDs it records.
    """

    model: Callable
    args: Callable
    init: dict
    priors: dict
    options: dict
    traced_options: dict
    names: tuple[str, ...]
    row_scores: Callable
    block: tuple[int, ...]
    draws: Callable
    reported: tuple[str, ...]
    settings: dict
    pilot_sd: tuple[str, ...] = ()


ProblemBuilder = Callable[..., tuple[object, LawProblem]]
"""``build(runs, weights, key, *, law, init_theta, priors, density, e_below_min_loss) -> (key,
LawProblem)``: how a law's model is set up (``law_problem``, or a law's own fast path)."""


def law_model(
    arrays,
    weights,
    log_loss=None,
    *,
    priors: Mapping[str, dict],
    law,
    kind: str,
    huber_k: float,
    student_df: float,
):
    """Approach 3 for any ``law.Law``: ``log L ~ density(law's log-loss, sigma)``.

    NUTS moves on the law's coordinates (``law.theta_names``: logs of parameters whose box lies
    above 0), each with its prior (``Law.prior_specs``: the law's own, else normal over its
    box); ``arrays`` are ``parametric.ParametricArrays``.
    """
    theta = jnp.stack([numpyro.sample(name, make_prior(priors[name])) for name in law.theta_names])
    sigma = numpyro.sample("sigma", make_prior(priors["sigma"]))
    density = likelihood(
        kind, law.log_loss(theta, arrays), sigma, huber_k=huber_k, student_df=student_df
    )
    observe("log_loss", density, weights, log_loss)


def _law_row_log_density(theta, sigma, arrays, law, kind, huber_k, student_df):
    density = likelihood(
        kind, law.log_loss(theta, arrays), sigma, huber_k=huber_k, student_df=student_df
    )
    return density.log_prob(arrays.log_loss)


def robust_scale(residual, weights) -> float:
    """MAD scale of the residuals of rows with weight > 0 (at least 1e-4): NUTS's ``sigma``
    start."""
    used = np.asarray(residual)[np.asarray(weights) > 0]
    return max(1.4826 * float(np.median(np.abs(used - np.median(used)))), 1e-4)


def law_problem(
    runs, weights, key, *, law, init_theta, priors, density: Mapping, e_below_min_loss: bool
):
    """``(key, LawProblem)`` of ``law`` by NUTS on its coordinates (``law_model``).

    ``init_theta`` (the law's coordinates) defaults to a fit from the law's start grid;
    ``priors`` override ``law.prior_specs()`` (and ``sigma``'s half-normal) by coordinate name.
    The sandwich matches every coordinate; the frontier of each draw is the law's own (closed
    form, else numeric).
    """
    if e_below_min_loss:
        raise DataError("e_below_min_loss applies to the Chinchilla law's E only")
    priors = resolve_priors({**law.prior_specs(), "sigma": SIGMA_PRIOR}, priors)
    arrays = parametric_arrays(runs, law=law)
    if init_theta is None:
        init_theta = fit_parametric(runs, weights, law=law).theta
    init_theta = np.asarray(init_theta, dtype=np.float64)
    residual = np.asarray(law.log_loss(jnp.asarray(init_theta), arrays) - arrays.log_loss)
    init = dict(zip(law.theta_names, (float(v) for v in init_theta), strict=True))
    init["sigma"] = robust_scale(residual, weights)
    names = law.theta_names

    def row_scores(sigma):
        return lambda theta: jax.jacfwd(_law_row_log_density)(theta, sigma, arrays, law, **density)

    def draws(samples):
        theta = jnp.stack([jnp.ravel(samples[n]) for n in names], axis=-1)
        out = frontier_draws(jax.jit(jax.vmap(law.frontier_of))(theta))
        out.update({k: np.asarray(v).ravel() for k, v in law.to_params(theta).items()})
        return out

    problem = LawProblem(
        model=law_model,
        args=lambda w: (arrays, jnp.asarray(w), arrays.log_loss),
        init=init,
        priors=priors,
        options=dict(law=law, **density),
        traced_options={},
        names=names,
        row_scores=row_scores,
        block=tuple(range(law.n_params)),
        draws=draws,
        reported=("a", "b", "G", *law.param_names, "sigma"),
        settings={},
    )
    return key, problem
