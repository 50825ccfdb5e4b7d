"""Approach 3's posterior: one NUTS sampler for any ``Law``.

A law's model comes from ``FAST_PATHS`` (a builder declared for that law, keyed by the
``Law`` value) or, for every other law, from ``law_model.law_problem``; the sampler itself
never asks which law it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

import jax
import numpy as np

from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.core.data import Runs, as_runs, check_weights
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.laws import CHINCHILLA_LAW
from scalinglaw_jax.uncertainty.posterior.chinchilla import chinchilla_problem
from scalinglaw_jax.uncertainty.posterior.law_model import LawProblem, ProblemBuilder, law_problem
from scalinglaw_jax.uncertainty.posterior.likelihoods import density_settings
from scalinglaw_jax.uncertainty.posterior.nuts import DEFAULT_NUTS, NutsSettings, diagnose, run_nuts
from scalinglaw_jax.uncertainty.posterior.options import (
    DEFAULT_HUBER_K,
    DEFAULT_STUDENT_DF,
    PosteriorOptions,
    check_law,
    check_learning_rate,
    check_likelihood,
)
from scalinglaw_jax.uncertainty.posterior.result import Posterior, add_to_posterior
from scalinglaw_jax.uncertainty.posterior.sandwich import pilot_learning_rate

FAST_PATHS: Mapping[Law, ProblemBuilder] = MappingProxyType({CHINCHILLA_LAW: chinchilla_problem})
"""Laws with a model of their own, each a ``law_problem``-like builder: Chinchilla's law moves
on its loss terms at a reference point and uses its closed forms (``chinchilla``)."""


def sample_parametric(
    runs: Runs,
    weights=None,
    *,
    key=None,
    init_theta=None,
    settings: NutsSettings = DEFAULT_NUTS,
    likelihood_kind: str = "huber",
    huber_k: float = DEFAULT_HUBER_K,
    student_df: float = DEFAULT_STUDENT_DF,
    priors: Mapping | None = None,
    e_below_min_loss: bool = False,
    learning_rate: float | str = 1.0,
    law: Law = CHINCHILLA_LAW,
) -> Posterior:
    """Approach-3 posterior of ``law`` by NUTS, initialised at ``init_theta`` (the law's
    coordinates, e.g. ``fit_parametric(...).theta``; without it the law's model fits one).

    ``priors`` override the law model's by name. ``e_below_min_loss`` bounds ``E`` by the
    smallest observed loss (Chinchilla's law). ``learning_rate`` ``eta`` raises the likelihood
    to a power (a generalised posterior): a number, or ``"sandwich"`` to calibrate it by a
    pilot run of the plain posterior (``sandwich.pilot_learning_rate``); ``settings`` records
    ``eta``. The plain likelihood (``eta = 1``) trusts the iid noise model; on Epoch's data
    (quantised losses, residuals shared by model size) it gives SDs of alpha, beta about 0.7
    and 0.5 of the row bootstrap's, and ``"sandwich"`` (``eta`` about 0.4) restores them; the
    CLI default.
    """
    runs = as_runs(runs)
    settings.check()
    check_likelihood(likelihood_kind)
    check_learning_rate(learning_rate)
    build = FAST_PATHS.get(check_law(law), law_problem)
    density = dict(kind=likelihood_kind, huber_k=huber_k, student_df=student_df)
    key = jax.random.key(0) if key is None else key
    weights = check_weights(weights, len(runs), "row")
    key, problem = build(
        runs,
        weights,
        key,
        law=law,
        init_theta=init_theta,
        priors=priors,
        density=density,
        e_below_min_loss=e_below_min_loss,
    )
    run = functools.partial(
        run_nuts,
        problem.model,
        init_values=problem.init,
        priors=problem.priors,
        options=problem.options,
        traced_options=problem.traced_options,
    )
    plain_sd = None
    if learning_rate == "sandwich":
        key, key_pilot = jax.random.split(key)
        eta, plain_sd = pilot_learning_rate(run, problem, weights, key_pilot, settings)
    else:
        eta = float(learning_rate)
    result = run(problem.args(eta * weights), key=key, settings=settings)
    recorded = {
        **density_settings(density),
        **problem.settings,
        "priors": problem.priors,
        "learning_rate": eta,
        "learning_rate_method": "sandwich" if learning_rate == "sandwich" else "fixed",
    }
    if problem.pilot_sd:
        recorded["pilot_plain_sd"] = plain_sd
    return _posterior(runs, law, problem, result, settings.to_dict(**recorded))


def _posterior(runs, law: Law, problem: LawProblem, result, settings: dict) -> Posterior:
    samples = result.samples
    idata = result.inference_data(coords={"row": runs.row}, dims={"log_loss": ["row"]})
    draws = problem.draws(samples)
    add_to_posterior(idata, draws)
    names = (*problem.names, "sigma")
    draws.update({n: np.asarray(samples[n]).ravel() for n in names})
    return Posterior(
        approach="3",
        idata=idata,
        draws=draws,
        diagnostics=diagnose(idata, names),
        reported=problem.reported,
        settings=settings,
        law=law.name,
    )


def approach3_posterior(
    runs: Runs, *, key, settings: NutsSettings, options: PosteriorOptions
) -> Posterior:
    """``sample_parametric`` of ``options.law`` from a multi-start point fit
    (``options.init_starts`` starts, key ``fold_in(key, 1)``)."""
    point = fit_parametric(
        runs, starts=options.init_starts, key=jax.random.fold_in(key, 1), law=options.law
    )
    return sample_parametric(
        runs,
        law=options.law,
        key=key,
        settings=settings,
        init_theta=point.theta,
        e_below_min_loss=options.e_below_min_loss,
        learning_rate=options.learning_rate,
        likelihood_kind=options.likelihood,
        huber_k=options.huber_k,
        student_df=options.student_df,
        priors=options.priors,
    )
