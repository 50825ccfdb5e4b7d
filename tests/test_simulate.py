"""Synthetic studies: deterministic from the key, exact at zero noise, designed as documented."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pandas as pd
import pytest

from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.laws import closed_forms, simulate

LAW = simulate.ChinchillaParams(*(float(v) for v in closed_forms.PAPER_PARAMS))
FRONTIER = closed_forms.CHINCHILLA.frontier(
    closed_forms.CHINCHILLA.from_params(closed_forms.PAPER_PARAMS)
)


def law_loss(frame: pd.DataFrame) -> np.ndarray:
    return LAW.E + LAW.A / frame["params"] ** LAW.alpha + LAW.B / frame["tokens"] ** LAW.beta


def test_chinchilla_loss_numpy_and_jax():
    n, d = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    expected = LAW.E + LAW.A / n**LAW.alpha + LAW.B / d**LAW.beta
    np.testing.assert_allclose(simulate.chinchilla_loss(LAW, n, d), expected, rtol=1e-15)
    on_jax = simulate.chinchilla_loss(closed_forms.PAPER_PARAMS, jax.numpy.asarray(n), d)
    np.testing.assert_allclose(np.asarray(on_jax), expected, rtol=1e-13)


@pytest.mark.parametrize(
    "generate",
    [
        lambda key: simulate.simulate_isoflop(key, noise=0.05),
        lambda key: simulate.simulate_training_curves(key, sizes=(1e8, 1e9), noise=0.05),
        lambda key: simulate.simulate_final_losses(key, [1e8, 1e9], [1e10, 3e10], noise=0.05),
    ],
)
def test_same_key_same_bits_other_key_differs(generate):
    first = generate(jax.random.key(3))
    pd.testing.assert_frame_equal(first, generate(jax.random.key(3)), check_exact=True)
    other = generate(jax.random.key(4))
    assert not np.array_equal(first["loss"], other["loss"])
    np.testing.assert_array_equal(first["params"], other["params"])


def test_study_is_deterministic_and_uses_independent_noise():
    study = simulate.simulate_chinchilla_study(jax.random.key(0))
    again = simulate.simulate_chinchilla_study(jax.random.key(0))
    for name in ("isoflop", "curves", "final"):
        pd.testing.assert_frame_equal(study[name], again[name], check_exact=True)
    iso_z = np.log(study["isoflop"]["loss"] / law_loss(study["isoflop"]))
    curve_z = np.log(study["curves"]["loss"][:135].to_numpy() / law_loss(study["curves"])[:135])
    assert not np.allclose(iso_z, curve_z)
    assert 0.005 < iso_z.std() < 0.02


def test_zero_noise_reproduces_law():
    iso = simulate.simulate_isoflop(jax.random.key(0))
    np.testing.assert_array_equal(iso["loss"], law_loss(iso))
    final = simulate.simulate_final_losses(
        jax.random.key(0), [1e8, 1e9], [1e9, 1e10, 1e11], grid=True
    )
    assert len(final) == 6
    np.testing.assert_array_equal(final["loss"], law_loss(final))
    np.testing.assert_array_equal(final["flops"], 6.0 * final["params"] * final["tokens"])


@pytest.mark.parametrize("offset_dex", [0.0, 0.3, -0.2])
def test_isoflop_design_centred_on_true_optimum(offset_dex):
    frame = simulate.simulate_isoflop(
        jax.random.key(0), points_per_budget=7, span_dex=1.0, offset_dex=offset_dex
    )
    assert len(frame) == 9 * 7
    for budget, group in frame.groupby("budget"):
        log_n = np.log10(group["params"].to_numpy())
        expected = np.log10(float(FRONTIER.n_opt(budget))) + offset_dex
        np.testing.assert_allclose(log_n.mean(), expected, atol=1e-12)
        np.testing.assert_allclose(log_n[3], expected, atol=1e-12)
        np.testing.assert_allclose(log_n.max() - log_n.min(), 1.0, atol=1e-12)
        np.testing.assert_allclose(6.0 * group["params"] * group["tokens"], budget, rtol=1e-14)
    assert set(frame["budget"]) == set(closed_forms.CHINCHILLA_ISOFLOP_BUDGETS)


def test_isoflop_minimum_at_true_optimum_without_offset():
    frame = simulate.simulate_isoflop(jax.random.key(0), points_per_budget=9)
    for _, group in frame.groupby("budget"):
        assert group["loss"].to_numpy().argmin() == 4


def test_curves_end_on_law_and_lie_above_before():
    frame = simulate.simulate_training_curves(jax.random.key(0))
    assert len(frame) == 12 * 4 * 30 <= 2000
    assert frame["run"].iloc[0] == "N=7.0e7,T=3.5e8"
    law = law_loss(frame).to_numpy()
    for _, idx in frame.groupby("run", sort=False).indices.items():
        loss = frame["loss"].to_numpy()[idx]
        tokens = frame["tokens"].to_numpy()[idx]
        assert loss[-1] == law[idx][-1]
        assert np.all(loss[:-1] > law[idx][:-1])
        assert np.all(np.diff(loss) < 0) and np.all(np.diff(tokens) > 0)
        np.testing.assert_allclose(tokens[0] / tokens[-1], 0.01)
    horizons = frame.groupby("run", sort=False)["tokens"].max().to_numpy().reshape(12, 4)
    np.testing.assert_allclose(horizons[:, -1] / horizons[:, 0], 16.0)
    np.testing.assert_allclose(frame["flops"], 6.0 * frame["params"] * frame["tokens"])


def test_curve_penalty_is_the_cosine_schedule():
    frame = simulate.simulate_training_curves(
        jax.random.key(0), sizes=(1e9,), horizon_ratios=(1.0,), points_per_curve=5, kappa=0.2
    )
    fraction = frame["tokens"] / frame["tokens"].iloc[-1]
    data_term = LAW.B / frame["tokens"] ** LAW.beta
    penalty = 1.0 + 0.2 * 0.5 * (1.0 + np.cos(np.pi * fraction))
    expected = LAW.E + LAW.A / 1e9**LAW.alpha + data_term * penalty
    np.testing.assert_allclose(frame["loss"], expected, rtol=1e-14)


def test_study_tables_load_without_warnings():
    study = simulate.simulate_chinchilla_study(jax.random.key(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = {name: load_runs(frame) for name, frame in study.items()}
    assert runs["isoflop"].budget is not None
    assert len(runs["curves"].run_labels) == 48
    assert len(runs["final"]) == len(study["isoflop"]) + 48
    assert len(study["isoflop"]) + len(study["final"]) < 500
    for frame in study.values():
        numeric = frame.drop(columns=["run"], errors="ignore")
        assert all(dtype == np.float64 for dtype in numeric.dtypes)
