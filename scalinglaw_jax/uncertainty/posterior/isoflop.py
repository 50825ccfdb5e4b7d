"""Approach 2's posterior: one joint model of the per-budget parabolas and the power law on
their vertices.

Each budget ``k`` has a parabola ``loss = depth_k + curvature_k (ln N - vertex_k)^2``
(``curvature_k > 0``) and the vertices scatter (``tau``) around the power law
``vertex_k = intercept + a (ln C_k - mean ln C)``, so the uncertainty of each vertex propagates
into ``a`` and ``b = 1 - a``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from scalinglaw_jax.approaches.isoflop import fit_isoflop
from scalinglaw_jax.core.data import Runs, as_runs, check_weights
from scalinglaw_jax.core.frontier import Frontier
from scalinglaw_jax.uncertainty.posterior.likelihoods import (
    density_settings,
    likelihood,
    make_prior,
    observe,
    resolve_priors,
)
from scalinglaw_jax.uncertainty.posterior.nuts import DEFAULT_NUTS, NutsSettings, diagnose, run_nuts
from scalinglaw_jax.uncertainty.posterior.options import (
    DEFAULT_HUBER_K,
    DEFAULT_STUDENT_DF,
    PosteriorOptions,
    check_likelihood,
)
from scalinglaw_jax.uncertainty.posterior.result import (
    Posterior,
    add_to_posterior,
    frontier_draws,
)

ISOFLOP_PRIORS: dict[str, dict] = {
    "a": {"dist": "normal", "loc": 0.5, "scale": 0.5},
    "intercept": {"dist": "normal", "loc": 0.0, "scale": 10.0},
    "tau": {"dist": "halfnormal", "scale": 0.5},
    "depth": {"dist": "normal", "loc": 0.0, "scale": 10.0},
    "curvature": {"dist": "halfnormal", "scale": 2.0},
    "sigma": {"dist": "halfnormal", "scale": 0.5},
}
"""Approach-2 priors. ``intercept`` (the vertex ``ln N`` at the mean ``ln C``) and ``depth``
(each parabola's minimum loss) are centred on the data's mean ``ln N`` and mean loss; ``tau`` is
the vertices' scatter around the power law in ``ln N``; ``sigma`` the loss residual scale."""


def isoflop_model(
    log_n,
    budget,
    log_c,
    weights,
    loss=None,
    *,
    priors: Mapping[str, dict],
    kind: str,
    huber_k: float,
    student_df: float,
):
    """Approach 2 joint model: parabolas per budget and the power law on their vertices.

    ``budget`` holds each row's budget index (rows with weight 0 are ignored whatever it is);
    ``log_c`` the budgets' ``ln C``. The power law is centred at the mean ``ln C``.
    """
    centre = jnp.mean(log_c)
    a = numpyro.sample("a", make_prior(priors["a"]))
    intercept = numpyro.sample("intercept", make_prior(priors["intercept"]))
    tau = numpyro.sample("tau", make_prior(priors["tau"]))
    sigma = numpyro.sample("sigma", make_prior(priors["sigma"]))
    with numpyro.plate("budget", log_c.shape[0]):
        vertex = numpyro.sample("vertex", dist.Normal(intercept + a * (log_c - centre), tau))
        depth = numpyro.sample("depth", make_prior(priors["depth"]))
        curvature = numpyro.sample("curvature", make_prior(priors["curvature"]))
    mean = depth[budget] + curvature[budget] * (log_n - vertex[budget]) ** 2
    density = likelihood(kind, mean, sigma, huber_k=huber_k, student_df=student_df)
    observe("loss", density, weights, loss)


def _start(point, keep, index, log_n, loss, log_c, used) -> dict:
    """NUTS's start from the per-budget point fit (kept budgets only)."""
    sol = point.solution
    vertex0 = np.asarray(sol.vertex_log_n)[keep]
    a0 = float(point.frontier.a)
    coef = np.asarray(sol.coef)[keep][np.maximum(index, 0)]
    resid = loss - (coef[:, 0] + coef[:, 1] * log_n + coef[:, 2] * log_n**2)
    return {
        "a": a0,
        "intercept": np.mean(vertex0 - a0 * (log_c - log_c.mean())),
        "tau": max(float(np.std(vertex0 - a0 * log_c)), 1e-3),
        "sigma": max(1.4826 * float(np.median(np.abs(resid[used]))), 1e-4),
        "vertex": vertex0,
        "depth": np.asarray(sol.vertex_loss)[keep],
        "curvature": np.asarray(sol.coef)[keep, 2],
    }


def sample_isoflop(
    runs: Runs,
    weights=None,
    *,
    key=None,
    budgets=None,
    nominal=None,
    settings: NutsSettings = DEFAULT_NUTS,
    likelihood_kind: str = "huber",
    huber_k: float = DEFAULT_HUBER_K,
    student_df: float = DEFAULT_STUDENT_DF,
    priors: Mapping | None = None,
) -> Posterior:
    """Approach-2 joint posterior by NUTS, initialised at the per-budget point fit.

    Budgets come from ``approaches.isoflop.fit_isoflop`` (``budgets``/``nominal`` are passed
    on); rows it leaves unassigned, and budgets without an interior minimum in the point fit,
    are left out of the model and recorded in ``settings``.
    """
    runs = as_runs(runs)
    settings.check()
    check_likelihood(likelihood_kind)
    key = jax.random.key(0) if key is None else key
    weights = check_weights(weights, len(runs), "row")
    point = fit_isoflop(runs, weights, budgets=budgets, nominal=nominal)
    assignment = point.assignment
    valid = np.asarray(point.solution.valid, dtype=bool)
    keep = np.flatnonzero(valid)
    recode = np.full(assignment.n_budgets, -1)
    recode[keep] = np.arange(keep.size)
    index = np.where(assignment.index >= 0, recode[np.maximum(assignment.index, 0)], -1)
    row_weights = np.where(index >= 0, weights, 0.0)
    log_n = np.log(runs.params)
    loss = np.asarray(runs.loss, dtype=np.float64)
    log_c = np.log(assignment.flops[keep])
    used = row_weights > 0
    defaults = {name: dict(spec) for name, spec in ISOFLOP_PRIORS.items()}
    defaults["intercept"]["loc"] = float(np.average(log_n[used], weights=row_weights[used]))
    defaults["depth"]["loc"] = float(np.average(loss[used], weights=row_weights[used]))
    priors = resolve_priors(defaults, priors)
    args = (log_n, np.maximum(index, 0), log_c, row_weights, loss)
    density = dict(kind=likelihood_kind, huber_k=huber_k, student_df=student_df)
    result = run_nuts(
        isoflop_model,
        tuple(jnp.asarray(x) for x in args),
        key=key,
        init_values=_start(point, keep, index, log_n, loss, log_c, used),
        priors=priors,
        settings=settings,
        options=density,
    )
    idata = result.inference_data(
        coords={"row": runs.row, "budget": assignment.flops[keep]},
        dims={"loss": ["row"], "vertex": ["budget"], "depth": ["budget"], "curvature": ["budget"]},
    )
    a = np.asarray(result.samples["a"])
    log_g_n = np.asarray(result.samples["intercept"]) - a * log_c.mean()
    draws = frontier_draws(Frontier(a, 1.0 - a, log_g_n, -math.log(6.0) - log_g_n))
    add_to_posterior(idata, draws)
    for name in ("tau", "sigma"):
        draws[name] = np.asarray(result.samples[name]).ravel()
    return Posterior(
        approach="2",
        idata=idata,
        draws=draws,
        diagnostics=diagnose(idata, ("a", "intercept", "tau", "sigma", "vertex")),
        reported=("a", "b", "G", "tau", "sigma"),
        settings=settings.to_dict(
            **density_settings(density),
            priors=priors,
            budgets=[float(c) for c in assignment.flops[keep]],
            excluded_budgets=[float(c) for c in assignment.flops[~valid]],
            n_unassigned_rows=assignment.n_unassigned,
        ),
    )


def approach2_posterior(
    runs: Runs, *, key, settings: NutsSettings, options: PosteriorOptions
) -> Posterior:
    """``sample_isoflop`` with ``options.nominal`` budgets and the options' likelihood."""
    return sample_isoflop(
        runs,
        key=key,
        settings=settings,
        nominal=options.nominal,
        likelihood_kind=options.likelihood,
        huber_k=options.huber_k,
        student_df=options.student_df,
        priors=options.priors,
    )
