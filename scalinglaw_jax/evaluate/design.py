"""Design diagnostics for Approach 2 (IsoFLOP) studies.

* ``budget_design``: per budget, whether the sampled sizes bracket the parabola's vertex and how
  far off-centre it sits (from the IsoFLOP fit's own diagnostics).
* ``design_bias``: the exponent bias the design itself induces. Losses are simulated from an
  Approach-3 law at exactly the study's (N, C) rows, Approach 2 is refitted with the same budget
  groups, and its ``a`` is compared with the law's. Parabolas in ln N only approximate the
  law's profile, so wide or off-centre sampling moves the vertex even without noise.
* ``suggest_sizes``: which model sizes to train at a new budget. The new vertex has the
  largest leverage on the fitted exponent (it extends the ln C range), so the sizes that
  minimise its mean squared error tighten the frontier most. For ``k`` sizes centred on the
  law's predicted ``N_opt`` and spanning ``w`` decades, the squared bias of the vertex (noise-free
  parabola fit to the law's profile) grows with ``w`` and its variance (delta method on the
  least-squares parabola, noise ``sigma`` on the loss scale) falls roughly as ``1 / w^4``
  (curvature is estimated better); the span with the smallest sum is recommended.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.approaches.isoflop import IsoflopResult, fit_isoflop_arrays, isoflop_arrays
from scalinglaw_jax.core.data import Runs
from scalinglaw_jax.laws.closed_forms import CHINCHILLA
from scalinglaw_jax.laws.simulate import chinchilla_loss

CENTRED_FRACTION = 0.25
"""|offset| (fraction of the half-range) up to which a vertex counts as centred."""
LN10 = math.log(10.0)


def budget_design(result: IsoflopResult) -> list[dict]:
    """Per budget: sampled range, whether it brackets the vertex, and the offset, in words."""
    out = []
    for entry in result.budget_diagnostics():
        low_high = entry["params_range"]
        span = math.log10(low_high[1] / low_high[0]) if low_high else 0.0
        frac = entry["offset_fraction"]
        if not entry["vertex_inside"]:
            verdict = "does not bracket the vertex: " + (entry["reason"] or "")
        elif abs(frac) <= CENTRED_FRACTION:
            verdict = "brackets the vertex, centred"
        else:
            side = "larger" if frac > 0 else "smaller"
            verdict = f"brackets the vertex, off-centre toward {side} models"
        out.append(
            {
                "flops": entry["flops"],
                "n_points": entry["n_points"],
                "span_dex": span,
                "brackets": entry["vertex_inside"],
                "offset_dex": entry["offset_dex"],
                "offset_fraction": frac,
                "verdict": verdict,
            }
        )
    return out


def _law_loss(theta, params, tokens) -> np.ndarray:
    law = CHINCHILLA.to_params(jnp.asarray(theta))
    return np.asarray(chinchilla_loss(law, params, tokens))


def design_bias(
    runs: Runs,
    result: IsoflopResult,
    theta,
    *,
    noise: float = 0.0,
    n_sims: int = 0,
    key=None,
) -> dict:
    """Approach-2 exponent bias of this design under the law ``theta`` (Approach-3 form).

    The noise-free refit gives the bias of the design; with ``n_sims`` > 0, multiplicative
    log-normal noise ``noise`` adds replicate refits (vmapped) for the spread of ``a``.
    """
    theta = np.asarray(theta, dtype=np.float64)
    law_a = float(CHINCHILLA.frontier(jnp.asarray(theta)).a)
    tokens = runs.flops / (6.0 * runs.params)
    clean = _law_loss(theta, runs.params, tokens)
    arrays = isoflop_arrays(runs, result.assignment)
    weights = jnp.asarray(result.weights)
    fit_clean = fit_isoflop_arrays(arrays._replace(loss=jnp.asarray(clean)), weights)
    out = {
        "law_a": law_a,
        "design_a": float(fit_clean.frontier.a),
        "bias": float(fit_clean.frontier.a) - law_a,
        "budgets_used": int(fit_clean.n_valid),
    }
    if n_sims:
        key = jax.random.key(0) if key is None else key
        z = jax.random.normal(key, (n_sims, clean.size), dtype=jnp.float64)
        losses = jnp.asarray(clean) * jnp.exp(noise * z)

        def one(loss):
            return fit_isoflop_arrays(arrays._replace(loss=loss), weights).frontier.a

        a_sims = np.asarray(jax.jit(jax.vmap(one))(losses))
        out.update(
            noise=noise,
            n_sims=n_sims,
            mean_a=float(np.mean(a_sims)),
            sd_a=float(np.std(a_sims, ddof=1)),
            mean_bias=float(np.mean(a_sims)) - law_a,
        )
    return out


def vertex_error(log_n, loss, sigma: float) -> tuple[float, float]:
    """Least-squares parabola in ln N: vertex (ln N) and its delta-method SD for loss noise."""
    x = np.asarray(log_n) - np.mean(log_n)
    design = np.stack([np.ones_like(x), x, x**2], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.asarray(loss), rcond=None)
    c1, c2 = coef[1], coef[2]
    vertex = -c1 / (2.0 * c2) + np.mean(log_n)
    grad = np.array([0.0, -1.0 / (2.0 * c2), c1 / (2.0 * c2**2)])
    cov = sigma**2 * np.linalg.inv(design.T @ design)
    return float(vertex), float(np.sqrt(grad @ cov @ grad))


def suggest_sizes(
    theta,
    flops: float,
    *,
    sigma: float,
    n_sizes: int = 7,
    spans_dex: Sequence[float] = tuple(np.round(np.arange(0.4, 2.01, 0.1), 2)),
) -> dict:
    """Model sizes to train at budget ``flops``: ``n_sizes`` log-spaced around the law's
    ``N_opt``, over the span (decades) minimising the vertex's bias^2 + variance."""
    theta = jnp.asarray(theta, dtype=jnp.float64)
    centre = float(jnp.log(CHINCHILLA.frontier(theta).n_opt(flops)))
    candidates = []
    for span in spans_dex:
        log_n = centre + np.linspace(-0.5, 0.5, n_sizes) * span * LN10
        n = np.exp(log_n)
        vertex, sd = vertex_error(log_n, _law_loss(theta, n, flops / (6.0 * n)), sigma)
        bias = vertex - centre
        candidates.append(
            {
                "span_dex": float(span),
                "bias_dex": bias / LN10,
                "sd_dex": sd / LN10,
                "rmse_dex": math.sqrt(bias**2 + sd**2) / LN10,
            }
        )
    best = min(candidates, key=lambda c: c["rmse_dex"])
    log_n = centre + np.linspace(-0.5, 0.5, n_sizes) * best["span_dex"] * LN10
    return {
        "flops": float(flops),
        "n_opt": math.exp(centre),
        "sizes": np.exp(log_n).tolist(),
        "tokens": (flops / (6.0 * np.exp(log_n))).tolist(),
        **best,
        "candidates": candidates,
    }


def residual_sigma(theta, runs: Runs) -> float:
    """Robust SD (1.4826 MAD) of loss-scale residuals of the law ``theta`` on ``runs``."""
    residual = runs.loss - _law_loss(theta, runs.params, runs.tokens)
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))
