"""Tiny calibration runs: the machinery works, coverages are well-formed, and Approach 3
compiles its NUTS program and bootstrap sweep once, not once per study."""

from __future__ import annotations

import json
import warnings

import jax
import numpy as np

from scalinglaw_jax import bayes, calibrate, resample
from scalinglaw_jax.data import load_runs
from scalinglaw_jax.simulate import simulate_training_curves

warnings.filterwarnings("ignore", category=FutureWarning)

TINY = bayes.NutsSettings(chains=1, draws=60, warmup=60, progress_bar=False)


def _check_table(result: calibrate.CalibrationResult, approach: str, n_studies: int) -> None:
    table = result.table()
    assert len(table) == 2 * 2 * len(calibrate.LEVELS)
    assert set(table["approach"]) == {approach}
    assert set(table["method"]) == {"bootstrap", "posterior"}
    assert set(table["studies"]) == {n_studies}
    # Each coverage is a count of studies out of n_studies.
    assert np.allclose(table["coverage"] * n_studies, np.round(table["coverage"] * n_studies))
    assert np.all((table["coverage"] >= 0) & (table["coverage"] <= 1))
    expected_se = np.sqrt(table["coverage"] * (1 - table["coverage"]) / n_studies)
    assert np.allclose(table["mc_se"], expected_se)
    assert np.allclose(
        table["nominal_se"], np.sqrt(table["level"] * (1 - table["level"]) / n_studies)
    )
    for _, group in table.groupby(["method", "quantity"]):
        # Central intervals are nested, so coverage cannot fall as the level rises.
        assert np.all(np.diff(group.sort_values("level")["coverage"].to_numpy()) >= 0)
    # b = 1 - a, so the intervals of b mirror those of a and cover in the same studies.
    by_quantity = table.set_index(["method", "level", "quantity"])["coverage"].unstack()
    assert np.array_equal(by_quantity["a"], by_quantity["b"])


def test_tiny_calibration(tmp_path):
    result = calibrate.run_calibration(
        jax.random.key(0), approaches=("2",), n_studies=2, n_resamples=30, settings=TINY
    )
    _check_table(result, "2", 2)
    saved = json.loads(result.save(tmp_path / "c.json").read_text())
    assert abs(saved["truth"]["a"] + saved["truth"]["b"] - 1) < 1e-12
    assert saved["design"]["nuts"] == {"chains": 1, "draws": 60, "warmup": 60}


def test_approach3_calibration_compiles_once(monkeypatch):
    """The model is traced only while its NUTS program compiles: three more studies of the same
    design must not trace it again, nor trace the bootstrap sweep (``resample.run_sweep``)
    again."""
    traces = 0
    model = bayes.parametric_model

    def counted_model(*args, **kwargs):
        nonlocal traces
        traces += 1
        return model(*args, **kwargs)

    monkeypatch.setattr(bayes, "parametric_model", counted_model)

    def run(seed, n_studies):
        return calibrate.run_calibration(
            jax.random.key(seed),
            approaches=("3",),
            n_studies=n_studies,
            n_resamples=30,
            settings=TINY,
        )

    _check_table(run(1, 1), "3", 1)
    traces_one, sweeps_one = traces, resample.TRACE_COUNTS["sweep"]
    assert traces_one > 0
    result = run(2, 3)
    assert traces == traces_one
    assert resample.TRACE_COUNTS["sweep"] == sweeps_one
    _check_table(result, "3", 3)
    assert result.design["learning_rate"] == 1.0


def test_approach1_calibration_bootstraps_curves():
    """Approach 1: curve studies, curve bootstrap and Bayesian bootstrap, one compiled sweep."""
    before = resample.TRACE_COUNTS["sweep"]
    result = calibrate.run_calibration(
        jax.random.key(3), approaches=("1",), n_studies=2, n_resamples=30, settings=TINY
    )
    _check_table(result, "1", 2)
    # Two studies of one design share the compiled sweep (bootstrap and posterior draws differ
    # only in their number: 30 resamples, 1 x 60 draws).
    assert resample.TRACE_COUNTS["sweep"] - before <= 2
    assert result.design["curves"]["sizes"] and result.design["approaches"] == ["1"]
    # Per study, both kinds of draws spread (the curves carry 1% noise) by similar amounts.
    runs = load_runs(simulate_training_curves(jax.random.key(5), noise=0.01))
    boot = calibrate._bootstrap_draws("1", [runs], 0, 30)[0]
    post = calibrate._posterior_draws("1", runs, jax.random.key(1), TINY, 1.0)
    for draws in (boot, post):
        assert np.mean(np.isfinite(draws)) > 0.9 and np.nanstd(draws) > 0
    assert 0.2 < np.nanstd(boot) / np.nanstd(post) < 5
