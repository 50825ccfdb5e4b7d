"""Frontier maths: the pair of power laws every approach ends in.

``N_opt(C) = exp(log_g_n) * C**a`` and ``D_opt(C) = exp(log_g_d) * C**b``, with the helpers
that build and report them (weighted log-log lines, the Huber penalty of Approach 3's fits).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np


class Frontier(NamedTuple):
    """Compute-optimal power laws ``N_opt = exp(log_g_n) C^a`` and ``D_opt = exp(log_g_d) C^b``."""

    a: float
    b: float
    log_g_n: float
    log_g_d: float

    def n_opt(self, flops):
        """Compute-optimal parameter count at FLOP budget(s) ``flops``."""
        return jnp.exp(self.log_g_n + self.a * jnp.log(jnp.asarray(flops)))

    def d_opt(self, flops):
        """Compute-optimal token count at FLOP budget(s) ``flops``."""
        return jnp.exp(self.log_g_d + self.b * jnp.log(jnp.asarray(flops)))

    def flops_for_params(self, params):
        """Invert ``N_opt``: the budget at which ``params`` parameters are compute-optimal."""
        return jnp.exp((jnp.log(jnp.asarray(params)) - self.log_g_n) / self.a)


def huber(residual, delta):
    """Huber loss: quadratic within ``delta``, linear beyond (continuous first derivative)."""
    abs_r = jnp.abs(residual)
    return jnp.where(abs_r <= delta, 0.5 * residual**2, delta * (abs_r - 0.5 * delta))


def log_coefficient_g(frontier: Frontier):
    """``log G`` of the Chinchilla parametrisation ``N_opt = G (C/6)^a`` for any frontier."""
    return frontier.log_g_n + frontier.a * math.log(6.0)


def frontier_to_dict(frontier: Frontier) -> dict[str, float]:
    """JSON-friendly view of a frontier, including ``G`` in the paper's parametrisation."""
    return {
        "a": float(frontier.a),
        "b": float(frontier.b),
        "G": float(np.exp(log_coefficient_g(frontier))),
        "log_g_n": float(frontier.log_g_n),
        "log_g_d": float(frontier.log_g_d),
    }


def weighted_line(x, y, w, ok):
    """Weighted least-squares line of ``y`` on ``x``: slope, intercept and weighted rms.

    The power laws of Approaches 1 and 2 are such lines in log-log space (traceable).

    Points of weight 0 contribute exactly nothing; where ``ok`` is False (or ``x`` does not
    vary over the weighted points) all three are 0, finite placeholders for a status to flag.
    """
    total = jnp.maximum(jnp.sum(w), jnp.finfo(x.dtype).tiny)
    x_bar = jnp.sum(w * x) / total
    y_bar = jnp.sum(w * y) / total
    sxx = jnp.sum(w * (x - x_bar) ** 2)
    ok = ok & (sxx > 0)
    slope = jnp.where(ok, jnp.sum(w * (x - x_bar) * (y - y_bar)) / jnp.where(ok, sxx, 1.0), 0.0)
    intercept = jnp.where(ok, y_bar - slope * x_bar, 0.0)
    rms = jnp.sqrt(jnp.sum(w * (y - intercept - slope * x) ** 2) / total)
    return slope, intercept, jnp.where(ok, rms, 0.0)
