"""Hoffmann et al. (2022): ``L = E + A / N^alpha + B / D^beta``, with every fast path."""

import math

import jax.numpy as jnp

from scalinglaw_jax.law import Law
from scalinglaw_jax.laws import CHINCHILLA, Frontier, chinchilla_huber_derivatives
from scalinglaw_jax.solvers import chinchilla_grid


def predict(p, x):
    return p["E"] + p["A"] / x["params"] ** p["alpha"] + p["B"] / x["tokens"] ** p["beta"]


def frontier(p):
    """``G = (alpha A / (beta B))^(1/(alpha+beta))``, ``N_opt = G (C/6)^a``,
    ``a = beta / (alpha + beta)``."""
    total = p["alpha"] + p["beta"]
    log_g = (jnp.log(p["alpha"] * p["A"]) - jnp.log(p["beta"] * p["B"])) / total
    a, b = p["beta"] / total, p["alpha"] / total
    return Frontier(a, b, log_g - a * math.log(6.0), -log_g - b * math.log(6.0))


LAW = Law(
    name="chinchilla",
    # In this order the engine's coordinates are (log A, log B, log E, alpha, beta): the
    # closed-form derivatives' and Chinchilla's 4,500-start grid's own.
    params={
        "A": (1.0, math.exp(25.0)),
        "B": (1.0, math.exp(25.0)),
        "E": (math.exp(-1.0), math.exp(1.0)),
        "alpha": (0.0, 2.0),
        "beta": (0.0, 2.0),
    },
    predict=predict,
    formula="E + A / N^alpha + B / D^beta",
    source="Hoffmann et al. (2022), Training Compute-Optimal Large Language Models, eq. (2)",
    start_grid=chinchilla_grid,
    derivatives=chinchilla_huber_derivatives,
    frontier=frontier,
    log_prediction=lambda theta, arrays: CHINCHILLA.log_loss(theta, arrays.log_n, arrays.log_d),
)
