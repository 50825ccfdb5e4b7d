"""Approach-2 design diagnostics on simulated studies with a known law."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

from scalinglaw_jax.approaches.isoflop import fit_isoflop
from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.evaluate import design
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.laws.simulate import simulate_isoflop

THETA = np.asarray(closed_forms.CHINCHILLA.from_params(closed_forms.PAPER_PARAMS))


def study(offset_dex, span_dex=1.2):
    table = simulate_isoflop(jax.random.key(0), offset_dex=offset_dex, span_dex=span_dex)
    runs = load_runs(table)
    return runs, fit_isoflop(runs)


def test_off_centre_design_is_flagged_and_biased():
    """A design whose offset from the optimum grows with the budget biases Approach 2's
    exponent. A constant offset (in dex) does not: under Chinchilla's law every IsoFLOP
    profile has one shape in log N, scaled and shifted, so each vertex moves by the same dex
    and the slope is exact; a centred design is exact too."""
    budgets = closed_forms.CHINCHILLA_ISOFLOP_BUDGETS
    offsets = np.linspace(0.3, 0.6, len(budgets))
    profiles = [
        simulate_isoflop(jax.random.key(0), [budget], offset_dex=offset)
        for budget, offset in zip(budgets, offsets, strict=True)
    ]
    table = pd.concat(profiles, ignore_index=True)
    runs = load_runs(table)
    result = fit_isoflop(runs)
    verdicts = design.budget_design(result)
    assert all(v["brackets"] for v in verdicts)
    assert all("off-centre" in v["verdict"] for v in verdicts)
    bias = design.design_bias(runs, result, THETA, noise=0.01, n_sims=16)
    assert bias["design_a"] == pytest.approx(result.frontier.a, abs=1e-9)
    assert bias["bias"] == pytest.approx(result.frontier.a - bias["law_a"], abs=1e-9)
    assert abs(bias["bias"]) > 1e-3
    assert bias["sd_a"] > 0
    for offset_dex in (0.0, 0.4):
        constant_runs, constant = study(offset_dex=offset_dex)
        assert abs(design.design_bias(constant_runs, constant, THETA)["bias"]) < 1e-12


def test_suggest_sizes_centred_on_predicted_optimum():
    plan = design.suggest_sizes(THETA, 1e22, sigma=0.01, n_sizes=5)
    sizes = np.log(plan["sizes"])
    assert np.exp(sizes[2]) == pytest.approx(plan["n_opt"], rel=1e-9)
    assert np.allclose(np.diff(sizes), np.diff(sizes)[0])
    assert plan["rmse_dex"] == min(c["rmse_dex"] for c in plan["candidates"])
    # Less noise allows a narrower span (less parabola bias).
    quiet = design.suggest_sizes(THETA, 1e22, sigma=1e-4, n_sizes=5)
    assert quiet["span_dex"] <= plan["span_dex"]
