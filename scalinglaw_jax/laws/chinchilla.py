"""Hoffmann et al. (2022): ``L = E + A / N^alpha + B / D^beta``, with every fast path."""

import math

import jax.numpy as jnp

from scalinglaw_jax.core.law import Law
from scalinglaw_jax.core.solvers import chinchilla_grid
from scalinglaw_jax.laws.closed_forms import CHINCHILLA, chinchilla_huber_derivatives


def predict(p, x):
    return p["E"] + p["A"] / x["params"] ** p["alpha"] + p["B"] / x["tokens"] ** p["beta"]


def frontier(p):
    """The closed form of ``laws.ChinchillaForm.frontier``."""
    theta = [jnp.log(p["A"]), jnp.log(p["B"]), jnp.log(p["E"]), p["alpha"], p["beta"]]
    return CHINCHILLA.frontier(jnp.stack(theta, axis=-1))


TERM_BOXES = {
    "A": (1.0, math.exp(25.0)),
    "B": (1.0, math.exp(25.0)),
    "E": (math.exp(-1.0), math.exp(1.0)),
}
"""Boxes of the three terms, as Chinchilla's grid spans them (shared by the laws of its form)."""

LAW = Law(
    name="chinchilla",
    # In this order the engine's coordinates are (log A, log B, log E, alpha, beta): the
    # closed-form derivatives' and Chinchilla's 4,500-start grid's own.
    params={**TERM_BOXES, "alpha": (0.0, 2.0), "beta": (0.0, 2.0)},
    predict=predict,
    formula="E + A / N^alpha + B / D^beta",
    source="Hoffmann et al. (2022), Training Compute-Optimal Large Language Models, eq. (2)",
    start_grid=chinchilla_grid,
    derivatives=chinchilla_huber_derivatives,
    frontier=frontier,
    log_prediction=lambda theta, arrays: CHINCHILLA.log_loss(theta, arrays.log_n, arrays.log_d),
)
