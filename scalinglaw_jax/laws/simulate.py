"""Synthetic scaling studies drawn from a known law (Chinchilla's unless another is given).

Every generator takes a JAX PRNG key first and is a deterministic function of it (same key, same
bits). Noise is multiplicative: ``loss = L(N, D) * exp(noise * z)`` with ``z`` standard normal,
so ``noise=0`` reproduces the law exactly. Every table is a float64 pandas DataFrame with the
canonical columns of ``data.load_runs``, so a simulated study runs through the same pipeline as
real data, and a fit can be checked against the law that generated it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaw_jax.core import frontier
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.laws.closed_forms import CHINCHILLA, PAPER_PARAMS, ChinchillaParams

DEFAULT_SIZES = tuple(float(n) for n in np.geomspace(7e7, 1.6e10, 12))
"""Twelve log-spaced model sizes spanning Chinchilla's ladder (70M to 16B parameters)."""

DEFAULT_HORIZON_RATIOS = tuple(0.25 * 16.0 ** (k / 3) for k in range(4))
"""Run horizons as multiples of ``tokens_per_param * N``: 0.25, 0.63, 1.59, 4.0 (16x span)."""


def chinchilla_loss(params: ChinchillaParams, n, d):
    """``E + A / N**alpha + B / D**beta``; NumPy in, NumPy out (JAX arrays work too)."""
    return params.E + params.A / n**params.alpha + params.B / d**params.beta


def _as_floats(law: ChinchillaParams) -> ChinchillaParams:
    return ChinchillaParams(*(float(v) for v in law))


def _noisy(key, loss: np.ndarray, noise: float) -> np.ndarray:
    """Multiplicative log-normal noise, one standard normal per entry."""
    if noise == 0:
        return loss
    z = np.asarray(jax.random.normal(key, loss.shape, dtype=np.float64))
    return loss * np.exp(noise * z)


def _frontier(law: ChinchillaParams) -> frontier.Frontier:
    return CHINCHILLA.frontier(CHINCHILLA.from_params(law))


def simulate_isoflop(
    key,
    budgets: Sequence[float] = closed_forms.CHINCHILLA_ISOFLOP_BUDGETS,
    *,
    law: ChinchillaParams = PAPER_PARAMS,
    points_per_budget: int = 9,
    span_dex: float = 1.2,
    offset_dex: float = 0.0,
    noise: float = 0.0,
) -> pd.DataFrame:
    """IsoFLOP profiles (Approach 2): ``points_per_budget`` model sizes per budget.

    Sizes are log-spaced over ``span_dex`` decades centred at the law's true ``N_opt(C)`` moved
    by ``offset_dex`` decades (positive: toward larger models), so the bias an off-centre design
    puts on the parabola vertex can be measured. Tokens are ``C / (6 N)``.
    """
    law = _as_floats(law)
    budgets = np.asarray(budgets, dtype=np.float64)
    centre = np.log10(np.asarray(_frontier(law).n_opt(budgets))) + offset_dex
    steps = np.linspace(-span_dex / 2, span_dex / 2, points_per_budget)
    params = 10.0 ** (centre[:, None] + steps[None, :])
    flops = np.broadcast_to(budgets[:, None], params.shape)
    tokens = flops / (6.0 * params)
    loss = _noisy(key, chinchilla_loss(law, params, tokens), noise)
    return pd.DataFrame(
        {
            "params": params.ravel(),
            "tokens": tokens.ravel(),
            "flops": flops.ravel(),
            "loss": loss.ravel(),
            "budget": flops.ravel(),
        }
    )


def cosine_progress(fraction):
    """Share of a cosine learning-rate decay done at ``fraction`` of the horizon (0 to 1)."""
    return 0.5 * (1.0 - np.cos(np.pi * np.clip(fraction, 0.0, 1.0)))


def _label(value: float, digits: int) -> str:
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _run_labels(sizes: np.ndarray, horizons: np.ndarray) -> list[str]:
    """``"N=7.0e7,T=1.4e9"`` per run, with more digits only where two runs would collide."""
    for digits in range(1, 17):
        labels = [
            f"N={_label(n, digits)},T={_label(t, digits)}"
            for n, row in zip(sizes, horizons, strict=True)
            for t in row
        ]
        if len(set(labels)) == len(labels):
            return labels
    raise ValueError("sizes and horizons must not repeat a (size, horizon) pair")


