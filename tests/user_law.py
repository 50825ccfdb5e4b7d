"""A law written the way a user writes one, in a file outside the package (``--law FILE:NAME``)."""

from scalinglaw_jax import Law

law = Law(
    name="shared_exponent",
    params={"E": (0.5, 3.0), "A": (1.0, 1e5), "B": (1.0, 1e5), "alpha": (0.05, 1.5)},
    predict=lambda p, x: (
        p["E"] + p["A"] / x["params"] ** p["alpha"] + p["B"] / x["tokens"] ** p["alpha"]
    ),
)
