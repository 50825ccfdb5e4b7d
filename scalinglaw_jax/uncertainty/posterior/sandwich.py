"""The sandwich learning rate: the likelihood power ``eta`` of a generalised posterior whose
covariance matches the sandwich covariance ``S J S``.

The iid likelihood is too confident when residuals are structured (as on Epoch's data:
quantised losses, residuals shared by model size). Raising it to the power ``eta`` scales the
posterior covariance by ``1 / eta``; ``eta`` is set from a short pilot run of the plain
(``eta = 1``) posterior.
"""

from __future__ import annotations

from dataclasses import replace

import jax.numpy as jnp
import numpy as np

PILOT_DRAWS = 250
"""Draws and warmup per chain (at most) of the pilot run that calibrates
``learning_rate="sandwich"``; when the main run is no longer, it reuses the compiled pilot."""


def sandwich_eta(theta_draws, row_scores, weights, block) -> float:
    """``eta = k / tr(S_bb^-1 V_bb)`` over the ``k`` coordinates of ``block``.

    ``theta_draws`` (draws x coordinates) come from the plain posterior; their covariance ``S``
    stands in for ``H^-1``. ``J`` is the weighted sum of outer products of the per-row scores
    ``row_scores(theta_mean)`` (centred), so ``V = S J S`` is the sandwich covariance (Mueller
    2013), which a row bootstrap estimates.
    """
    theta_draws = np.asarray(theta_draws, dtype=np.float64)
    scores = np.asarray(row_scores(jnp.asarray(theta_draws.mean(axis=0))))
    w = np.asarray(weights)
    centred = scores - np.average(scores, axis=0, weights=w)
    j = (centred * w[:, None]).T @ centred
    s = np.cov(theta_draws.T)
    v = s @ j @ s
    block = np.asarray(block)
    ratio = np.linalg.solve(s[np.ix_(block, block)], v[np.ix_(block, block)])
    return float(block.size / np.trace(ratio))


def pilot_learning_rate(run, problem, weights, key, settings):
    """``(eta, plain SDs)`` from a pilot run of the plain posterior (at most ``PILOT_DRAWS``
    draws and warmup per chain) of a ``law_model.LawProblem``; ``run(args, key=, settings=)``
    runs NUTS on it."""
    pilot_settings = replace(
        settings, draws=min(settings.draws, PILOT_DRAWS), warmup=min(settings.warmup, PILOT_DRAWS)
    )
    pilot = run(problem.args(weights), key=key, settings=pilot_settings).samples
    theta = np.stack([np.ravel(pilot[n]) for n in problem.names], axis=1)
    row_scores = problem.row_scores(float(np.mean(pilot["sigma"])))
    eta = sandwich_eta(theta, row_scores, weights, problem.block)
    return eta, {n: float(np.std(pilot[n], ddof=1)) for n in problem.pilot_sd}
