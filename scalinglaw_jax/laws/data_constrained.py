"""Muennighoff et al. (2023): Chinchilla's form on effective parameters and data.

Repeated tokens are worth less than fresh ones, and parameters beyond what the unique data can
use are worth less than the first ones, each decaying with its own constant::

    R_D = D / U_D - 1                  (epochs beyond the first)
    D'  = U_D + U_D R*_D (1 - exp(-R_D / R*_D))
    U_N = min(N, N_opt(U_D))           (the compute-optimal size for U_D tokens:
                                        (alpha A / (beta B))^(1/alpha) U_D^(beta/alpha))
    R_N = N / U_N - 1
    N'  = U_N + U_N R*_N (1 - exp(-R_N / R*_N))
    L   = E + A / N'^alpha + B / D'^beta

With every token seen once (D = U_D) and no model larger than compute-optimal for its data
(N <= N_opt(D)), N' = N and D' = D: the law is Chinchilla's. Its compute-optimal frontier with
fresh data (U_D = D) is therefore Chinchilla's frontier.
"""

import jax.numpy as jnp

from scalinglaw_jax.core.law import Law
from scalinglaw_jax.laws.chinchilla import TERM_BOXES


def predict(p, x):
    n, d, unique = x["params"], x["tokens"], x["unique_tokens"]
    log_n_for_data = (
        jnp.log(p["alpha"] * p["A"]) - jnp.log(p["beta"] * p["B"]) + p["beta"] * jnp.log(unique)
    ) / p["alpha"]
    unique_n = jnp.exp(jnp.minimum(jnp.log(n), log_n_for_data))
    repeats_n = n / unique_n - 1.0
    repeats_d = d / unique - 1.0
    n_eff = unique_n * (1.0 + p["R_N"] * -jnp.expm1(-repeats_n / p["R_N"]))
    d_eff = unique * (1.0 + p["R_D"] * -jnp.expm1(-repeats_d / p["R_D"]))
    return p["E"] + p["A"] / n_eff ** p["alpha"] + p["B"] / d_eff ** p["beta"]


LAW = Law(
    name="data_constrained",
    params={
        **TERM_BOXES,
        "alpha": (0.05, 2.0),
        "beta": (0.05, 2.0),
        "R_N": (1.0, 100.0),
        "R_D": (1.0, 100.0),
    },
    predict=predict,
    formula="E + A / N'^alpha + B / D'^beta with N', D' the effective parameters and data "
    "(decay constants R_N = R*_N, R_D = R*_D; needs unique_tokens)",
    source="Muennighoff et al. (2023), Scaling Data-Constrained Language Models, eq. (5)",
    frontier_inputs=lambda x: {**x, "unique_tokens": x["tokens"]},
)