def simulate_training_curves(
    key,
    *,
    sizes: Sequence[float] = DEFAULT_SIZES,
    horizon_ratios: Sequence[float] = DEFAULT_HORIZON_RATIOS,
    tokens_per_param: float = 20.0,
    points_per_curve: int = 30,
    start_fraction: float = 0.01,
    kappa: float = 0.1,
    law: ChinchillaParams = PAPER_PARAMS,
    noise: float = 0.0,
) -> pd.DataFrame:
    """Training curves (Approach 1): cosine-schedule runs of each size at several horizons.

    A run of ``N`` parameters with horizon ``T = r * tokens_per_param * N`` (one per ``r`` in
    ``horizon_ratios``; the default four span 16x, as in the paper) is recorded at
    ``points_per_curve`` log-spaced token counts from ``start_fraction * T`` to ``T``. The loss
    at ``t`` tokens is ``E + A/N^alpha + B/t^beta * (1 + kappa * (1 - p(t/T)))`` where ``p`` is
    the cosine decay progress: equal to the law at the end of the schedule and higher before it,
    since the learning rate has not yet decayed. Both factors of the data term fall with ``t``,
    so each curve is smooth and decreasing, and the envelope of all curves touches the law at
    the run ends. Columns: run, params, tokens, flops (``6 N t``), loss.
    """
    law = _as_floats(law)
    sizes = np.asarray(sizes, dtype=np.float64)
    horizons = np.asarray(horizon_ratios, dtype=np.float64)[None, :] * tokens_per_param
    horizons = horizons * sizes[:, None]
    fractions = np.geomspace(start_fraction, 1.0, points_per_curve)
    fractions[-1] = 1.0
    tokens = horizons[:, :, None] * fractions[None, None, :]
    params = np.broadcast_to(sizes[:, None, None], tokens.shape)
    penalty = 1.0 + kappa * (1.0 - cosine_progress(fractions))
    loss = law.E + law.A / params**law.alpha + law.B / tokens**law.beta * penalty
    loss = _noisy(key, loss, noise)
    labels = _run_labels(sizes, horizons)
    return pd.DataFrame(
        {
            "run": np.repeat(labels, points_per_curve),
            "params": params.ravel(),
            "tokens": tokens.ravel(),
            "flops": 6.0 * params.ravel() * tokens.ravel(),
            "loss": loss.ravel(),
        }
    )


def simulate_final_losses(
    key,
    params,
    tokens,
    *,
    grid: bool = False,
    law: ChinchillaParams = PAPER_PARAMS,
    noise: float = 0.0,
) -> pd.DataFrame:
    """Final losses for given model sizes and token counts (Approach 3 style table).

    ``params`` and ``tokens`` are paired (broadcast together) or, with ``grid=True``, crossed:
    every size with every token count. Flops are ``6 N D``.
    """
    law = _as_floats(law)
    params = np.asarray(params, dtype=np.float64)
    tokens = np.asarray(tokens, dtype=np.float64)
    if grid:
        params, tokens = np.meshgrid(params.ravel(), tokens.ravel(), indexing="ij")
    params, tokens = (np.ravel(a) for a in np.broadcast_arrays(params, tokens))
    loss = _noisy(key, chinchilla_loss(law, params, tokens), noise)
    return pd.DataFrame(
        {"params": params, "tokens": tokens, "flops": 6.0 * params * tokens, "loss": loss}
    )


def simulate_chinchilla_study(
    key,
    *,
    law: ChinchillaParams = PAPER_PARAMS,
    noise: float = 0.01,
    points_per_budget: int = 15,
) -> dict[str, pd.DataFrame]:
    """A study shaped like the paper's: ``{"isoflop", "curves", "final"}`` DataFrames.

    ``isoflop``: the nine budgets of Approach 2; ``curves``: twelve sizes x four horizons x 30
    points for Approach 1; ``final``: as in the paper's Approach 3, the final losses of both
    (every IsoFLOP row and the last point of every curve, with the same noise draws).
    """
    key_isoflop, key_curves = jax.random.split(key)
    isoflop = simulate_isoflop(
        key_isoflop, law=law, points_per_budget=points_per_budget, noise=noise
    )
    curves = simulate_training_curves(key_curves, law=law, noise=noise)
    ends = curves.groupby("run", sort=False).tail(1)
    final = pd.concat([isoflop.drop(columns="budget"), ends.drop(columns="run")], ignore_index=True)
    return {"isoflop": isoflop, "curves": curves, "final": final}


def simulate_law(
    key,
    law: Law,
    truth: Mapping[str, float],
    params,
    tokens,
    *,
    unique_tokens=None,
    noise: float = 0.0,
) -> pd.DataFrame:
    """Losses of any ``Law`` at the given rows, with noise.

    ``params``, ``tokens`` (and ``unique_tokens`` for laws that read it) are broadcast together;
    ``truth`` holds the law's parameters by name. Flops are ``6 N D``. Multiplicative log-normal
    noise of scale ``noise`` (one standard normal per row).
    """
    columns = {"params": params, "tokens": tokens}
    if unique_tokens is not None:
        columns["unique_tokens"] = unique_tokens
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in columns.values()))
    frame = {name: np.ravel(a) for name, a in zip(columns, arrays, strict=True)}
    frame["flops"] = 6.0 * frame["params"] * frame["tokens"]
    inputs = {name: jnp.asarray(frame[name]) for name in law.columns}
    clean = np.asarray(law.predict_rows(jnp.asarray(law.from_params(truth)), inputs))
    frame["loss"] = _noisy(key, clean, noise)
    return pd.DataFrame(frame)


def repeated_epoch_design(
    sizes: Sequence[float] = tuple(np.geomspace(1e8, 3e9, 6)),
    unique_tokens: Sequence[float] = (1e9, 1e10, 1e11),
    epochs: Sequence[float] = (1, 2, 4, 8, 16, 32, 64),
) -> dict[str, np.ndarray]:
    """Every size crossed with every unique-data size and number of epochs (tokens = epochs x
    unique tokens): the kind of grid that identifies the decay constants of
    ``data_constrained``. Returns ``params``, ``tokens`` and ``unique_tokens`` columns."""
    n, u, e = np.meshgrid(sizes, unique_tokens, epochs, indexing="ij")
    return {"params": n.ravel(), "tokens": (u * e).ravel(), "unique_tokens": u.ravel()}
