"""Chinchilla's law's fast path: NUTS on the loss terms at a reference point, with the law's
closed forms for the frontier and the sandwich scores.

Declared for ``laws.chinchilla.LAW`` in ``parametric.FAST_PATHS``; any other law runs
``law_model.law_problem``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.laws.closed_forms import CHINCHILLA
from scalinglaw_jax.uncertainty.posterior.law_model import LawProblem, robust_scale
from scalinglaw_jax.uncertainty.posterior.likelihoods import (
    SIGMA_PRIOR,
    likelihood,
    make_prior,
    observe,
    prior_log_prob,
    resolve_priors,
)
from scalinglaw_jax.uncertainty.posterior.result import frontier_draws

PARAMETRIC_PRIORS: dict[str, dict] = {
    "log_A": {"dist": "normal", "loc": 6.0, "scale": 5.0},
    "log_B": {"dist": "normal", "loc": 6.0, "scale": 5.0},
    "log_E": {"dist": "normal", "loc": 0.5, "scale": 1.0},
    "alpha": {"dist": "uniform", "low": 0.0, "high": 2.0},
    "beta": {"dist": "uniform", "low": 0.0, "high": 2.0},
    "sigma": SIGMA_PRIOR,
}
"""Approach-3 priors of Chinchilla's law. Flat-ish: the normals are wide on the log scale
(``A, B`` from about ``e^-4`` to ``e^16``), exponents uniform over Chinchilla's start grid,
``sigma`` (log-loss residual scale) half-normal with scale 0.1 (10% loss noise)."""
NAMES = ("log_A", "log_B", "log_E", "alpha", "beta")
"""The law's coordinates, ``theta``'s order."""
ALPHA_BETA = (3, 4)
"""The sandwich matches the (alpha, beta) block: the block that fixes ``a, b``."""
INIT_STARTS = 64
"""Random starts of the point fit NUTS starts from when no ``init_theta`` is given."""


def reference_point(log_n, log_d, weights):
    """Weighted means of ``ln N`` and ``ln D``: where ``X`` and ``Y`` are defined."""
    total = jnp.sum(weights)
    return jnp.sum(weights * log_n) / total, jnp.sum(weights * log_d) / total


@jax.jit
def _parametric_terms(e, x, y, alpha, beta, log_n, log_d, weights):
    """Logs of ``E, X, Y`` (1 where not all positive), ``log A, log B`` and the predicted
    log-loss; one jitted kernel for the model's eager runs."""
    log_n0, log_d0 = reference_point(log_n, log_d, weights)
    positive = (e > 0) & (x > 0) & (y > 0)
    log_e, log_x, log_y = (jnp.log(jnp.where(positive, v, 1.0)) for v in (e, x, y))
    theta = jnp.stack([log_x, log_y, log_e, alpha, beta])
    mean = CHINCHILLA.log_loss(theta, log_n - log_n0, log_d - log_d0)
    return positive, log_x + alpha * log_n0, log_y + beta * log_d0, log_e, log_x, log_y, mean


def parametric_model(
    log_n,
    log_d,
    weights,
    log_loss=None,
    *,
    priors: Mapping[str, dict],
    kind: str,
    huber_k: float,
    student_df: float,
    log_e_max: float | None = None,
):
    """Approach 3: ``log L ~ density(log(E + X (N/N0)^-alpha + Y (D/D0)^-beta), sigma)``.

    NUTS moves on ``E, X, Y`` (the loss terms at the reference point ``N0, D0`` of
    ``reference_point``) on the natural scale: for fixed exponents the loss is linear in them,
    which halves the leapfrog steps per draw against ``log A, log B, log E``. The priors stay
    on ``log A = log X + alpha ln N0``, ``log B`` and ``log E`` (with the Jacobian of the logs);
    ``log_A, log_B, log_E`` are recorded as deterministic sites.
    """
    real = dist.ImproperUniform(constraints.real, (), ())
    e, x, y = (numpyro.sample(name, real) for name in ("E", "X", "Y"))
    alpha = numpyro.sample("alpha", make_prior(priors["alpha"]))
    beta = numpyro.sample("beta", make_prior(priors["beta"]))
    sigma = numpyro.sample("sigma", make_prior(priors["sigma"]))
    positive, log_a, log_b, log_e, log_x, log_y, mean = _parametric_terms(
        e, x, y, alpha, beta, log_n, log_d, weights
    )
    numpyro.deterministic("log_A", log_a)
    numpyro.deterministic("log_B", log_b)
    numpyro.deterministic("log_E", log_e)
    prior = (
        prior_log_prob(make_prior(priors["log_A"]), log_a)
        + prior_log_prob(make_prior(priors["log_B"]), log_b)
        + prior_log_prob(make_prior(priors["log_E"], high=log_e_max), log_e)
        - log_e
        - log_x
        - log_y
    )
    numpyro.factor("log_prior_E_X_Y", jnp.where(positive, prior, -jnp.inf))
    density = likelihood(kind, mean, sigma, huber_k=huber_k, student_df=student_df)
    observe("log_loss", density, weights, log_loss)


