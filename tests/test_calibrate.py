"""A tiny calibration run: the machinery works and coverages are well-formed."""

from __future__ import annotations

import json
import warnings

import jax
import numpy as np

from scalinglaw_jax import bayes, calibrate

warnings.filterwarnings("ignore", category=FutureWarning)


def test_tiny_calibration(tmp_path):
    result = calibrate.run_calibration(
        jax.random.key(0),
        approaches=(2,),
        n_studies=2,
        n_resamples=30,
        settings=bayes.NutsSettings(chains=1, draws=60, warmup=60, progress_bar=False),
    )
    table = result.table()
    assert len(table) == 2 * 2 * len(calibrate.LEVELS)
    assert set(table["method"]) == {"bootstrap", "posterior"}
    assert np.all((table["coverage"] >= 0) & (table["coverage"] <= 1))
    expected_se = np.sqrt(table["coverage"] * (1 - table["coverage"]) / 2)
    assert np.allclose(table["mc_se"], expected_se)
    saved = json.loads(result.save(tmp_path / "c.json").read_text())
    assert (
        saved["truth"]["a"] + saved["truth"]["b"] == 1.0
        or abs(saved["truth"]["a"] + saved["truth"]["b"] - 1) < 1e-12
    )
