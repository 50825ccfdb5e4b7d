"""Chinchilla's form with one exponent for both terms (alpha = beta): ``a = b = 1/2``."""

import math

import jax.numpy as jnp

from scalinglaw_jax.core.frontier import Frontier
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.laws.chinchilla import TERM_BOXES


def predict(p, x):
    return p["E"] + p["A"] / x["params"] ** p["alpha"] + p["B"] / x["tokens"] ** p["alpha"]


def frontier(p):
    """With alpha = beta: ``N_opt = (A / B)^(1/(2 alpha)) (C/6)^(1/2)``."""
    log_g = (jnp.log(p["A"]) - jnp.log(p["B"])) / (2.0 * p["alpha"])
    half = 0.5 + 0.0 * log_g
    return Frontier(half, half, log_g - 0.5 * math.log(6.0), -log_g - 0.5 * math.log(6.0))


LAW = Law(
    name="chinchilla_shared_exponent",
    params={**TERM_BOXES, "alpha": (0.05, 2.0)},
    predict=predict,
    formula="E + A / N^alpha + B / D^alpha",
    source="Hoffmann et al. (2022), eq. (2), constrained to alpha = beta (equal exponents put "
    "half of any extra compute into parameters and half into data)",
    frontier=frontier,
)
