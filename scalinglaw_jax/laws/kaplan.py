"""Kaplan et al. (2020, eq. 1.5): ``L = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D``."""

import math

import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.core.law import Law
from scalinglaw_jax.laws.closed_forms import KAPLAN


def predict(p, x):
    ratio = p["alpha_N"] / p["alpha_D"]
    return ((p["N_c"] / x["params"]) ** ratio + p["D_c"] / x["tokens"]) ** p["alpha_D"]


def log_prediction(theta, arrays):
    """The same in log space (a log-sum-exp), from ``(log N_c, log D_c, log alpha_N,
    log alpha_D)``."""
    kaplan_theta = jnp.stack([theta[0], theta[1], jnp.exp(theta[2]), jnp.exp(theta[3])])
    return KAPLAN.log_loss(kaplan_theta, arrays.log_n, arrays.log_d)


def frontier(p):
    """The closed form of ``laws.KaplanForm.frontier``."""
    theta = [jnp.log(p["N_c"]), jnp.log(p["D_c"]), p["alpha_N"], p["alpha_D"]]
    return KAPLAN.frontier(jnp.stack(theta, axis=-1))


def start_grid():
    """256 starts around Kaplan's N_c = 8.8e13, D_c = 5.4e13, alpha_N, alpha_D ~ 0.08-0.1."""
    grid = KAPLAN.start_grid()
    return np.column_stack([grid[:, 0], grid[:, 1], np.log(grid[:, 2]), np.log(grid[:, 3])])


LAW = Law(
    name="kaplan",
    params={
        "N_c": (math.exp(15.0), math.exp(40.0)),
        "D_c": (math.exp(15.0), math.exp(40.0)),
        "alpha_N": (0.01, 1.0),
        "alpha_D": (0.01, 1.0),
    },
    predict=predict,
    formula="[(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D",
    source="Kaplan et al. (2020), Scaling Laws for Neural Language Models, eq. (1.5)",
    start_grid=start_grid,
    frontier=frontier,
    log_prediction=log_prediction,
)