def _row_log_density(theta, sigma, log_n, log_d, log_loss, kind, huber_k, student_df):
    mean = CHINCHILLA.log_loss(theta, log_n, log_d)
    density = likelihood(kind, mean, sigma, huber_k=huber_k, student_df=student_df)
    return density.log_prob(log_loss)


def _row_scores(sigma, log_n, log_d, log_loss, density: Mapping):
    """Per-row scores ``theta -> d log p_i / d theta`` at residual scale ``sigma``."""
    return lambda theta: jax.jacfwd(_row_log_density)(
        theta, sigma, log_n, log_d, log_loss, **density
    )


def _frontier_and_params(samples) -> dict:
    theta = jnp.stack([samples[n] for n in NAMES], axis=-1)
    draws = frontier_draws(CHINCHILLA.frontier(theta))
    for name, value in CHINCHILLA.to_params(theta)._asdict().items():
        draws[name] = np.asarray(value).ravel()
    return draws


def _initial_values(init_theta, sigma0, log_n0, log_d0) -> dict:
    """NUTS's start: ``E, X, Y`` at the reference point from ``(log A, log B, log E, alpha,
    beta)``."""
    log_a, log_b, log_e, alpha, beta = (float(v) for v in init_theta)
    return {
        "E": math.exp(log_e),
        "X": math.exp(log_a - alpha * log_n0),
        "Y": math.exp(log_b - beta * log_d0),
        "alpha": alpha,
        "beta": beta,
        "sigma": sigma0,
    }


def chinchilla_problem(
    runs, weights, key, *, law, init_theta, priors, density: Mapping, e_below_min_loss: bool
):
    """``(key, LawProblem)`` of Chinchilla's law by ``parametric_model``.

    ``init_theta`` is ``(log A, log B, log E, alpha, beta)``; without it an ``INIT_STARTS``-start
    fit runs first (on a key split off ``key``). ``priors`` override ``PARAMETRIC_PRIORS`` by
    name. ``e_below_min_loss`` bounds ``E`` by the smallest observed loss (a start above it
    moves just below).
    """
    priors = resolve_priors(PARAMETRIC_PRIORS, priors)
    log_n, log_d, log_loss = (np.log(getattr(runs, c)) for c in ("params", "tokens", "loss"))
    if init_theta is None:
        key, key_fit = jax.random.split(key)
        init_theta = fit_parametric(runs, weights, starts=INIT_STARTS, key=key_fit, law=law).theta
    init_theta = np.asarray(init_theta, dtype=np.float64)
    log_e_max = float(log_loss[weights > 0].min()) if e_below_min_loss else None
    if log_e_max is not None:
        make_prior(priors["log_E"], high=log_e_max)  # the model's trace cannot check this bound
        if init_theta[2] >= log_e_max:
            init_theta = init_theta.copy()
            init_theta[2] = log_e_max - 0.01
    residual = np.asarray(CHINCHILLA.log_loss(jnp.asarray(init_theta), log_n, log_d)) - log_loss
    log_n0, log_d0 = (float(v) for v in reference_point(log_n, log_d, weights))
    problem = LawProblem(
        model=parametric_model,
        args=lambda w: tuple(jnp.asarray(x) for x in (log_n, log_d, w, log_loss)),
        init=_initial_values(init_theta, robust_scale(residual, weights), log_n0, log_d0),
        priors=priors,
        options=dict(density),
        traced_options={"log_e_max": log_e_max},
        names=NAMES,
        row_scores=lambda sigma: _row_scores(
            sigma, *(jnp.asarray(x) for x in (log_n, log_d, log_loss)), density
        ),
        block=ALPHA_BETA,
        draws=_frontier_and_params,
        reported=("a", "b", "G", "E", "A", "B", "alpha", "beta", "sigma"),
        settings={"e_below_min_loss": e_below_min_loss},
        pilot_sd=("alpha", "beta"),
    )
    return key, problem
